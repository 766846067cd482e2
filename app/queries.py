"""Finding contacts by score: filters over the per-profile score index (a sorted set).

Ordered by score, highest first, then contact id. Every index is split into buckets; a
page is the merge of the buckets' own first ``offset + limit`` entries, read in one round
trip, and the count is the sum of the buckets' counts. The cursor is the offset into that
order; ``ne`` walks the two ranges on either side of the value; tag filters walk the range;
``empty`` is the complement of the index over the contact registry, read in pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ValidationError
from .scoring.conditions import NUMERIC_OPS, SCORE_OPS
from .storage.errors import gateway

#: Largest page a query returns.
MAX_LIMIT = 500
#: Index entries read per round trip when a filter must walk a range or the registry.
SCAN_CHUNK = 1000


@dataclass(frozen=True)
class ContactFilter:
    profile: str | None = None
    op: str | None = None
    value: float | None = None
    tag: str | None = None
    without_tag: str | None = None

    def validate(self) -> None:
        errors: dict[str, str] = {}
        if self.op is not None and self.op not in SCORE_OPS:
            errors["op"] = f"one of {', '.join(SCORE_OPS)}"
        if self.op in NUMERIC_OPS and self.value is None:
            errors["value"] = f"required with op={self.op}"
        if self.op and not self.profile:
            errors["profile"] = "required with op"
        if errors:
            raise ValidationError("Invalid filter.", errors)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items() if v is not None}


def _ranges(op: str | None, value: float | None) -> list[tuple[str, str]]:
    """(max, min) score ranges, highest first, for ZRANGE ... BYSCORE REV."""
    if op is None or op == "not_empty":
        return [("+inf", "-inf")]
    v = repr(value)
    return {
        "eq": [(v, v)],
        "ne": [("+inf", f"({v}"), (f"({v}", "-inf")],
        "gt": [("+inf", f"({v}")],
        "gte": [("+inf", v)],
        "lt": [(f"({v}", "-inf")],
        "lte": [(v, "-inf")],
    }[op]


@gateway
class ContactQuery:
    """Runs a filter over the bucketed indexes and merges the buckets' answers."""

    def __init__(self, store: Any):
        self.store = store
        self.redis = store.redis
        self.keys = store.keys

    def run(self, flt: ContactFilter, version: int | None, limit: int, cursor: int) -> dict[str, Any]:
        """A page of ``(contact id, score)`` and the total count; ``version`` is the live one."""
        limit = max(1, min(limit, MAX_LIMIT))
        indexes = self.store.score_indexes(flt.profile, version) if flt.profile and version else None
        if flt.profile is None or flt.op == "empty":
            return self._complement(flt, indexes, limit, cursor)
        if indexes is None:  # not published: every score is empty
            return {"items": [], "total": 0, "next_cursor": None}
        ranges = _ranges(flt.op, flt.value)
        if not flt.tag and not flt.without_tag:
            return self._ranged(indexes, ranges, limit, cursor)
        return self._scan_ranges(flt, indexes, ranges, limit, cursor)

    @staticmethod
    def _page(matched: list[tuple[str, int | None]], total: int, limit: int, cursor: int) -> dict[str, Any]:
        items = matched[cursor:cursor + limit]
        nxt = cursor + len(items)
        return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}

    @staticmethod
    def _ordered(rows: list[tuple[str, float]]) -> list[tuple[str, int | None]]:
        """Highest score first, then contact id (descending), as ZRANGE ... REV orders one key."""
        return [(cid, int(score)) for cid, score in sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)]

    def _ranged(self, indexes: list[str], ranges: list[tuple[str, str]], limit: int, cursor: int) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        for high, low in ranges:
            for index in indexes:
                pipe.zcount(index, low, high)
        flat = pipe.execute()
        counts = [sum(flat[i * len(indexes):(i + 1) * len(indexes)]) for i in range(len(ranges))]
        items: list[tuple[str, int | None]] = []
        offset = cursor
        for (high, low), count in zip(ranges, counts):
            if offset >= count:
                offset -= count
                continue
            need = limit - len(items)
            pipe = self.redis.pipeline(transaction=False)
            for index in indexes:  # the page lies within the first offset+need of every bucket
                pipe.zrange(index, high, low, byscore=True, desc=True, offset=0, num=offset + need, withscores=True)
            merged = self._ordered([row for rows in pipe.execute() for row in rows])
            items += merged[offset:offset + need]
            offset = 0
            if len(items) >= limit:
                break
        total = sum(counts)
        nxt = cursor + len(items)
        return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}

    def _tags_ok(self, flt: ContactFilter, bucket: int, ids: list[str]) -> list[bool]:
        ok = [True] * len(ids)
        if not ids:
            return ok
        if flt.tag:
            has = self.redis.smismember(self.keys.tag_members(flt.tag, bucket), ids)
            ok = [a and bool(b) for a, b in zip(ok, has)]
        if flt.without_tag:
            has = self.redis.smismember(self.keys.tag_members(flt.without_tag, bucket), ids)
            ok = [a and not b for a, b in zip(ok, has)]
        return ok

    def _scan_ranges(self, flt, indexes, ranges, limit, cursor) -> dict[str, Any]:
        """Tag filters: walk each bucket's score range in chunks, keeping contacts that pass the tag checks."""
        matched: list[tuple[str, int | None]] = []
        for high, low in ranges:
            rows: list[tuple[str, float]] = []
            for bucket, index in enumerate(indexes):
                offset = 0
                while True:
                    chunk = self.redis.zrange(index, high, low, byscore=True, desc=True, offset=offset,
                                              num=SCAN_CHUNK, withscores=True)
                    if not chunk:
                        break
                    ok = self._tags_ok(flt, bucket, [cid for cid, _ in chunk])
                    rows += [row for row, keep in zip(chunk, ok) if keep]
                    offset += SCAN_CHUNK
            matched += self._ordered(rows)
        return self._page(matched, len(matched), limit, cursor)

    def _complement(self, flt: ContactFilter, indexes: list[str] | None, limit: int, cursor: int) -> dict[str, Any]:
        """Contacts with no score in the profile (or every contact when no profile is given)."""
        matched: list[tuple[str, int | None]] = []
        for bucket in range(self.store.buckets):
            start = 0
            while True:
                ids = self.redis.zrange(self.keys.contacts(bucket), start, start + SCAN_CHUNK - 1, desc=True)
                if not ids:
                    break
                keep = self._tags_ok(flt, bucket, ids)
                if indexes is not None:
                    scores = self.redis.zmscore(indexes[bucket], ids)
                    keep = [k and s is None for k, s in zip(keep, scores)]
                matched += [(cid, None) for cid, ok in zip(ids, keep) if ok]
                start += SCAN_CHUNK
        return self._page(matched, len(matched), limit, cursor)
