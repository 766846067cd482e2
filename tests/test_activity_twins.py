"""The latest activity's rule in Python (app/storage/activity.py: ``entry_at``, ``derived_in_hash``,
``ActivityIndex.resolve``) and in Lua (latest_activity.lua: ``la_entry_at``, ``la_read``; derive_activity.lua, the
migration's passes) give the same answer for every stored form, odd and corrupt ones included: a fold state's text
anywhere from a real one to arbitrary characters, an ``la`` that is a time, empty, missing, or something no writer
writes (a float's text, an exponent, space, hex, words). Before the review of 2026-12-06 (second session) Python
failed on a corrupt ``la`` (``int('5.0')``: a page, a count, a filter's check raised) where Lua read a number, and a
state's ``"l":[`` followed by such a text read as a time in Lua and as none in Python. On Redis and on a 3-master
cluster."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from app.scoring.records import TimelineRecord
from app.scoring_service import make_scorer
from app.storage.activity import ActivityIndex, derived_in_hash, entry_at
from app.storage.redis_tools import _script_text

pytestmark = pytest.mark.also_on_cluster

#: A time's text as writers write it, and what corruption leaves.
ODD_TIMES = ["5.5", "5.0", "1e3", " 5", "5 ", "+5", "007", "-0", "0x10", "", "-", "inf", "nan", "1_000", "\u0665",
             "9" * 15, "9" * 16, "-" + "9" * 15, "9" * 30, "abc"]
time_texts = st.integers(-10**15, 10**15).map(str) | st.sampled_from(ODD_TIMES) | st.text(max_size=6)
#: What follows a state's ``l`` time: a record's key, a record in the form before (``1,``), a timed entry (``0,``).
tails = st.sampled_from(['"api:x"]}', '1,"api:x"]}', '0,"api:x"]}', '1]', '', ']', '"'])
#: A fold state's (first piece's) text: real ones, one whose ``l`` holds an odd time, two ``l`` keys, anything.
state_texts = (
    st.builds(lambda s, t, tail: f'{{"s":{s},"l":[{t},{tail}', st.integers(0, 999), time_texts, tails)
    | st.builds(lambda a, t, tail: f'{a}"l":[{t},{tail}', st.text(max_size=8), time_texts, tails)
    | st.builds(lambda t, u: f'{{"s":1,"l":[{t}],"l":[{u},"k"]}}', time_texts, time_texts)
    | st.text(max_size=30))
#: A contact hash's fields: a state's first piece, a later piece, a `dnd:` one, a document field, `_rev`.
fields = st.sampled_from(["p@1", "q@2", "p@1#1", "dnd:sms@x", "name", "_rev"])
la_texts = st.none() | time_texts

ENTRY_AT = """
local out = {}
for i = 1, #ARGV do
  local at = la_entry_at(ARGV[i])
  out[i] = at and string.format('%.17g', at) or false
