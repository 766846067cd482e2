"""The fold's semantics, pinned one behaviour per test (pure: no Redis)."""
from __future__ import annotations

import pytest

from app.scoring.fold import FoldState, advance, fold, is_late
from app.scoring.profiles import profile_from_dict

T0 = 1_700_000_000_000
MIN = 60_000
DAY = 86_400_000


def rec(id_, type_="email.opened", at=T0, **props):
    return {"id": id_, "src": "api", "t": type_, "at": at, "p": props}


def manual(id_, at, **op):
    return {"id": id_, "src": "manual", "t": "score.manual", "at": at, "p": {"profile": "p", "reason": "r", **op}}


def profile(*rules, bands=()):
    return profile_from_dict({"id": "p", "name": "P", "rules": list(rules), "bands": list(bands)})


OPEN = {"id": "open", "on": "email.opened", "points": 5}
UNSUB = {"id": "unsub", "on": "email.unsubscribed", "points": -20}


def test_points_of_matching_rules_add_up():
    state, ledger = fold(profile(OPEN), [rec("a"), rec("b", at=T0 + 1)], now=T0 + DAY)
    assert state.score == 10
    assert [e.reason for e in ledger] == ["matched", "matched"]


def test_the_score_never_drops_below_zero_and_the_ledger_says_floor():
    state, ledger = fold(profile(OPEN, UNSUB), [rec("a"), rec("u", "email.unsubscribed", T0 + 1)], now=T0 + DAY)
    assert state.score == 0
    assert (ledger[-1].points, ledger[-1].change, ledger[-1].reason) == (-20, -5, "floor")


def test_order_is_occurred_at_then_id_not_arrival():
    records = [rec("b", at=T0 + 2), rec("u", "email.unsubscribed", T0 + 1), rec("a", at=T0)]
    state, _ = fold(profile(OPEN, UNSUB), records, now=T0 + DAY)
    assert state.score == 5  # 5, floor to 0, +5


@pytest.mark.parametrize("where,props,scores", [
    pytest.param({"url": "https://x/pricing"}, {"url": "https://x/pricing"}, True, id="equals"),
    pytest.param({"url": "https://x/pricing"}, {"url": "https://x/blog"}, False, id="equals-miss"),
    pytest.param({"amount": {"gte": 1000}}, {"amount": 1500}, True, id="gte"),
    pytest.param({"amount": {"gt": 1000, "lt": 2000}}, {"amount": 2500}, False, id="range-miss"),
    pytest.param({"plan": {"in": ["pro", "team"]}}, {"plan": "team"}, True, id="in"),
    pytest.param({"machine_open": {"ne": True}}, {"machine_open": True}, False, id="ne-machine-open"),
    pytest.param({"machine_open": {"ne": True}}, {}, True, id="ne-missing"),
    pytest.param({"coupon": {"exists": True}}, {}, False, id="exists"),
    pytest.param({"utm.source": "ads"}, {"utm": {"source": "ads"}}, True, id="nested"),
])
def test_where_conditions(where, props, scores):
    rule = {"id": "r", "on": "email.opened", "points": 3, "where": where}
    state, _ = fold(profile(rule), [rec("a", **props)], now=T0)
    assert state.score == (3 if scores else 0)


def test_count_limit_in_a_rolling_window_scores_zero_and_explains():
    rule = {**OPEN, "limit": {"count": 2, "window": "1d"}}
    records = [rec(str(i), at=T0 + i * MIN) for i in range(3)] + [rec("later", at=T0 + DAY + MIN)]
    state, ledger = fold(profile(rule), records, now=T0 + 2 * DAY)
    assert state.score == 15
    limited = [e for e in ledger if e.reason == "limit"]
    assert len(limited) == 1 and limited[0].change == 0 and "2 per 1d" in limited[0].note


def test_once_per_property_value():
    rule = {"id": "click", "on": "email.clicked", "points": 4, "limit": {"once_per": "message_id"}}
    records = [rec("1", "email.clicked", T0, message_id="m1"), rec("2", "email.clicked", T0 + 1, message_id="m1"),
               rec("3", "email.clicked", T0 + 2, message_id="m2")]
    state, ledger = fold(profile(rule), records, now=T0)
    assert state.score == 8
    assert [e.reason for e in ledger] == ["matched", "limit", "matched"]


def test_expiry_reverses_the_change_actually_made_at_its_time():
    rule = {**OPEN, "points": 10, "expires_after": "1d"}
    records = [rec("a")]
    assert fold(profile(rule), records, now=T0 + DAY - 1)[0].score == 10
    state, ledger = fold(profile(rule), records, now=T0 + DAY)
    assert state.score == 0
    assert (ledger[-1].reason, ledger[-1].change, ledger[-1].at) == ("expired", -10, T0 + DAY)


def test_expiry_goes_through_the_floor():
    rule = {**OPEN, "points": 10, "expires_after": "1d"}
    records = [rec("a"), manual("m", T0 + 1, set=3)]
    state, ledger = fold(profile(rule), records, now=T0 + 2 * DAY)
    assert state.score == 0 and ledger[-1].change == -3


def test_an_expired_negative_change_gives_back_what_it_took():
    rule = {**UNSUB, "points": -4, "expires_after": "1h"}
    records = [rec("o"), rec("u", "email.unsubscribed", T0 + 1)]
    state, _ = fold(profile(OPEN, rule), records, now=T0 + DAY)
    assert state.score == 5


def test_manual_set_and_add_are_entries_at_their_time():
    records = [rec("a"), manual("m1", T0 + 1, set=40), rec("b", at=T0 + 2), manual("m2", T0 + 3, add=-100)]
    state, ledger = fold(profile(OPEN), records, now=T0 + DAY)
    assert state.score == 0
    assert [e.reason for e in ledger] == ["matched", "manual", "matched", "manual"]
    assert ledger[1].note == "set to 40: r"


def test_incremental_advance_equals_the_whole_fold():
    rule = {**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}}
    records = [rec(str(i), at=T0 + i * 20 * MIN) for i in range(12)]
    state = FoldState()
    for i in range(0, 12, 5):
        advance(state, profile(rule), records[i:i + 5], now=records[min(i + 4, 11)]["at"])
    advance(state, profile(rule), [], now=T0 + DAY)
    assert state.score == fold(profile(rule), records, now=T0 + DAY)[0].score


def test_a_record_before_what_was_applied_is_late():
    state, _ = fold(profile(OPEN), [rec("b", at=T0 + 5)], now=T0)
    assert is_late(state, [rec("a", at=T0 + 1)])
    assert not is_late(state, [rec("c", at=T0 + 6)])


def test_state_survives_a_json_round_trip():
    rule = {**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}}
    state, _ = fold(profile(rule), [rec("a")], now=T0)
    again = FoldState.from_json(state.to_json())
    assert again == state


def test_bands_pick_the_highest_minimum_reached():
    p = profile(OPEN, bands=[{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "hot", "min": 50}])
    assert [p.band_for(s) for s in (None, 0, 19, 20, 50, 99)] == [None, "cold", "cold", "warm", "hot", "hot"]
