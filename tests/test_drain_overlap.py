"""A drain overlaps its Redis waits with its own work (docs/performance.md, "Scoring, again"): replies read later
(``Later``) come back in order, each to its own caller, errors included; a batch's writes go out a chunk at a time
while the next chunk is computed; the next batch is read while this one ends, after this one's writes — and the
scores are the same as scoring one contact at a time."""
from __future__ import annotations

import pytest

from app import scorer as scorer_module
from app.scorer import Scorer
from app.scoring.records import TimelineRecord
from app.scoring_service import drain, make_scorer
from app.storage.errors import StoreError, StoreUnavailable
from app.storage import redis_tools
from app.storage.redis_tools import Later

from .helpers import contact_by_email, drain_ready, score_of, send

RULES = [{"id": "open", "on": "email.opened", "points": 5}, {"id": "click", "on": "email.clicked", "points": 3}]


def opened(n: int, email: str, kind: str = "email.opened") -> dict:
    return {"id": f"{email}-{n}", "type": kind, "contact": {"email": email}}


def test_replies_read_later_come_in_order_each_to_its_own(services):
    redis = services.redis
    with Later(redis) as later:
        first = later.send([("SET", "t:a", "1"), ("INCR", "t:a")])
        second = later.send([("GET", "t:a")])
        assert second.result() == ["2"]  # read past the first, which keeps its own reply
        assert first.result() == [True, 2]
    assert redis.get("t:a") == "2"


@pytest.mark.parametrize("commands", [
    pytest.param([("SET", "t:a", "é"), ("GET", "t:a")], id="non-ascii"),
    pytest.param([("ZADD", "t:z", 1, "a", 2.5, "b", 10**20, "c"), ("ZRANGE", "t:z", 0, -1)], id="numbers"),
    pytest.param([("SET", "t:b", b"\x00\xff"), ("EVALSHA", "0" * 40, 2, "t:a", "t:b", "x" * 70_000)], id="bytes-large"),
])
def test_later_sends_the_bytes_redis_py_would(services, commands):
    """``Later`` packs its commands through hiredis directly: the same bytes as redis-py's ``pack_commands``."""
    connection = services.redis.connection_pool.get_connection()
    try:
        assert b"".join(redis_tools._pack(connection, commands)) == b"".join(connection.pack_commands(commands))
    finally:
        services.redis.connection_pool.release(connection)


def test_a_drains_read_takes_each_entrys_data_whatever_the_order_of_its_fields(services):
    """The drain reads its next batch raw (no redis-py callback): the ``d`` field is found where every writer puts it
    (after ``k``) and anywhere else, and the entries are what the plain read gives."""
    stream = services.keys.stream(0)
    services.redis.xadd(stream, {"k": "a", "d": '{"n": 1}'})
    services.redis.xadd(stream, {"d": '{"n": 2}', "k": "b"})
    services.redis.xadd(stream, {"d": '{"n": 3}'})
    with Later(services.redis) as later:
        entries = services.partitions.read_partition_later(later, 0, 10)()
    assert [data for _id, data in entries] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert entries == services.partitions.read_partition(0, 10)


def test_an_argument_later_cannot_send_fails_its_reply_as_the_storage_layers_error(services):
    with Later(services.redis) as later:
        with pytest.raises(StoreError):
            later.send([("SET", "t:a", None)]).result()
    assert services.redis.get("t:a") is None


def test_an_error_reply_is_the_storage_layers_error_and_the_replies_after_it_still_come(services):
    with Later(services.redis) as later:
        services.redis.set("t:s", "text")
        failing = later.send([("HGET", "t:s", "f")])
        after = later.send([("GET", "t:s")])
        with pytest.raises(StoreError):
            failing.result()
        assert after.result() == ["text"]


def test_a_broken_connection_fails_every_reply_not_read_yet(services):
    redis = services.redis
    later = Later(redis)
    (connection_id,) = later.send([("CLIENT", "ID")]).result()
    redis.client_kill_filter(_id=connection_id)
    waiting = [later.send([("PING",)]), later.send([("PING",)])]
    for reply in waiting:
        with pytest.raises(StoreUnavailable):
            reply.result()
    with pytest.raises(StoreUnavailable):
        later.send([("PING",)]).result()
    later.close()  # gives back nothing broken
    assert redis.ping()


def test_closing_reads_what_no_one_asked_for(services):
    redis = services.redis
    with Later(redis) as later:
        later.send([("SET", "t:c", "1")])
    assert redis.get("t:c") == "1"


@pytest.fixture
def rounds(monkeypatch):
    """The scorer's read-compute-write rounds, counted (a contact that lost a race makes a second)."""
    seen: list[int] = []
    once = Scorer._score_once

    def counted(self, pending, *args, **kwargs):
        seen.append(len(pending))
        return once(self, pending, *args, **kwargs)

    monkeypatch.setattr(Scorer, "_score_once", counted)
    return seen


