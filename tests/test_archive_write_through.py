"""Write-through to the archive (app/archiving.py): every scored interaction reaches the archive exactly
once, through duplicates, replays and an archive outage, without holding scoring back."""
from __future__ import annotations

from contextlib import contextmanager

import pytest

from app.archive import ArchivedRecord, ArchiveUnavailable, open_archive
from app.archiving import LeaseLost, archive_batch, flush_backlog
from app.scoring.records import TimelineRecord
from app.scoring_service import drain, make_scorer, score_entries, tick

from .archive_helpers import TcpGate
from .helpers import AUTH, publish_profile, run_jobs, score_of, send, settle, wait_for

RULES = [{"id": "open", "on": "email.opened", "points": 5}, {"id": "click", "on": "email.clicked", "points": 10}]


def opened(n: int, email: str, type_: str = "email.opened") -> dict:
    return {"id": f"{email}-{n}", "type": type_, "contact": {"email": email}}


def contact_id(client, email: str) -> str:
    return client.get("/v1/contacts", query_string={"email": email}, headers=AUTH).get_json()["items"][0]["id"]


def archived_ids(archive, cid: str) -> list[str]:
    return sorted(r.id for r in archive.history(cid, limit=10_000))


def test_each_interaction_is_archived_once_with_its_contact(client, services):
    send(client, opened(1, "a@x.io"), opened(2, "a@x.io", "email.clicked"), opened(1, "b@x.io"),
         opened(1, "a@x.io"))  # the last repeats the first: one interaction
    settle(services)
    send(client, opened(1, "b@x.io"), opened(3, "a@x.io"))  # a later repeat and a new one
    settle(services)
    archive = services.archive
    assert archive.count() == 4
    assert archived_ids(archive, contact_id(client, "a@x.io")) == ["a@x.io-1", "a@x.io-2", "a@x.io-3"]
    assert archived_ids(archive, contact_id(client, "b@x.io")) == ["b@x.io-1"]
    clicked = [r for r in archive.history(contact_id(client, "a@x.io")) if r.id == "a@x.io-2"]
    assert [(r.source, r.type) for r in clicked] == [("api", "email.clicked")]


def test_a_batch_scored_again_is_archived_once(client, services):
    """A worker that died after its batch was scored and archived, before the entries were deleted: the next
    drain scores and archives them again."""
    send(client, *(opened(n, f"c{n % 3}@x.io") for n in range(12)))
    partition = next(p for p, depth in enumerate(services.partitions.partition_depths()) if depth)
    entries = services.partitions.read_partition(partition, 1000)
    count, batch = score_entries(services, make_scorer(services), entries)
    assert count == len(entries)
    assert archive_batch(services, batch)  # then the worker died: the entries are still in the stream
    assert services.partitions.partition_depths()[partition] == len(entries)
    settle(services)  # the replay
    assert not any(services.partitions.partition_depths())
    assert services.archive.count() == 12


def test_the_worker_process_archives_what_the_api_accepted(client, services, worker):
    send(client, *(opened(n, f"w{n % 4}@x.io") for n in range(40)))
    send(client, *(opened(n, f"w{n % 4}@x.io") for n in range(30, 50)))  # ten repeats
    wait_for(lambda: services.archive.count() == 50, timeout=30)
    wait_for(lambda: not any(services.partitions.partition_depths()), timeout=30)
    assert services.archive.count() == 50
    assert archived_ids(services.archive, contact_id(client, "w1@x.io")) == sorted(
        f"w1@x.io-{n}" for n in range(50) if n % 4 == 1)


@contextmanager
def behind_the_gate(make_app, postgres_url: str, gate, **settings):
    """An app (its context pushed) whose archive is the test's PostgreSQL database reached through ``gate``; yields
    its client and services, and closes the archive after."""
    database = postgres_url.rsplit("/", 1)[1]
    app = make_app(ARCHIVE_URL=f"postgresql://postgres@127.0.0.1:{gate.port}/{database}", **settings)
    with app.app_context():
        services = app.extensions["scorekeeper"]
        try:
            yield app.test_client(), services
        finally:
            services.archive.close()


