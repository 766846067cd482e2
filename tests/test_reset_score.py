"""Resetting a score: by hand (``{"reset": true, "reason"}``) and by the workflow step ``reset_score``. The
score goes to 0 with the reason in the ledger; the history stays; earlier points stop expiring and decaying.
And the other way round: a decay step, on time with no request, starts a score workflow."""
from __future__ import annotations

import pytest

from app.auth import key_actor
from app.automation.config import validate_document

from .helpers import API_KEY, AUTH, contact_by_email, score_of
from .workflow_helpers import (
    FAST,
    contact_id,
    interact,
    put_workflow,
    runs_of,
    setup_profile,
    workflow,
)


pytestmark = pytest.mark.app_settings(**FAST)


def history(client, cid, profile="engagement"):
    return client.get(f"/v1/contacts/{cid}/scores/{profile}/history", headers=AUTH).get_json()["items"]


def test_a_reset_by_hand_sets_zero_and_keeps_the_history(client, services):
    setup_profile(client, services)
    interact(client, services, "ann@example.com", "email.clicked", "c1")
    cid = contact_by_email(client, "ann@example.com")["id"]
    resp = client.post(f"/v1/contacts/{cid}/scores/engagement", headers=AUTH,
                       json={"reset": True, "reason": "new buying cycle"})
    assert resp.status_code == 200 and resp.get_json()["score"] == 0
    items = history(client, cid)
    assert [(h["reason"], h["change"], h["note"]) for h in items] == [
        ("manual", -10, f"reset: new buying cycle (changed by {key_actor(API_KEY)})"), ("matched", 10, None)]
    interact(client, services, "ann@example.com", "email.opened", "o1")
    assert score_of(client, "ann@example.com", "engagement") == 5


@pytest.mark.parametrize("body,message", [
    pytest.param({"reset": False, "reason": "x"}, "only true", id="false"),
    pytest.param({"reset": True, "set": 0, "reason": "x"}, "exactly one", id="with-set"),
    pytest.param({"reset": True}, "required", id="no-reason"),
])
def test_a_bad_reset_is_a_400(client, services, body, message):
    setup_profile(client, services)
    interact(client, services, "ann@example.com", "email.clicked", "c1")
    cid = contact_by_email(client, "ann@example.com")["id"]
    resp = client.post(f"/v1/contacts/{cid}/scores/engagement", headers=AUTH, json=body)
    assert resp.status_code == 400 and message in str(resp.get_json()["errors"])
    assert score_of(client, "ann@example.com", "engagement") == 10


def test_the_reset_score_step_sets_zero_with_its_reason(client, services):
    setup_profile(client, services)
    put_workflow(client, workflow("fresh", [{"type": "reset_score", "profile": "engagement",
                                             "reason": "handed to sales"}]))
    interact(client, services, "bo@example.com", "email.clicked", "c1")
    [run] = runs_of(client, "fresh")
    assert run["status"] == "succeeded", run
    assert score_of(client, "bo@example.com", "engagement") == 0
    entry = history(client, contact_id(services, "bo@example.com"))[0]
    assert (entry["reason"], entry["source"], entry["change"], entry["note"]) == \
        ("manual", "workflow", -10, "reset: handed to sales")


@pytest.mark.parametrize("step,field", [
    pytest.param({"type": "reset_score", "profile": "engagement"}, "reason", id="no-reason"),
    pytest.param({"type": "reset_score", "reason": "x"}, "profile", id="no-profile"),
    pytest.param({"type": "reset_score", "profile": "engagement", "reason": "x", "set": 0}, "set", id="unknown-field"),
])
def test_a_reset_score_step_needs_a_profile_and_a_reason(step, field):
    problems = validate_document(workflow("w", [step]))
    assert any(line.startswith(f"steps[0].{field}: ") for line in problems), problems


# --- decay drives workflows on time ------------------------------------------------------------

def test_a_decay_step_on_time_starts_a_score_workflow_with_no_request(client, services):
    from app.scoring.interactions import format_timestamp
    from app.clock import now_ms

    from .helpers import expire_due, publish_profile, send, settle, wait_for

    publish_profile(client, services, "engagement", [
        {"id": "demo", "on": "form.submitted", "points": 10, "decay": {"percent": 50, "every": "30d"}}])
    # submitted a period ago, less two seconds: its first step (10 → 5) falls in about two seconds
    send(client, {"id": "f1", "type": "form.submitted", "contact": {"email": "cy@example.com"},
                  "occurred_at": format_timestamp(now_ms() - 30 * 86_400_000 + 2000)})
    settle(services)
    assert score_of(client, "cy@example.com", "engagement") == 10
    put_workflow(client, workflow("cooling", [{"type": "add_tag", "tag": "cooling"}], operator="lt", value=8))
    wait_for(lambda: expire_due(services) or runs_of(client, "cooling"), timeout=15)
    [run] = runs_of(client, "cooling")
    assert (run["trigger"]["old"], run["trigger"]["new"]) == (10, 5)
    settle(services)
    assert services.contacts.get_contact(contact_id(services, "cy@example.com"))["tags"] == ["cooling"]
