"""The score store on a real 3-master Redis Cluster (queues stay on the plain test Redis): it really is one,
and four workers on one load score like the reference. The API, workflow-run and backup specifications run
on the cluster too: their modules are marked ``also_on_cluster`` (tests/conftest.py)."""
from __future__ import annotations

import random

import pytest

from .conftest import TEST_REDIS_URL
from .helpers import contact_by_email, publish_profile, send, wait_for
from .processes import start_worker, stop
from .reference import reference_score

pytestmark = pytest.mark.on_cluster


def test_the_store_really_is_a_cluster(services):
    from redis.cluster import RedisCluster

    assert isinstance(services.redis, RedisCluster) and len(services.redis.get_primaries()) == 3
    assert not services.snapshot.single_node  # the backup reads each contact slot by slot


def test_four_workers_at_once_score_like_the_reference_fold(client, services, cluster):
    rules = [{"id": "open", "on": "email.opened", "points": 2},
             {"id": "unsub", "on": "email.unsubscribed", "points": -5},
             {"id": "click", "on": "email.clicked", "points": 3, "limit": {"count": 3, "window": "1h"}}]
    publish_profile(client, services, "eng", rules)
    rng = random.Random(7)
    emails = [f"w{i}@x.io" for i in range(40)]
    events = []
    for i in range(2000):
        events.append({"id": f"e{i}", "type": rng.choice(["email.opened", "email.clicked", "email.unsubscribed"]),
                       "contact": {"email": rng.choice(emails)},
                       "occurred_at": f"2026-01-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00Z"})
    # the test's own archive: these interactions are old enough for the workers' ticker to move the hot
    # horizon past them while they score, and the archive must be this deployment's, not one left by another run
    workers = [start_worker(TEST_REDIS_URL, STORE_URL=cluster.url, ARCHIVE_URL=services.settings["ARCHIVE_URL"])
               for _ in range(4)]
    try:
        for start in range(0, len(events), 250):
            batch = events[start:start + 250]
            send(client, *(batch + rng.sample(batch, 20)))  # with duplicates, out of order
        wait_for(lambda: not any(services.partitions.partition_depths()) and services.jobs.depth() == 0, timeout=60)
    finally:
        for worker in workers:
            stop(worker)
    from app.scoring.interactions import parse_timestamp_ms

    for email in emails:
        mine = [{"id": e["id"], "src": "api", "t": e["type"], "at": parse_timestamp_ms(e["occurred_at"]), "p": {}}
                for e in events if e["contact"]["email"] == email]
        expected = reference_score(rules, mine, now=2**62)
        contact = contact_by_email(client, email)
        assert contact["scores"]["eng"]["score"] == expected, email


def test_a_plain_url_to_a_cluster_node_gets_a_cluster_client(cluster):
    from redis.cluster import RedisCluster

    from app.storage.connection import connect

    assert isinstance(connect(f"redis://127.0.0.1:{cluster.ports[1]}/0"), RedisCluster)
