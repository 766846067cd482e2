"""Trigger semantics (docs/workflows.md "Triggers"), end to end: real scoring, real Redis, the real
claim script, RQ jobs in this process, time driven by a manual clock.

Each test feeds interactions through the API and reads the runs the API reports; expected runs
are written out by hand.
"""
from __future__ import annotations

import pytest

from app.scoring.interactions import format_timestamp

from .clock import CLOCK_START
from .helpers import AUTH, expire_due, publish, publish_profile, put_profile, send, settle
from .workflow_helpers import FAST, contact_id, put_workflow, runs_of, workflow

T0 = CLOCK_START  # where the clock fixture starts
HOUR = 3_600_000
RULES = [
    {"id": "open", "on": "email.opened", "points": 5},
    {"id": "click", "on": "email.clicked", "points": 10, "expires_after": "1h"},
    {"id": "bounce", "on": "email.bounced", "points": -10},
]


@pytest.fixture
def env(make_app, clock):
    app = make_app(**FAST, CLOCK=clock)
    with app.app_context():
        client, services = app.test_client(), app.extensions["scorekeeper"]
        publish_profile(client, services, "engagement", RULES)
        yield client, services


def hit(env, email, type_, iid, at, **properties):
    client, services = env
    send(client, {"id": iid, "type": type_, "contact": {"email": email}, "properties": properties,
                  "occurred_at": format_timestamp(at)})
    settle(services)


def changes(env, wid):
    """(old, new) of each run of the workflow, oldest first."""
    client, _ = env
    return sorted((r["trigger"]["at"], r["trigger"]["old"], r["trigger"]["new"]) for r in runs_of(client, wid))


def tag_step(tag="hot"):
    return [{"type": "add_tag", "tag": tag}]


def test_on_enter_fires_when_the_condition_becomes_true_not_while_it_stays(env):
    """reentry on, so only the fire mode stops 10 -> 15 (claim_run.lua would stop it otherwise)."""
    put_workflow(env[0], workflow("hot", tag_step(), reentry=True))
    hit(env, "a@x.io", "email.opened", "o1", T0)         # 0 -> 5: below
    hit(env, "a@x.io", "email.opened", "o2", T0 + 1)     # 5 -> 10: enters
    hit(env, "a@x.io", "email.opened", "o3", T0 + 2)     # 10 -> 15: stays
    hit(env, "a@x.io", "email.bounced", "b1", T0 + 3)    # 15 -> 5: leaves
    hit(env, "a@x.io", "email.opened", "o4", T0 + 4)     # 5 -> 10: enters again
    assert [(old, new) for _, old, new in changes(env, "hot")] == [(5, 10), (5, 10)]


def test_on_change_fires_on_every_change_after_which_the_condition_holds(env):
    put_workflow(env[0], workflow("hot", tag_step(), fire="on_change", reentry=True))
    for n in range(3):
        hit(env, "b@x.io", "email.opened", f"o{n}", T0 + n)   # 5, 10, 15
    hit(env, "b@x.io", "email.bounced", "b1", T0 + 10)         # 5: does not hold
    assert [(old, new) for _, old, new in changes(env, "hot")] == [(5, 10), (10, 15)]


def test_without_reentry_a_contact_runs_a_workflow_once_ever(env):
    put_workflow(env[0], workflow("hot", tag_step(), fire="on_change"))
    put_workflow(env[0], workflow("also", tag_step("also"), fire="on_change"))
    for n in range(3):
        hit(env, "c@x.io", "email.opened", f"o{n}", T0 + n)
    hit(env, "d@x.io", "email.clicked", "c1", T0)
    client, services = env
    assert sorted((r["contact_id"], r["trigger"]["new"]) for r in runs_of(client, "hot")) == sorted(
        [(contact_id(services, "c@x.io"), 10), (contact_id(services, "d@x.io"), 10)])
    assert len(runs_of(client, "also")) == 2  # once per contact and per workflow, not once per contact


def test_without_reentry_leaving_and_entering_again_starts_nothing(env):
    put_workflow(env[0], workflow("hot", tag_step()))
    hit(env, "e@x.io", "email.clicked", "c1", T0)        # 10: enters
    hit(env, "e@x.io", "email.bounced", "b1", T0 + 1)    # 0: leaves
    hit(env, "e@x.io", "email.clicked", "c2", T0 + 2)    # 10: enters again, but ran before
    assert [(old, new) for _, old, new in changes(env, "hot")] == [(0, 10)]


def test_a_first_score_counts_as_a_change_from_empty(env):
    put_workflow(env[0], workflow("seen", tag_step("seen"), operator="not_empty", value=None))
    hit(env, "f@x.io", "email.bounced", "b1", T0)        # first score: empty -> 0
    hit(env, "f@x.io", "email.opened", "o1", T0 + 1)     # 0 -> 5: already not empty
    assert [(old, new) for _, old, new in changes(env, "seen")] == [(None, 0)]


def test_a_new_contact_is_first_scored_0_then_changed_by_its_interaction(env):
    """Its first click is two changes: empty -> 0 (the contact gets a score) and 0 -> 10."""
    put_workflow(env[0], workflow("low", tag_step("low"), operator="lt", value=10))
    put_workflow(env[0], workflow("hot", tag_step()))
    hit(env, "p@x.io", "email.clicked", "c1", T0)
    assert [(old, new) for _, old, new in changes(env, "low")] == [(None, 0)]
    assert [(old, new) for _, old, new in changes(env, "hot")] == [(0, 10)]