def backlog_metric(client) -> float:
    """``scorekeeper_archive_backlog`` of ``/metrics``, summed over the partitions."""
    text = client.get("/metrics", headers=AUTH).get_data(as_text=True)
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("scorekeeper_archive_backlog{")]
    assert values, "no scorekeeper_archive_backlog in /metrics"
    return sum(values)


@pytest.fixture
def gate():
    """The test PostgreSQL behind a TCP gate, shut at first."""
    opened_gate = TcpGate(("127.0.0.1", 5432))
    yield opened_gate
    opened_gate.close()


def test_an_archive_outage_stops_neither_ingest_nor_scoring_and_loses_nothing(make_app, postgres_url, gate):
    with behind_the_gate(make_app, postgres_url, gate) as (client, services):
        gate.open()
        publish_profile(client, services, "eng", RULES)
        send(client, opened(0, "p@x.io"))
        settle(services)
        gate.shut()  # PostgreSQL unreachable from here on, its open connection cut
        send(client, *(opened(n, "p@x.io") for n in range(1, 6)), opened(1, "q@x.io", "email.clicked"))
        settle(services)
        send(client, opened(3, "p@x.io"), opened(6, "p@x.io"), opened(2, "q@x.io"))  # a repeat, two new
        settle(services)
        tick(services)  # the ticker retries, the archive still down
        run_jobs(services)

        # scoring went on, exactly
        assert score_of(client, "p@x.io", "eng") == 5 * 7
        assert score_of(client, "q@x.io", "eng") == 10 + 5
        assert not any(services.partitions.partition_depths())
        # what the archive could not take waits in Redis
        assert sum(services.archive_backlog.depths()) >= 8
        assert backlog_metric(client) == sum(services.archive_backlog.depths())
        with pytest.raises(ArchiveUnavailable):
            services.archive.count()

        gate.open()
        tick(services)  # wakes the partitions whose backlog waits
        settle(services)
        assert sum(services.archive_backlog.depths()) == 0
        assert backlog_metric(client) == 0
        assert services.archive.count() == 9
        assert archived_ids(services.archive, contact_id(client, "p@x.io")) == [f"p@x.io-{n}" for n in range(7)]
        assert archived_ids(services.archive, contact_id(client, "q@x.io")) == ["q@x.io-1", "q@x.io-2"]
        assert score_of(client, "p@x.io", "eng") == 35


def test_a_contact_whose_batch_waits_is_archived_after_the_return_even_with_new_batches_first(
        make_app, postgres_url, gate):
    """Batches archived directly after the return and the older backlog both arrive, each record once."""
    with behind_the_gate(make_app, postgres_url, gate) as (client, services):
        send(client, *(opened(n, "r@x.io") for n in range(3)))
        settle(services)  # the archive was never reachable
        assert sum(services.archive_backlog.depths()) == 3
        gate.open()
        send(client, *(opened(n, "r@x.io") for n in range(2, 5)))  # one repeat, two new
        settle(services)  # the drain empties the backlog first, then archives the new batch
        assert sum(services.archive_backlog.depths()) == 0
        assert archived_ids(services.archive, contact_id(client, "r@x.io")) == [f"r@x.io-{n}" for n in range(5)]
        reopened = open_archive(services.archive.url)
        try:
            assert reopened.count() == 5
        finally:
            reopened.close()


def test_manual_score_changes_and_attribute_changes_are_archived_too(client, services):
    publish_profile(client, services, "eng", RULES)
    send(client, opened(1, "m@x.io"))
    settle(services)
    cid = contact_id(client, "m@x.io")
    resp = client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"add": 7, "reason": "call"})
    assert resp.status_code == 200, resp.get_json()
    resp = client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": {"plan": "pro"}})
    assert resp.status_code == 200, resp.get_json()
    kinds = sorted((r.source, r.type) for r in services.archive.history(cid))
    assert kinds == [("api", "email.opened"), ("attributes", "contact.attributes"), ("manual", "score.manual")]
    changed = [r for r in services.archive.history(cid) if r.source == "attributes"]
    assert [r.properties for r in changed] == [{"plan": "pro"}]


