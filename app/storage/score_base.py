"""The score index at rest in a compact base: one bucket of a version's score index as three keys read as one.

The drain writes each changed score into the bucket's plain sorted set (``Keys.score_index``, the *hot* set, the only
key of releases before): a skiplist entry costs ~120-130 B. The ticker's *absorb* moves the hot entries, a page a
call, into a compact ordered index (``Keys.score_base``, ``ordered_index.py``: ~30 B an entry), in sorted runs. A
contact moved into hot while the base holds it at an older score leaves a *dead* base entry, recorded in a small
sorted set (``Keys.score_stale``); the absorb removes it. ``score_base.lua`` states the invariant; every reader reads
the three as one (counts: hot + base - stale in the range; ordered pages: hot merged with the live base; a member's
score: hot's, else the base's at the score its fold state holds, checked). An index of releases before is all hot:
read the same, no migration.

So a score change costs the drain one script call a bucket where a ``ZADD`` was (a ``ZADD`` a contact inside it, and a
second into stale once per absorb period for a contact the base held), and a contact at rest costs ~30 B a version
instead of ~130 B (docs/performance.md, "Row 5a (2026-12-05): the score index at rest in a compact base").
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ..keys import Keys
from .ordered_index import LEAF_ENTRIES, OrderedIndex, _bound, _text, library_script
from .redis_tools import load_script, run_scripts

#: Recorded (``app/indexes.py:score_base_once``) once no worker of a release before is alive: those write the hot set
#: without the stale entries (a contact at rest moved into hot by one would be in the index twice), so no absorb runs
#: before it. Nothing is moved: an index of releases before is all hot, which every reader reads.
SCORE_BASE_MIGRATION = "score-index-base"

#: Hot entries an absorb call moves into the base at most (one atomic call: ~1-3 ms of Redis a page at 60-80k
#: instructions an entry).
ABSORB_PAGE = 500


def _arg(score: int | None) -> Any:
    return "" if score is None else score


def pending_text(candidates: Mapping[str, Iterable[int]]) -> str:
    """The scores the index may still hold a contact at, per version field (``PROFILE@VERSION``), as a cluster's
    pending key keeps them after the ``_rev`` (``Keys.score_pending``): ``V=S,S;V=S``."""
    return ";".join(f"{v}={','.join(str(c) for c in sorted(set(cs)))}" for v, cs in sorted(candidates.items()) if cs)


def pending_candidates(value: str | bytes) -> dict[str, set[int]]:
    """``pending_text``'s candidates out of a pending key's value (``REV|TEXT``, or the text alone)."""
    text = _text(value).rpartition("|")[2]
    out: dict[str, set[int]] = {}
    for part in filter(None, text.split(";")):
        v, _, scores = part.partition("=")
        out[v] = {int(c) for c in scores.split(",") if c}
    return out


class ScoreBase:
    """The score index of ``(profile, version)`` buckets, each its hot set, stale set and compact base."""

    def __init__(self, redis: Any, keys: Keys, leaf_entries: int = LEAF_ENTRIES):
        self.redis = redis
        self.keys = keys
        self.leaf_entries = leaf_entries
        self.script = library_script(redis, "score_base.lua", "score_reads.lua")
        self.writer = load_script(redis, "score_write.lua", "score_entry.lua")
        self.unpend = load_script(redis, "score_pending.lua")

    def bucket_keys(self, profile_id: str, version: int, bucket: int) -> list[str]:
        """The bucket's hot set, stale set and base name, as ``score_base.lua`` takes them."""
        return self.keys_of(self.keys.score_index(profile_id, version, bucket))

    def keys_of(self, hot: str) -> list[str]:
        """``bucket_keys`` of the bucket whose hot set is ``hot``."""
        return [hot, self.keys.score_stale_of(hot), self.keys.score_base_of(hot)]

    # --- calls, for a caller that sends them itself ---------------------------------------------------------
    def count_range_call(self, hot: str, low: str, high: str) -> tuple[list[str], list[Any]]:
        """How many of the bucket whose hot set is ``hot`` are within ``low`` and ``high`` (texts as ``ZCOUNT``
        takes them: ``-inf``, ``(5``)."""
        return self.keys_of(hot), ["count", low, high]

    def rev_range_text_call(self, hot: str, high: str, low: str, offset: int = 0,
                            count: int = -1) -> tuple[list[str], list[Any]]:
        """``rev_range_call`` of the bucket whose hot set is ``hot``, the range as ``ZRANGE ... BYSCORE`` takes it."""
        return self.keys_of(hot), ["revrange", high, low, offset, count]

    def write_call(self, profile_id: str, version: int, bucket: int, ids: Iterable[str],
                   new: Mapping[str, int | None], held: Mapping[str, int | None]) -> tuple[list[str], list[Any]]:
        """Each contact's score moved from ``held`` (what its fold state held, which the index holds) to ``new``:
        a call of ``writer`` (``score_write.lua``)."""
        args: list[Any] = []
        for cid in ids:
            args += (cid, _arg(new[cid]), _arg(held.get(cid)))
        return self.bucket_keys(profile_id, version, bucket)[:2], args

    def repair_call(self, profile_id: str, version: int, bucket: int, ids: Iterable[str],
                    new: Mapping[str, int | None],
                    candidates: Mapping[str, Iterable[int]]) -> tuple[list[str], list[Any]]:
        """Each contact's score set to ``new`` where its last index write may not have been made (a cluster's
        replay): its live base entry at one of its ``candidates`` (the scores its pending key and fold state say
        the index may hold) made dead first (``score_base.lua repair``)."""
        args: list[Any] = ["repair"]
        for cid in ids:
            score = new[cid]
            cands = sorted(set(candidates.get(cid, ())) | ({score} if score is not None else set()))
            args += (cid, _arg(score), len(cands), *cands)
        return self.bucket_keys(profile_id, version, bucket), args

    def absorb_call(self, profile_id: str, version: int, bucket: int,
                    page: int = ABSORB_PAGE) -> tuple[list[str], list[Any]]:
        return self.bucket_keys(profile_id, version, bucket), ["absorb", self.leaf_entries, page]

    def count_call(self, profile_id: str, version: int, bucket: int, low: float = float("-inf"),
                   high: float = float("inf")) -> tuple[list[str], list[Any]]:
        return self.bucket_keys(profile_id, version, bucket), ["count", _bound(low), _bound(high)]

    def rev_range_call(self, profile_id: str, version: int, bucket: int, high: float = float("inf"),
                       low: float = float("-inf"), offset: int = 0, count: int = -1) -> tuple[list[str], list[Any]]:
        return self.bucket_keys(profile_id, version, bucket), ["revrange", _bound(high), _bound(low), offset, count]

    def scores_call(self, profile_id: str, version: int, bucket: int, ids: Sequence[str],
                    held: Mapping[str, int | None]) -> tuple[list[str], list[Any]]:
        """Each contact's score in the index; ``held``: the score its fold state holds (None: none or outside)."""
        args: list[Any] = ["scores"]
        for cid in ids:
            args += (cid, _arg(held.get(cid)))
        return self.bucket_keys(profile_id, version, bucket), args

    # --- at once --------------------------------------------------------------------------------------------
    def run(self, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        return run_scripts(self.redis, self.script, calls)

    def absorb(self, profile_id: str, version: int, bucket: int, page: int = ABSORB_PAGE) -> int:
        """One page of the bucket absorbed; how many entries it took (0: nothing was left)."""
        return int(self.run([self.absorb_call(profile_id, version, bucket, page)])[0])

    def absorb_all(self, profile_id: str, version: int, buckets: int, page: int = ABSORB_PAGE) -> int:
        """Every bucket absorbed to the end, a page a call; how many entries moved."""
        total = 0
        for bucket in range(buckets):
            while (n := self.absorb(profile_id, version, bucket, page)) > 0:
                total += n
        return total

    def count(self, profile_id: str, version: int, bucket: int, low: float = float("-inf"),
              high: float = float("inf")) -> int:
        return int(self.run([self.count_call(profile_id, version, bucket, low, high)])[0])

    def rev_range(self, profile_id: str, version: int, bucket: int, high: float = float("inf"),
                  low: float = float("-inf"), offset: int = 0, count: int = -1) -> list[tuple[str, int]]:
        return OrderedIndex.pairs(self.run([self.rev_range_call(profile_id, version, bucket, high, low,
                                                                offset, count)])[0])

    def walk(self, profile_id: str, version: int, bucket: int, high: float, low: float,
             chunk: int) -> list[tuple[str, int]]:
        """``rev_range`` of the whole range as a deep walk reads it (``score_reads.lua: sr_walker``), ``chunk``
        entries a step."""
        call = (self.bucket_keys(profile_id, version, bucket), ["walk", _bound(high), _bound(low), chunk])
        return OrderedIndex.pairs(self.run([call])[0])

    def scores(self, profile_id: str, version: int, bucket: int, ids: Sequence[str],
               held: Mapping[str, int | None]) -> list[int | None]:
        if not ids:
            return []
        reply = self.run([self.scores_call(profile_id, version, bucket, ids, held)])[0]
        return [None if s in (b"", "") else int(float(_text(s))) for s in reply]

    def entries(self, profile_id: str, version: int, bucket: int) -> dict[str, int]:
        """Every member of the bucket with its score."""
        return dict(self.rev_range(profile_id, version, bucket))

    def drop(self, profile_id: str, version: int, buckets: int) -> None:
        """Every key of the version's index, base leaves and count cells included: one call a bucket
        (``score_base.lua drop``), so an absorb running meanwhile leaves no key it made behind."""
        self.run([(self.bucket_keys(profile_id, version, bucket), ["drop"]) for bucket in range(buckets)])
