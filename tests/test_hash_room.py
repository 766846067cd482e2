"""Records never take a contact's hash past Redis's listpack bound (``LISTPACK_ENTRIES`` fields): a write that adds
fold-state pieces, ``_rev``, ``la`` or document fields first moves records out to the timeline hash, with the marker
(``record_fields.lua``: ``rf_make_room``). And the trim pass takes the marker away with the last record apart."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from app.scoring.records import ContactWrite
from app.storage.timelines import (DOC_ROOM, LISTPACK_ENTRIES, PIECE_BYTES, RECORD_MARK, RECORD_MARKER, HorizonMove,
                                   hash_records, record_field)

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]


def record(n: int, size: int) -> str:
    return json.dumps([1, 1_700_000_000_000 + n, "v" * size])


def state(pieces: int, tag: str) -> str:
    """A state's JSON stored in ``pieces`` pieces of at most 64 B (TimelineStore splits it)."""
    return json.dumps({"s": tag * (PIECE_BYTES * pieces - 12)})


def write(services, cid: str, rev: str, records: dict[str, str], states: dict[str, str], doc=None) -> str:
    [new] = services.timelines.apply_many([ContactWrite(cid, rev, records, states, [], [], [], doc or {})])()
    assert new
    return str(new)


def non_records(stored: dict[str, str]) -> int:
    return sum(1 for f in stored if f[:1] != RECORD_MARK)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 12)), max_size=10),
                          st.lists(st.integers(1, 37) | st.integers(38, 90), max_size=120)), min_size=1, max_size=4),
       st.integers(0, 20))
@example([([], [10] * 120), ([(v, 10) for v in range(10)], [])], 0)  # records first, then the states grow
def test_records_never_take_the_hash_past_a_listpack_and_each_is_read_back(services, steps, doc_fields):
    """Any mix of states (up to ten versions of up to twelve pieces each, growing and shrinking), document fields
    and records of any size, in any order: the hash is a listpack while its other fields and the marker alone
    fit (while it holds a record it has at most ``LISTPACK_ENTRIES - DOC_ROOM`` fields), and every record is read
    back once, from one of the two places."""
    cid = "room"
    services.redis.delete(services.keys.contact(cid), services.keys.timeline(cid))
    rev, values, n = "", {}, 0
    doc = {f"attr{i}": "x" for i in range(doc_fields)}
    for states, sizes in steps:
        batch = {}
        for size in sizes:
            batch[f"crm:{n}"] = record(n, size)
            n += 1
        values.update(batch)
        rev = write(services, cid, rev, batch, {f"p{v}@1": state(p, "s") for v, p in states}, doc)
        stored = services.redis.hgetall(services.keys.contact(cid))
        if hash_records(stored):  # (a server's bound may be higher than the one assumed: 512 is compiled in)
            assert len(stored) <= LISTPACK_ENTRIES - DOC_ROOM
        if non_records(stored) + 1 <= LISTPACK_ENTRIES:
            assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
        apart = services.redis.hgetall(services.keys.timeline(cid))
        inhash = hash_records(stored)
        assert {**inhash, **apart} == values and not set(inhash) & set(apart)
        assert (RECORD_MARKER in stored) == bool(apart)
        assert services.timelines.stored_timelines([cid])[cid] == values
        if values:
            present = services.timelines.read_for_scoring({cid: list(values)})()[cid][1]
            assert present == list(values.values())


@pytest.mark.single_redis
@pytest.mark.private_redis
def test_a_state_that_grows_moves_records_out_and_three_profiles_with_150_records_stay_a_listpack(services):
    """Records fill the hash to its room, then three profiles' states grow to 10 pieces each, live and building:
    records move out as far as needed, no further, and the hash stays a listpack on a server with the bound of
    redis.conf and hosted Redis, 128 (before, it became a hash table: docs/performance.md, 2026-12-05)."""
    services.redis.config_set("hash-max-listpack-entries", LISTPACK_ENTRIES)  # (a private server)
    cid = "grow"
    rev = write(services, cid, "", {f"crm:{i}": record(i, 20) for i in range(150)},
                {f"p{v}@1": state(1, "a") for v in range(3)})
    assert len(hash_records(services.redis.hgetall(services.keys.contact(cid)))) == 100
    rev = write(services, cid, rev, {}, {f"p{v}@{w}": state(10, "b") for v in range(3) for w in (1, 2)})
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    assert len(stored) == LISTPACK_ENTRIES - 12  # the room made, no more
    assert len(hash_records(stored)) == len(stored) - 60 - 1 - 1  # the pieces, `_rev`, the marker
    assert len(services.timelines.stored_timelines([cid])[cid]) == 150
    # the same fields in one hash, records and all, as they were before: a hash table several times the size
    together = services.keys.contact("together")
    services.redis.hset(together, mapping={**stored, **{"~" + k: v for k, v in
                                                        services.redis.hgetall(services.keys.timeline(cid)).items()}})
    assert services.redis.object("encoding", together) == "hashtable"
    size = {key: services.redis.memory_usage(key, samples=0)
            for key in (together, services.keys.contact(cid), services.keys.timeline(cid))}
    print("MEMORY USAGE", size)
    assert size[together] > 1.5 * (size[services.keys.contact(cid)] + size[services.keys.timeline(cid)])
    # a document field written outside the scripts still fits
    services.redis.hset(services.keys.contact(cid), mapping={f"dnd:{c}": "1" for c in ("email", "sms", "call")})
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


