"""Company rosters on the compact ordered index (app/storage/companies.py, roster.lua, roster_ops.lua): a roster is a
plain sorted set while small and a compact index once it grew past a leaf, ingest writing new contacts to the plain
set for the ticker to move in. Whatever the split between the two — and a contact written beside the index it is
already in — every reader answers as one roster: sizes, the company's pages, each contact bucket's members, whether
a contact is in it, the company filters, the rolled-up scores; every leaf a listpack; a small roster stays one
listpack key. Before the layout's move is recorded no roster becomes an index; ``roster_index_once`` moves the
rosters of the current release (tests/data/layout-v1.json) with nothing, half and everything moved, and they read
the same. On Redis and on a 3-master cluster."""
from __future__ import annotations

import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contact_filter import Condition, ContactFilter
from app.indexes import roster_index_once, rosters_once
from app.keys import Keys
from app.storage.companies import ROSTER_INDEX_MIGRATION, CompanyIndex, Move, Rollup, roster_score
from app.storage.connection import connect
from app.storage.queries import ContactQuery
from app.storage.redis_tools import Sharding, run_scripts
from tests.conftest import TEST_REDIS_URL
from tests.helpers import AUTH
from tests.test_compaction import load_layout_v1
from tests.test_contact_filter import (  # noqa: F401  (population: a fixture)
    NOW_MS, assert_finds, brute_force, company_filters, population)

pytestmark = pytest.mark.also_on_cluster

BUCKETS = 3
COMPANIES = ["a.io", "b.io", "c\u00e9.io"]
IDS = [f"c{i:02d}" for i in range(26)] + ["c1", "b\x01z"]
ROLLUP = Rollup("eng", 1, "sum")
STEPS = st.lists(st.one_of(
    st.tuples(st.just("move"), st.sampled_from(IDS), st.sampled_from([*COMPANIES, None])),
    st.tuples(st.just("ingest"), st.sampled_from(IDS), st.sampled_from(COMPANIES)),
    st.tuples(st.just("score"), st.sampled_from(IDS), st.integers(-5, 50)),
    st.tuples(st.just("tidy"), st.none(), st.none()),
), max_size=70)


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def new_index(store, leaf_entries: int, recorded: bool = True, plain_entries: int = 0) -> CompanyIndex:
    keys = Keys(f"t{uuid.uuid4().hex[:8]}")
    if recorded:
        store.hset(keys.migrations(), ROSTER_INDEX_MIGRATION, int(time.time() * 1000))
    return CompanyIndex(store, keys, Sharding(partitions=4, buckets=BUCKETS), None, leaf_entries=leaf_entries,
                        plain_entries=plain_entries or leaf_entries)


def holds(companies: CompanyIndex, company: str, contact_id: str) -> bool:
    call = companies._roster_call(company, "holds", roster_score(companies.sharding, contact_id), contact_id)
    return bool(run_scripts(companies.redis, companies._roster, [call])[0])


def roster_keys(companies: CompanyIndex, company: str) -> dict[str, list[str]]:
    """The roster's keys: its plain set (if any), its directory and counter, its leaves."""
    base = companies.roster_key(company)
    leaves = [f"{base}:l:{e.rpartition(chr(0))[2]}" for e in companies.redis.zrange(base + ":d", 0, -1)]
    return {"plain": [base] if companies.redis.exists(base) else [],
            "index": [k for k in (base + ":d", base + ":n") if companies.redis.exists(k)],
            "leaves": [k for k in leaves if companies.redis.exists(k)]}


def assert_reads(companies: CompanyIndex, model: dict[str, str | None]) -> None:
    """Every reader of the rosters answers as the model's one set per company."""
    members = {co: sorted(cid for cid, held in model.items() if held == co) for co in COMPANIES}
    assert companies.sizes(COMPANIES) == {co: len(ids) for co, ids in members.items()}
    for co, ids in members.items():
        assert companies.roster(co, 0, 100) == ids
        for offset, limit in ((0, 3), (2, 5), (7, 4), (len(ids), 2)):
            assert companies.roster(co, offset, limit) == ids[offset:offset + limit]
        for bucket in range(BUCKETS):
            assert companies.bucket_members(co, bucket) == [c for c in ids if companies.sharding.bucket_of(c) == bucket]
        assert [c for c in dict.fromkeys(IDS) if holds(companies, co, c)] == [c for c in dict.fromkeys(IDS) if c in ids]
        assert companies.exists(co) == bool(ids)
        held = 0
        for leaf in roster_keys(companies, co)["leaves"]:
            assert companies.redis.object("encoding", leaf) == "listpack"
            held += companies.redis.zcard(leaf)
        assert held <= len(ids)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS, leaf_entries=st.integers(2, 5), plain_entries=st.integers(2, 6), recorded=st.booleans())
