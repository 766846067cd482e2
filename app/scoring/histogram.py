"""The preview's score histogram, with bucket edges on the band minimums.

Each band's range is cut into a few equal buckets, so no bucket straddles two bands and the bars
can be read band by band ("how many would be warm?"). Without bands, equal buckets from 0 up.
"""
from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from .profiles import Band

#: About how many bars a histogram has (each band gets at least one).
TARGET_BUCKETS = 10


def _segments(top: int, bands: Sequence[Band]) -> list[tuple[int, int, str | None]]:
    """``(first, last, band)`` ranges from 0 to ``top``, split at each band's minimum."""
    mins = sorted({b.min for b in bands})
    names = {b.min: b.name for b in sorted(bands, key=lambda b: b.min)}
    starts = ([0] if not mins or mins[0] > 0 else []) + mins
    top = max(top, starts[-1])
    return [(start, (starts[i + 1] - 1) if i + 1 < len(starts) else top, names.get(start))
            for i, start in enumerate(starts)]


def histogram(values: Sequence[int], bands: Sequence[Band], target: int = TARGET_BUCKETS) -> list[dict[str, Any]]:
    """Buckets ``{"min", "max", "count", "band"}`` over the scores; the last one is open above."""
    top = max(values, default=0)
    segments = _segments(top, bands)
    span = sum(last - first + 1 for first, last, _ in segments)
    buckets: list[dict[str, Any]] = []
    for first, last, band in segments:
        width = last - first + 1
        parts = max(1, round(target * width / span))
        step = -(-width // parts)
        for start in range(first, last + 1, step):
            buckets.append({"min": start, "max": min(start + step - 1, last), "count": 0, "band": band})
    starts = [b["min"] for b in buckets]
    for value in values:
        buckets[max(bisect_right(starts, value) - 1, 0)]["count"] += 1
    return buckets
