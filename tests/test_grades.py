"""Grades, pure: three levels from any number of bands, the cell of two scores, the cells a contact passes
through as its scores change, and the grade conditions of filters (app/scoring/grades.py). No Redis: these
are the specification tests ``make mutate`` runs against it."""
from __future__ import annotations

import pytest

from app.scoring.grades import CELLS, Grade, GradeStep, cell, cell_matches, grade_steps, level
from app.scoring.profiles import profile_from_dict


def banded(*mins, kind="engagement"):
    return profile_from_dict({"id": kind, "name": kind, "kind": kind,
                              "bands": [{"name": f"b{m}", "min": m} for m in mins]})


FIT = banded(0, 10, 25, kind="fit")
ENG = banded(0, 20, 50)


@pytest.mark.parametrize("mins,score,expected", [
    pytest.param((0, 10, 25), 0, 2, id="three-lowest"), pytest.param((0, 10, 25), 9, 2, id="three-below-middle"),
    pytest.param((0, 10, 25), 10, 1, id="three-middle"), pytest.param((0, 10, 25), 24, 1, id="three-below-top"),
    pytest.param((0, 10, 25), 25, 0, id="three-top"), pytest.param((5, 10, 25), 4, 2, id="below-every-band"),
    pytest.param((0, 10, 20, 30), 0, 2, id="four-lowest"), pytest.param((0, 10, 20, 30), 10, 1, id="four-second"),
    pytest.param((0, 10, 20, 30), 20, 1, id="four-third"), pytest.param((0, 10, 20, 30), 30, 0, id="four-top"),
    pytest.param((0, 10), 0, 1, id="two-lower-is-middle"), pytest.param((0, 10), 10, 0, id="two-top"),
    pytest.param((5, 10), 4, 2, id="two-below"),
    pytest.param((0,), 0, 0, id="one-band-is-top"), pytest.param((5,), 4, 2, id="one-band-below"),
    pytest.param((), 100, 2, id="no-bands"),
])
def test_three_levels_from_any_number_of_bands(mins, score, expected):
    assert level(banded(*mins), score) == expected


def test_bands_are_ranked_by_min_whatever_their_order_and_names():
    profile = profile_from_dict({"id": "p", "name": "p", "bands": [
        {"name": "hot", "min": 30}, {"name": "cold", "min": 0}, {"name": "warm", "min": 10}]})
    assert [level(profile, s) for s in (0, 10, 30)] == [2, 1, 0]


def test_no_score_has_no_level_and_no_cell():
    assert level(FIT, None) is None
    assert cell(FIT, ENG, None, 60) is None and cell(FIT, ENG, 30, None) is None


@pytest.mark.parametrize("fit,engagement,expected", [
    (30, 60, "A1"), (30, 0, "A3"), (10, 20, "B2"), (0, 50, "C1"), (9, 49, "C2"), (25, 19, "A3")])
def test_the_cell_is_the_fit_letter_and_the_engagement_number(fit, engagement, expected):
    assert cell(FIT, ENG, fit, engagement) == expected


def test_the_cells_best_first():
    assert CELLS == ("A1", "A2", "A3", "B1", "B2", "B3", "C1", "C2", "C3")


def test_grade_steps_follow_both_scores_in_time_order():
    # fit 0 -> 12 at t=5 (C -> B); engagement 0 -> 55 at t=3 (3 -> 1), then 10 at t=8 (1 -> 3)
    steps = grade_steps(FIT, ENG, 0, 0, [(5, 12, "f1")], [(3, 55, "e1"), (8, 10, "e2")])
    assert steps == [GradeStep("C3", "C1", 3, "e1"), GradeStep("C1", "B1", 5, "f1"), GradeStep("B1", "B3", 8, "e2")]


def test_a_step_that_stays_in_the_cell_is_no_grade_step_and_fit_goes_first_in_one_millisecond():
    assert grade_steps(FIT, ENG, 0, 0, [(5, 3, "f")], [(5, 5, "e")]) == []
    steps = grade_steps(FIT, ENG, 0, 0, [(5, 12, "f")], [(5, 55, "e")])
    assert steps == [GradeStep("C3", "B3", 5, "f"), GradeStep("B3", "B1", 5, "e")]


def test_a_profile_s_own_steps_keep_their_order_within_a_millisecond():
    steps = grade_steps(FIT, ENG, 0, 0, [], [(5, 55, "z"), (5, 0, "a")])
    assert steps == [GradeStep("C3", "C1", 5, "z"), GradeStep("C1", "C3", 5, "a")]


def test_a_first_score_takes_the_grade_from_none():
    assert grade_steps(FIT, ENG, None, 60, [(1, 30, "f")], []) == [GradeStep(None, "A1", 1, "f")]
    assert grade_steps(FIT, ENG, None, None, [(1, 30, "f")], []) == []


