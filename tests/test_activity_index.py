"""The latest activity in the compact ordered index (app/storage/activity.py, keys.activity_index, each contact's time
also its hash's ``la`` field): whatever the split of the contacts between the index and the sorted sets of releases
before (keys.activity), every read — a contact's time, counts and members of a time range, the contact filters'
"active in the last N days" / "no activity in the last N days" — answers as one sorted set written with ``ZADD GT``
did; times only move forward; ``activity_once`` moves tests/data/layout-v1.json's sets without changing an answer; a
batch scored again after its index write was cut short puts it right. On Redis and on a 3-master cluster."""
from __future__ import annotations

import json
from typing import Any
import uuid

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.contact_filter_schema import load_filter
from app.indexes import ACTIVITY_MIGRATION, activity_once
from app.keys import Keys
from app.scoring.interactions import ATTRIBUTES_TYPE, MANUAL_TYPE
from app.scoring.records import TimelineRecord
from app.scoring_service import make_scorer
from app.storage.activity import ActivityIndex, granule_of
from app.storage.connection import connect
from app.storage.ordered_index import OrderedIndex
from app.storage.queries import ContactQuery
from app.storage.redis_tools import Sharding, on_cluster
from app.storage.timelines import ACTIVITY_FIELD
from tests.conftest import TEST_REDIS_URL
from tests.test_compaction import LAYOUT_V1, load_layout_v1

pytestmark = pytest.mark.also_on_cluster

DAY = 86_400_000
IDS = [f"c{i}" for i in range(10)]
TIMES = st.integers(1, 12)
STEPS = st.lists(st.one_of(
    st.tuples(st.just("raise"), st.dictionaries(st.sampled_from(IDS), TIMES, min_size=1, max_size=6)),
    st.tuples(st.just("move"), st.integers(0, 3), st.integers(1, 3))), max_size=12)


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def assert_reads_as(index: ActivityIndex, model: dict[str, int]) -> None:
    """Every read answers as one sorted set holding ``model`` did."""
    assert index.latest(IDS) == [model.get(cid) for cid in IDS]
    for low, high in ((None, None), (5, None), (None, 5), (3, 8), (13, None), (4, 4), (6, 5), (0, 11), (1, 12)):
        inside = {c for c, t in model.items() if (low is None or t >= low) and (high is None or t <= high)}
        assert index.count(low, high) == len(inside)
        for bucket in range(index.sharding.buckets):
            found = index.members(bucket, low, high)
            assert len(found) == len(set(found))
            assert set(found) == {c for c in inside if index.sharding.bucket_of(c) == bucket}


def assert_one_place_each(store, index: ActivityIndex) -> None:
    """A contact with a time has its field and the index entry at that time's granule, and no entry in the old
    set."""
    for bucket in range(index.sharding.buckets):
        entries = index.ordered.range(index.keys.activity_index(bucket))
        assert len({c for c, _t in entries}) == len(entries)
        for cid, at in entries:
            assert granule_of(int(store.hget(index.keys.contact(cid), ACTIVITY_FIELD)), index.granule) == at
            assert store.zscore(index.keys.activity(bucket), cid) is None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.dictionaries(st.sampled_from(IDS), TIMES, max_size=8), steps=STEPS, leaf_entries=st.integers(2, 4),
       granule=st.sampled_from([1, 2, 3, 5, 3_600_000]))
def test_reads_answer_as_one_sorted_set_whatever_the_split_and_times_only_move_forward(store, old, steps,
                                                                                       leaf_entries, granule):
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=4)
    index = ActivityIndex(store, keys, sharding, OrderedIndex(store, leaf_entries), granule)
    for cid, at in old.items():  # as a release before wrote them
        store.zadd(keys.activity(sharding.bucket_of(cid)), {cid: at})
    model = dict(old)
    assert_reads_as(index, model)
    for step in steps:
        if step[0] == "raise":
            index.raise_to(step[1])
            for cid, at in step[1].items():
                model[cid] = max(at, model.get(cid, at))
        else:
            index.move_before(step[1], step[2])
        assert_reads_as(index, model)
        assert_one_place_each(store, index)
    for bucket in range(sharding.buckets):
        while index.move_before(bucket, 2):
            pass
        assert not store.exists(keys.activity(bucket))
    assert_reads_as(index, model)
    assert_one_place_each(store, index)


def layout_v1_activity() -> dict[str, int]:
    dump = json.loads(LAYOUT_V1.read_text())["keys"]
    return {cid: int(at) for key, (_kind, value) in dump.items() if ":activity:" in key for cid, at in value}


