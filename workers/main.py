"""The worker process: an RQ worker plus a ticker thread.

The ticker brings due expiries into the pipeline, re-wakes partitions whose drain job
was lost (say, with a killed worker), moves due scheduled jobs (waits, retries) to the
queue, sweeps what is past its retention, copies history from before the archive into it
(app/archive_backfill.py), moves contacts' hot horizons (app/horizon.py), queues again the
lost jobs of a publish that stopped moving (``watch_publishes``, app/publish.py) and the first
attempts of webhook deliveries whose run job died before making them (``queue_awaiting``,
app/automation/deliveries.py), so scoring and workflows need no request to make progress. It does the
scheduling itself instead of RQ's scheduler because RQ's scheduler lock outlives a killed worker by a minute and is
only retried every ten: after a crash, waits would resume up to ten minutes late.
"""
from __future__ import annotations

import logging
import threading
import time
import uuid
from datetime import timedelta
from typing import Any

from rq import Queue, SimpleWorker, Worker
from rq.executions import Execution
from rq.intermediate_queue import IntermediateQueue
from rq.exceptions import DequeueTimeout, NoSuchJobError
from rq.job import JobStatus
from rq.results import Result
from rq.suspension import WORKERS_SUSPENDED
from rq.scheduler import RQScheduler
from rq.utils import now
from rq.worker.base import BaseWorker, WorkerStatus

from app import create_app
from app.jobs import LEAF_META
from app.scoring_service import tick
from app.contact_layout import WORKER_PREFIX, await_workers_before, migrate_layouts
from app.processes import await_processes_before, exit_on_sigterm, start_heartbeat
from app.indexes import absorb_scores, backfill_once
from app.archive_backfill import backfill_tick
from app.horizon import trim_step
from app.publish import watch_publishes
from app.automation.deliveries import queue_awaiting
from app.retention import sweep_if_due
from app.clock import now_ms
from app.services import get_services
from app.workspaces import every_workspace
from workers.pubsub import BoundedUnsubscribe
from app.storage.connection import queue_connection
from app.storage.jobs import JobTaker
from app.storage.errors import StoreError, store_errors

log = logging.getLogger(__name__)


def _ticker(app, stop: threading.Event) -> None:
    period = float(app.config["TICK_SECONDS"])
    with app.app_context():
        services = get_services()
        token = uuid.uuid4().hex
        while not stop.wait(period):
            try:
                if services.partitions.hold_ticker(token, int(period * 3000)):
                    tick_every_workspace(services)
                    enqueue_due_jobs(services)
            except Exception:  # keep ticking through a Redis restart
                log.exception("tick failed")


def tick_every_workspace(services) -> None:
    """The periodic duties (expiries, stalled partitions, retention) of each workspace, one after the other; a
    failing workspace does not stop the others' (the caller holds the ticker lock, held in ``default``)."""
    for workspace in every_workspace(services):
        try:
            tick(workspace)
            sweep_if_due(workspace, now_ms())
            backfill_tick(workspace)  # history from before the archive, into it (app/archive_backfill.py)
            trim_step(workspace, workspace.clock.now_ms())  # the hot horizon (app/horizon.py)
            watch_publishes(workspace, now_ms())  # publishes whose parts were lost (wall clock: processes dying)
            workspace.contacts.registry.tidy()  # new contacts into the registry's index (cluster), old sets emptied
            workspace.companies.tidy()  # new contacts of big companies into their rosters' indexes
            absorb_scores(workspace, now_ms())  # the score index's changes into its compact base, when due
            queue_awaiting(workspace, now_ms())  # first webhook attempts a run job that died never made
        except Exception:
            log.exception("tick failed", extra={"workspace": workspace.workspace})


def enqueue_due_jobs(services) -> None:
    """Move scheduled jobs that are due to their queue (the caller holds the ticker lock)."""
    names = [queue.name for queue in services.jobs.queues]
    scheduler = RQScheduler(names, connection=services.queue.connection)
    scheduler.prepare_registries(names)
    scheduler.enqueue_scheduled_jobs()


def main(burst: bool = False) -> None:
    app = create_app()
    services = app.extensions["scorekeeper"]
    exit_on_sigterm()  # until RQ's loop takes SIGTERM over: a clean stop, withdrawn; a migration cut short resumes
    heartbeat = start_heartbeat(services, "worker")  # seen by `scorekeeper status` from now, waiting included
    try:
        _start(app, services, heartbeat)
    except SystemExit:
        heartbeat.stop()
        raise
    try:
        _work(app, services, burst)
    finally:
        heartbeat.stop()


