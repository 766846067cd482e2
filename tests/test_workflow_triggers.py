"""The pure trigger matcher: operators, fire modes, reentry, tag filters and the index."""
from __future__ import annotations

import itertools

import pytest

from app.automation.triggers import (
    InteractionTrigger,
    ScoreTrigger,
    TagFilters,
    TriggerIndex,
    Workflow,
    event_fires,
    should_start,
)

#: Per operator (value 50 for the numeric ones): a change that makes the condition become true
#: ("enter"), one after which it still holds ("stay"), and one after which it does not ("miss").
TRANSITIONS = {
    "eq": {"enter": (40, 50), "stay": (50, 50), "miss": (50, 51)},
    "ne": {"enter": (50, 51), "stay": (40, 41), "miss": (49, 50)},
    "gt": {"enter": (50, 51), "stay": (60, 70), "miss": (60, 50)},
    "gte": {"enter": (49, 50), "stay": (50, 60), "miss": (50, 49)},
    "lt": {"enter": (50, 49), "stay": (40, 30), "miss": (49, 50)},
    "lte": {"enter": (51, 50), "stay": (50, 40), "miss": (50, 51)},
    "empty": {"enter": (5, None), "stay": (None, None), "miss": (None, 0)},
    "not_empty": {"enter": (None, 0), "stay": (0, 5), "miss": (5, None)},
}


def _cases():
    for op, kind, fire, reentry, ran_before in itertools.product(
            TRANSITIONS, ("enter", "stay", "miss"), ("on_enter", "on_change"), (False, True), (False, True)):
        fires = kind == "enter" or (kind == "stay" and fire == "on_change")
        expected = fires and (reentry or not ran_before)
        case_id = f"{op}-{kind}-{fire}-{'reentry' if reentry else 'once'}-{'ran' if ran_before else 'new'}"
        yield pytest.param(op, TRANSITIONS[op][kind], fire, reentry, ran_before, expected, id=case_id)


@pytest.mark.parametrize(("op", "change", "fire", "reentry", "ran_before", "expected"), list(_cases()))
def test_operator_fire_mode_and_reentry(op, change, fire, reentry, ran_before, expected):
    value = None if op in ("empty", "not_empty") else 50
    trigger = ScoreTrigger("engagement", op, value, fire, reentry)
    old, new = change
    assert should_start(trigger, trigger.fires(old, new), [], ran_before) is expected


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "gte", "lt", "lte"])
def test_numeric_operators_are_false_on_an_empty_score(op):
    trigger = ScoreTrigger("engagement", op, 50, "on_change")
    assert not trigger.holds(None)
    assert not trigger.fires(70, None)


@pytest.mark.parametrize(("op", "old", "new", "fires"), [
    pytest.param("gte", None, 60, True, id="first-score-above-enters"),
    pytest.param("lt", None, 0, True, id="first-score-zero-enters-lt"),
    pytest.param("gte", 50, 60, False, id="gte-50-not-again-on-50-to-60"),
    pytest.param("eq", 60, 50, True, id="eq-fires-when-dropping-to-exactly"),
])
def test_on_enter_examples_from_the_issue(op, old, new, fires):
    assert ScoreTrigger("engagement", op, 50).fires(old, new) is fires


@pytest.mark.parametrize(("filters", "tags", "passes"), [
    pytest.param(TagFilters(), [], True, id="no-filters"),
    pytest.param(TagFilters(tags_all=("lead",)), ["lead", "x"], True, id="all-present"),
    pytest.param(TagFilters(tags_all=("lead", "b2b")), ["lead"], False, id="all-missing-one"),
    pytest.param(TagFilters(tags_none=("customer",)), ["lead"], True, id="none-absent"),
    pytest.param(TagFilters(tags_none=("customer",)), ["customer"], False, id="none-present"),
    pytest.param(TagFilters(("lead",), ("customer",)), ["lead", "customer"], False, id="both-fail-on-none"),
    pytest.param(TagFilters(("lead",), ("customer",)), ["lead"], True, id="both-pass"),
])
def test_tag_filters(filters, tags, passes):
    trigger = ScoreTrigger("engagement", "gte", 50, filters=filters)
    assert should_start(trigger, True, tags, False) is passes


def _workflow(wid, trigger, enabled=True):
    return Workflow(wid, wid, trigger, ({"type": "add_tag", "tag": "x"},), enabled)


def test_index_groups_enabled_workflows_by_profile_and_type():
    hot = _workflow("hot", ScoreTrigger("engagement", "gte", 50))
    cold = _workflow("cold", ScoreTrigger("engagement", "lt", 10))
    fit = _workflow("fit", ScoreTrigger("fit", "gte", 1))
    off = _workflow("off", ScoreTrigger("other", "gte", 1), enabled=False)
    form = _workflow("form", InteractionTrigger("form.submitted", {"form_id": "demo"}))
    index = TriggerIndex.build([hot, cold, fit, off, form])
    assert index.interest == ({"engagement", "fit"}, {"form.submitted"})
    event = {"kind": "score", "profile": "engagement", "old": 40, "new": 55, "contact_id": "c1", "change_id": "x"}
    assert [w.id for w in index.candidates(event)] == ["cold", "hot"]
    assert [w.id for w in index.fired(event)] == ["hot"]


def test_interaction_trigger_uses_where():
    form = _workflow("form", InteractionTrigger("form.submitted", {"form_id": "demo", "pages": {"gte": 2}}))
    index = TriggerIndex.build([form])

    def event(props, type_="form.submitted"):
        return {"kind": "interaction", "contact_id": "c1", "change_id": "ix",
                "record": {"id": "1", "src": "api", "t": type_, "at": 1, "p": props}}

    assert index.fired(event({"form_id": "demo", "pages": 3})) == [form]
    assert index.fired(event({"form_id": "demo", "pages": 1})) == []
    assert index.fired(event({"form_id": "other", "pages": 3})) == []
    assert index.fired(event({"form_id": "demo", "pages": 3}, "email.opened")) == []


def test_a_score_trigger_ignores_other_profiles_and_interactions():
    workflow = _workflow("hot", ScoreTrigger("engagement", "gte", 50))
    assert not event_fires(workflow, {"kind": "score", "profile": "fit", "old": 0, "new": 60})
    assert not event_fires(workflow, {"kind": "interaction", "record": {"t": "form.submitted", "p": {}}})
