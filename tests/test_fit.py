"""Fit scores, pure: attributes applied in timeline order, the rules that match them, the clamped sum, and the
ledger of each evaluation (app/scoring/fit.py and the fit branch of the fold). No Redis: these are the
specification tests ``make mutate`` runs against app/scoring/fit.py."""
from __future__ import annotations

import pytest

from app.scoring.fit import apply_attribute_changes, attributes_at, clamp, fit_score, fit_steps, is_fit, \
    matching_rules
from app.scoring.fold import FoldState, advance, fold, is_late
from app.scoring.interactions import ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, MANUAL_TYPE
from app.scoring.profiles import FIT, Profile, profile_from_dict
from app.scoring.records import TimelineRecord
from app.scoring.sentences import attribute_conditions, describe_changes, rule_sentence

VP = {"id": "vp", "points": 10, "where": {"job_title": "VP"}}
BIG = {"id": "big", "points": 15, "where": {"company_size": {"gte": 200}}}
STUDENT = {"id": "student", "points": -20, "where": {"plan": "student"}}


def fit_profile(*rules, max_score=None) -> Profile:
    data = {"id": "fit", "name": "Fit", "kind": "fit", "rules": list(rules or (VP, BIG, STUDENT))}
    if max_score is not None:
        data["max_score"] = max_score
    return profile_from_dict(data)


def change(id_, at, **attributes):
    return TimelineRecord(id_, ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at, attributes)


def opened(id_, at):
    return TimelineRecord(id_, "api", "email.opened", at, {})


# --- attributes -----------------------------------------------------------------------------------

def test_a_change_sets_values_and_none_removes_without_touching_the_rest():
    assert apply_attribute_changes({"a": 1, "b": 2}, {"b": None, "c": 3, "d": None}) == {"a": 1, "c": 3}


def test_apply_leaves_the_current_attributes_unchanged():
    current = {"a": 1}
    apply_attribute_changes(current, {"a": 2})
    assert current == {"a": 1}


def test_attributes_follow_time_not_arrival_and_ignore_other_records():
    records = [change("2", 200, plan="pro"), opened("o", 300), change("1", 100, plan="free", seats=2),
               change("3", 300, seats=None)]
    assert attributes_at(records) == {"plan": "pro"}


def test_attribute_changes_of_one_millisecond_go_by_key():
    assert attributes_at([change("b", 100, plan="b"), change("a", 100, plan="a")]) == {"plan": "b"}


# --- the score ------------------------------------------------------------------------------------

@pytest.mark.parametrize("attributes,matched,score", [
    pytest.param({}, [], 0, id="nothing"),
    pytest.param({"job_title": "VP"}, ["vp"], 10, id="one-rule"),
    pytest.param({"job_title": "VP", "company_size": 500}, ["vp", "big"], 25, id="two-rules"),
    pytest.param({"job_title": "VP", "plan": "student"}, ["vp", "student"], 0, id="floor"),
    pytest.param({"company_size": 199}, [], 0, id="just-below"),
    pytest.param({"company_size": "many"}, [], 0, id="incomparable-type"),
])
def test_the_fit_score_is_the_floored_sum_of_the_matching_rules(attributes, matched, score):
    profile = fit_profile()
    assert matching_rules(profile, attributes) == matched
    assert fit_score(profile, attributes) == score


def test_max_score_caps_the_fit_score():
    assert fit_score(fit_profile(max_score=20), {"job_title": "VP", "company_size": 500}) == 20
    assert clamp(fit_profile(max_score=20), 20) == 20 and clamp(fit_profile(max_score=20), 21) == 20
    assert clamp(fit_profile(), -1) == 0 and clamp(fit_profile(), 0) == 0 and clamp(fit_profile(), 7) == 7


def test_a_profile_is_fit_by_its_kind():
    assert is_fit(fit_profile()) and fit_profile().kind == FIT
    assert not is_fit(profile_from_dict({"id": "e", "name": "E", "rules": []}))


# --- the steps (the ledger of one evaluation) -----------------------------------------------------

def test_steps_name_each_rule_that_starts_or_stops_matching_in_rule_order():
    steps = fit_steps(fit_profile(), ["vp"], ["big", "student"])
    assert [(s.rule_id, s.points, s.change, s.score, s.note) for s in steps] == [
        ("vp", -10, -10, 0, 'no longer job title is "VP": \u221210'),
        ("big", 15, 15, 15, "company size at least 200: +15"),
        ("student", -20, -15, 0, 'plan is "student": \u221220'),
    ]


