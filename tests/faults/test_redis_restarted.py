"""Fault 2: Redis killed and restarted during a load (AOF, ``appendfsync always``).

While it is down every request is refused with 503 and Retry-After, never a 202; a provider
retries, and after Redis returns every accepted interaction is scored exactly once — also the
ones of a request that was cut off half-way (its retry finds them as duplicates).
"""

from __future__ import annotations

import pytest

import threading
import time

from ..helpers import AUTH, put_profile, wait_for
from .load import PROFILE, RULES, assert_scored_exactly_once, batches, make_load, post_batch, records_by_email

#: On a private redis-server the test may kill, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis

LOAD, CONTACTS, PER_REQUEST = 10_000, 200, 250
REFUSALS_WHILE_DOWN = 3


def test_a_redis_restart_refuses_with_503_then_loses_nothing(
    client, services, workers, redis_server
):
    put_profile(client, PROFILE, RULES)
    worker = workers()
    job = client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]
    wait_for(lambda: client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished")
    load = make_load(LOAD, CONTACTS, seed=7)
    accepted: list[dict] = []
    down = threading.Event()
    sent_while_down: list[tuple[int, dict, str | None]] = []
    unexpected: list[object] = []

    def send_all() -> None:
        for batch in batches(load, PER_REQUEST):
            while True:  # a provider: retry the same delivery until it is accepted
                was_down = down.is_set()
                response = post_batch(client, batch)
                if was_down and down.is_set():
                    sent_while_down.append(
                        (response.status_code, response.get_json(), response.headers.get("Retry-After"))
                    )
                if response.status_code == 202:
                    accepted.extend(batch)
                    break
                if response.status_code != 503:
                    unexpected.append(response.get_json())
                    return
                time.sleep(0.02)  # the provider's back-off (kept short)

    sender = threading.Thread(target=send_all)
    sender.start()
    wait_for(lambda: len(accepted) >= LOAD // 4, timeout=30)
    redis_server.kill()  # mid-load: the worker is scoring, the sender is sending
    down.set()
    wait_for(lambda: len(sent_while_down) >= REFUSALS_WHILE_DOWN, timeout=30)
    down.clear()
    redis_server.start()  # same port, same directory: the AOF brings back what was acknowledged
    sender.join(timeout=60)
    assert not unexpected and len(accepted) == LOAD
    assert [(status, retry) for status, _body, retry in sent_while_down] == [(503, "5")] * len(
        sent_while_down
    )
    assert all(body["code"] == 503 for _status, body, _retry in sent_while_down)
    assert worker.poll() is None, "the worker died with Redis"
    wait_for(lambda: not any(services.partitions.partition_depths()), timeout=60)
    assert assert_scored_exactly_once(client, services, records_by_email(accepted)) == CONTACTS
