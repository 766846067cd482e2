"""Ingest remembers each idempotency key of a period as a 64-bit hash in one of its partition's seen buckets (sets
of integers Redis keeps as compact intsets), on the one-trip and on the multi-step path, and still reads the seen
sets releases before it wrote (whole ``source:id`` members) until they expire."""
from __future__ import annotations

import itertools

import pytest

from app.storage.partitions import SEEN_BUCKETS, PartitionQueue, seen_entry

from .helpers import send

pytestmark = pytest.mark.also_on_cluster

PATHS = [pytest.param(True, id="one-trip"), pytest.param(False, id="steps")]


@pytest.fixture(params=PATHS)
def path(request, monkeypatch):
    """The one-trip path (a single Redis only: a cluster always takes the steps) or the multi-step path."""
    if not request.param:
        monkeypatch.setattr(PartitionQueue, "one_trip", property(lambda self: False))
    return request.param


def opened(id_: str, email: str = "ann@x.io") -> dict:
    return {"id": id_, "type": "email.opened", "contact": {"email": email}, "occurred_at": "2026-01-02T03:04:05Z"}


def period_of(services) -> int:
    return services.partitions.clock.now_ms() // 1000 // services.partitions.seen_seconds


def seen_buckets(services) -> list[str]:
    return [key for key in services.redis.scan_iter("sk:{p:*}:seen:*") if key.count(":") == 5]


def test_a_key_is_a_signed_64_bit_member_of_one_bucket():
    entries = {seen_entry(f"api:e{n}") for n in range(2000)}
    assert len({member for _bucket, member in entries}) == 2000
    assert all(0 <= bucket < SEEN_BUCKETS and -2**63 <= member < 2**63 for bucket, member in entries)
    assert {bucket for bucket, _member in entries} == set(range(SEEN_BUCKETS))
    assert seen_entry("api:e1") == seen_entry("api:e1")


@pytest.mark.parametrize("before", [pytest.param(0, id="this-period"), pytest.param(1, id="previous-period")])
def test_an_id_remembered_before_the_upgrade_is_still_a_duplicate(client, services, path, before):
    """Keys written the old way (the whole key in the partition's seen set of a period) are read until they
    expire, so an interaction received before the upgrade is answered 'duplicate' after it."""
    for partition in range(services.sharding.partitions):
        services.redis.sadd(services.keys.seen(partition, period_of(services) - before), "api:old")
    assert send(client, opened("old"), opened("new")) == {"accepted": 1, "duplicates": 1}
    assert send(client, opened("old")) == {"accepted": 0, "duplicates": 1}
    assert send(client, opened("new")) == {"accepted": 0, "duplicates": 1}
    assert all(services.redis.scard(services.keys.seen(p, period_of(services))) == (1 if before == 0 else 0)
               for p in range(services.sharding.partitions))  # the old sets are only read


def test_distinct_ids_in_the_same_bucket_are_each_kept_once(client, services, path):
    ids = (f"same-{n}" for n in itertools.count())
    first = next(ids)
    bucket = seen_entry(f"api:{first}")[0]
    sharing = [first, *itertools.islice((i for i in ids if seen_entry(f"api:{i}")[0] == bucket), 3)]
    assert send(client, *map(opened, sharing[:2])) == {"accepted": 2, "duplicates": 0}
    assert send(client, opened(sharing[2])) == {"accepted": 1, "duplicates": 0}
    assert send(client, *map(opened, sharing)) == {"accepted": 1, "duplicates": 3}
    (key,) = seen_buckets(services)
    assert key.endswith(f":{period_of(services)}:{bucket}") and services.redis.scard(key) == 4


def test_the_seen_buckets_stay_compact_and_expire_after_two_periods(client, services, path):
    sent = [opened(f"bulk-{n}", f"c{n % 40}@x.io") for n in range(600)]
    for start in range(0, len(sent), 100):
        assert send(client, *sent[start:start + 100])["accepted"] == 100
    buckets = seen_buckets(services)
    assert sum(services.redis.scard(key) for key in buckets) == 600
    assert {services.redis.object("encoding", key) for key in buckets} == {"intset"}
    assert all(0 < services.redis.ttl(key) <= 2 * services.partitions.seen_seconds for key in buckets)
    old_style = [key for key in services.redis.scan_iter("sk:{p:*}:seen:*") if key.count(":") == 4]
    assert old_style == []


def test_each_period_remembers_its_ids_in_its_own_buckets(make_app, clock, path):
    """The key names a period's requests are stored under follow the clock (``accept`` keeps them per period): an
    id sent again in the next period is still a duplicate, and a new one of the same bucket goes to the new
    period's bucket."""
    app = make_app(CLOCK=clock)
    client, services = app.test_client(), app.extensions["scorekeeper"]
    bucket = seen_entry("api:first")[0]
    second = next(i for i in (f"second-{n}" for n in itertools.count()) if seen_entry(f"api:{i}")[0] == bucket)
    with app.app_context():
        assert send(client, opened("first")) == {"accepted": 1, "duplicates": 0}
        before = period_of(services)
        clock.advance(services.partitions.seen_seconds * 1000)
        assert send(client, opened("first"), opened(second)) == {"accepted": 1, "duplicates": 1}
        assert send(client, opened(second)) == {"accepted": 0, "duplicates": 1}
        counts = {key.rsplit(":", 2)[1]: services.redis.scard(key) for key in seen_buckets(services)}
        assert counts == {str(before): 1, str(before + 1): 1}
