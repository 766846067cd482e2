"""Fault 1: workers SIGKILLed again and again during a load; every accepted interaction is scored once."""

from __future__ import annotations

import pytest

import signal
import threading

from ..helpers import AUTH, put_profile, wait_for
from ..processes import stop
from .load import PROFILE, RULES, assert_scored_exactly_once, batches, make_load, post_batch, records_by_email

#: On a private redis-server the test may kill, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis

#: 20,000 interactions over 400 contacts (50 each, in random time order), in requests of 1,000.
LOAD, CONTACTS, PER_REQUEST = 20_000, 400, 1_000
KILLS = 3


def scored_entries(services) -> int:
    return int(services.redis.hget(services.keys.stats(), "scored_entries") or 0)


def test_killed_workers_lose_nothing_and_count_nothing_twice(client, services, workers):
    put_profile(client, PROFILE, RULES)
    worker = workers()
    client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]
    load = make_load(LOAD, CONTACTS)
    accepted: list[dict] = []
    failures: list[object] = []

    def send_all() -> None:
        for batch in batches(load, PER_REQUEST):
            response = post_batch(client, batch)
            if response.status_code != 202:
                failures.append(response.get_json())
                return
            accepted.extend(batch)

    sender = threading.Thread(target=send_all)
    sender.start()
    left_at_kill, mid_drain = [], []
    for kill in range(1, KILLS + 1):
        # kill while the worker is busy: once it has scored another share of the load
        wait_for(lambda k=kill: scored_entries(services) >= k * LOAD // (2 * KILLS + 2), timeout=60)
        stop(worker, signal.SIGKILL)
        left_at_kill.append(sum(services.partitions.partition_depths()))
        mid_drain.append(any(services.partitions.lease_held(p) for p in range(services.sharding.partitions)))
        worker = workers()
    sender.join(timeout=60)
    assert not failures and len(accepted) == LOAD
    assert all(left_at_kill), f"a kill came after the load was scored: {left_at_kill}"
    assert any(mid_drain), "no kill interrupted a drain"
    wait_for(lambda: not any(services.partitions.partition_depths()), timeout=60)
    assert assert_scored_exactly_once(client, services, records_by_email(accepted)) == CONTACTS
