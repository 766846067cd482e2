"""Due expiries in the compact ordered index (app/storage/score_index.py, keys.expiry_index): the ticker finds each
due contact once, in the new index and in the sorted sets of releases before (tests/data/layout-v1.json) until
``expiries_once`` has moved them, and the expiries happen exactly (every state equals the fold of its timeline at
the time) before, during and after the move; a replaced expiry stays until due and then changes nothing; the
index stays compact at any size. On Redis and on a 3-master cluster."""
from __future__ import annotations

import json

import pytest

from app.indexes import EXPIRY_MIGRATION, expiries_once, rosters_once
from app.scoring.fold import FoldState, fold
from tests.clock import ManualClock
from tests.helpers import expire_due
from tests.test_compaction import LAYOUT_V1, load_layout_v1

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]

DAY = 86_400_000


def old_expiries() -> dict[str, int]:
    keys = json.loads(LAYOUT_V1.read_text())["keys"]
    return {cid: int(at) for key, (_kind, value) in keys.items() if ":expiries:" in key for cid, at in value}


def old_sets(services) -> int:
    return sum(services.redis.exists(services.keys.expiries(b)) for b in range(services.sharding.buckets))


def assert_states_are_the_fold_at(services, contact_ids, now):
    profile = services.profiles.active()[0].profile
    timelines = services.timelines.read_timelines(contact_ids)
    states = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        state, _ledger = fold(profile, timelines[cid], now)
        assert FoldState.from_json(json.loads(states[cid]["engagement@1"])).score == state.score, cid


@pytest.mark.parametrize("moved", ["none", "half", "all"])
def test_the_ticker_finds_old_and_new_expiries_and_they_happen_exactly(make_app, moved):
    expected = old_expiries()
    times = sorted(set(expected.values()))
    clock = ManualClock(times[0] - 1)
    app = make_app(CLOCK=clock)
    with app.app_context():
        services = app.extensions["scorekeeper"]
        contact_ids = load_layout_v1(services)
        assert due_ids(services.scores, times[0] - 1) == []
        if moved == "half":
            for bucket in range(0, services.sharding.buckets, 2):
                services.scores.old_expiries_page(bucket, 2)
        elif moved == "all":
            assert expiries_once(services) == len(expected)
            assert old_sets(services) == 0 and services.jobs.migration_done(EXPIRY_MIGRATION)
            assert expiries_once(services) is None
        middle = times[len(times) // 2]
        assert sorted(due_ids(services.scores, middle)) == sorted(c for c, at in expected.items() if at <= middle)
        # the ticker, at each expiry's time in turn: every contact's states are the fold of its timeline then
        for now in (middle, times[-1] + DAY):
            clock.ms = now
            expire_due(services)
            assert_states_are_the_fold_at(services, contact_ids, now)
            assert due_ids(services.scores, now) == []  # each found once, forgotten, its next one later
        assert old_sets(services) == 0


def test_the_workers_start_moves_the_old_sets_once_and_the_move_keeps_an_expiry_set_meanwhile(services):
    expected = old_expiries()
    load_layout_v1(services)
    bucket = services.sharding.bucket_of(next(iter(expected)))
    cid = next(c for c in expected if services.sharding.bucket_of(c) == bucket)
    # a worker of the release before sets another time between the move's read and its removal: that one stays
    services.redis.zadd(services.keys.expiries(bucket), {cid: expected[cid] + 5})
    services.scores._drop_moved(keys=[services.keys.expiries(bucket)], args=[expected[cid], cid])
    assert services.redis.zscore(services.keys.expiries(bucket), cid) == expected[cid] + 5
    expected[cid] += 5
    rosters_once(services)  # each worker at start
    assert old_sets(services) == 0 and services.jobs.migration_done(EXPIRY_MIGRATION)
    index = services.scores.ordered
    found = {c: at for b in range(services.sharding.buckets) for c, at in index.range(services.keys.expiry_index(b))}
    assert found == expected


def test_a_replaced_expiry_stays_until_due_then_leaves_alone(services):
    scores = services.scores
    scores.update_indexes({}, {"c1": 1_000, "c2": 5_000})
    scores.update_indexes({}, {"c1": 3_000, "c2": None})  # the writer does not know what it replaces
    assert due_ids(scores, 999) == []
    for due in scores.due_expiries(2_999):  # replaced in place when in the same leaf, else kept
        assert due.contact_id == "c1"
        scores.forget_expiry(due)
    [due] = scores.due_expiries(3_000)
    assert due.contact_id == "c1"  # the expiry written last is never lost
    scores.forget_expiry(due)
    assert due_ids(scores, 4_999) == []
    [due] = scores.due_expiries(5_000)
    assert due.contact_id == "c2"  # c2's, kept until due (a tick that finds nothing due)
    scores.forget_expiry(due)
    assert due_ids(scores, 10 ** 13) == []
    # an expiry written again between the ticker's read and its forget is not lost
    scores.update_indexes({}, {"c3": 7_000})
    [due] = scores.due_expiries(7_000)
    assert due.contact_id == "c3" and due.found == ((services.sharding.bucket_of("c3"), 7_000),)
    scores.update_indexes({}, {"c3": 9_000})
    scores.forget_expiry(due)
    assert due_ids(scores, 10 ** 13) == ["c3"]


def test_two_readers_forget_only_what_each_found(services):
    """What a forget removes travels with the find: a second reader's find in between changes nothing."""
    scores = services.scores
    scores.update_indexes({}, {"c1": 1_000})
    [first] = scores.due_expiries(1_000)
    scores.update_indexes({}, {"c1": 2_000})
    [second] = scores.due_expiries(2_000)
    scores.forget_expiry(first)
    assert due_ids(scores, 2_000) == ["c1"]  # the second find's entry is still there
    scores.forget_expiry(second)
    assert due_ids(scores, 10 ** 13) == []


def due_ids(scores, now_ms: int, **kw) -> list[str]:
    """The contacts ``due_expiries`` finds, without forgetting them."""
    return [due.contact_id for due in scores.due_expiries(now_ms, **kw)]


def test_the_index_stays_compact_at_any_size(services):
    bucket_of = services.sharding.bucket_of
    ids = [f"c{i:020d}" for i in range(4_000)]
    services.scores.update_indexes({}, {cid: 1_796_000_000_000 + (i % 50) * 1_000 for i, cid in enumerate(ids)})
    redis = services.redis
    for bucket in range(services.sharding.buckets):
        base = services.keys.expiry_index(bucket)
        leaves = [f"{base}:l:{e.rsplit(chr(0), 1)[1]}" for e in redis.zrange(base + ":d", 0, -1)]
        assert len(leaves) > 1
        assert {redis.object("encoding", leaf) for leaf in leaves} == {"listpack"}
        held = sum(redis.memory_usage(k, samples=0) for k in [*leaves, base + ":d", base + ":n"])
        assert held / sum(1 for cid in ids if bucket_of(cid) == bucket) < 60  # a skiplist entry took ~112 B
    assert len(due_ids(services.scores, 1_796_000_000_000 + 10_000, count=10_000)) == 11 * 4_000 // 50
