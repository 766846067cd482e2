"""The evaluation's arithmetic (app/scoring/evaluation.py) on small hand-made histories, with the
expected numbers worked out by hand (docs/scoring-models.md, "Scores that prove themselves")."""
from __future__ import annotations

import json
import math

import pytest

from app.scoring.evaluation import (
    CONVERTED_BEFORE,
    NO_HISTORY,
    ContactHistory,
    Evidence,
    Period,
    cut,
    evaluate,
)
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord

PROFILE = profile_from_dict({
    "id": "p", "name": "P",
    "rules": [{"id": "open", "on": "email.opened", "points": 5},
              {"id": "form", "on": "form.submitted", "points": 20},
              {"id": "unsub", "on": "email.unsubscribed", "points": -10}],
    "bands": [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 20}],
})
PERIOD = Period(1000, 2000, "payment.succeeded")
ANY_EVIDENCE = Evidence(matched=1, unmatched=1, conversions=1)


def rec(id_: str, type_: str, at: int, **props) -> TimelineRecord:
    return TimelineRecord(id_, "t", type_, at, props)


def manual(id_: str, at: int, **props) -> TimelineRecord:
    return TimelineRecord(id_, "manual", "score.manual", at, {"profile": "p", **props})


#: A: 25 (hot), converts; B: 20 (hot), converts at the last millisecond; C: 5 (cold), converts at the end
#: (outside); D: 5 − 10 floored to 0 (cold), does not; G: 10 (warm), converts; E converted before the start;
#: F has no interaction before the start.
TIMELINES = {
    "A": [rec("a1", "email.opened", 100), rec("a2", "form.submitted", 200), rec("a3", "payment.succeeded", 1500)],
    "B": [rec("b1", "form.submitted", 100), rec("b2", "payment.succeeded", 1999)],
    "C": [rec("c1", "email.opened", 100), rec("c2", "payment.succeeded", 2000)],
    "D": [rec("d1", "email.opened", 100), rec("d2", "email.unsubscribed", 200)],
    "E": [rec("e1", "email.opened", 100), rec("e2", "payment.succeeded", 500), rec("e3", "payment.succeeded", 1500)],
    "F": [rec("f1", "email.opened", 1500), rec("f2", "payment.succeeded", 1600)],
    "G": [rec("g1", "email.opened", 100), rec("g2", "email.opened", 150), rec("g3", "payment.succeeded", 1200)],
}


@pytest.fixture()
def report():  # per test (not per module): mutation testing maps each test to the code its own run reaches
    return evaluate({"live": PROFILE}, TIMELINES.values(), PERIOD, ANY_EVIDENCE)["live"].to_json()


def test_population_excludes_the_converted_before_and_those_without_history(report):
    assert report["contacts"] == 5 and report["conversions"] == 3 and report["base_rate"] == 0.6
    assert report["excluded"] == {"converted_before": 1, "no_history": 1}


def test_conversion_rate_and_lift_by_band(report):
    assert report["bands"] == [
        {"band": "cold", "min": 0, "contacts": 2, "conversions": 0, "rate": 0.0, "lift": 0.0},
        {"band": "warm", "min": 10, "contacts": 1, "conversions": 1, "rate": 1.0, "lift": 1.666667},
        {"band": "hot", "min": 20, "contacts": 2, "conversions": 2, "rate": 1.0, "lift": 1.666667},
    ]


def test_deciles_by_rank_with_the_gain_curve(report):
    empty = {"min_score": None, "max_score": None, "contacts": 0, "conversions": 0, "rate": None, "lift": None,
             "cumulative_share": None}
    one = lambda score, converted, share: {"min_score": score, "max_score": score, "contacts": 1,  # noqa: E731
                                           "conversions": converted, "rate": float(converted),
                                           "lift": 1.666667 if converted else 0.0, "cumulative_share": share}
    assert report["deciles"] == [
        {"decile": 1, **one(25, 1, 0.333333)}, {"decile": 2, **empty},
        {"decile": 3, **one(20, 1, 0.666667)}, {"decile": 4, **empty},
        {"decile": 5, **one(10, 1, 1.0)}, {"decile": 6, **empty},
        {"decile": 7, **one(5, 0, 1.0)}, {"decile": 8, **empty},
        {"decile": 9, **one(0, 0, 1.0)}, {"decile": 10, **empty},
    ]