def test_rosters_answer_as_one_set_per_company_whatever_the_split(store, steps, leaf_entries, plain_entries, recorded):
    companies = new_index(store, leaf_entries, recorded, plain_entries)
    keys = companies.keys
    model: dict[str, str | None] = {}
    scores: dict[str, int] = {}
    for step, cid, value in steps:
        if step == "move" and model.get(cid) != value:
            companies.move([Move(cid, model.get(cid), value)], [ROLLUP])
            model[cid] = value
        elif step == "ingest" and (model.get(cid) == value or (cid not in model and cid not in scores)):
            # a brand-new contact (no score yet), or one linked again by a request that lost the race to make it
            pipe = store.pipeline(transaction=False)
            companies.join_new(pipe, cid, value, 1)
            pipe.execute()
            model[cid] = value
        elif step == "score":
            store.zadd(keys.score_index("eng", 1, companies.sharding.bucket_of(cid)), {cid: value})
            companies.contribute({cid: {ROLLUP: value}})
            scores[cid] = value
            if model.get(cid):  # its company's score counts it at once, wherever the roster holds it
                company = model[cid]
                assert companies.scores(ROLLUP, [company])[company] == sum(
                    scores[c] for c, held in model.items() if held == company and c in scores)
        elif step == "tidy":
            companies.tidy()
    assert_reads(companies, model)
    # each company's rolled-up score is the sum of its scored contacts' (contributions counted where they are)
    sums = {co: [scores[c] for c, held in model.items() if held == co and c in scores] for co in COMPANIES}
    assert companies.scores(ROLLUP, COMPANIES) == {co: sum(s) if s else None for co, s in sums.items()}
    companies.tidy()
    assert_reads(companies, model)
    for co in COMPANIES:
        held = roster_keys(companies, co)
        n = sum(1 for c in model.values() if c == co)
        if not recorded:
            assert not held["index"]  # no roster becomes an index before the move is recorded
        elif held["index"]:
            assert not held["plain"] and n > 0  # the ticker moved what lay beside; an emptied index leaves no key
        else:
            assert n <= plain_entries  # a small roster stays one plain set


def test_a_small_roster_is_one_listpack_as_before_and_a_big_one_costs_a_quarter(store):
    companies = new_index(store, 120, plain_entries=128)
    twin = "x" * len(companies.roster_key("small.example"))  # what a roster of three was: a name as long, a listpack
    store.zadd(twin, {f"s{i:020d}": companies.sharding.bucket_of(f"s{i:020d}") + 1 for i in range(3)})
    pipe = store.pipeline(transaction=False)
    for i in range(3):
        companies.join_new(pipe, f"s{i:020d}", "small.example", 1)
    for i in range(2000):
        companies.join_new(pipe, f"b{i:020d}", "big.example", 1)
    pipe.execute()
    assert companies.tidy() == 2000
    small = roster_keys(companies, "small.example")
    assert small == {"plain": [companies.roster_key("small.example")], "index": [], "leaves": []}
    assert store.object("encoding", small["plain"][0]) == "listpack"
    assert store.memory_usage(small["plain"][0], samples=0) == store.memory_usage(twin, samples=0)
    big = roster_keys(companies, "big.example")
    assert not big["plain"] and all(store.object("encoding", k) == "listpack" for k in big["leaves"])
    used = sum(store.memory_usage(k, samples=0) for k in big["index"] + big["leaves"])
    assert used / 2000 < 36  # one big sorted set: ~120-130 B a contact
    assert companies.sizes(["big.example", "small.example"]) == {"big.example": 2000, "small.example": 3}
    store.delete(twin)


