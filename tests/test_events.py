"""What scoring tells the rest of the app, in its one stored form (the outbox keeps JSON between the write
and the dispatch): each field written out literally, and read back the same."""
from __future__ import annotations

import pytest

from app.scoring.events import NO_INTEREST, Interest, InteractionSeen, ScoreChanged, event_from_json
from app.scoring.records import TimelineRecord

CHANGE = ScoreChanged(contact_id="c1", profile="eng", version=3, old=10, new=25, at=1_700_000_000_123,
                      change_id="c1:eng:42", cause={"type": "payment.succeeded", "id": "pi_1"}, depth=2)
STORED_CHANGE = {"kind": "score", "contact_id": "c1", "profile": "eng", "version": 3, "old": 10, "new": 25,
                 "at": 1_700_000_000_123, "cause": {"type": "payment.succeeded", "id": "pi_1"},
                 "change_id": "c1:eng:42", "depth": 2}
RECORD = TimelineRecord("m-1", "sendgrid", "email.opened", 1_700_000_000_000, {"machine_open": False})
SEEN = InteractionSeen(contact_id="c2", record=RECORD, change_id="c2:sendgrid:m-1")
STORED_SEEN = {"kind": "interaction", "contact_id": "c2", "change_id": "c2:sendgrid:m-1",
               "record": {"id": "m-1", "src": "sendgrid", "t": "email.opened", "at": 1_700_000_000_000,
                          "p": {"machine_open": False}}}


def test_a_score_change_is_stored_with_every_field():
    assert CHANGE.to_json() == STORED_CHANGE


def test_a_seen_interaction_is_stored_with_its_timeline_record():
    assert SEEN.to_json() == STORED_SEEN


@pytest.mark.parametrize(("stored", "event"), [
    pytest.param(STORED_CHANGE, CHANGE, id="score-change"),
    pytest.param(STORED_SEEN, SEEN, id="interaction"),
])
def test_the_stored_form_reads_back_as_the_same_event(stored, event):
    assert event_from_json(stored) == event
    assert event_from_json(event.to_json()).to_json() == stored


def test_a_first_score_and_an_unpublish_carry_none_on_the_empty_side():
    first = {"kind": "score", "contact_id": "c1", "profile": "eng", "version": None, "old": None, "new": 5,
             "at": 7, "cause": {}, "change_id": "x", "depth": 0}
    assert event_from_json(first) == ScoreChanged("c1", "eng", None, None, 5, 7, "x")


def test_a_score_change_stored_by_an_older_release_reads_with_defaults():
    # before version, cause and depth were written (and `at` could be missing): none, empty, 0
    older = {"contact_id": "c1", "profile": "eng", "old": 1, "new": 2, "change_id": "x"}
    assert event_from_json(older) == ScoreChanged(contact_id="c1", profile="eng", version=None, old=1, new=2, at=0,
                                                  change_id="x", cause={}, depth=0)
    assert event_from_json({**older, "at": "12", "depth": "3"}) == ScoreChanged(
        contact_id="c1", profile="eng", version=None, old=1, new=2, at=12, change_id="x", cause={}, depth=3)


def test_a_stored_record_without_properties_reads_with_none():
    stored = {"kind": "interaction", "contact_id": "c2", "change_id": "y",
              "record": {"id": "1", "src": "api", "t": "form.submitted", "at": 5}}
    seen = event_from_json(stored)
    assert seen == InteractionSeen(contact_id="c2", record=TimelineRecord("1", "api", "form.submitted", 5, {}),
                                   change_id="y")


def test_a_seen_interaction_exposes_its_type_and_properties():
    assert (SEEN.type, dict(SEEN.properties)) == ("email.opened", {"machine_open": False})


@pytest.mark.parametrize(("interest", "wanted"), [
    pytest.param(NO_INTEREST, False, id="nobody-listens"),
    pytest.param(Interest(profiles=frozenset({"eng"})), True, id="a-score-trigger"),
    pytest.param(Interest(types=frozenset({"email.opened"})), True, id="an-interaction-trigger"),
])
def test_scoring_tells_the_listener_only_when_someone_listens(interest, wanted):
    assert bool(interest) is wanted
