"""Specific exceptions, and the one place that maps them to HTTP.

Every error leaves the API as JSON ``{code, status, message, errors}`` in flask-smorest's
convention: ``code`` is the HTTP status number, ``status`` its reason phrase.
"""
from __future__ import annotations

from http import HTTPStatus
from typing import Any


class ScorekeeperError(Exception):
    """Base class; ``status`` is the HTTP status it maps to."""

    status = 500

    def __init__(self, message: str, errors: Any = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}


class ValidationError(ScorekeeperError):
    """Input failed validation; ``errors`` names each bad field (and item index)."""

    status = 400


class PayloadTooLarge(ScorekeeperError):
    status = 413


class UnsupportedMediaType(ScorekeeperError):
    """The body is not in a format the route reads (a /v1 body that is not JSON)."""

    status = 415


class Unauthorized(ScorekeeperError):
    status = 401


class SignatureError(Unauthorized):
    """A webhook's signature, timestamp or credentials did not verify."""



class Forbidden(ScorekeeperError):
    """Authenticated, but not allowed: an API key without the route's scope, a user without the role."""

    status = 403


class TooManyRequests(ScorekeeperError):
    """Too many failed sign-ins (per account or per client address): wait, then try again."""

    status = 429


class NotFound(ScorekeeperError):
    status = 404


class Conflict(ScorekeeperError):
    status = 409


def error_body(status: int, message: str, errors: Any = None) -> dict[str, Any]:
    """The JSON body of every error response; ``errors`` is always an object (field -> problems)."""
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    return {"code": status, "status": phrase, "message": message, "errors": as_error_object(errors)}


def as_error_object(errors: Any) -> dict[str, Any]:
    """Problems not tied to a field (a bare list or text) are filed under ``_schema``, as marshmallow does."""
    if not errors:
        return {}
    if isinstance(errors, dict):
        return {str(key): value for key, value in errors.items()}
    if isinstance(errors, (list, tuple)):
        return {"_schema": list(errors)}
    return {"_schema": [str(errors)]}
