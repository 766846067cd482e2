"""Score profiles in Redis: drafts, published versions, and the publish life cycle.

A profile document (one field of the ``profiles`` hash) holds the draft and which versions
are live or being built. Published versions are immutable, so workers cache them.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound
from ..keys import Keys
from ..scoring.profiles import Profile, profile_from_dict
from .store import dumps, loads


@dataclass(frozen=True)
class ActiveVersion:
    """A profile version that scores live interactions: the live one, or one being built."""

    profile: Profile
    version: int
    live: bool

    @property
    def field(self) -> str:
        return f"{self.profile.id}@{self.version}"


class ProfileStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._versions: dict[tuple[str, int], Profile] = {}

    def all(self) -> dict[str, dict[str, Any]]:
        return {pid: loads(doc) for pid, doc in self.redis.hgetall(self.keys.profiles()).items()}

    def get(self, profile_id: str) -> dict[str, Any] | None:
        doc = self.redis.hget(self.keys.profiles(), profile_id)
        return loads(doc) if doc else None

    def require(self, profile_id: str) -> dict[str, Any]:
        """The profile document, or NotFound (404) for the caller to pass on."""
        doc = self.get(profile_id)
        if doc is None:
            raise NotFound(f"No profile {profile_id!r}.")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        doc["updated_at"] = int(time.time() * 1000)
        self.redis.hset(self.keys.profiles(), doc["id"], dumps(doc))

    def put_draft(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Create the profile or replace its draft; live scores are not touched."""
        doc = self.get(draft["id"]) or {"id": draft["id"], "live_version": None, "building_version": None,
                                          "version_seq": 0, "created_at": int(time.time() * 1000)}
        doc["draft"] = draft
        self.save(doc)
        return doc

    def delete(self, profile_id: str) -> None:
        self.redis.hdel(self.keys.profiles(), profile_id)

    def version(self, profile_id: str, version: int) -> Profile:
        cached = self._versions.get((profile_id, version))
        if cached is None:
            raw = self.redis.get(self.keys.profile_version(profile_id, version))
            if raw is None:
                raise KeyError(f"{profile_id}@{version}")
            cached = self._versions[(profile_id, version)] = profile_from_dict(loads(raw))
        return cached

    def store_version(self, profile_id: str, version: int, definition: dict[str, Any]) -> None:
        self.redis.set(self.keys.profile_version(profile_id, version), dumps(definition))

    def active(self) -> list[ActiveVersion]:
        """Every version that live interactions must be scored into."""
        out = []
        for pid, doc in self.all().items():
            if doc.get("live_version"):
                out.append(ActiveVersion(self.version(pid, doc["live_version"]), doc["live_version"], True))
            if doc.get("building_version"):
                out.append(ActiveVersion(self.version(pid, doc["building_version"]), doc["building_version"], False))
        return out

    def live(self) -> dict[str, ActiveVersion]:
        return {a.profile.id: a for a in self.active() if a.live}
