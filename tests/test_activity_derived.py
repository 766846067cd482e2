"""The latest activity's field left out where the fold states say it (app/storage/activity.py: ``derived_activity``,
``kept_activity``, ``ActivityIndex.resolve``; latest_activity.lua, apply_batch.lua, drop_version.lua): whatever the interactions, manual score changes,
attribute edits, retirements of a version's states, restores and the migration's passes in between, each contact's
latest activity and the activity filter's answers equal a model that always stores the time; the common contact
(one interaction, its states' newest record) holds no ``la``. On Redis and on a 3-master cluster (whose writers
never leave ``la`` out, but read what the migration's first pass wrote)."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contact_filter_schema import load_filter
from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX, activity_derived_once
from app.scoring.interactions import ATTRIBUTES_TYPE, MANUAL_TYPE
from app.scoring.records import TimelineRecord
from app.scoring_service import make_scorer
from app.storage.activity import (
    ACTIVITY_DERIVED,
    ACTIVITY_NONE_EXPLICIT,
    derived_activity,
    entry_at,
    kept_activity,
)
from app.storage.queries import ContactQuery
from app.storage.timelines import ACTIVITY_FIELD
from tests.helpers import publish_profile
from tests.test_email_field import PREFIXES_BEFORE

pytestmark = pytest.mark.also_on_cluster

HOUR = 3_600_000
DAY = 24 * HOUR
T0 = 1_700_000_000_000
PROFILES = {"eng": [{"id": "o", "on": "email.opened", "points": 5}],
            "clk": [{"id": "c", "on": "email.clicked", "points": 3, "expires_after": "1h"}]}
TYPES = ["email.opened", "email.clicked", "email.opened", MANUAL_TYPE, ATTRIBUTES_TYPE]
RECORDS = st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 6 * HOUR)), min_size=1, max_size=3)
STEP = st.one_of(
    st.tuples(st.just("score"), st.dictionaries(st.sampled_from(range(5)), RECORDS, min_size=1, max_size=4)),
    st.tuples(st.just("retire"), st.sampled_from(sorted(PROFILES)), st.lists(st.sampled_from(range(5)),
                                                                              min_size=1, max_size=5)),
    st.tuples(st.just("migrate")))


@pytest.fixture
def live(client, services):
    for pid, rules in PROFILES.items():
        publish_profile(client, services, pid, rules)
    services.queue.empty()
    return services


def _record(run: str, n: int, type_: str, at: int) -> TimelineRecord:
    props = {"profile": "eng", "set": 5} if type_ == MANUAL_TYPE else \
        {"plan": f"p{at}"} if type_ == ATTRIBUTES_TYPE else {"message_id": "m"}
    return TimelineRecord(f"{run}-{n}", "api", type_, T0 + at, props)


def register(services, ids: list[str]) -> None:
    """Registered contacts, as ingest makes them (a filter's page walks the registry)."""
    pipe = services.redis.pipeline(transaction=False)
    for n, cid in enumerate(ids):
        pipe.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", "created_at": T0 + n})
        services.contacts.registry.new_contact(pipe, cid, (T0 + n) / 1000, T0 + n)
    pipe.execute()


def assert_reads_as(services, ids: list[str], model: dict[str, int], cut: int) -> None:
    """The contacts' latest activity and the activity filter's pages (each way filter_bucket.lua takes) as the
    model's."""
    assert services.scores.last_activity(ids) == [model.get(cid) for cid in ids]
    query = ContactQuery(services.scores, services.contacts, services.companies)
    for op in ("within", "before"):
        flt = load_filter({"conditions": [{"field": "activity", "op": op, "days": 1}]})
        wanted = {c for c in ids if c in model and (model[c] >= T0 + cut if op == "within" else model[c] < T0 + cut)}
        for force in ((None, "walk", "collect", "check") if query.single_node else (None,)):
            query.force = force
            page = query.run(flt, {}, 500, 0, T0 + cut + DAY)
            assert {cid for cid, _s in page["items"]} & set(ids) == wanted, (op, force)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=8), cut=st.integers(0, 6 * HOUR), start=st.booleans())
