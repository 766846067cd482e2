"""A profile's published versions: who published each and when, what it did, and what changed.

Shared by ``/v1/profiles/<id>/versions`` and the dashboard's versions page, so both say the same.
"""
from __future__ import annotations

from typing import Any

from .errors import NotFound
from .scoring.interactions import format_timestamp
from .scoring.profiles import Profile, profile_from_dict
from .scoring.sentences import describe_changes
from .services import Services
from .storage.profiles import ProfileStore, VersionRecord


def _profile(store: ProfileStore, profile_id: str, version: int) -> Profile:
    return profile_from_dict({**store.definition(profile_id, version), "id": profile_id})


def changes_between(services: Services, profile_id: str, old: int, new: int) -> list[str]:
    """What changed from version ``old`` to version ``new``, in words (NotFound for a missing one)."""
    store = services.profiles
    return describe_changes(_profile(store, profile_id, old), _profile(store, profile_id, new))


def unpublished_changes(services: Services, profile_id: str) -> list[str]:
    """What the draft changes from the live version, in words (empty when they are the same)."""
    doc = services.profiles.require(profile_id)
    if doc.get("published_draft") == doc["draft"]:
        return []
    draft = profile_from_dict({**doc["draft"], "id": profile_id})
    live = doc.get("live_version")
    before = _profile(services.profiles, profile_id, live) if live else Profile(id=profile_id, name=draft.name)
    return [line for line in describe_changes(before, draft) if line != "No changes"]


def render_version(record: VersionRecord, live: int | None, changes: list[str]) -> dict[str, Any]:
    return {"version": record.version, "live": record.version == live, "actor": record.actor,
            "published_at": format_timestamp(record.published_at) if record.published_at else None,
            "published_at_ms": record.published_at or None,
            "live_at": format_timestamp(record.live_at) if record.live_at else None,
            "kind": record.kind, "restored_from": record.restored_from, "error": record.error,
            "job": record.job, "summary": record.summary.to_json() if record.summary else None,
            "changes": changes}


def history(services: Services, profile_id: str) -> list[dict[str, Any]]:
    """Every published version, newest first, each with its changes from the one before."""
    store = services.profiles
    doc = store.require(profile_id)
    records = store.version_records(doc)
    profiles = {r.version: _profile(store, profile_id, r.version) for r in records}
    out = []
    for record in records:
        before = profiles.get(record.version - 1)
        changes = describe_changes(before, profiles[record.version]) if before else ["First version"]
        out.append(render_version(record, doc.get("live_version"), changes))
    return out


def version_detail(services: Services, profile_id: str, version: int, against: int | None = None) -> dict[str, Any]:
    """One version with its definition, and its changes from ``against`` (default: the version before)."""
    store = services.profiles
    doc = store.require(profile_id)
    if version not in store.version_numbers(doc):
        raise NotFound(f"Profile {profile_id!r} has no version {version}.")
    record = store.version_record(profile_id, version) or VersionRecord(version, "unknown", 0)
    base = against if against is not None else version - 1
    if against is not None and against not in store.version_numbers(doc):
        raise NotFound(f"Profile {profile_id!r} has no version {against}.")
    changes = changes_between(services, profile_id, base, version) if base in store.version_numbers(doc) \
        else ["First version"]
    return {**render_version(record, doc.get("live_version"), changes),
            "definition": store.definition(profile_id, version)}
