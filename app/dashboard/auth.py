"""Signing in (a user's email and password, or the shared server key), the session that follows, the role
check of every route, and CSRF protection of every form.

The session (Flask's signed cookie) holds a user's email and a fingerprint of their password hash, or a
fingerprint of the shared key — never a password or a key. A session ends when the password is reset or the
user removed (their fingerprint no longer matches), when its key is removed from ``API_KEYS``, when it is
older than ``SESSION_MAX_AGE_SECONDS``, or on sign-out. The role each route needs is in ``access.py``;
the shared key acts as an owner. Every POST must carry the session's CSRF token (the ``csrf_token`` field,
or the ``X-CSRF-Token`` header for scripts).
"""
from __future__ import annotations

import hmac
import logging
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from ..auth import DASHBOARD_ACTOR, key_is_valid
from ..errors import ScorekeeperError, TooManyRequests, error_body
from ..people import (
    authenticate_user,
    check_code,
    create_first_owner,
    has_users,
    is_instance_owner,
    password_fingerprint,
    role_allows,
    roles_of,
)
from ..people import (
    signed_in as sign_in_succeeded,
)
from ..second_factor import is_on as second_factor_on
from ..services import DEFAULT_WORKSPACE, enter_request_workspace, get_services
from ..workspaces import exists, list_workspaces
from ..settings import api_keys
from ..signin_guard import account_of
from ..storage.errors import StoreError
from . import devices
from .access import PUBLIC_ENDPOINTS, needed_role
from .blueprint import bp
from .defaults import CODE_STEP_SECONDS, SESSION_MAX_AGE_SECONDS, SIGNIN_FAILURES_MAX, SIGNIN_WINDOW_SECONDS
from .secret import fingerprint_is_valid, key_fingerprint

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Identity:
    """Who is signed in: ``actor`` is what changes are recorded as (the email, or ``dashboard`` for the
    shared key); ``role`` what they may do in ``workspace``, the one this request acts in; ``email`` None for
    the shared key; ``workspaces`` every workspace they may switch to."""

    actor: str
    role: str
    email: str | None = None
    workspace: str = DEFAULT_WORKSPACE
    workspaces: tuple[str, ...] = (DEFAULT_WORKSPACE,)

    def may(self, needed: str) -> bool:
        return role_allows(self.role, needed)
#: Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def _choose(roles: dict[str, str], everywhere: bool, services) -> tuple[str, str, tuple[str, ...]] | None:
    """The session's workspace (``session["ws"]`` if still allowed, else ``default``, else the first), the role
    there, and every workspace the identity may switch to. ``everywhere``: an instance owner or the shared key,
    an owner in every workspace."""
    if everywhere:
        roles = {**{doc["id"]: "owner" for doc in list_workspaces(services) if doc.get("status") == "active"},
                 DEFAULT_WORKSPACE: "owner"}
    else:
        roles = {ws: role for ws, role in roles.items() if exists(services, ws)}
    if not roles:
        return None
    ordered = tuple(sorted(roles, key=lambda ws: (ws != DEFAULT_WORKSPACE, ws)))
    wanted = session.get("ws")
    workspace = wanted if wanted in roles else ordered[0]
    return workspace, roles[workspace], ordered


def _identity() -> Identity | None:
    started = session.get("at", 0)
    if time.time() - started > SESSION_MAX_AGE_SECONDS:
        return None
    email = session.get("user")
    services = get_services()
    if email:
        doc = services.users.get(email)
        current = password_fingerprint(services, email) if doc else None
        if current is None or not hmac.compare_digest(current.encode(), str(session.get("pw", "")).encode()):
            return None
        chosen = _choose(roles_of(doc), is_instance_owner(doc), services)
        if chosen is None:
            return None
        return Identity(doc["email"], chosen[1], doc["email"], chosen[0], chosen[2])
    fingerprint = session.get("key")
    if fingerprint and fingerprint_is_valid(current_app.secret_key, fingerprint, api_keys(current_app.config)):
        chosen = _choose({}, True, services)
        assert chosen is not None
        return Identity(DASHBOARD_ACTOR, "owner", None, chosen[0], chosen[2])
    return None


#: Where a request keeps who it is (per request, not on ``g``: an app context can outlive a request).
IDENTITY = "scorekeeper.identity"


def current_identity() -> Identity | None:
    """Who is signed in to this request's session (checked once per request), or None."""
    if IDENTITY not in request.environ:
        request.environ[IDENTITY] = _identity()
    return request.environ[IDENTITY]


