"""Write-through to the archive (app/archiving.py): every scored interaction reaches the archive exactly
once, through duplicates, replays and an archive outage, without holding scoring back."""
from __future__ import annotations

import pytest

from app.archive import ArchiveUnavailable, open_archive
from app.archiving import archive_batch
from app.scoring_service import make_scorer, score_entries, tick

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
    database = postgres_url.rsplit("/", 1)[1]
    app = make_app(ARCHIVE_URL=f"postgresql://postgres@127.0.0.1:{gate.port}/{database}")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        try:
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
        finally:
            services.archive.close()


def test_a_contact_whose_batch_waits_is_archived_after_the_return_even_with_new_batches_first(
        make_app, postgres_url, gate):
    """Batches archived directly after the return and the older backlog both arrive, each record once."""
    database = postgres_url.rsplit("/", 1)[1]
    app = make_app(ARCHIVE_URL=f"postgresql://postgres@127.0.0.1:{gate.port}/{database}")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        try:
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
        finally:
            services.archive.close()


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
