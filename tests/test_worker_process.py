"""The real worker process scores what the API accepted, without help from requests."""
from __future__ import annotations

import signal

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, put_profile, score_of, send, wait_for
from .processes import start_worker, stop


def test_publish_and_scoring_happen_in_the_worker(client, worker):
    put_profile(client, "eng", [{"id": "open", "on": "email.opened", "points": 4}])
    job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
    wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished")
    send(client, *[{"id": f"o{i}", "type": "email.opened", "contact": {"email": "w@x.io"}} for i in range(3)])
    wait_for(lambda: score_of(client, "w@x.io", "eng") == 12)


def test_an_expiry_happens_on_time_without_any_request(client, worker):
    # 5 s: the score of 4 is seen before it expires, even on a loaded machine
    put_profile(client, "eng", [{"id": "open", "on": "email.opened", "points": 4, "expires_after": "5s"}])
    job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
    wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished")
    send(client, {"id": "o1", "type": "email.opened", "contact": {"email": "e@x.io"}})
    wait_for(lambda: score_of(client, "e@x.io", "eng") == 4)
    wait_for(lambda: score_of(client, "e@x.io", "eng") == 0, timeout=20)
    cid = client.get("/v1/contacts", query_string={"email": "e@x.io"}, headers=AUTH).get_json()["items"][0]["id"]
    ledger = client.get(f"/v1/contacts/{cid}/scores/eng/history", headers=AUTH).get_json()["items"]
    assert [e["reason"] for e in ledger] == ["expired", "matched"]


def test_accepted_interactions_survive_a_killed_worker(app, client):
    put_profile(client, "eng", [{"id": "open", "on": "email.opened", "points": 1}])
    first = start_worker(TEST_REDIS_URL)
    try:
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished")
    finally:
        stop(first, signal.SIGKILL)
    # accepted while no worker runs at all
    send(client, *[{"id": f"o{i}", "type": "email.opened", "contact": {"email": "k@x.io"}} for i in range(50)])
    assert score_of(client, "k@x.io", "eng") in (None, 0)
    second = start_worker(TEST_REDIS_URL)
    try:
        wait_for(lambda: score_of(client, "k@x.io", "eng") == 50, timeout=20)
    finally:
        stop(second)


def test_the_worker_moves_the_hot_horizon_on_time_without_any_request(app, client, services):
    """With a one-second horizon, history leaves Redis through the worker's ticker alone; the score stays."""
    process = start_worker(TEST_REDIS_URL, ARCHIVE_URL=app.config["ARCHIVE_URL"], HOT_HISTORY="1s")
    try:
        put_profile(client, "eng", [{"id": "open", "on": "email.opened", "points": 4}])
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished")
        send(client, *[{"id": f"o{i}", "type": "email.opened", "contact": {"email": "h@x.io"},
                        "occurred_at": f"2026-01-0{i + 1}T00:00:00Z"} for i in range(3)])
        wait_for(lambda: score_of(client, "h@x.io", "eng") == 12)
        cid = client.get("/v1/contacts", query_string={"email": "h@x.io"}, headers=AUTH).get_json()["items"][0]["id"]
        wait_for(lambda: services.timelines.read_timelines([cid])[cid] == [], timeout=20)
        assert score_of(client, "h@x.io", "eng") == 12
        assert services.archive.count() == 3
        ledger = client.get(f"/v1/contacts/{cid}/scores/eng/history", headers=AUTH).get_json()["items"]
        assert [e["interaction_id"] for e in ledger] == ["o2", "o1", "o0"]  # read back from the archive
    finally:
        stop(process)
