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
import uuid
from datetime import timedelta

from rq import SimpleWorker, Worker
from rq.results import Result
from rq.scheduler import RQScheduler
from rq.utils import now

from app import create_app
from app.jobs import LEAF_META
from app.scoring_service import tick
from app.indexes import backfill_once, rosters_once
from app.archive_backfill import backfill_tick
from app.horizon import trim_step
from app.publish import watch_publishes
from app.automation.deliveries import queue_awaiting
from app.retention import sweep_if_due
from app.clock import now_ms
from app.services import get_services
from app.workspaces import every_workspace
from app.storage.connection import queue_connection
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
    with app.app_context():
        for workspace in every_workspace(services):
            tick(workspace)  # pick up whatever was left while no worker ran
        backfill_once(services)  # index contacts stored before the search and activity indexes
        for workspace in every_workspace(services):
            rosters_once(workspace)  # company rosters of releases before: by contact bucket
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
    return worker_class(services.jobs.queues, connection=queue_connection(services.settings["REDIS_URL"]))


def _stoppable(base: type) -> type:
    """The RQ worker class, remembering whether it was told to stop (RQ's loop ends on errors too), whose
    stand-alone heartbeats skip a renewal made moments ago, which does not write the state it wrote last again, and
    which ends the app's jobs that keep no result in one round trip (``_ends_in_one_trip``).

    RQ 3 renews the worker's key (``HSET`` of ``last_heartbeat`` and two ``EXPIRE``, three round trips) twice
    while taking each job and once after it, and also in each turn of its loop, pipelined with the suspension
    check: nine of the ~27 round trips RQ spends on every job, each a wait for Redis on a busy machine. The key
    lives ``worker_ttl + 60`` s (480 s) and is renewed by that check before every job, so a heartbeat of its own,
    with no pipeline and no timeout, within ``HEARTBEAT_GAP_S`` of the last one, is skipped; the ones with a
    timeout (before a job: its time limit) or on a pipeline are made as RQ makes them, and an idle worker,
    blocked on the queue, still renews its key between two waits."""

    class StoppableWorker(base):  # type: ignore[valid-type, misc]
        stop_signalled = False
        #: The state this worker last wrote on its own (no pipeline): RQ writes ``idle`` after each job and again
        #: before taking the next; the second is skipped (nothing else writes a worker's state).
        _state_written: str | None = None

        def set_state(self, state, pipeline=None):
            if pipeline is None and state == self._state_written:
                self._state = state
                return
            super().set_state(state, pipeline)
            self._state_written = state if pipeline is None else None

        def request_stop(self, signum, frame):
            self.stop_signalled = True
            super().request_stop(signum, frame)

        def heartbeat(self, timeout=None, pipeline=None):
            if (timeout is None and pipeline is None and self.last_heartbeat is not None
                    and now() - self.last_heartbeat < timedelta(seconds=HEARTBEAT_GAP_S)):
                return
            super().heartbeat(timeout, pipeline)

        def handle_job_success(self, job, queue, started_job_registry, execution):
            if not _ends_in_one_trip(job, self.default_result_ttl):
                return super().handle_job_success(job, queue, started_job_registry, execution)
            with self.connection.pipeline() as pipe:  # MULTI ... EXEC, as RQ's own
                self.increment_successful_job_count(pipeline=pipe)
                self.increment_total_working_time(job.ended_at - job.started_at, pipe)
                execution.delete(job=job, pipeline=pipe)  # its record, and its place in the registries and the worker's set
                pipe.delete(job.key, job.dependents_key, job.dependencies_key, Result.get_key(job.id),
                            job.execution_registry.key)
                pipe.execute()
            self.executions.pop(execution.id, None)
            return None

    return StoppableWorker


def _ends_in_one_trip(job, default_result_ttl: int) -> bool:
    """Whether a finished job is one the app queued (``LEAF_META``: no job depends on it) that keeps no result, of
    none of RQ's features that need more at its end (repeats, groups, rate limits).

    RQ 3 ends a job whose ``result_ttl`` is 0 (the drains) in 10 round trips: a ``WATCH`` and ``SMEMBERS`` of its
    dependents, the job's stored status, and twice the reads of its executions (``ZREMRANGEBYSCORE``, ``ZRANGE``,
    ``HGETALL``), before the transaction that counts it and deletes it. The worker knows the one execution it ran and
    the app queues no job with dependents, so such a job ends with that transaction alone, which leaves Redis as
    RQ's would (tests/test_worker_rq.py compares the two)."""
    return (bool((job.meta or {}).get(LEAF_META)) and job.get_result_ttl(default_result_ttl) == 0
            and not job.repeats_left and not job.group_id and not job.has_rate_limit)


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
