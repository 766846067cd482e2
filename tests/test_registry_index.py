"""The contact registry on the compact ordered index (app/storage/registry.py, registry_ops.lua): whatever the split of
the contacts between the index and the set beside it (where ingest writes new ones, a contact linked again later
written there again at a later time, a contact without ``created_at``), every answer — counts, pages by rank oldest
and newest first, the walk's pages after a contact and how many it passed — is that of one sorted set per bucket of
each contact at its ``created_at``, ties by id; each contact is in the index once, every leaf a listpack. Before the
move is recorded, the old sets answer alone, as before. On Redis and on a 3-master cluster."""
from __future__ import annotations

import time
from typing import Any
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contact_filter import Condition, ContactFilter
from app.indexes import registry_once
from app.keys import Keys
from app.storage.connection import connect
from app.storage.queries import ContactQuery
from app.storage.redis_tools import Sharding
from app.storage.registry import REGISTRY_MIGRATION, ContactRegistry
from tests.conftest import TEST_REDIS_URL
from tests.helpers import AUTH, send, settle
from tests.test_compaction import load_layout_v1

pytestmark = pytest.mark.also_on_cluster

BUCKETS = 3
IDS = [f"c{i:02d}" for i in range(30)] + ["c1", "c10x", "b\x01z", "c\u00e9"]
#: (id, created_at in a few ms: many ties, where the contact is)
CONTACTS = st.lists(st.tuples(st.sampled_from(IDS), st.integers(-3, 3),
                              st.sampled_from(["index", "beside", "index+later", "beside+later", "no-created"])),
                    max_size=40, unique_by=lambda c: c[0])
READS = st.lists(st.tuples(st.integers(0, 45), st.integers(-1, 12)), min_size=1, max_size=5)


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def made(store, contacts, leaf_entries: int) -> tuple[ContactRegistry, dict[int, list[tuple[int, str]]]]:
    """A registry holding ``contacts`` as the strategy splits them, recorded as moved; and the model: per bucket the
    sorted (created_at, id) of one sorted set."""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=BUCKETS)
    registry = ContactRegistry(store, keys, sharding, leaf_entries=leaf_entries)
    store.hset(keys.migrations(), REGISTRY_MIGRATION, int(time.time() * 1000))
    model: dict[int, list[tuple[int, str]]] = {b: [] for b in range(BUCKETS)}
    for cid, at, place in contacts:
        bucket = sharding.bucket_of(cid)
        if place != "no-created":
            store.hset(keys.contact(cid), mapping={"created_at": at, "email": f"{cid}@x"})
        if place.startswith("index"):
            registry._ordered.add(keys.registry_index(bucket), [(at, cid)])
        if place.startswith("beside") or place == "no-created":
            store.zadd(keys.registry(bucket), {cid: at})
        if place.endswith("+later"):  # linked again: written beside at a later time
            store.zadd(keys.registry(bucket), {cid: at + 7}, nx=True)
        model[bucket].append((at, cid))
    for rows in model.values():
        rows.sort(key=lambda r: (r[0], r[1].encode()))
    return registry, model


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contacts=CONTACTS, reads=READS, leaf_entries=st.integers(2, 5))
def test_the_registry_answers_as_one_sorted_set_whatever_the_split(store, contacts, reads, leaf_entries):
    registry, model = made(store, contacts, leaf_entries)
    assert registry.count() == len(contacts)
    for start, size in reads:
        for bucket in range(BUCKETS):
            rows = model[bucket]
            want = rows[start:] if size < 0 else rows[start:start + size]
            if size != 0:
                assert registry.page(bucket, start, size if size > 0 else 10**6) == [cid for _at, cid in want]
            newest = rows[::-1]
            reply = registry._run([bucket], "revrange", start, size)[0]
            got = [(reply[i], int(reply[i + 1])) for i in range(0, len(reply), 2)]
            assert got == [(cid, at) for at, cid in (newest[start:] if size < 0 else newest[start:start + size])]
    for bucket in range(BUCKETS):
        rows = model[bucket]
        assert [cid for page in _bucket_pages(registry, bucket, 3) for cid in page] == [cid for _at, cid in rows]
        for i, (at, cid) in enumerate(rows):  # the walk after each contact, and what it passed
            assert registry.after(bucket, f"ms:{at}", cid, 4) == [(c, f"ms:{a}") for a, c in rows[i + 1:i + 5]]
            assert registry.passed(bucket, f"ms:{at}", cid) == i + 1
        assert registry.after(bucket, "", "", 2) == [(c, f"ms:{a}") for a, c in rows[:2]]
        assert not store.exists(registry.keys.registry(bucket))  # everything beside was moved in
        _listpacks(store, registry.keys.registry_index(bucket), len(rows))
    assert [max(at for at, _c in rows) for rows in model.values() if rows] == \
        [at for rows in registry.newest(1) for _cid, at in rows]


