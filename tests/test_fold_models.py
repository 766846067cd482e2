"""Scoring models beyond plain points, pinned one behaviour per test (pure: no Redis): decay, groups and caps."""
from __future__ import annotations

import pytest

from app.scoring.decay import next_step, standing
from app.scoring.fold import FoldState, advance, fold, is_late
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord

T0 = 1_700_000_000_000
DAY = 86_400_000
MONTH = 30 * DAY


def rec(id_, type_="email.opened", at=T0, **props):
    return TimelineRecord(id_, "api", type_, at, props)


def manual(id_, at, **op):
    return TimelineRecord(id_, "manual", "score.manual", at, {"profile": "p", "reason": "r", **op})


def profile(*rules, groups=(), max_score=None):
    extra = {"max_score": max_score} if max_score is not None else {}
    return profile_from_dict({"id": "p", "name": "P", "rules": list(rules), "groups": list(groups), **extra})


DEMO = {"id": "demo", "on": "form.submitted", "points": 10, "decay": {"percent": 50, "every": "30d"}}
UNSUB = {"id": "unsub", "on": "email.unsubscribed", "points": -15, "decay": {"percent": 50, "every": "30d"}}


# --- the arithmetic ----------------------------------------------------------------------

@pytest.mark.parametrize("change,percent,expected", [
    pytest.param(10, 50, [10, 5, 2, 1, 1, 0], id="halves-toward-zero-2.5-is-2"),
    pytest.param(7, 50, [7, 3, 2, 1, 0, 0], id="3.5-is-3"),
    pytest.param(1, 50, [1, 0, 0, 0, 0, 0], id="one-point-half-is-gone"),
    pytest.param(-15, 50, [-15, -7, -4, -2, -1, 0], id="negative-mirrors-positive"),
    pytest.param(10, 100, [10, 0, 0, 0, 0, 0], id="hundred-percent-is-one-step"),
    pytest.param(10, 25, [10, 7, 6, 4, 3, 2], id="compounds-on-the-exact-value-not-the-rounded-7.5-then-5.6"),
    pytest.param(1, 10, [1, 1, 1, 1, 1, 1], id="one-point-at-10-percent-stands-0.9-then-0.81-rounded-up-to-1"),
    pytest.param(-1, 10, [-1, -1, -1, -1, -1, -1], id="minus-one-at-10-percent-stays-minus-one"),
])
def test_what_stands_after_k_periods_is_rounded_to_nearest_halves_toward_zero(change, percent, expected):
    assert [standing(change, percent, k) for k in range(6)] == expected


def test_a_period_whose_rounding_changes_nothing_is_skipped():
    # 5 × 0.99^k stays 5 (rounded) until k = 11 (4.47)
    assert next_step(5, 1, 0) == 11
    assert next_step(10, 50, 3) == 5  # 1.25 → 1, 0.625 → 1, 0.3125 → 0
    assert next_step(10, 50, 5) is None


# --- decay in the fold -------------------------------------------------------------------

def test_points_shrink_by_the_percent_each_period_after_the_interaction():
    records = [rec("d", "form.submitted")]
    assert [fold(profile(DEMO), records, now=T0 + k * MONTH - 1)[0].score for k in range(1, 6)] == [10, 5, 2, 1, 1]
    assert [fold(profile(DEMO), records, now=T0 + k * MONTH)[0].score for k in range(1, 6)] == [5, 2, 1, 1, 0]


def test_the_ledger_shows_each_step_against_the_interaction_that_earned_the_points():
    _, ledger = fold(profile(DEMO), [rec("d", "form.submitted")], now=T0 + 10 * MONTH)
    steps = [e for e in ledger if e.reason == "decay"]
    assert [(e.at, e.interaction_id, e.rule_id, e.points, e.change, e.score) for e in steps] == [
        (T0 + MONTH, "d", "demo", -5, -5, 5),
        (T0 + 2 * MONTH, "d", "demo", -3, -3, 2),
        (T0 + 3 * MONTH, "d", "demo", -1, -1, 1),
        (T0 + 5 * MONTH, "d", "demo", -1, -1, 0),  # month 4 leaves 1 (0.625 rounds to 1): no step
    ]
    assert steps[0].note == "decay step 1 (50% a period): 10 → 5 points"
    assert steps[-1].note == "decay step 5 (50% a period): 1 → 0 points"