end
return out"""

LA_READ = """
local t = la_read(KEYS[1], ARGV[1] == '1')
return t and string.format('%.17g', t) or false"""

examples = iter(range(10**9))


def lua(services, body: str):
    return services.redis.register_script(_script_text("latest_activity.lua") + body)


def number(text: str | None) -> float | None:
    """A Lua number's text (``%.17g``) as Python's; None for none."""
    return None if text is None else float(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(state_texts, min_size=1, max_size=8))
@example(texts=['{"s":1,"l":[5.5,"k"]}', '{"s":1,"l":[1e3,"k"]}', '{"s":1,"l":[ 5,"k"]}', '{"s":1,"l":[0x10,"k"]}'])
@example(texts=['{"s":1,"l":[],"l":[5,"k"]}', '{"s":1,"l":[inf,"k"]}', '{"s":1,"l":[9999999999999999,"k"]}'])
def test_lua_reads_a_states_newest_record_as_python_does(services, texts):
    got = lua(services, ENTRY_AT)(keys=[], args=texts)
    assert [number(v) for v in got] == [entry_at(t) for t in texts]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(la=la_texts, stored=st.dictionaries(fields, state_texts, max_size=4), migrated=st.booleans())
@example(la="5.0", stored={}, migrated=False)
@example(la="abc", stored={"p@1": '{"s":1,"l":[7,"k"]}'}, migrated=True)
@example(la=" 5", stored={}, migrated=True)
@example(la=None, stored={"p@1": '{"s":1,"l":[7.5,"k"]}'}, migrated=True)
def test_lua_reads_a_contacts_latest_activity_as_python_does(services, la, stored, migrated):
    """``la_read`` (filter_bucket.lua, activity_index.lua, drop_version.lua) and ``ActivityIndex.resolve`` (the
    API's, a count's, a page's check of the hour a range cuts): one answer for every hash."""
    cid = f"tw{next(examples)}"
    hash_ = services.keys.contact(cid)
    services.redis.hset(hash_, mapping={"email": f"{cid}@x.io", **stored, **({} if la is None else {"la": la})})
    index = ActivityIndex(services.redis, services.keys, services.sharding,
                          none_explicit=lambda recheck=False: migrated)
    [expected] = index.resolve([cid], [services.redis.hget(hash_, "la")])
    assert number(lua(services, LA_READ)(keys=[hash_], args=["1" if migrated else "0"])) == expected
    if la is None and migrated:
        assert expected == derived_in_hash(services.redis.hgetall(hash_))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(la=la_texts, stored=st.dictionaries(fields, state_texts, max_size=4))
@example(la="5.0", stored={"p@1": '{"s":1,"l":[5,"k"]}'})
@example(la="", stored={"p@1": '{"s":1,"l":[5,"k"]}'})
def test_the_migrations_passes_change_no_contacts_latest_activity(services, la, stored):
    """derive_activity.lua's two passes (``activity_derived_once``) over any hash: what it reads before the first
    (a missing ``la`` is none), between them and after the second (a missing ``la`` is what the states derive) is
    one time, in Python and in Lua."""
    cid = f"tw{next(examples)}"
    hash_ = services.keys.contact(cid)
    services.redis.hset(hash_, mapping={"email": f"{cid}@x.io", **stored, **({} if la is None else {"la": la})})
    read_lua = lua(services, LA_READ)

    def reads(migrated: bool) -> tuple[int | None, float | None]:
        index = ActivityIndex(services.redis, services.keys, services.sharding,
                              none_explicit=lambda recheck=False: migrated)
        [py] = index.resolve([cid], [services.redis.hget(hash_, "la")])
        return py, number(read_lua(keys=[hash_], args=["1" if migrated else "0"]))

    before = reads(False)
    assert before[0] == before[1]
    services.timelines.derive_activity([cid], drop=False)
    assert reads(True) == before
    if services.timelines.single_node:
        services.timelines.derive_activity([cid], drop=True)
        assert reads(True) == before


@pytest.mark.parametrize("la", ["abc", "5.0", " 5", "1e3", "0x10"])
def test_a_corrupt_field_is_raised_as_none(services, la):
    """A raise of the latest activity (the backfill's, the move of the sets before; a cluster's drain) over a corrupt
    ``la`` reads it as none and writes the time asked: before, a cluster's ``activity_field.lua`` failed comparing
    ``tonumber('abc')`` and Python's ``int()`` failed on what it returned."""
    cid = f"tw{next(examples)}"
    services.redis.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", "la": la})
    index = ActivityIndex(services.redis, services.keys, services.sharding)
    at = 1_700_000_000_000
    index.raise_to({cid: at})
    assert index.latest([cid]) == [at]
    assert services.redis.hget(services.keys.contact(cid), "la") == str(at)
    assert index.members(services.sharding.bucket_of(cid), at, at) == [cid]


@pytest.mark.parametrize("la", ["abc", "5.0", " 5", "1e3", "0x10", "9e15", "9" * 16, "-1e15"])
def test_the_drain_reads_a_corrupt_field_as_none(services, la):
    """The drain's write of a contact's latest activity (apply_batch.lua on one Redis, ``raise_to`` on a cluster)
    over a corrupt ``la`` reads it as none, as every other reader does (``activity_time``, ``la_time``), and writes
    the batch's time with the contact's index entry. Before (review of 2026-12-06, third session) apply_batch.lua read
    it with ``tonumber``: "9e15" stayed as a time past every interaction, written back as "9000000000000000", which
    every reader takes for none (16 characters), and the contact was in no hour of the index."""
    cid = f"tw{next(examples)}"
    services.redis.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", "la": la})
    at = 1_700_000_000_000
    make_scorer(services).score({cid: [TimelineRecord("i1", "api", "email.opened", at, {"message_id": "m"})]},
                                at + 1000)
    index = services.scores.activity
    assert index.latest([cid]) == [at]
    assert services.redis.hget(services.keys.contact(cid), "la") == str(at)
    assert index.members(services.sharding.bucket_of(cid), at, at) == [cid]


@pytest.mark.single_redis
def test_the_drain_reads_a_corrupt_field_as_none_beside_the_states_of_releases_before(services):
    """The same where the contact's fold states are still in the hash of releases before (apply_batch.lua's other
    branch, until ``fold-states-in-contact`` is recorded)."""
    assert not services.timelines.states_moved(recheck=True)
    cid = f"tw{next(examples)}"
    services.redis.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", "la": "9e15"})
    services.redis.hset(services.keys.states_before(cid), "_rev", "1")
    at = 1_700_000_000_000
    make_scorer(services).score({cid: [TimelineRecord("i1", "api", "email.opened", at, {"message_id": "m"})]},
                                at + 1000)
    assert services.redis.hget(services.keys.states_before(cid), "_rev") == "2"  # written there
    assert services.scores.activity.latest([cid]) == [at]
    assert services.redis.hget(services.keys.contact(cid), "la") == str(at)
