"""The run's world (``Context``: the private Redis, gunicorn, the app, the sizes) and the helpers every row
uses: publishing the benchmark profile in-process, waiting for workers and for empty streams."""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from app import create_app
from app.archive_backfill import nothing_before_the_archive
from app.contact_layout import migrate_layouts
from app.horizon import empty_store

from . import data
from .env import Bench, wait_until
from .signed import STRIPE_SECRET, sendgrid_key_pair


API_KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
WEBHOOK_SECRET = "whsec_" + "YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g="
WRK = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Size:
    contacts: int  # row 1 and 4
    interactions: int
    baseline_jobs: int
    http_seconds: int
    stripe_requests: int
    sendgrid_batches: int
    batch_events: int
    latency_rate: int
    latency_seconds: int
    list_contacts: int  # row 6
    query_seconds: int
    memory_contacts: int  # row 5
    horizon_contacts: int = 100  # row 12: contacts of the simulated year (10 interactions each a month)
    horizon_step_days: int = 1  # row 12: simulated days per loop (the trim pass runs once a loop)


SIZES = {
    "tiny": Size(300, 3_000, 100, 1, 500, 8, 100, 50, 3, 3_000, 1, 300, 40, 10),
    "small": Size(10_000, 100_000, 1_000, 8, 20_000, 60, 500, 500, 20, 100_000, 5, 5_000, 1_000),
    "full": Size(100_000, 1_000_000, 3_000, 15, 40_000, 200, 500, 500, 60, 1_000_000, 10, 20_000, 4_000),
}


@dataclass
class Context:
    bench: Bench
    size: Size
    web_workers: int
    web_class: str
    web_threads: int
    latency_workers: int
    #: rows 1 and 4: the profile excludes the smart list ``customers`` (tagged customer), which every 10th
    #: contact is in (``tag_customers``)
    profile_lists: bool = False
    log: list[str] = field(default_factory=list)
    app: Any = None
    api_url: str = ""
    hello_url: str = ""
    sendgrid_key: Any = None
    #: Row 1's worker archives nothing (bench/worker_without_archive.py): to measure what the archive costs.
    archive_bypass: bool = False

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.log.append(line)
        print(line, file=sys.stderr, flush=True)

    # --- the world ---------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        return {"API_KEYS": API_KEY, "STRIPE_SECRET": STRIPE_SECRET, "SENDGRID_PUBLIC_KEY": self.sendgrid_public,
                "OUTBOUND_ALLOW": "127.0.0.0/8", "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": "",
                "ARCHIVE_URL": f"sqlite:///{self.bench.workdir}/archive.sqlite3"}  # the run's own, gone with it

    def start(self) -> None:
        self.sendgrid_key, self.sendgrid_public = sendgrid_key_pair()
        env = self.bench.app_env(**self.settings())
        self.app = create_app({"REDIS_URL": self.bench.redis_url, **self.settings()})
        self.api_url = self.bench.start_gunicorn("web", "app:create_app()", self.web_workers, self.web_class,
                                                 self.web_threads, env)
        self.hello_url = self.bench.start_gunicorn("hello", "bench.hello:app", self.web_workers, self.web_class,
                                                   self.web_threads, env)

    @property
    def services(self) -> Any:
        return self.app.extensions["scorekeeper"]

    def fresh(self) -> None:
        """An empty store with the 10-rule profile published (version 1)."""
        self.bench.redis.flushall()
        with self.app.app_context():  # the run's data is this release's: nothing of it predates the archive
            nothing_before_the_archive(self.services)
            empty_store(self.services)  # and no record: the trim pass reads only buckets with something old
            migrate_layouts(self.services)  # as a worker's start leaves a new store: every layout move recorded
        draft = data.profile_draft()
        if self.profile_lists:
            with self.app.app_context():
                self.services.smart_lists.put(data.CUSTOMERS_LIST)
            draft["exclude"] = [data.CUSTOMERS_LIST["id"]]
        publish(self, draft)

    def tag_customers(self) -> int:
        """Tag every 10th contact ``customer`` (stored directly, before any worker scores them)."""
        tagged = 0
        with self.app.app_context():
            for page in self.services.contacts.contact_pages(1000):
                for cid in page[::10]:
                    self.services.contacts.change_tags(cid, ["customer"])
                    tagged += 1
        return tagged

    def worker_env(self, **extra: str) -> dict[str, str]:
        return self.bench.app_env(**{**self.settings(), **extra})