@pytest.mark.single_redis  # a cluster's beside sets are moved by the ticker (tidy), not by one call
def test_the_drain_moves_what_lies_beside_in_one_call_for_every_bucket(store):
    assert ContactRegistry(store, Keys("x"), Sharding(1, 1)).single_node
    registry, model = made(store, [(cid, i % 4, "beside+later") for i, cid in enumerate(IDS[:25])], 4)
    keys, args = registry.absorb_call(range(BUCKETS), page=1000)
    assert registry.script(keys=keys, args=args) == 25
    assert not any(store.exists(registry.keys.registry(b)) for b in range(BUCKETS))
    assert registry.newest(100) == [[(cid, at) for at, cid in reversed(model[b])] for b in range(BUCKETS)]


def test_the_ticker_moves_what_lies_beside_and_empties_the_old_sets_once_their_time_came(store):
    registry, model = made(store, [(cid, i % 4, "beside") for i, cid in enumerate(IDS[:12])], 3)
    bucket = registry.sharding.bucket_of("c99")
    old = registry.keys.contacts(bucket)
    store.zadd(old, {"c99": 1.5})  # a process of a release before wrote it after the copy
    store.hset(registry.keys.contact("c99"), "created_at", 1500)
    assert registry.tidy() == (0 if registry.single_node else 12)  # a cluster's ticker moves what lies beside; the
    assert registry.count() == 12  # record is new: the old set stays (a process may read it still)
    assert store.exists(old)
    store.hset(registry.keys.migrations(), REGISTRY_MIGRATION, 0)  # recorded long ago
    assert registry.tidy() == 1 and not store.exists(old)
    assert registry.count() == 13 and ("c99", 1500) in registry.newest(20)[bucket]


def test_a_new_deployment_has_nothing_to_move(store):
    keys = Keys(f"t{uuid.uuid4().hex[:8]}")
    assert ContactRegistry(store, keys, Sharding(partitions=4, buckets=BUCKETS)).moved()
    assert store.hexists(keys.migrations(), REGISTRY_MIGRATION)


def test_before_the_move_the_old_sets_answer_alone_and_new_contacts_go_to_both(store):
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=BUCKETS)
    store.zadd(keys.contacts(sharding.bucket_of("c98")), {"c98": 1_600_000_000.5})  # a release before's
    registry = ContactRegistry(store, keys, sharding)
    pipe = store.pipeline(transaction=False)
    for i, cid in enumerate(IDS[:10]):
        registry.new_contact(pipe, cid, 1_700_000_000.25 + i / 7)
    pipe.execute()
    by_bucket = sharding.by_bucket(IDS[:10])
    assert registry.count() == 11 and not registry.moved()
    for bucket in by_bucket:
        old = store.zrange(keys.contacts(bucket), 0, -1, withscores=True)
        assert registry.page(bucket, 0, 100) == [cid for cid, _s in old]
        assert dict(store.zrange(keys.registry(bucket), 0, -1, withscores=True)) == {
            cid: int(s * 1000) for cid, s in old if cid != "c98"}
    store.hset(keys.migrations(), REGISTRY_MIGRATION, 1)
    assert registry.moved(recheck=True)
    pipe = store.pipeline(transaction=False)
    registry.new_contact(pipe, "c99", 1_700_000_100.0)
    pipe.execute()
    assert not store.zscore(keys.contacts(sharding.bucket_of("c99")), "c99")  # beside only, once moved


