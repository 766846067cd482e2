"""The compact indexes' leaf sizes (``ordered_index.lua``: ``BASE:z``) on indexes a release before wrote, without
them: counts walk the leaves and are exact before ``sizes_once`` (app/indexes.py), which writes the sizes of every
index that is counted (the registry's, the latest activity's, each company roster's; not the search terms' nor the
expiries') exact, once; counts read them after, and writers keep them. A roster made an index starts with them."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.indexes import SIZES_MIGRATION, sizes_once
from app.storage.ordered_index import OrderedIndex

pytestmark = pytest.mark.also_on_cluster

ENTRIES = st.dictionaries(st.text(alphabet="abc\0", min_size=1, max_size=4), st.integers(0, 40), max_size=60)
BOUND = st.one_of(st.integers(-1, 41), st.just(float("-inf")), st.just(float("inf")))


def leaf_sizes(redis, base: str) -> dict[str, str]:
    """What the sizes must say: each leaf's entries and the total (an index not made yet: 0)."""
    ids = [e.rsplit("\0", 1)[1] for e in redis.zrange(base + ":d", 0, -1)]
    sizes = {i: str(redis.zcard(f"{base}:l:{i}")) for i in ids}
    return {**sizes, "t": str(sum(int(n) for n in sizes.values()))}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRIES, min_size=5, max_size=5), ranges=st.lists(st.tuples(BOUND, BOUND), max_size=8),
       later=st.dictionaries(st.text(alphabet="xy", min_size=1, max_size=4), st.integers(0, 40), max_size=60))
def test_sizes_once_sizes_every_index_a_release_before_wrote_and_counts_stay_exact(services, entries, ranges,
                                                                                   later):
    redis, keys = services.redis, services.keys
    company = "acme.example"
    redis.zadd(keys.companies(services.companies.bucket_of(company)), {company: 1})
    bases = [keys.registry_index(0), keys.activity_index(1), services.companies.roster_key(company),
             keys.search_index(2), keys.expiry_index(3)]
    counted = 3  # (the first three)
    index = OrderedIndex(redis, leaf_entries=4)
    redis.hdel(keys.migrations(), SIZES_MIGRATION)
    for base, pairs in zip(bases, entries):
        leaves = [f"{base}:l:{e.rsplit(chr(0), 1)[1]}" for e in redis.zrange(base + ":d", 0, -1)]
        redis.delete(base + ":d", base + ":n", base + ":z", *leaves)  # (an example before's)
        index.add(base, [(s, m) for m, s in pairs.items()])
        redis.delete(base + ":z")  # as a release before wrote it

    def check(sized: bool) -> None:
        for i, (base, pairs) in enumerate(zip(bases, entries)):
            assert redis.hgetall(base + ":z") == (leaf_sizes(redis, base) if sized and i < counted else {})
            for low, high in [(float("-inf"), float("inf")), *ranges]:
                assert index.count(base, low, high) == sum(low <= s <= high for s in pairs.values())

    check(sized=False)
    assert sizes_once(services) == sum(len(pairs) for pairs in entries[:counted])
    check(sized=True)
    assert sizes_once(services) is None  # recorded: once
    for base, pairs in zip(bases, entries):  # writers keep them: adds of new members (splits), removals
        index.add(base, [(s, m) for m, s in later.items()])
        gone = list(pairs)[::2]
        assert index.remove(base, [(pairs.pop(m), m) for m in gone]) == len(gone)
        pairs.update(later)
    check(sized=True)


def test_a_roster_made_an_index_starts_with_its_sizes(services):
    companies, redis = services.companies, services.redis
    roster = companies.roster_key("big.example")
    redis.zadd(services.keys.companies(companies.bucket_of("big.example")), {"big.example": 1})
    ids = [f"c{i}" for i in range(300)]
    redis.zadd(roster, {cid: i % 16 + 1 for i, cid in enumerate(ids)})  # a plain roster grown past a leaf
    assert companies.index_rosters() == 300
    assert not redis.exists(roster) and redis.exists(roster + ":d")
    assert redis.hgetall(roster + ":z") == leaf_sizes(redis, roster) and redis.hget(roster + ":z", "t") == "300"
    assert OrderedIndex(redis).count(roster, 1, 1) == 19