def filter_answers(services, now_ms: int) -> dict[str, tuple[int, list[str]]]:
    """The activity filters' count and every page's contacts, each way the query can take on this store."""
    query = ContactQuery(services.scores, services.contacts, services.companies)
    out = {}
    for op in ("within", "before"):
        for days in (1, 3, 7, 30):
            flt = load_filter({"conditions": [{"field": "activity", "op": op, "days": days}]})
            for force in ((None, "walk", "collect", "check") if query.single_node else (None,)):
                query.force = force
                page = query.run(flt, {}, 500, 0, now_ms)
                out[f"{op}-{days}-{force}"] = (page["total"], [cid for cid, _s in page["items"]],
                                               query.count(flt, {}, now_ms))
    return out


def expected_answers(services, latest: dict[str, int], now_ms: int) -> dict[str, tuple[int, list[str]]]:
    created = {}
    for bucket in range(services.sharding.buckets):
        created.update(services.redis.zrange(services.keys.contacts(bucket), 0, -1, withscores=True))
    out = {}
    for op in ("within", "before"):
        for days in (1, 3, 7, 30):
            cutoff = now_ms - days * DAY
            found = [c for c, t in latest.items() if (t >= cutoff if op == "within" else t < cutoff)]
            found.sort(key=lambda c: (created.get(c, 0.0), c), reverse=True)
            for force in ((None, "walk", "collect", "check") if not on_cluster(services.redis) else (None,)):
                out[f"{op}-{days}-{force}"] = (len(found), found, len(found))
    return out


