"""The fold's semantics, pinned one behaviour per test (pure: no Redis).

Every expected value is written out by hand from the README's "Score semantics"; none is
computed by the code under test. Each test uses the smallest history that tells the rule
from its nearest wrong variant (named in the test's docstring where it is not obvious).
"""
from __future__ import annotations

import json
from types import MappingProxyType

import pytest

from app.scoring.conditions import where_matches
from app.scoring.fold import FoldState, advance, fold, is_late
from app.scoring.interactions import derive_properties
from app.scoring.profiles import parse_version_field, profile_from_dict, version_field
from app.scoring.records import TimelineRecord

T0 = 1_700_000_000_000
MIN = 60_000
HOUR = 3_600_000
DAY = 86_400_000


def rec(id_, type_="email.opened", at=T0, src="api", **props):
    return TimelineRecord(id_, src, type_, at, props)


def manual(id_, at, **op):
    return TimelineRecord(id_, "manual", "score.manual", at, {"profile": "p", "reason": "r", **op})


def profile(*rules, bands=()):
    return profile_from_dict({"id": "p", "name": "P", "rules": list(rules), "bands": list(bands)})


def score(rules, records, now=T0 + 1000 * DAY):
    return fold(profile(*rules), records, now=now)[0].score


def reasons(ledger):
    return [(e.reason, e.change, e.score) for e in ledger]


OPEN = {"id": "open", "on": "email.opened", "points": 5}
UNSUB = {"id": "unsub", "on": "email.unsubscribed", "points": -20}
DND_ALL = {"id": "dnd-all", "on": "contact.dnd_updated", "points": -7, "where": {"all_channels": True}}


# --- the running total and the floor -------------------------------------------------------------

def test_points_of_matching_rules_add_up():
    state, ledger = fold(profile(OPEN), [rec("a"), rec("b", at=T0 + 1)], now=T0 + DAY)
    assert state.score == 10
    assert reasons(ledger) == [("matched", 5, 5), ("matched", 5, 10)]


def test_every_matching_rule_of_one_interaction_scores_in_rule_order():
    also = {"id": "open-2", "on": "email.opened", "points": -8}
    state, ledger = fold(profile(OPEN, also), [rec("a")], now=T0)
    assert state.score == 0
    assert [(e.rule_id, e.reason, e.change) for e in ledger] == [("open", "matched", 5), ("open-2", "floor", -5)]


def test_a_type_no_rule_is_on_scores_nothing_and_leaves_no_ledger_entry():
    state, ledger = fold(profile(OPEN), [rec("f", "form.submitted")], now=T0)
    assert (state.score, ledger) == (0, [])


def test_the_score_never_drops_below_zero_and_the_ledger_says_floor():
    state, ledger = fold(profile(OPEN, UNSUB), [rec("a"), rec("u", "email.unsubscribed", T0 + 1)], now=T0 + DAY)
    assert state.score == 0
    assert (ledger[-1].points, ledger[-1].change, ledger[-1].reason) == (-20, -5, "floor")


def test_the_floor_applies_at_every_step_not_only_at_the_end():
    """-20 then +5 ends at 5 (a floor only at the end would give 0)."""
    records = [rec("u", "email.unsubscribed", T0), rec("a", at=T0 + 1)]
    assert score([OPEN, UNSUB], records) == 5


# --- order: occurred_at, then source, then id ----------------------------------------------------

def test_order_is_occurred_at_then_id_not_arrival():
    records = [rec("b", at=T0 + 2), rec("u", "email.unsubscribed", T0 + 1), rec("a", at=T0)]
    state, _ = fold(profile(OPEN, UNSUB), records, now=T0 + DAY)
    assert state.score == 5  # 5, floor to 0, +5


@pytest.mark.parametrize("arrival", [pytest.param(("a", "b"), id="sorted"), pytest.param(("b", "a"), id="reversed")])
def test_within_one_millisecond_entries_apply_by_id_whatever_the_arrival(arrival):
    """Same ms: "a" (+5) before "b" (-20) gives 0; arrival order b, a would give 5."""
    by_id = {"a": rec("a", at=T0), "b": rec("b", "email.unsubscribed", T0)}
    state, ledger = fold(profile(OPEN, UNSUB), [by_id[i] for i in arrival], now=T0)
    assert state.score == 0
    assert [e.interaction_id for e in ledger] == ["a", "b"]