def test_steps_are_empty_when_no_match_changes():
    assert fit_steps(fit_profile(), ["vp"], ["vp"]) == []


def test_a_step_the_floor_swallows_changes_nothing_and_the_score_comes_back_with_the_running_sum():
    # student (−20) matched with vp (+10): raw −10, score 0; vp goes: raw −20, still 0; student goes: raw 0
    steps = fit_steps(fit_profile(), ["vp", "student"], [])
    assert [(s.rule_id, s.change, s.score) for s in steps] == [("vp", 0, 0), ("student", 0, 0)]
    steps = fit_steps(fit_profile(), ["student"], ["vp"])
    assert [(s.rule_id, s.change, s.score) for s in steps] == [("vp", 0, 0), ("student", 10, 10)]


def test_a_step_the_cap_cuts_says_so():
    steps = fit_steps(fit_profile(max_score=20), ["vp"], ["vp", "big"])
    assert [(s.points, s.change, s.score, s.note) for s in steps] == [
        (15, 10, 20, "company size at least 200: +15; capped by max_score at 20")]


def test_a_step_under_the_cap_says_nothing_of_it():
    steps = fit_steps(fit_profile(max_score=25), ["vp"], ["vp", "big"])
    assert steps[0].note == "company size at least 200: +15" and steps[0].score == 25


def test_leaving_a_capped_sum_lowers_from_the_cap():
    steps = fit_steps(fit_profile(max_score=20), ["vp", "big"], ["big"])
    assert [(s.change, s.score, s.note) for s in steps] == [(-5, 15, 'no longer job title is "VP": \u221210')]


def test_conditions_read_as_words_with_underscores_as_spaces():
    rule = profile_from_dict({"id": "f", "name": "F", "kind": "fit", "rules": [
        {"id": "r", "points": 3, "where": {"country": {"in": ["FR", "DE"]}, "is_paying": True}}]}).rules[0]
    assert attribute_conditions(rule) == 'country is one of "FR", "DE", is paying is yes'
    assert rule_sentence(rule) == 'country is one of "FR", "DE", is paying is yes: +3'


# --- the fold of a fit profile --------------------------------------------------------------------

def test_the_fold_scores_attribute_changes_with_fit_entries():
    state, ledger = fold(fit_profile(), [opened("o1", 50), change("1", 100, job_title="VP"),
                                         change("2", 200, company_size=300), change("3", 300, job_title="CTO")],
                         now=1000)
    assert state.score == 15
    assert [(e.at, e.interaction_id, e.source, e.type, e.rule_id, e.points, e.change, e.score, e.reason)
            for e in ledger] == [
        (100, "1", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, "vp", 10, 10, 10, "fit"),
        (200, "2", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, "big", 15, 15, 25, "fit"),
        (300, "3", ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, "vp", -10, -10, 15, "fit"),
    ]
    assert state.attributes == {"job_title": "CTO", "company_size": 300} and state.matched == ["big"]


def test_interactions_and_manual_changes_do_not_score_a_fit_profile():
    manual = TimelineRecord("m", "manual", MANUAL_TYPE, 300, {"profile": "fit", "set": 50})
    state, ledger = fold(fit_profile(), [change("1", 100, job_title="VP"), opened("o", 200), manual], now=1000)
    assert state.score == 10 and len(ledger) == 1


def test_rules_matching_no_attributes_count_from_the_contact_s_first_record():
    profile = fit_profile({"id": "abroad", "points": 5, "where": {"country": {"ne": "US"}}})
    state, ledger = fold(profile, [opened("o", 100), opened("p", 200)], now=1000)
    assert state.score == 5 and [(e.at, e.interaction_id, e.rule_id) for e in ledger] == [(100, "o", "abroad")]
    state, ledger = fold(profile, [opened("o", 100), change("1", 200, country="US")], now=1000)
    assert state.score == 0 and [e.change for e in ledger] == [5, -5]


def test_advance_in_two_steps_through_stored_state_equals_the_fold():
    records = [change("1", 100, job_title="VP"), change("2", 200, company_size=300, plan="student"),
               change("3", 300, plan=None)]
    whole, ledger = fold(fit_profile(), records, now=1000)
    state = FoldState()
    first = advance(state, fit_profile(), records[:1], now=1000)
    state = FoldState.from_json(state.to_json())
    rest = advance(state, fit_profile(), records[1:], now=1000)
    assert state.to_json() == whole.to_json() and first + rest == ledger


