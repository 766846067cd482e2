"""Score profiles in Redis: drafts, published versions, and the publish life cycle.

A profile document (one field of the ``profiles`` hash) holds the draft and which versions
are live or being built. Published versions are immutable once live, but a deleted profile's
version numbers are used again, so a version's rules are read each time and only their parsing
is cached (by their stored text).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import NotFound
from ..keys import Keys
from ..scoring.profiles import Profile, profile_from_dict
from .errors import gateway
from .redis_tools import DocumentHash, dumps, get_many, loads

#: Parsed profile versions kept per process (by their stored text).
PARSED_MAX = 256


@dataclass(frozen=True)
class ActiveVersion:
    """A profile version that scores live interactions: the live one, or one being built."""

    profile: Profile
    version: int
    live: bool

    @property
    def field(self) -> str:
        return f"{self.profile.id}@{self.version}"


@gateway
class ProfileStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self.docs = DocumentHash(redis, keys.profiles())
        self._parsed: dict[str, Profile] = {}

    def all(self) -> dict[str, dict[str, Any]]:
        return self.docs.all()

    def get(self, profile_id: str) -> dict[str, Any] | None:
        return self.docs.get(profile_id)

    def require(self, profile_id: str) -> dict[str, Any]:
        """The profile document, or NotFound (404) for the caller to pass on."""
        doc = self.get(profile_id)
        if doc is None:
            raise NotFound(f"No profile {profile_id!r}.")
        return doc

    def save(self, doc: dict[str, Any]) -> None:
        doc["updated_at"] = int(time.time() * 1000)
        self.docs.put(doc["id"], doc)

    def put_draft(self, draft: dict[str, Any]) -> dict[str, Any]:
        """Create the profile or replace its draft; live scores are not touched."""
        doc = self.get(draft["id"]) or {"id": draft["id"], "live_version": None, "building_version": None,
                                          "version_seq": 0, "created_at": int(time.time() * 1000)}
        doc["draft"] = draft
        self.save(doc)
        return doc

    def delete(self, profile_id: str) -> None:
        self.docs.delete(profile_id)

    def version(self, profile_id: str, version: int) -> Profile:
        return self.versions([(profile_id, version)])[0]

    def versions(self, wanted: list[tuple[str, int]]) -> list[Profile]:
        """The rules of these published versions, in one round trip; KeyError names a missing one."""
        raws = get_many(self.redis, [self.keys.profile_version(pid, v) for pid, v in wanted])
        out = []
        for (profile_id, version), raw in zip(wanted, raws):
            if raw is None:
                raise KeyError(f"{profile_id}@{version}")
            parsed = self._parsed.get(raw)
            if parsed is None:
                if len(self._parsed) >= PARSED_MAX:
                    self._parsed.clear()
                parsed = self._parsed[raw] = profile_from_dict(loads(raw))
            out.append(parsed)
        return out

    def store_version(self, profile_id: str, version: int, definition: dict[str, Any]) -> None:
        self.redis.set(self.keys.profile_version(profile_id, version), dumps(definition))

    def active(self) -> list[ActiveVersion]:
        """Every version that live interactions must be scored into."""
        return _active(self.all(), self.versions)

    def live(self) -> dict[str, ActiveVersion]:
        return {a.profile.id: a for a in self.active() if a.live}


def _active(docs: dict[str, dict[str, Any]], versions: Any) -> list[ActiveVersion]:
    wanted: list[tuple[str, int, bool]] = []
    for pid, doc in docs.items():
        if doc.get("live_version"):
            wanted.append((pid, doc["live_version"], True))
        if doc.get("building_version"):
            wanted.append((pid, doc["building_version"], False))
    profiles = versions([(pid, v) for pid, v, _live in wanted]) if wanted else []
    return [ActiveVersion(profile, v, live) for profile, (_pid, v, live) in zip(profiles, wanted)]