def test_an_expiry_fires_the_trigger_when_it_is_applied(env, clock):
    client, services = env
    hit(env, "g@x.io", "email.clicked", "c1", T0)        # 10
    put_workflow(client, workflow("cold", tag_step("cold"), operator="lt", value=10))
    clock.advance(HOUR - 1)
    expire_due(services)
    assert runs_of(client, "cold") == []                 # the expiry is not due yet
    clock.advance(1)
    expire_due(services)
    [run] = runs_of(client, "cold")
    assert (run["trigger"]["old"], run["trigger"]["new"], run["trigger"]["cause"]["reason"]) == (10, 0, "expired")


def test_a_manual_change_fires_the_trigger(env):
    client, services = env
    put_workflow(client, workflow("hot", tag_step()))
    hit(env, "h@x.io", "email.opened", "o1", T0)
    resp = client.post(f"/v1/contacts/{contact_id(services, 'h@x.io')}/scores/engagement", headers=AUTH,
                       json={"set": 40, "reason": "called us"})
    assert resp.status_code == 200
    settle(services)
    [run] = runs_of(client, "hot")
    assert (run["trigger"]["old"], run["trigger"]["new"], run["trigger"]["cause"]["reason"]) == (5, 40, "manual")


def test_a_late_interaction_fires_with_the_change_its_refold_made(env):
    put_workflow(env[0], workflow("hot", tag_step()))
    hit(env, "i@x.io", "email.opened", "o2", T0 + 10)    # 5
    hit(env, "i@x.io", "email.opened", "o1", T0)         # late: refold to 10
    assert [(old, new) for _, old, new in changes(env, "hot")] == [(5, 10)]


def test_a_workflow_step_changing_the_score_fires_other_workflows(env):
    client, _ = env
    put_workflow(client, workflow("boost", [{"type": "adjust_score", "profile": "engagement", "add": 50,
                                             "reason": "boost"}], operator="gte", value=5))
    put_workflow(client, workflow("vip", tag_step("vip"), operator="gte", value=50))
    hit(env, "j@x.io", "email.opened", "o1", T0)         # 5: boost runs, adds 50 -> 55: vip enters
    for _ in range(3):
        settle(env[1])
    [run] = runs_of(client, "vip")
    assert (run["trigger"]["old"], run["trigger"]["new"], run["depth"]) == (5, 55, 1)


def test_a_publish_recompute_fires_only_when_asked(env):
    client, services = env
    put_workflow(client, workflow("hot", tag_step(), fire="on_change", reentry=True))
    hit(env, "k@x.io", "email.opened", "o1", T0)         # 5
    put_profile(client, "engagement", [{**RULES[0], "points": 20}, *RULES[1:]])
    publish(client, services, "engagement")              # 20, silently
    assert runs_of(client, "hot") == []
    put_profile(client, "engagement", [{**RULES[0], "points": 30}, *RULES[1:]])
    publish(client, services, "engagement", fire_triggers=True)
    settle(services)
    [run] = runs_of(client, "hot")
    assert (run["trigger"]["old"], run["trigger"]["new"], run["trigger"]["cause"]["reason"]) == (20, 30, "publish")


def test_tag_filters_are_read_when_the_trigger_fires(env):
    client, services = env
    put_workflow(client, workflow("hot", tag_step(), filters={"tags_all": ["lead"], "tags_none": ["customer"]}))
    hit(env, "l@x.io", "email.clicked", "c1", T0)        # enters without the tag "lead": no run
    cid = contact_id(services, "l@x.io")
    services.contacts.change_tags(cid, ["lead"])
    hit(env, "l@x.io", "email.bounced", "b1", T0 + 1)
    hit(env, "l@x.io", "email.clicked", "c2", T0 + 2)    # enters again with "lead": runs (never ran)
    assert changes(env, "hot") == [(T0 + 2, 0, 10)]
    services.contacts.change_tags(cid, ["customer"])
    put_workflow(client, workflow("again", tag_step(), filters={"tags_none": ["customer"]}, reentry=True))
    hit(env, "l@x.io", "email.bounced", "b2", T0 + 3)
    hit(env, "l@x.io", "email.clicked", "c3", T0 + 4)    # a customer now: no run
    assert runs_of(client, "again") == []


def test_an_interaction_trigger_fires_on_each_match_with_reentry_and_once_without(env):
    client, _ = env
    for wid, reentry in (("every", True), ("first", False)):
        put_workflow(client, {"id": wid, "name": wid, "steps": tag_step(wid),
                              "trigger": {"type": "interaction", "on": "form.submitted", "where": {"form": "demo"},
                                          "reentry": reentry}})
    for n, form in enumerate(["demo", "newsletter", "demo"]):
        hit(env, "m@x.io", "form.submitted", f"f{n}", T0 + n, form=form)
    assert sorted(r["trigger"]["interaction"]["id"] for r in runs_of(client, "every")) == ["f0", "f2"]
    assert [r["trigger"]["interaction"]["id"] for r in runs_of(client, "first")] == ["f0"]


def test_a_disabled_workflow_starts_no_runs(env):
    client, _ = env
    put_workflow(client, {**workflow("hot", tag_step()), "enabled": False})
    hit(env, "n@x.io", "email.clicked", "c1", T0)
    assert runs_of(client, "hot") == []