def test_each_interaction_decays_on_its_own_clock():
    records = [rec("a", "form.submitted"), rec("b", "form.submitted", T0 + 10 * DAY)]
    assert fold(profile(DEMO), records, now=T0 + MONTH)[0].score == 15
    assert fold(profile(DEMO), records, now=T0 + MONTH + 10 * DAY)[0].score == 10


def test_negative_points_decay_toward_zero_and_give_back_score():
    records = [rec("o", "form.submitted"), manual("m", T0 + 1, set=40), rec("u", "email.unsubscribed", T0 + 2)]
    assert fold(profile(DEMO, UNSUB), records, now=T0 + 2)[0].score == 25
    # a month on: the demo's 10 stand at 5 (-5), the unsubscribe's -15 at -7 (+8)
    assert fold(profile(DEMO, UNSUB), records, now=T0 + MONTH + 2)[0].score == 28


def test_decay_follows_the_change_actually_made_when_the_floor_clipped_it():
    records = [rec("o", "form.submitted"), rec("u", "email.unsubscribed", T0 + 1)]
    state, ledger = fold(profile(DEMO, UNSUB), records, now=T0 + MONTH + 1)
    # the unsubscribe took only 10 (the floor): its decay gives back 5, not 8; the demo's decay asks -5 of 5
    assert [(e.rule_id, e.reason, e.points, e.change) for e in ledger] == [
        ("demo", "matched", 10, 10), ("unsub", "floor", -15, -10),
        ("demo", "decay", -5, 0), ("unsub", "decay", 5, 5),
    ]
    assert state.score == 5


def test_a_decay_step_goes_through_the_floor():
    records = [rec("o", "form.submitted"), manual("m", T0 + 1, set=2)]
    state, ledger = fold(profile(DEMO), records, now=T0 + MONTH)
    assert state.score == 0
    assert (ledger[-1].reason, ledger[-1].points, ledger[-1].change) == ("decay", -5, -2)


def test_a_step_and_an_interaction_at_the_same_millisecond_step_first():
    records = [rec("o", "form.submitted"), manual("m", T0 + MONTH, set=7)]
    state, ledger = fold(profile(DEMO), records, now=T0 + MONTH)
    assert [e.reason for e in ledger] == ["matched", "decay", "manual"]
    assert state.score == 7


def test_an_interaction_before_an_applied_step_is_late_and_a_refold_places_it():
    state, _ = fold(profile(DEMO), [rec("o", "form.submitted")], now=T0 + MONTH + 5)
    assert state.score == 5
    late = rec("x", "form.submitted", T0 + MONTH - 1)
    assert is_late(state, [late])
    assert fold(profile(DEMO), [rec("o", "form.submitted"), late], now=T0 + MONTH + 5)[0].score == 15


def test_the_next_step_is_the_contacts_next_due_time_for_the_ticker():
    state, _ = fold(profile(DEMO), [rec("o", "form.submitted", T0 + 3)], now=T0 + 3)
    assert state.next_expiry() == T0 + 3 + MONTH
    advance(state, profile(DEMO), [], now=T0 + 3 * MONTH + 3)
    assert state.next_expiry() == T0 + 3 + 5 * MONTH  # month 4 changes nothing
    advance(state, profile(DEMO), [], now=T0 + 5 * MONTH + 3)
    assert state.next_expiry() is None and state.score == 0


def test_advancing_step_by_step_through_stored_state_equals_the_whole_fold():
    rules = (DEMO, UNSUB, {"id": "open", "on": "email.opened", "points": 3, "decay": {"percent": 20, "every": "7d"}})
    records = [rec(str(i), ("form.submitted", "email.opened", "email.unsubscribed")[i % 3], T0 + i * 9 * DAY)
               for i in range(12)]
    state = FoldState()
    for i in range(0, 12, 4):
        advance(state, profile(*rules), records[i:i + 4], now=records[min(i + 3, 11)].at + 2 * DAY)
        state = FoldState.from_json(state.to_json())
    advance(state, profile(*rules), [], now=T0 + 400 * DAY)
    assert state == fold(profile(*rules), records, now=T0 + 400 * DAY)[0]