def test_within_one_millisecond_the_source_sorts_before_the_id():
    """("a", "z") before ("b", "a"): +5 then -20 gives 0; ordering by id alone would give 5."""
    records = [rec("a", "email.unsubscribed", T0, src="b"), rec("z", at=T0, src="a")]
    state, ledger = fold(profile(OPEN, UNSUB), records, now=T0)
    assert state.score == 0
    assert [(e.source, e.interaction_id) for e in ledger] == [("a", "z"), ("b", "a")]


def test_the_tie_break_is_the_text_source_colon_id_in_code_point_order():
    """"api-v2:b" sorts before "api:a" ('-' < ':'): -20 first, then +5, ends at 5."""
    records = [rec("a", at=T0, src="api"), rec("b", "email.unsubscribed", T0, src="api-v2")]
    state, ledger = fold(profile(OPEN, UNSUB), records, now=T0)
    assert state.score == 5
    assert [e.source for e in ledger] == ["api-v2", "api"]


# --- where ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("where,props,scores", [
    pytest.param({"url": "https://x/pricing"}, {"url": "https://x/pricing"}, True, id="equals"),
    pytest.param({"url": "https://x/pricing"}, {"url": "https://x/blog"}, False, id="equals-miss"),
    pytest.param({"amount": {"eq": 1000}}, {"amount": 1000}, True, id="eq"),
    pytest.param({"amount": {"gte": 1000}}, {"amount": 1000}, True, id="gte-edge"),
    pytest.param({"amount": {"gt": 1000}}, {"amount": 1000}, False, id="gt-edge"),
    pytest.param({"amount": {"lte": 1000}}, {"amount": 1000}, True, id="lte-edge"),
    pytest.param({"amount": {"lt": 1000}}, {"amount": 1000}, False, id="lt-edge"),
    pytest.param({"amount": {"gt": 1000, "lt": 2000}}, {"amount": 2500}, False, id="range-miss"),
    pytest.param({"amount": {"gt": 1000, "lt": 2000}}, {"amount": 1500}, True, id="range-hit"),
    pytest.param({"amount": {"gt": 1000}}, {"amount": "lots"}, False, id="incomparable-type"),
    pytest.param({"plan": {"in": ["pro", "team"]}}, {"plan": "team"}, True, id="in"),
    pytest.param({"plan": {"in": ["pro", "team"]}}, {"plan": "free"}, False, id="in-miss"),
    pytest.param({"plan": {"in": ["pro"]}}, {}, False, id="in-missing"),
    pytest.param({"machine_open": {"ne": True}}, {"machine_open": True}, False, id="ne-machine-open"),
    pytest.param({"machine_open": {"ne": True}}, {}, True, id="ne-missing"),
    pytest.param({"machine_open": {"ne": True}}, {"machine_open": False}, True, id="ne-other"),
    pytest.param({"coupon": {"exists": True}}, {}, False, id="exists"),
    pytest.param({"coupon": {"exists": True}}, {"coupon": "X"}, True, id="exists-hit"),
    pytest.param({"coupon": {"exists": False}}, {}, True, id="not-exists"),
    pytest.param({"utm.source": "ads"}, {"utm": {"source": "ads"}}, True, id="nested"),
    pytest.param({"utm.source": "ads"}, {"utm": "ads"}, False, id="nested-not-an-object"),
    pytest.param({"utm.source": "ads"}, {"utm.source": "ads"}, True, id="dotted-key-itself"),
    pytest.param({"amount": {"gte": 10}}, {}, False, id="numeric-on-missing"),
])
def test_where_conditions(where, props, scores):
    rule = {"id": "r", "on": "email.opened", "points": 3, "where": where}
    state, _ = fold(profile(rule), [rec("a", **props)], now=T0)
    assert state.score == (3 if scores else 0)


@pytest.mark.parametrize("condition", [pytest.param({"gt": 1}, id="dict"),
                                       pytest.param(MappingProxyType({"gt": 1}), id="another-mapping")])
