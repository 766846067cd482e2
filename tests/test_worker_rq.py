"""The worker's RQ side (workers/main.py): it takes workflow jobs first, renews its key as often as it must, not
three more times per job, registers a job's execution and its start in one round trip, and ends the app's jobs in
one."""
from __future__ import annotations

import signal
import threading
from datetime import timedelta

import pytest
import redis
from rq import Queue, SimpleWorker
from rq.registry import FailedJobRegistry

from app.jobs import LEAF_META
from workers.main import HEARTBEAT_GAP_S, new_worker, worker_class_for
from workers.pubsub import BoundedUnsubscribe

from .conftest import TEST_REDIS_URL


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends: one ``send_packed_command`` per round trip."""

    sent = 0

    def send_packed_command(self, command, check_health=True):
        type(self).sent += 1
        return super().send_packed_command(command, check_health)


class RQsOwn(BoundedUnsubscribe, SimpleWorker):
    """RQ's own ``SimpleWorker``, what the app's is compared with, its end's wait bounded as every worker's here: RQ's
    waits out its pub/sub thread's minute now and then under load (workers/pubsub.py), and by then the worker key,
    given 60 s to live at its death, had expired (the keys compared differed: a flake of its own)."""


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


def run_jobs(connection: redis.Redis, worker_class: type, jobs: int = 20, meta: dict | None = None,
             result_ttl: int = 0) -> tuple[float, int]:
    """Round trips per job of ``jobs`` jobs that do nothing, and the TTL of the worker's key after the last."""
    queue = Queue("heartbeat-test", connection=connection)
    queue.enqueue_many([Queue.prepare_data(nothing, (), result_ttl=result_ttl, meta=meta) for _ in range(jobs)])
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


def what_is_left(connection: redis.Redis) -> dict[str, object]:
    """How many keys of each kind RQ left (names with their job's or worker's id left out) and their types, and
    what the worker counted."""
    import re
    from collections import Counter

    left: Counter[tuple[str, str]] = Counter()
    counted = state = None
    fields: set[tuple[str, ...]] = set()
    for key in (key.decode() for key in connection.keys("*")):
        if key.startswith("rq:worker:"):
            counted = tuple(int(connection.hget(key, field) or 0) for field in ("successful_job_count", "failed_job_count"))
            state = connection.hget(key, "state")
        if key.startswith("rq:job:") and connection.type(key) == b"hash":  # a kept job: its fields, each set
            fields.add(tuple(sorted(f.decode() for f, v in connection.hgetall(key).items() if v)))
        left[(re.sub(r"[0-9a-f]{32}|[0-9a-f-]{36}", "ID", key), connection.type(key).decode())] += 1
    return {"keys": dict(left), "counted": counted, "state": state, "job fields": fields}


def per_job(connection: redis.Redis, worker_class: type, **options) -> float:
    """Round trips per job past the first (20 jobs against 2: the worker's set-up and first job left out)."""
    connection.flushdb()
    two, _ = run_jobs(connection, worker_class, jobs=2, **options)
    connection.flushdb()
    twenty, _ = run_jobs(connection, worker_class, jobs=20, **options)
    return (twenty * 20 - two * 2) / 18


def test_a_job_costs_twelve_round_trips_fewer_than_with_rqs_own_worker_class(counted):
    """9 heartbeats, the idle state written twice, the execution registered apart from the job's start, the job's
    hash read apart from the take."""

    ours = per_job(counted, worker_class_for("simple"))
    rqs = per_job(counted, RQsOwn)
    assert (rqs, ours) == (pytest.approx(27, abs=0.5), pytest.approx(15, abs=0.5))