def test_a_state_without_decay_stores_as_before():
    state, _ = fold(profile({"id": "open", "on": "email.opened", "points": 3}), [rec("a")], now=T0)
    assert not {"d", "D", "K"} & state.to_json().keys()


def test_decay_steps_are_stored_relative_to_the_last_entry_by_rule_and_read_in_the_previous_form():
    state, _ = fold(profile(DEMO), [rec("o", "form.submitted", T0 + 3)], now=T0 + 3)
    assert state.decaying == [[T0 + 3 + MONTH, "api:o", "demo", 10, "o", "form.submitted", 1, 50, MONTH]]
    stored = state.to_json(profile(DEMO))
    # rule 0, change, type (form.submitted), step, percent, every; no key: the last applied entry's
    assert stored["K"] == [[0, MONTH, 10, 10, 1, 50, MONTH]]
    assert FoldState.from_json(stored, profile(DEMO)) == state
    before = {**{k: v for k, v in stored.items() if k != "K"}, "D": {"demo": [[MONTH, "api:o", 10, 10, 1, 50, MONTH]]}}
    assert FoldState.from_json(before) == state
    previous = {**{k: v for k, v in stored.items() if k != "K"},
                "d": [[T0 + 3 + MONTH, "api:o", "demo", 10, 10, 1, 50, MONTH]]}
    assert FoldState.from_json(previous) == state


def test_the_rule_reads_back_as_written():
    assert profile(DEMO).to_dict()["rules"] == [{**DEMO, "where": {}}]


def test_the_worked_example_of_the_docs():
    """docs/scoring-models.md, "Decay", worked example: the table row by row."""
    records = [rec("f", "form.submitted"), manual("m", T0 + 1, set=40), rec("u", "email.unsubscribed", T0 + 2)]
    _, ledger = fold(profile(DEMO, UNSUB), records, now=T0 + 2 * MONTH + 2)
    assert [(e.rule_id, e.reason, e.points, e.change, e.score) for e in ledger] == [
        ("demo", "matched", 10, 10, 10), (None, "manual", 40, 30, 40), ("unsub", "matched", -15, -15, 25),
        ("demo", "decay", -5, -5, 20), ("unsub", "decay", 8, 8, 28),
        ("demo", "decay", -3, -3, 25), ("unsub", "decay", 3, 3, 28),
    ]


# --- groups and caps ---------------------------------------------------------------------

EMAIL = [{"id": "email", "max_points": 30}]
OPEN = {"id": "open", "on": "email.opened", "points": 12, "group": "email"}
CLICK = {"id": "click", "on": "email.clicked", "points": 8, "group": "email"}
PAID = {"id": "paid", "on": "payment.succeeded", "points": 50}


def test_a_group_gives_at_most_its_max_points_and_the_ledger_says_so():
    records = [rec("o1"), rec("c1", "email.clicked", T0 + 1), rec("o2", at=T0 + 2), rec("o3", at=T0 + 3)]
    state, ledger = fold(profile(OPEN, CLICK, groups=EMAIL), records, now=T0 + 3)
    assert state.score == 30
    assert [(e.rule_id, e.reason, e.points, e.change, e.note) for e in ledger] == [
        ("open", "matched", 12, 12, None), ("click", "matched", 8, 8, None),
        ("open", "capped", 12, 10, "capped by group email at 30"),
        ("open", "capped", 12, 0, "capped by group email at 30"),
    ]
    assert ledger[-1].capped_by == ("group:email",)


def test_rules_outside_the_group_are_not_capped_by_it():
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("o3", at=T0 + 2), rec("p", "payment.succeeded", T0 + 3)]
    assert fold(profile(OPEN, PAID, groups=EMAIL), records, now=T0 + 3)[0].score == 80


