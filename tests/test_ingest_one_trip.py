"""A request whose interactions share a partition is stored in one round trip on a single Redis
(``ingest_one_trip.lua``, ``PartitionQueue.accept``), and it stores exactly what the multi-step path stores."""
from __future__ import annotations

import json
import time

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.storage.partitions import PartitionQueue

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, contact_by_email, send
from .hook_builders import mailgun_event, scheme, sign_stripe, stripe_event, stripe_payment_intent

#: Registry scores and ``created_at`` come from the wall clock: both paths read this one.
FROZEN_NOW = 1_790_000_000.25


@pytest.fixture
def frozen_wall_clock(monkeypatch):
    """The same creation time on both paths (contacts read ``time.time`` when they are created)."""
    class Frozen:
        @staticmethod
        def time() -> float:
            return FROZEN_NOW

    monkeypatch.setattr("app.storage.contacts.time", Frozen)
    monkeypatch.setattr("app.ingest.time", Frozen)


def mark_every_partition_woken(services) -> None:
    """A drain job is already queued everywhere (as under load): no request queues one."""
    for partition in range(services.sharding.partitions):
        services.partitions.mark_wake(partition)


def interaction(n: int, email: str | None = None, external_id: str | None = None, type_: str = "email.opened"):
    contact = {k: v for k, v in (("email", email), ("external_id", external_id)) if v is not None}
    return {"id": f"i{n}", "type": type_, "contact": contact, "occurred_at": "2026-01-02T03:04:05Z"}


def test_one_interaction_is_one_round_trip_for_a_new_and_for_a_known_contact(client, services, round_trips):
    mark_every_partition_woken(services)
    send(client, interaction(0, "warm@example.com"))  # the script is loaded once per Redis
    round_trips.clear()
    send(client, interaction(1, "ann@example.com"))
    new_contact = len(round_trips)
    round_trips.clear()
    send(client, interaction(2, "ann@example.com", "u-1"))
    known_contact = len(round_trips)
    assert (new_contact, known_contact) == (1, 1)
    ann = contact_by_email(client, "ann@example.com")
    assert ann["external_id"] == "u-1"  # the external id was linked inside the same call
    stats = services.stats.all()
    assert stats["ix|accepted|api|email.opened"] == "3"


STRIPE_SECRET = "whsec_one_trip_0123456789"


def stripe_delivery(client, n: int, email: str, secret: str = STRIPE_SECRET, customer: str | None = None):
    event = stripe_event("payment_intent.succeeded", stripe_payment_intent(email, customer, pi=f"pi_{n}"),
                         event_id=f"evt_{n}")
    body = json.dumps(event).encode()
    headers = {"Content-Type": "application/json", **sign_stripe(body, secret, int(time.time()))}
    return client.post("/hooks/stripe", data=body, headers=headers)


def test_a_signed_stripe_webhook_is_one_round_trip_for_a_new_and_for_a_known_contact(make_app, round_trips):
    """The secret (this process's last read, checked by the script), the contact, the interaction and its
    counters: one call."""
    app = make_app(STRIPE_SECRET=STRIPE_SECRET)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        mark_every_partition_woken(services)
        assert stripe_delivery(client, 0, "warm@example.com").status_code == 202
        trips = []
        for n, email in enumerate(["ann@example.com", "ann@example.com", "bob@example.com"], start=1):
            round_trips.clear()
            assert stripe_delivery(client, n, email, customer=f"cus_{n}").status_code == 202
            trips.append(len(round_trips))
        assert trips == [1, 1, 1]
        assert services.contacts.alias("stripe", "cus_3") == "bob@example.com"  # the alias, in the same call
        assert services.stats.all()["ix|accepted|stripe|payment.succeeded"] == "4"