@pytest.mark.parametrize("result_ttl, rqs_trips", [(0, 27), (600, 20)])
def test_a_job_the_app_queued_costs_three_round_trips(counted, result_ttl, rqs_trips):
    """RQ ends a job of ``result_ttl`` 0 in ten round trips, one that keeps its result in three, and writes the job's
    last heartbeat and the worker's idle state alone before, and looks for a suspension alone after; a leaf job
    (``LEAF_META``: the app's) ends in one, which does all that too. Per job the worker sends: the take (with the
    job's hash), the execution and start, the end."""

    leaf = {LEAF_META: 1}
    ours = per_job(counted, worker_class_for("simple"), meta=leaf, result_ttl=result_ttl)
    rqs = per_job(counted, RQsOwn, meta=leaf, result_ttl=result_ttl)
    assert (rqs, ours) == (pytest.approx(rqs_trips, abs=0.5), pytest.approx(3, abs=0.5))


@pytest.mark.parametrize("result_ttl", [0, 600])
def test_the_worker_leaves_redis_as_rqs_own_worker_does(counted, result_ttl):
    """Whatever the ending, the same keys are left behind, of the same types, and every job is counted."""

    run_jobs(counted, worker_class_for("simple"), jobs=5, meta={LEAF_META: 1}, result_ttl=result_ttl)
    ours = what_is_left(counted)
    counted.flushdb()
    run_jobs(counted, RQsOwn, jobs=5, meta={LEAF_META: 1}, result_ttl=result_ttl)
    rqs = what_is_left(counted)
    assert ours == rqs and ours["counted"] == (5, 0) and ours["state"] == b"idle"
    assert not [key for key, _ in ours["keys"] if ":execution" in key or ":wip:" in key
                or (result_ttl == 0 and ":job:" in key)]


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


@pytest.mark.parametrize("wait_s", [pytest.param(None, id="jobs-waiting"), pytest.param(1, id="waiting-for-one")])
def test_a_job_taken_by_a_worker_that_dies_before_starting_it_is_not_lost(services, wait_s):
    """With two queues RQ pops the job (LPOP, BLPOP): taken by a worker that then dies, it was gone. The worker
    takes it into its queue's intermediate list, where RQ's clean-up finds it and fails it, as for a worker of one
    queue (the publish watchdog and the ticker queue again the parts and drains it finds)."""
    from rq.job import Job
    from rq.registry import FailedJobRegistry

    services.enqueue.start_runs(["run_a"])
    queue = services.jobs.workflow_queue
    worker = new_worker(services, worker_class_for("simple"))
    worker.bootstrap("WARNING")
    try:
        job, taken_from = worker.dequeue_job_and_maintain_ttl(wait_s)  # taken; the worker dies before starting it
    finally:
        worker.teardown()
    assert (job.id, taken_from.name, len(queue)) == ("run_a-start", queue.name, 0)
    connection = queue.connection
    assert connection.lrange(queue.intermediate_queue_key, 0, -1) == [b"run_a-start"]
    sweeper = new_worker(services, worker_class_for("simple"))
    queue.intermediate_queue.cleanup(sweeper, queue)  # RQ's clean-up: first seen now...
    connection.set(queue.intermediate_queue.get_first_seen_key(job.id), 0)  # ...and a while ago
    queue.intermediate_queue.cleanup(sweeper, queue)
    assert FailedJobRegistry(queue=queue).get_job_ids() == ["run_a-start"]
    assert Job.fetch("run_a-start", connection=connection).get_status() == "failed"


def test_jobs_taken_from_both_queues_leave_nothing_in_the_intermediate_lists(services):
    from rq.job import Job

    services.enqueue.start_runs(["run_a"])
    services.enqueue.drain_partition(0)
    worker = new_worker(services, worker_class_for("simple"))
    worker.bootstrap("WARNING")
    try:
        for _ in range(2):
            job, queue = worker.dequeue_job_and_maintain_ttl(None)
            worker.prepare_job_execution(job)  # its start written; as the worker does before running it
            assert queue.connection.lrange(queue.intermediate_queue_key, 0, -1) == []
            queue.connection.delete(Job.key_for(job.id))
    finally:
        worker.teardown()
    assert [key for key in services.queue.connection.keys("*intermediate*")] == []


