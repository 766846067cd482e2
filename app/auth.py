"""API keys: every management route needs ``Authorization: Bearer KEY``."""
from __future__ import annotations

import hmac

from flask import current_app, request

from .errors import Unauthorized
from .settings import api_keys


def key_is_valid(presented: str, keys: list[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


def require_api_key() -> None:
    """A ``before_request`` hook: raise Unauthorized unless a configured key is presented."""
    if request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    keys = api_keys(current_app.config)
    if scheme.lower() != "bearer" or not presented or not keys or not key_is_valid(presented.strip(), keys):
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