def test_max_score_caps_the_score_and_the_ledger_says_so():
    records = [rec("p1", "payment.succeeded"), rec("p2", "payment.succeeded", T0 + 1),
               rec("p3", "payment.succeeded", T0 + 2)]
    state, ledger = fold(profile(PAID, max_score=120), records, now=T0 + 2)
    assert state.score == 120
    assert [(e.reason, e.change, e.note) for e in ledger] == [
        ("matched", 50, None), ("matched", 50, None), ("capped", 20, "capped by max_score at 120")]


def test_both_caps_can_bite_at_once():
    records = [rec("p", "payment.succeeded"), rec("o1", at=T0 + 1), rec("o2", at=T0 + 2), rec("o3", at=T0 + 3)]
    _, ledger = fold(profile(OPEN, PAID, groups=EMAIL, max_score=78), records, now=T0 + 3)
    # 50 + 12 + 12 = 74; the group has room for 6, the score for 4
    assert (ledger[-1].change, ledger[-1].note) == (4, "capped by group email at 30; capped by max_score at 78")
    assert ledger[-1].capped_by == ("group:email", "max_score")


def test_caps_apply_in_time_order_so_an_expiry_makes_room_again():
    rule = {**OPEN, "expires_after": "1d"}
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("o3", at=T0 + 2), rec("o4", at=T0 + DAY + 1)]
    state, ledger = fold(profile(rule, groups=EMAIL), records, now=T0 + DAY + 1)
    # 12 + 12 + 6 (capped) = 30; a day later o1's and o2's 12 expire (before o4, same millisecond as o2's
    # expiry), then o4 gives 12
    assert [e.change for e in ledger] == [12, 12, 6, -12, -12, 12]
    assert state.score == 18 and state.groups == {"email": 18}


def test_a_capped_change_expires_as_applied():
    rule = {**OPEN, "expires_after": "1d"}
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("o3", at=T0 + 2)]
    state, ledger = fold(profile(rule, groups=EMAIL), records, now=T0 + DAY + 2)
    assert [e.change for e in ledger if e.reason == "expired"] == [-12, -12, -6]
    assert state.score == 0 and state.groups == {"email": 0}


def test_decay_of_a_grouped_change_frees_room_step_by_step():
    rule = {**OPEN, "points": 20, "decay": {"percent": 50, "every": "30d"}}
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("o3", at=T0 + MONTH + 1)]
    state, ledger = fold(profile(rule, groups=EMAIL), records, now=T0 + MONTH + 1)
    # 20, then 10 (capped); a month on: 20 → 10 (-10) and 10 → 5 (-5): room 15, then o3 gives 15 (capped)
    assert [(e.reason, e.change) for e in ledger] == [
        ("matched", 20), ("capped", 10), ("decay", -10), ("decay", -5), ("capped", 15)]
    assert state.score == 30


def test_an_expiry_the_floor_clipped_still_frees_the_groups_room():
    rule = {**OPEN, "points": 30, "expires_after": "1d"}
    records = [rec("o1"), manual("m", T0 + 1, set=0), rec("o2", at=T0 + DAY + 1)]
    state, ledger = fold(profile(rule, groups=EMAIL), records, now=T0 + DAY + 1)
    assert [(e.reason, e.change) for e in ledger] == [("matched", 30), ("manual", -30), ("expired", 0),
                                                       ("matched", 30)]
    assert state.score == 30


def test_a_negative_rule_in_a_group_lowers_its_total():
    unsub = {"id": "unsub", "on": "email.unsubscribed", "points": -20, "group": "email"}
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("u", "email.unsubscribed", T0 + 2), rec("o3", at=T0 + 3),
               rec("o4", at=T0 + 4)]
    state, ledger = fold(profile(OPEN, unsub, groups=EMAIL), records, now=T0 + 4)
    # 12 + 12 - 20 = 4 in the group: room for 26 more
    assert [e.change for e in ledger] == [12, 12, -20, 12, 12]
    assert state.groups == {"email": 28} and state.score == 28


