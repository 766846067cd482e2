"""The worker's RQ side (workers/main.py): it takes workflow jobs first, and renews its key as often as it must, not
three more times per job."""
from __future__ import annotations

from datetime import timedelta

import pytest
import redis
from rq import Queue

from workers.main import HEARTBEAT_GAP_S, new_worker, worker_class_for

from .conftest import TEST_REDIS_URL


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends: one ``send_packed_command`` per round trip."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sent += 1
        return super().send_packed_command(command, check_health)


def nothing() -> None:
    """A job that does nothing: what the worker spends on a job beyond its work."""


@pytest.fixture
def counted() -> redis.Redis:
    pool = redis.ConnectionPool.from_url(TEST_REDIS_URL, connection_class=CountingConnection)
    connection = redis.Redis(connection_pool=pool)
    connection.flushdb()
    yield connection
    connection.flushdb()
    pool.disconnect()


def run_jobs(connection: redis.Redis, worker_class: type, jobs: int = 20) -> tuple[float, int]:
    """Round trips per job of ``jobs`` jobs that do nothing, and the TTL of the worker's key after the last."""
    queue = Queue("heartbeat-test", connection=connection)
    queue.enqueue_many([Queue.prepare_data(nothing, (), result_ttl=0) for _ in range(jobs)])
    worker = worker_class([queue], connection=connection)
    worker.bootstrap("WARNING")
    try:
        before = CountingConnection.sent
        for _ in range(jobs):  # the turns of RQ's work loop (Worker.work), as the worker process makes them
            worker.check_for_suspension(True)
            job, job_queue = worker.dequeue_job_and_maintain_ttl(None)
            worker.execute_job(job, job_queue)
            worker.heartbeat()
        return (CountingConnection.sent - before) / jobs, connection.ttl(worker.key)
    finally:
        worker.teardown()


def test_a_job_costs_nine_round_trips_fewer_than_with_rqs_own_worker_class(counted):
    from rq import SimpleWorker

    ours, _ = run_jobs(counted, worker_class_for("simple"))
    counted.flushdb()
    rqs, _ = run_jobs(counted, SimpleWorker)
    assert rqs - ours == pytest.approx(9, abs=0.5), (rqs, ours)


def test_the_workers_key_lives_on_while_it_works(counted):
    _, ttl = run_jobs(counted, worker_class_for("simple"), jobs=5)
    # renewed before each job for its time limit + 60 s (RQ's default limit, 180 s), and to worker_ttl + 60 (480 s)
    # with the suspension check at the start of each turn
    assert ttl > 200


@pytest.mark.parametrize("name", ["simple", "fork"])
def test_a_heartbeat_soon_after_another_is_skipped_and_one_after_the_gap_is_made(counted, name):
    worker = worker_class_for(name)([Queue("heartbeat-test", connection=counted)], connection=counted)
    worker.register_birth()
    worker.heartbeat()
    first = worker.last_heartbeat
    worker.heartbeat()
    assert worker.last_heartbeat == first  # skipped: renewed moments ago
    worker.heartbeat(timeout=90)  # with a time limit (before a job): always made
    assert worker.last_heartbeat > first
    assert 0 < counted.ttl(worker.key) <= 90
    worker.last_heartbeat -= timedelta(seconds=HEARTBEAT_GAP_S + 1)  # an idle worker, back from a long wait
    worker.heartbeat()
    assert counted.ttl(worker.key) > 400
    worker.register_death()


def test_the_worker_takes_workflow_jobs_before_the_drains_queued_earlier(services):
    """Runs and webhook retries go on the workflow queue, which the worker process's worker takes from first."""
    from rq.job import Job

    for partition in range(3):
        services.enqueue.drain_partition(partition)
    services.enqueue.start_runs(["run_a", "run_b"])
    services.enqueue.attempt_delivery("msg_a", 0, 2, 0.0, "msg_a-0-2")
    assert (len(services.jobs.workflow_queue), len(services.queue)) == (3, 3)
    worker = new_worker(services, worker_class_for("simple"))
    worker.bootstrap("WARNING")
    try:
        taken = []
        for _ in range(6):
            job, queue = worker.dequeue_job_and_maintain_ttl(None)
            taken.append(job.func_name.rsplit(".", 1)[1])
            queue.connection.delete(Job.key_for(job.id))  # taken, not run: the order is the point
    finally:
        worker.teardown()
    assert taken == ["execute_run", "execute_run", "deliver_webhook", "drain_partition", "drain_partition",
                     "drain_partition"]