def test_lift_per_rule_matched_against_not(report):
    rules = {r["rule_id"]: r for r in report["rules"]}
    assert [r["rule_id"] for r in report["rules"]] == ["open", "form", "unsub"]
    assert rules["open"]["matched"] == {"contacts": 4, "conversions": 2, "rate": 0.5, "lift": 0.833333}
    assert rules["open"]["unmatched"] == {"contacts": 1, "conversions": 1, "rate": 1.0, "lift": 1.666667}
    assert rules["open"]["lift"] == 0.5
    assert rules["form"]["matched"]["contacts"] == 2 and rules["form"]["lift"] == 3.0
    assert rules["unsub"]["matched"] == {"contacts": 1, "conversions": 0, "rate": 0.0, "lift": 0.0}
    assert rules["unsub"]["lift"] == 0.0


def test_suggested_points_are_log_odds_scaled_so_the_strongest_gets_the_widest_points(report):
    rules = {r["rule_id"]: r["suggestion"] for r in report["rules"]}
    # form: ln(2.5 × 2.5 / (0.5 × 1.5)) = 2.120264, the strongest: 20 points (the profile's largest |points|)
    assert rules["form"]["points"] == 20 and rules["form"]["log_odds_ratio"] == 2.120264
    # open: ln(2.5 × 0.5 / (2.5 × 1.5)) = −1.098612 → −10.36 → −10
    assert rules["open"]["points"] == -10 and rules["open"]["log_odds_ratio"] == -1.098612
    # unsub: ln(0.5 × 1.5 / (1.5 × 3.5)) = −1.945910 → −18.36 → −18
    assert rules["unsub"]["points"] == -18 and rules["unsub"]["log_odds_ratio"] == -1.94591
    # five contacts prove nothing at 95 %
    assert not any(s["significant"] for s in rules.values())
    se = math.sqrt(1 / 2.5 + 1 / 0.5 + 1 / 1.5 + 1 / 2.5)
    assert rules["form"]["interval"] == pytest.approx([2.120264 - 1.959964 * se, 2.120264 + 1.959964 * se], abs=2e-6)


def test_a_rule_matched_by_few_contacts_suggests_nothing_and_says_why():
    report = evaluate({"live": PROFILE}, TIMELINES.values(), PERIOD)["live"].to_json()
    assert [r["suggestion"] for r in report["rules"]][2] == {
        "points": None, "log_odds_ratio": None, "interval": None, "significant": False,
        "reason": "matched by 1 contacts (needs 30)"}
    thin = Evidence(matched=1, unmatched=2, conversions=1)
    rules = evaluate({"live": PROFILE}, TIMELINES.values(), PERIOD, thin)["live"].to_json()["rules"]
    assert rules[0]["suggestion"]["reason"] == "not matched by 1 contacts (needs 2)"
    few = Evidence(matched=1, unmatched=1, conversions=4)
    rules = evaluate({"live": PROFILE}, TIMELINES.values(), PERIOD, few)["live"].to_json()["rules"]
    assert rules[1]["suggestion"]["reason"] == "3 conversions in the period (needs 4)"


