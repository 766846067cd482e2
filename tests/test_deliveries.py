"""Webhook deliveries: a real receiver verifying Standard Webhooks signatures; retries, dead letters."""
from __future__ import annotations

import json
import random
import socket
from datetime import UTC

import pytest
import responses

from app.automation.deliveries import classify, next_delay, retry_after_seconds, signed_headers

from .helpers import AUTH
from .workflow_helpers import (
    FAST,
    SECRET,
    Reply,
    delivery_of,
    fire,
    hook,
    interact,
    run_jobs,
    run_now,
    runs_of,
    settled,
    workflow,
)


pytestmark = pytest.mark.app_settings(**FAST)


def test_a_signed_webhook_is_delivered_once_and_verifies(client, services, receiver):
    url = receiver.on("/crm", Reply(200, body=b"thanks"))
    run = fire(client, services, url, headers={"X-Source": "scorekeeper"})
    delivery = settled(client, services, run, "succeeded")
    [hit] = receiver.hits("/crm")
    assert hit.verified
    assert hit.headers["webhook-id"] == delivery["id"]
    assert hit.headers["x-source"] == "scorekeeper"
    body = json.loads(hit.body)
    cid = services.contacts.find_contact(email="ann@example.com")
    assert body == {"type": "score.trigger", "run_id": run["id"], "workflow": {"id": "hot", "name": "Hot"},
                    "contact": {"id": cid, "email": "ann@example.com", "tags": []},
                    "score": {"profile": "engagement", "old": 0, "new": 10}, "occurred_at": body["occurred_at"]}
    assert body["occurred_at"].endswith("Z")
    [attempt] = delivery["attempts"]
    assert (attempt["status_code"], attempt["response_excerpt"]) == (200, "thanks")
    assert attempt["duration_ms"] >= 0
    assert "secret" not in delivery
    assert client.get(f"/v1/runs/{run['id']}", headers=AUTH).get_json()["steps"][0]["delivery"]["status"] == \
        "succeeded"


def test_5xx_and_429_are_retried_with_the_same_webhook_id(client, services, receiver):
    url = receiver.on("/crm", Reply(500), Reply(429), Reply(503), Reply(200))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "succeeded")
    hits = receiver.hits("/crm")
    assert len(hits) == 4 and all(h.verified for h in hits)
    assert {h.headers["webhook-id"] for h in hits} == {delivery["id"]}
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 429, 503, 200]


def test_after_the_last_retry_the_delivery_is_dead_lettered_and_can_be_redelivered(client, services, receiver):
    url = receiver.on("/crm", Reply(500))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "dead")
    assert len(delivery["attempts"]) == 4  # the first attempt and three retries (schedule 10ms,10ms,10ms)
    dead = client.get("/v1/deliveries", query_string={"status": "dead"}, headers=AUTH).get_json()["items"]
    assert [d["id"] for d in dead] == [delivery["id"]]
    receiver.on("/crm", Reply(204))
    resp = client.post(f"/v1/deliveries/{delivery['id']}/redeliver", headers=AUTH)
    assert resp.status_code == 202
    delivery = settled(client, services, run, "succeeded")
    assert receiver.hits("/crm")[-1].headers["webhook-id"] == delivery["id"]
    assert client.get("/v1/deliveries", query_string={"status": "dead"}, headers=AUTH).get_json()["items"] == []
    assert len(client.get("/v1/deliveries", headers=AUTH).get_json()["items"]) == 1


def test_redelivering_a_delivery_in_flight_is_a_conflict(client, services, receiver):
    url = receiver.on("/crm", Reply(200))
    run = fire(client, services, url)
    delivery_id = run["steps"][0]["delivery_id"]
    services.automation.save_delivery({**services.automation.get_delivery(delivery_id),
                                              "status": "retrying"})
    assert client.post(f"/v1/deliveries/{delivery_id}/redeliver", headers=AUTH).status_code == 409
    assert client.post("/v1/deliveries/msg_nope/redeliver", headers=AUTH).status_code == 404


def test_retry_after_is_honoured(make_app, receiver):
    app = make_app(**FAST)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        # 4 s: far more than the first attempt and the check below take, even on a loaded machine
        url = receiver.on("/crm", Reply(429, headers={"Retry-After": "4"}), Reply(200))
        run = fire(client, services, url)
        run_jobs(services)
        delivery = delivery_of(client, run)
        assert delivery["status"] == "retrying"
        assert delivery["next_attempt_at"] - delivery["attempts"][0]["at"] >= 4000
        run_jobs(services)
        assert len(receiver.hits("/crm")) == 1  # not before Retry-After, although the schedule says 10 ms
        settled(client, services, run, "succeeded", timeout=20)
        first, second = receiver.hits("/crm")
        assert second.at - first.at >= 3.9