def publish(ctx: Context, draft: dict[str, Any], app: Any = None) -> int:
    """Publish in this process (an empty or small store) of ``app`` (default: the run's); returns the version."""
    from app.api.schemas import ProfileDraftSchema
    from app.publish import run_publish, start_publish

    app = app or ctx.app
    with app.app_context():
        services = app.extensions["scorekeeper"]
        services.profiles.put_draft({"id": data.PROFILE_ID, **ProfileDraftSchema().load(draft)})
        job = start_publish(services, data.PROFILE_ID)
        services.queue.empty()
        run_publish(services, data.PROFILE_ID, job["version"], job["id"], False, split=False)
        return job["version"]


def depth(ctx: Context, services: Any = None) -> int:
    return sum((services or ctx.services).partitions.partition_depths())


def wait_workers(ctx: Context, count: int) -> None:
    from rq import Worker

    # a worker's start-up backfills the indexes over every contact already stored: longer than a server's start
    wait_until(lambda: len(Worker.all(queue=ctx.services.queue)) >= count, timeout=120, what=f"{count} RQ worker(s)")


def stop_workers(ctx: Context, processes: list) -> None:
    from .env import stop

    started = time.perf_counter()
    for process in processes:  # the measurement is over: a worker gets 3 s to finish, then is killed
        stop(process, timeout=3)
        ctx.bench.processes.remove(process)
    ctx.say(f"stopped {len(processes)} worker(s) in {time.perf_counter() - started:.1f} s")


def wake_all(ctx: Context, services: Any = None) -> None:
    from app.ingest import wake_partition

    services = services or ctx.services
    for partition in range(services.sharding.partitions):
        services.partitions.clear_wake(partition)
        wake_partition(services, partition)


def drain_rate(ctx: Context, app: Any, loaded: int, workers: int, env: dict[str, str]) -> float:
    """Interactions/s for ``workers`` worker processes to empty the streams of ``app``'s store."""
    services = app.extensions["scorekeeper"]
    services.queue.empty()
    processes = [ctx.bench.start_worker(f"scale-{workers}-{i}", env) for i in range(workers)]
    try:
        wait_workers(ctx, workers)
        started = time.perf_counter()
        wake_all(ctx, services)
        while depth(ctx, services):
            time.sleep(0.05)
        return loaded / (time.perf_counter() - started)
    finally:
        stop_workers(ctx, processes)


def jobs_idle(services: Any, timeout: float = 600) -> float:
    """Wait until no RQ job waits or runs (a publish queues the retirement of the version it replaced: the next
    timed publish must not pay for it); returns the seconds waited."""
    from rq.registry import StartedJobRegistry

    started = time.perf_counter()
    running = StartedJobRegistry(queue=services.queue)
    wait_until(lambda: len(services.queue) == 0 and running.count == 0, timeout=timeout, what="idle workers")
    return time.perf_counter() - started


def recompute_seconds(ctx: Context, app: Any, label: str, split: bool = True, workers: int = 0,
                      env: dict[str, str] | None = None) -> float | None:
    """Seconds from the request to the switch of a publish of ``app``'s profile with its points doubled (every
    contact recomputed), run by ``workers`` new worker processes (0: the ones already running); ``split=False``
    runs the recompute as one job (the baseline). None when the job failed. Progress is logged."""
    from app.api.schemas import ProfileDraftSchema
    from app.publish import get_job, start_publish

    services = app.extensions["scorekeeper"]
    processes = [ctx.bench.start_worker(f"recompute-{label}-{i}", env or ctx.worker_env()) for i in range(workers)]
    try:
        if workers:
            wait_workers(ctx, workers)
        waited = jobs_idle(services)
        if waited > 0.5:
            ctx.say(f"{label}: waited {waited:.1f} s for the jobs before it (the last publish's retire_version)")
        with app.app_context():
            draft = data.profile_draft()
            draft["rules"] = [{**r, "points": r["points"] * 2} for r in draft["rules"]]
            if ctx.profile_lists:
                draft["exclude"] = [data.CUSTOMERS_LIST["id"]]
            services.profiles.put_draft({"id": data.PROFILE_ID, **ProfileDraftSchema().load(draft)})
            started = time.perf_counter()
            job = start_publish(services, data.PROFILE_ID, split=split)
            last = time.perf_counter()
            while job["status"] not in ("finished", "failed"):
                time.sleep(0.1)
                job = get_job(services, job["id"])
                if time.perf_counter() - last > 5:
                    ctx.say(f"{label}: recompute {job['progress'] * 100:.0f}% ({job['done']:,}/{job['total']:,})")
                    last = time.perf_counter()
            elapsed = time.perf_counter() - started
        ctx.say(f"{label}: recompute {'in parts' if split else 'as one job'} {job['status']} in {elapsed:.1f} s")
        return elapsed if job["status"] == "finished" else None
    finally:
        if processes:
            stop_workers(ctx, processes)