def test_a_roster_emptied_leaves_no_key(store):
    companies = new_index(store, 3)
    ids = [f"e{i}" for i in range(7)]
    companies.move([Move(cid, None, "gone.example") for cid in ids], [])
    assert roster_keys(companies, "gone.example")["index"]
    companies.move([Move(cid, "gone.example", None) for cid in ids], [])
    assert roster_keys(companies, "gone.example") == {"plain": [], "index": [], "leaves": []}
    assert not companies.exists("gone.example") and companies.sizes(["gone.example"]) == {"gone.example": 0}


def test_a_big_rosters_move_goes_a_page_a_call_and_reads_the_same_between(store):
    """``roster_index_once`` moves a roster that grew big under a release before (a company of 200,000 contacts held
    Redis 3.9 s in one call, 18.6 s before its sort was cut) a page of contacts a script call: Redis answers others
    between pages, and every reader reads the roster whole in between."""
    companies = new_index(store, 4, recorded=False)
    ids = [f"m{i:03d}" for i in range(50)]
    companies.move([Move(cid, None, "big.example") for cid in ids], [])  # not recorded: one plain set
    roster = companies.roster_key("big.example")
    assert store.zcard(roster) == 50 and not roster_keys(companies, "big.example")["index"]
    whole = {"sizes": companies.sizes(["big.example"]), "roster": companies.roster("big.example", 0, 100),
             "buckets": [companies.bucket_members("big.example", b) for b in range(BUCKETS)]}
    assert whole["sizes"] == {"big.example": 50} and whole["roster"] == ids
    assert run_scripts(store, companies._roster, [companies._roster_call("big.example", "tidy", 4, 8)]) == [8]
    assert store.zcard(roster) == 42 and roster_keys(companies, "big.example")["index"]
    assert {"sizes": companies.sizes(["big.example"]), "roster": companies.roster("big.example", 0, 100),
            "buckets": [companies.bucket_members("big.example", b) for b in range(BUCKETS)]} == whole
    assert all(holds(companies, "big.example", cid) for cid in ids)
    assert companies.index_rosters(page=8) == 42 and not store.exists(roster)
    assert companies.roster("big.example", 0, 100) == ids and companies.sizes(["big.example"]) == {"big.example": 50}


# --- rosters of the current release (tests/data/layout-v1.json) ---------------------------------------------------
FILTERS = [ContactFilter((Condition("company", op="eq", company="example.com"),)),
           ContactFilter((Condition("company", op="ne", company="example.com"),)),
           ContactFilter((Condition("company", op="eq", company="example.com"),
                          Condition("tag", op="has_not", tag="nobody")))]


def roster_readers(client, services) -> dict:
    """What reads a roster: the API's company page page by page and the company list's count, company filters (each
    way filter_bucket.lua takes, and the cluster's walk), whether each contact is in its company's roster."""
    companies = services.companies
    pages, cursor = [], 0
    while cursor is not None:
        page = client.get(f"/v1/companies/example.com?limit=7&cursor={cursor}", headers=AUTH).get_json()
        pages.append((page["contact_ids"], page["contacts"]))
        cursor = page["next_cursor"]
    listed = client.get("/v1/companies", headers=AUTH).get_json()["items"]
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    filtered = []
    for flt in FILTERS:
        for force in (None, "walk", "collect", "check", "cluster"):
            query = ContactQuery(services.scores, services.contacts, companies)
            query.force = None if force == "cluster" else force
            query.single_node = query.single_node and force != "cluster"
            found, at = [], 0
            while at is not None:
                page = query.run(flt, live, 6, at, services.clock.now_ms())
                found.append((page["items"], page["total"]))
                at = page["next_cursor"]
            filtered.append(found)
    ids = [cid for page in services.contacts.contact_pages(100) for cid in page]
    return {"pages": pages, "listed": listed, "filtered": filtered,
            "placements": companies.placements(ids, check_rosters=True)}


