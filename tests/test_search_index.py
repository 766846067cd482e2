"""Search terms in the compact ordered index (app/storage/search_terms.py, keys.search_index), beside the sorted set
ingest writes new contacts' terms into (keys.search) and the sorted sets of releases before (keys.search_before): a
prefix search answers exactly as one sorted set per bucket did, whatever the split of the terms between the three
(a term in two of them, half-moved); ``search_once`` moves tests/data/layout-v1.json's terms without changing an
answer; the drain moves new contacts' terms in; renaming removes a term wherever it is, also during the move. On
Redis and on a 3-master cluster."""
from __future__ import annotations

import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.indexes import SEARCH_MIGRATION, search_once
from app.keys import Keys
from app.storage.connection import connect
from app.storage.contacts import ContactStore, search_member
from app.storage.redis_tools import Sharding
from tests.conftest import TEST_REDIS_URL
from tests.helpers import send, settle
from tests.test_compaction import LAYOUT_V1, load_layout_v1

pytestmark = pytest.mark.also_on_cluster

TEXTS = st.text(alphabet="ab-.\x01é", min_size=1, max_size=4)
TERMS = st.lists(st.tuples(TEXTS, st.sampled_from([f"c{i}" for i in range(8)]),
                           st.sampled_from(["before", "written", "index", "written+index", "before+index"])),
                 max_size=60)
PREFIXES = st.lists(st.tuples(st.text(alphabet="ab-.é", max_size=2), st.integers(1, 5)), min_size=1, max_size=8)


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def searched_as_one_sorted_set(terms: set[str], buckets: int, bucket_of, prefix: str, limit: int) -> list[str]:
    """What ``search_contacts`` answered when each bucket's terms were one sorted set: each bucket's first
    ``limit`` terms of the prefix's lexicographic range, merged, each contact once, the first ``limit``."""
    text = prefix.strip().lower()
    if not text:
        return []
    low, high = text.encode(), text.encode() + b"\xff"
    found = []
    for bucket in range(buckets):
        mine = sorted(t.encode() for t in terms if bucket_of(t.rpartition("\x00")[2]) == bucket)
        found += [t.decode() for t in mine if low <= t <= high][:limit]
    out: dict[str, None] = {}
    for member in sorted(found):
        out.setdefault(member.rpartition("\x00")[2], None)
    return list(out)[:limit]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(terms=TERMS, prefixes=PREFIXES, leaf_entries=st.integers(2, 4))
def test_a_search_answers_as_one_sorted_set_whatever_the_split_between_old_and_new(store, terms, prefixes,
                                                                                   leaf_entries):
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=4)
    contacts = ContactStore(store, keys, sharding)
    contacts.search.ordered.leaf_entries = leaf_entries
    for text, cid, place in terms:
        member = search_member(text, cid)
        if "before" in place:
            store.zadd(keys.search_before(sharding.bucket_of(cid)), {member: 0})
        if "written" in place:
            store.zadd(keys.search(sharding.bucket_of(cid)), {member: 0})
        if "index" in place:
            contacts.search.add({cid: [member]})
    every = {search_member(text, cid) for text, cid, _place in terms}
    for prefix, limit in prefixes:  # each bucket's first terms, a term once wherever it is
        low, high = prefix.encode(), prefix.encode() + b"\xff"
        assert contacts.search.find(b"[" + low, b"[" + high, limit) == [
            [t.decode() for t in sorted(t.encode() for t in every if sharding.bucket_of(t.rpartition("\x00")[2]) == b)
             if low <= t <= high][:limit] for b in range(4)]
        expected = searched_as_one_sorted_set(every, 4, sharding.bucket_of, prefix, limit)
        assert contacts.search_contacts(prefix, limit) == expected
    for bucket in range(4):  # moved in, page by page (the drain's move, then the migration's): the same answers
        while contacts.search.absorb(bucket, 3) or contacts.search.move_before(bucket, 3):
            for prefix, limit in prefixes:
                assert contacts.search_contacts(prefix, limit) == searched_as_one_sorted_set(
                    every, 4, sharding.bucket_of, prefix, limit)
        assert not store.exists(keys.search(bucket)) and not store.exists(keys.search_before(bucket))


def layout_v1_terms(services) -> set[str]:
    keys = json.loads(LAYOUT_V1.read_text())["keys"]
    return {member for key, (_kind, value) in keys.items() if ":search:" in key for member, _score in value}