def test_an_operator_object_is_any_mapping(condition):
    """``where_matches`` tells an operator object by its class first (a dict) and then by ``Mapping``."""
    assert where_matches({"n": condition}, {"n": 2})
    assert not where_matches({"n": condition}, {"n": 1})


# --- DND: all_channels means every channel given is on --------------------------------------------

@pytest.mark.parametrize("channels,expected", [
    pytest.param({"email": True, "sms": True}, True, id="every-channel-on"),
    pytest.param({"email": True, "sms": False}, False, id="one-of-two-on"),
    pytest.param({"email": False, "sms": True}, False, id="other-one-of-two-on"),
    pytest.param({"email": False}, False, id="the-only-channel-off"),
    pytest.param({"email": True}, True, id="the-only-channel-on"),
    pytest.param({}, False, id="no-channel-given"),
])
def test_all_channels_is_true_only_when_every_channel_given_is_on(channels, expected):
    assert derive_properties("contact.dnd_updated", {"channels": channels})["all_channels"] is expected


def test_a_rule_on_all_channels_does_not_score_a_partial_dnd_change():
    records = [rec("d1", "contact.dnd_updated", T0, **derive_properties(
                   "contact.dnd_updated", {"channels": {"email": True, "sms": False}})),
               rec("d2", "contact.dnd_updated", T0 + 1, **derive_properties(
                   "contact.dnd_updated", {"channels": {"email": True, "sms": True}}))]
    state, ledger = fold(profile(OPEN, DND_ALL), [rec("o", at=T0 - 1), *records], now=T0 + 1)
    assert state.score == 0
    assert [(e.interaction_id, e.change) for e in ledger] == [("o", 5), ("d2", -5)]


def test_derived_properties_leave_other_types_untouched():
    assert derive_properties("email.opened", {"channels": {"email": True}}) == {"channels": {"email": True}}


# --- limits --------------------------------------------------------------------------------------

def test_count_limit_in_a_rolling_window_scores_zero_and_explains():
    rule = {**OPEN, "limit": {"count": 2, "window": "1d"}}
    records = [rec(str(i), at=T0 + i * MIN) for i in range(3)] + [rec("later", at=T0 + DAY + MIN)]
    state, ledger = fold(profile(rule), records, now=T0 + 2 * DAY)
    assert state.score == 15
    limited = [e for e in ledger if e.reason == "limit"]
    assert len(limited) == 1 and limited[0].change == 0 and limited[0].points == 5
    assert limited[0].note == "limit: 2 per 1d reached"


def test_a_rolling_window_is_half_open_a_match_exactly_one_window_later_scores():
    """Window (at - 1h, at]: the hit at T0 is outside the window of T0 + 1h."""
    rule = {**OPEN, "limit": {"count": 1, "window": "1h"}}
    state, ledger = fold(profile(rule), [rec("a", at=T0), rec("b", at=T0 + HOUR)], now=T0 + HOUR)
    assert state.score == 10
    assert [e.reason for e in ledger] == ["matched", "matched"]


def test_a_match_one_millisecond_inside_the_window_is_limited():
    rule = {**OPEN, "limit": {"count": 1, "window": "1h"}}
    state, ledger = fold(profile(rule), [rec("a", at=T0), rec("b", at=T0 + HOUR - 1)], now=T0 + HOUR)
    assert state.score == 5
    assert [e.reason for e in ledger] == ["matched", "limit"]


def test_a_count_without_a_window_is_ever():
    rule = {**OPEN, "limit": {"count": 1}}
    state, ledger = fold(profile(rule), [rec("a", at=T0), rec("b", at=T0 + 400 * DAY)], now=T0 + 400 * DAY)
    assert state.score == 5
    assert ledger[-1].note == "limit: 1 reached"


def test_limited_matches_do_not_count_towards_the_limit():
    """count 1 per 1h: T0 scores, T0+30m is limited, T0+1h scores (the limited one is not a hit)."""
    rule = {**OPEN, "limit": {"count": 1, "window": "1h"}}
    records = [rec("a", at=T0), rec("b", at=T0 + 30 * MIN), rec("c", at=T0 + HOUR)]
    state, ledger = fold(profile(rule), records, now=T0 + HOUR)
    assert [e.reason for e in ledger] == ["matched", "limit", "matched"]
    assert state.score == 10


