"""The preview's histogram: buckets cut at band minimums, about ten bars (expected values worked out by hand)."""
from __future__ import annotations

from app.scoring.histogram import histogram
from app.scoring.profiles import Band


def bars(buckets):
    return [(b["min"], b["max"], b["count"], b["band"]) for b in buckets]


def test_each_band_gets_bars_in_proportion_to_its_range_and_none_straddles_two():
    # cold 0-19 (2 bars), warm 20-49 (3), hot 50-99 (5): steps of 10
    got = histogram([0, 5, 12, 20, 49, 50, 99], [Band("cold", 0), Band("warm", 20), Band("hot", 50)])
    assert bars(got) == [(0, 9, 2, "cold"), (10, 19, 1, "cold"), (20, 29, 1, "warm"), (30, 39, 0, "warm"),
                         (40, 49, 1, "warm"), (50, 59, 1, "hot"), (60, 69, 0, "hot"), (70, 79, 0, "hot"),
                         (80, 89, 0, "hot"), (90, 99, 1, "hot")]


def test_without_bands_equal_bars_from_0_to_the_top_score():
    # 0-30 is 31 points: 10 bars of ceil(31 / 10) = 4, so 8 bars, the last one short
    assert bars(histogram([3, 7, 30], [])) == [(0, 3, 1, None), (4, 7, 1, None), (8, 11, 0, None),
                                               (12, 15, 0, None), (16, 19, 0, None), (20, 23, 0, None),
                                               (24, 27, 0, None), (28, 30, 1, None)]


def test_no_scores_is_one_empty_bar():
    assert bars(histogram([], [])) == [(0, 0, 0, None)]


def test_scores_below_the_first_band_have_bars_of_no_band():
    # 0-9 no band (10 of 16 points: 6 bars of 2, 5 needed), warm 10-15 (4 bars of 2, 3 needed)
    assert bars(histogram([15], [Band("warm", 10)])) == [(0, 1, 0, None), (2, 3, 0, None), (4, 5, 0, None),
                                                         (6, 7, 0, None), (8, 9, 0, None), (10, 11, 0, "warm"),
                                                         (12, 13, 0, "warm"), (14, 15, 1, "warm")]


def test_a_band_above_every_score_still_gets_its_bar():
    assert bars(histogram([5], [Band("cold", 0), Band("hot", 50)]))[-1] == (50, 50, 0, "hot")


def test_each_band_gets_buckets_in_proportion_to_its_width():
    # cold 0–9 (10 wide) and warm 10–29 (20 wide) of 30: about 3 and 7 of the 10 bars
    assert bars(histogram([29], [Band("cold", 0), Band("warm", 10)])) == [
        (0, 3, 0, "cold"), (4, 7, 0, "cold"), (8, 9, 0, "cold"),
        (10, 12, 0, "warm"), (13, 15, 0, "warm"), (16, 18, 0, "warm"), (19, 21, 0, "warm"), (22, 24, 0, "warm"),
        (25, 27, 0, "warm"), (28, 29, 1, "warm")]


def test_a_narrow_band_gets_one_bucket_not_two():
    got = bars(histogram([0, 100], [Band("cold", 0), Band("hot", 95)]))
    assert got[-1] == (95, 100, 1, "hot") and got[-2] == (88, 94, 0, "cold")


def test_ten_scores_wide_make_ten_buckets_one_wide():
    assert bars(histogram([9], [])) == [(i, i, int(i == 9), None) for i in range(10)]