@pytest.mark.parametrize("one_trip", [pytest.param(True, id="one-trip"), pytest.param(False, id="steps")])
def test_a_secret_changed_by_another_process_applies_to_the_next_delivery(make_app, monkeypatch, one_trip):
    """A process verifies with the secret it read last; the call that stores the delivery checks it is still
    the stored one, so a delivery signed with a replaced secret is refused and one signed with the new accepted."""
    if not one_trip:
        monkeypatch.setattr(PartitionQueue, "one_trip", property(lambda self: False))
    web, admin = make_app().test_client(), make_app().test_client()
    assert admin.put("/v1/providers/stripe", json={"secret": "whsec_first"}, headers=AUTH).status_code == 200
    assert stripe_delivery(web, 1, "ann@example.com", "whsec_first").status_code == 202  # web remembers it
    assert admin.put("/v1/providers/stripe", json={"secret": "whsec_second"}, headers=AUTH).status_code == 200
    assert stripe_delivery(web, 2, "ann@example.com", "whsec_first").status_code == 401
    assert stripe_delivery(web, 3, "ann@example.com", "whsec_second").status_code == 202
    assert admin.delete("/v1/providers/stripe", headers=AUTH).status_code == 204
    assert stripe_delivery(web, 4, "ann@example.com", "whsec_second").status_code == 404
    store = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    stored = [fields["k"] for key in store.keys("sk:{p:*}:stream") for _id, fields in store.xrange(key)]
    assert sorted(stored) == ["stripe:payment:pi_1", "stripe:payment:pi_3"]


@pytest.mark.parametrize("one_trip", [pytest.param(True, id="one-trip"), pytest.param(False, id="steps")])
def test_a_replayed_mailgun_token_stores_nothing_the_second_time(make_app, monkeypatch, one_trip):
    if not one_trip:
        monkeypatch.setattr(PartitionQueue, "one_trip", property(lambda self: False))
    mailgun = scheme("mailgun")
    client = make_app(MAILGUN_SIGNING_KEY=mailgun.secret).test_client()
    body, _ = mailgun.sign(mailgun_event("ann@example.com"), mailgun.secret, int(time.time()))
    first = client.post("/hooks/mailgun", data=body, headers={"Content-Type": "application/json"})
    store = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    before = {key: store.dump(key) for key in store.keys("sk:*") if key != "sk:stats"}
    again = client.post("/hooks/mailgun", data=body, headers={"Content-Type": "application/json"})
    assert (first.status_code, again.status_code) == (202, 401)
    assert {key: store.dump(key) for key in store.keys("sk:*") if key != "sk:stats"} == before


def test_a_duplicate_is_refused_and_counted_in_the_same_round_trip(client, services, round_trips):
    mark_every_partition_woken(services)
    assert send(client, interaction(1, "ann@example.com"))["accepted"] == 1
    round_trips.clear()
    assert send(client, interaction(1, "ann@example.com")) == {"accepted": 0, "duplicates": 1}
    assert len(round_trips) == 1
    assert services.stats.all()["ix|duplicate|api|email.opened"] == "1"


def test_an_email_linked_to_a_contact_first_known_by_its_external_id_takes_the_steps(client, services):
    """The email's own contact id is not the contact: the script writes nothing and the steps link it."""
    send(client, interaction(1, external_id="u-7"))
    first = contact_by_email(client, "lee@example.com")
    assert first is None
    send(client, interaction(2, "lee@example.com", "u-7"))
    send(client, interaction(3, "lee@example.com"))
    lee = contact_by_email(client, "lee@example.com")
    assert lee["external_id"] == "u-7"
    assert services.contacts.find_contact(external_id="u-7") == lee["id"]
    depth = sum(services.partitions.partition_depths())
    assert depth == 3


def test_the_first_request_queues_the_drain_job_of_its_partition(client, services):
    send(client, interaction(1, "ann@example.com"))
    assert services.queue.count == 1
    send(client, interaction(2, "ann@example.com"))  # the wake mark is set: no second job
    assert services.queue.count == 1


# --- the same data as the steps -----------------------------------------------------------------------------
EMAILS = st.sampled_from(["ann@a.example", "bob@b.example", "cy@a.example", None])
EXTERNAL_IDS = st.sampled_from(["u1", "u2", None])
SPEC = st.tuples(st.integers(0, 5), EMAILS, EXTERNAL_IDS, st.sampled_from(["email.opened", "email.clicked"])
                 ).filter(lambda s: s[1] is not None or s[2] is not None)
REQUESTS = st.lists(st.lists(SPEC, min_size=1, max_size=3), min_size=1, max_size=5)


def dump(client: redis.Redis) -> dict:
    """Everything stored, comparable: stream entries without their ids, TTLs left out, queued jobs counted
    (their ids are random), the migrations hash left out (a new deployment's registry records its move the first
    time a process looks, which a database flushed under the process does not repeat)."""
    out: dict = {}
    for key in sorted(client.keys("*")):
        if key.startswith("rq:") or key.endswith(":migrations"):
            continue
        kind = client.type(key)
        if kind == "string":
            out[key] = client.get(key)
        elif kind == "hash":
            out[key] = client.hgetall(key)
        elif kind == "set":
            out[key] = sorted(client.smembers(key))
        elif kind == "zset":
            out[key] = client.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            out[key] = [fields for _id, fields in client.xrange(key)]
        else:
            out[key] = (kind, client.dump(key))
    out["queued jobs"] = client.llen("rq:queue:scorekeeper")
    return out