def test_a_clear_signal_on_many_contacts_is_significant():
    converting = [[rec(f"f{i}", "form.submitted", 10), rec(f"p{i}", "payment.succeeded", 1500)] for i in range(30)]
    form_only = [[rec(f"g{i}", "form.submitted", 10)] for i in range(10)]
    idle = [[rec(f"o{i}", "email.opened", 10)] for i in range(36)] + \
           [[rec(f"q{i}", "email.opened", 10), rec(f"r{i}", "payment.succeeded", 1500)] for i in range(4)]
    report = evaluate({"live": PROFILE}, converting + form_only + idle, PERIOD)["live"].to_json()
    form = report["rules"][1]
    assert form["matched"] == {"contacts": 40, "conversions": 30, "rate": 0.75, "lift": 1.764706}
    assert form["unmatched"] == {"contacts": 40, "conversions": 4, "rate": 0.1, "lift": 0.235294}
    assert form["lift"] == 7.5
    assert form["suggestion"]["significant"] is True and form["suggestion"]["points"] == 20
    assert form["suggestion"]["log_odds_ratio"] == round(math.log(30.5 * 36.5 / (10.5 * 4.5)), 6)
    # no contact matched the other rules enough to say anything
    assert report["rules"][2]["suggestion"]["points"] is None


def test_the_score_at_the_start_counts_expiries_decay_and_manual_changes_due_by_then():
    profile = profile_from_dict({"id": "p", "name": "P", "rules": [
        {"id": "open", "on": "email.opened", "points": 5, "expires_after": "1s"},
        {"id": "form", "on": "form.submitted", "points": 8}], "bands": []})
    history = cut([rec("a", "email.opened", 100), rec("b", "email.opened", 500), rec("c", "form.submitted", 600),
                   manual("m", 700, add=3)], PERIOD)
    assert isinstance(history, ContactHistory)
    report = evaluate({"x": profile}, [history.before], Period(1200, 2000))["x"]
    # the open at 100 expired at 1100; the one at 500 stands until 1500: 5 + 8 + 3
    assert report.deciles[0].min_score == 16
    # without bands every contact is in "no band"
    assert [b.to_json()["band"] for b in report.bands] == ["no band"]


@pytest.mark.parametrize(("records", "expected"), [
    pytest.param([rec("a", "payment.succeeded", 999)], CONVERTED_BEFORE, id="converted-just-before"),
    pytest.param([manual("m", 10, set=5), rec("a", "email.opened", 1000)], NO_HISTORY, id="manual-only-before"),
    pytest.param([], NO_HISTORY, id="empty"),
])
def test_who_is_left_out(records, expected):
    assert cut(records, PERIOD) == expected


def test_the_outcome_is_the_requested_type_and_the_end_is_exclusive():
    records = [rec("a", "email.opened", 10), rec("b", "form.submitted", 1500), rec("c", "payment.succeeded", 2000)]
    assert cut(records, PERIOD) == ContactHistory((records[0],), False)
    assert cut(records, Period(1000, 2000, "form.submitted")) == ContactHistory((records[0],), True)
    assert cut(records, Period(1000, 2001)).converted is True


def test_two_profiles_read_the_same_timelines_once_each_with_its_own_rules():
    draft = profile_from_dict({"id": "p", "name": "P", "rules": [{"id": "form", "on": "form.submitted", "points": 1}],
                               "bands": [{"name": "in", "min": 1}]})
    reports = evaluate({"live": PROFILE, "draft": draft}, TIMELINES.values(), PERIOD, ANY_EVIDENCE)
    assert reports["draft"].contacts == reports["live"].contacts == 5
    assert [b.to_json() for b in reports["draft"].bands] == [
        {"band": "no band", "min": None, "contacts": 3, "conversions": 1, "rate": 0.333333, "lift": 0.555556},
        {"band": "in", "min": 1, "contacts": 2, "conversions": 2, "rate": 1.0, "lift": 1.666667}]
    # the draft's only rule is also the strongest: it gets its own (and widest) points
    assert reports["draft"].rules[0].suggestion.points == 1