def test_410_disables_the_endpoint(client, services, receiver):
    url = receiver.on("/crm", Reply(410))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "dead")
    assert len(delivery["attempts"]) == 1 and "410" in delivery["error"]
    interact(client, services, "bob@example.com", "email.clicked", "c2")
    second = next(r for r in runs_of(client, "hot") if r["id"] != run["id"])
    other = settled(client, services, second, "dead")
    assert "endpoint disabled" in other["attempts"][0]["error"]
    assert len(receiver.hits("/crm")) == 1  # the disabled endpoint was not called again
    receiver.on("/crm", Reply(200))
    client.post(f"/v1/deliveries/{other['id']}/redeliver", headers=AUTH)
    settled(client, services, second, "succeeded")


def test_a_redirect_is_a_failure_and_is_not_followed(client, services, receiver):
    target = receiver.on("/elsewhere", Reply(200))
    url = receiver.on("/crm", Reply(302, headers={"Location": target}))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "dead")
    assert delivery["attempts"][0]["status_code"] == 302
    assert "redirect" in delivery["error"] or "302" in delivery["error"]
    assert receiver.hits("/elsewhere") == []


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_other_4xx_fail_without_retry(client, services, receiver, status):
    url = receiver.on("/crm", Reply(status))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "dead")
    assert len(delivery["attempts"]) == 1


def test_timeouts_are_retried(make_app, receiver):
    app = make_app(**{**FAST, "WEBHOOK_TIMEOUT_SECONDS": 0.2})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        url = receiver.on("/slow", Reply(200, delay=0.5), Reply(200))
        run = fire(client, services, url)
        delivery = settled(client, services, run, "succeeded")
        assert "timed out" in delivery["attempts"][0]["error"]
        assert delivery["attempts"][1]["status_code"] == 200


def test_connection_errors_are_retried_then_dead_lettered(client, services):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    run = fire(client, services, f"http://127.0.0.1:{port}/closed")
    delivery = settled(client, services, run, "dead")
    assert len(delivery["attempts"]) == 4
    assert all("connection failed" in a["error"] for a in delivery["attempts"])


def test_webhooks_to_internal_addresses_are_refused(make_app, receiver):
    app = make_app(**{**FAST, "OUTBOUND_ALLOW": ""})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        run = fire(client, services, receiver.on("/crm", Reply(200)))
        delivery = settled(client, services, run, "dead")
    assert len(delivery["attempts"]) == 1 and "refused" in delivery["error"]
    assert receiver.hits("/crm") == []


