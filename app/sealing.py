"""Secrets kept in Redis, encrypted when ``SECRETS_KEY`` holds Fernet keys: provider secrets and TOTP seeds.

The first key encrypts and every key decrypts, so keys rotate by putting a new one first. Without the
setting a secret is stored as given (docs/teams.md says why that is a choice, and how to turn it on). A
sealed value carries a marker, so stored secrets written before the setting was turned on keep working.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask

from .errors import ScorekeeperError
from .settings import setting

log = logging.getLogger(__name__)

#: What marks a stored value as encrypted.
SEALED = "fernet:"


class Unreadable(ScorekeeperError):
    """A stored secret was encrypted with a key that ``SECRETS_KEY`` no longer holds."""

    status = 503


@functools.lru_cache(maxsize=8)
def _cipher(keys: str) -> MultiFernet | None:
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    return MultiFernet([Fernet(part.encode()) for part in parts]) if parts else None


def cipher(settings: Mapping[str, Any]) -> MultiFernet | None:
    """The ``SECRETS_KEY`` keys (the first encrypts, each decrypts), or None when unset."""
    return _cipher(str(setting(settings, "SECRETS_KEY") or ""))


def init_app(app: Flask) -> None:
    """Stop the start on a ``SECRETS_KEY`` that is not a list of Fernet keys (never naming the value)."""
    try:
        cipher(app.config)
    except (ValueError, TypeError):
        raise ValueError("SCOREKEEPER_SECRETS_KEY is not a comma-separated list of Fernet keys (32 url-safe "
                         "base64-encoded bytes each)") from None


def is_sealed(stored: str) -> bool:
    return stored.startswith(SEALED)


def seal(settings: Mapping[str, Any], secret: str) -> str:
    """What to store for ``secret``: encrypted when ``SECRETS_KEY`` is set, else the secret itself."""
    sealer = cipher(settings)
    return SEALED + sealer.encrypt(secret.encode()).decode() if sealer else secret


def unseal(settings: Mapping[str, Any], stored: str, what: str) -> str:
    """The secret ``stored`` holds; ``Unreadable`` (503) when no key of ``SECRETS_KEY`` decrypts it."""
    if not is_sealed(stored):
        return stored
    sealer = cipher(settings)
    try:
        if sealer is None:
            raise InvalidToken
        return sealer.decrypt(stored[len(SEALED):].encode()).decode()
    except InvalidToken:
        log.error("stored secret cannot be decrypted", extra={"what": what})
        raise Unreadable(f"The {what} stored here was encrypted with a key SECRETS_KEY no longer holds: put "
                         "the key back, or set it again.") from None