@pytest.mark.parametrize("op,actual,cells,expected", [
    ("eq", "A1", ["A1"], True), ("eq", "A2", ["A1"], False), ("in", "B2", ["A1", "B2"], True),
    ("in", "C3", ["A1", "B2"], False), ("ne", "A1", ["A1"], False), ("ne", "B1", ["A1"], True),
    ("eq", None, ["A1"], False), ("ne", None, ["A1"], False), ("in", None, ["A1"], False),
])
def test_grade_conditions(op, actual, cells, expected):
    assert cell_matches(op, actual, cells) is expected


def test_a_grade_reads_back():
    grade = Grade("lead", "Lead grade", "fit", "engagement")
    assert Grade.from_dict(grade.to_dict()) == grade
    assert Grade.from_dict({"id": "g", "fit_profile": "f", "engagement_profile": "e"}).name == "g"


# --- the grade trigger (app/automation/triggers.py) and its event -------------------------------------

def test_a_grade_trigger_fires_on_entering_its_cells_or_on_any_change():
    from app.automation.triggers import GradeTrigger

    one, some, any_change = GradeTrigger("g", ("A1",)), GradeTrigger("g", ("A1", "A2")), GradeTrigger("g")
    assert one.fires("B1", "A1") and one.fires(None, "A1")
    assert not one.fires("A1", "A1") and not one.fires("A1", "B1")
    assert some.fires("B2", "A2") and not some.fires("A2", "A1") and not some.fires("A1", "B1")
    assert any_change.fires(None, "C3") and any_change.fires("C3", "B3") and not any_change.fires("B3", "B3")


def test_grade_events_reach_only_the_workflows_of_their_grade():
    from app.automation.triggers import GradeTrigger, ScoreTrigger, TriggerIndex, Workflow, event_fires
    from app.scoring.events import GradeChanged, ScoreChanged

    lead = Workflow("lead", "Lead", GradeTrigger("lead", ("A1",)), ({"type": "add_tag", "tag": "x"},))
    other = Workflow("other", "Other", GradeTrigger("other"), ({"type": "add_tag", "tag": "x"},))
    score = Workflow("score", "Score", ScoreTrigger("eng", "gte", 1), ({"type": "add_tag", "tag": "x"},))
    index = TriggerIndex.build([lead, other, score])
    assert index.interest.grades == frozenset({"lead", "other"}) and index.interest.profiles == frozenset({"eng"})
    event = GradeChanged("c1", "lead", "B1", "A1", 5, "grade:lead:x")
    assert index.fired(event) == [lead]
    assert not event_fires(score, event)
    assert not event_fires(lead, ScoreChanged("c1", "lead", 1, 0, 5, 5, "id"))
    assert index.fired(GradeChanged("c1", "lead", "A1", "B1", 5, "grade:lead:y")) == []


def test_a_grade_event_reads_back_from_its_stored_form():
    from app.scoring.events import GradeChanged, Interest, event_from_json

    event = GradeChanged("c1", "lead", None, "A1", 5, "grade:lead:x", depth=2)
    assert event_from_json(event.to_json()) == event
    assert bool(Interest(grades=frozenset({"lead"}))) and not bool(Interest())


def test_a_grade_event_fires_on_its_own_old_cell_and_unknown_grades_have_no_candidates():
    from app.automation.triggers import GradeTrigger, TriggerIndex, Workflow, event_fires
    from app.scoring.events import GradeChanged

    lead = Workflow("lead", "Lead", GradeTrigger("lead", ("A1",)), ({"type": "add_tag", "tag": "x"},))
    assert not event_fires(lead, GradeChanged("c1", "lead", "A1", "A1", 5, "id"))  # not a change
    assert event_fires(lead, GradeChanged("c1", "lead", "B1", "A1", 5, "id"))
    assert TriggerIndex.build([lead]).candidates(GradeChanged("c1", "other", None, "A1", 5, "id")) == ()


def test_a_grade_event_s_stored_form_is_pinned_and_missing_numbers_read_as_zero():
    from app.scoring.events import GradeChanged, event_from_json

    event = GradeChanged("c1", "lead", "B1", "A1", 5, "grade:lead:x", depth=2)
    assert event.to_json() == {"kind": "grade", "contact_id": "c1", "grade": "lead", "old": "B1", "new": "A1",
                               "at": 5, "change_id": "grade:lead:x", "depth": 2}
    assert event_from_json({"kind": "grade", "contact_id": "c1", "grade": "lead", "old": "B1", "new": "A1",
                            "change_id": "x"}) == GradeChanged("c1", "lead", "B1", "A1", 0, "x", 0)
