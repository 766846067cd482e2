"""The archiver thread (app/archiving.py:Archiver): a drain scores the next batches while earlier ones wait
for the archive, and a batch's stream entries are deleted only once its records are archived — so a
worker that dies at any point loses nothing, and what it scored twice is archived once.

The archive is held back for real: a second PostgreSQL session locks the archive table (``LOCK TABLE ... IN
EXCLUSIVE MODE``), so every append waits on the server, without a timeout, until the test lets go."""
from __future__ import annotations

import signal
import threading

import psycopg
import pytest

from app.archive import ArchivedRecord, open_archive
from app.archiving import Archiver
from app.scoring.records import TimelineRecord
from app.scoring_service import drain
from app.storage.errors import StoreError

from .helpers import publish_profile, score_of, send, wait_for
from .processes import stop

RULES = [{"id": "open", "on": "email.opened", "points": 5}]


def opened(n: int, email: str) -> dict:
    return {"id": f"{email}-{n}", "type": "email.opened", "contact": {"email": email}}


class TableLock:
    """Another session's lock on the archive table: appends (INSERT) wait until ``release``."""

    def __init__(self, url: str):
        probe = open_archive(url)
        probe.count()  # the schema is made on first use
        probe.close()
        self.conn = psycopg.connect(url)
        self.conn.execute("LOCK TABLE interactions IN EXCLUSIVE MODE")  # reads still pass

    def release(self) -> None:
        if not self.conn.closed:
            self.conn.commit()
            self.conn.close()


@pytest.fixture
def locked(postgres_url):
    lock = TableLock(postgres_url)
    yield lock
    lock.release()


def archived(url: str) -> list[tuple[str, str]]:
    """Every record in the archive, as (contact, id), read on a connection of its own."""
    with psycopg.connect(url) as conn:
        return sorted(conn.execute("SELECT contact_id, id FROM interactions").fetchall())


def test_a_drain_scores_on_while_its_batches_wait_and_deletes_entries_only_once_archived(
        make_app, postgres_url, locked, request):
    app = make_app(ARCHIVE_URL=postgres_url, BATCH_SIZE=4, PARTITIONS=1)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        request.addfinalizer(services.archive.close)
        publish_profile(client, services, "eng", RULES)
        services.queue.empty()
        send(client, *(opened(n, "a@x.io") for n in range(12)))  # three batches of four
        drained: list[int] = []

        def run() -> None:
            with app.app_context():
                drained.append(drain(services, 0))

        worker = threading.Thread(target=run)
        worker.start()
        try:
            # all three batches are scored while the first one's append waits on the lock...
            wait_for(lambda: score_of(client, "a@x.io", "eng") == 60)
            # ...and not one entry has left the stream, nor one record reached the archive
            assert services.partitions.partition_depths() == [12]
            assert archived(postgres_url) == []
            assert worker.is_alive()  # the drain waits for its batches before it lets go of the lease
            assert services.partitions.lease_held(0)
        finally:
            locked.release()
        worker.join(timeout=30)
        assert drained == [12]
        assert services.partitions.partition_depths() == [0]
        assert not services.partitions.lease_held(0)
        assert [id_ for _, id_ in archived(postgres_url)] == sorted(f"a@x.io-{n}" for n in range(12))
        assert score_of(client, "a@x.io", "eng") == 60


