"""API keys and scopes: who a request is, and what it may do. Pure helpers, no storage.

Two kinds of key open ``/v1``:

* the keys of ``SCOREKEEPER_API_KEYS`` (the environment): instance-admin keys, compared in
  constant time, recorded as ``api:<sha256[:8]>``;
* stored keys, made with ``POST /v1/keys``: ``skk_<id>_<secret>``, each with its own scopes.
  Only the SHA-256 of a stored key is kept. A plain hash (no salt, no slow KDF) is enough
  because the secret is 256 random bits: nobody can guess or brute-force such a key from its
  hash, and salts or a slow hash only help against low-entropy secrets such as passwords.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from flask import g, request

from .errors import Unauthorized

#: Scopes a stored key may hold. ``write`` implies ``read`` and ``ingest``; ``admin`` implies all.
SCOPES = ("ingest", "read", "write", "admin")
IMPLIED_SCOPES = {
    "ingest": frozenset({"ingest"}),
    "read": frozenset({"read"}),
    "write": frozenset({"write", "read", "ingest"}),
    "admin": frozenset(SCOPES),
}
#: Stored keys start with this, so a leaked one is easy to recognise (secret scanners, logs).
KEY_PREFIX = "skk"


def key_is_valid(presented: str, keys: list[str]) -> bool:
    """Constant-time comparison against every configured key (no early exit on a match): the one check of a
    presented secret (API keys, the metrics token, the dashboard's CSRF token)."""
    found = False
    for key in keys:
        found |= hmac.compare_digest(presented.encode(), key.encode())
    return found


def scopes_allow(held: frozenset[str] | tuple[str, ...], needed: str) -> bool:
    """Whether a key holding ``held`` may do what needs ``needed``."""
    return any(needed in IMPLIED_SCOPES.get(scope, ()) for scope in held)


#: The actor string of changes made in the dashboard with the shared key (until users sign in).
DASHBOARD_ACTOR = "dashboard"


def key_actor(key: str) -> str:
    """Who a change made with an environment API key is recorded as: ``api:`` and 8 hex of the key's
    SHA-256, enough to tell keys apart and never enough to recover one."""
    return "api:" + hashlib.sha256(key.encode()).hexdigest()[:8]


def stored_key_actor(key_id: str, name: str) -> str:
    """Who a change made with a stored key is recorded as: its name and id (names need not be unique)."""
    return f"key:{name} ({key_id})"


def hash_key(key: str) -> str:
    """The stored form of a key: hex SHA-256 (see the module docstring for why this is enough)."""
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> tuple[str, str]:
    """A fresh stored key: ``(id, key)``; the key carries its id so a lookup is one read."""
    key_id = secrets.token_hex(8)
    return key_id, f"{KEY_PREFIX}_{key_id}_{secrets.token_hex(32)}"


def key_id_of(presented: str) -> str | None:
    """The id inside a stored key, or None if it does not look like one."""
    prefix, _, rest = presented.partition("_")
    key_id, _, secret = rest.partition("_")
    if prefix != KEY_PREFIX or len(key_id) != 16 or not secret:
        return None
    return key_id


def stored_key_matches(presented: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_key(presented).encode(), stored_hash.encode())


@dataclass(frozen=True)
class Principal:
    """Who sent a request: ``actor`` is what changes are recorded as; ``key_id`` is set for stored keys;
    ``workspace`` is the one the key belongs to; ``instance_admin`` (the environment's keys) may act in any
    workspace and manage workspaces."""

    actor: str
    scopes: frozenset[str]
    key_id: str | None = None
    name: str | None = None
    workspace: str = "default"
    instance_admin: bool = False

    def may(self, needed: str) -> bool:
        return scopes_allow(self.scopes, needed)


def presented_bearer_key() -> str:
    """The bearer key of the current request; Unauthorized if there is none."""
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    presented = presented.strip()
    if scheme.lower() != "bearer" or not presented:
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
    return presented


def current_principal() -> Principal:
    """The principal the request was authenticated as (set by the API's access check)."""
    principal = g.get("principal")
    if principal is None:
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
    return principal


def request_actor() -> str:
    """The actor of the current API request (its key has been checked already)."""
    return current_principal().actor