def test_a_match_clipped_by_the_floor_still_counts_as_a_hit():
    """The limit counts scoring matches: one that the floor made 0 is still a match."""
    rule = {**UNSUB, "limit": {"count": 1}}
    records = [rec("u1", "email.unsubscribed", T0), rec("o", at=T0 + 1), rec("u2", "email.unsubscribed", T0 + 2)]
    state, ledger = fold(profile(OPEN, rule), records, now=T0 + 2)
    assert [e.reason for e in ledger] == ["floor", "matched", "limit"]
    assert state.score == 5


def test_once_per_property_value():
    rule = {"id": "click", "on": "email.clicked", "points": 4, "limit": {"once_per": "message_id"}}
    records = [rec("1", "email.clicked", T0, message_id="m1"), rec("2", "email.clicked", T0 + 1, message_id="m1"),
               rec("3", "email.clicked", T0 + 2, message_id="m2")]
    state, ledger = fold(profile(rule), records, now=T0)
    assert state.score == 8
    assert [e.reason for e in ledger] == ["matched", "limit", "matched"]
    assert ledger[1].note == "limit: once per message_id (m1)"


def test_once_per_does_not_limit_an_interaction_without_the_property():
    rule = {"id": "click", "on": "email.clicked", "points": 4, "limit": {"once_per": "message_id"}}
    records = [rec("1", "email.clicked", T0), rec("2", "email.clicked", T0 + 1)]
    assert score([rule], records) == 8


def test_count_and_once_per_together_both_hold():
    rule = {"id": "click", "on": "email.clicked", "points": 4, "limit": {"count": 2, "once_per": "message_id"}}
    records = [rec("1", "email.clicked", T0, message_id="m1"), rec("2", "email.clicked", T0 + 1, message_id="m1"),
               rec("3", "email.clicked", T0 + 2, message_id="m2"), rec("4", "email.clicked", T0 + 3, message_id="m3")]
    state, ledger = fold(profile(rule), records, now=T0)
    assert [e.reason for e in ledger] == ["matched", "limit", "matched", "limit"]
    assert state.score == 8


# --- expiry --------------------------------------------------------------------------------------

def test_expiry_reverses_the_change_at_occurred_at_plus_duration_inclusive():
    rule = {**OPEN, "points": 10, "expires_after": "1d"}
    records = [rec("a")]
    assert fold(profile(rule), records, now=T0 + DAY - 1)[0].score == 10
    state, ledger = fold(profile(rule), records, now=T0 + DAY)
    assert state.score == 0
    assert (ledger[-1].reason, ledger[-1].change, ledger[-1].at, ledger[-1].points) == ("expired", -10, T0 + DAY, -10)
    assert (ledger[-1].interaction_id, ledger[-1].rule_id, ledger[-1].source) == ("a", "open", "api")


def test_a_pending_expiry_stays_pending_until_now_reaches_it():
    rule = {**OPEN, "points": 10, "expires_after": "1d"}
    state, ledger = fold(profile(rule), [rec("a")], now=T0 + DAY - 1)
    assert state.next_expiry() == T0 + DAY
    assert [e.reason for e in ledger] == ["matched"]


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


def test_an_expiry_gives_back_only_what_the_floor_let_the_change_take():
    """Score 5, a -20 expiring rule takes 5 (clipped); its expiry gives back 5, not 20."""
    rule = {**UNSUB, "expires_after": "1h"}
    records = [rec("o"), rec("u", "email.unsubscribed", T0 + 1)]
    state, ledger = fold(profile(OPEN, rule), records, now=T0 + 1 + HOUR)
    assert state.score == 5
    assert reasons(ledger) == [("matched", 5, 5), ("floor", -5, 0), ("expired", 5, 5)]
    assert ledger[-1].points == 5


def test_a_change_the_floor_made_zero_leaves_nothing_to_expire():
    rule = {**UNSUB, "expires_after": "1h"}
    state, ledger = fold(profile(rule), [rec("u", "email.unsubscribed", T0)], now=T0 + DAY)
    assert (state.score, state.pending) == (0, [])
    assert reasons(ledger) == [("floor", 0, 0)]


