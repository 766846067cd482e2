"""API keys: every management route needs ``Authorization: Bearer KEY``."""
from __future__ import annotations

import hashlib
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


#: The actor string of changes made in the dashboard (until users exist).
DASHBOARD_ACTOR = "dashboard"


def key_actor(key: str) -> str:
    """Who a change made with this API key is recorded as: ``api:`` and 8 hex of the key's SHA-256,
    enough to tell keys apart and never enough to recover one."""
    return "api:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def request_actor() -> str:
    """The actor of the current API request (its bearer key has been checked already)."""
    _, _, presented = request.headers.get("Authorization", "").partition(" ")
    return key_actor(presented.strip())


def require_api_key() -> None:
    """A ``before_request`` hook: raise Unauthorized unless a configured key is presented."""
    if request.method == "OPTIONS":
        return
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    keys = api_keys(current_app.config)
    if scheme.lower() != "bearer" or not presented or not keys or not key_is_valid(presented.strip(), keys):
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
