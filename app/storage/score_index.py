"""The score index: contacts by score per profile version, and by the time of their next due
expiry, each split into buckets (a contact always lands in the same bucket of each)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import Later, Sharding

@gateway
class ScoreIndex:
    """Contacts by score per profile version, and by the time of their next due expiry, both bucketed."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding

    @property
    def buckets(self) -> int:
        return self.sharding.buckets

    def update_indexes(self, scores: dict[tuple[str, int], dict[str, int | None]],
                       expiries: dict[str, int | None], activity: Mapping[str, int] | None = None,
                       dnd: Mapping[str, Mapping[str, bool]] | None = None) -> None:
        """Idempotent global index writes after contacts were written: scores, due expiries, the time
        of the latest interaction (which only moves forward, so a late arrival cannot move it back) and
        DND per channel (``dnd``: contact -> channel -> on, as just written to the contact document)."""
        pipe = self.redis.pipeline(transaction=False)
        for command in self._index_commands(scores, expiries, activity, dnd):
            pipe.execute_command(*command)
        pipe.execute()

    def update_indexes_later(self, later: Later, scores: dict[tuple[str, int], dict[str, int | None]],
                             expiries: dict[str, int | None], activity: Mapping[str, int] | None = None,
                             dnd: Mapping[str, Mapping[str, bool]] | None = None) -> Callable[[], Any]:
        """``update_indexes`` sent now on ``later`` (at once on a cluster); the function returned reads the
        replies, raising a failed write's error."""
        if not later.deferred:
            self.update_indexes(scores, expiries, activity, dnd)
            return lambda: None
        reply = later.send(self._index_commands(scores, expiries, activity, dnd))
        return reply.result

    def _index_commands(self, scores: dict[tuple[str, int], dict[str, int | None]],
                        expiries: dict[str, int | None], activity: Mapping[str, int] | None,
                        dnd: Mapping[str, Mapping[str, bool]] | None) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        for cid, channels in (dnd or {}).items():
            bucket = self.sharding.bucket_of(cid)
            for channel, on in channels.items():
                commands.append(("SADD" if on else "SREM", self.keys.dnd(channel, bucket), cid))
        for bucket, ids in self.sharding.by_bucket(activity or {}).items():
            commands.append(("ZADD", self.keys.activity(bucket), "GT",
                             *(x for cid in ids for x in (activity[cid], cid))))  # type: ignore[index]
        for (profile_id, version), members in scores.items():
            for bucket, ids in self.sharding.by_bucket(members).items():
                key = self.keys.score_index(profile_id, version, bucket)
                present = [x for cid in ids if members[cid] is not None for x in (members[cid], cid)]
                absent = [cid for cid in ids if members[cid] is None]
                if present:
                    commands.append(("ZADD", key, *present))
                if absent:
                    commands.append(("ZREM", key, *absent))
        for bucket, ids in self.sharding.by_bucket(expiries).items():
            due = [x for cid in ids if expiries[cid] is not None for x in (expiries[cid], cid)]
            gone = [cid for cid in ids if expiries[cid] is None]
            if due:
                commands.append(("ZADD", self.keys.expiries(bucket), *due))
            if gone:
                commands.append(("ZREM", self.keys.expiries(bucket), *gone))
        return commands

    def last_activity(self, contact_ids: Sequence[str]) -> list[int | None]:
        """The latest interaction time of each contact (ms), from the activity index."""
        found: dict[str, int | None] = {}
        groups = list(self.sharding.by_bucket(contact_ids).items())
        pipe = self.redis.pipeline(transaction=False)
        for bucket, ids in groups:
            pipe.zmscore(self.keys.activity(bucket), ids)
        for (_bucket, ids), times in zip(groups, pipe.execute()):
            found.update((cid, int(t) if t is not None else None) for cid, t in zip(ids, times))
        return [found[cid] for cid in contact_ids]

    def due_expiries(self, now_ms: int, count: int = 1000) -> list[str]:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.sharding.buckets):
            pipe.zrangebyscore(self.keys.expiries(bucket), "-inf", now_ms, start=0, num=count)
        return [cid for ids in pipe.execute() for cid in ids]

    def forget_expiry(self, contact_id: str) -> None:
        self.redis.zrem(self.keys.expiries(self.sharding.bucket_of(contact_id)), contact_id)

    def score_indexes(self, profile_id: str, version: int) -> list[str]:
        return [self.keys.score_index(profile_id, version, b) for b in range(self.sharding.buckets)]

    def scores_of(self, profile_id: str, version: int) -> dict[str, int]:
        """Every contact's score in one version (for a publish that fires triggers)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.score_indexes(profile_id, version):
            pipe.zrange(key, 0, -1, withscores=True)
        return {cid: int(score) for pairs in pipe.execute() for cid, score in pairs}

    def count(self, profile_id: str, version: int) -> int:
        """How many contacts have a score in one version."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.score_indexes(profile_id, version):
            pipe.zcard(key)
        return sum(pipe.execute())

    def drop_score_index(self, profile_id: str, version: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in self.score_indexes(profile_id, version):
            pipe.delete(key)
        pipe.execute()