def test_an_expiry_comes_before_the_entries_of_its_own_millisecond():
    """+10 expiring at T0+1h and a manual set to 50 at T0+1h: expiry first ends at 50 (after: 40)."""
    rule = {**OPEN, "points": 10, "expires_after": "1h"}
    state, ledger = fold(profile(rule), [rec("a", at=T0), manual("m", T0 + HOUR, set=50)], now=T0 + HOUR)
    assert state.score == 50
    assert [e.reason for e in ledger] == ["matched", "expired", "manual"]


def test_an_expiry_before_an_interaction_of_its_own_millisecond():
    """Score 0 after a manual set; at T0+1h the expiry (-10, clipped to 0) comes before +5: ends at 5."""
    expiring = {"id": "click", "on": "email.clicked", "points": 10, "expires_after": "1h"}
    records = [rec("c", "email.clicked", T0), manual("m", T0 + 1, set=0), rec("o", at=T0 + HOUR)]
    state, ledger = fold(profile(OPEN, expiring), records, now=T0 + HOUR)
    assert state.score == 5
    assert reasons(ledger) == [("matched", 10, 10), ("manual", -10, 0), ("expired", 0, 0), ("matched", 5, 5)]


def test_expiries_of_one_millisecond_apply_in_source_and_id_order():
    """Two expiries at the same ms: a's (+20 back) before b's (-10): 0 -> 20 -> 10. b first: 0 -> 0 -> 20."""
    down = {**UNSUB, "points": -20, "expires_after": "1h"}
    up = {**OPEN, "points": 10, "expires_after": "1h"}
    records = [manual("m0", T0 - 1, set=20), rec("a", "email.unsubscribed", T0), rec("b", at=T0),
               manual("m1", T0 + 1, set=0)]
    state, ledger = fold(profile(up, down), records, now=T0 + HOUR)
    assert [(e.interaction_id, e.reason, e.change) for e in ledger[-2:]] == [("a", "expired", 20), ("b", "expired", -10)]
    assert state.score == 10


# --- manual changes ------------------------------------------------------------------------------

def test_manual_set_and_add_are_entries_at_their_time():
    records = [rec("a"), manual("m1", T0 + 1, set=40), rec("b", at=T0 + 2), manual("m2", T0 + 3, add=-100)]
    state, ledger = fold(profile(OPEN), records, now=T0 + DAY)
    assert state.score == 0
    assert reasons(ledger) == [("matched", 5, 5), ("manual", 35, 40), ("matched", 5, 45), ("manual", -45, 0)]
    assert (ledger[1].note, ledger[1].points) == ("set to 40: r", 40)
    assert (ledger[3].note, ledger[3].points) == ("add -100: r", -100)


def test_a_manual_set_below_zero_sets_zero():
    state, ledger = fold(profile(OPEN), [rec("a"), manual("m", T0 + 1, set=-3)], now=T0 + 1)
    assert state.score == 0
    assert ledger[-1].change == -5


def test_a_manual_change_of_another_profile_is_ignored():
    other = TimelineRecord("m", "manual", "score.manual", T0 + 1, {"profile": "q", "set": 99})
    state, ledger = fold(profile(OPEN), [rec("a"), other], now=T0 + 1)
    assert state.score == 5 and len(ledger) == 1


def test_a_manual_change_without_a_reason_is_noted_plainly():
    bare = TimelineRecord("m", "manual", "score.manual", T0, {"profile": "p", "add": 3})
    _, ledger = fold(profile(OPEN), [bare], now=T0)
    assert ledger[0].note == "add 3"


# --- live, replay and recompute agree ------------------------------------------------------------

def test_advancing_in_steps_ends_where_the_history_says():
    """+5 per open every 20 min, at most 3 per rolling 2h, each expiring after 1h, fed in three steps.

    By hand: 0, 20, 40 score (15); 60, 80, 100 are limited while those expire (0 at 100);
    120 scores because the window (0, 120] no longer holds 0; 140, 160 score (15); 180, 200,
    220 are limited while 120, 140, 160 expire (0 at 220).
    """
    rule = {**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}}
    records = [rec(f"{i:02}", at=T0 + i * 20 * MIN) for i in range(12)]
    state, ledger, scores = FoldState(), [], []
    for start, stop in ((0, 5), (5, 10), (10, 12)):
        ledger += advance(state, profile(rule), records[start:stop], now=records[stop - 1].at)
        scores.append(state.score)
    assert scores == [5, 10, 0]
    assert [(round((e.at - T0) / MIN), e.reason) for e in ledger] == [
        (0, "matched"), (20, "matched"), (40, "matched"),
        (60, "expired"), (60, "limit"), (80, "expired"), (80, "limit"), (100, "expired"), (100, "limit"),
        (120, "matched"), (140, "matched"), (160, "matched"),
        (180, "expired"), (180, "limit"), (200, "expired"), (200, "limit"), (220, "expired"), (220, "limit")]


