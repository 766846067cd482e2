"""The compact indexes' leaf sizes (``ordered_index.lua``: ``BASE:z``) on indexes a release before wrote, without
them: counts walk the leaves and are exact before ``sizes_once`` (app/indexes.py), which writes every index's sizes
(the registry's, the latest activity's, the search terms', the expiries', each company roster's) exact, once; counts
read them after, and writers keep them."""
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
    """What the sizes must say: each leaf's entries and the total."""
    ids = [e.rsplit("\0", 1)[1] for e in redis.zrange(base + ":d", 0, -1)]
    sizes = {i: str(redis.zcard(f"{base}:l:{i}")) for i in ids}
    return {**sizes, "t": str(sum(int(n) for n in sizes.values()))} if ids else {}


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entries=st.lists(ENTRIES, min_size=5, max_size=5), ranges=st.lists(st.tuples(BOUND, BOUND), max_size=8),
       later=st.dictionaries(st.text(alphabet="xy", min_size=1, max_size=4), st.integers(0, 40), max_size=60))
def test_sizes_once_sizes_every_index_a_release_before_wrote_and_counts_stay_exact(services, entries, ranges,
                                                                                   later):
    redis, keys = services.redis, services.keys
    company = "acme.example"
    redis.zadd(keys.companies(services.companies.bucket_of(company)), {company: 1})
    bases = [keys.registry_index(0), keys.activity_index(1), keys.search_index(2), keys.expiry_index(3),
             services.companies.roster_key(company)]
    index = OrderedIndex(redis, leaf_entries=4)
    redis.hdel(keys.migrations(), SIZES_MIGRATION)
    for base, pairs in zip(bases, entries):
        leaves = [f"{base}:l:{e.rsplit(chr(0), 1)[1]}" for e in redis.zrange(base + ":d", 0, -1)]
        redis.delete(base + ":d", base + ":n", base + ":z", *leaves)  # (an example before's)
        index.add(base, [(s, m) for m, s in pairs.items()])
        redis.delete(base + ":z")  # as a release before wrote it

    def check(sized: bool) -> None:
        for base, pairs in zip(bases, entries):
            assert redis.hgetall(base + ":z") == (leaf_sizes(redis, base) if sized else {})
            for low, high in [(float("-inf"), float("inf")), *ranges]:
                assert index.count(base, low, high) == sum(low <= s <= high for s in pairs.values())

    check(sized=False)
    assert sizes_once(services) == sum(len(pairs) for pairs in entries)
    check(sized=True)
    assert sizes_once(services) is None  # recorded: once
    for base, pairs in zip(bases, entries):  # writers keep them: adds of new members (splits), removals
        index.add(base, [(s, m) for m, s in later.items()])
        gone = list(pairs)[::2]
        assert index.remove(base, [(pairs.pop(m), m) for m in gone]) == len(gone)
        pairs.update(later)
    check(sized=True)