def signed_in() -> bool:
    return current_identity() is not None


def dashboard_actor() -> str:
    """Who a change made in this session is recorded as (the audit trail, versions, ledgers)."""
    identity = current_identity()
    return identity.actor if identity else DASHBOARD_ACTOR


def safe_next_path(target: str | None) -> str | None:
    """A dashboard path on this site taken from ``target`` (a path or a same-site URL), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.netloc and parts.netloc != request.host:
        return None
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not parts.path.startswith("/dashboard") or "\\" in target or parts.path.startswith("/dashboard/signin"):
        return None
    return path


def safe_next(target: str | None) -> str:
    """Where to go after sign-in: a dashboard path on this site, never another origin."""
    return safe_next_path(target) or url_for("dashboard.contacts")


@bp.before_request
def require_sign_in():
    """Every route: signed in (else to the sign-in page), then the role ``access.py`` names (else 403)."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    identity = current_identity()
    if identity is not None:
        enter_request_workspace(identity.workspace)  # every page acts in the session's workspace
        needed = needed_role(request.endpoint, request.method)
        if not identity.may(needed):
            abort(403, description=f"Your role ({identity.role}) cannot do this; it needs {needed}. "
                                   "Ask an owner or admin.")
        return None
    for name in ("key", "user", "pw"):
        session.pop(name, None)
    if request.path.endswith(".json"):
        return jsonify(error_body(401, "Sign in first.")), 401
    target = request.full_path.rstrip("?") if request.method in SAFE_METHODS else request.referrer
    return redirect(url_for("dashboard.sign_in", next=safe_next_path(target)), 303)


@bp.before_request
def check_csrf():
    """Refuse a state-changing request without the session's token (runs after the sign-in check)."""
    if request.method in SAFE_METHODS or request.endpoint == "dashboard.static":
        return
    presented = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    expected = session.get("csrf") or ""
    if not expected or not key_is_valid(presented, [expected]):
        log.warning("dashboard: CSRF token missing or wrong", extra={"path": request.path})
        abort(400, description="The form was stale or did not come from this dashboard. Reload the page "
                               "and try again.")
    return


@bp.context_processor
def auth_helpers():
    return {"csrf_token": csrf_token, "signed_in": signed_in, "identity": current_identity,
            "role_allows": role_allows}


def start_session(**fields) -> None:
    """A fresh session (and CSRF token) on every sign-in."""
    session.clear()
    session.update(fields)
    session["at"] = int(time.time())
    request.environ.pop(IDENTITY, None)
    csrf_token()


def first_run() -> bool:
    """No user exists yet (the sign-in page then points to the first-run page). The sign-in form itself still
    renders while the store is down: signing in then answers 503."""
    try:
        return not has_users(get_services())
    except StoreError:
        return False


def render_sign_in(error: str | None = None, status: int = 200, email: str = ""):
    return render_template("dashboard/signin.html", error=error, next=request.values.get("next", ""), email=email,
                           shared_key=bool(api_keys(current_app.config)), first_run=first_run()), status


def client_address() -> str:
    return request.remote_addr or "unknown"


def address_throttled(services) -> bool:
    return services.throttles.signin_failures(client_address()) >= SIGNIN_FAILURES_MAX


def count_address_failure(services) -> None:
    services.throttles.count_signin_failure(client_address(), SIGNIN_WINDOW_SECONDS)


def finish_user_sign_in(services, email: str, target: str | None):
    """Password (and code, when asked) given: a fresh session, this browser trusted for the account."""
    sign_in_succeeded(services, email, client_address())
    start_session(user=email, pw=password_fingerprint(services, email))
    log.info("dashboard: user signed in")
    return devices.remember(redirect(safe_next(target)), account_of(email))


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    """Email and password (then a code, for a user with a second factor), or (for deployments that had only
    the shared key) an API key of the server."""
    if request.method == "GET":
        return render_sign_in()
    services = get_services()
    if address_throttled(services):
        log.warning("dashboard: sign-in throttled")
        return render_sign_in("Too many failed sign-ins from your address; wait a minute and try again.", 429)
    email = request.form.get("email", "").strip()
    if email:
        try:
            user = authenticate_user(services, email, request.form.get("password", ""), client_address(),
                                     devices.is_trusted(account_of(email)))
        except TooManyRequests as exc:
            log.warning("dashboard: sign-in to an account throttled")
            return render_sign_in(exc.message, 429, email)
        if user is not None and second_factor_on(services, user.email):
            session.clear()
            session.update(code_for=user.email, code_pw=password_fingerprint(services, user.email),
                           code_at=int(time.time()))
            csrf_token()
            return redirect(url_for("dashboard.sign_in_code", next=safe_next_path(request.form.get("next"))), 303)
        if user is not None:
            return finish_user_sign_in(services, user.email, request.form.get("next"))
        error = "That email and password do not match."
    else:
        presented = request.form.get("api_key", "").strip()
        if presented and key_is_valid(presented, api_keys(current_app.config)):
            start_session(key=key_fingerprint(current_app.secret_key, presented))
            log.info("dashboard: signed in")
            return redirect(safe_next(request.form.get("next")))
        error = "That API key is not valid."
    log.warning("dashboard: sign-in refused")
    count_address_failure(services)
    return render_sign_in(error, 401, email)


