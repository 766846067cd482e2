"""Runs end to end: real scoring, real Redis, RQ jobs run in this process."""
from __future__ import annotations

import dataclasses

import pytest

from app.scoring.events import NO_INTEREST, ScoreChanged

from .helpers import AUTH, settle
from .workflow_helpers import (
    FAST,
    SmtpSink,
    contact_id,
    interact,
    put_workflow,
    run_jobs,
    run_until,
    runs_of,
    scheduled_count,
    setup_profile,
    workflow,
)


#: Fast retries; and every test again with the score store on a Redis Cluster.
pytestmark = [pytest.mark.app_settings(**FAST), pytest.mark.also_on_cluster]


@pytest.fixture
def scored(client, services):
    setup_profile(client, services)
    return client, services


def test_crossing_the_line_starts_one_run_that_tags_the_contact(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "hot"}]))
    interact(client, services, "ann@example.com", "email.opened", "o1")
    assert runs_of(client, "hot") == []
    interact(client, services, "ann@example.com", "email.opened", "o2")
    [run] = runs_of(client, "hot")
    assert run["status"] == "succeeded"
    assert (run["trigger"]["old"], run["trigger"]["new"]) == (5, 10)
    assert run["steps"][0]["status"] == "succeeded" and run["steps"][0]["attempts"] == 1
    assert services.contacts.get_contact(contact_id(services, "ann@example.com"))["tags"] == ["hot"]
    assert client.get(f"/v1/runs/{run['id']}", headers=AUTH).get_json()["id"] == run["id"]
    interact(client, services, "ann@example.com", "email.opened", "o3")
    assert len(runs_of(client, "hot")) == 1  # 10 -> 15 does not enter again


def test_duplicated_and_replayed_events_start_exactly_one_run(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "hot"}], reentry=True))
    cid = "c-dup"
    services.redis.hset(services.keys.contact(cid), "email", "dup@example.com")
    event = ScoreChanged(contact_id=cid, profile="engagement", version=1, old=0, new=20, at=1,
                         change_id="engagement@1:x", cause={"reason": "recompute"})
    services.events.handle([event, dataclasses.replace(event)])
    services.events.handle([event])
    settle(services)
    [run] = runs_of(client, "hot")
    # a crash after the claim but before the run was stored: the replay creates it, once
    services.redis.delete(services.keys.run(run["id"]))
    services.events.handle([event])
    services.events.handle([event])
    assert len(runs_of(client, "hot")) == 1
    other = dataclasses.replace(event, change_id="engagement@1:y")
    services.events.handle([other])
    assert len(runs_of(client, "hot")) == 2  # a different change is a different run


@pytest.mark.parametrize(("reentry", "runs"), [pytest.param(False, 1, id="once"), pytest.param(True, 2, id="reentry")])
def test_reentry(scored, reentry, runs):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "hot"}], reentry=reentry))
    email = "bob@example.com"
    interact(client, services, email, "email.clicked", "c1")   # 10: enters
    interact(client, services, email, "email.bounced", "b1")   # 0: leaves
    interact(client, services, email, "email.clicked", "c2")   # 10: enters again
    assert len(runs_of(client, "hot")) == runs


def test_on_change_runs_on_every_change_while_the_condition_holds(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "hot"}], fire="on_change", reentry=True))
    for n in range(3):
        interact(client, services, "cat@example.com", "email.clicked", f"c{n}")
    assert len(runs_of(client, "hot")) == 3


def test_a_disabled_workflow_starts_no_runs_and_is_not_of_interest(scored):
    client, services = scored
    put_workflow(client, {**workflow("hot", [{"type": "add_tag", "tag": "hot"}]), "enabled": False})
    assert services.events.interest() == NO_INTEREST
    interact(client, services, "dan@example.com", "email.clicked", "c1")
    assert runs_of(client, "hot") == []


def test_tag_filters_are_checked_when_the_trigger_fires(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "hot"}],
                                  filters={"tags_none": ["customer"]}))
    interact(client, services, "eve@example.com", "email.opened", "o1")
    services.contacts.change_tags(contact_id(services, "eve@example.com"), ["customer"])
    interact(client, services, "eve@example.com", "email.opened", "o2")
    interact(client, services, "fay@example.com", "email.clicked", "c1")
    assert [r["contact_id"] for r in runs_of(client, "hot")] == [contact_id(services, "fay@example.com")]


