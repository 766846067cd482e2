"""A contact's timeline records live in its contact hash (``Keys.contact``, fields ``record_field``), one key a contact
fewer than releases before kept; a record that does not fit in a listpack value, or past the hash's room, stays in
the timeline hash (``Keys.timeline``) with the marker in the contact's hash. On data written by the release before
(tests/data/layout-v1.json) every reader gives the same with none, some and all timelines moved; scoring goes on
exactly wherever a contact's records are; the contact hash stays a listpack whatever the records' ids, sizes and
counts."""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.compaction import compact_all
from app.contact_layout import states_once, timelines_once
from app.scoring.fold import FoldState, fold
from app.scoring.records import ContactWrite, TimelineRecord
from app.storage.timelines import (PIECE_BYTES, RECORD_MARK, RECORD_MARKER, RECORD_ROOM, TIMELINES_MOVED,
                                   StatesMoved, hash_records, is_state_field, place_records, record_field, record_key,
                                   split_contact)
from tests.test_compaction import load_layout_v1, post_and_score, to_each_contact
from tests.test_contact_layout import readers

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]

#: Record ids as providers send them: any text, with the characters the field's scheme escapes or could confuse.
ids = st.text(st.sampled_from(":@#%~_-025é") | st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=80)
DOCUMENT = ("email", "external_id", "name", "company", "created_at", "attributes", "dnd:email", "la")


def timeline_keys(services, contact_ids) -> int:
    return sum(services.redis.exists(services.keys.timeline(cid)) for cid in contact_ids)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1) | ids)
def test_a_records_field_names_it_alone_and_is_no_other_kind_of_field(key):
    name = record_field(key)
    assert record_key(name) == key
    assert name.startswith(RECORD_MARK) and "@" not in name and name != RECORD_MARKER
    assert not is_state_field(name)  # a release before reads no fold state in it either (no "@")
    assert not any(name.startswith(f) for f in DOCUMENT) and not name.startswith("_rev")


@settings(max_examples=200, deadline=None)
@given(st.lists(ids, unique=True, max_size=5))
def test_distinct_ids_have_distinct_fields(keys):
    assert len({record_field(k) for k in keys}) == len(keys)


def test_the_document_and_the_states_leave_records_and_their_marker_out():
    stored = {"email": "a@b.c", "_rev": "2", "engagement@1": "{}", "la": "5", record_field("crm:a@b#1"): "[1]",
              RECORD_MARKER: "1"}
    doc, states = split_contact(stored)
    assert doc == {"email": "a@b.c"} and states == {"_rev": "2", "engagement@1": "{}"}
    assert hash_records(stored) == {"crm:a@b#1": "[1]"}


def write(services, cid: str, records: dict[str, str], rev: str = "") -> int:
    [new_rev] = services.timelines.apply_many([ContactWrite(cid, rev, records, {"p@1": "{}"}, [], [], [],
                                                            {"email": f"{cid}@example.com"})])()
    return new_rev


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(ids, st.integers(1, 90)), unique_by=lambda r: r[0], min_size=1, max_size=30),
       st.integers(1, 5))
def test_records_of_any_id_size_and_count_are_each_stored_once_and_read_back(services, records, batches):
    """Written in a few batches, as drains do: each record is read back whole, is found by the drain's look-up,
    and sits in the contact's hash when it fits (else in the timeline hash, with the marker); the hash stays a
    listpack."""
    cid = "hx"
    services.redis.delete(services.keys.contact(cid), services.keys.timeline(cid))
    services.timelines.timelines_moved = StatesMoved(services.redis, services.keys, TIMELINES_MOVED)  # asked afresh
    values = {key: json.dumps([1, 1_700_000_000_000, "v" * size]) for key, size in records}
    keys = list(values)
    rev = ""
    for n in range(batches):
        part = keys[n::batches]
        if part:
            rev = str(write(services, cid, {k: values[k] for k in part}, rev))
    stored = services.redis.hgetall(services.keys.contact(cid))
    apart = services.redis.hgetall(services.keys.timeline(cid))
    assert services.timelines.stored_timelines([cid])[cid] == values
    # the trim pass's read names each record by record_fields.lua's rf_key, the scripts' inverse of rf_field
    assert sorted((r.source, r.id) for r in services.timelines.read_for_trim([cid])[cid][2]) == \
        sorted((k.partition(":")[0], k.partition(":")[2]) for k in values)
    assert {**hash_records(stored), **apart} == values and not set(hash_records(stored)) & set(apart)
    assert all(len(record_field(k).encode()) > PIECE_BYTES or len(v.encode()) > PIECE_BYTES
               or len(stored) >= RECORD_ROOM for k, v in apart.items())
    assert (RECORD_MARKER in stored) == bool(apart)
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    services.redis.hdel(services.keys.migrations(), TIMELINES_MOVED)
    for moved in (False, True):  # the drain's look-up, before the move is recorded and after (the marker)
        if moved:
            services.jobs.record_migration(TIMELINES_MOVED, 1)
        assert services.timelines.timelines_moved(recheck=True) is moved
        reads = services.timelines.read_for_scoring({cid: [*keys, "crm:absent"]})()
        states, present, _ = reads[cid]
        assert present == [values[k] for k in keys] + [None] and states["_rev"] == rev
        assert services.timelines.read_for_scoring({cid: []})()[cid][1] == 1


