"""Domain operations the core keeps inside its /v1 views, as functions the dashboard can call.

Each does what the matching API route does, so both leave the same data behind.
TODO(core): move these next to their API routes (app/publish.py, app/api/smart_lists.py,
app/api/contacts.py) so the views of both call one function.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

from marshmallow import ValidationError as SchemaError

from ..api.schemas import SmartListSchema
from ..errors import NotFound, ValidationError
from ..ingest import ingest
from ..profile_store import ProfileStore
from ..publish import start_publish
from ..queries import ContactFilter
from ..scoring.interactions import Interaction, now_ms
from ..services import Services
from ..store import dumps, loads


def profile_store(services: Services) -> ProfileStore:
    return ProfileStore(services.redis, services.keys)


def load_profile(services: Services, profile_id: str) -> dict[str, Any]:
    doc = profile_store(services).get(profile_id)
    if doc is None:
        raise NotFound(f"No profile {profile_id!r}.")
    return doc


def publish_draft(services: Services, profile_id: str) -> dict[str, Any]:
    """``POST /v1/profiles/<id>/publish``: freeze the draft as a version and queue its recompute."""
    load_profile(services, profile_id)
    job = start_publish(services, profile_id)
    store = profile_store(services)
    doc = store.get(profile_id)
    doc["published_draft"] = doc["draft"]
    store.save(doc)
    return job


def unpublish(services: Services, profile_id: str) -> dict[str, Any]:
    """``POST /v1/profiles/<id>/unpublish``: stop scoring with the profile; its scores are emptied."""
    doc = load_profile(services, profile_id)
    previous = doc.get("live_version")
    doc.update(live_version=None, unpublished_at=int(time.time() * 1000))
    profile_store(services).save(doc)
    if previous:
        services.queue.enqueue("workers.jobs.retire_version", profile_id, previous, result_ttl=0)
    return doc


def set_dnd(services: Services, contact: dict[str, Any], channels: dict[str, bool]) -> None:
    """``PATCH /v1/contacts/<id>`` with ``dnd``: recorded as a ``contact.dnd_updated`` interaction."""
    if not channels:
        return
    interaction = Interaction(id=f"dnd-{uuid.uuid4().hex}", source="api", type="contact.dnd_updated",
                              occurred_at=now_ms(),
                              properties={"channels": channels, "all_channels": all(channels.values())},
                              email=contact["email"], external_id=contact["external_id"])
    ingest(services, [interaction])
    services.redis.hset(services.keys.contact(contact["id"]),
                        mapping={f"dnd:{ch}": "1" if on else "0" for ch, on in channels.items()})


def smart_lists(services: Services) -> list[dict[str, Any]]:
    docs = [loads(v) for v in services.redis.hvals(services.keys.smart_lists())]
    return sorted(docs, key=lambda d: (d["name"].lower(), d["id"]))


def save_smart_list(services: Services, name: str, flt: ContactFilter) -> dict[str, Any]:
    """``POST /v1/smart-lists``: the same schema, the same document."""
    try:
        data = SmartListSchema().load({"name": name, **flt.to_json()})
    except SchemaError as exc:
        raise ValidationError("The smart list is invalid.", exc.messages) from exc
    doc = {"id": uuid.uuid4().hex[:12], **data}
    ContactFilter(**{k: doc.get(k) for k in ("profile", "op", "value", "tag", "without_tag")}).validate()
    services.redis.hset(services.keys.smart_lists(), doc["id"], dumps(doc))
    return doc


def delete_smart_list(services: Services, list_id: str) -> None:
    if not services.redis.hdel(services.keys.smart_lists(), list_id):
        raise NotFound(f"No smart list {list_id!r}.")