def test_interaction_trigger_with_where(scored):
    client, services = scored
    put_workflow(client, {"id": "demo", "name": "Demo form",
                          "trigger": {"type": "interaction", "on": "form.submitted", "where": {"form": "demo"},
                                      "reentry": True},
                          "steps": [{"type": "add_tag", "tag": "demo-requested"}]})
    interact(client, services, "gus@example.com", "form.submitted", "f1", form="newsletter")
    interact(client, services, "gus@example.com", "form.submitted", "f2", form="demo")
    [run] = runs_of(client, "demo")
    assert run["trigger"]["interaction"]["p"] == {"form": "demo"}
    assert services.contacts.get_contact(contact_id(services, "gus@example.com"))["tags"] == ["demo-requested"]


def test_adjust_score_chains_stop_deeper_than_five(scored):
    client, services = scored
    put_workflow(client, workflow("loop", [{"type": "adjust_score", "profile": "engagement", "add": 1,
                                            "reason": "loop"}], fire="on_change", reentry=True))
    interact(client, services, "hal@example.com", "email.clicked", "c1")
    for _ in range(10):
        settle(services)
    runs = sorted(runs_of(client, "loop"), key=lambda r: r["depth"])
    assert [r["depth"] for r in runs] == [0, 1, 2, 3, 4, 5]
    assert all(r["status"] == "succeeded" for r in runs[:5])
    assert runs[5]["status"] == "failed" and "chain too deep" in runs[5]["error"]
    cid = contact_id(services, "hal@example.com")
    state = next(iter(services.contacts.get_contact(cid)["states"].values()))
    assert state.score == 15


def test_step_when_skips_a_step(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [
        {"type": "add_tag", "tag": "big", "when": {"profile": "engagement", "operator": "gte", "value": 100}},
        {"type": "add_tag", "tag": "hot", "when": {"tags_none": ["customer"]}},
    ]))
    interact(client, services, "ida@example.com", "email.clicked", "c1")
    [run] = runs_of(client, "hot")
    assert [s["status"] for s in run["steps"]] == ["skipped", "succeeded"]


def test_inbox_notification_renders_the_template(scored):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "notify", "channel": "inbox", "to": "sales",
                                           "message": "{{ contact.email }} is at {{ score.new }} on {{ profile }} "
                                                      "({{ workflow.name }})"}]))
    interact(client, services, "jo@example.com", "email.clicked", "c1")
    [note] = client.get("/v1/notifications", headers=AUTH).get_json()["items"]
    assert note["message"] == "jo@example.com is at 10 on engagement (Hot)"
    assert note["to"] == "sales"


@pytest.mark.parametrize("template", [
    pytest.param("{{ ''.__class__ }}", id="class"),
    pytest.param("{{ ''.__class__.__mro__[1].__subclasses__() }}", id="subclasses"),
    pytest.param("{{ contact.__init__.__globals__ }}", id="globals"),
])
def test_templates_are_sandboxed(scored, template):
    client, services = scored
    put_workflow(client, workflow("hot", [{"type": "notify", "channel": "inbox", "message": template}]))
    interact(client, services, "kim@example.com", "email.clicked", "c1")
    [run] = runs_of(client, "hot")
    assert run["status"] == "failed"
    assert "unsafe" in run["steps"][0]["error"] or "undefined" in run["steps"][0]["error"]
    assert client.get("/v1/notifications", headers=AUTH).get_json()["items"] == []