def test_records_past_the_hash_room_stay_apart_and_the_hash_stays_a_listpack(services):
    cid = "many"
    rev = ""
    for n in range(3):
        rev = str(write(services, cid, {f"crm:{n}-{i}": "[1,1700000000000]" for i in range(60)}, rev))
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert len(stored) == RECORD_ROOM + 1  # the room, then the marker
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    assert len(services.timelines.read_timelines([cid])[cid]) == 180


def test_the_python_placement_is_the_scripts(services):
    records = {"crm:a": "[1]", "crm:" + "x" * 70: "[2]", "crm:b": "[" + "3" * 70 + "]", "crm:c@d%e": "[4]"}
    write(services, "p", records)
    inhash, apart = place_records(0, records)  # a new contact: its hash is empty when the records are placed
    stored = services.redis.hgetall(services.keys.contact("p"))
    assert {f: v for f, v in stored.items() if f.startswith(RECORD_MARK)} == inhash
    assert services.redis.hgetall(services.keys.timeline("p")) == apart


def settled(services, contact_ids) -> None:
    """Each contact's records where they belong: in its hash when they fit, else apart with the marker."""
    for cid in contact_ids:
        stored = services.redis.hgetall(services.keys.contact(cid))
        apart = services.redis.hgetall(services.keys.timeline(cid))
        assert hash_records(stored) and "email" in stored
        assert all(len(v.encode()) > PIECE_BYTES or len(record_field(k).encode()) > PIECE_BYTES
                   for k, v in apart.items())
        assert (RECORD_MARKER in stored) == bool(apart)
        assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


def test_every_reader_gives_the_same_with_none_some_and_all_timelines_moved(client, services):
    """layout-v1's records are of the release's long forms (many over 64 B): the move leaves those apart, and the
    compaction (which rewrites them short) moves them in."""
    contact_ids = load_layout_v1(services)
    assert timeline_keys(services, contact_ids) == 40
    before = readers(client, services, contact_ids)
    assert services.timelines.move_timelines(contact_ids[:15]) == 15  # a run cut short, states not moved yet
    settled(services, contact_ids[:15])
    assert readers(client, services, contact_ids) == before
    assert states_once(services) == 40
    assert readers(client, services, contact_ids) == before
    # (the 15 moved before are walked again: their long records stay apart)
    assert timelines_once(services) == 40 and services.jobs.migration_done(TIMELINES_MOVED)
    assert timelines_once(services) is None
    settled(services, contact_ids)
    assert readers(client, services, contact_ids) == before
    compact_all(services)
    assert timeline_keys(services, contact_ids) < 10  # compact, most fit (settled: what stays is long)
    settled(services, contact_ids)
    after = readers(client, services, contact_ids)  # (the backup holds the values as stored: compact now)
    assert (after[0], after[1], after[3]) == (before[0], before[1], before[3])
    assert {cid: sorted(c[2]) for cid, c in after[2].items()} == {cid: sorted(c[2]) for cid, c in before[2].items()}


def test_scoring_goes_on_exactly_wherever_a_contacts_records_are(client, services):
    contact_ids = load_layout_v1(services)
    states_once(services)
    services.timelines.move_timelines(contact_ids[::2])
    now = services.clock.now_ms()
    items = to_each_contact(client, contact_ids, ("email.clicked", "form.submitted"))
    post_and_score(client, services, items)
    post_and_score(client, services, items)  # the same again: every one a repeat, wherever it is stored
    profile = services.profiles.active()[0].profile
    timelines = services.timelines.read_timelines(contact_ids)
    states = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        keys = [r.key for r in timelines[cid]]
        assert len(keys) == len(set(keys))
        assert FoldState.from_json(json.loads(states[cid]["engagement@1"])).score == \
            fold(profile, timelines[cid], now)[0].score
    # the unmoved contacts' new records went into their hash; their old ones stay apart until the move
    assert timeline_keys(services, contact_ids) == 40  # (the moved ones' long records stay apart: settled)
    assert not services.timelines.timelines_moved()
    assert timelines_once(services) == 40 and services.timelines.timelines_moved()
    settled(services, contact_ids)
    post_and_score(client, services, items)  # repeats found in the hash alone now
    post_and_score(client, services, [{**item, "id": f"later-{n}"} for n, item in enumerate(items)])
    again = services.timelines.read_timelines(contact_ids)
    after = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        assert len(again[cid]) == len(timelines[cid]) + 2
        assert FoldState.from_json(json.loads(after[cid]["engagement@1"])).score == \
            fold(profile, again[cid], now)[0].score
    settled(services, contact_ids)


