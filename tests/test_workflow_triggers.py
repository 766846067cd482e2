"""The pure trigger matcher: operators, fire modes, reentry, tag filters and the index."""
from __future__ import annotations

import pytest

from app.scoring.events import InteractionSeen, Interest, ScoreChanged
from app.scoring.records import TimelineRecord
from app.automation.triggers import (
    InteractionTrigger,
    ScoreTrigger,
    TagFilters,
    TriggerIndex,
    Workflow,
    event_fires,
    should_start,
)

#: Per operator (value 50 for the numeric ones) a change that makes the condition become true
#: ("enter"), one after which it still holds ("stay"), one after which it does not ("miss"):
#: whether ``on_enter`` fires, whether ``on_change`` fires. Written out, not derived.
FIRINGS = [
    ("eq", "enter", 40, 50, True, True), ("eq", "stay", 50, 50, False, True), ("eq", "miss", 50, 51, False, False),
    ("ne", "enter", 50, 51, True, True), ("ne", "stay", 40, 41, False, True), ("ne", "miss", 49, 50, False, False),
    ("gt", "enter", 50, 51, True, True), ("gt", "stay", 60, 70, False, True), ("gt", "miss", 60, 50, False, False),
    ("gte", "enter", 49, 50, True, True), ("gte", "stay", 50, 60, False, True),
    ("gte", "miss", 50, 49, False, False),
    ("lt", "enter", 50, 49, True, True), ("lt", "stay", 40, 30, False, True), ("lt", "miss", 49, 50, False, False),
    ("lte", "enter", 51, 50, True, True), ("lte", "stay", 50, 40, False, True),
    ("lte", "miss", 50, 51, False, False),
    ("empty", "enter", 5, None, True, True), ("empty", "stay", None, None, False, True),
    ("empty", "miss", None, 0, False, False),
    ("not_empty", "enter", None, 0, True, True), ("not_empty", "stay", 0, 5, False, True),
    ("not_empty", "miss", 5, None, False, False),
]


@pytest.mark.parametrize(("op", "old", "new", "on_enter", "on_change"),
                         [pytest.param(*row[:1], *row[2:], id=f"{row[0]}-{row[1]}") for row in FIRINGS])
def test_operator_and_fire_mode(op, old, new, on_enter, on_change):
    value = None if op in ("empty", "not_empty") else 50
    assert ScoreTrigger("engagement", op, value, "on_enter").fires(old, new) is on_enter
    assert ScoreTrigger("engagement", op, value, "on_change").fires(old, new) is on_change


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
    assert should_start(trigger, tags) is passes


def _workflow(wid, trigger, enabled=True):
    return Workflow(wid, wid, trigger, ({"type": "add_tag", "tag": "x"},), enabled)


def test_index_groups_enabled_workflows_by_profile_and_type():
    hot = _workflow("hot", ScoreTrigger("engagement", "gte", 50))
    cold = _workflow("cold", ScoreTrigger("engagement", "lt", 10))
    fit = _workflow("fit", ScoreTrigger("fit", "gte", 1))
    off = _workflow("off", ScoreTrigger("other", "gte", 1), enabled=False)
    form = _workflow("form", InteractionTrigger("form.submitted", {"form_id": "demo"}))
    index = TriggerIndex.build([hot, cold, fit, off, form])
    assert index.interest == Interest(frozenset({"engagement", "fit"}), frozenset({"form.submitted"}))
    event = ScoreChanged(contact_id="c1", profile="engagement", version=1, old=40, new=55, at=1, change_id="x")
    assert [w.id for w in index.candidates(event)] == ["cold", "hot"]
    assert [w.id for w in index.fired(event)] == ["hot"]