def test_email_goes_through_a_real_smtp_server(make_app):
    sink = SmtpSink()
    try:
        app = make_app(SMTP_URL=f"smtp://127.0.0.1:{sink.port}", SMTP_FROM="bot@scorekeeper.test")
        client = app.test_client()
        with app.app_context():
            services = app.extensions["scorekeeper"]
            setup_profile(client, services)
            put_workflow(client, workflow("hot", [{"type": "notify", "channel": "email", "to": "sales@example.com",
                                                   "subject": "Hot: {{ contact.email }}",
                                                   "message": "Score {{ score.new }}"}]))
            interact(client, services, "lee@example.com", "email.clicked", "c1")
            [run] = runs_of(client, "hot")
            assert run["status"] == "succeeded", run
        [(recipients, message)] = sink.messages
        assert recipients == ["sales@example.com"]
        assert message["Subject"] == "Hot: lee@example.com"
        assert message["From"] == "bot@scorekeeper.test"
        assert message.get_payload().strip() == "Score 10"
    finally:
        sink.close()


def test_email_retries_while_the_smtp_server_is_down_then_fails(make_app):
    sink = SmtpSink()
    port = sink.port
    sink.close()  # nothing listens there now
    app = make_app(SMTP_URL=f"smtp://127.0.0.1:{port}")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        setup_profile(client, services)
        put_workflow(client, workflow("hot", [{"type": "notify", "channel": "email", "to": "s@example.com",
                                               "message": "x"}]))
        interact(client, services, "max@example.com", "email.clicked", "c1")
        run = run_until(services, lambda: (runs_of(client, "hot") or [{}])[0].get("status") == "failed"
                        and runs_of(client, "hot")[0])
        assert run["steps"][0]["attempts"] == 2
        assert "SMTP unavailable" in run["steps"][0]["error"]


def test_slack_notification_posts_text_json(scored, receiver):
    client, services = scored
    url = receiver.url("/slack")
    put_workflow(client, workflow("hot", [{"type": "notify", "channel": "slack", "to": url,
                                           "message": "Hot lead {{ contact.email }}"}]))
    interact(client, services, "ned@example.com", "email.clicked", "c1")
    [hit] = receiver.hits("/slack")
    import json

    assert json.loads(hit.body) == {"text": "Hot lead ned@example.com"}
    assert runs_of(client, "hot")[0]["status"] == "succeeded"


def test_slack_urls_are_covered_by_the_ssrf_guard(make_app, receiver):
    app = make_app(OUTBOUND_ALLOW="")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        setup_profile(client, services)
        put_workflow(client, workflow("hot", [{"type": "notify", "channel": "slack", "to": receiver.url("/slack"),
                                               "message": "x"}]))
        interact(client, services, "oli@example.com", "email.clicked", "c1")
        [run] = runs_of(client, "hot")
    assert run["status"] == "failed" and "not a public address" in run["steps"][0]["error"]
    assert receiver.hits("/slack") == []


def test_wait_resumes_through_the_scheduler_after_a_worker_restart(scored):
    client, services = scored
    put_workflow(client, workflow("nurture", [{"type": "add_tag", "tag": "step-1"}, {"type": "wait", "duration": "5s"},
                                              {"type": "add_tag", "tag": "step-2"}]))
    interact(client, services, "pat@example.com", "email.clicked", "c1")  # worker 1 runs up to the wait, exits
    [run] = runs_of(client, "nurture")
    assert run["status"] == "waiting" and run["next_step"] == 2
    assert scheduled_count(services) == 1
    cid = contact_id(services, "pat@example.com")
    assert services.contacts.get_contact(cid)["tags"] == ["step-1"]
    run_jobs(services)  # a new worker before the time (5 s: far more than the steps above take): nothing is due
    assert runs_of(client, "nurture")[0]["status"] == "waiting"
    # a fresh worker and scheduler, with nothing from the first one but Redis
    run = run_until(services, lambda: runs_of(client, "nurture")[0]["status"] == "succeeded"
                    and runs_of(client, "nurture")[0], timeout=20)
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded", "succeeded"]
    assert services.contacts.get_contact(cid)["tags"] == ["step-1", "step-2"]


def test_an_early_duplicate_resume_job_does_nothing(scored):
    client, services = scored
    put_workflow(client, workflow("nurture", [{"type": "wait", "duration": "1h"}, {"type": "add_tag", "tag": "x"}]))
    interact(client, services, "quin@example.com", "email.clicked", "c1")
    [run] = runs_of(client, "nurture")
    from app.jobs import execute_run

    assert execute_run(run["id"]) == "waiting"
    assert services.automation.get_run(run["id"])["next_step"] == 1
