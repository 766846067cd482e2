"""The console's sentences: what a workflow's trigger and steps do, and what a ledger entry was."""
from __future__ import annotations

import pytest

from app.words import activity, duration_words, step_sentence, trigger_sentence, trigger_warnings

NAMES = {"eng": "Engagement"}


def score_trigger(operator, value=None, **extra):
    return {"type": "score_changed", "profile": "eng", "operator": operator, "value": value, **extra}


@pytest.mark.parametrize("trigger, sentence", [
    pytest.param(score_trigger("gte", 50), "When a contact's Engagement score becomes at least 50. "
                 "Each contact runs it once at most.", id="becomes-true"),
    pytest.param(score_trigger("lt", 10, fire="on_change", reentry=True),
                 "Whenever a contact's Engagement score changes and is less than 10. "
                 "A contact may run it again each time it fires.", id="every-change"),
    pytest.param(score_trigger("not_empty"), "When a contact's Engagement score gets a score. "
                 "Each contact runs it once at most.", id="not-empty"),
    pytest.param(score_trigger("ne", 3, filters={"tags_all": ["vip"], "tags_none": ["customer", "big spender"]}),
                 "When a contact's Engagement score becomes anything but 3, only for contacts tagged vip and not "
                 "tagged customer or big spender. Each contact runs it once at most.", id="tag-filters"),
    pytest.param({"type": "interaction", "on": "form.submitted", "where": {"form_id": "demo"}},
                 "When a contact's “Form submitted” interaction arrives where form is \"demo\". "
                 "Each contact runs it once at most.", id="interaction"),
])
def test_a_trigger_reads_as_a_sentence(trigger, sentence):
    assert trigger_sentence(trigger, NAMES) == sentence


@pytest.mark.parametrize("trigger, warned", [
    pytest.param(score_trigger("lt", 10), ["“is less than 10” already holds for a score of 0"], id="less-than"),
    pytest.param(score_trigger("lte", 0), ["“is at most 0” already holds"], id="at-most-zero"),
    pytest.param(score_trigger("ne", 5), ["“is not 5” already holds"], id="not-equal"),
    pytest.param(score_trigger("empty"), ["fires for every contact when the profile is unpublished"], id="empty"),
    pytest.param(score_trigger("gte", 50), [], id="no-trap"),
    pytest.param(score_trigger("gt", 0, fire="on_change", reentry=True), ["one contact may run it many times"],
                 id="every-change-again"),
])
def test_traps_are_warned_about(trigger, warned):
    warnings = trigger_warnings(trigger)
    assert len(warnings) == len(warned)
    for text, expected in zip(warnings, warned):
        assert expected in text


@pytest.mark.parametrize("step, sentence", [
    pytest.param({"type": "add_tag", "tag": "hot lead"}, "Add the tag “hot lead”", id="add-tag"),
    pytest.param({"type": "remove_tag", "tag": "cold"}, "Remove the tag “cold”", id="remove-tag"),
    pytest.param({"type": "notify", "channel": "inbox", "message": "x"}, "Notify in the dashboard inbox", id="inbox"),
    pytest.param({"type": "notify", "channel": "email", "to": "a@b.io", "message": "x"}, "Notify by email to a@b.io",
                 id="email"),
    pytest.param({"type": "webhook", "url": "https://crm.example/hook"},
                 "Send a signed webhook to https://crm.example/hook", id="webhook"),
    pytest.param({"type": "wait", "duration": "2d"}, "Wait 2 days", id="wait"),
    pytest.param({"type": "wait", "duration": "1h"}, "Wait 1 hour", id="wait-one"),
    pytest.param({"type": "adjust_score", "profile": "eng", "add": -5}, "Take away 5 points from the Engagement score",
                 id="take-away"),
    pytest.param({"type": "adjust_score", "profile": "eng", "set": 0}, "Set the Engagement score to 0", id="set"),
    pytest.param({"type": "reset_score", "profile": "eng", "reason": "sales"},
                 "Reset the Engagement score to 0 (a fresh start)", id="reset"),
])
def test_a_step_reads_as_a_sentence(step, sentence):
    assert step_sentence(step, NAMES) == sentence


@pytest.mark.parametrize("type_, properties, expected", [
    pytest.param("email.opened", {"subject": "Spring sale", "message_id": "m1"}, ("Opened email", "Spring sale"),
                 id="subject-first"),
    pytest.param("email.opened", {"message_id": "m1"}, ("Opened email", "m1"), id="message-id"),
    pytest.param("appointment.booked", {}, ("Booked appointment", None), id="nothing-named"),
    pytest.param("payment.succeeded", {"amount": 49, "currency": "usd"}, ("Payment succeeded", "49 usd"),
                 id="payment"),
    pytest.param("custom.demo_watched", {}, ('Custom event "demo_watched"', None), id="custom"),
    pytest.param("score.manual", {"reason": "called us"}, ("Score changed by hand", "called us"), id="manual"),
    pytest.param("score.manual", {"reason": "x", "add": 5, "depth": 1}, ("Score changed by a workflow", "x"),
                 id="manual-by-a-workflow"),
    pytest.param("score.manual", {"reason": "x", "set": 5, "depth": 0, "by": "ana@agency.com"},
                 ("Score changed by ana@agency.com", "x"), id="manual-by-a-person"),
    pytest.param("score.manual", {"reason": "new cycle", "reset": 0, "depth": 0}, ("Score reset to 0", "new cycle"),
                 id="reset"),
    pytest.param("score.manual", {"reason": "sales", "reset": 0, "depth": 2}, ("Score reset to 0 by a workflow", "sales"),
                 id="reset-by-a-workflow"),
])
def test_a_ledger_entry_says_what_the_contact_did(type_, properties, expected):
    assert activity(type_, properties) == expected


def test_durations_in_words():
    assert [duration_words(d) for d in ("30m", "1d", "2w")] == ["30 minutes", "1 day", "2 weeks"]


@pytest.mark.parametrize("trigger,sentence", [
    pytest.param({"type": "grade_changed", "grade": "lead", "becomes": "A1"},
                 "When a contact's Lead grade becomes A1. Each contact runs it once at most.", id="becomes-a-cell"),
    pytest.param({"type": "grade_changed", "grade": "lead", "becomes": ["A1", "A2"], "reentry": True},
                 "When a contact's Lead grade becomes one of A1, A2. A contact may run it again each time it fires.",
                 id="becomes-one-of"),
    pytest.param({"type": "grade_changed", "grade": "lead"},
                 "Whenever a contact's Lead grade changes. Each contact runs it once at most.", id="changes"),
])
def test_a_grade_trigger_reads_as_a_sentence(trigger, sentence):
    from app.words import trigger_sentence

    assert trigger_sentence(trigger, {"lead": "Lead"}) == sentence