def test_advancing_with_nothing_new_applies_only_the_expiries_now_makes_due():
    rule = {**OPEN, "expires_after": "1h"}
    state, _ = fold(profile(rule), [rec("a", at=T0), rec("b", at=T0 + MIN)], now=T0 + MIN)
    assert reasons(advance(state, profile(rule), [], now=T0 + HOUR)) == [("expired", -5, 5)]
    assert reasons(advance(state, profile(rule), [], now=T0 + HOUR)) == []
    assert reasons(advance(state, profile(rule), [], now=T0 + HOUR + MIN)) == [("expired", -5, 0)]


def test_a_record_before_what_was_applied_is_late():
    state, _ = fold(profile(OPEN), [rec("b", at=T0 + 5)], now=T0)
    assert is_late(state, [rec("a", at=T0 + 1)])
    assert is_late(state, [rec("b", at=T0 + 5)])
    assert is_late(state, [rec("a", at=T0 + 5)])
    assert not is_late(state, [rec("c", at=T0 + 5)])
    assert not is_late(state, [rec("c", at=T0 + 6)])
    assert not is_late(FoldState(), [rec("a", at=0)])


def test_state_survives_a_json_round_trip():
    rule = {**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}}
    state, _ = fold(profile(rule), [rec("a")], now=T0)
    again = FoldState.from_json(state.to_json())
    assert again == state
    assert again.pending == [[T0 + HOUR, "api:a", "open", 5, "a", "email.opened"]]


def test_state_times_are_stored_relative_to_the_last_entry_and_rule_ids_as_their_index():
    """Hit times as ms before the last applied entry, expiry times as ms after it, each rule id as its index in the
    version's rules, an expiry's interaction key only when it is not the last applied entry's."""
    rules = [{**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}},
             {"id": "click", "on": "email.clicked", "points": 2, "expires_after": "30m"}]
    records = [rec("a"), rec("c1", "email.clicked", at=T0 + MIN), rec("b", at=T0 + 2 * MIN),
               rec("c2", "email.clicked", at=T0 + 20 * MIN)]
    p = profile(*rules)
    state, _ = fold(p, records, now=T0)
    stored = state.to_json(p)
    assert stored["l"] == [T0 + 20 * MIN, "api:c2"]  # an interaction's: without its middle element (1)
    assert stored["T"] == [[0, 20 * MIN, 18 * MIN]]  # rule 0 (open)
    # rule, ms after the last entry, change, type (email.clicked / email.opened), the key unless the last entry's
    assert stored["E"] == [[1, 11 * MIN, 2, 2, "api:c1"], [1, 30 * MIN, 2, 2], [0, 40 * MIN, 5, 1, "api:a"],
                           [0, 42 * MIN, 5, 1, "api:b"]]
    assert FoldState.from_json(stored, p) == state
    assert [p[0] for p in FoldState.from_json(stored, p).pending] == [T0 + 31 * MIN, T0 + 50 * MIN, T0 + HOUR,
                                                                      T0 + 62 * MIN]
    # the previous release's form: rule ids as keys, the key second in every entry, ``l`` whole
    previous = {"s": stored["s"], "l": [T0 + 20 * MIN, 1, "api:c2"], "H": {"open": [20 * MIN, 18 * MIN]},
                "P": {"click": [[11 * MIN, "api:c1", 2, 2], [30 * MIN, "api:c2", 2, 2]],
                      "open": [[40 * MIN, "api:a", 5, 1], [42 * MIN, "api:b", 5, 1]]}}
    assert FoldState.from_json(previous) == FoldState.from_json(previous, p) == state
    assert len(json.dumps(stored)) < len(json.dumps(previous))
    # without a profile the ids are written as they are
    assert state.to_json()["T"] == [["open", 20 * MIN, 18 * MIN]]
    assert FoldState.from_json(state.to_json()) == state