class SqliteOutage:
    """Two ways an SQLite archive stops taking appends: ``locked`` (another process holds the database's write lock:
    ``BEGIN EXCLUSIVE`` on its own connection; the app's append waits its busy timeout, shortened here, then
    gives up) and ``unwritable`` (the file, its WAL and its directory made immutable, ``chattr +i``, which holds
    for root too: the app's next connection opens it read-only)."""

    def __init__(self, how: str, path, monkeypatch):
        import app.archive.sqlite as sqlite_archive

        self.how, self.path, self.holder, self.immutable = how, path, None, []
        monkeypatch.setattr(sqlite_archive, "BUSY_TIMEOUT_MS", 300)  # a tunable: the wait before giving up

    def files(self) -> list[str]:
        return [str(p) for p in (self.path, self.path.with_name(self.path.name + "-wal"),
                                 self.path.with_name(self.path.name + "-shm")) if p.exists()] + [str(self.path.parent)]

    def start(self, services) -> None:
        import sqlite3
        import subprocess

        if self.how == "locked":
            self.holder = sqlite3.connect(self.path, isolation_level=None)
            self.holder.execute("BEGIN EXCLUSIVE")
            return
        services.archive.close()  # the next append connects again, to a file it cannot write
        self.immutable = self.files()
        done = subprocess.run(["chattr", "+i", *self.immutable], capture_output=True, text=True)
        if done.returncode != 0:
            self.end()
            pytest.skip(f"chattr +i is not supported here: {done.stderr.strip()}")

    def end(self) -> None:
        """The archive writable again (once; a second call does nothing)."""
        import subprocess

        if self.holder is not None:
            self.holder.rollback()
            self.holder.close()
            self.holder = None
        if self.immutable:
            subprocess.run(["chattr", "-i", *self.immutable], check=True)
            self.immutable = []


@pytest.mark.parametrize("how", ["locked", "unwritable"])
def test_an_sqlite_archive_locked_or_unwritable_stops_neither_ingest_nor_scoring_and_loses_nothing(
        make_app, tmp_path, monkeypatch, how):
    """The outage test above for the embedded default: scoring goes on and is exact while the file cannot be
    written, what it could not take waits in the backlog, and every interaction is in the archive once after."""
    path = tmp_path / "archive" / "archive.sqlite3"
    app = make_app(ARCHIVE_URL=f"sqlite:///{path}")
    client = app.test_client()
    outage = SqliteOutage(how, path, monkeypatch)
    with app.app_context():
        services = app.extensions["scorekeeper"]
        try:
            publish_profile(client, services, "eng", RULES)
            send(client, opened(0, "s@x.io"))
            settle(services)
            assert services.archive.count() == 1
            outage.start(services)
            send(client, *(opened(n, "s@x.io") for n in range(1, 6)), opened(1, "t@x.io", "email.clicked"))
            settle(services)
            send(client, opened(3, "s@x.io"), opened(6, "s@x.io"), opened(2, "t@x.io"))  # a repeat, two new
            settle(services)
            tick(services)  # the ticker retries, the archive still cannot be written
            run_jobs(services)
            assert score_of(client, "s@x.io", "eng") == 5 * 7
            assert score_of(client, "t@x.io", "eng") == 10 + 5
            assert not any(services.partitions.partition_depths())
            assert sum(services.archive_backlog.depths()) >= 8
            outage.end()
            tick(services)
            settle(services)
            assert sum(services.archive_backlog.depths()) == 0
            assert services.archive.count() == 9
            assert archived_ids(services.archive, contact_id(client, "s@x.io")) == [f"s@x.io-{n}" for n in range(7)]
            assert archived_ids(services.archive, contact_id(client, "t@x.io")) == ["t@x.io-1", "t@x.io-2"]
            assert score_of(client, "s@x.io", "eng") == 35
        finally:
            outage.end()
            services.archive.close()