def test_the_reversal_of_a_negative_change_is_capped_too():
    unsub = {"id": "unsub", "on": "email.unsubscribed", "points": -20, "group": "email", "expires_after": "1d"}
    records = [rec("u", "email.unsubscribed"), manual("m", T0 + 1, set=50), rec("o1", at=T0 + 2),
               rec("o2", at=T0 + 3), rec("o3", at=T0 + 4)]
    # the unsubscribe took nothing (floor), so its expiry gives nothing back
    state, ledger = fold(profile(OPEN, unsub, groups=EMAIL), records, now=T0 + DAY + 5)
    assert [(e.reason, e.change) for e in ledger] == [
        ("floor", 0), ("manual", 50), ("matched", 12), ("matched", 12), ("matched", 12)]
    assert state.groups == {"email": 16}


def test_a_manual_change_is_capped_by_max_score_but_not_by_groups():
    records = [manual("m1", T0, set=500), manual("m2", T0 + 1, add=-30), manual("m3", T0 + 2, add=100)]
    state, ledger = fold(profile(OPEN, groups=EMAIL, max_score=100), records, now=T0 + 2)
    assert [(e.change, e.score, e.note) for e in ledger] == [
        (100, 100, "set to 500: r; capped by max_score at 100"), (-30, 70, "add -30: r"),
        (30, 100, "add 100: r; capped by max_score at 100")]
    assert state.groups == {}


def test_group_totals_survive_a_json_round_trip_and_advance_equals_fold():
    rules = (OPEN, CLICK, {**PAID, "decay": {"percent": 30, "every": "7d"}})
    records = [rec(str(i), ("email.opened", "email.clicked", "payment.succeeded")[i % 3], T0 + i * 3 * DAY)
               for i in range(12)]
    p = profile(*rules, groups=EMAIL, max_score=150)
    state = FoldState()
    for i in range(0, 12, 5):
        advance(state, p, records[i:i + 5], now=records[min(i + 4, 11)].at + DAY)
        state = FoldState.from_json(state.to_json())
    advance(state, p, [], now=T0 + 200 * DAY)
    assert state == fold(p, records, now=T0 + 200 * DAY)[0]


def test_a_profile_with_groups_reads_back_as_written():
    p = profile(OPEN, groups=EMAIL, max_score=100)
    assert (p.to_dict()["groups"], p.to_dict()["max_score"], p.to_dict()["rules"][0]["group"]) == (EMAIL, 100, "email")


def test_the_worked_example_of_groups_and_caps_in_the_docs():
    """docs/scoring-models.md, "Groups and caps", worked example: the table row by row."""
    p = profile(OPEN, CLICK, PAID, groups=EMAIL, max_score=100)
    records = [rec("p1", "payment.succeeded"), rec("o1", at=T0 + 1), rec("c1", "email.clicked", T0 + 2),
               rec("o2", at=T0 + 3), rec("o3", at=T0 + 4), rec("p2", "payment.succeeded", T0 + 5)]
    state = FoldState()
    rows = []
    for record in records:
        entry, = advance(state, p, [record], now=record.at)
        rows.append((entry.reason, entry.points, entry.change, entry.note, state.groups.get("email", 0), state.score))
    assert rows == [
        ("matched", 50, 50, None, 0, 50), ("matched", 12, 12, None, 12, 62), ("matched", 8, 8, None, 20, 70),
        ("capped", 12, 10, "capped by group email at 30", 30, 80),
        ("capped", 12, 0, "capped by group email at 30", 30, 80),
        ("capped", 50, 20, "capped by max_score at 100", 30, 100),
    ]


# --- reset -------------------------------------------------------------------------------

def test_a_reset_is_a_fresh_start_at_zero():
    """docs/scoring-models.md, "Reset", worked example."""
    expiring = {**OPEN, "expires_after": "1d"}
    decaying = {**PAID, "decay": {"percent": 50, "every": "30d"}}
    records = [rec("o1"), rec("o2", at=T0 + 1), rec("o3", at=T0 + 2), rec("p", "payment.succeeded", T0 + 3),
               manual("r", T0 + 4, reset=0), rec("o4", at=T0 + 5)]
    state, ledger = fold(profile(expiring, decaying, groups=EMAIL), records, now=T0 + 2 * MONTH)
    reset = ledger[4]
    assert (reset.reason, reset.points, reset.change, reset.score, reset.note) == ("manual", 0, -80, 0, "reset: r")
    # the group starts empty (o4 scores in full); what was earned before neither expires nor decays later
    assert [(e.rule_id, e.reason, e.change) for e in ledger[5:]] == [("open", "matched", 12), ("open", "expired", -12)]
    assert state.score == 0 and state.groups == {"email": 0} and state.decaying == []