def test_no_contacts_and_no_conversions_give_empty_rates_not_errors():
    report = evaluate({"live": PROFILE}, [], PERIOD)["live"].to_json()
    assert report["contacts"] == 0 and report["base_rate"] is None
    assert all(d["contacts"] == 0 for d in report["deciles"]) and len(report["deciles"]) == 10
    quiet = evaluate({"live": PROFILE}, [TIMELINES["D"]], PERIOD, ANY_EVIDENCE)["live"].to_json()
    assert quiet["base_rate"] == 0.0 and quiet["bands"][0]["lift"] is None
    assert quiet["rules"][0]["suggestion"]["reason"] == "not matched by 0 contacts (needs 1)"


def test_a_match_a_limit_kept_from_scoring_counts_as_matched_and_expiries_do_not_match():
    profile = profile_from_dict({"id": "p", "name": "P", "rules": [
        {"id": "open", "on": "email.opened", "points": 5, "limit": {"count": 1}, "expires_after": "1s"},
        {"id": "form", "on": "form.submitted", "points": 8, "where": {"plan": {"eq": "pro"}}}], "bands": []})
    limited = [rec("a", "email.opened", 10), rec("b", "email.opened", 20), rec("c", "form.submitted", 30, plan="free")]
    history = cut(limited, PERIOD)
    assert isinstance(history, ContactHistory)
    evidence = evaluate({"x": profile}, [limited], PERIOD, ANY_EVIDENCE)["x"]
    # the open scored once and was limited once: matched; the free-plan form met no rule
    assert (evidence.rules[0].matched.contacts, evidence.rules[1].matched.contacts) == (1, 0)
    assert evidence.deciles[0].min_score == 5
    # from 1500 the open's points had expired (at 1010): the score is 0, the rule still matched
    later = evaluate({"x": profile}, [limited], Period(1500, 2000), ANY_EVIDENCE)["x"]
    assert later.deciles[0].min_score == 0 and later.rules[0].matched.contacts == 1
    from app.scoring.evaluation import score_at_start
    assert score_at_start(profile, history, PERIOD).matched == frozenset({"open"})


def test_exactly_the_minimum_evidence_is_enough():
    timelines = [[rec(f"f{i}", "form.submitted", 10)] + ([rec(f"p{i}", "payment.succeeded", 1500)] if i < 2 else [])
                 for i in range(3)] + [[rec(f"o{i}", "email.opened", 10)] for i in range(2)]
    just = Evidence(matched=3, unmatched=2, conversions=2)
    rules = evaluate({"live": PROFILE}, timelines, PERIOD, just)["live"].rules
    assert rules[1].suggestion.points == 20 and rules[1].suggestion.reason is None
    assert rules[0].suggestion.reason == "matched by 2 contacts (needs 3)"
    one_short = Evidence(matched=3, unmatched=2, conversions=3)
    assert evaluate({"live": PROFILE}, timelines, PERIOD, one_short)["live"].rules[1].suggestion.reason == \
        "2 conversions in the period (needs 3)"


def test_suggestions_round_half_away_from_zero_and_stay_within_the_points_range():
    from app.scoring.evaluation import Cohort, _suggest
    matched, unmatched = Cohort(40, 30, 0.5), Cohort(40, 4, 0.5)
    assert _suggest(matched, unmatched, 1.0, 4.0, 10).points == 3  # 2.5 → 3
    assert _suggest(matched, unmatched, -1.0, 4.0, 10).points == -3  # −2.5 → −3
    assert _suggest(matched, unmatched, 1.0, 4.0, 9).points == 2  # 2.25 → 2
    assert _suggest(matched, unmatched, 1.0, 0.0, 10).points == 0  # nothing has any signal
    assert _suggest(matched, unmatched, 3.0, 1.0, 1_000_000).points == 1_000_000
    assert _suggest(matched, unmatched, -3.0, 1.0, 1_000_000).points == -1_000_000


def test_the_lift_of_a_rule_nobody_missed_or_that_never_converted_otherwise_is_empty():
    everyone = [[rec(f"o{i}", "email.opened", 10)] + ([rec(f"p{i}", "payment.succeeded", 1500)] if i else [])
                for i in range(3)]
    report = evaluate({"live": PROFILE}, everyone, PERIOD, ANY_EVIDENCE)["live"]
    assert report.rules[0].matched.contacts == 3 and report.rules[0].lift is None
    assert report.rules[1].lift is None and report.rules[1].matched.rate is None
    assert report.base_rate == pytest.approx(2 / 3)


