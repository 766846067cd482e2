"""The latest-activity index: per contact bucket, contact ids by the time (ms) of their latest interaction, which
only moves forward — "active in the last N days", its counts, and a filter's walk.

Each contact's exact time is the short field ``la`` of its own hash (``ACTIVITY_FIELD``); the bucket's index holds
the contact at that time's *granule* (``GRANULE_MS``, an hour: the time less its remainder), in a compact ordered
index (``ordered_index.py``; ``keys.activity_index``, ~35-40 B an entry where a big sorted set took ~123 B). Why
coarse: the compact index finds an entry only by its (score, contact), so moving an entry costs directory look-ups,
a removal and an add (~20 µs of Redis a contact, which made row 1 fall a fifth when every interaction paid it:
docs/performance.md, "Row 5a (2026-12-04)"); a contact's interactions come in sessions, so most move its time
within its hour and its entry not at all. On one Redis the drain moves field and entry inside ``apply_batch.lua``,
with the contact's states (the field is read with ``_rev``, the entry moved only when the granule changes);
other writers (a backfill, the migration, a cluster) go through ``activity_index.lua`` / ``_raise_stepwise``.

Readers stay exact: a range [low, high] takes whole every granule inside it (counted in the index), and checks
the entries of the at most two granules it cuts (the *boundary*) against their contacts' ``la``: a count or page
reads, per bucket, the contacts whose latest activity falls in the boundary's hour, a field each.

Releases before kept a plain sorted set per bucket at exact times (``keys.activity``): read beside the index as one
(a contact is in one of them: every write here moves it out), and emptied into it by ``app/indexes.py:activity_once``.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..keys import Keys
from .errors import gateway
from .ordered_index import OrderedIndex, _bound, library_script
from .redis_tools import Later, Reply, Sharding, load_script, on_cluster, run_scripts

#: The contact hash's field holding the time (ms) of the contact's latest interaction, exactly: its index entry is
#: at that time's granule. Neither document nor fold state: a copy an index keeps, left out of the document (a
#: backup's restore indexes activity again from the timelines).
ACTIVITY_FIELD = "la"
#: The index's granule, in ms: an entry's score is its contact's time less the remainder by it. An hour: a session's
#: interactions rarely leave it (so the entry rarely moves), and a reader checks at most two hours' entries a bucket.
GRANULE_MS = 3_600_000
#: The move of the sorted sets of releases before into the index (``activity_once``) in the migrations hash.
ACTIVITY_MIGRATION = "activity-compact-index"
#: Entries read per range call when an index is read whole (a filter's walk, a count's boundary).
READ_PAGE = 1000
#: The first pass of leaving ``la`` out where the states say it (``activity_derived_once``): every contact hash
#: without ``la`` whose states would derive a time got ``la`` empty ("no activity"). Once recorded, a hash without
#: ``la`` holds the time its states derive (``derived_activity``), and one-Redis writers leave ``la`` out there.
ACTIVITY_NONE_EXPLICIT = "activity-none-explicit"
#: The second pass: every ``la`` that its states derive was deleted.
ACTIVITY_DERIVED = "activity-derived"
#: A time's text as every reader takes it (``la``, a fold state's ``l`` time): at most ``TIME_CHARS`` characters, an
#: optional minus and ASCII digits (exact in Lua's numbers); anything else no writer writes, read as none everywhere
#: (``activity_time``; latest_activity.lua's ``la_time``). Before the review of 2026-12-06 (second session) Python's
#: ``int()`` raised on a corrupt ``la`` that Lua's ``tonumber`` read as a number ("5.0", "1e3", " 5", "0x10").
_TIME = re.compile(r"-?[0-9]+").fullmatch
TIME_CHARS = 15
#: What opens a fold state's newest entry in its text (``FoldState.to_json``: ``"l":[AT,KEY]`` for a timeline
#: record, ``[AT,0,KEY]`` for a timed entry; releases before wrote ``[AT,1,KEY]`` for a record).
_NEWEST = '"l":['


def activity_time(text: str | None) -> int | None:
    """A time's text (``_TIME``) as its ms, None when absent, empty (``la``: "no activity") or corrupt."""
    return int(text) if text and len(text) <= TIME_CHARS and _TIME(text) else None


