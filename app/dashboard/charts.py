"""Geometry of the dashboard's SVG charts, drawn on the server: pure Python, no Flask or Redis.

The templates only place what these functions compute, so every label is escaped by Jinja.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

#: Score chart: drawing size in SVG user units, and the margins that hold the axis labels.
CHART_WIDTH, CHART_HEIGHT = 640, 220
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 12, 12, 28
#: Histogram: drawing size and the room under the bars for the range labels.
HIST_WIDTH, HIST_HEIGHT, HIST_LABELS = 640, 200, 34
HOUR_MS, DAY_MS = 3_600_000, 86_400_000


def _nice_ceiling(value: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at least ``value`` (at least 1)."""
    if value <= 1:
        return 1
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _tick_step(top: int) -> int:
    """A whole step giving 2 to 5 gaps up to ``top`` (a 1, 2 or 5 times a power of ten)."""
    for gaps in (5, 4, 2):
        if top % gaps == 0:
            return top // gaps
    return top


def _time_label(ms: int, span_ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    if span_ms <= HOUR_MS:
        return moment.strftime("%H:%M:%S")
    return moment.strftime("%H:%M" if span_ms <= 2 * DAY_MS else "%d %b")


def score_chart(ledger: Sequence[Mapping[str, Any]], now_ms: int) -> dict[str, Any]:
    """A step line of the score over time from ledger entries (newest first, as the store keeps them).

    The line starts at the score before the oldest entry, steps at each entry, and runs on to now.
    """
    entries = list(reversed(ledger))  # the store's order is the order of application (``at`` may tie)
    if not entries:
        return {"empty": True, "width": CHART_WIDTH, "height": CHART_HEIGHT}
    start_score = max(int(entries[0]["score"]) - int(entries[0]["change"]), 0)
    first = min(e["at"] for e in entries)
    last = max(now_ms, *(e["at"] for e in entries))
    span = max(last - first, 1)
    top = _nice_ceiling(max([start_score, *(int(e["score"]) for e in entries)]))
    plot_w = CHART_WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    plot_h = CHART_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def x(at: int) -> float:
        return round(MARGIN_LEFT + (at - first) / span * plot_w, 1)

    def y(score: int) -> float:
        return round(MARGIN_TOP + plot_h - score / top * plot_h, 1)

    path = [f"M{x(first)},{y(start_score)}"]
    points = []
    at = first
    for entry in entries:
        at = max(at, entry["at"])  # time never runs backwards on the chart
        path.append(f"H{x(at)}")
        path.append(f"V{y(int(entry['score']))}")
        points.append({"x": x(at), "y": y(int(entry["score"])), "score": int(entry["score"]),
                       "change": int(entry["change"]), "at": entry["at"]})
    path.append(f"H{x(last)}")
    step = _tick_step(top)
    y_ticks = [{"y": y(value), "label": str(value)} for value in range(0, top + 1, step)]
    x_ticks = [{"x": x(at), "label": _time_label(at, span), "anchor": anchor}
               for at, anchor in ((first, "start"), (first + span // 2, "middle"), (last, "end"))]
    final = int(entries[-1]["score"])
    summary = (f"Score from {start_score} to {final} over {len(entries)} change"
               f"{'s' if len(entries) != 1 else ''}, {_time_label(first, span)} to {_time_label(last, span)}.")
    return {"empty": False, "width": CHART_WIDTH, "height": CHART_HEIGHT, "path": " ".join(path),
            "points": points, "y_ticks": y_ticks, "x_ticks": x_ticks, "summary": summary,
            "plot": {"left": MARGIN_LEFT, "right": CHART_WIDTH - MARGIN_RIGHT, "top": MARGIN_TOP,
                     "bottom": MARGIN_TOP + plot_h}}


def histogram(buckets: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Bars of a preview's score distribution (``{"min", "max", "count", "band"}`` per bucket), with a
    dividing line and the band's name where each band starts; the last bar is open above (``30+``)."""
    count_max = max([b["count"] for b in buckets] or [0])
    plot_h = HIST_HEIGHT - HIST_LABELS
    slot = HIST_WIDTH / max(len(buckets), 1)
    bars, bands = [], []
    band_names: list[str | None] = []
    for i, bucket in enumerate(buckets):
        band = bucket.get("band")
        if band and (not band_names or band_names[-1] != band):
            bands.append({"x": round(i * slot, 1), "name": band})
        if not band_names or band_names[-1] != band:
            band_names.append(band)
        height = round(bucket["count"] / count_max * (plot_h - 16), 1) if count_max else 0.0
        last = i == len(buckets) - 1
        label = f"{bucket['min']}+" if last else (
            str(bucket["min"]) if bucket["min"] == bucket["max"] else f"{bucket['min']}–{bucket['max']}")
        bars.append({"x": round(i * slot + slot * 0.1, 1), "width": round(slot * 0.8, 1),
                     "y": round(plot_h - height, 1), "height": height, "count": bucket["count"],
                     "label": label, "label_x": round(i * slot + slot / 2, 1), "band": band,
                     "band_index": (len(band_names) - 1) % 4, "count_y": round(plot_h - height - 4, 1)})
    return {"width": HIST_WIDTH, "height": HIST_HEIGHT + 14, "baseline": plot_h, "bars": bars, "bands": bands}