def test_a_contact_with_a_horizon_waits_in_its_stream_while_postgresql_is_away_and_scores_exactly_after(
        make_app, postgres_url, gate, clock):
    """A record for a contact whose older history left Redis needs the archive (is it a repeat of one that left?
    is it older than the horizon?): while the archive cannot be reached its batch stays in its stream, nothing is
    lost or scored twice, and scoring resumes exactly when the archive returns."""
    from app.horizon import trim_all
    from app.scoring.interactions import format_timestamp

    from .clock import CLOCK_START

    def at(n: int, day: float) -> dict:
        return {**opened(n, "h@x.io"), "occurred_at": format_timestamp(CLOCK_START + int(day * 86_400_000))}

    settings = {"CLOCK": clock, "HOT_HISTORY": "1d", "PARTITIONS": 1}
    with behind_the_gate(make_app, postgres_url, gate, **settings) as (client, services):
        gate.open()
        publish_profile(client, services, "eng", RULES)
        send(client, *(at(n, 0) for n in range(3)))
        settle(services)
        clock.advance(3 * 86_400_000)
        assert trim_all(services, clock.now_ms())["records"] == 3  # h@x.io's history left Redis
        gate.shut()
        # a repeat of one that left, a new one, a late one older than the horizon
        send(client, at(1, 2.9), at(4, 2.9), at(9, 0.5))
        with pytest.raises(ArchiveUnavailable):  # the drain fails (its RQ job would), its batch left in the stream
            settle(services)
        tick(services)  # the ticker wakes the partition again: its drain job fails the same way
        run_jobs(services)
        assert score_of(client, "h@x.io", "eng") == 15  # not scored yet: its batch waits in its stream
        assert sum(services.partitions.partition_depths()) == 3
        gate.open()
        tick(services)
        settle(services)
        assert not any(services.partitions.partition_depths())
        assert score_of(client, "h@x.io", "eng") == 25  # the repeat changed nothing, the new and the late scored
        assert archived_ids(services.archive, contact_id(client, "h@x.io")) == [
            f"h@x.io-{n}" for n in (0, 1, 2, 4, 9)]


def test_a_long_backlog_is_flushed_under_a_renewed_lease_and_stops_where_the_lease_was_lost(services, monkeypatch):
    """The backlog is trimmed by count, so only the lease's holder may flush it: a flush renews the lease before each
    chunk after the first, and stops the moment a renewal fails (another worker may hold the partition now) — what
    it appended is out of the backlog, the rest is in it, nothing twice and nothing dropped."""
    monkeypatch.setattr("app.archiving.FLUSH_CHUNK", 4)
    records = [ArchivedRecord("c1", TimelineRecord(f"i{n}", "api", "email.opened", 1_700_000_000_000 + n, {}),
                              services.workspace) for n in range(10)]
    services.archive_backlog.push(0, [record.to_json() for record in records])
    renewals: list[bool] = []

    def renew() -> bool:  # the first renewal holds the lease; the second finds it gone
        renewals.append(len(renewals) == 0)
        return renewals[-1]

    with pytest.raises(LeaseLost):
        flush_backlog(services, 0, renew)
    assert renewals == [True, False]
    assert archived_ids(services.archive, "c1") == sorted(f"i{n}" for n in range(8))  # two chunks appended
    assert [item[1]["id"] for item in services.archive_backlog.oldest(0, 100)] == ["i8", "i9"]  # the rest waits
    assert flush_backlog(services, 0, lambda: True) is True  # the next holder takes the rest
    assert archived_ids(services.archive, "c1") == sorted(f"i{n}" for n in range(10))
    assert services.archive_backlog.oldest(0, 100) == []


def test_a_drain_that_loses_its_lease_while_it_flushes_the_backlog_scores_nothing(client, services, monkeypatch):
    """The drain itself: a lease gone during the flush ends the drain before it reads a batch."""
    monkeypatch.setattr("app.archiving.FLUSH_CHUNK", 2)
    send(client, opened(1, "l@x.io"))
    partition = next(p for p, depth in enumerate(services.partitions.partition_depths()) if depth)
    records = [ArchivedRecord("c1", TimelineRecord(f"i{n}", "api", "email.opened", 1_700_000_000_000 + n, {}),
                              services.workspace) for n in range(5)]
    services.archive_backlog.push(partition, [record.to_json() for record in records])
    monkeypatch.setattr(type(services.partitions), "renew_lease", lambda self, partition, token, ms: False)
    assert drain(services, partition) == 0
    assert len(services.archive_backlog.oldest(partition, 100)) == 3  # a chunk appended, then the lease was gone
    assert services.partitions.partition_depths()[partition] == 1  # the interaction waits for the next holder
    monkeypatch.undo()
    settle(services)
    assert services.archive_backlog.oldest(partition, 100) == [] and services.archive.count() == 6
