"""The dashboard blueprint: templates and static files of its own, HTML errors, security headers."""
from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from ..errors import ScorekeeperError
from ..services import get_services
from ..storage.errors import StoreError
from .health import health_summary
from ..settings import api_keys
from .secret import StoredSecretSessions, session_secret

log = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard", template_folder="templates",
               static_folder="static", static_url_path="/static")

#: Sent with every dashboard response: only our own scripts, styles and forms; never framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                                "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@bp.record_once
def configure(state: BlueprintSetupState) -> None:
    """Give the app a session secret (``SECRET_KEY``, else one derived from the API keys, else a random one kept
    in Redis) and safe cookies."""
    app = state.app
    if not app.config.get("SECRET_KEY"):
        if api_keys(app.config):
            app.config["SECRET_KEY"] = session_secret(app.config)
        else:
            app.session_interface = StoredSecretSessions()
    app.config.setdefault("SESSION_COOKIE_SAMESITE", "Lax")
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    app.add_url_rule("/", "root", lambda: redirect(url_for("dashboard.home")))  # / leads to the dashboard


@bp.after_request
def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.endpoint != "dashboard.static":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


@bp.context_processor
def template_helpers() -> dict[str, Any]:
    """``health()`` for the strip (read only by pages that show it), ``when(ms)`` for times and
    ``unread()``, the inbox's unread count in the menu."""
    return {"health": lambda: health_summary(get_services()), "when": format_when,
            "unread": lambda: get_services().automation.unread_count()}


def format_when(ms: int | None) -> str:
    """Epoch milliseconds as ``2025-05-01 14:03:07 UTC``."""
    if not ms:
        return "—"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def error_page(status: int, title: str, message: str) -> tuple[str, int]:
    return render_template("dashboard/error.html", status=status, title=title, message=message), status


@bp.errorhandler(ScorekeeperError)
def handle_domain_error(error: ScorekeeperError):
    return error_page(error.status, {404: "Not found", 409: "Conflict"}.get(error.status, "Error"), error.message)


@bp.errorhandler(HTTPException)
def handle_http_error(error: HTTPException):
    return error_page(error.code or 500, error.name, error.description or error.name)


@bp.errorhandler(StoreError)
def handle_store_down(error: StoreError):
    log.error("dashboard: store unavailable", extra={"error": type(error.__cause__ or error).__name__})
    page, status = error_page(503, "Store unavailable", "Redis did not answer; try again in a moment.")
    return page, status, {"Retry-After": "5"}