def test_a_write_adding_nothing_new_moves_nothing(services):
    cid = "still"
    rev = write(services, cid, "", {f"crm:{i}": record(i, 20) for i in range(150)},
                {f"p{v}@1": state(8, "a") for v in range(3)})
    before = services.redis.hgetall(services.keys.contact(cid))
    rev = write(services, cid, rev, {}, {f"p{v}@1": state(8, "c") for v in range(3)})
    after = services.redis.hgetall(services.keys.contact(cid))
    assert hash_records(after) == hash_records(before)


def trim(services, cid: str, drop: list[str]) -> int:
    rev = services.timelines.read_for_trim([cid])[cid][0]
    [done] = services.timelines.move_horizons([HorizonMove(cid, rev, 1, drop, {}, [])])
    return done


def test_the_trim_takes_the_marker_away_with_the_last_record_apart(services):
    cid = "trim"
    long = {f"crm:long{i}": record(i, 90) for i in range(2)}
    rev = write(services, cid, "", {"crm:short": record(0, 10), **long}, {"p@1": "{}"})
    assert services.redis.hexists(services.keys.contact(cid), RECORD_MARKER)
    assert trim(services, cid, ["crm:long0"])
    assert services.redis.hexists(services.keys.contact(cid), RECORD_MARKER)  # one left apart
    assert trim(services, cid, ["crm:long1"])
    assert not services.redis.hexists(services.keys.contact(cid), RECORD_MARKER)
    assert not services.redis.exists(services.keys.timeline(cid))
    assert services.timelines.stored_timelines([cid])[cid] == {"crm:short": record(0, 10)}
    # a drain that read before the trim loses its write (`_rev` moved) and writes again: the marker comes back
    with pytest.raises(AssertionError):
        write(services, cid, rev, {"crm:long2": record(2, 90)}, {"p@1": "{}"})
    rev = services.redis.hget(services.keys.contact(cid), "_rev")
    write(services, cid, rev, {"crm:long2": record(2, 90)}, {"p@1": "{}"})
    assert services.redis.hexists(services.keys.contact(cid), RECORD_MARKER)
    assert services.timelines.read_for_scoring({cid: ["crm:long2"]})()[cid][1] == [record(2, 90)]


def test_states_moved_in_from_the_layout_before_move_records_out_first(services):
    """A contact whose records filled its hash while its states were still in the hash of releases before: the
    states' move (``move_states.lua``) makes room first, as a write does."""
    cid = "before"
    values = {f"crm:{i}": record(i, 20) for i in range(99)}
    services.redis.hset(services.keys.contact(cid), mapping={**{record_field(k): v for k, v in values.items()},
                                                            "email": "b@example.com"})
    states = {f"p{v}@1": state(10, "d") for v in range(6)}
    services.redis.hset(services.keys.states_before(cid), mapping={"_rev": "3", **states})
    assert services.timelines.move_states([cid]) == 1
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert len(stored) == LISTPACK_ENTRIES - DOC_ROOM and hash_records(stored)
    assert services.timelines.stored_timelines([cid])[cid] == values
    assert {f: v for f, v in services.timelines.read_states([cid])[cid].items() if f != "_rev"} == states


@pytest.mark.single_redis
@pytest.mark.private_redis
def test_a_hash_records_took_past_the_bound_before_becomes_a_listpack_again_when_room_is_made(services):
    """A contact whose records and states took its hash past 128 fields under the release before (a hash table,
    which Redis never converts back): the next write that makes room writes the hash anew, a listpack again."""
    services.redis.config_set("hash-max-listpack-entries", LISTPACK_ENTRIES)  # (a private server)
    cid = "past"
    values = {f"crm:{i}": record(i, 20) for i in range(100)}
    states = {f"p{v}@1": state(10, "e") for v in range(6)}
    rev = write(services, cid, "", {}, states)
    services.redis.hset(services.keys.contact(cid), mapping={record_field(k): v for k, v in values.items()})
    assert services.redis.object("encoding", services.keys.contact(cid)) == "hashtable"
    write(services, cid, rev, {}, {**states, "p9@1": state(2, "f")})
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    assert len(stored) == LISTPACK_ENTRIES - DOC_ROOM and RECORD_MARKER in stored
    assert services.timelines.stored_timelines([cid])[cid] == values
