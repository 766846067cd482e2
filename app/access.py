"""Who may call the API: the environment's instance-admin keys, and stored keys with scopes.

A stored key is looked up in Redis on every request — no per-process cache — so a revoke is
refused at once by every process; the lookup is one HGET by the id the key carries.
"""
from __future__ import annotations

import logging
from typing import Any

from .audit import record
from .auth import (
    SCOPES,
    Principal,
    hash_key,
    key_actor,
    key_id_of,
    key_is_valid,
    new_key,
    stored_key_actor,
    stored_key_matches,
)
from .errors import NotFound, Unauthorized, ValidationError
from .services import DEFAULT_WORKSPACE, Services
from .settings import api_keys

log = logging.getLogger(__name__)



def authenticate(services: Services, presented: str) -> Principal:
    """The principal a bearer key stands for; Unauthorized for an unknown or revoked key."""
    if key_is_valid(presented, api_keys(services.settings)):
        return Principal(actor=key_actor(presented), scopes=frozenset(SCOPES), instance_admin=True)
    key_id = key_id_of(presented)
    doc = services.api_keys.get(key_id) if key_id else None
    if doc is None or not stored_key_matches(presented, doc["hash"]):
        raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
    services.api_keys.mark_used(key_id, services.clock.now_ms())
    return Principal(actor=stored_key_actor(doc["id"], doc["name"]), scopes=frozenset(doc["scopes"]),
                     key_id=doc["id"], name=doc["name"], workspace=doc.get("workspace") or DEFAULT_WORKSPACE)


def render_key(doc: dict[str, Any]) -> dict[str, Any]:
    """A key as the API shows it: never its hash."""
    return {name: doc.get(name) for name in ("id", "name", "scopes", "workspace", "created_at", "created_by",
                                             "last_used_at")}


#: The longest key name (what the key is for).
NAME_MAX = 100


def check_key_request(name: str, scopes: list[str]) -> tuple[str, list[str]]:
    """The name and scopes of a new key, checked (the API's schema says the same; the dashboard relies on this)."""
    errors: dict[str, list[str]] = {}
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        errors["name"] = [f"1 to {NAME_MAX} characters"]
    if not scopes:
        errors["scopes"] = ["choose at least one scope"]
    elif unknown := sorted(set(scopes) - set(SCOPES)):
        errors["scopes"] = [f"unknown: {', '.join(unknown)}; one of {', '.join(SCOPES)}"]
    if errors:
        raise ValidationError("The key needs a name and at least one scope.", errors)
    return name, sorted(set(scopes), key=SCOPES.index)


def create_key(services: Services, name: str, scopes: list[str], actor: str) -> dict[str, Any]:
    """Make a key of ``services``' workspace (it acts there only); the response is the only place the key
    itself ever appears. Recorded in that workspace's audit trail."""
    name, scopes = check_key_request(name, scopes)
    key_id, key = new_key()
    doc = {"id": key_id, "name": name, "scopes": scopes,
           "workspace": services.workspace, "hash": hash_key(key), "created_at": services.clock.now_ms(),
           "created_by": actor}
    services.api_keys.put(doc)
    record(services, actor, "key.create", f"key:{key_id}", name=name, scopes=doc["scopes"])
    log.info("api key created", extra={"key_id": key_id, "scopes": doc["scopes"]})
    return {**render_key(doc), "key": key}


def _in(doc: dict[str, Any], services: Services) -> bool:
    return (doc.get("workspace") or DEFAULT_WORKSPACE) == services.workspace


def list_keys(services: Services) -> list[dict[str, Any]]:
    """The keys of ``services``' workspace (the lookup by id is instance-wide; the list is not)."""
    return [render_key(doc) for doc in services.api_keys.all() if _in(doc, services)]


def revoke_key(services: Services, key_id: str, actor: str) -> dict[str, Any]:
    """Delete a key of ``services``' workspace (another workspace's is a 404): the next request made with it,
    on any process, is a 401."""
    doc = services.api_keys.get(key_id)
    if doc is None or not _in(doc, services) or not services.api_keys.delete(key_id):
        raise NotFound(f"No API key {key_id!r}.")
    record(services, actor, "key.revoke", f"key:{key_id}", name=doc["name"])
    log.info("api key revoked", extra={"key_id": key_id})
    return doc
