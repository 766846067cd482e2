"""The session secret, and the fingerprint a session keeps of the API key it signed in with."""
from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from ..auth import key_is_valid
from ..services import get_services
from ..sessions import CookieSessions
from ..settings import api_keys

#: Domain separation for the derived session secret (change it to sign every session out).
DERIVATION_LABEL = b"scorekeeper/dashboard/session-secret/v1"


def session_secret(config: Mapping[str, Any]) -> str:
    """A stable per-deployment secret when ``SECRET_KEY`` is unset: an HMAC of the configured API keys.

    Every process of a deployment derives the same value; changing the API keys changes it
    (and so signs every dashboard session out).
    """
    material = "\n".join(sorted(api_keys(config))).encode()
    return hmac.new(DERIVATION_LABEL, material, hashlib.sha256).hexdigest()


def key_fingerprint(secret: str | bytes, api_key: str) -> str:
    """What a session stores instead of the API key: still valid only while the key is configured."""
    raw = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(raw, api_key.encode(), hashlib.sha256).hexdigest()


def fingerprint_is_valid(secret: str | bytes, fingerprint: str, keys: list[str]) -> bool:
    """Constant-time check of a session's fingerprint against every configured key."""
    return key_is_valid(fingerprint, [key_fingerprint(secret, key) for key in keys])


class StoredSecretSessions(CookieSessions):
    """Sessions signed with a random secret kept in Redis, for a deployment with neither ``SECRET_KEY`` nor
    API keys (users only): every process reads the same secret, made once, on the first request."""

    def get_signing_serializer(self, app):
        if not app.secret_key:
            app.secret_key = get_services().users.session_secret()
        return super().get_signing_serializer(app)
