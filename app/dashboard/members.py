"""Members: who may sign in and with which role; invitations by one-time link; accepting one."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from ..errors import ScorekeeperError
from ..people import INVITE_TTL_SECONDS, ROLES, User, change_role, invitation, invite, password_fingerprint
from ..people import accept_invite as accept
from ..people import members as all_members
from ..people import remove_member as remove
from ..services import get_services
from .auth import current_identity, dashboard_actor, start_session
from .blueprint import bp


def acting_user() -> User | None:
    """The signed-in user as the one acting (None for the shared key: an instance admin)."""
    identity = current_identity()
    return User(identity.email, identity.role) if identity and identity.email else None


def render_members(invite_link: str | None = None, errors: dict[str, str] | None = None, values=None,
                   status: int = 200):
    return render_template("dashboard/members.html", members=all_members(get_services()), roles=ROLES,
                           invite_link=invite_link, errors=errors or {}, values=values or {},
                           invite_days=INVITE_TTL_SECONDS // 86_400), status


def problems(exc: ScorekeeperError, field: str) -> dict[str, str]:
    if exc.errors:
        return {name: " ".join(p) if isinstance(p, list) else str(p) for name, p in exc.errors.items()}
    return {field: exc.message}


@bp.route("/members")
def members():
    return render_members()[0]


@bp.route("/members/invite", methods=["POST"])
def invite_member():
    """Make a one-time link for an email and role; the page shows it once, to pass on."""
    values = {"email": request.form.get("email", "").strip(), "role": request.form.get("role", "viewer")}
    try:
        token = invite(get_services(), acting_user(), dashboard_actor(), values["email"], values["role"])
    except ScorekeeperError as exc:
        return render_members(errors=problems(exc, "email"), values=values, status=exc.status)
    link = url_for("dashboard.accept_invite", token=token, _external=True)
    return render_members(invite_link=link)


@bp.route("/members/<email>/role", methods=["POST"])
def change_member_role(email: str):
    try:
        change_role(get_services(), acting_user(), dashboard_actor(), email, request.form.get("role", ""))
    except ScorekeeperError as exc:
        return render_members(errors={"members": exc.message}, status=exc.status)
    flash(f"{email} is now {request.form.get('role')}.")
    return redirect(url_for("dashboard.members"), 303)


@bp.route("/members/<email>/remove", methods=["POST"])
def remove_member(email: str):
    """Remove a member: their sessions end at their next request."""
    try:
        remove(get_services(), acting_user(), dashboard_actor(), email)
    except ScorekeeperError as exc:
        return render_members(errors={"members": exc.message}, status=exc.status)
    flash(f"{email} was removed.")
    return redirect(url_for("dashboard.members"), 303)


@bp.route("/invite/<token>", methods=["GET", "POST"])
def accept_invite(token: str):
    """Choose a password and join (the link works once, until it expires)."""
    services = get_services()
    pending = invitation(services, token)
    if pending is None:
        abort(404, description="This invitation was used already or has expired. Ask for a new one.")
    error = None
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            error = "The two passwords differ."
        else:
            try:
                user = accept(services, token, password)
            except ScorekeeperError as exc:
                error = exc.message
            else:
                start_session(user=user.email, pw=password_fingerprint(services, user.email),
                              ws=pending["workspace"])
                flash(f"Welcome, {user.email}.")
                return redirect(url_for("dashboard.home"), 303)
    return render_template("dashboard/invite.html", invitation=pending, error=error), 400 if error else 200
