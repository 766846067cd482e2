"""The signed-in user's own account: turning the TOTP second factor on (QR code, then a code to confirm; the
recovery codes shown once) and off (with a current code). Every role has an account page; a session of the
shared server key has no account."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from .. import second_factor, totp
from ..errors import ScorekeeperError
from ..people import check_code
from ..services import get_services
from ..signin_guard import account_of
from .auth import client_address, current_identity, dashboard_actor
from .blueprint import bp
from .devices import is_trusted


def own_email() -> str:
    identity = current_identity()
    if identity is None or identity.email is None:
        abort(404, description="A session of the server key has no account: sign in with your email.")
    return identity.email


def render_account(errors: dict[str, str] | None = None, recovery_codes: list[str] | None = None,
                   status: int = 200):
    identity = current_identity()
    services = get_services()
    email = identity.email if identity else None
    uri = second_factor.pending_uri(services, email) if email and not second_factor.is_on(services, email) else None
    return render_template(
        "dashboard/account.html", email=email, errors=errors or {}, recovery_codes=recovery_codes,
        on=bool(email and second_factor.is_on(services, email)), pending_uri=uri,
        qr=totp.qr_svg(uri) if uri else None, seed=totp.seed_of(uri) if uri else None,
        codes_left=second_factor.recovery_codes_left(services, email) if email else 0), status


@bp.route("/account")
def account():
    return render_account()[0]


@bp.route("/account/totp/start", methods=["POST"])
def start_totp():
    """A new authenticator seed, shown as a QR code until its first code confirms it."""
    email = own_email()
    if second_factor.is_on(get_services(), email):
        return render_account({"totp": "Two-step sign-in is on already: turn it off first to move it to "
                                       "another app."}, status=409)
    second_factor.start(get_services(), email)
    return redirect(url_for("dashboard.account", _anchor="enrol"), 303)


@bp.route("/account/totp/confirm", methods=["POST"])
def confirm_totp():
    email = own_email()
    try:
        codes = second_factor.confirm(get_services(), email, request.form.get("code", ""), dashboard_actor())
    except ScorekeeperError as exc:
        return render_account({"code": exc.message}, status=exc.status)
    return render_account(recovery_codes=codes)


@bp.route("/account/totp/off", methods=["POST"])
def turn_off_totp():
    """Needs a current code (or a recovery code): a session left open is not enough to remove the factor."""
    services = get_services()
    email = own_email()
    try:
        right = check_code(services, email, request.form.get("code", ""), client_address(),
                           is_trusted(account_of(email)))
    except ScorekeeperError as exc:
        return render_account({"off": exc.message}, status=exc.status)
    if not right:
        return render_account({"off": "That code is not right (or was used already)."}, status=400)
    second_factor.turn_off(services, email, dashboard_actor())
    flash("Two-step sign-in is off: signing in asks for your password only.")
    return redirect(url_for("dashboard.account"), 303)