def test_a_long_record_stays_apart_through_the_move_and_the_hash_stays_a_listpack(client, services):
    contact_ids = load_layout_v1(services)
    cid = contact_ids[0]
    long_key = "crm:" + "u" * 80  # a clicked URL as the id
    services.redis.delete(services.keys.timeline(cid))
    services.redis.hset(services.keys.timeline(cid), mapping={"crm:a": "[10,1795790455916]",
                                                              long_key: "[10,1795790455917]"})
    before = services.timelines.stored_timelines([cid])[cid]
    states_once(services)
    timelines_once(services)
    assert services.redis.hkeys(services.keys.timeline(cid)) == [long_key]
    assert services.redis.hget(services.keys.contact(cid), RECORD_MARKER) == "1"
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    assert services.timelines.stored_timelines([cid])[cid] == before


@pytest.mark.single_redis
def test_a_page_reads_its_contacts_without_their_records(services):
    """A page shows documents and scores: ``read_contacts.lua`` and ``index_page.lua`` leave the records (and their
    marker) in Redis, where a busy contact's would be most of the reply for the client to parse and drop; what the
    page shows is the same."""
    from app.storage.queries import ContactQuery
    from app.storage.redis_tools import call_script

    busy = {f"crm:e{n}": json.dumps([1, 1_700_000_000_000 + n, "v" * 20]) for n in range(30)}
    busy["crm:long"] = json.dumps([1, 1_700_000_000_000, "v" * 200])  # apart, so the marker is in the hash
    write(services, "busy", busy)
    stored = services.redis.hgetall(services.keys.contact("busy"))
    assert len(hash_records(stored)) == 30 and RECORD_MARKER in stored  # the records are there to be left out
    query = ContactQuery(services.scores, services.contacts, services.companies)
    keys = services.contacts.page_keys(["busy"])
    [[hash_reply, *_]] = call_script(services.redis, query._read_contacts, keys, [len(keys)])
    fields = hash_reply[0::2]
    assert not [f for f in fields if f.startswith(RECORD_MARK)]
    assert set(fields) == {f for f in stored if not f.startswith(RECORD_MARK)}
    [shown] = query.shown_contacts(["busy"], [])
    assert shown["email"] == "busy@example.com"
    # the contacts page read with its index (index_page.lua) leaves them too
    index = services.keys.prefix + ":test-index"
    services.redis.zadd(index, {"busy": 5})
    total, _, [paged, *_] = json.loads(call_script(services.redis, query._index_page, [index],  # (one JSON text)
                                                   query._page_args(10, 0, [("+inf", "-inf")], [])))
    assert total == 1 and set(paged[0::2]) == set(fields)


@pytest.mark.parametrize("size", [pytest.param(20, id="in-the-hash"), pytest.param(90, id="apart")])
@pytest.mark.parametrize("moved", [pytest.param(False, id="move-unrecorded"), pytest.param(True, id="moved")])
def test_a_key_asked_twice_in_one_batch_is_found_each_time(services, size, moved):
    """An interaction queued again once the ingest's memory of it lapsed is skipped by the scorer, whose timeline
    holds every key; two such copies can land in one batch, so the drain's look-up (read_batch.lua) asks for a key
    twice: each asking finds the stored record, wherever it is (read_batch.lua kept the last place of a field and
    answered the first asking 'not stored': the copy was scored again)."""
    value = json.dumps([1, 1_700_000_000_000, "v" * size])
    write(services, "twice", {"crm:a": value, "crm:b": json.dumps([1, 1_700_000_000_001])})
    if moved:
        services.jobs.record_migration(TIMELINES_MOVED, 1)
    assert services.timelines.timelines_moved(recheck=True) is moved
    _states, present, _ = services.timelines.read_for_scoring({"twice": ["crm:a", "crm:x", "crm:a", "crm:a"]})()[
        "twice"]
    assert present == [value, None, value, value]


