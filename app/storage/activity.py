"""The latest-activity index: per contact bucket, contact ids by the time (ms) of their latest interaction, which
only moves forward — "active in the last N days", its counts, and a filter's walk.

A compact ordered index per bucket (``ordered_index.py``; ``keys.activity_index``, ~35-40 B an entry where a big
sorted set took ~123 B), which finds an entry only by its (time, contact). So each contact's time is kept in its
own hash too, as the short field ``la`` (``ACTIVITY_FIELD``; ~16 B in the hash's listpack): the writer reads it to
remove the entry it replaces, and readers that know the contact (a filter's check of a contact, a walk's facts)
read it there rather than from the index. Why the field and not the fold states the drain already reads: the
latest activity is no fold state (no profile version holds it, and manual scores and attribute records do not
count), and the field lets one script read and move both atomically on one Redis (``activity_index.lua``).

Releases before kept a plain sorted set per bucket (``keys.activity``): read beside the index as one (a contact is
in one of them: a write here moves it), and emptied into it by ``app/indexes.py:activity_once``.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..keys import Keys
from .errors import gateway
from .ordered_index import OrderedIndex, _bound, library_script
from .redis_tools import Later, Reply, Sharding, load_script, on_cluster, run_scripts
from .timelines import ACTIVITY_FIELD

#: Entries read per range call when an index is read whole (a filter's walk, a cluster's count).
READ_PAGE = 1000


@gateway
class ActivityIndex:
    """Contacts by the time of their latest interaction, bucketed: written forward only, read by time range."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, ordered: OrderedIndex | None = None):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.ordered = ordered or OrderedIndex(redis)
        self.single_node = not on_cluster(redis)
        self._raise_script = library_script(redis, "activity_index.lua")
        self._drop_moved = load_script(redis, "drop_moved_expiries.lua")
        head, _, tail = keys.contact("\0").partition("\0")
        self.hash_parts = [head, tail]

    # --- writes -------------------------------------------------------------------------------------------------
    def raise_calls(self, latest: Mapping[str, int]) -> list[tuple[list[str], list[Any]]]:
        """One ``activity_index.lua`` call per bucket with contacts in ``latest`` (contact -> a time it was active):
        each contact's time becomes the latest of it and what was held. One Redis only."""
        calls = []
        for bucket, ids in self.sharding.by_bucket(latest).items():
            args: list[Any] = [self.ordered.leaf_entries, *self.hash_parts]
            for cid in ids:
                args += (latest[cid], cid)
            calls.append(([self.keys.activity_index(bucket), self.keys.activity(bucket)], args))
        return calls

    def raise_later(self, later: Later, latest: Mapping[str, int]) -> Reply:
        """``raise_to`` sent now on ``later`` (on one Redis: one script call per bucket)."""
        return later.send_scripts(self._raise_script, self.raise_calls(latest))

    def raise_to(self, latest: Mapping[str, int]) -> int:
        """Each contact's latest activity becomes the latest of its time here and what was held (never back);
        returns how many moved."""
        if not latest:
            return 0
        if self.single_node:
            return sum(run_scripts(self.redis, self._raise_script, self.raise_calls(latest)))
        return self._raise_stepwise(latest)

    def _raise_stepwise(self, latest: Mapping[str, int]) -> int:
        """``raise_to`` on a cluster, where a contact's hash, its bucket's index and its old set are in three slots:
        read the fields and old entries; move the index entries (remove the field's time, add the new); then write
        the fields and empty the old entries. A run cut short anywhere is repaired by the same call again (the
        drain's replay of a batch gives the same times): the index is written before the field that says where its
        entry is, and the add is idempotent."""
        ids = list(latest)
        groups = list(self.sharding.by_bucket(ids).items())
        held, old = self._held(ids, groups)
        new = {cid: max(x for x in (latest[cid], held[cid], old.get(cid)) if x is not None) for cid in ids}
        calls = []
        for bucket, members in groups:
            removed = [(at, cid) for cid in members if (at := held[cid]) is not None and at != new[cid]]
            added = [(new[cid], cid) for cid in members if held[cid] != new[cid] or latest[cid] == new[cid]]
            if removed:
                calls.append(self.ordered.remove_call(self.keys.activity_index(bucket), removed))
            if added:
                calls.append(self.ordered.add_call(self.keys.activity_index(bucket), added))
        self.ordered.run(calls)
        pipe = self.redis.pipeline(transaction=False)
        moved = [cid for cid in ids if held[cid] != new[cid]]
        for cid in moved:
            pipe.hset(self.keys.contact(cid), ACTIVITY_FIELD, new[cid])
        if moved:
            pipe.execute()
        run_scripts(self.redis, self._drop_moved, [  # each only if it still holds the time read (drop_moved_expiries.lua)
            ([self.keys.activity(bucket)], [x for cid in members if cid in old for x in (old[cid], cid)])
            for bucket, members in groups if any(cid in old for cid in members)])
        return len(moved)

    def move_before(self, bucket: int, page: int) -> int:
        """Up to ``page`` contacts of the bucket's sorted set of releases before moved into the index (each with the
        later of its old time and any it has here); returns how many were read (0: the set is empty)."""
        entries = self.redis.zrange(self.keys.activity(bucket), 0, page - 1, withscores=True)
        if not entries:
            return 0
        self.raise_to({cid: int(at) for cid, at in entries})
        return len(entries)

    # --- reads --------------------------------------------------------------------------------------------------
    def latest(self, contact_ids: Sequence[str]) -> list[int | None]:
        """Each contact's latest interaction time (ms; None: none), from its hash and its old set's entry."""
        ids = list(contact_ids)
        held, old = self._held(ids, list(self.sharding.by_bucket(ids).items()))
        return [max((t for t in (held[cid], old.get(cid)) if t is not None), default=None) for cid in ids]

    def _held(self, ids: list[str], groups: list[tuple[int, list[str]]]) -> tuple[dict[str, int | None],
                                                                                dict[str, int]]:
        """In one round trip: each contact's field (None: none) and, of those in them, its entry in the sorted sets
        of releases before (``groups``: the ids by bucket)."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in ids:
            pipe.hget(self.keys.contact(cid), ACTIVITY_FIELD)
        for bucket, members in groups:
            pipe.zmscore(self.keys.activity(bucket), members)
        replies = pipe.execute()
        held = {cid: int(v) if v is not None else None for cid, v in zip(ids, replies)}
        old = {cid: int(float(s)) for (_b, members), scores in zip(groups, replies[len(ids):])
               for cid, s in zip(members, scores) if s is not None}
        return held, old

    def members(self, bucket: int, low: int | None, high: int | None) -> list[str]:
        """The bucket's contacts with a time in [low, high] (None: unbounded), each once, in no set order."""
        lo = float("-inf") if low is None else low
        hi = float("inf") if high is None else high
        out = dict.fromkeys(self.redis.zrange(self.keys.activity(bucket), _bound(lo), _bound(hi), byscore=True))
        base = self.keys.activity_index(bucket)
        offset = 0
        while True:
            got = self.ordered.range(base, lo, hi, offset, READ_PAGE)
            out.update((cid, None) for cid, _at in got)
            if len(got) < READ_PAGE:
                return list(out)
            offset += len(got)

    def count(self, low: int | None, high: int | None) -> int:
        """How many contacts have a time in [low, high] (None: unbounded), over every bucket."""
        lo = float("-inf") if low is None else low
        hi = float("inf") if high is None else high
        buckets = range(self.sharding.buckets)
        pipe = self.redis.pipeline(transaction=False)
        for bucket in buckets:
            pipe.zcount(self.keys.activity(bucket), _bound(lo), _bound(hi))
        before = pipe.execute()
        if any(before) and not self.single_node:  # a cluster's move is in steps: a contact may be in both a while
            return sum(len(self.members(b, low, high)) for b in buckets)
        counted = self.ordered.run([self.ordered.count_call(self.keys.activity_index(b), lo, hi) for b in buckets])
        return sum(before) + sum(counted)