def test_interaction_trigger_uses_where():
    form = _workflow("form", InteractionTrigger("form.submitted", {"form_id": "demo", "pages": {"gte": 2}}))
    index = TriggerIndex.build([form])

    def event(props, type_="form.submitted"):
        return InteractionSeen(contact_id="c1", change_id="ix",
                               record=TimelineRecord("1", "api", type_, 1, props))

    assert index.fired(event({"form_id": "demo", "pages": 3})) == [form]
    assert index.fired(event({"form_id": "demo", "pages": 1})) == []
    assert index.fired(event({"form_id": "other", "pages": 3})) == []
    assert index.fired(event({"form_id": "demo", "pages": 3}, "email.opened")) == []


def test_a_score_trigger_ignores_other_profiles_and_interactions():
    workflow = _workflow("hot", ScoreTrigger("engagement", "gte", 50))
    assert not event_fires(workflow, ScoreChanged(contact_id="c1", profile="fit", version=1, old=0, new=60, at=1,
                                                  change_id="x"))
    assert not event_fires(workflow, InteractionSeen(contact_id="c1", change_id="ix",
                                                     record=TimelineRecord("1", "api", "form.submitted", 1, {})))


@pytest.mark.parametrize(("old", "new", "fires"), [
    pytest.param(40, 55, True, id="enters"),
    pytest.param(60, 70, False, id="already-inside"),
    pytest.param(None, 55, True, id="from-empty"),
    pytest.param(60, 40, False, id="leaves"),
])
def test_a_score_event_fires_by_its_old_and_new_score(old, new, fires):
    workflow = _workflow("hot", ScoreTrigger("engagement", "gte", 50))
    event = ScoreChanged(contact_id="c1", profile="engagement", version=1, old=old, new=new, at=1, change_id="x")
    assert event_fires(workflow, event) is fires


def test_a_disabled_workflow_is_left_out_whatever_its_place():
    workflows = [_workflow("a-off", ScoreTrigger("engagement", "gte", 1), enabled=False),
                 _workflow("b-on", ScoreTrigger("engagement", "gte", 1)),
                 _workflow("c-off", InteractionTrigger("form.submitted"), enabled=False),
                 _workflow("d-on", InteractionTrigger("form.submitted"))]
    index = TriggerIndex.build(workflows)
    assert [w.id for w in index.by_profile["engagement"]] == ["b-on"]
    assert [w.id for w in index.by_type["form.submitted"]] == ["d-on"]


def test_an_event_of_no_interest_has_no_candidates():
    index = TriggerIndex.build([_workflow("hot", ScoreTrigger("engagement", "gte", 50))])
    other_profile = ScoreChanged(contact_id="c1", profile="fit", version=1, old=0, new=60, at=1, change_id="x")
    assert index.candidates(other_profile) == ()
    assert index.candidates(InteractionSeen(contact_id="c1", change_id="ix", record=TimelineRecord("1", "api", "form.submitted", 1, {}))) == ()
    assert index.fired(other_profile) == []


def test_tag_filters_are_false_only_when_empty():
    """The run starter reads the contact's tags only for workflows whose filters are true."""
    assert [bool(f) for f in (TagFilters(), TagFilters(tags_all=("a",)), TagFilters(tags_none=("b",)))] == [
        False, True, True]


@pytest.mark.parametrize(("data", "filters"), [
    pytest.param(None, TagFilters(), id="none"),
    pytest.param({}, TagFilters(), id="empty"),
    pytest.param({"tags_all": ["vip", "eu"], "tags_none": ["churned"]}, TagFilters(("vip", "eu"), ("churned",)),
                 id="both"),
    pytest.param({"tags_none": ["churned"]}, TagFilters((), ("churned",)), id="only-none"),
    pytest.param({"tags_all": None, "tags_none": None}, TagFilters(), id="nulls"),
])
def test_tag_filters_read_from_a_trigger_or_a_steps_when(data, filters):
    assert TagFilters.from_json(data) == filters


def test_a_refusal_names_every_missing_or_unwanted_tag():
    filters = TagFilters(("vip", "eu"), ("churned", "spam"))
    assert filters.refusal([]) == "the contact is not tagged vip, eu"
    assert filters.refusal(["vip", "eu", "churned", "spam"]) == "the contact is tagged churned, spam"
    assert filters.refusal(["vip", "eu"]) is None