def test_an_interaction_stored_and_queued_twice_again_in_one_batch_is_scored_once(client, services):
    from app.scoring_service import make_scorer
    from tests.helpers import publish_profile

    publish_profile(client, services, "eng", [{"id": "open", "on": "email.opened", "points": 5}])
    scorer = make_scorer(services)
    opened = TimelineRecord("i1", "api", "email.opened", 1_700_000_000_000, {"message_id": "m1"})
    scorer.score({"c1": [opened]}, 1_700_000_000_100)
    scorer.score({"c1": [opened, opened]}, 1_700_000_000_200)  # both copies repeats of the stored record
    [state] = [v for f, v in services.timelines.read_states(["c1"])["c1"].items() if f != "_rev"]
    assert FoldState.from_json(json.loads(state)).score == 5


def reads_in_order(services, read) -> list[str]:
    """The commands ``read`` sends with their key (``HGETALL KEY``...), in the order the server ran them (MONITOR,
    on a private server)."""
    commands = []
    with services.redis.monitor() as monitor:
        read()
        services.redis.echo("read-done")
        while (command := monitor.next_command()["command"]) != "ECHO read-done":
            commands.append(" ".join(command.split(" ")[:2]))
    return commands


@pytest.mark.single_redis
@pytest.mark.private_redis
def test_a_reader_outside_a_script_reads_the_timeline_hash_before_the_contact_hash(services):
    """A record only ever moves from the timeline hash into the contact's hash (``move_timelines.lua``, the
    compaction's ``rf_settle``), atomically, and a reader that reads both with plain commands (a pipeline, which
    another client's move can run in the middle of) must read the move's source first: read the other way, a record
    moved between the two reads is in neither (a refold then folds without it, and ``_rev`` did not move, so its
    write is taken; a cluster's backup leaves it out)."""
    write(services, "o", {"crm:a": "[1,1700000000000]", "crm:" + "l" * 80: "[1,1700000000001]"})
    timeline, contact = services.keys.timeline("o"), services.keys.contact("o")
    for read in (lambda: services.timelines.read_timelines(["o"]),
                 lambda: services.snapshot.read_contact("o")):
        commands = reads_in_order(services, read)
        assert commands.index(f"HGETALL {timeline}") < commands.index(f"HGETALL {contact}")


def test_the_bounds_a_value_or_field_of_64_bytes_in_and_the_hundredth_field_the_last_record(services):
    """Redis keeps a hash a listpack while each value is at most 64 B and it has at most 128 fields: a record field
    or value of exactly 64 B goes into the hash, one of 65 B stays apart; the hash takes records while it has fewer
    than 100 fields. The scripts (``rf_place``) and ``place_records`` (the restore) draw the same lines."""
    at64 = json.dumps([1, 1_700_000_000_000, "v" * 42])
    assert len(at64) == PIECE_BYTES
    at65 = json.dumps([1, 1_700_000_000_000, "v" * 43])
    field64 = "crm:" + "é" * 29 + "x"  # multi-byte: the bound is in bytes
    assert len(record_field(field64).encode()) == PIECE_BYTES
    records = {"crm:v64": at64, "crm:v65": at65, field64: "[1,1]", field64 + "x": "[1,1]"}
    write(services, "edge", records)
    stored = services.redis.hgetall(services.keys.contact("edge"))
    assert set(hash_records(stored)) == {"crm:v64", field64}
    assert set(services.redis.hkeys(services.keys.timeline("edge"))) == {"crm:v65", field64 + "x"}
    assert place_records(0, records) == ({**{record_field(k): records[k] for k in ("crm:v64", field64)},
                                          RECORD_MARKER: "1"}, {k: records[k] for k in ("crm:v65", field64 + "x")})
    # the room: a hash of 98 fields takes two more records (to 100), and the next goes apart
    filler = {f"f{n}": "1" for n in range(98 - len(stored))}
    services.redis.hset(services.keys.contact("edge"), mapping=filler)
    rev = services.redis.hget(services.keys.contact("edge"), "_rev")
    write(services, "edge", {"crm:r1": "[1,2]", "crm:r2": "[1,3]", "crm:r3": "[1,4]"}, rev)
    stored = services.redis.hgetall(services.keys.contact("edge"))
    assert {"crm:r1", "crm:r2"} <= set(hash_records(stored)) and "crm:r3" not in hash_records(stored)
    assert services.redis.hget(services.keys.timeline("edge"), "crm:r3") == "[1,4]"
    assert len(stored) == RECORD_ROOM  # (the marker there already, _rev rewritten in place)
    assert place_records(98, {"crm:r1": "[1,2]", "crm:r2": "[1,3]", "crm:r3": "[1,4]"})[1] == {"crm:r3": "[1,4]"}
    assert services.redis.object("encoding", services.keys.contact("edge")) == "listpack"
