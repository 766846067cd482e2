"""Fault 5: a workflow's wait step and a score's pending expiry survive a restart of every process.

Everything is killed at once — worker (SIGKILL) and Redis (SIGKILL; AOF ``appendfsync always``)
— while a run waits and an expiry is pending; new processes finish both on time. The wait and the
expiry last 15 s, far more than the set-up before the kill takes even on a loaded machine, so
"still pending" holds there and not only on a fast one.
"""

from __future__ import annotations

import pytest

import signal


from ..helpers import AUTH, put_profile, score_of, send, wait_for
from ..processes import stop
from ..workflow_helpers import put_workflow, runs_of, workflow

#: On a private redis-server the test may kill, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis


def published(client, profile_id: str) -> bool:
    return (client.get(f"/v1/profiles/{profile_id}", headers=AUTH).get_json() or {}).get(
        "version"
    ) is not None


def test_waits_and_expiries_survive_a_restart_of_everything(
    client, make_app, workers, redis_server
):
    put_profile(
        client, "engagement", [{"id": "click", "on": "email.clicked", "points": 10, "expires_after": "15s"}]
    )
    worker = workers()
    client.post("/v1/profiles/engagement/publish", json={}, headers=AUTH)
    wait_for(lambda: published(client, "engagement"))
    put_workflow(
        client,
        workflow(
            "nurture",
            [
                {"type": "add_tag", "tag": "step-1"},
                {"type": "wait", "duration": "15s"},
                {"type": "add_tag", "tag": "step-2"},
            ],
        ),
    )
    send(client, {"id": "c1", "type": "email.clicked", "contact": {"email": "pat@example.com"}})
    wait_for(lambda: (runs := runs_of(client, "nurture")) and runs[0]["status"] == "waiting")
    assert score_of(client, "pat@example.com", "engagement") == 10  # the expiry is still pending

    stop(worker, signal.SIGKILL)
    redis_server.kill()
    redis_server.start()
    client = make_app().test_client()  # a new API process: nothing but what Redis kept
    workers()

    def finished():
        run = runs_of(client, "nurture")[0]
        return run["status"] == "succeeded" and score_of(client, "pat@example.com", "engagement") == 0 and run

    run = wait_for(finished, timeout=45)
    assert [s["status"] for s in run["steps"]] == ["succeeded", "succeeded", "succeeded"]
    contact = client.get("/v1/contacts", query_string={"email": "pat@example.com"}, headers=AUTH).get_json()[
        "items"
    ][0]
    assert contact["tags"] == ["step-1", "step-2"]
    ledger = client.get(f"/v1/contacts/{contact['id']}/scores/engagement/history", headers=AUTH).get_json()[
        "items"
    ]
    assert [(e["reason"], e["change"]) for e in ledger] == [("expired", -10), ("matched", 10)]