@pytest.mark.app_settings(HOT_HISTORY="0")
@pytest.mark.parametrize("rewritten", [True, False], ids=["bucket-scores", "zeros-of-a-release-before"])
def test_rosters_of_the_current_release_read_the_same_with_none_half_and_all_moved(client, services, rewritten):
    contact_ids = load_layout_v1(services)
    companies = services.companies
    companies.leaf_entries = companies.plain_entries = 4  # so example.com's 40 contacts are a big company
    if rewritten:
        rosters_once(services)  # what a worker of the current release did at its start
    roster = companies.roster_key("example.com")
    before = roster_readers(client, services)
    assert before["pages"][0][1] == 40 and sorted(sum((p for p, _n in before["pages"]), [])) == sorted(contact_ids)
    assert before["filtered"][0][0][1] == 40 and before["placements"] == []
    assert not companies.moved(recheck=True) and companies.tidy() == 0  # not recorded: nothing moves
    pipe = services.redis.pipeline(transaction=False)
    companies.join_new(pipe, contact_ids[0], "example.com", 1)  # linked again by a request that lost a race
    pipe.execute()
    assert roster_readers(client, services) == before

    # half: an index holds the first 20 (as a run cut short would leave it), the rest and one of them lie beside it
    held = services.redis.zrange(roster, 0, -1, withscores=True)
    services.redis.zrem(roster, *(cid for cid, _s in held[20:]))
    assert run_scripts(services.redis, companies._roster, [companies._roster_call("example.com", "tidy", 4)]) == [20]
    services.redis.zadd(roster, dict(held[19:]))
    assert roster_keys(companies, "example.com")["index"] and services.redis.zcard(roster) == 21
    assert roster_readers(client, services) == before

    assert roster_index_once(services) == 21
    assert services.jobs.migration_done(ROSTER_INDEX_MIGRATION) and companies.moved()
    assert roster_index_once(services) is None
    keys = roster_keys(companies, "example.com")
    assert not keys["plain"] and sum(services.redis.zcard(k) for k in keys["leaves"]) == 40
    assert all(services.redis.object("encoding", k) == "listpack" for k in keys["leaves"])
    assert roster_readers(client, services) == before

    # a contact joins by ingest's plain write, another leaves: read at once, moved in by the ticker
    newcomer = "zz-newcomer"
    pipe = services.redis.pipeline(transaction=False)
    companies.join_new(pipe, newcomer, "example.com", 1)
    pipe.execute()
    companies.move([Move(contact_ids[1], "example.com", None)], [])
    assert companies.sizes(["example.com"]) == {"example.com": 40}
    assert newcomer in companies.roster("example.com", 0, 100) and contact_ids[1] not in companies.roster("example.com")
    assert companies.tidy() == 1 and not services.redis.exists(roster)
    assert companies.sizes(["example.com"]) == {"example.com": 40}


def test_a_new_deployment_moves_nothing_and_records_it(services):
    assert roster_index_once(services) == 0
    assert services.jobs.migration_done(ROSTER_INDEX_MIGRATION) and services.companies.moved()


@pytest.mark.single_redis  # (the population is made through the API; the cluster's walk is its `force` "cluster")
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=company_filters, limit=st.integers(min_value=1, max_value=15), split=st.sampled_from(("all", "half")),
       force=st.sampled_from((None, "walk", "collect", "check", "cluster")))
def test_company_filters_over_rosters_in_compact_indexes_find_what_brute_force_finds(
        services, population, flt, limit, split, force):  # noqa: F811
    companies = services.companies
    companies.leaf_entries = companies.plain_entries = 3
    services.redis.hset(services.keys.migrations(), ROSTER_INDEX_MIGRATION, 1)
    companies.moved(recheck=True)
    for co in ("acme", "globex", "example.com"):
        roster = companies.roster_key(co)
        held = services.redis.zrange(roster, 0, -1, withscores=True)
        beside, both = (held[::3], held[1::3]) if split == "half" else ([], [])
        if beside:
            services.redis.zrem(roster, *(cid for cid, _s in beside))
        run_scripts(services.redis, companies._roster, [companies._roster_call(co, "tidy", 3)])
        if beside or both:  # a third only beside the index, a third in both (each read once), a third in it
            services.redis.zadd(roster, dict(beside + both))
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = None if force == "cluster" else force
    query.single_node = force != "cluster"
    assert_finds(query, flt, live, limit, brute_force(services, population, flt))