# --- decay per group ---------------------------------------------------------------------

def test_a_groups_decay_applies_to_its_rules_without_their_own():
    groups = [{"id": "sales", "max_points": 100, "decay": {"percent": 50, "every": "30d"}}]
    demo = {"id": "demo", "on": "form.submitted", "points": 10, "group": "sales"}
    paid = {**PAID, "group": "sales", "decay": {"percent": 10, "every": "30d"}}
    p = profile(demo, paid, groups=groups)
    records = [rec("d", "form.submitted"), rec("p", "payment.succeeded", T0 + 1)]
    _, ledger = fold(p, records, now=T0 + MONTH + 1)
    assert [(e.rule_id, e.reason, e.change) for e in ledger] == [
        ("demo", "matched", 10), ("paid", "matched", 50), ("demo", "decay", -5), ("paid", "decay", -5)]
    # read back as written: the group carries the decay, the rule does not
    assert p.to_dict()["rules"][0] == {**demo, "where": {}}
    assert p.to_dict()["groups"] == groups


# --- what the ledger says of timed entries and caps (every field, literally) -------------------

UNSUB_DECAYING = {"id": "unsub", "on": "email.unsubscribed", "points": -15, "decay": {"percent": 50, "every": "30d"}}
UNSUB_EXPIRING = {"id": "unsub", "on": "email.unsubscribed", "points": -15, "expires_after": "30d"}


def crm(id_, type_, at):
    return TimelineRecord(id_, "crm", type_, at, {})


def test_a_decay_step_names_the_interaction_its_source_and_type_and_the_cap_that_bit():
    # -15 took 15 from 20; the score was then set to 20, the maximum: giving points back is capped
    records = [manual("m1", T0 - 1, set=20), crm("x:1", "email.unsubscribed", T0), manual("m2", T0 + 1, set=20)]
    state, ledger = fold(profile(UNSUB_DECAYING, max_score=20), records, now=T0 + 2 * MONTH)
    steps = [e for e in ledger if e.reason == "decay"]
    assert [(e.at, e.interaction_id, e.source, e.type, e.rule_id, e.points, e.change, e.score, e.note, e.capped_by)
            for e in steps] == [
        (T0 + MONTH, "x:1", "crm", "email.unsubscribed", "unsub", 8, 0, 20,
         "decay step 1 (50% a period): -15 → -7 points; capped by max_score at 20", ("max_score",)),
        (T0 + 2 * MONTH, "x:1", "crm", "email.unsubscribed", "unsub", 3, 0, 20,
         "decay step 2 (50% a period): -7 → -4 points; capped by max_score at 20", ("max_score",)),
    ]
    assert state.score == 20


def test_an_expiry_names_the_interaction_its_source_and_type_and_the_cap_that_bit():
    records = [manual("m1", T0 - 1, set=20), crm("x:1", "email.unsubscribed", T0), manual("m2", T0 + 1, set=20)]
    state, ledger = fold(profile(UNSUB_EXPIRING, max_score=20), records, now=T0 + MONTH)
    assert ledger[-1].to_json() == {
        "at": T0 + MONTH, "interaction_id": "x:1", "source": "crm", "type": "email.unsubscribed",
        "rule_id": "unsub", "points": 15, "change": 0, "score": 20, "reason": "expired",
        "note": "capped by max_score at 20"}
    assert ledger[-1].capped_by == ("max_score",)


def test_after_an_expiry_a_record_before_it_is_late():
    state, _ = fold(profile(UNSUB_EXPIRING), [manual("m1", T0 - 1, set=20), crm("u", "email.unsubscribed", T0)],
                    now=T0 + MONTH)
    assert state.last is not None and state.last[0] == T0 + MONTH
    assert is_late(state, [crm("v", "email.opened", T0 + MONTH - 1)])
    assert not is_late(state, [crm("v", "email.opened", T0 + MONTH + 1)])


