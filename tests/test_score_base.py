"""The score index at rest in a compact base (app/storage/score_base.py): whatever the interleaving of the drain's
writes (scores set, changed, removed) and the ticker's absorbs, every reader — a count of a score range, an ordered
page from any offset, each member's score given its fold state's — answers as one sorted set holding the scores did;
a reader given an out-of-date fold state score shows the current score or none, never the old one. On Redis and on a
3-master cluster."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.indexes import absorb_scores, score_base_once
from app.keys import Keys
from app.scoring_service import drain
from app.storage.connection import connect
from app.storage.redis_tools import run_scripts
from app.storage.score_base import ScoreBase
from tests.conftest import TEST_REDIS_URL
from tests.helpers import contact_by_email, drain_ready, publish_profile, score_of, send

pytestmark = pytest.mark.also_on_cluster

IDS = [f"c{i}" for i in range(12)]
SCORES = st.integers(-3, 6)
STEPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.dictionaries(st.sampled_from(IDS), st.none() | SCORES, min_size=1, max_size=8)),
    st.tuples(st.just("absorb"), st.integers(1, 5))), max_size=14)
RANGES = [(float("-inf"), float("inf")), (0, float("inf")), (float("-inf"), 2), (1, 4), (3, 3), (5, 1), (7, 9)]


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def assert_reads_as(index: ScoreBase, model: dict[str, int], previous: dict[str, int]) -> None:
    """Every read of bucket 0 answers as one sorted set holding ``model`` did."""
    expected = sorted(((s, c) for c, s in model.items()), reverse=True)
    for low, high in RANGES:
        inside = [(c, s) for s, c in expected if low <= s <= high]
        assert index.count("p", 1, 0, low, high) == len(inside)
        for offset in (0, 1, 3):
            for count in (-1, 1, 2, 5):
                want = inside[offset:] if count < 0 else inside[offset:offset + count]
                assert index.rev_range("p", 1, 0, high, low, offset, count) == want
    assert index.scores("p", 1, 0, IDS, model) == [model.get(c) for c in IDS]
    # a deep walk (filter_bucket.lua's order key) a chunk at a time, keeping its place in hot and base
    for low, high in RANGES[:4]:
        inside = [(c, s) for s, c in expected if low <= s <= high]
        for chunk in (1, 2, 3):
            assert index.walk("p", 1, 0, high, low, chunk) == inside
    # an out-of-date fold state (the score before the last change) never shows that score
    for cid, got in zip(IDS, index.scores("p", 1, 0, IDS, previous)):
        assert got in (model.get(cid), None)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=STEPS)
def test_writes_and_absorbs_read_as_one_sorted_set(store, steps) -> None:
    """150 examples; each of these mutants fails it: the absorb not removing the dead entry, the write
    not recording it, the count not taking stale off, the page not skipping dead entries, the member's score not
    checked against the base."""
    store.flushdb()
    index = ScoreBase(store, Keys(), leaf_entries=3)
    model: dict[str, int] = {}
    previous: dict[str, int] = {}
    for step in steps:
        if step[0] == "write":
            changes = step[1]
            run_scripts(store, index.writer, [index.write_call("p", 1, 0, list(changes), changes, model)])
            for cid, new in changes.items():
                if cid in model:
                    previous[cid] = model[cid]
                if new is None:
                    model.pop(cid, None)
                else:
                    model[cid] = new
        else:
            while index.absorb("p", 1, 0, step[1]):
                assert_reads_as(index, model, previous)
        assert_reads_as(index, model, previous)
    index.absorb("p", 1, 0, 100)
    hot, stale, _base = index.bucket_keys("p", 1, 0)
    assert store.zcard(hot) == 0 and store.zcard(stale) == 0
    assert_reads_as(index, model, previous)
    index.drop("p", 1, 1)
    assert list(store.scan_iter(match="*")) == []


# --- the drain, the ticker and a publish over a base -------------------------------------------------------------
RULES = [{"id": "open", "on": "email.opened", "points": 5}, {"id": "click", "on": "email.clicked", "points": 3}]


def _event(n: int, email: str, kind: str = "email.opened") -> dict:
    return {"id": f"{email}-{n}", "type": kind, "contact": {"email": email}}


def _index_as_fold(services, client, emails: list[str], version: int = 1) -> dict[str, int]:
    """The score index's readers of version ``version`` of ``eng`` against the fold's scores: every contact's
    score (a publish's ``scores_of``), the count, each member's (``member_scores``, as the companies read it)."""
    folded = {contact_by_email(client, e)["id"]: score_of(client, e, "eng") for e in emails}
    scored = {cid: s for cid, s in folded.items() if s is not None}
    assert services.scores.scores_of("eng", version) == scored
    assert services.scores.count("eng", version) == len(scored)
    held = services.scores.member_scores([("eng", version)], list(folded))
    assert {cid: by[("eng", version)] for cid, by in held.items()} == folded
    return scored


def test_the_drain_and_the_absorb_keep_the_index_as_the_fold(make_app):
    """Score, absorb (the ticker's, when due), rescore some contacts (dead base entries), absorb again: after each
    step every reader answers the fold's scores, and an absorb leaves no hot nor stale entry."""
    with drain_ready(make_app, RULES) as (client, services):
        emails = [f"p{i}@x.io" for i in range(30)]
        send(client, *(_event(0, e) for e in emails))
        drain(services, 0)
        _index_as_fold(services, client, emails)
        assert absorb_scores(services, 1_000) is None  # not before a worker's start recorded no release before runs
        score_base_once(services)
        assert absorb_scores(services, 1_000) == 30
        assert absorb_scores(services, 2_000) is None  # the next pass is due SCORE_ABSORB_SECONDS later
        hot, stale, _base = services.scores.base.bucket_keys("eng", 1, 0)
        assert sum(services.redis.zcard(services.keys.score_index("eng", 1, b)) for b in range(16)) == 0
        _index_as_fold(services, client, emails)
        send(client, *(_event(1, e, "email.clicked") for e in emails[:10]))
        drain(services, 0)
        assert sum(services.redis.zcard(services.keys.score_stale("eng", 1, b)) for b in range(16)) == 10
        scored = _index_as_fold(services, client, emails)
        assert sorted(set(scored.values())) == [5, 8]
        assert absorb_scores(services, 1_000 + 3_600_000) == 10
        _index_as_fold(services, client, emails)
        assert sum(services.redis.zcard(services.keys.score_stale("eng", 1, b)) for b in range(16)) == 0


def test_an_absorb_pass_ends_after_the_entries_hot_at_its_start_whatever_the_drain_writes_meanwhile(make_app):
    """A pass gets the steps its largest hot set needed at its start: the contacts the drain scores while it runs
    wait, hot, for the next pass (due the period later) instead of keeping the pass running as long as the drain
    writes more than a page a bucket a step (row 1 full: every write found its contact moved into the base)."""
    with drain_ready(make_app, RULES) as (client, services):
        version, hot_sets = [("eng", 1)], [services.keys.score_index("eng", 1, b) for b in range(16)]
        send(client, *(_event(0, f"p{i}@x.io") for i in range(30)))
        drain(services, 0)
        score_base_once(services)
        largest, moved = max(services.redis.zcard(k) for k in hot_sets), 0
        for step in range(largest):
            moved += services.scores.absorb_step(version, 1_000 + step, 60_000, page=1)
            send(client, *(_event(0, f"q{step}-{i}@x.io") for i in range(20)))  # 20 new contacts: more than a page
            drain(services, 0)
        assert services.scores.absorb_step(version, 1_000 + largest, 60_000, page=1) is None  # ended: due later
        left = 30 + 20 * largest - moved
        assert left > 0 and sum(services.redis.zcard(k) for k in hot_sets) == left  # the later writes wait, hot
        _index_as_fold(services, client, [f"p{i}@x.io" for i in range(30)]
                       + [f"q{step}-{i}@x.io" for step in range(largest) for i in range(20)])
        assert services.scores.absorb_step(version, 61_000 + largest, 60_000, page=1000) == left  # the next pass: all
        assert services.redis.get(services.keys.score_absorb_steps()) is None


def test_a_publish_and_its_retirement_over_a_base(make_app):
    """A new version's publish reads the live version's scores (its triggers' old scores) from hot and base, and the
    retired version's index goes whole, base leaves included."""
    with drain_ready(make_app, RULES) as (client, services):
        score_base_once(services)
        emails = [f"q{i}@x.io" for i in range(12)]
        send(client, *(_event(0, e) for e in emails))
        drain(services, 0)
        absorb_scores(services, 1_000)
        send(client, _event(1, emails[0], "email.clicked"))
        drain(services, 0)
        _index_as_fold(services, client, emails)
        publish_profile(client, services, "eng", [{"id": "open", "on": "email.opened", "points": 7}])
        scored = _index_as_fold(services, client, emails, version=2)
        assert set(scored.values()) == {7}
        assert [k for k in services.redis.scan_iter(match="*scores:eng@1*")] == []


def test_the_companies_read_a_contacts_score_in_the_base(make_app):
    """``CompanyIndex.scores_of`` (a contact joining a company brings its scores) reads the base."""
    with drain_ready(make_app, RULES) as (client, services):
        score_base_once(services)
        send(client, _event(0, "r@x.io"), _event(1, "r@x.io"))
        drain(services, 0)
        absorb_scores(services, 1_000)
        cid = contact_by_email(client, "r@x.io")["id"]
        from app.storage.companies import Rollup
        rollup = Rollup("eng", 1, "max")
        assert services.companies.scores_of([cid], [rollup]) == {cid: {rollup: 10}}


# --- a crash between a contact's states and its index write (a cluster's pending key; one Redis: one script) ------
LOST_STEPS = st.lists(st.one_of(
    st.tuples(st.just("write"), st.dictionaries(st.sampled_from(IDS), st.none() | SCORES, min_size=1, max_size=6)),
    st.tuples(st.sampled_from(["lost", "made"]),  # the index write lost, or made with its pending key left
              st.dictionaries(st.sampled_from(IDS), st.none() | SCORES, min_size=1, max_size=4)),
    st.tuples(st.just("repair"), st.none()),
    st.tuples(st.just("absorb"), st.integers(1, 5))), max_size=16)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=LOST_STEPS)
def test_a_replay_repairs_what_a_lost_index_write_left(store, steps) -> None:
    """A contact's index write lost after its states were written ("lost": the fold moved, the index did not), or
    made with its pending key left behind ("made"), any number of times, absorbs between: the replay's repair
    (``score_base.lua repair``, given every score the pending key kept and the current one) leaves the index as the
    fold, read as one sorted set. 150 examples; fails if the repair does not kill the base's live entry, or kills it
    only at the last candidate."""
    store.flushdb()
    index = ScoreBase(store, Keys(), leaf_entries=3)
    model: dict[str, int] = {}  # what the index holds
    fold: dict[str, int] = {}  # what the fold states hold
    cands: dict[str, set[int]] = {}  # the pending keys: the scores the index may hold each contact at
    for kind, changes in steps:
        if kind == "write":  # a batch of contacts with nothing pending: a plain write
            ids = [c for c in changes if c not in cands]
            run_scripts(store, index.writer, [index.write_call("p", 1, 0, ids, changes, model)])
            for cid in ids:
                _set(model, cid, changes[cid])
                _set(fold, cid, changes[cid])
        elif kind in ("lost", "made"):
            for cid, new in changes.items():
                if fold.get(cid) is not None:
                    cands.setdefault(cid, set()).add(fold[cid])
                else:
                    cands.setdefault(cid, set())
                _set(fold, cid, new)
            if kind == "made":  # (the write a contact with a pending key gets: a repair)
                run_scripts(store, index.script, [index.repair_call("p", 1, 0, list(changes), fold_of(fold, changes),
                                                                    cands)])
                for cid in changes:
                    _set(model, cid, fold.get(cid))
        elif kind == "repair":
            if cands:
                run_scripts(store, index.script, [index.repair_call("p", 1, 0, list(cands), fold_of(fold, cands),
                                                                    cands)])
                for cid in cands:
                    _set(model, cid, fold.get(cid))
                cands = {}
        else:
            while index.absorb("p", 1, 0, changes):
                pass
        if kind != "lost":
            assert_reads_as(index, model, {})
    run_scripts(store, index.script, [index.repair_call("p", 1, 0, list(cands), fold_of(fold, cands), cands)])
    assert_reads_as(index, fold, {})
    index.absorb("p", 1, 0, 100)
    assert_reads_as(index, fold, {})


def _set(model: dict[str, int], cid: str, score: int | None) -> None:
    if score is None:
        model.pop(cid, None)
    else:
        model[cid] = score


def fold_of(fold: dict[str, int], ids) -> dict[str, int | None]:
    return {cid: fold.get(cid) for cid in ids}


@pytest.mark.parametrize("crash", ["before the index write", "before the pending key goes"])
def test_a_crash_between_the_states_and_the_index_is_repaired(make_app, monkeypatch, crash):
    """The drain stopped after a batch's states were written: before its index writes, or (a cluster) after them but
    before the pending keys went, an absorb then moving the new scores into the base. On one Redis the index was
    written with the states; on a cluster the replay of the batch repairs it. Either way the index ends as the fold
    and no pending key is left."""
    from app.storage.score_index import ScoreIndex

    with drain_ready(make_app, RULES) as (client, services):
        score_base_once(services)
        emails = [f"k{i}@x.io" for i in range(8)]
        send(client, *(_event(0, e) for e in emails))
        drain(services, 0)
        assert absorb_scores(services, 1_000) == 8  # at rest in the base
        send(client, *(_event(1, e, "email.clicked") for e in emails[:4]))

        def crashed(*_a, **_k):
            raise RuntimeError("the worker died here")

        if crash == "before the index write":
            monkeypatch.setattr(ScoreIndex, "update_indexes", crashed)
            monkeypatch.setattr(ScoreIndex, "update_indexes_later", crashed)
        else:
            monkeypatch.setattr(services.scores.base, "unpend", crashed)
        single = services.timelines.single_node
        if single and crash != "before the index write":  # one Redis keeps no pending key: no such point to stop at
            assert drain(services, 0) == 4  # its index is written with the states, in the same script
            ids = [contact_by_email(client, e)["id"] for e in emails]
            assert [services.redis.get(services.keys.score_pending(cid)) for cid in ids] == [None] * 8
            assert sorted(set(_index_as_fold(services, client, emails).values())) == [5, 8]
            return
        with pytest.raises(RuntimeError):
            drain(services, 0)
        monkeypatch.undo()
        ids = [contact_by_email(client, e)["id"] for e in emails]
        pending = [services.redis.get(services.keys.score_pending(cid)) for cid in ids]
        assert [p is not None for p in pending] == [not single] * 4 + [False] * 4
        if single or crash != "before the index write":
            _index_as_fold(services, client, emails)
        else:  # the crash's wrong entries: the old score, until the replay
            assert set(services.scores.scores_of("eng", 1).values()) == {5}
        absorb_scores(services, 1_000 + 3_600_000)
        assert drain(services, 0) == 4  # the batch again: its entries were not let go
        assert [services.redis.get(services.keys.score_pending(cid)) for cid in ids] == [None] * 8
        assert sorted(set(_index_as_fold(services, client, emails).values())) == [5, 8]


WIDE = st.integers(-70_000, 70_000) | st.integers(-40, 40)


@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=st.lists(WIDE, min_size=0, max_size=30),
       ranges=st.lists(st.tuples(st.none() | WIDE, st.none() | WIDE), min_size=1, max_size=6))
