"""The one place where exceptions become HTTP responses, all as ``{code, status, message, errors}``."""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from .errors import ScorekeeperError, SignatureError, error_body
from .storage.errors import StoreError, StoreUnavailable

log = logging.getLogger(__name__)

_LOCATIONS = ("json", "query", "form", "headers", "cookies", "files", "view_args")

#: Seconds a client should wait before retrying when the store is down.
RETRY_AFTER_SECONDS = 5


def _respond(status: int, message: str, errors=None, headers=None):
    response = jsonify(error_body(status, message, errors))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def handle_scorekeeper_error(error: ScorekeeperError):
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if error.status == 503 else None
    if error.status == 401 and not isinstance(error, SignatureError):  # webhooks are not Bearer-protected
        headers = {"WWW-Authenticate": 'Bearer realm="scorekeeper"'}
    return _respond(error.status, error.message, error.errors, headers)


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    errors = data.get("errors") or data.get("messages")
    if isinstance(errors, dict) and len(errors) == 1 and next(iter(errors)) in _LOCATIONS:
        errors = next(iter(errors.values()))  # webargs nests by location: name the fields directly
    message = data.get("message") or error.description or error.name
    if errors and "message" not in data:
        message = "The request is invalid; see errors."
    return _respond(error.code or 500, message, errors, {**protocol_headers(error), **(data.get("headers") or {})})


def protocol_headers(error: HTTPException) -> dict[str, str]:
    """Headers the status itself calls for (``Allow`` on a 405, ``WWW-Authenticate`` on a 401)."""
    return {name: value for name, value in error.get_headers() if name.lower() != "content-type"}


def handle_store_error(error: StoreError):
    """The store did not answer (503, retry later), or refused a command (500, logged like any bug)."""
    cause = type(error.__cause__ or error).__name__
    if isinstance(error, StoreUnavailable):
        log.error("store unavailable", extra={"error": cause})
        return _respond(503, "The store is unavailable; retry later.", None, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    return handle_unexpected(error)


def handle_unexpected(error: Exception):
    log.exception("unhandled error")
    return _respond(500, "Internal error; it has been logged.")


def init_app(app: Flask) -> None:
    app.register_error_handler(ScorekeeperError, handle_scorekeeper_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(StoreError, handle_store_error)
    app.register_error_handler(Exception, handle_unexpected)
