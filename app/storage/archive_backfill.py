"""Where the archive backfill stands (app/archive_backfill.py): its walk over the contact registry and its counts.

One hash per workspace (``Keys.archive_backfill``): the bucket being walked, the score and id of the last contact
visited in it, the counts so far, and ``finished_at`` once a walk reached the end. The walk resumes from there
after a crash or a stop; a page whose records reached the archive but whose position was not saved is read again,
which the archive ignores (idempotent by key).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from .errors import gateway
from .registry import ContactRegistry

#: The counts the walk keeps (hash fields beside the position): contacts visited, records appended, records the
#: archive held already, and copies left out because they lack properties (``archive_backfill.copy_to_archive``).
COUNTS = ("contacts", "records", "held", "short")


@dataclass(frozen=True)
class BackfillPosition:
    """The walk's place: ``bucket`` of the registry, and the ``score`` and ``contact_id`` of the last contact
    visited in it ('' at the bucket's start); the counts so far; ``finished_at`` (ms) once it reached the end."""

    bucket: int = 0
    score: str = ""
    contact_id: str = ""
    counts: dict[str, int] | None = None
    started_at: int | None = None
    finished_at: int | None = None

    @classmethod
    def from_hash(cls, stored: dict[str, str]) -> BackfillPosition:
        return cls(int(stored.get("bucket", 0)), stored.get("score", ""), stored.get("id", ""),
                   {name: int(stored.get(name, 0)) for name in COUNTS},
                   int(stored["started_at"]) if "started_at" in stored else None,
                   int(stored["finished_at"]) if "finished_at" in stored else None)


@gateway
class ArchiveBackfillStore:
    def __init__(self, redis: Any, keys: Keys, registry: ContactRegistry):
        self.redis = redis
        self.keys = keys
        self.registry = registry

    def position(self) -> BackfillPosition:
        """Where the walk stands (the start, with nothing counted, when it never ran)."""
        return BackfillPosition.from_hash(self.redis.hgetall(self.keys.archive_backfill()))

    def next_page(self, bucket: int, score: str, contact_id: str, size: int) -> list[tuple[str, str]]:
        """Up to ``size`` ``(contact id, score)`` of the bucket after the contact last visited
        (``ContactRegistry.after``)."""
        return self.registry.after(bucket, score, contact_id, size)

    def advance(self, bucket: int, score: str, contact_id: str, now: int, **counts: int) -> None:
        """Save the walk's new place and add to its counts, in one round trip (the counts are for people: a run
        killed between two of these commands only miscounts, and the place is written first)."""
        key = self.keys.archive_backfill()
        pipe = self.redis.pipeline(transaction=False)
        pipe.hsetnx(key, "started_at", now)
        pipe.hset(key, mapping={"bucket": bucket, "score": score, "id": contact_id})
        for name, n in counts.items():
            if n:
                pipe.hincrby(key, name, n)
        pipe.execute()

    def finish(self, now: int) -> None:
        self.redis.hset(self.keys.archive_backfill(), "finished_at", now)

    def restart(self) -> None:
        """Forget the walk: the next one starts again from the first contact."""
        self.redis.delete(self.keys.archive_backfill())

    def contacts_before(self, position: BackfillPosition, buckets: int) -> int:
        """How many contacts of the registry the walk has passed (for a progress bar that resumes)."""
        passed = sum(self.registry.bucket_sizes(range(min(position.bucket, buckets))))
        if position.bucket < buckets and position.contact_id:
            passed += self.registry.passed(position.bucket, position.score, position.contact_id)
        return passed