# --- unit tests of the pieces (outbound HTTP mocked with `responses`) --------------------------
@pytest.mark.parametrize(("status", "outcome"), [
    (200, "success"), (204, "success"), (299, "success"), (301, "fail"), (302, "fail"), (400, "fail"),
    (404, "fail"), (410, "gone"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
])
def test_classify(status, outcome):
    assert classify(status) == outcome


def test_full_jitter_stays_within_the_scheduled_delay():
    rng = random.Random(7)
    delays = [next_delay([300.0], 1, None, rng) for _ in range(200)]
    assert all(0 <= d <= 300 for d in delays) and max(delays) > 200 and min(delays) < 100


def test_retry_after_raises_the_delay():
    assert next_delay([0.01], 1, 30.0) == 30.0


@pytest.mark.parametrize(("header", "seconds"), [
    ("120", 120.0), ("0", 0.0), (None, None), ("soon", None), ("999999999", 86400.0),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
])
def test_retry_after_parsing(header, seconds):
    assert retry_after_seconds(header) == seconds


def test_retry_after_http_date_in_the_future():
    import email.utils
    import time

    header = email.utils.formatdate(time.time() + 60, usegmt=True)
    assert 55 <= retry_after_seconds(header) <= 61


@responses.activate
def test_signature_headers_verify_with_the_package():
    from datetime import datetime

    from standardwebhooks import Webhook

    from app.outbound import GuardedAdapter  # noqa: F401 - the adapter is replaced by `responses` here

    delivery = {"id": "msg_1", "secret": SECRET, "body": json.dumps({"a": 1}), "headers": {"X-A": "b"}}
    headers = signed_headers(delivery, datetime.now(tz=UTC))
    assert Webhook(SECRET).verify(delivery["body"], headers) == {"a": 1}
    assert headers["X-A"] == "b" and headers["content-type"] == "application/json"
    responses.add(responses.POST, "https://crm.example.com/hook", status=200)
    import requests

    requests.post("https://crm.example.com/hook", data=delivery["body"], headers=headers, timeout=1)
    sent = responses.calls[0].request
    assert Webhook(SECRET).verify(sent.body, dict(sent.headers)) == {"a": 1}


# --- the run and the step show the delivery's outcome -------------------------------------------
def test_a_run_whose_delivery_the_ssrf_guard_refused_reads_failed(make_app, receiver):
    app = make_app(**{**FAST, "OUTBOUND_ALLOW": ""})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        run = fire(client, services, receiver.on("/crm", Reply(200)))
        settled(client, services, run, "dead")
    shown = run_now(client, run)
    assert shown["status"] == "failed" and "refused" in shown["error"]
    step = shown["steps"][0]
    assert step["status"] == "failed" and step["delivery"]["status"] == "dead" and "refused" in step["error"]


def test_a_run_reads_delivering_until_its_delivery_settles_then_follows_it(client, services, receiver):
    url = receiver.on("/crm", Reply(500))
    run = fire(client, services, url)
    assert run_now(client, run)["status"] in ("delivering", "failed")
    settled(client, services, run, "dead")
    assert run_now(client, run)["status"] == "failed"
    receiver.on("/crm", Reply(204))
    assert client.post(f"/v1/deliveries/{delivery_of(client, run)['id']}/redeliver", headers=AUTH).status_code == 202
    shown = run_now(client, run)
    assert shown["status"] == "delivering" and shown["steps"][0]["status"] == "delivering"
    settled(client, services, run, "succeeded")
    shown = run_now(client, run)
    assert shown["status"] == "succeeded" and shown["steps"][0]["status"] == "succeeded"


# --- the first attempt is the run job's own ---------------------------------------------------------
def test_the_run_job_makes_the_first_attempt_after_saving_the_run(client, services, receiver):
    from rq.job import Job

    url = receiver.on("/crm", Reply(200, delay=0.3))
    run = fire(client, services, url)
    delivery = delivery_of(client, run)
    assert delivery["status"] == "succeeded" and len(delivery["attempts"]) == 1
    [hit] = receiver.hits("/crm")
    stored = services.automation.get_run(run["id"])
    assert stored["status"] == "succeeded" and stored["updated_at"] <= hit.at * 1000  # saved before the request
    # no job was queued for it (RQ keeps a finished delivery job's record for an hour), nor is it left awaiting one
    assert not Job.exists(f"{delivery['id']}-0-1", connection=services.queue.connection)
    assert services.automation.awaiting_attempt(2**62) == []


def test_a_first_attempt_that_fails_is_retried_by_a_queued_job(client, services, receiver):
    url = receiver.on("/crm", Reply(503), Reply(200))
    run = fire(client, services, url)
    delivery = settled(client, services, run, "succeeded")
    assert [a["status_code"] for a in delivery["attempts"]] == [503, 200]
    assert services.automation.awaiting_attempt(2**62) == []


def test_a_first_attempt_its_run_job_died_before_making_is_queued_by_the_ticker(app, client, services, receiver):
    """A real worker SIGKILLed while its run job's first attempt waits for the receiver: the delivery stays
    awaiting; once past the grace (here 0; a run job's time limit in production) the ticker's ``queue_awaiting``
    queues the attempt, and the receiver gets the same webhook-id again."""
    import signal

    from app.automation.deliveries import AWAITING_GRACE_MS, queue_awaiting
    from app.clock import now_ms

    from .conftest import TEST_REDIS_URL
    from .helpers import send, wait_for
    from .processes import start_worker, stop
    from .workflow_helpers import put_workflow, setup_profile

    url = receiver.on("/crm", Reply(200, delay=30), Reply(200))
    setup_profile(client, services)
    put_workflow(client, workflow("hot", [hook(url)]))
    process = start_worker(TEST_REDIS_URL, ARCHIVE_URL=app.config["ARCHIVE_URL"],
                           **{k: str(v) for k, v in FAST.items()})
    try:
        send(client, {"id": "c1", "type": "email.clicked", "contact": {"email": "ann@example.com"}})
        wait_for(lambda: receiver.hits("/crm"), timeout=30)
    finally:
        stop(process, signal.SIGKILL)
    [run] = runs_of(client, "hot")
    delivery_id = run["steps"][0]["delivery_id"]
    assert services.automation.get_delivery(delivery_id)["attempts"] == []
    assert queue_awaiting(services, now_ms()) == 0  # within the grace a run job may still be running
    assert services.automation.awaiting_attempt(now_ms() + AWAITING_GRACE_MS) == [delivery_id]
    assert queue_awaiting(services, now_ms(), grace_ms=0) == 1
    assert queue_awaiting(services, now_ms(), grace_ms=0) == 0  # queued once
    delivery = settled(client, services, run, "succeeded")
    first, second = receiver.hits("/crm")
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == delivery_id
    assert len(delivery["attempts"]) == 1
