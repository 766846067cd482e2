"""A drain holds its partition's lease and wake mark together (app/storage/drain_lease.lua): what arrives while it
holds them queues no job and is scored by it (at once, or after a short wait for more, ``DRAIN_LINGER_MS``); what
arrives after its last look at the stream gets a job; a drain that fails or dies leaves nothing that would keep a
job from being queued (the ticker wakes the partition at once). Killed workers: tests/faults/test_worker_killed.py."""
from __future__ import annotations

import pytest

from app import scoring_service
from app.scoring_service import drain, tick
from app.storage.errors import StoreUnavailable

from .helpers import drain_ready, run_jobs, score_of, send

RULES = [{"id": "click", "on": "email.clicked", "points": 3}]


def clicked(email: str, n: int = 0) -> dict:
    return {"id": f"{email}-{n}", "type": "email.clicked", "contact": {"email": email}}


def queued(services) -> int:
    return sum(queue.count for queue in services.jobs.queues)


def mark(services) -> str | None:
    return services.redis.get(services.keys.wake(0))


def arriving_while_scoring(monkeypatch, client, emails: list[str]) -> list[int]:
    """Send one interaction per email while the drain scores its first batch; the jobs queued just after each."""
    queued_after: list[int] = []
    score_parsed = scoring_service.score_parsed

    def scoring(services, *args, **kwargs):
        while emails:
            send(client, clicked(emails.pop(0)))
            queued_after.append(queued(services))
        return score_parsed(services, *args, **kwargs)

    monkeypatch.setattr(scoring_service, "score_parsed", scoring)
    return queued_after


@pytest.mark.parametrize("linger_ms", [2000, 0])
def test_what_arrives_while_a_drain_holds_the_partition_queues_no_job(make_app, monkeypatch, linger_ms):
    with drain_ready(make_app, RULES, DRAIN_LINGER_MS=linger_ms) as (client, services):
        send(client, clicked("a@x.io"))
        assert queued(services) == 1 and mark(services) == "1"  # the ingest queued the drain's job
        services.queue.empty()
        queued_after = arriving_while_scoring(monkeypatch, client, ["b@x.io", "c@x.io"])
        scored = drain(services, 0)
        assert queued_after == [0, 0]  # the drain's token in the mark: no job for them
        if linger_ms:  # read after the partition was empty, within the wait: this drain scored them
            assert scored == 3 and queued(services) == 0 and mark(services) is None
        else:  # after its last look (no wait): one job, queued by the drain as it let go
            assert scored == 1 and queued(services) == 1 and mark(services) == "1"
            monkeypatch.undo()
            run_jobs(services)
            assert mark(services) is None and queued(services) == 0
        assert [score_of(client, e, "eng") for e in ("a@x.io", "b@x.io", "c@x.io")] == [3, 3, 3]
        assert not services.partitions.lease_held(0)
        send(client, clicked("d@x.io"))  # after the drain let go: a job, as before any drain
        assert queued(services) == 1 and mark(services) == "1"


def test_a_drain_does_not_wait_for_more_while_a_workflow_job_waits(make_app, monkeypatch):
    with drain_ready(make_app, RULES, DRAIN_LINGER_MS=60_000) as (client, services):
        send(client, clicked("a@x.io"))
        services.enqueue.start_runs(["run_a"])  # a run waits for a worker: the drain below does not hold its own
        waited = []
        monkeypatch.setattr(services.partitions, "linger", lambda *a: waited.append(a) or [])
        assert drain(services, 0) == 1
        assert not waited and mark(services) is None


def test_a_drain_waits_for_more_while_only_drains_of_other_partitions_wait(make_app, monkeypatch):
    """Each of those takes what arrives in its partition meanwhile: fewer drain jobs in all."""
    with drain_ready(make_app, RULES, DRAIN_LINGER_MS=60_000) as (client, services):
        send(client, clicked("a@x.io"))
        services.enqueue.drain_partition(1)  # another partition's drain waits in the queue
        waited = []
        monkeypatch.setattr(services.partitions, "linger", lambda *a: waited.append(a) or [])
        assert drain(services, 0) == 1
        assert len(waited) == 1 and waited[0][0] == 0 and mark(services) is None


def test_a_failed_drain_lets_go_of_its_lease_and_mark_and_the_ticker_wakes_the_partition(make_app, monkeypatch):
    with drain_ready(make_app, RULES) as (client, services):
        send(client, clicked("a@x.io"))
        services.queue.empty()

        def failing(*args, **kwargs):
            raise StoreUnavailable("gone")

        monkeypatch.setattr(scoring_service, "score_parsed", failing)
        with pytest.raises(StoreUnavailable):
            drain(services, 0)
        assert not services.partitions.lease_held(0) and mark(services) is None
        assert services.partitions.partition_depths() == [1]  # the entry waits
        monkeypatch.undo()
        tick(services)
        assert queued(services) == 1
        run_jobs(services)
        assert score_of(client, "a@x.io", "eng") == 3


def test_a_drain_that_died_leaves_its_mark_and_the_ticker_queues_a_job_at_once(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        assert services.partitions.take(0, "dead-drain", 60_000)
        send(client, clicked("a@x.io"))
        assert queued(services) == 0  # the drain would have read it
        tick(services)
        assert queued(services) == 0  # its lease still held: it is alive for all we know
        services.redis.delete(services.keys.lease(0))  # its lease lapses
        tick(services)
        assert queued(services) == 1
        run_jobs(services)
        assert score_of(client, "a@x.io", "eng") == 3 and mark(services) is None


def test_a_drain_that_finds_the_partition_held_takes_nothing_and_the_holder_sees_what_waits(make_app):
    with drain_ready(make_app, RULES, DRAIN_LINGER_MS=0) as (client, services):
        assert services.partitions.take(0, "holder", 60_000)
        send(client, clicked("a@x.io"))
        assert drain(services, 0) == 0 and mark(services) == "holder"
        assert services.partitions.let_go(0, "holder")  # entries wait: the holder's caller queues their job
        assert mark(services) == "1" and not services.partitions.lease_held(0)
        assert not services.partitions.let_go(0, "holder")  # already queued: not twice
