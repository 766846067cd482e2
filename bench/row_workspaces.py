"""Row 11: scoring throughput with 10 busy workspaces beside the same load in one workspace (issue #15).

The same number of interactions over the same number of contacts, loaded before the worker starts: once all
in ``default``, once split evenly over 10 workspaces (each with its own published profile, contacts and
streams). One worker process drains each; the ratio is the cost of workspaces on the scoring path (more,
smaller drain jobs; each workspace's own trigger index and profile reads), measured in the same run.
"""
from __future__ import annotations

import os
import time
from typing import Any

from . import data
from .context import Context, stop_workers, wait_workers, wake_all
from .report import Row

#: Busy workspaces beside the single-workspace run.
WORKSPACES = 10


def _services(app: Any, workspace: str) -> Any:
    return app.extensions["scorekeeper.tenancy"].get(workspace)


def _publish_in(app: Any, workspace: str) -> None:
    from app.api.schemas import ProfileDraftSchema
    from app.publish import run_publish, start_publish

    services = _services(app, workspace)
    services.profiles.put_draft({"id": data.PROFILE_ID, **ProfileDraftSchema().load(data.profile_draft())})
    job = start_publish(services, data.PROFILE_ID)
    services.queue.empty()
    run_publish(services, data.PROFILE_ID, job["version"], job["id"], False, split=False)


def _drain(ctx: Context, workspaces: list[Any], loaded: int, name: str) -> float:
    """Interactions/s for one worker process to empty every given workspace's streams."""
    ctx.services.queue.empty()
    worker = ctx.bench.start_worker(name, ctx.worker_env())
    try:
        wait_workers(ctx, 1)
        started = time.perf_counter()
        for services in workspaces:
            wake_all(ctx, services)
        while sum(sum(s.partitions.partition_depths()) for s in workspaces):
            time.sleep(0.05)
        return loaded / (time.perf_counter() - started)
    finally:
        stop_workers(ctx, [worker])


#: Each variant runs this many times, alternating (one, ten, one, ten): the machine is shared, and the best of
#: each is compared, every figure kept in the row's notes. The tiny size (the test suite) runs each once.
ROUNDS = 2


def _one_workspace(ctx: Context, contacts: int, interactions: int, name: str) -> tuple[float, int]:
    ctx.fresh()  # default, with the profile published
    with ctx.app.app_context():
        loaded = data.load(ctx.services, data.interactions(contacts, interactions))
    return _drain(ctx, [ctx.services], loaded, name), loaded


def _ten_workspaces(ctx: Context, contacts: int, interactions: int, name: str) -> tuple[float, int]:
    from app.workspaces import create_workspace

    app = ctx.app
    ctx.fresh()
    with app.app_context():
        busy = []
        for n in range(WORKSPACES):
            workspace = f"client-{n}"
            create_workspace(ctx.services, workspace, f"Client {n}", "bench")
            _publish_in(app, workspace)
            busy.append(_services(app, workspace))
        loaded = 0
        for n, services in enumerate(busy):
            loaded += data.load(services, data.interactions(contacts // WORKSPACES, interactions // WORKSPACES,
                                                            seed=5 + n, run=f"w{n}"))
    return _drain(ctx, busy, loaded, name), loaded


def rows_workspaces(ctx: Context) -> list[Row]:
    contacts, interactions = max(ctx.size.contacts // 5, 100), max(ctx.size.interactions // 5, 1_000)
    ones: list[float] = []
    tens: list[float] = []
    rounds = ROUNDS if ctx.size.interactions >= 10_000 else 1
    for round_ in range(rounds):
        rate, loaded = _one_workspace(ctx, contacts, interactions, f"workspaces-1-{round_}")
        ones.append(rate)
        ctx.say(f"row 11: one workspace: {rate:,.0f}/s")
        rate, spread = _ten_workspaces(ctx, contacts, interactions, f"workspaces-10-{round_}")
        tens.append(rate)
        ctx.say(f"row 11: {WORKSPACES} busy workspaces: {rate:,.0f}/s")
    one, ten = max(ones), max(tens)
    return [Row("11", f"scoring, {WORKSPACES} busy workspaces, one worker process", ten, "interactions/s", one,
                "the same load in one workspace", "within 10 % (≥ 0.9×)", ten >= 0.9 * one,
                [f"{spread:,} interactions over {contacts:,} contacts split evenly over {WORKSPACES} workspaces "
                 f"(each its own profile, contacts and streams) against {loaded:,} over {contacts:,} in one; "
                 f"loaded before the worker started; {os.cpu_count()} cores shared by the worker, Redis and this "
                 "process",
                 f"best of {rounds} alternating run(s) each: one workspace " + ", ".join(f"{r:,.0f}" for r in ones)
                 + f"/s; {WORKSPACES} workspaces " + ", ".join(f"{r:,.0f}" for r in tens) + "/s"])]