@pytest.mark.private_redis
def test_a_worker_killed_while_its_batches_wait_loses_nothing_and_archives_each_once(
        make_app, postgres_url, locked, workers, request):
    """SIGKILL after scoring, before any append was confirmed: the next worker scores the same entries again
    (the timeline ignores them: scores stay exact) and archives each record once."""
    app = make_app(ARCHIVE_URL=postgres_url, BATCH_SIZE=4, PARTITIONS=1)  # one drain: three batches of four
    client = app.test_client()
    emails = [f"k{n}@x.io" for n in range(3)]
    with app.app_context():
        services = app.extensions["scorekeeper"]
        request.addfinalizer(services.archive.close)
        publish_profile(client, services, "eng", RULES)
        worker = workers(ARCHIVE_URL=postgres_url, BATCH_SIZE=4, PARTITIONS=1)
        send(client, *(opened(n, email) for n in range(4) for email in emails))
        wait_for(lambda: all(score_of(client, email, "eng") == 20 for email in emails), timeout=30)
        assert services.partitions.partition_depths() == [12]  # scored, none confirmed
        assert archived(postgres_url) == []
        stop(worker, signal.SIGKILL)
        locked.release()
        workers(ARCHIVE_URL=postgres_url, BATCH_SIZE=4, PARTITIONS=1)
        wait_for(lambda: not any(services.partitions.partition_depths()), timeout=30)
        wait_for(lambda: len(archived(postgres_url)) == 12, timeout=30)
        assert sorted(id_ for _, id_ in archived(postgres_url)) == sorted(
            f"{email}-{n}" for email in emails for n in range(4))
        assert all(score_of(client, email, "eng") == 20 for email in emails)
        assert sum(services.archive_backlog.depths()) == 0


def test_batches_are_confirmed_in_the_order_they_were_handed(services, tmp_path):
    """Entries of a later batch never leave the stream before an earlier batch's (the records of a repeated key
    reach the archive in scoring order: the first one is kept, as in the timeline)."""
    record = TimelineRecord("same", "api", "email.opened", 1, {"n": 1})
    later = TimelineRecord("same", "api", "email.clicked", 2, {"n": 2})
    for n in range(3):
        services.partitions.push_tick(0, f"t{n}")
    ids = [entry_id for entry_id, _ in services.partitions.read_partition(0, 10)]
    with Archiver(services, 0) as archiver:
        archiver.submit({"c1": [record]}, ids[:1])
        archiver.submit({"c1": [later]}, ids[1:2])
        archiver.submit({}, ids[2:])
    assert archiver.confirmed == 3
    assert services.partitions.partition_depths()[0] == 0
    assert services.archive.history("c1") == [record]


@pytest.mark.private_redis
def test_an_archiver_that_failed_leaves_later_entries_in_their_stream_and_says_so(services, redis_server):
    """Redis gone while the archiver deletes a batch's entries: that batch's entries and every later one's stay
    (scored again by the next drain), and the drain hears of it."""
    for n in range(2):
        services.partitions.push_tick(0, f"t{n}")
    ids = [entry_id for entry_id, _ in services.partitions.read_partition(0, 10)]
    archiver = Archiver(services, 0)
    archiver.submit({"c1": []}, ids[:1])
    wait_for(lambda: archiver.confirmed == 1)
    redis_server.kill()
    archiver.submit({"c2": []}, ids[1:])
    with pytest.raises(StoreError):
        archiver.close()
    redis_server.start()
    assert [entry_id for entry_id, _ in services.partitions.read_partition(0, 10)] == ids[1:]
    assert archiver.confirmed == 1


@pytest.mark.parametrize("size, expected", [
    pytest.param(1000, ["INSERT"], id="a-full-batch-in-one-statement"),
    pytest.param(500, ["BEGIN"] + ["INSERT"] * 6 + ["COMMIT"], id="ragged-in-one-transaction"),
    pytest.param(2001, ["BEGIN"] + ["INSERT"] * 3 + ["COMMIT"], id="batches-that-waited-in-one-transaction"),
])
def test_the_archive_append_writes_a_whole_batch_in_a_few_statements(tmp_path, size, expected):
    """SQLite's append is a few multi-row statements, never a step per row: a drain's full batch (1,000) is one
    statement (one GIL hand-off); 500 records are six (256 + 128 + 64 + 32 + 16 + 4 rows) and 2,001 three (1,000 +
    1,000 + 1) between one BEGIN and one COMMIT."""
    archive = open_archive(f"sqlite:///{tmp_path}/a.sqlite3")
    statements: list[str] = []
    try:
        archive.count()
        archive._connection().set_trace_callback(statements.append)  # type: ignore[attr-defined]
        records = [ArchivedRecord(f"c{n % 7}", TimelineRecord(f"i{n}", "api", "x", n, {"n": n})) for n in range(size)]
        assert archive.append(records) == size
        assert [s.lstrip().split(None, 1)[0].upper() for s in statements] == expected
        assert archive.count() == size
    finally:
        archive.close()
