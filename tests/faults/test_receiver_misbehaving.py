"""Fault 3: a webhook receiver that refuses connections, fails, hangs and throttles before recovering.

tests/test_deliveries.py covers each misbehaviour alone (5xx/429 retried with one webhook-id,
Retry-After honoured, 410 disables, redirects not followed, timeouts, dead letters and
redelivery). This adds the sequence a real outage produces — the receiver's port closed, then
500, a timeout, 429 with Retry-After, then 200 — as one delivery on the private Redis: every
attempt verifies and carries the same ``webhook-id``, and the delivery ends succeeded.
"""

from __future__ import annotations

import pytest

import threading
from http.server import ThreadingHTTPServer

from ..test_deliveries import delivery_of, fire, settled
from ..workflow_helpers import FAST, Reply

#: On a private redis-server the test may kill, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis


def reopen(receiver, port: int) -> None:
    """Serve the receiver's script again on its old port (it was closed: connections refused)."""
    receiver.server = ThreadingHTTPServer(("127.0.0.1", port), receiver.server.RequestHandlerClass)
    receiver.server.daemon_threads = True
    receiver.thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    receiver.thread.start()


def test_a_delivery_outlives_a_receiver_outage_with_one_webhook_id(make_app, receiver):
    app = make_app(
        **{**FAST, "WEBHOOK_RETRY_SCHEDULE": "6s,10ms,10ms,10ms,10ms,10ms", "WEBHOOK_TIMEOUT_SECONDS": 0.3}
    )
    client = app.test_client()
    url = receiver.on(
        "/crm", Reply(500), Reply(200, delay=0.6), Reply(429, headers={"Retry-After": "1"}), Reply(200)
    )
    port = receiver.server.server_address[1]
    receiver.close()  # the receiver is down: connection refused
    with app.app_context():
        services = app.extensions["scorekeeper"]
        run = fire(client, services, url)
        refused = delivery_of(client, run)
        assert refused["status"] == "retrying", refused
        # one: the first retry waits 6 s, far more than firing takes even on a loaded machine; the
        # schedule leaves room for two more before the four attempts checked below
        refusals = len(refused["attempts"])
        assert refusals <= 3 and all(a["error"].startswith("connection failed") for a in refused["attempts"])
        reopen(receiver, port)
        delivery = settled(client, services, run, "succeeded", timeout=30)
    outcomes = [a.get("status_code") or a["error"] for a in delivery["attempts"][refusals:]]
    assert "timed out" in outcomes[1]
    assert [outcomes[0], *outcomes[2:]] == [500, 429, 200]
    hits = receiver.hits("/crm")
    assert len(hits) == 4 and all(h.verified for h in hits)  # the refused attempts never arrived
    assert {h.headers["webhook-id"] for h in hits} == {delivery["id"]}
    assert hits[3].at - hits[2].at >= 0.95  # Retry-After: 1 was honoured, not the 10 ms schedule
