"""The worker process: an RQ worker (with RQ's scheduler) plus a ticker thread.

The ticker brings due expiries into the pipeline and re-wakes partitions whose drain job
was lost (say, with a killed worker), so scoring needs no request to make progress.
"""
from __future__ import annotations

import logging
import threading
import uuid

from rq import SimpleWorker, Worker

from app import create_app
from app.drain import tick
from app.redis_client import queue_connection
from app.services import get_services

log = logging.getLogger(__name__)


def _ticker(app, stop: threading.Event) -> None:
    period = float(app.config["TICK_SECONDS"])
    with app.app_context():
        services = get_services()
        lock = services.keys.ticker()
        token = uuid.uuid4().hex
        while not stop.wait(period):
            try:
                if services.redis.set(lock, token, nx=True, px=int(period * 3000)) or services.redis.get(lock) == token:
                    services.redis.pexpire(lock, int(period * 3000))
                    tick(services)
            except Exception:  # keep ticking through a Redis restart
                log.exception("tick failed")


def main(burst: bool = False) -> None:
    app = create_app()
    services = app.extensions["scorekeeper"]
    with app.app_context():
        tick(services)  # pick up whatever was left while no worker ran
    stop = threading.Event()
    thread = threading.Thread(target=_ticker, args=(app, stop), daemon=True, name="ticker")
    thread.start()
    worker_class = SimpleWorker if app.config["WORKER_CLASS"] == "simple" else Worker
    worker = worker_class([services.queue], connection=queue_connection(app.config["REDIS_URL"]))
    try:
        with app.app_context():
            worker.work(burst=burst, with_scheduler=True, logging_level=app.config["LOG_LEVEL"])
    finally:
        stop.set()


if __name__ == "__main__":
    main()