def _start(app, services, heartbeat) -> None:
    """What a worker does before taking jobs: the ticks missed, the backfills, the waits, the layout migrations."""
    with app.app_context():
        for workspace in every_workspace(services):
            tick(workspace)  # pick up whatever was left while no worker ran
        backfill_once(services)  # index contacts stored before the search and activity indexes
        # fold states are moved only once no worker of a release before writes them (it returns at once after that)
        await_workers_before(list(every_workspace(services)), threading.Event())
        # ... and no process (web ones included) that announced itself without knowing a migration still to run
        await_processes_before(list(every_workspace(services)), threading.Event(), heartbeat=heartbeat)
        for workspace in every_workspace(services):
            migrate_layouts(workspace)  # rosters, fold states, identity keys, registry, big rosters, activity


def _work(app, services, burst: bool) -> None:
    """The ticker's thread and RQ's loop, until a stop request or the end of a burst."""
    stop = threading.Event()
    thread = threading.Thread(target=_ticker, args=(app, stop), daemon=True, name="ticker")
    thread.start()
    worker_class = worker_class_for(app.config["WORKER_CLASS"])
    try:
        with app.app_context():
            while True:
                worker = new_worker(services, worker_class)
                try:
                    with store_errors():
                        worker.work(burst=burst, with_scheduler=False, logging_level=app.config["LOG_LEVEL"])
                except StoreError:  # raised by RQ's own teardown while Redis is away
                    log.exception("worker lost Redis")
                # RQ quits its loop on any error, Redis going away included: only a stop request
                # (SIGTERM/SIGINT) or the end of a burst ends the process, else wait and work again.
                if burst or worker.stop_signalled:
                    break
                _wait_for_redis(services, stop)
    finally:
        stop.set()


#: Seconds within which a worker's key, renewed, is not renewed again by RQ's stand-alone heartbeats.
HEARTBEAT_GAP_S = 10.0


def worker_class_for(name: str) -> type:
    """The RQ worker class of ``WORKER_CLASS`` (``simple``: jobs in the worker process; else a child per job),
    remembering whether it was told to stop, with fewer heartbeats."""
    return _stoppable(SimpleWorker if name == "simple" else Worker)


def new_worker(services, worker_class: type):
    """An RQ worker of ``worker_class`` on both queues, the workflow queue first: runs and webhook attempts do not
    wait behind the drains queued before them."""
    return worker_class(services.jobs.queues, connection=queue_connection(services.settings["REDIS_URL"]),
                        name=WORKER_PREFIX + uuid.uuid4().hex)


