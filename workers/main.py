"""The worker process: an RQ worker plus a ticker thread.

The ticker brings due expiries into the pipeline, re-wakes partitions whose drain job
was lost (say, with a killed worker), moves due scheduled jobs (waits, retries) to the
queue, sweeps what is past its retention, copies history from before the archive into it
(app/archive_backfill.py), moves contacts' hot horizons (app/horizon.py) and queues again the
lost jobs of a publish that stopped moving (``watch_publishes``, app/publish.py),
so scoring and workflows need no request to make progress. It does the scheduling itself instead
of RQ's scheduler because RQ's scheduler lock outlives a killed worker by a minute and is
only retried every ten: after a crash, waits would resume up to ten minutes late.
"""
from __future__ import annotations

import logging
import threading
import uuid

from rq import SimpleWorker, Worker
from rq.scheduler import RQScheduler

from app import create_app
from app.scoring_service import tick
from app.indexes import backfill_once, rosters_once
from app.archive_backfill import backfill_tick
from app.horizon import trim_step
from app.publish import watch_publishes
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
        except Exception:
            log.exception("tick failed", extra={"workspace": workspace.workspace})


def enqueue_due_jobs(services) -> None:
    """Move scheduled jobs that are due to their queue (the caller holds the ticker lock)."""
    scheduler = RQScheduler([services.queue.name], connection=services.queue.connection)
    scheduler.prepare_registries([services.queue.name])
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
    worker_class = _stoppable(SimpleWorker if app.config["WORKER_CLASS"] == "simple" else Worker)
    try:
        with app.app_context():
            while True:
                worker = worker_class([services.queue], connection=queue_connection(app.config["REDIS_URL"]))
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


def _stoppable(base: type) -> type:
    """The RQ worker class, remembering whether it was told to stop (RQ's loop ends on errors too)."""

    class StoppableWorker(base):  # type: ignore[valid-type, misc]
        stop_signalled = False

        def request_stop(self, signum, frame):
            self.stop_signalled = True
            super().request_stop(signum, frame)

    return StoppableWorker


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