def test_a_limited_match_names_its_source_and_the_score_it_left():
    limited = {"id": "o", "on": "email.opened", "points": 3, "limit": {"count": 1}}
    _, ledger = fold(profile(limited), [crm("a", "email.opened", T0), crm("b", "email.opened", T0 + 1)], now=T0 + 1)
    assert ledger[-1].to_json() == {
        "at": T0 + 1, "interaction_id": "b", "source": "crm", "type": "email.opened", "rule_id": "o",
        "points": 3, "change": 0, "score": 3, "reason": "limit", "note": "limit: 1 reached"}


def test_filling_a_group_exactly_to_its_maximum_is_not_a_cap():
    ten = {"id": "o", "on": "email.opened", "points": 10, "group": "email"}
    _, ledger = fold(profile(ten, groups=[{"id": "email", "max_points": 30}]),
                     [rec(str(i), at=T0 + i) for i in range(3)], now=T0 + 3)
    assert [(e.reason, e.change, e.note, e.capped_by) for e in ledger] == [("matched", 10, None, ())] * 3


def test_a_group_counts_what_a_one_point_rule_added_after_max_score_not_what_it_asked():
    one = {"id": "o", "on": "email.opened", "points": 1, "group": "g"}
    state, ledger = fold(profile(one, groups=[{"id": "g", "max_points": 5}], max_score=1),
                         [rec("a", at=T0), rec("b", at=T0 + 1)], now=T0 + 1)
    assert [(e.change, e.capped_by) for e in ledger] == [(1, ()), (0, ("max_score",))]
    assert state.groups == {"g": 1}


def test_a_manual_change_cut_by_max_score_says_so_in_its_caps():
    _, ledger = fold(profile(max_score=100), [manual("m1", T0, set=500)], now=T0)
    assert ledger[0].capped_by == ("max_score",)


def test_a_limited_rule_does_not_stop_the_next_rule_from_scoring():
    once = {"id": "once", "on": "email.opened", "points": 5, "limit": {"count": 1}}
    every = {"id": "every", "on": "email.opened", "points": 1}
    state, ledger = fold(profile(once, every), [rec("a", at=T0), rec("b", at=T0 + 1)], now=T0 + 1)
    assert [(e.interaction_id, e.rule_id, e.reason, e.change) for e in ledger] == [
        ("a", "once", "matched", 5), ("a", "every", "matched", 1), ("b", "once", "limit", 0), ("b", "every", "matched", 1)]
    assert state.score == 7


def test_expiries_and_decay_steps_interleave_in_time_order():
    expiring = {"id": "open", "on": "email.opened", "points": 5, "expires_after": "10d"}
    records = [rec("o1", at=T0), rec("d", "form.submitted", at=T0), rec("o2", at=T0 + 10 * DAY)]
    half_monthly = {**DEMO, "decay": {"percent": 50, "every": "15d"}}
    _, ledger = fold(profile(expiring, half_monthly), records, now=T0 + 21 * DAY)
    timed = [(e.at - T0, e.reason, e.interaction_id) for e in ledger if e.reason in ("expired", "decay")]
    assert timed == [(10 * DAY, "expired", "o1"), (15 * DAY, "decay", "d"), (20 * DAY, "expired", "o2")]


def test_a_rule_stored_before_the_ten_year_maximum_still_reads():
    old = profile_from_dict({"id": "p", "rules": [
        {"id": "r", "on": "email.opened", "points": 1, "expires_after": "3651d", "limit": {"count": 2, "window": "3700d"}}]})
    assert (old.rules[0].expires_after_ms, old.rules[0].limit_window_ms) == (3651 * DAY, 3700 * DAY)


def test_a_rule_outside_every_group_takes_no_groups_decay_whatever_the_groups_name():
    p = profile_from_dict({"id": "p", "groups": [{"id": "XXXX", "max_points": 5, "decay": {"percent": 50, "every": "1d"}},
                                                 {"id": "g", "max_points": 5, "decay": {"percent": 50, "every": "1d"}}],
                           "rules": [{"id": "r", "on": "email.opened", "points": 1}]})
    assert (p.rules[0].decay_percent, p.rules[0].decay_every) == (None, None)