def test_a_state_in_the_previous_releases_form_reads_the_same():
    """Absolute hit times (``h``) and a sorted list of pending expiries with their rule ids (``p``)."""
    rules = [{**OPEN, "expires_after": "1h", "limit": {"count": 3, "window": "2h"}},
             {"id": "click", "on": "email.clicked", "points": 2, "expires_after": "30m"}]
    state, _ = fold(profile(*rules), [rec("a"), rec("c1", "email.clicked", at=T0 + MIN), rec("b", at=T0 + 2 * MIN)],
                    now=T0)
    previous = {"s": 12, "l": [T0 + 2 * MIN, 1, "api:b"], "h": {"open": [T0, T0 + 2 * MIN]},
                "p": [[T0 + 31 * MIN, "api:c1", "click", 2, 2], [T0 + HOUR, "api:a", "open", 5, 1],
                      [T0 + 62 * MIN, "api:b", "open", 5, 1]]}
    assert FoldState.from_json(previous) == state
    assert len(json.dumps(state.to_json())) < len(json.dumps(previous))


def test_bands_pick_the_highest_minimum_reached():
    p = profile(OPEN, bands=[{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "hot", "min": 50}])
    assert [p.band_for(s) for s in (None, 0, 19, 20, 50, 99)] == [None, "cold", "cold", "warm", "hot", "hot"]


def test_bands_need_not_be_listed_in_order():
    p = profile(OPEN, bands=[{"name": "hot", "min": 50}, {"name": "cold", "min": 0}, {"name": "warm", "min": 20}])
    assert [p.band_for(s) for s in (0, 20, 49, 50)] == ["cold", "warm", "warm", "hot"]


def test_below_every_band_there_is_no_band():
    p = profile(OPEN, bands=[{"name": "warm", "min": 20}])
    assert p.band_for(19) is None


# --- the stored forms ----------------------------------------------------------------------------

def test_a_profile_reads_back_as_it_was_written():
    written = {"id": "eng", "name": "Engagement", "description": "How engaged",
               "rules": [{"id": "click", "on": "email.clicked", "points": 4, "where": {"plan": "pro"},
                          "limit": {"count": 3, "window": "1d", "once_per": "message_id"}, "expires_after": "30d"},
                         {"id": "open", "on": "email.opened", "points": 1, "where": {}},
                         {"id": "ever", "on": "form.submitted", "points": 2, "where": {}, "limit": {"count": 1}}],
               "bands": [{"name": "cold", "min": 0}, {"name": "hot", "min": 50}]}
    assert profile_from_dict(written).to_dict() == written


def test_a_profile_without_name_rules_or_bands():
    p = profile_from_dict({"id": "eng"})
    assert (p.name, p.description, p.rules, p.bands) == ("eng", "", (), ())
    assert p.to_dict() == {"id": "eng", "name": "eng", "description": "", "rules": [], "bands": []}


def test_a_rule_keeps_its_durations_as_written_and_in_milliseconds():
    rule = profile(
        {"id": "r", "on": "email.opened", "points": 1, "limit": {"count": 2, "window": "2h"}, "expires_after": "1w"}
    ).rules[0]
    assert (rule.limit_window, rule.limit_window_ms, rule.expires_after, rule.expires_after_ms) == (
        "2h", 7_200_000, "1w", 604_800_000)


def test_rules_for_a_type_in_profile_order():
    p = profile(OPEN, UNSUB, {"id": "open-2", "on": "email.opened", "points": 1})
    assert [r.id for r in p.rules_for("email.opened")] == ["open", "open-2"]
    assert p.rules_for("form.submitted") == []


def test_a_ledger_entry_in_its_json_form():
    _, ledger = fold(profile(UNSUB), [rec("u", "email.unsubscribed", T0)], now=T0)
    assert ledger[0].to_json() == {"at": T0, "interaction_id": "u", "source": "api", "type": "email.unsubscribed",
                                   "rule_id": "unsub", "points": -20, "change": 0, "score": 0, "reason": "floor",
                                   "note": None}