def entry_at(state: str) -> int | None:
    """The time (ms) of the timeline record a fold state's JSON applied last, None when its last was a timed entry
    (an expiry, a decay step) or it applied nothing. Read from the text, without decoding the state, as
    ``la_entry_at`` reads it: the first ``"l":[``, the text up to the next comma its time (``activity_time``), and
    after that comma a record's key (``"``) or its 1."""
    start = state.find(_NEWEST)
    if start < 0:
        return None
    start += len(_NEWEST)
    comma = state.find(",", start)
    if comma < 0:
        return None
    after = state[comma + 1:comma + 3]
    if after[:1] != '"' and after != "1,":
        return None
    return activity_time(state[start:comma])


def derived_activity(states: Mapping[str, str]) -> int | None:
    """What a contact hash without ``la`` holds as its latest activity (once ``ACTIVITY_NONE_EXPLICIT`` is
    recorded): the newest ``entry_at`` of its fold states (``states``: field -> whole JSON, ``_rev`` ignored), None
    when none has one. ``latest_activity.lua`` derives it the same way in Redis."""
    best = None
    for f, value in states.items():
        if f != "_rev" and (at := entry_at(value)) is not None and (best is None or at > best):
            best = at
    return best


def derived_in_hash(stored: Mapping[str, str]) -> int | None:
    """``derived_activity`` of a contact hash as read whole (``HGETALL``): each state's first piece holds its
    ``l`` (storage/timelines.py: ``is_state_field``, ``PIECE_MARK``)."""
    best = None
    for f, value in stored.items():
        if "@" in f and "#" not in f and not f.startswith("dnd:") and (at := entry_at(value)) is not None \
                and (best is None or at > best):
            best = at
    return best


def kept_activity(states: Mapping[str, str], written: Mapping[str, str], drop: Sequence[str]) -> int | bool:
    """What the states a write keeps as read derive (``apply_batch.lua``'s [11], False for none): the states read
    (``states``) that the write neither replaces (``written``) nor drops (``drop``). The script derives the rest from
    the states it replaces, read with ``_rev``, and those it writes, so the worker parses no state it writes (most
    often a contact's one: nothing to parse here)."""
    best = None
    for f, value in states.items():
        if f != "_rev" and f not in written and f not in drop and (at := entry_at(value)) is not None \
                and (best is None or at > best):
            best = at
    return False if best is None else best


def granule_of(at: int, granule: int = GRANULE_MS) -> int:
    """The index score of a contact active last at ``at`` (ms)."""
    return at - at % granule