def test_the_terms_of_releases_before_are_found_before_during_and_after_the_move(services):
    load_layout_v1(services)
    terms = layout_v1_terms(services)
    buckets, bucket_of = services.sharding.buckets, services.sharding.bucket_of
    prefixes = sorted({t[:n] for t in terms for n in (1, 2, 4)})
    before = {p: services.contacts.search_contacts(p, 3) for p in prefixes}
    assert before == {p: searched_as_one_sorted_set(terms, buckets, bucket_of, p, 3) for p in prefixes}
    assert any(len(found) > 1 for found in before.values())
    half = sum(services.contacts.search.move_before(bucket, 1) for bucket in range(0, buckets, 2))  # half moved
    assert half > 0
    assert {p: services.contacts.search_contacts(p, 3) for p in prefixes} == before
    assert search_once(services) == len(terms) - half
    assert services.jobs.migration_done(SEARCH_MIGRATION) and search_once(services) is None
    assert not any(services.redis.exists(services.keys.search_before(b)) for b in range(buckets))
    assert {p: services.contacts.search_contacts(p, 3) for p in prefixes} == before


def test_renaming_removes_the_old_name_wherever_its_term_is(services):
    load_layout_v1(services)
    cid = next(iter(services.contacts.contact_pages(10)))[0]
    services.contacts.set_name(cid, "Zelda Old")  # written into the index
    services.contacts.set_name(cid, "Zelda New")
    assert services.contacts.search_contacts("zelda old", 5) == []
    assert services.contacts.search_contacts("zelda new", 5) == [cid]
    bucket = services.sharding.bucket_of(cid)
    services.redis.zadd(services.keys.search_before(bucket), {search_member("Zora Older", cid): 0})  # a release before
    services.redis.hset(services.keys.contact(cid), "name", "Zora Older")
    assert services.contacts.search_contacts("zora", 5) == [cid]
    services.contacts.set_name(cid, "Zelda")
    assert services.contacts.search_contacts("zora", 5) == []
    assert services.contacts.search_contacts("zelda", 5) == [cid]


def test_a_term_removed_while_the_move_copies_it_is_not_brought_back(services, monkeypatch):
    load_layout_v1(services)
    search = services.contacts.search
    bucket = next(b for b in range(services.sharding.buckets) if services.redis.exists(services.keys.search_before(b)))
    [term] = services.redis.zrange(services.keys.search_before(bucket), 0, 0)
    cid = term.rpartition("\x00")[2]
    add = search.ordered.add

    def renamed_meanwhile(base, pairs):  # a worker of the release before renames between the move's read and add
        services.redis.zrem(services.keys.search_before(bucket), term)
        return add(base, pairs)
    monkeypatch.setattr(search.ordered, "add", renamed_meanwhile)
    assert search.move_before(bucket, 1) == 1
    assert cid not in services.contacts.search_contacts(term.partition("\x00")[0], 50)


def test_the_drain_moves_new_contacts_terms_into_the_index(client, services):
    send(client, {"interactions": [{"id": f"n{n}", "type": "email.opened",
                                    "contact": {"email": f"nell{n:02d}@x.io", "external_id": f"ext-{n}"}}
                                   for n in range(40)]})
    settle(services)
    buckets = services.sharding.buckets
    assert not any(services.redis.exists(services.keys.search(b)) for b in range(buckets))
    assert len(services.contacts.search_contacts("nell", 50)) == 40
    assert len(services.contacts.search_contacts("ext-1", 50)) == 11


def test_the_index_stays_compact(services):
    ids = [f"c{i:020x}" for i in range(3_000)]
    services.contacts.search.add({cid: [search_member(f"person{i}@example.com", cid)] for i, cid in enumerate(ids)})
    redis, held = services.redis, 0
    for bucket in range(services.sharding.buckets):
        base = services.keys.search_index(bucket)
        leaves = [f"{base}:l:{e.rsplit(chr(0), 1)[1]}" for e in redis.zrange(base + ":d", 0, -1)]
        assert {redis.object("encoding", leaf) for leaf in leaves} == {"listpack"}
        held += sum(redis.memory_usage(k, samples=0) for k in [*leaves, base + ":d", base + ":n"])
    assert held / len(ids) < 80  # a skiplist entry took ~146 B


def test_a_search_on_a_redis_without_the_script_loads_it(redis_server):
    """The search sends its scripts by SHA alone (no SCRIPT EXISTS round trip): a Redis that never saw them (or
    lost them) answers NOSCRIPT, and the search loads them and asks again."""
    client = connect(redis_server.url)
    keys, sharding = Keys("sk"), Sharding(partitions=4, buckets=4)
    contacts = ContactStore(client, keys, sharding)
    client.zadd(keys.search(sharding.bucket_of("c1")), {search_member("ann@x.io", "c1"): 0})
    client.script_flush()
    assert contacts.search_contacts("an", 5) == ["c1"]
    client.close()
