"""Signing in with an API key, the session that follows, and CSRF protection of every form.

The session (Flask's signed cookie) holds a fingerprint of the key, never the key: a session
ends when its key is removed from ``API_KEYS``, when it is older than
``SESSION_MAX_AGE_SECONDS``, or on sign-out. Every POST must carry the session's CSRF token
(the ``csrf_token`` field, or the ``X-CSRF-Token`` header for scripts).
"""
from __future__ import annotations

import logging
import secrets
import time
from urllib.parse import urlsplit

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, session, url_for

from ..auth import DASHBOARD_ACTOR, key_is_valid
from ..errors import error_body
from ..services import get_services
from ..settings import api_keys
from .blueprint import bp
from .defaults import SESSION_MAX_AGE_SECONDS, SIGNIN_FAILURES_MAX, SIGNIN_WINDOW_SECONDS
from .secret import fingerprint_is_valid, key_fingerprint

log = logging.getLogger(__name__)

#: Endpoints reachable without signing in.
PUBLIC_ENDPOINTS = frozenset({"dashboard.sign_in", "dashboard.static"})
#: Methods that change nothing, so need no CSRF token.
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token() -> str:
    """The session's CSRF token, made on first use."""
    token = session.get("csrf")
    if not token:
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def signed_in() -> bool:
    fingerprint = session.get("key")
    started = session.get("at", 0)
    if not fingerprint or time.time() - started > SESSION_MAX_AGE_SECONDS:
        return False
    return fingerprint_is_valid(current_app.secret_key, fingerprint, api_keys(current_app.config))


def dashboard_actor() -> str:
    """Who a change made in this session is recorded as (the audit trail, versions, ledgers)."""
    return DASHBOARD_ACTOR


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
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    if signed_in():
        return None
    session.pop("key", None)
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
    return {"csrf_token": csrf_token, "signed_in": signed_in}


@bp.route("/signin", methods=["GET", "POST"])
def sign_in():
    error = None
    if request.method == "POST":
        services = get_services()
        address = request.remote_addr or "unknown"
        if services.throttles.signin_failures(address) >= SIGNIN_FAILURES_MAX:
            log.warning("dashboard: sign-in throttled")
            error = "Too many failed sign-ins from your address; wait a minute and try again."
            return render_template("dashboard/signin.html", error=error,
                                   next=request.values.get("next", "")), 429
        presented = request.form.get("api_key", "").strip()
        if presented and key_is_valid(presented, api_keys(current_app.config)):
            session.clear()  # a fresh session (and CSRF token) on every sign-in
            session["key"] = key_fingerprint(current_app.secret_key, presented)
            session["at"] = int(time.time())
            csrf_token()
            log.info("dashboard: signed in")
            return redirect(safe_next(request.form.get("next")))
        log.warning("dashboard: sign-in refused")
        services.throttles.count_signin_failure(address, SIGNIN_WINDOW_SECONDS)
        error = "That API key is not valid."
    status = 401 if error else 200
    return render_template("dashboard/signin.html", error=error, next=request.values.get("next", "")), status


@bp.route("/signout", methods=["POST"])
def sign_out():
    session.clear()
    flash("You are signed out.")
    return redirect(url_for("dashboard.sign_in"))


@bp.route("/")
def home():
    return redirect(url_for("dashboard.contacts"))