def test_a_suspension_is_seen_by_the_turn_after_a_job_the_app_queued(counted):
    """The look for a suspension made by the job's end, not by the next turn: ``rq suspend`` stops the worker as
    soon as RQ's own look would, and the worker's key lives on."""
    from rq.suspension import suspend

    queue = Queue("heartbeat-test", connection=counted)
    queue.enqueue_many([Queue.prepare_data(nothing, (), result_ttl=0, meta={LEAF_META: 1}) for _ in range(2)])
    worker = worker_class_for("simple")([queue], connection=counted)
    worker.bootstrap("WARNING")
    try:
        worker.check_for_suspension(True)
        job, job_queue = worker.dequeue_job_and_maintain_ttl(None)
        suspend(counted)  # while the job runs
        worker.execute_job(job, job_queue)
        assert counted.ttl(worker.key) > 400  # renewed by the job's end for the turn after it
        from rq.exceptions import StopRequested
        with pytest.raises(StopRequested):  # in a burst RQ's look stops the worker at once
            worker.check_for_suspension(True)
    finally:
        worker.teardown()


RAN = threading.Event()


def mark() -> None:
    """A job that says it ran."""
    RAN.set()


@pytest.mark.parametrize("result_ttl", [0, 600])
def test_a_stop_requested_while_a_job_of_the_app_ends_stops_the_worker_after_that_job(counted, result_ttl):
    """SIGTERM (a deploy, the tests' ``stop`` of a worker process) arriving while the worker ends a job of the app:
    the job ends finished and the worker stops before taking the next. The worker's state was idle from the start
    of that transaction on, so RQ's handler, finding it idle, raised ``StopRequested`` inside it: RQ counted the job
    failed, and its loop, which never saw the stop, went on working (the process ran until its SIGKILL)."""
    queue = Queue("stop-test", connection=counted)
    queue.enqueue_many([Queue.prepare_data(mark, (), result_ttl=result_ttl, meta={LEAF_META: 1}) for _ in range(2)])

    class SignalledAsTheJobEnds(worker_class_for("simple")):  # type: ignore[misc, valid-type]
        signalled = False

        def heartbeat(self, timeout=None, pipeline=None):
            if pipeline is not None and RAN.is_set() and not self.signalled:  # in the transaction that ends it
                self.signalled = True
                self.request_stop(signal.SIGTERM, None)  # what the signal's handler runs, here
            return super().heartbeat(timeout, pipeline)

    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    RAN.clear()
    worker = SignalledAsTheJobEnds([queue], connection=counted)
    try:
        worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert worker.signalled
    assert FailedJobRegistry(queue=queue).count == 0  # the job that ended did not fail
    assert queue.count == 1  # and the worker stopped before the next


@pytest.mark.parametrize("result_ttl", [0, 600])
def test_a_stop_requested_just_after_a_job_of_the_app_ended_stops_the_worker_after_that_job(counted, result_ttl):
    """SIGTERM arriving once the transaction that ended the job has run, while RQ still finishes the job's turn
    inside its ``perform_job`` (the job's webhooks, the "Job OK" log line): the job stays finished and the worker stops
    before the next. A worker whose state this process held idle from the transaction on raised ``StopRequested``
    there, inside the job's ``try``: RQ counted the finished job failed and its loop never saw the stop."""
    import logging

    queue = Queue("stop-test", connection=counted)
    queue.enqueue_many([Queue.prepare_data(mark, (), result_ttl=result_ttl, meta={LEAF_META: 1}) for _ in range(2)])
    worker = worker_class_for("simple")([queue], connection=counted)
    signalled = []

    class SignalAtJobOK(logging.Handler):
        def emit(self, record):
            if "Job OK" in record.getMessage() and not signalled:
                signalled.append(True)
                worker.request_stop(signal.SIGTERM, None)  # what the signal's handler runs, here

    handler = SignalAtJobOK()
    logging.getLogger("rq.worker").addHandler(handler)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        worker.work(burst=True, with_scheduler=False, logging_level="INFO")
    finally:
        logging.getLogger("rq.worker").removeHandler(handler)
        for sig, old in handlers.items():
            signal.signal(sig, old)
    assert signalled
    assert FailedJobRegistry(queue=queue).count == 0  # the job that ended did not fail
    assert queue.count == 1  # and the worker stopped before the next