@gateway
class ActivityIndex:
    """Contacts by the time of their latest interaction, bucketed: written forward only, read by time range."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, ordered: OrderedIndex | None = None,
                 granule: int = GRANULE_MS, none_explicit: Callable[..., bool] | None = None):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.ordered = ordered or OrderedIndex(redis)
        self.granule = granule
        self.single_node = not on_cluster(redis)
        self._raise_script = library_script(redis, "activity_index.lua", "latest_activity.lua")
        self._drop_moved = load_script(redis, "drop_moved_expiries.lua")
        self._raise_field = load_script(redis, "activity_field.lua", "latest_activity.lua")
        self.hash_parts = list(keys.contact_parts())
        #: Whether ``ACTIVITY_NONE_EXPLICIT`` is recorded (``recheck``: asked of Redis now): a hash without ``la``
        #: holds what its states derive. Its owner gives one that remembers (``ScoreIndex``: ``StatesMoved``).
        self.none_explicit = none_explicit or self._none_explicit

    def _none_explicit(self, recheck: bool = False) -> bool:
        return bool(self.redis.hexists(self.keys.migrations(), ACTIVITY_NONE_EXPLICIT))

    def resolve(self, ids: Sequence[str], stored: Sequence[str | None]) -> list[int | None]:
        """Each contact's latest activity from its ``la`` as read (``stored``, in the order of ``ids``): a time, empty
        for none, and a missing field, once ``ACTIVITY_NONE_EXPLICIT`` is recorded (asked again before it was seen),
        what the contact's states derive (its hash read whole: one round trip for all of them)."""
        out = [activity_time(v) for v in stored]
        missing = [i for i, v in enumerate(stored) if v is None]
        if missing and (self.none_explicit() or self.none_explicit(recheck=True)):
            pipe = self.redis.pipeline(transaction=False)
            for i in missing:
                pipe.hgetall(self.keys.contact(ids[i]))
            for i, got in zip(missing, pipe.execute()):
                out[i] = derived_in_hash(got)
        return out

    # --- writes -------------------------------------------------------------------------------------------------
    def raise_calls(self, latest: Mapping[str, int]) -> list[tuple[list[str], list[Any]]]:
        """One ``activity_index.lua`` call per bucket with contacts in ``latest`` (contact -> a time it was active):
        each contact's time becomes the latest of it and what was held. One Redis only."""
        calls = []
        for bucket, ids in self.sharding.by_bucket(latest).items():
            args: list[Any] = [self.ordered.leaf_entries, self.granule, *self.hash_parts, self.keys.migrations(),
                               ACTIVITY_NONE_EXPLICIT]
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
        read the fields and old entries; write the index entries (each contact at its new time's granule, out of the
        one its field held when that is earlier); raise the fields, each atomically (``activity_field.lua``), which
        tells what each held just before and holds after; then take out the entries of a time the field has left
        behind. A run cut short anywhere is repaired by the same call again (the drain's replay of a batch gives the
        same times): the index is written before the field that says where its entry is, and the add is idempotent.

        Two raises of one contact may run at once (a backfill's, from the timelines, beside the drain's): each adds
        its entry before it raises the field, and each removes, after, its own entry if the field went further and
        the entry of the time it replaced if the field left that hour. The field only moves forward, so the entry at
        its final time's hour is removed by no one; every other was added before the raise that left its hour
        behind, which removes it after (2026-12-04 night: before, each wrote the field it had computed, last write
        winning, and kept its entry: the contact could be in the index twice, counted twice, the field moved back).
        And each removes the entry of the time it was asked when the field is at a later hour: a run cut short after
        its add, whose field another raise took past before it ran again, left that entry (2026-12-05)."""
        ids = list(latest)
        groups = list(self.sharding.by_bucket(ids).items())
        held, old = self._held(ids, groups)
        new = {cid: max(x for x in (latest[cid], held[cid], old.get(cid)) if x is not None) for cid in ids}
        g = self.granule
        calls = []
        for bucket, members in groups:
            removed = [(granule_of(at, g), cid) for cid in members
                       if (at := held[cid]) is not None and granule_of(at, g) != granule_of(new[cid], g)]
            added = [(granule_of(new[cid], g), cid) for cid in members
                     if held[cid] != new[cid] or latest[cid] == new[cid]]
            if removed:
                calls.append(self.ordered.remove_call(self.keys.activity_index(bucket), removed))
            if added:  # (never moving an entry of the contact back, in place, that a racing raise put later)
                calls.append(self.ordered.add_call(self.keys.activity_index(bucket), added, forward=True))
        self.ordered.run(calls)
        written = [cid for cid in ids if held[cid] != new[cid] or latest[cid] == new[cid]]  # an entry added
        raised = run_scripts(self.redis, self._raise_field, [
            ([self.keys.contact(cid)], [ACTIVITY_FIELD, new[cid]]) for cid in written])
        stale: dict[int, set[tuple[int, str]]] = {}
        moved = 0
        for cid, (before, after) in zip(written, raised):
            moved += before != after
            at = granule_of(int(after), g)
            for time in (new[cid], activity_time(before), latest[cid]):
                if time is not None and granule_of(time, g) != at:
                    stale.setdefault(self.sharding.bucket_of(cid), set()).add((granule_of(time, g), cid))
        # the entry of the time asked, where the field already holds a later hour: a run of this call cut short
        # after its index add left it when another raise took the field past meanwhile (the field never comes back
        # to an earlier hour, so no raise needs it)
        for cid in set(ids).difference(written):
            if granule_of(latest[cid], g) != granule_of(new[cid], g):
                stale.setdefault(self.sharding.bucket_of(cid), set()).add((granule_of(latest[cid], g), cid))
        if stale:  # another raise got further, or this one left the hour of the time it replaced
            self.ordered.run([self.ordered.remove_call(self.keys.activity_index(bucket), sorted(entries))
                              for bucket, entries in stale.items()])
        run_scripts(self.redis, self._drop_moved, [  # each only if it still holds the time read (drop_moved_expiries.lua)
            ([self.keys.activity(bucket)], [x for cid in members if cid in old for x in (old[cid], cid)])
            for bucket, members in groups if any(cid in old for cid in members)])
        return moved

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
        held, old = self._held(list(contact_ids), list(self.sharding.by_bucket(contact_ids).items()))
        return [max((t for t in (held[cid], old.get(cid)) if t is not None), default=None) for cid in contact_ids]

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
        held = dict(zip(ids, self.resolve(ids, replies[:len(ids)])))
        old = {cid: int(float(s)) for (_b, members), scores in zip(groups, replies[len(ids):])
               for cid, s in zip(members, scores) if s is not None}
        return held, old

    def split(self, low: int | None, high: int | None) -> tuple[float, float, list[int]]:
        """The granules of [low, high] (None: unbounded): the range of those wholly inside it (empty when its low is
        above its high) and the granules it cuts, whose entries are checked against their contacts' ``la``."""
        g = self.granule
        if low is not None and high is not None and low > high:
            return 1.0, 0.0, []
        inner_lo = float("-inf") if low is None else -(-low // g) * g  # the first granule starting at or after low
        inner_hi = float("inf") if high is None else granule_of(high + 1, g) - g  # the last one ending by high
        cut = []
        if low is not None and low % g:
            cut.append(granule_of(low, g))
        if high is not None and (high + 1) % g and granule_of(high, g) not in cut:
            cut.append(granule_of(high, g))
        return inner_lo, inner_hi, cut

    def _cut_members(self, bucket: int, low: int | None, high: int | None, cut: list[int]) -> list[str]:
        """The contacts of the granules ``cut`` whose ``la`` is in [low, high]."""
        found = [cid for g in cut for cid in self._index_members(bucket, g, g)]
        if not found:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for cid in found:
            pipe.hget(self.keys.contact(cid), ACTIVITY_FIELD)
        return [cid for cid, at in zip(found, self.resolve(found, pipe.execute()))
                if at is not None and (low is None or at >= low) and (high is None or at <= high)]

    def _index_members(self, bucket: int, lo: float, hi: float) -> list[str]:
        base = self.keys.activity_index(bucket)
        out: list[str] = []
        if lo > hi:
            return out
        while True:
            got = self.ordered.range(base, lo, hi, len(out), READ_PAGE)
            out += [cid for cid, _at in got]
            if len(got) < READ_PAGE:
                return out

    def members(self, bucket: int, low: int | None, high: int | None) -> list[str]:
        """The bucket's contacts with a time in [low, high] (None: unbounded), each once, in no set order."""
        lo = float("-inf") if low is None else low
        hi = float("inf") if high is None else high
        out = dict.fromkeys(self.redis.zrange(self.keys.activity(bucket), _bound(lo), _bound(hi), byscore=True))
        inner_lo, inner_hi, cut = self.split(low, high)
        out.update(dict.fromkeys(self._index_members(bucket, inner_lo, inner_hi)))
        out.update(dict.fromkeys(self._cut_members(bucket, low, high, cut)))
        return list(out)

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
        inner_lo, inner_hi, cut = self.split(low, high)
        inner = self.ordered.run([self.ordered.count_call(self.keys.activity_index(b), inner_lo, inner_hi)
                                  for b in buckets]) if inner_lo <= inner_hi else []
        return sum(before) + sum(inner) + sum(len(self._cut_members(b, low, high, cut)) for b in buckets if cut)