def test_latest_activity_reads_as_a_model_that_always_stores_it(live, steps, cut, start):
    """Interactions, manual changes and attribute edits scored in batches of any order, states of a version dropped
    (a retirement's drop_version.lua) and the migration's passes (at the start or between steps): every contact's
    time and the filters "active / no activity in the last day", with a cut anywhere, equal the model's."""
    services = live
    run = uuid.uuid4().hex[:6]
    ids = [f"d{run}-{n}" for n in range(5)]
    register(services, ids)
    if start:
        activity_derived_once(services)
    scorer = make_scorer(services)
    model: dict[str, int] = {}
    made = 0
    for step in steps:
        if step[0] == "score":
            records = {}
            for n, recs in step[1].items():
                records[ids[n]] = [_record(run, made + i, type_, at) for i, (type_, at) in enumerate(recs)]
                made += len(recs)
            scorer.score(records, T0 + 7 * HOUR)
            for cid, recs in records.items():
                for r in recs:
                    if r.type not in (MANUAL_TYPE, ATTRIBUTES_TYPE):
                        model[cid] = max(model.get(cid, r.at), r.at)
        elif step[0] == "retire":
            services.timelines.drop_version([ids[n] for n in step[2]], step[1], 1)
        else:
            activity_derived_once(services)
        assert_reads_as(services, ids, model, cut)
    activity_derived_once(services)
    assert services.jobs.migration_done(ACTIVITY_DERIVED) and services.jobs.migration_done(ACTIVITY_NONE_EXPLICIT)
    assert_reads_as(services, ids, model, cut)


def test_a_contact_whose_states_say_its_latest_activity_holds_no_field(live):
    """One interaction scored after the migration: the states' newest record is the latest activity, so ``la`` is
    left out on one Redis (kept on a cluster); a manual change after it writes the time, a contact with only a manual
    change says "none" (empty)."""
    services = live
    activity_derived_once(services)
    run = uuid.uuid4().hex[:6]
    ann, bob = f"a{run}", f"b{run}"
    scorer = make_scorer(services)
    scorer.score({ann: [_record(run, 0, "email.opened", HOUR)], bob: [_record(run, 1, MANUAL_TYPE, HOUR)]},
                 T0 + 2 * HOUR)
    single = services.timelines.single_node
    assert services.redis.hget(services.keys.contact(ann), ACTIVITY_FIELD) == (None if single else str(T0 + HOUR))
    assert services.redis.hget(services.keys.contact(bob), ACTIVITY_FIELD) == ""
    scorer.score({ann: [_record(run, 2, MANUAL_TYPE, 2 * HOUR)]}, T0 + 3 * HOUR)
    assert services.redis.hget(services.keys.contact(ann), ACTIVITY_FIELD) == str(T0 + HOUR)
    assert services.scores.last_activity([ann, bob]) == [T0 + HOUR, None]


@pytest.mark.parametrize("state, at", [
    pytest.param('{"s":5,"l":[1700000000000,"api:x"],"O":[[1,"m0"]]}', 1700000000000, id="record"),
    pytest.param('{"s":5,"l":[1700000000000,1,"api:x"]}', 1700000000000, id="record-release-before"),
    pytest.param('{"s":0,"l":[1700000003600,0,"api:x"]}', None, id="expiry"),
    pytest.param('{"s":0}', None, id="nothing-applied"),
])
def test_a_states_newest_record_is_read_from_its_text(state, at):
    assert entry_at(state) == at
    assert derived_activity({"_rev": "3", "p@1": state}) == at


def test_a_write_is_told_what_the_states_it_keeps_derive():
    read = {"_rev": "2", "a@1": '{"s":1,"l":[5,"k"]}', "b@1": '{"s":1,"l":[9,"k"]}', "c@1": '{"s":1,"l":[11,0,"k"]}'}
    assert kept_activity(read, {"a@1": '{"s":2,"l":[7,"k"]}'}, ["b@1"]) is False
    assert kept_activity(read, {"a@1": '{"s":2,"l":[7,"k"]}'}, []) == 9
    assert kept_activity(read, {}, []) == 9


@pytest.mark.parametrize("migrated", [True, False], ids=["migrated", "before-the-record"])
def test_a_retired_versions_states_dropped_keep_the_latest_activity(live, migrated):
    """drop_version.lua takes a contact's every state away (two retirements): the time its states said is written
    first, so it stays the contact's latest activity."""
    services = live
    if migrated:
        activity_derived_once(services)
    run = uuid.uuid4().hex[:6]
    ann = f"a{run}"
    register(services, [ann])
    make_scorer(services).score({ann: [_record(run, 0, "email.opened", HOUR)]}, T0 + 2 * HOUR)
    for pid in PROFILES:
        services.timelines.drop_version([ann], pid, 1)
    assert services.scores.last_activity([ann]) == [T0 + HOUR]
    assert_reads_as(services, [ann], {ann: T0 + HOUR}, HOUR // 2)


def test_the_field_left_out_is_a_layout_migration_and_workers_are_named_anew():
    # named anew: unlike every release before the field (sk-l2- to sk-l11-, sk-l13-); a later branch keeps its own
    assert ACTIVITY_DERIVED in LAYOUT_MIGRATIONS and WORKER_PREFIX not in PREFIXES_BEFORE + ("sk-l11-", "sk-l13-")