@pytest.fixture
def still_client(make_app, clock, frozen_wall_clock):
    """A client of an app whose clocks stand still (the service clock and the wall clock contacts read)."""
    return make_app(CLOCK=clock).test_client()


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=REQUESTS)
def test_the_one_trip_path_stores_exactly_what_the_steps_store(still_client, monkeypatch, requests):
    """Any requests of interactions by email, external id or both, with repeated ids (duplicates) and identities
    linked across requests: the store after the one-trip path equals the store after the multi-step path."""
    store = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    client = still_client
    dumps = []
    for one_trip in (True, False):
        store.flushdb()
        with monkeypatch.context() as patch:
            if not one_trip:
                patch.setattr(PartitionQueue, "one_trip", property(lambda self: False))
            for request in requests:
                items = [interaction(n, email, ext, type_) for n, email, ext, type_ in request]
                body = items[0] if len(items) == 1 else {"interactions": items}
                response = client.post("/v1/interactions", json=body, headers=AUTH)
                assert response.status_code == 202, response.get_json()
        dumps.append(dump(store))
    assert dumps[0] == dumps[1]


def test_the_wall_clock_is_what_a_contact_is_created_at(client, services):
    before = int(time.time() * 1000)
    send(client, interaction(1, "ann@example.com"))
    contact = services.contacts.get_contact(contact_by_email(client, "ann@example.com")["id"])
    assert before <= contact["created_at"] <= int(time.time() * 1000)


# --- identities this process saw linked -------------------------------------------------------------------
def test_a_contact_this_process_stored_before_is_planned_without_new_contact_writes(client, services, round_trips):
    """Building a new contact's writes is most of a plan's cost: a contact this process saw linked gets none
    (the script would need none: its identities are stored)."""
    mark_every_partition_woken(services)
    send(client, interaction(0, "ann@example.com", "u-1"))
    round_trips.clear()
    send(client, interaction(1, "ann@example.com", "u-1"))
    assert len(round_trips) == 1
    assert b"HSETNX" not in b"".join(round_trips[0]) and b"ZADD" not in b"".join(round_trips[0])
    other_process = services.contacts.__class__(services.redis, services.keys, services.sharding, services.companies)
    assert [(p.email_writes is None, p.ext_writes is None) for p in other_process.plan_identities(
        [load(interaction(2, "ann@example.com", "u-1"))], time.time())] == [(False, False)]


def load(raw: dict):
    from app.interaction_schema import load_interaction

    return load_interaction(raw)


def test_a_contact_erased_since_this_process_stored_it_is_made_again_in_a_second_trip(
        still_client, round_trips):
    """The identity this process remembers is gone (the store was emptied, a contact erased): the script says so
    before writing anything, and the contact is made again exactly as a process that never saw it makes it."""
    store = redis.Redis.from_url(TEST_REDIS_URL, decode_responses=True)
    first = {"id": "a", "type": "email.opened", "contact": {"email": "ann@a.example"},
             "occurred_at": "2026-01-02T03:04:05Z"}
    assert still_client.post("/v1/interactions", json=first, headers=AUTH).status_code == 202
    store.flushdb()
    round_trips.clear()
    assert still_client.post("/v1/interactions", json=first, headers=AUTH).get_json() == {
        "accepted": 1, "duplicates": 0}
    calls = [b"".join(trip) for trip in round_trips if b"EVALSHA" in b"".join(trip)[:40]]
    assert [b"HSETNX" in call for call in calls] == [False, True]  # the plan without the writes, then with them
    remade = dump(store)
    store.flushdb()
    fresh = still_client.application.extensions["scorekeeper"].contacts
    fresh._linked.clear()  # as a process that never stored ann
    assert still_client.post("/v1/interactions", json=first, headers=AUTH).status_code == 202
    assert dump(store) == remade


def test_the_remembered_identities_are_bounded(services, monkeypatch):
    monkeypatch.setattr("app.storage.contacts.LINKED_REMEMBERED", 3)
    plans = services.contacts.plan_identities(
        [load(interaction(n, f"p{n}@example.com")) for n in range(5)], time.time())
    for plan in plans:
        services.contacts.remember_linked([plan])
    assert len(services.contacts._linked) <= 3