def _stoppable(base: type) -> type:
    """The RQ worker class, remembering whether it was told to stop (RQ's loop ends on errors too), whose
    stand-alone heartbeats skip a renewal made moments ago, which does not write the state it wrote last again, which
    ends the app's jobs in one round trip (``_is_leaf``), and which, running jobs in its own process, registers a
    job's execution and marks it started in one round trip.

    RQ 3 renews the worker's key (``HSET`` of ``last_heartbeat`` and two ``EXPIRE``, three round trips) twice
    while taking each job and once after it, and also in each turn of its loop, pipelined with the suspension
    check: nine of the ~27 round trips RQ spends on every job, each a wait for Redis on a busy machine. The key
    lives ``worker_ttl + 60`` s (480 s) and is renewed by that check before every job, so a heartbeat of its own,
    with no pipeline and no timeout, within ``HEARTBEAT_GAP_S`` of the last one, is skipped; the ones with a
    timeout (before a job: its time limit) or on a pipeline are made as RQ makes them, and an idle worker,
    blocked on the queue, still renews its key between two waits.

    Around each job RQ 3 also sends, each alone: the execution's record and the worker's ``busy`` state (one
    transaction), then the job's start (another), the job's ``last_heartbeat`` as it ends, the worker's ``idle``
    state after it, and its look for a suspension with the key's renewal at the start of the next turn. A
    ``SimpleWorker`` of this class sends the first two as one transaction (nothing runs between them), and for the
    app's jobs sends the rest in the transaction that ends the job: four round trips fewer per job. Its stop waits
    for its pub/sub thread at most a second (``workers/pubsub.py``)."""

    class StoppableWorker(BoundedUnsubscribe, base):  # type: ignore[valid-type, misc]
        stop_signalled = False
        #: The state this worker last wrote on its own (no pipeline): RQ writes ``idle`` after each job and again
        #: before taking the next; the second is skipped (nothing else writes a worker's state).
        _state_written: str | None = None
        #: A ``SimpleWorker``'s transaction registering the execution of the job it took, sent with the job's start.
        _preparing: Any = None
        #: The id and time limit of a job whose ending heartbeat is held back for the transaction that ends it.
        _heartbeat_due: tuple[str, int] | None = None
        #: Whether jobs waited in the queues when the last job ended (its transaction counts them): the next take
        #: tries the queues at once; else it waits on them (``take_job``).
        _jobs_waiting = True
        #: Whether the transaction that ended the last job found no suspension (``rq suspend``): the next turn of
        #: RQ's loop does not look again.
        _not_suspended = False
        #: The key of the queue whose intermediate list holds the job taken last, until its start is written.
        _taken_from: str | None = None

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._taker = JobTaker(self.connection, self.job_class.redis_job_namespace_prefix)
            self.queue_class = _taking_queue(self)

        def take_job(self, queues, timeout, job_class=None, serializer=None):
            """RQ's ``Queue.dequeue_any`` for this worker: the job taken into its queue's intermediate list
            (``JobTaker``) — at once in one round trip when jobs waited as the last job ended (or in a burst),
            else waiting (two). Raises ``DequeueTimeout`` when none came within ``timeout``, as RQ's."""
            keys = [queue.key for queue in queues]
            while True:
                taken = self._taker.take(keys) if timeout is None or self._jobs_waiting else None
                if taken is None and timeout is not None:
                    taken = self._taker.wait(keys, timeout)
                    if taken is None:
                        raise DequeueTimeout(timeout, keys)
                self._jobs_waiting = True  # until a job's end counts them again
                if taken is None:
                    return None
                queue_key, job_id, raw = taken
                job = (job_class or self.job_class)(job_id.decode(), connection=self.connection,
                                                    serializer=serializer or self.serializer)
                try:
                    job.restore(raw)
                except NoSuchJobError:  # not a job's hash: RQ skips it too
                    continue
                self._taken_from = queue_key.decode()
                return job, next(queue for queue in queues if queue.key == self._taken_from)

        def set_state(self, state, pipeline=None):
            if pipeline is None and state == self._state_written:
                self._state = state
                return
            super().set_state(state, pipeline)
            self._state_written = state if pipeline is None else None

        def check_for_suspension(self, burst):
            """RQ's, unless the transaction that ended the last job looked moments ago (and renewed the worker's
            key, as RQ's look does)."""
            if self._not_suspended:
                self._not_suspended = False
                return
            super().check_for_suspension(burst)

        def request_stop(self, signum, frame):
            self.stop_signalled = True
            super().request_stop(signum, frame)

        def heartbeat(self, timeout=None, pipeline=None):
            if (timeout is None and pipeline is None and self.last_heartbeat is not None
                    and now() - self.last_heartbeat < timedelta(seconds=HEARTBEAT_GAP_S)):
                return
            super().heartbeat(timeout, pipeline)

        def prepare_execution(self, job):
            """RQ's, but a ``SimpleWorker`` keeps the transaction for ``prepare_job_execution``, which follows it
            at once in the same process."""
            if not issubclass(base, SimpleWorker):
                return super().prepare_execution(job)
            pipe = self.connection.pipeline()
            execution = Execution.create(job, self.get_heartbeat_ttl(job), pipeline=pipe, worker_name=self.name)
            self.executions[execution.id] = execution
            BaseWorker.set_state(self, WorkerStatus.BUSY, pipeline=pipe)
            self._state_written = None
            self._preparing = pipe
            return execution

        def prepare_job_execution(self, job, remove_from_intermediate_queue=False):
            """RQ's, sent with the execution's registration when ``prepare_execution`` kept it."""
            pipe, self._preparing = self._preparing, None
            taken_from, self._taken_from = self._taken_from, None
            if pipe is None:  # a forking worker's child: RQ's, out of the intermediate list the take put it in
                return super().prepare_job_execution(job, remove_from_intermediate_queue or taken_from is not None)
            with pipe:
                heartbeat_ttl = self.get_heartbeat_ttl(job)
                self.heartbeat(heartbeat_ttl, pipeline=pipe)
                job.heartbeat(now(), heartbeat_ttl, pipeline=pipe)
                job.prepare_for_execution(self.name, pipeline=pipe)
                pipe.persist(job.key)
                if remove_from_intermediate_queue or taken_from is not None:
                    pipe.lrem(IntermediateQueue.get_intermediate_queue_key(
                        taken_from or Queue.redis_queue_namespace_prefix + job.origin), 1, job.id)
                pipe.execute()
            self.procline(f"Processing {job.func_name} from {job.origin} since {time.time()}")
            return None

        def handle_execution_ended(self, job, queue, heartbeat_ttl):
            """RQ writes the job's ``last_heartbeat`` as it ends, alone; for a job of the app that succeeded it is
            written (or the job deleted) by the transaction that ends it."""
            if not _is_leaf(job) or job.get_status(refresh=False) == JobStatus.FAILED:
                return super().handle_execution_ended(job, queue, heartbeat_ttl)
            job.ended_at = now()
            job.last_heartbeat = job.ended_at
            self._heartbeat_due = (job.id, heartbeat_ttl)
            return None

        def handle_job_retry(self, job, queue, retry, started_job_registry, execution):
            """A job that returned ``Retry`` (the app's never do): the heartbeat held back is written first."""
            if self._heartbeat_due is not None and self._heartbeat_due[0] == job.id:
                job.heartbeat(job.last_heartbeat, self._heartbeat_due[1])
            self._heartbeat_due = None
            return super().handle_job_retry(job, queue, retry, started_job_registry, execution)

        def handle_job_success(self, job, queue, started_job_registry, execution):
            if not _is_leaf(job):
                return super().handle_job_success(job, queue, started_job_registry, execution)
            self._heartbeat_due = None
            result_ttl = job.get_result_ttl(self.default_result_ttl)
            with self.connection.pipeline() as pipe:  # MULTI ... EXEC, as RQ's own
                self.increment_successful_job_count(pipeline=pipe)
                self.increment_total_working_time(job.ended_at - job.started_at, pipe)
                if result_ttl == 0:
                    # its record, and its place in the registries and the worker's set
                    execution.delete(job=job, pipeline=pipe)
                    pipe.delete(job.key, job.dependents_key, job.dependencies_key, Result.get_key(job.id),
                                job.execution_registry.key)
                else:  # RQ's ending without its look for dependents (a WATCH and an SMEMBERS)
                    job._handle_success(result_ttl, pipeline=pipe, worker_name=self.name, execution_id=execution.id,
                                        execution_started_at=execution.created_at, execution_ended_at=job.ended_at)
                    job.cleanup(result_ttl, pipeline=pipe, remove_from_queue=False)
                    execution.delete(job=job, pipeline=pipe)
                idle = not self.is_horse  # a child of a forking worker leaves its parent's state to the parent
                if idle:  # and the next turn's renewal of the worker's key with its look for a suspension
                    # Written, but the state this process holds stays busy until perform_job has returned (below): RQ's
                    # SIGTERM handler raises StopRequested when it finds the worker idle, which here, inside the
                    # job's end, RQ counted as the job failing, and its loop never saw the stop (the worker went on).
                    pipe.hset(self.key, "state", WorkerStatus.IDLE)
                    self.heartbeat(pipeline=pipe)
                    pipe.exists(WORKERS_SUSPENDED)
                for waiting in self.queues:  # whether the next take finds a job at once
                    pipe.llen(waiting.key)
                replies = pipe.execute()
            lengths = replies[-len(self.queues):]
            self._jobs_waiting = any(lengths)
            self._not_suspended = idle and not replies[-len(self.queues) - 1]
            job._status = JobStatus.FINISHED
            self.executions.pop(execution.id, None)
            if idle:  # written: RQ's set_state(IDLE) once perform_job has returned then holds it with no round trip.
                # Not held here: RQ's turn goes on inside perform_job's try (the job's webhooks, its "Job OK" line),
                # where a stop raised as StopRequested (found idle) would count the job failed and be lost; held busy
                # until then, a stop is remembered and the loop stops before the next job.
                self._state_written = WorkerStatus.IDLE
            return None

    return StoppableWorker