def waiting_for_code(services) -> str | None:
    """The email whose password was given in this session, if its code is still awaited (and the password
    has not changed since); None once the wait is over."""
    email = session.get("code_for")
    if not email or time.time() - session.get("code_at", 0) > CODE_STEP_SECONDS:
        return None
    current = password_fingerprint(services, email)
    if current is None or not hmac.compare_digest(current.encode(), str(session.get("code_pw", "")).encode()):
        return None
    return email


@bp.route("/signin/code", methods=["GET", "POST"])
def sign_in_code():
    """The second step of a sign-in with a second factor: the authenticator's code, or a recovery code."""
    services = get_services()
    email = waiting_for_code(services)
    if email is None:
        session.pop("code_for", None)
        flash("Sign in again: the code was not given within 5 minutes.", "error")
        return redirect(url_for("dashboard.sign_in", next=safe_next_path(request.values.get("next"))), 303)
    if request.method == "GET":
        return render_template("dashboard/signin_code.html", error=None, next=request.values.get("next", ""))
    error, status = "That code is not right (or was used already). Type the code your app shows now.", 401
    if address_throttled(services):
        error, status = "Too many failed sign-ins from your address; wait a minute and try again.", 429
    else:
        try:
            if check_code(services, email, request.form.get("code", ""), client_address(),
                          devices.is_trusted(account_of(email))):
                return finish_user_sign_in(services, email, request.form.get("next"))
        except TooManyRequests as exc:
            error, status = exc.message, 429
        else:
            count_address_failure(services)
    log.warning("dashboard: sign-in code refused")
    return render_template("dashboard/signin_code.html", error=error, next=request.form.get("next", "")), status


@bp.route("/setup", methods=["GET", "POST"])
def setup():
    """The first-run page: make the first owner. Only while no user exists — and, on a deployment that has
    server keys, only for someone signed in with one (so a stranger cannot claim an existing deployment)."""
    services = get_services()
    if has_users(services):
        abort(404)
    if api_keys(current_app.config) and current_identity() is None:
        return redirect(url_for("dashboard.sign_in", next=url_for("dashboard.setup")), 303)
    errors: dict[str, str] = {}
    email = request.form.get("email", "").strip()
    if request.method == "POST":
        password = request.form.get("password", "")
        if password != request.form.get("confirm", ""):
            errors["confirm"] = "The two passwords differ."
        else:
            try:
                user = create_first_owner(services, email, password, actor=email.lower() or "setup")
            except ScorekeeperError as exc:
                errors = {name: " ".join(p) if isinstance(p, list) else str(p)
                          for name, p in (exc.errors or {"email": exc.message}).items()}
            else:
                start_session(user=user.email, pw=password_fingerprint(services, user.email))
                flash(f"Welcome, {user.email}: you are the owner. Invite your team from Members.")
                return redirect(url_for("dashboard.members"), 303)
    return render_template("dashboard/setup.html", errors=errors, email=email), 400 if errors else 200


@bp.route("/workspace", methods=["POST"])
def switch_workspace():
    """Act in another of the workspaces this session may enter (the switcher in the header)."""
    identity = current_identity()
    wanted = request.form.get("workspace", "")
    if identity is None or wanted not in identity.workspaces:
        abort(404, description="No such workspace for you.")
    session["ws"] = wanted
    flash(f"You are in workspace {wanted}.")
    return redirect(url_for("dashboard.contacts"), 303)


@bp.route("/signout", methods=["POST"])
def sign_out():
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("dashboard.sign_in"))


@bp.route("/")
def home():
    return redirect(url_for("dashboard.contacts"))