@pytest.mark.parametrize("moved", ["none", "half", "all"])
def test_the_activity_of_releases_before_reads_the_same_before_during_and_after_the_move(services, moved):
    load_layout_v1(services)
    latest = layout_v1_activity()
    assert len(latest) > 10
    now_ms = sorted(latest.values())[len(latest) // 2] + DAY  # "active in the last day": half of them
    before = filter_answers(services, now_ms)
    assert before == expected_answers(services, latest, now_ms)
    assert any(answer[0] not in (0, len(latest)) for answer in before.values())
    if moved == "half":
        assert sum(services.scores.activity.move_before(b, 1) for b in range(0, services.sharding.buckets, 2)) > 0
    elif moved == "all":
        assert activity_once(services) == len(latest)
        assert services.jobs.migration_done(ACTIVITY_MIGRATION) and activity_once(services) is None
        assert not any(services.redis.exists(services.keys.activity(b)) for b in range(services.sharding.buckets))
    assert filter_answers(services, now_ms) == before
    ids = sorted(latest)
    assert services.scores.last_activity(ids) == [latest[c] for c in ids]
    # later activity moves a contact forward wherever its entry was; earlier activity moves nobody back
    late, early = ids[0], ids[1]
    services.scores.update_indexes({}, {}, {late: latest[late] + 10 * DAY, early: latest[early] - DAY})
    latest[late] += 10 * DAY
    assert services.scores.last_activity(ids) == [latest[c] for c in ids]
    assert filter_answers(services, now_ms) == expected_answers(services, latest, now_ms)
    activity_once(services)
    assert filter_answers(services, now_ms) == expected_answers(services, latest, now_ms)


def test_a_batch_scored_again_after_its_activity_write_was_cut_short_puts_it_right(services):
    """On a cluster the field and entry are written after the contact (a step a dead worker may not take); on one
    Redis they go with it, atomically. Either way a batch scored again puts them right."""
    scorer = make_scorer(services)
    records = [TimelineRecord(f"i{n}", "api", "email.opened", 1_700_000_000_000 + n * DAY, {"message_id": f"m{n}"})
               for n in range(3)]
    scorer.score({"c1": records[:2]}, 1_700_000_000_000 + 5 * DAY)
    assert services.scores.last_activity(["c1"]) == [records[1].at]
    scorer.score({"c1": records[2:]}, 1_700_000_000_000 + 5 * DAY)
    # as if the activity write of that batch never ran: field and entry still at the time before
    index = services.scores.activity
    base = services.keys.activity_index(services.sharding.bucket_of("c1"))
    assert index.ordered.range(base) == [("c1", granule_of(records[2].at))]
    index.ordered.remove(base, [(granule_of(records[2].at), "c1")])
    index.ordered.add(base, [(granule_of(records[1].at), "c1")])
    services.redis.hset(services.keys.contact("c1"), ACTIVITY_FIELD, records[1].at)
    assert index.count(records[2].at, None) == 0
    scorer.score({"c1": records[2:]}, 1_700_000_000_000 + 5 * DAY)  # the batch again: its records are stored already
    assert services.scores.last_activity(["c1"]) == [records[2].at]
    assert index.ordered.range(base) == [("c1", granule_of(records[2].at))]
    assert index.count(None, None) == 1


def test_the_index_stays_compact_and_the_field_keeps_the_contact_hash_a_listpack(services):
    latest = {f"contact-{n:05d}-{uuid.uuid4().hex[:8]}": 1_700_000_000_000 + n for n in range(3_000)}
    for cid in latest:
        services.redis.hset(services.keys.contact(cid), mapping={"email": f"{cid}@example.com", "created_at": 1})
    services.scores.update_indexes({}, {}, latest)
    keys = [k for b in range(services.sharding.buckets)
            for k in services.redis.scan_iter(match=services.keys.activity_index(b) + "*")]
    assert all(services.redis.object("encoding", k) == "listpack" for k in keys if services.redis.type(k) == "zset")
    used = sum(services.redis.memory_usage(k, samples=0) for k in keys)
    assert used / len(latest) < 60
    assert services.redis.object("encoding", services.keys.contact(next(iter(latest)))) == "listpack"
    assert services.scores.activity.count(None, None) == len(latest)


HOUR = 3_600_000
T0 = 1_700_000_000_000
RECORDS = st.lists(st.tuples(st.sampled_from(["email.opened", "email.opened", MANUAL_TYPE, ATTRIBUTES_TYPE]),
                             st.integers(0, 4 * HOUR)), min_size=1, max_size=3)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(old=st.dictionaries(st.sampled_from(range(6)), st.integers(0, 4 * HOUR), max_size=4),
       batches=st.lists(st.dictionaries(st.sampled_from(range(6)), RECORDS, min_size=1), min_size=1, max_size=4),
       cut=st.integers(0, 4 * HOUR))
def test_the_drain_writes_each_contacts_time_with_it_and_reads_answer_as_the_sorted_set_did(services, old, batches,
                                                                                         cut):
    """The scorer's writes (apply_batch.lua on one Redis, the stepwise writes after on a cluster) against a model
    of the sorted set of releases before written with ZADD GT: every contact's time, counts and members of ranges
    whose ends fall anywhere in an hour, and the contact filters' answers; manual scores and attribute changes are
    no activity; contacts a release before indexed (some) are moved out of its set by their next activity."""
    run = uuid.uuid4().hex[:6]
    ids = [f"h{run}-{n}" for n in range(6)]
    scorer = make_scorer(services)
    index = services.scores.activity
    model: dict[str, int] = {}
    pipe = services.redis.pipeline(transaction=False)
    for n, cid in enumerate(ids):  # registered contacts, as ingest makes them (a filter's page walks the registry)
        pipe.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", "created_at": T0 + n})
        services.contacts.registry.new_contact(pipe, cid, (T0 + n) / 1000, T0 + n)
    pipe.execute()
    for n, at in old.items():  # as a release before wrote them
        services.redis.zadd(services.keys.activity(services.sharding.bucket_of(ids[n])), {ids[n]: T0 + at})
        model[ids[n]] = T0 + at
    for b, batch in enumerate(batches):
        records = {ids[n]: [TimelineRecord(f"{run}-{b}-{i}", "api", type_, T0 + at,
                                           {"profile": "eng", "set": 5} if type_ == MANUAL_TYPE else
                                           {"plan": "pro"} if type_ == ATTRIBUTES_TYPE else {"message_id": "m"})
                            for i, (type_, at) in enumerate(recs)] for n, recs in batch.items()}
        scorer.score(records, T0 + 5 * HOUR)
        for cid, recs in records.items():
            for r in recs:
                if r.type not in (MANUAL_TYPE, ATTRIBUTES_TYPE):
                    model[cid] = max(model.get(cid, r.at), r.at)
    assert index.latest(ids) == [model.get(cid) for cid in ids]
    for low, high in ((T0 + cut, None), (None, T0 + cut), (T0 + cut, T0 + cut + HOUR // 2), (None, None)):
        inside = {c for c, t in model.items() if (low is None or t >= low) and (high is None or t <= high)}
        found = {c for b in range(services.sharding.buckets) for c in index.members(b, low, high)}
        assert found & set(ids) == inside
    query = ContactQuery(services.scores, services.contacts, services.companies)
    for op in ("within", "before"):
        flt = load_filter({"conditions": [{"field": "activity", "op": op, "days": 1}]})
        wanted = {c for c, t in model.items() if (t >= T0 + cut if op == "within" else t < T0 + cut)}
        for force in ((None, "walk", "collect", "check") if query.single_node else (None,)):
            query.force = force
            page = query.run(flt, {}, 500, 0, T0 + cut + DAY)
            assert {cid for cid, _s in page["items"]} & set(ids) == wanted
    for cid in model:  # each contact is in the index or (not yet active here) in the old set, never both
        bucket = services.sharding.bucket_of(cid)
        in_old = services.redis.zscore(services.keys.activity(bucket), cid) is not None
        assert in_old != (services.redis.hget(services.keys.contact(cid), ACTIVITY_FIELD) is not None)


class _Interrupted(ActivityIndex):
    """An index whose next ``raise_to`` on a cluster lets ``during`` run at one of its steps: just after it read the
    fields (``read``), or after its first index writes (``index``) — another process's raise landing between."""

    during: Any = None
    at = "read"

    def _interrupt(self, step: str) -> None:
        if self.during is not None and self.at == step:
            self.during, during = None, self.during
            during()

    def _held(self, ids, groups):
        found = super()._held(ids, groups)
        self._interrupt("read")
        return found


class _InterruptedIndexWrites(OrderedIndex):
    def __init__(self, redis, owner: _Interrupted):
        super().__init__(redis, 2)
        self.owner = owner

    def run(self, calls):
        replies = super().run(calls)
        self.owner._interrupt("index")
        return replies


HOUR = 3_600_000
AT = st.integers(0, 5).flatmap(lambda h: st.sampled_from([h * HOUR, h * HOUR + 1, h * HOUR + HOUR - 1]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(held=st.one_of(st.none(), AT), first=AT, second=AT, at=st.sampled_from(["read", "index"]))
@example(held=None, first=HOUR, second=3 * HOUR, at="read")  # the backfill's hour 1 beside the drain's hour 3: twice
def test_a_raise_racing_another_leaves_each_contact_in_the_index_once_at_its_latest_time(store, held, first, second,
                                                                                         at):
    """On a cluster the field and the index entry are in different slots, so a raise goes in steps
    (``_raise_stepwise``): a backfill's raise (its time from the timelines) racing the drain's (the batch's time), each landing between
    any two steps of the other, leaves the contact in the index once, at its latest time's hour, and the field at
    that time. (On one Redis a raise is one script call; the steps run the same there, made to.)"""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=3)
    slow = _Interrupted(store, keys, sharding)
    slow.ordered = _InterruptedIndexWrites(store, slow)  # leaves of 2 entries: the hours in leaves of their own
    other = ActivityIndex(store, keys, sharding, ordered=OrderedIndex(store, 2))
    slow.single_node = other.single_node = False  # the cluster's steps, on one Redis too
    bucket = sharding.bucket_of("c1")
    others = {cid: h * HOUR + 7 for h, cid in enumerate(c for c in (f"f{i}" for i in range(40))
                                                          if sharding.bucket_of(c) == bucket)}
    other.raise_to(others)
    if held is not None:
        other.raise_to({"c1": held})
    slow.at, slow.during = at, lambda: other.raise_to({"c1": second})
    slow.raise_to({"c1": first})
    latest = max(t for t in (held, first, second) if t is not None)
    assert [(cid, at) for cid, at in other.ordered.range(keys.activity_index(bucket)) if cid == "c1"] == \
        [("c1", granule_of(latest))]
    assert other.latest(["c1"]) == [latest] and other.count(None, None) == 1 + len(others)


class _CutShort(Exception):
    """The process running a raise died."""


def _die() -> None:
    raise _CutShort


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(held=st.one_of(st.none(), AT), first=AT, second=AT)
@example(held=None, first=HOUR, second=3 * HOUR)  # the backfill's hour 1 left behind when the drain took it to 3
def test_a_raise_cut_short_after_its_index_add_and_run_again_after_another_leaves_no_entry_behind(store, held, first,
                                                                                                  second):
    """A backfill's raise that dies between its index add and its field raise, the drain raising the contact
    meanwhile (to a later hour, or not), and the backfill run again with the same time: the contact is in the
    index once, at its latest time's hour (2026-12-05: the rerun read the drain's later time, added nothing and
    so removed nothing, and the backfill's entry stayed, counted at the older hour)."""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=3)
    slow = _Interrupted(store, keys, sharding)
    slow.ordered = _InterruptedIndexWrites(store, slow)
    other = ActivityIndex(store, keys, sharding, ordered=OrderedIndex(store, 2))
    slow.single_node = other.single_node = False  # the cluster's steps, on one Redis too
    bucket = sharding.bucket_of("c1")
    others = {cid: h * HOUR + 7 for h, cid in enumerate(c for c in (f"f{i}" for i in range(40))
                                                          if sharding.bucket_of(c) == bucket)}
    other.raise_to(others)  # leaves of 2 entries: the hours in leaves of their own (a leaf holds a member once)
    if held is not None:
        other.raise_to({"c1": held})
    slow.at, slow.during = "index", _die
    with pytest.raises(_CutShort):
        slow.raise_to({"c1": first})
    other.raise_to({"c1": second})
    slow.raise_to({"c1": first})  # run again
    latest = max(t for t in (held, first, second) if t is not None)
    assert [(cid, at) for cid, at in other.ordered.range(keys.activity_index(bucket)) if cid == "c1"] == \
        [("c1", granule_of(latest))]
    assert other.latest(["c1"]) == [latest] and other.count(None, None) == 1 + len(others)
