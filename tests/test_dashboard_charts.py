"""The dashboard's chart geometry: pure functions, no app."""
from __future__ import annotations

from itertools import pairwise

import pytest

from app.dashboard.charts import CHART_HEIGHT, MARGIN_BOTTOM, MARGIN_LEFT, MARGIN_TOP, histogram, score_chart

HOUR = 3_600_000


def entry(at: int, change: int, score: int) -> dict:
    return {"at": at, "change": change, "score": score}


def test_no_ledger_is_an_empty_chart():
    assert score_chart([], 0)["empty"] is True


def test_the_line_starts_before_the_oldest_change_and_runs_to_now():
    ledger = [entry(2 * HOUR, -5, 5), entry(HOUR, 10, 10)]  # newest first, as stored
    chart = score_chart(ledger, 4 * HOUR)
    bottom = CHART_HEIGHT - MARGIN_BOTTOM
    assert chart["path"].startswith(f"M{MARGIN_LEFT}.0,{bottom}.0")  # score 0 at the first change's time
    assert [p["score"] for p in chart["points"]] == [10, 5]
    assert chart["points"][0]["y"] == MARGIN_TOP  # 10 is the top of the scale
    assert chart["summary"].startswith("Score from 0 to 5 over 2 changes")
    assert [t["label"] for t in chart["y_ticks"]] == ["0", "2", "4", "6", "8", "10"]


@pytest.mark.parametrize("top, ceiling", [pytest.param(1, 1, id="one"), pytest.param(37, 50, id="fifty"),
                                          pytest.param(120, 200, id="two-hundred"),
                                          pytest.param(5000, 5000, id="exact")])
def test_the_scale_ends_at_a_round_number(top, ceiling):
    chart = score_chart([entry(0, top, top)], HOUR)
    labels = [int(t["label"]) for t in chart["y_ticks"]]
    assert labels[-1] == ceiling
    assert len({b - a for a, b in pairwise(labels)}) <= 1  # evenly spaced whole numbers


def test_ties_in_time_keep_the_order_of_application():
    chart = score_chart([entry(HOUR, 10, 30), entry(HOUR, 10, 20), entry(HOUR, 10, 10)], 2 * HOUR)
    assert [p["score"] for p in chart["points"]] == [10, 20, 30]
    assert chart["summary"].startswith("Score from 0 to 30")


def test_x_never_runs_backwards():
    chart = score_chart([entry(HOUR, 1, 2), entry(2 * HOUR, 1, 1)], 3 * HOUR)
    xs = [p["x"] for p in chart["points"]]
    assert xs == sorted(xs)


def test_histogram_bars_scale_to_the_fullest_bucket():
    chart = histogram([{"min": 0, "max": 9, "count": 4}, {"min": 10, "max": 19, "count": 2},
                       {"min": 20, "max": 29, "count": 0}])
    heights = [b["height"] for b in chart["bars"]]
    assert heights[0] == 2 * heights[1] and heights[2] == 0
    assert [b["label"] for b in chart["bars"]] == ["0–9", "10–19", "20+"]  # the last bar is open above


def test_histogram_marks_where_each_band_starts():
    chart = histogram([{"min": 0, "max": 4, "count": 1, "band": "cold"}, {"min": 5, "max": 9, "count": 1, "band": "cold"},
                       {"min": 10, "max": 29, "count": 3, "band": "warm"}, {"min": 30, "max": 40, "count": 1,
                                                                             "band": "hot"}])
    assert [(g["name"], g["x"]) for g in chart["bands"]] == [("cold", 0.0), ("warm", 320.0), ("hot", 480.0)]
    assert [b["band_index"] for b in chart["bars"]] == [0, 0, 1, 2]


def test_an_empty_histogram_has_flat_bars():
    assert all(b["height"] == 0 for b in histogram([{"min": 0, "max": 0, "count": 0}])["bars"])