def test_nothing_pending_means_no_next_expiry():
    assert FoldState().next_expiry() is None


def test_an_expired_entry_names_the_interaction_its_source_and_type():
    rule = {**OPEN, "expires_after": "1h"}
    _, ledger = fold(profile(rule), [rec("x:1", src="crm")], now=T0 + HOUR)
    assert ledger[-1].to_json() == {"at": T0 + HOUR, "interaction_id": "x:1", "source": "crm", "type": "email.opened",
                                    "rule_id": "open", "points": -5, "change": -5, "score": 0, "reason": "expired",
                                    "note": None}
    assert ledger[-1].capped_by == ()


def test_a_manual_entry_is_at_its_moment_under_its_id():
    _, ledger = fold(profile(OPEN), [manual("m-1", T0 + 7, add=4)], now=T0 + 7)
    assert ledger[0].to_json() == {"at": T0 + 7, "interaction_id": "m-1", "source": "manual", "type": "score.manual",
                                   "rule_id": None, "points": 4, "change": 4, "score": 4, "reason": "manual",
                                   "note": "add 4: r"}


def test_a_state_with_once_values_and_nothing_applied_reads_back():
    rule = {"id": "click", "on": "email.clicked", "points": 4, "limit": {"once_per": "message_id"}}
    state, _ = fold(profile(rule), [rec("1", "email.clicked", T0, message_id="m1")], now=T0)
    assert FoldState.from_json(state.to_json()).once == {"click": ["m1"]}
    assert FoldState.from_json(FoldState().to_json()) == FoldState()


def test_of_two_bands_with_the_same_minimum_the_one_listed_last_is_reached():
    p = profile(OPEN, bands=[{"name": "warm", "min": 20}, {"name": "keen", "min": 20}])
    assert p.band_for(25) == "keen"


def test_a_manual_change_names_who_made_it():
    _, ledger = fold(profile(OPEN), [manual("m1", T0, add=5, by="ana@agency.com")], now=T0)
    assert ledger[0].note == "add 5: r (changed by ana@agency.com)"
    _, ledger = fold(profile(OPEN), [manual("m1", T0, add=5)], now=T0)
    assert ledger[0].note == "add 5: r"


@pytest.mark.parametrize(("field", "parts"), [
    pytest.param("engagement@3", ("engagement", 3), id="plain"),
    pytest.param("a@b@12", ("a@b", 12), id="the-version-follows-the-last-at"),
])
def test_a_version_field_reads_back_as_profile_and_version(field, parts):
    assert parse_version_field(field) == parts
    assert version_field(*parts) == field


def test_a_copied_state_is_equal_and_shares_nothing_the_fold_changes():
    """``checkpoint`` and ``resume`` advance a copy of the state they are given and must leave it unchanged: every
    field is copied (a field added later and left out would come back as its default, and unequal), and no list or
    dict is shared between the two."""
    from dataclasses import fields

    state = FoldState(score=7, last=(5, 0, "k"), hits={"r": [1, 2]}, once={"r": ["m1"]},
                      pending=[[9, "s:i", "r", -2, "i", "email.clicked"]],
                      decaying=[[8, "s:i", "d", 4, "i", "email.opened", 1, 50, 1000]], groups={"g": 3},
                      attributes={"plan": {"tier": ["pro"]}}, matched=["fit"], outside=True)
    copied = state.copy()
    assert copied == state
    for f in fields(FoldState):
        value = getattr(state, f.name)
        if isinstance(value, (list, dict)):
            assert getattr(copied, f.name) is not value, f.name
    copied.hits["r"].append(3), copied.once["r"].append("m2"), copied.pending[0].append("x")
    copied.decaying[0][0] = 0
    copied.attributes["plan"]["tier"].append("team")
    assert state == FoldState(score=7, last=(5, 0, "k"), hits={"r": [1, 2]}, once={"r": ["m1"]},
                              pending=[[9, "s:i", "r", -2, "i", "email.clicked"]],
                              decaying=[[8, "s:i", "d", 4, "i", "email.opened", 1, 50, 1000]], groups={"g": 3},
                              attributes={"plan": {"tier": ["pro"]}}, matched=["fit"], outside=True)
