"""Score profiles in Redis: drafts, published versions, and the publish life cycle.

A profile document (one field of the ``profiles`` hash) holds the draft and which versions
are live or being built. A published version never changes, so its parsed rules are cached per
process — under the profile's creation time too, because a deleted profile's id may be used again.

A profile created again under a deleted one's id numbers its versions after the deleted one's last
(``first_version``; ``deleted-profiles`` keeps each deleted id's last number): fold states store rule ids as
their index in their version's rules, and the deleted profile's states outlive its document until its
retirement job has run (or forever, if it never does), so a version number used again would read them
with another version's rules, and that retirement would drop the new version's states.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from ..errors import NotFound
from ..keys import Keys
from ..scoring.profiles import Profile, profile_from_dict, version_field
from ..scoring.summary import PublishSummary
from .errors import gateway
from .redis_tools import DocumentHash, dumps, get_many, load_script, loads

#: Parsed profile versions kept per process.
CACHED_MAX = 256


@dataclass(frozen=True)
class ActiveVersion:
    """A profile version that scores live interactions: the live one, or one being built."""

    profile: Profile
    version: int
    live: bool

    @cached_property
    def field(self) -> str:
        """``PROFILE@VERSION``; made once (the scorer asks for it several times per contact)."""
        return version_field(self.profile.id, self.version)


@dataclass(frozen=True)
class VersionRecord:
    """Who published a version, when and how; and, once it went live, what it did to the scores.

    ``kind`` is ``publish`` (the draft) or ``rollback`` (the rules of ``restored_from``, published
    again as a new version). ``actor`` follows the actor strings of the API and the dashboard.
    """

    version: int
    actor: str
    published_at: int
    kind: str = "publish"
    restored_from: int | None = None
    job: str | None = None
    live_at: int | None = None
    error: str | None = None
    summary: PublishSummary | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "actor": self.actor, "published_at": self.published_at,
                "kind": self.kind, "restored_from": self.restored_from, "job": self.job,
                "live_at": self.live_at, "error": self.error,
                "summary": self.summary.to_json() if self.summary else None}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VersionRecord:
        summary = data.get("summary")
        return cls(version=int(data["version"]), actor=data.get("actor") or "unknown",
                   published_at=int(data.get("published_at") or 0), kind=data.get("kind") or "publish",
                   restored_from=data.get("restored_from"), job=data.get("job"), live_at=data.get("live_at"),
                   error=data.get("error"), summary=PublishSummary.from_json(summary) if summary else None)


@gateway
class ProfileStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self.docs = DocumentHash(redis, keys.profiles())
        self._cache: dict[tuple[str, int, Any], Profile] = {}

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
        """Create the profile or replace its draft; live scores are not touched. A profile created under a
        deleted one's id numbers its versions after the deleted one's (``first_version``)."""
        doc = self.get(draft["id"])
        if doc is None:
            used = int(self.redis.hget(self.keys.deleted_profiles(), draft["id"]) or 0)
            doc = {"id": draft["id"], "live_version": None, "building_version": None, "version_seq": used,
                   "created_at": int(time.time() * 1000)}
            if used:
                doc["first_version"] = used + 1
        doc["draft"] = draft
        self.save(doc)
        return doc

    def delete(self, doc: dict[str, Any]) -> None:
        """Delete the profile's document; its last version number is kept first, never to be used again."""
        if int(doc.get("version_seq") or 0):
            self.redis.hset(self.keys.deleted_profiles(), doc["id"], int(doc["version_seq"]))
        self.docs.delete(doc["id"])

    def record_deleted(self, last: dict[str, int]) -> list[str]:
        """Keep these last version numbers of profiles deleted without ``delete``'s record (by a release before it),
        where the id has no document and no number as high is kept; the ids recorded, sorted. Each is raised in one
        step (``keep_higher.lua``): a ``delete`` after the read here kept a number that may be higher."""
        kept = dict(zip(last, self.redis.hmget(self.keys.deleted_profiles(), list(last)))) if last else {}
        candidates = sorted(pid for pid, version in last.items()
                            if version > int(kept[pid] or 0) and self.get(pid) is None)
        keep = load_script(self.redis, "keep_higher.lua")
        return [pid for pid in candidates if keep(keys=[self.keys.deleted_profiles()], args=[pid, last[pid]])]

    @staticmethod
    def version_numbers(doc: dict[str, Any]) -> range:
        """The numbers of the profile's published versions, oldest first (after a deleted one's of its id)."""
        return range(int(doc.get("first_version") or 1), int(doc.get("version_seq") or 0) + 1)

    def version(self, profile_id: str, version: int) -> Profile:
        """The rules of one published version (read afresh); KeyError if there is none."""
        raw = self.redis.get(self.keys.profile_version(profile_id, version))
        if raw is None:
            raise KeyError(version_field(profile_id, version))
        return profile_from_dict(loads(raw))

    def store_version(self, profile_id: str, version: int, definition: dict[str, Any]) -> None:
        self.redis.set(self.keys.profile_version(profile_id, version), dumps(definition))

    def definition(self, profile_id: str, version: int) -> dict[str, Any]:
        """A published version's document as it was frozen, or NotFound (404)."""
        raw = self.redis.get(self.keys.profile_version(profile_id, version))
        if raw is None:
            raise NotFound(f"Profile {profile_id!r} has no version {version}.")
        return loads(raw)

    def _version_records(self, profile_id: str) -> DocumentHash:
        """A profile's version records: JSON documents by version number in one hash."""
        return DocumentHash(self.redis, self.keys.profile_versions(profile_id))

    def record_version(self, profile_id: str, record: VersionRecord) -> None:
        self._version_records(profile_id).put(str(record.version), record.to_json())

    def version_record(self, profile_id: str, version: int) -> VersionRecord | None:
        doc = self._version_records(profile_id).get(str(version))
        return VersionRecord.from_json(doc) if doc else None

    def version_records(self, doc: dict[str, Any]) -> list[VersionRecord]:
        """The profile's versions (``version_numbers``), newest first; one published before records were kept
        reads as by "unknown"."""
        docs = self._version_records(doc["id"]).all()
        records = {int(k): VersionRecord.from_json(v) for k, v in docs.items()}
        return [records.get(v) or VersionRecord(v, "unknown", 0) for v in reversed(self.version_numbers(doc))]

    def forget_versions(self, doc: dict[str, Any]) -> None:
        """Drop the definitions and records of the profile's versions (it is deleted)."""
        profile_id = doc["id"]
        pipe = self.redis.pipeline(transaction=False)
        for version in self.version_numbers(doc):
            pipe.delete(self.keys.profile_version(profile_id, version))
        pipe.delete(self.keys.profile_versions(profile_id))
        pipe.execute()

    def active(self, docs: dict[str, dict[str, Any]] | None = None) -> list[ActiveVersion]:
        """Every version that live interactions must be scored into (``docs``: ``all()``, if already read).

        The documents are read before the versions' rules: a profile deleted in between (its document first, then
        its versions: ``delete``, ``forget_versions``) is simply not active — its states are dropped by the
        deletion's own retirement job. A version missing while its profile's document still names it is an
        inconsistency: KeyError."""
        wanted = []
        for pid, doc in (self.all() if docs is None else docs).items():
            for field, live in (("live_version", True), ("building_version", False)):
                if doc.get(field):
                    wanted.append(((pid, doc[field], doc.get("created_at")), live))
        missing = [key for key, _live in wanted if key not in self._cache]
        if missing:
            raws = get_many(self.redis, [self.keys.profile_version(pid, v) for pid, v, _created in missing])
            if len(self._cache) + len(missing) > CACHED_MAX:
                self._cache.clear()
            gone = []
            for (pid, v, created), raw in zip(missing, raws):
                if raw is None:
                    gone.append((pid, v, created))
                else:
                    self._cache[(pid, v, created)] = profile_from_dict(loads(raw))
            if gone:
                self._check_deleted(gone)
        return [ActiveVersion(self._cache[key], key[1], live) for key, live in wanted if key in self._cache]

    def _check_deleted(self, gone: list[tuple[str, int, Any]]) -> None:
        """Versions whose rules were not found: each profile's document read again must no longer name it (the
        profile was deleted, or deleted and made again, since its document was read), else KeyError."""
        for pid, v, created in gone:
            doc = self.get(pid)
            if doc is not None and doc.get("created_at") == created and v in (doc.get("live_version"),
                                                                              doc.get("building_version")):
                raise KeyError(version_field(pid, v))

    def live(self, docs: dict[str, dict[str, Any]] | None = None) -> dict[str, ActiveVersion]:
        """Each published profile's live version (``docs``: ``all()``, if already read)."""
        return {a.profile.id: a for a in self.active(docs) if a.live}