def test_counts_by_score_cells_over_any_range(store, scores, ranges) -> None:
    """The base's counts come from its cells (BASE:c, a range's edge cells at each of its levels): over scores and
    ranges wide and narrow, negative and not, open at either end, a count is the number of entries in range, some in
    hot, the rest absorbed."""
    store.flushdb()
    index = ScoreBase(store, Keys(), leaf_entries=3)
    model = {f"c{i}": s for i, s in enumerate(scores)}
    ids = list(model)
    run_scripts(store, index.writer, [index.write_call("p", 1, 0, ids, model, {})])
    index.absorb("p", 1, 0, max(1, len(ids) * 2 // 3))
    for low, high in ranges:
        lo, hi = float("-inf") if low is None else low, float("inf") if high is None else high
        assert index.count("p", 1, 0, lo, hi) == sum(1 for s in scores if lo <= s <= hi)


PAGE_SCORES = st.integers(-20, 300) | st.integers(0, 3)


def _text(bound: float, low: bool) -> str:
    return ("-inf" if low else "+inf") if bound in (float("-inf"), float("inf")) else str(int(bound))


@pytest.mark.single_redis
@settings(max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=st.lists(st.tuples(st.integers(0, 2), PAGE_SCORES), min_size=0, max_size=40),
       later=st.dictionaries(st.integers(0, 39), st.none() | PAGE_SCORES, max_size=8),
       absorbed=st.lists(st.integers(0, 40), min_size=3, max_size=3),
       ranges=st.lists(st.tuples(st.none() | PAGE_SCORES, st.none() | PAGE_SCORES), min_size=1, max_size=4),
       offset=st.integers(0, 12), limit=st.integers(1, 9))
def test_a_page_of_several_buckets_reads_as_one_sorted_set(store, scores, later, absorbed, ranges, offset,
                                                           limit) -> None:
    """index_page.lua over three buckets, each at rest, partly absorbed or with changes since (its count's cells
    planned once for every bucket, BASE:c's own cells read with `t` by the plan the bucket before needed, the base
    read from its last leaf as BASE:c's `z` names it): the count and the page are those of one sorted set. A `z`
    naming the first leaf, or BASE:c's cells taken for a plan other than the one read, fails it."""
    from app.storage.ordered_index import library_script
    from app.storage.timelines import RECORDS_LIBRARY
    store.flushdb()
    index = ScoreBase(store, Keys(), leaf_entries=3)
    model: list[dict[str, int]] = [{}, {}, {}]
    for i, (bucket, score) in enumerate(scores):
        model[bucket][f"c{i:02d}"] = score
    for bucket in range(3):
        ids = list(model[bucket])
        run_scripts(store, index.writer, [index.write_call("p", 1, bucket, ids, model[bucket], {})])
        index.absorb("p", 1, bucket, max(1, absorbed[bucket]))
    for i, score in later.items():  # changes after the absorb: in hot, their base entries dead in stale
        if i < len(scores):
            bucket, cid = scores[i][0], f"c{i:02d}"
            held = dict(model[bucket])
            model[bucket] = {**model[bucket], cid: score} if score is not None else \
                {c: s for c, s in model[bucket].items() if c != cid}
            run_scripts(store, index.writer, [index.write_call("p", 1, bucket, [cid], {cid: score}, held)])
    page = library_script(store, "index_page.lua", RECORDS_LIBRARY, "score_reads.lua")
    keys = [key for bucket in range(3) for key in index.bucket_keys("p", 1, bucket)]
    everyone = sorted(((s, c) for by in model for c, s in by.items()), reverse=True)
    for low, high in ranges:
        lo, hi = float("-inf") if low is None else low, float("inf") if high is None else high
        inside = [[c, str(s)] for s, c in everyone if lo <= s <= hi]
        args = [_text(hi, False), _text(lo, True)]
        total, got = page(keys=keys, args=[offset, limit, 1, 3, 0, *args])
        assert total == len(inside)
        assert [[m, s] for m, s in zip(got[::2], got[1::2])] == inside[offset:offset + limit]
        _, alone = page(keys=keys, args=[offset, limit, 0, 3, 0, *args])
        assert alone == got


class _AbsorbAfterDirectoryRead:
    """A client whose first read of a base's directory is followed at once by an absorb of the bucket: the ticker's
    pipelined absorb (the versions it read before the switch) landing inside a retirement's drop."""

    def __init__(self, client, absorb):
        self._client, self._absorb = client, absorb

    def zrange(self, *args, **kwargs):
        got = self._client.zrange(*args, **kwargs)
        if self._absorb is not None:
            absorb, self._absorb = self._absorb, None
            absorb()
        return got

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_a_drop_racing_an_absorb_leaves_no_key(store) -> None:
    """A version's drop (its retirement) reads the base's directory and count cells, then deletes what they name:
    an absorb between the two (new leaves, new cells) left those keys for good, under a version nothing reads
    again. The drop is one call now (``score_base.lua drop``). Failed before: leaves and cells of bucket 0 left."""
    store.flushdb()
    ids = [f"c{i}" for i in range(40)]
    first = ScoreBase(store, Keys(), leaf_entries=3)
    run_scripts(store, first.writer, [first.write_call("p", 1, 0, ids[:20], {c: i for i, c in enumerate(ids)}, {})])
    first.absorb_all("p", 1, 1)
    run_scripts(store, first.writer, [first.write_call("p", 1, 0, ids[20:], {c: i for i, c in enumerate(ids)}, {})])
    index = ScoreBase(_AbsorbAfterDirectoryRead(store, lambda: first.absorb("p", 1, 0)), Keys(), leaf_entries=3)
    index.drop("p", 1, 1)
    assert first.count("p", 1, 0) == 0
    assert [k for node in _nodes(store) for k in node.scan_iter(match="*p@1*")] == []


def _nodes(client) -> list:
    """Each master of a cluster client, or the one client."""
    if hasattr(client, "get_primaries"):
        return [client.get_redis_connection(n) for n in client.get_primaries()]
    return [client]