def test_a_fit_rule_is_matched_when_the_attributes_meet_it_at_the_start():
    from app.scoring.interactions import ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE

    def change(id_, at, **attributes):
        return TimelineRecord(id_, ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at, attributes)

    fit = profile_from_dict({"id": "fit", "name": "Fit", "kind": "fit", "rules": [
        {"id": "vp", "points": 10, "where": {"job_title": "VP"}},
        {"id": "big", "points": 15, "where": {"company_size": {"gte": 200}}}]})
    was_vp = [change("a", 10, job_title="VP", company_size=500), change("b", 20, job_title="Intern"),
              rec("p", "payment.succeeded", 1500)]
    big_only = [change("c", 10, company_size=300)]
    nothing = [change("d", 10, job_title="CEO")]
    report = evaluate({"fit": fit}, [was_vp, big_only, nothing], PERIOD, ANY_EVIDENCE)["fit"]
    # no longer a VP at the start: only "big" holds for the first contact (score 15)
    assert [(r.rule_id, r.matched.contacts, r.matched.conversions) for r in report.rules] == [("vp", 0, 0),
                                                                                           ("big", 2, 1)]
    assert [(d.decile, d.min_score, d.group.contacts) for d in report.deciles if d.group.contacts] == \
        [(1, 15, 2), (7, 0, 1)]


# --- pinned arithmetic (each test kills mutants of app/scoring/evaluation.py; numbers worked by hand) ---
Z95 = 1.959963984540054


def test_every_exclusion_is_counted_not_just_noted():
    converted = [rec("e1", "email.opened", 100), rec("e2", "payment.succeeded", 500)]
    report = evaluate({"live": PROFILE}, [converted, converted, [], [], []], PERIOD, ANY_EVIDENCE)["live"]
    assert report.excluded == {"converted_before": 2, "no_history": 3} and report.contacts == 0


def test_the_rules_json_carries_each_rules_id_and_current_points(report):
    assert [(r["rule_id"], r["points"]) for r in report["rules"]] == [("open", 5), ("form", 20), ("unsub", -10)]


def test_a_decile_holding_several_scores_spans_from_its_lowest_to_its_highest():
    from app.scoring.evaluation import Tally
    # 20 contacts: 9 (converts) and 8 rank 0 and 1 of 20 → decile 1; the eighteen 7s (one converts) → decile 2
    tally = Tally(PROFILE, scores={9: [1, 1], 8: [1, 0], 7: [18, 1]})
    deciles = tally.report({}).to_json()["deciles"]
    assert deciles[0] == {"decile": 1, "min_score": 8, "max_score": 9, "contacts": 2, "conversions": 1,
                          "rate": 0.5, "lift": 5.0, "cumulative_share": 0.5}
    assert deciles[1] == {"decile": 2, "min_score": 7, "max_score": 7, "contacts": 18, "conversions": 1,
                          "rate": 0.055556, "lift": 0.555556, "cumulative_share": 1.0}
    assert all(d["contacts"] == 0 and d["conversions"] == 0 and d["cumulative_share"] is None
               for d in deciles[2:])


def test_a_band_adds_up_every_score_that_falls_in_it():
    from app.scoring.evaluation import Tally
    tally = Tally(PROFILE, scores={12: [2, 1], 15: [3, 2], 30: [1, 0]})  # warm: 12 and 15; hot: 30
    bands = [b.to_json() for b in tally.report({}).bands]
    assert bands[1] == {"band": "warm", "min": 10, "contacts": 5, "conversions": 3, "rate": 0.6, "lift": 1.2}
    assert bands[2] == {"band": "hot", "min": 20, "contacts": 1, "conversions": 0, "rate": 0.0, "lift": 0.0}