def test_a_fit_state_without_attributes_reads_back_and_has_no_timed_entries():
    state, _ = fold(fit_profile(), [change("1", 100, job_title="VP")], now=10**12)
    profile = fit_profile()
    data = state.to_json(profile)
    vp = [rule.id for rule in profile.rules].index("vp")
    assert data["a"] == {"job_title": "VP"} and data["F"] == [vp]  # the matched rules: their index in the rules
    assert FoldState.from_json(data, profile) == state and state.next_expiry() is None
    before = {**{k: v for k, v in data.items() if k != "F"}, "f": ["vp"]}  # the form of releases before
    assert FoldState.from_json(before) == FoldState.from_json(before, profile) == state
    empty = FoldState().to_json()
    assert "a" not in empty and "F" not in empty


def test_an_engagement_profile_skips_attribute_records():
    profile = profile_from_dict({"id": "e", "name": "E", "rules": [
        {"id": "any", "on": "email.opened", "points": 1, "where": {}}]})
    state, ledger = fold(profile, [change("1", 100, job_title="VP"), opened("o", 200)], now=1000)
    assert state.score == 1 and len(ledger) == 1 and state.attributes == {}


def test_a_fit_profile_reads_back_with_its_kind_and_rules_without_an_event():
    profile = fit_profile()
    assert profile.to_dict()["kind"] == "fit" and "on" not in profile.to_dict()["rules"][0]
    assert "kind" not in profile_from_dict({"id": "e", "name": "E"}).to_dict()


def test_a_change_of_kind_is_described():
    engagement = profile_from_dict({"id": "fit", "name": "Fit", "rules": []})
    assert "Kind changed from engagement to fit" in describe_changes(engagement, fit_profile())


def test_the_worked_example_of_docs_scoring_models():
    profile = profile_from_dict({"id": "fit", "name": "Fit", "kind": "fit", "max_score": 50, "rules": [
        {"id": "vp", "points": 10, "where": {"job_title": "VP"}},
        {"id": "big", "points": 15, "where": {"company_size": {"gte": 200}}},
        {"id": "eu", "points": 5, "where": {"country": {"in": ["FR", "DE"]}}},
        {"id": "student", "points": -20, "where": {"plan": "student"}}]})
    day = 86_400_000
    records = [opened("o0", 0), change("p1", day, job_title="VP", country="FR"),
               TimelineRecord("api:i2", "attributes", ATTRIBUTES_TYPE, 2 * day, {"company_size": 450}),
               change("p3", 3 * day, plan="student"), change("late", day // 2, job_title="Intern"),
               change("p5", 5 * day, plan=None, job_title="CTO")]
    scores = [fold(profile, records[:n], now=6 * day)[0].score for n in range(1, 7)]
    assert scores == [0, 15, 30, 10, 10, 20]
    _, ledger = fold(profile, records, now=6 * day)
    assert [(e.change, e.note) for e in ledger if e.at == 5 * day] == [
        (-10, 'no longer job title is "VP": \u221210'), (20, 'no longer plan is "student": +20')]


def test_a_step_the_floor_shortens_is_not_called_capped_even_when_it_reaches_the_maximum():
    # student (−20) alone: raw −20, score 0; +30 makes the raw sum exactly the maximum 10
    thirty = {"id": "thirty", "points": 30, "where": {"plan": "pro"}}
    steps = fit_steps(fit_profile(STUDENT, thirty, max_score=10), ["student"], ["student", "thirty"])
    assert [(s.change, s.score, s.note) for s in steps] == [(10, 10, 'plan is "pro": +30')]


def test_after_a_fit_fold_an_attribute_change_before_its_last_record_is_late():
    state, _ = fold(fit_profile(), [change("1", 100, job_title="VP"), change("2", 200, company_size=300)], now=1000)
    assert is_late(state, [change("3", 150, plan="student")])
    assert not is_late(state, [change("3", 250, plan="student")])


def test_a_zero_point_rule_above_the_maximum_is_not_called_capped():
    zero = {"id": "zero", "points": 0, "where": {"plan": "pro"}}
    steps = fit_steps(fit_profile(VP, BIG, zero, max_score=10), ["vp", "big"], ["vp", "big", "zero"])
    assert [(s.change, s.score, s.note) for s in steps] == [(0, 10, 'plan is "pro": 0')]