def _taking_queue(worker) -> type:
    """The worker's queue class, whose ``dequeue_any`` (what RQ's loop calls to take a job) is the worker's
    ``take_job``."""

    class TakingQueue(worker.queue_class):  # type: ignore[name-defined, misc]
        @classmethod
        def dequeue_any(cls, queues, timeout, connection=None, job_class=None, serializer=None,
                        death_penalty_class=None):
            return worker.take_job(queues, timeout, job_class, serializer)

    return TakingQueue


def _is_leaf(job) -> bool:
    """Whether a job is one the app queued (``LEAF_META``: no job depends on it) of none of RQ's features that need
    more at its end (repeats, groups, rate limits): the worker ends it in one round trip.

    RQ 3 ends a job in a ``WATCH`` and ``SMEMBERS`` of its dependents before its transaction, and one whose
    ``result_ttl`` is 0 (the drains) in 10 round trips: those, the job's stored status, and twice the reads of its
    executions (``ZREMRANGEBYSCORE``, ``ZRANGE``, ``HGETALL``). The worker knows the one execution it ran and the app
    queues no job with dependents, so such a job ends with the transaction alone, which leaves Redis as RQ's would
    (tests/test_worker_rq.py compares the two)."""
    return (bool((job.meta or {}).get(LEAF_META)) and not job.repeats_left and not job.group_id
            and not job.has_rate_limit)


def _wait_for_redis(services, stop: threading.Event, period_s: float = 1.0) -> None:
    while not stop.wait(period_s):
        try:
            if services.jobs.ping():
                log.warning("Redis is back: the worker starts again")
                return
        except StoreError:
            continue


if __name__ == "__main__":
    main()