def test_the_interval_is_the_log_odds_ratio_plus_and_minus_z_standard_errors():
    from app.scoring.evaluation import Cohort, _suggest
    # cells a = 2 + 0.5, b = 10 − 2 + 0.5, c = 4 + 0.5, d = 20 − 4 + 0.5: all different, so each one counts
    se = math.sqrt(1 / 2.5 + 1 / 8.5 + 1 / 4.5 + 1 / 16.5)  # √0.800475 = 0.8947 (Woolf)
    interval = _suggest(Cohort(10, 2, 0.2), Cohort(20, 4, 0.2), 0.3, 1.0, 10).interval
    assert interval is not None
    low, high = interval
    assert low == pytest.approx(0.3 - Z95 * se, abs=1e-9) and high == pytest.approx(0.3 + Z95 * se, abs=1e-9)
    assert (round(low, 4), round(high, 4)) == (-1.4536, 2.0536)  # 0.3 ∓ 1.96 × 0.8947


def test_a_suggestions_json_rounds_its_interval_and_keeps_whole_points():
    from app.scoring.evaluation import Cohort, Suggestion, _suggest
    assert Suggestion(3, 0.1234567, (-0.12345649, 0.3703703), False).to_json() == {
        "points": 3, "log_odds_ratio": 0.123457, "interval": [-0.123456, 0.37037], "significant": False,
        "reason": None}
    matched, unmatched = Cohort(40, 30, 0.5), Cohort(40, 4, 0.5)
    assert json.dumps(_suggest(matched, unmatched, 1.0, 4.0, 10).to_json()).startswith('{"points": 3, ')
    assert json.dumps(_suggest(matched, unmatched, -1.0, 4.0, 10).to_json()).startswith('{"points": -3, ')


def test_a_weak_positive_signal_rounds_to_plus_one_not_minus_one():
    from app.scoring.evaluation import Cohort, _suggest
    assert _suggest(Cohort(40, 30, 0.5), Cohort(40, 4, 0.5), 0.3, 4.0, 10).points == 1  # 0.75 → 1


def test_significant_means_the_interval_excludes_zero_strictly():
    from app.scoring.evaluation import Cohort, _suggest
    even = Cohort(100, 50, 0.5)  # every cell 50.5: se = √(4 / 50.5) = 0.2814, z·se = 0.5516
    z_se = Z95 * math.sqrt(1 / 50.5 + 1 / 50.5 + 1 / 50.5 + 1 / 50.5)
    assert _suggest(even, even, 1.0, 1.0, 1).significant is True  # [0.448, 1.552]: above 0 (and below 1)
    assert _suggest(even, even, -1.0, 1.0, 1).significant is True  # [−1.552, −0.448]
    assert _suggest(even, even, 0.0, 1.0, 1).significant is False  # [−0.552, 0.552]: 0 inside
    assert _suggest(even, even, z_se, 1.0, 1).significant is False  # [0, 1.103]: touching 0 is not excluding it
    assert _suggest(even, even, -z_se, 1.0, 1).significant is False  # [−1.103, 0]


def test_a_profile_without_rules_reports_no_rules():
    empty = profile_from_dict({"id": "p", "name": "P", "rules": []})
    assert evaluate({"x": empty}, TIMELINES.values(), PERIOD, ANY_EVIDENCE)["x"].rules == ()


def test_when_every_rule_carries_zero_points_the_strongest_suggests_one():
    from app.scoring.evaluation import Tally
    zero = profile_from_dict({"id": "p", "name": "P", "rules": [{"id": "z", "on": "email.opened", "points": 0}]})
    # matched 2 (both convert), unmatched 2 (neither): ln(2.5 × 2.5 / (0.5 × 0.5)) = ln 25 > 0
    tally = Tally(zero, scores={0: [4, 2]}, rules={"z": [2, 2]})
    assert tally.report({}, ANY_EVIDENCE).rules[0].suggestion.points == 1
