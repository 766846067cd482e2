"""Finding contacts by score: filters over the per-profile score index (a sorted set).

Ordered by score, highest first, then contact id. The cursor is the offset into that
order; ``ne`` walks the two ranges on either side of the value; ``empty`` is the
complement of the index over the contact registry, read in pages.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import ValidationError
from .keys import Keys
from .scoring.conditions import NUMERIC_OPS, SCORE_OPS

#: Largest page a query returns.
MAX_LIMIT = 500


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


class ContactQuery:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def run(self, flt: ContactFilter, index_key: str | None, limit: int, cursor: int) -> dict[str, Any]:
        """A page of ``(contact id, score)`` and the total count."""
        limit = max(1, min(limit, MAX_LIMIT))
        if flt.profile is None or flt.op == "empty":
            return self._complement(flt, index_key, limit, cursor)
        if index_key is None:  # not published: every score is empty
            return {"items": [], "total": 0, "next_cursor": None}
        ranges = _ranges(flt.op, flt.value)
        if not flt.tag and not flt.without_tag:
            return self._ranged(index_key, ranges, limit, cursor)
        return self._scan_ranges(flt, index_key, ranges, limit, cursor)

    def _ranged(self, index: str, ranges: list[tuple[str, str]], limit: int, cursor: int) -> dict[str, Any]:
        pipe = self.redis.pipeline(transaction=False)
        for high, low in ranges:
            pipe.zcount(index, low, high)
        counts = pipe.execute()
        items: list[tuple[str, int | None]] = []
        offset = cursor
        for (high, low), count in zip(ranges, counts):
            if offset >= count:
                offset -= count
                continue
            rows = self.redis.zrange(index, high, low, byscore=True, desc=True, offset=offset,
                                     num=limit - len(items), withscores=True)
            items += [(cid, int(score)) for cid, score in rows]
            offset = 0
            if len(items) >= limit:
                break
        total = sum(counts)
        nxt = cursor + len(items)
        return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}

    def _tags_ok(self, flt: ContactFilter, ids: list[str]) -> list[bool]:
        ok = [True] * len(ids)
        if not ids:
            return ok
        if flt.tag:
            ok = [a and bool(b) for a, b in zip(ok, self.redis.smismember(self.keys.tag_members(flt.tag), ids))]
        if flt.without_tag:
            has = self.redis.smismember(self.keys.tag_members(flt.without_tag), ids)
            ok = [a and not b for a, b in zip(ok, has)]
        return ok

    def _scan_ranges(self, flt, index, ranges, limit, cursor) -> dict[str, Any]:
        """Tag filters: walk the score range in chunks, keeping contacts that pass the tag checks."""
        matched: list[tuple[str, int | None]] = []
        total = 0
        chunk = 1000
        for high, low in ranges:
            offset = 0
            while True:
                rows = self.redis.zrange(index, high, low, byscore=True, desc=True, offset=offset, num=chunk,
                                         withscores=True)
                if not rows:
                    break
                ids = [cid for cid, _ in rows]
                for (cid, score), ok in zip(rows, self._tags_ok(flt, ids)):
                    if ok:
                        if cursor <= total < cursor + limit:
                            matched.append((cid, int(score)))
                        total += 1
                offset += chunk
        nxt = cursor + len(matched)
        return {"items": matched, "total": total, "next_cursor": nxt if nxt < total else None}

    def _complement(self, flt: ContactFilter, index: str | None, limit: int, cursor: int) -> dict[str, Any]:
        """Contacts with no score in the profile (or every contact when no profile is given)."""
        matched: list[tuple[str, int | None]] = []
        total = 0
        start = 0
        chunk = 1000
        while True:
            ids = self.redis.zrange(self.keys.contacts(), start, start + chunk - 1, desc=True)
            if not ids:
                break
            keep = self._tags_ok(flt, ids)
            if index is not None:
                scores = self.redis.zmscore(index, ids)
                keep = [k and s is None for k, s in zip(keep, scores)]
            for cid, ok in zip(ids, keep):
                if ok:
                    if cursor <= total < cursor + limit:
                        matched.append((cid, None))
                    total += 1
            start += chunk
        nxt = cursor + len(matched)
        return {"items": matched, "total": total, "next_cursor": nxt if nxt < total else None}