def _bucket_pages(registry: ContactRegistry, bucket: int, size: int):
    start = 0
    while page := registry.page(bucket, start, size):
        yield page
        start += len(page)


def _listpacks(store, base: str, n: int) -> None:
    """Every leaf of the index is a listpack, and the leaves hold ``n`` entries."""
    held = 0
    for entry in store.zrange(base + ":d", 0, -1):
        leaf = f"{base}:l:{entry.rpartition(chr(0))[2]}"
        assert store.object("encoding", leaf) == "listpack"
        held += store.zcard(leaf)
    assert held == n


class _Counted(ContactRegistry):
    """A registry that notes, as it makes each script call, how many entries wait beside the bucket's index."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.waiting: list[int] = []

    def _call(self, bucket: int, op: str, page: int, canon: list[Any], *args: Any) -> tuple[list[str], list[Any]]:
        self.waiting.append(self.redis.zcard(self.keys.registry(bucket)))
        return super()._call(bucket, op, page, canon, *args)


READS_BETWEEN = {
    "count": lambda r, b: r.count(),
    "page": lambda r, b: r.page(b, 3, 20),
    "newest": lambda r, b: r.newest(5)[b],
    "after": lambda r, b: r.after(b, "", "", 6),
    "passed": lambda r, b: r.passed(b, "ms:30", "n"),
}


@pytest.mark.parametrize("read", sorted(READS_BETWEEN))
def test_a_read_moves_what_lies_beside_a_page_a_call_and_reads_exactly_between_pages(store, read):
    """What lies beside the index is moved in by the reads a page a script call (100,000 waiting held Redis 1.7-3.4 s
    in one call): Redis answers others between pages, and a read made between two pages answers as one sorted set
    of every contact, as it would once all is moved."""
    ids = [cid for cid in (f"n{i:03d}" for i in range(400)) if Sharding(4, BUCKETS).bucket_of(cid) == 0][:50]
    registry, model = made(store, [(cid, i % 40, "beside") for i, cid in enumerate(ids)], 4)
    registry.move_page = 8
    beside = registry.keys.registry(0)
    if registry.single_node:
        canon: list[Any] = ["h", *registry.keys.contact_parts()]
    else:  # a cluster's caller reads the first page beside and its contacts' created_at
        first = store.zrange(beside, 0, 7)
        created = [store.hget(registry.keys.contact(cid), "created_at") for cid in first]
        canon = ["p", len(first), *(x for pair in zip(first, created) for x in pair)]
    keys, args = registry._call(0, "count", 8, canon)
    assert registry.script(keys=keys, args=args) == "MORE"  # a page moved; no answer of the index alone
    assert store.zcard(beside) == 42
    reader = _Counted(store, registry.keys, registry.sharding, leaf_entries=4)
    reader.move_page = 8
    rows = model[0]
    want = {"count": len(rows), "page": [cid for _at, cid in rows[3:23]],
            "newest": [(cid, at) for at, cid in rows[::-1][:5]], "after": [(c, f"ms:{a}") for a, c in rows[:6]],
            "passed": sum(1 for at, cid in rows if (at, cid) <= (30, "n"))}[read]
    assert READS_BETWEEN[read](reader, 0) == want
    assert [n for n in reader.waiting if n] == [42, 34, 26, 18, 10, 2]  # a page a call
    assert not store.exists(beside)
    _listpacks(store, registry.keys.registry_index(0), len(rows))


# --- the registry of releases before (tests/data/layout-v1.json) ----------------------------------------------
FILTERS = [ContactFilter(), ContactFilter((Condition("tag", op="has_not", tag="nobody"),)),
           ContactFilter((Condition("activity", op="within", days=36_500),))]


def registry_readers(client, services) -> dict:
    """What reads the registry: the API's contact list page by page, filters newest first (the registry their order,
    or what drives them), the count, the walk of every contact, the backup's contacts, the archive backfill's walk."""
    query = ContactQuery(services.scores, services.contacts, services.companies)
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    now = services.clock.now_ms()
    filtered = []
    for flt in FILTERS:
        pages, cursor = [], 0
        while cursor is not None:
            page = query.run(flt, live, 7, cursor, now)
            pages.append((page["items"], page["total"]))
            cursor = page["next_cursor"]
        filtered.append(pages)
    listed, cursor = [], None
    while True:
        page = client.get("/v1/contacts?limit=9" + (f"&cursor={cursor}" if cursor else ""), headers=AUTH).get_json()
        listed.append(([c["id"] for c in page["items"]], page["total"]))
        if not (cursor := page["next_cursor"]):
            break
    walked = []
    for bucket in range(services.sharding.buckets):
        score, last = "", ""
        while found := services.archive_backfill.next_page(bucket, score, last, 4):
            walked += [cid for cid, _score in found]
            (last, score) = found[-1]
    return {"filtered": filtered, "listed": listed, "count": services.contacts.contact_count(),
            "pages": list(services.contacts.contact_pages(5)), "walked": walked,
            "backup": [c.id for page in services.snapshot.contacts() for c in page]}


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_the_registry_of_releases_before_reads_the_same_before_during_and_after_its_move(client, services):
    contact_ids = load_layout_v1(services)
    registry = services.contacts.registry
    assert not registry.moved(recheck=True)
    before = registry_readers(client, services)
    assert before["count"] == 40 and len(before["walked"]) == 40 and before["filtered"][2][0][1] > 0
    assert registry.copy_before(0, 0, 2) + registry.copy_before(2, 0, 3) > 0  # a run cut short
    assert registry_readers(client, services) == before
    bucket = max(range(services.sharding.buckets), key=lambda b: services.redis.zcard(services.keys.contacts(b)))
    begun = services.archive_backfill.next_page(bucket, "", "", 2)  # a walk begun on the old set...
    assert registry_once(services) == 40
    assert registry.moved() and services.jobs.migration_done(REGISTRY_MIGRATION) and registry_once(services) is None
    (last, score) = begun[-1]  # ...goes on in the index: every contact of the bucket once, in order
    walked = [cid for cid, _s in begun + services.archive_backfill.next_page(bucket, score, last, 100)]
    assert walked == [cid for cid in before["walked"] if services.sharding.bucket_of(cid) == bucket]
    assert registry_readers(client, services) == before
    assert registry.tidy() == 0  # the old sets stay while a process may read them
    services.redis.hset(services.keys.migrations(), REGISTRY_MIGRATION, 1)  # recorded long ago
    assert registry.tidy() == 40
    assert not any(services.redis.exists(services.keys.contacts(b)) for b in range(services.sharding.buckets))
    assert registry_readers(client, services) == before
    for bucket in range(services.sharding.buckets):
        _listpacks(services.redis, services.keys.registry_index(bucket),
                   sum(1 for cid in contact_ids if services.sharding.bucket_of(cid) == bucket))


def test_new_contacts_are_moved_in_by_the_drain_and_read_newest_first(client, services):
    send(client, {"interactions": [{"id": f"n{i}", "type": "email.opened", "contact": {"email": f"n{i}@new.io"},
                                    "occurred_at": "2026-01-01T00:00:00Z"} for i in range(30)]})
    buckets = range(services.sharding.buckets)
    assert sum(services.redis.zcard(services.keys.registry(b)) for b in buckets) == 30  # written beside by ingest
    settle(services)
    if not services.contacts.registry.single_node:
        services.contacts.registry.tidy()  # a cluster's drain leaves them to the ticker
    assert not any(services.redis.exists(services.keys.registry(b)) for b in buckets)
    newest = client.get("/v1/contacts?limit=50", headers=AUTH).get_json()
    created = {c["id"]: int(services.redis.hget(services.keys.contact(c["id"]), "created_at")) for c in newest["items"]}
    assert newest["total"] == 30 and list(created) == sorted(created, key=lambda cid: (created[cid], cid), reverse=True)


@pytest.mark.private_redis  # the server's byte counter: nothing else talks to it
@pytest.mark.single_redis  # a cluster's nodes count their bytes apart; the guard is the same code
def test_a_cursor_past_the_last_contact_reads_no_contact(client, services):
    send(client, {"interactions": [{"id": f"p{i}", "type": "email.opened", "contact": {"email": f"p{i}@past.io"},
                                    "occurred_at": "2026-01-01T00:00:00Z"} for i in range(200)]})
    settle(services)

    def page(query: str) -> tuple[dict[str, Any], int]:
        before = services.redis.info("stats")["total_net_output_bytes"]
        body = client.get(f"/v1/contacts?{query}", headers=AUTH).get_json()
        return body, services.redis.info("stats")["total_net_output_bytes"] - before

    last, _ = page("limit=10&cursor=190")
    assert len(last["items"]) == 10 and last["total"] == 200 and last["next_cursor"] is None
    first, first_bytes = page("limit=1")
    for cursor in (200, 201, 10 ** 12):
        past, past_bytes = page(f"limit=50&cursor={cursor}")
        assert past == {"items": [], "total": 200, "next_cursor": None}
        assert past_bytes <= first_bytes  # the counts, not 200 contacts (a page of one reads one from each bucket)


class _Raced(ContactRegistry):
    """A registry whose next call is built just after ``during`` ran: another process's writes landing between a
    cluster's read of what lies beside the index (and its contacts' ``created_at``) and the script call."""

    during: Any = None

    def _call(self, bucket: int, op: str, page: int, canon: list[Any], *args: Any) -> tuple[list[str], list[Any]]:
        if self.during is not None:
            self.during, during = None, self.during
            during()
        return super()._call(bucket, op, page, canon, *args)


@pytest.mark.parametrize("read", ["count", "tidy", "page"])
def test_a_contact_linked_again_while_a_read_moves_what_lies_beside_is_still_there_once(store, read):
    """On a cluster a read first takes what lies beside the index and those contacts' ``created_at``, then calls the
    script: a contact linked again in between (written beside at the later time) must not be moved in at that time
    (a second entry, or the contact out of its place), nor a new contact be lost."""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=BUCKETS)
    registry = _Raced(store, keys, sharding, leaf_entries=2)
    store.hset(keys.migrations(), REGISTRY_MIGRATION, int(time.time() * 1000))
    first, *rest, new = [cid for cid in IDS if sharding.bucket_of(cid) == sharding.bucket_of("c01")][:7]
    bucket = sharding.bucket_of(first)
    pipe = store.pipeline(transaction=False)
    for i, cid in enumerate([first, *rest]):  # created at 1..6 s, in the index
        store.hset(keys.contact(cid), mapping={"created_at": 1000 * (i + 1), "email": f"{cid}@x"})
        registry.new_contact(pipe, cid, float(i + 1))
    pipe.execute()
    assert registry.count() == 6

    def linked_again() -> None:  # a second identity of the first contact, at 9 s; a new contact, at 8 s
        pipe = store.pipeline(transaction=False)
        registry.new_contact(pipe, first, 9.0)
        store.hset(keys.contact(new), mapping={"created_at": 8000, "email": f"{new}@x"})
        registry.new_contact(pipe, new, 8.0)
        pipe.execute()

    registry.during = linked_again
    {"count": registry.count, "tidy": registry.tidy, "page": lambda: registry.page(bucket, 0, 10)}[read]()
    want = [first, *rest, new]
    assert registry.page(bucket, 0, 10) == want
    assert registry.count() == len(want) and not store.exists(keys.registry(bucket))
    _listpacks(store, keys.registry_index(bucket), len(want))


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_a_smart_list_of_every_contact_reads_the_registry_where_it_is_after_the_move(client, services):
    """A smart list's page read straight off one index keeps its plan (the index keys) in the process while its
    documents stay the same: a plan made on the old sets must not outlive their move."""
    load_layout_v1(services)
    registry = services.contacts.registry
    assert not registry.moved(recheck=True)
    list_id = client.post("/v1/smart-lists", headers=AUTH, json={"name": "Everyone"}).get_json()["id"]

    def members() -> tuple[list[str], int]:
        page = client.get(f"/v1/smart-lists/{list_id}/contacts?limit=50", headers=AUTH).get_json()
        return [c["id"] for c in page["items"]], page["total"]

    before = members()
    assert before[1] == 40 and members() == before  # (the second page from the plan the first one kept)
    assert registry_once(services) == 40
    services.redis.hset(services.keys.migrations(), REGISTRY_MIGRATION, 1)  # recorded long ago: the sweep empties
    assert registry.tidy() == 40  # the old sets
    assert members() == before