def test_the_next_batch_is_read_after_this_ones_writes(make_app, rounds):
    """The same contact in every batch: each batch's reads, sent before it is scored, see the batch before's
    writes (else its write loses its race and the contact is scored a second time)."""
    with drain_ready(make_app, RULES, BATCH_SIZE=2) as (client, services):
        send(client, *(opened(n, "a@x.io", "email.opened" if n % 3 else "email.clicked") for n in range(11)))
        rounds.clear()
        assert drain(services, 0) == 11
        assert rounds == [1] * 6  # six batches, one round each
        assert score_of(client, "a@x.io", "eng") == 4 * 3 + 7 * 5


def test_a_batchs_writes_go_out_a_chunk_at_a_time_and_every_contact_is_written(make_app, monkeypatch, rounds):
    monkeypatch.setattr(scorer_module, "SCRIPT_CONTACTS", 2)
    with drain_ready(make_app, RULES, BATCH_SIZE=100) as (client, services):
        emails = [f"c{n}@x.io" for n in range(7)]
        send(client, *(opened(n, email) for n, email in enumerate(emails)),
             *(opened(10 + n, email, "email.clicked") for n, email in enumerate(emails[:3])))
        sent = []
        apply_many = services.timelines.apply_many

        def spy(writes, later=None, active=None, scored=None, kept=None, derived=None):
            sent.append(len(writes))
            return apply_many(writes, later, active, scored, kept, derived)

        monkeypatch.setattr(services.timelines, "apply_many", spy)
        assert drain(services, 0) == 10
        assert sent == [2, 2, 2, 1] and rounds == [7]
        assert [score_of(client, email, "eng") for email in emails] == [8, 8, 8, 5, 5, 5, 5]


def test_a_chunk_that_fails_fails_the_batch_and_its_entries_stay(make_app, monkeypatch):
    monkeypatch.setattr(scorer_module, "SCRIPT_CONTACTS", 1)
    with drain_ready(make_app, RULES, BATCH_SIZE=100) as (client, services):
        send(client, opened(1, "a@x.io"),
             {"id": "d1", "type": "contact.dnd_updated", "contact": {"email": "b@x.io"},
              "properties": {"channels": {"email": True}}})
        doc = services.keys.contact(contact_by_email(client, "b@x.io")["id"])
        services.redis.delete(doc)
        services.redis.set(doc, "not a hash")  # the second chunk's HSET of the document's DND field fails
        with pytest.raises(StoreError):
            drain(services, 0)
        assert services.partitions.partition_depths() == [2]  # nothing of the batch was confirmed
        services.redis.delete(doc)
        assert drain(services, 0) == 2
        assert score_of(client, "a@x.io", "eng") == 5


@pytest.mark.private_redis
def test_scripts_redis_lost_are_loaded_and_run_again(make_app):
    """Redis restarted (or its scripts flushed) between two drains, or while one runs: deferred script calls load
    them again."""
    with drain_ready(make_app, RULES, BATCH_SIZE=3) as (client, services):
        send(client, *(opened(n, "a@x.io") for n in range(4)))
        assert drain(services, 0) == 4
        services.redis.script_flush()
        send(client, *(opened(10 + n, "a@x.io") for n in range(4)))
        assert drain(services, 0) == 4
        assert score_of(client, "a@x.io", "eng") == 40
        script = services.redis.register_script("return ARGV[1]")
        with Later(services.redis) as later:
            assert later.send_scripts(script, [([], ["one"])]).result() == ["one"]  # loaded with the call
            services.redis.script_flush()
            assert later.send_scripts(script, [([], ["two"]), ([], ["three"])]).result() == ["two", "three"]


def test_a_write_longer_than_one_variadic_command_takes_is_written_whole(make_app):
    """apply_batch.lua writes a contact's hash fields with one HSET each time, in slices Lua's stack takes."""
    with drain_ready(make_app, RULES) as (_client, services):
        records = [TimelineRecord(f"i{n}", "api", "email.opened", 1_700_000_000_000 + n, {"message_id": f"m{n}"})
                   for n in range(2_500)]
        results = make_scorer(services).score({"c1": records}, 1_700_000_010_000)
        assert list(results["c1"].scores.values()) == [12_500]
        assert len(services.timelines.read_timelines(["c1"])["c1"]) == 2_500
        assert services.redis.hget(services.keys.contact("c1"), "_rev") == "1"


def test_an_index_write_that_fails_keeps_the_batchs_entries(make_app):
    """A batch's index writes are confirmed after the next batch is scored, but before its entries go."""
    with drain_ready(make_app, RULES, BATCH_SIZE=2) as (client, services):
        send(client, *(opened(n, "a@x.io") for n in range(3)))
        cid = contact_by_email(client, "a@x.io")["id"]
        # (the score index: the latest activity is written with the contact on one Redis)
        index = services.keys.score_index("eng", 1, services.sharding.bucket_of(cid))
        services.redis.set(index, "not a sorted set")
        with pytest.raises(StoreError):
            drain(services, 0)
        assert services.partitions.partition_depths() == [3]
        services.redis.delete(index)
        assert drain(services, 0) == 3
        assert services.partitions.partition_depths() == [0]
        assert score_of(client, "a@x.io", "eng") == 15
