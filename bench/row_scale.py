"""Row 7: scale-out, more worker processes, and the store on a Redis Cluster."""
from __future__ import annotations

import os
from typing import Any

from app.archive_backfill import nothing_before_the_archive

from . import data
from .report import Row
from .context import Context, drain_rate, publish, recompute_seconds


def rows_scale(ctx: Context) -> list[Row]:
    """The same load (a fifth of row 1's) drained by 1, 2 and 4 workers, and by 1 worker on a cluster."""
    from app import create_app

    from .cluster import Cluster

    contacts, interactions = max(ctx.size.contacts // 5, 100), max(ctx.size.interactions // 5, 1_000)
    note = (f"{interactions:,} interactions over {contacts:,} contacts, loaded before the workers start; "
            f"{os.cpu_count()} cores shared by the workers, Redis and this process, so more worker processes "
            "than cores cannot add throughput on this machine")

    def loaded_into(app: Any) -> int:
        with app.app_context():
            return data.load(app.extensions["scorekeeper"], data.interactions(contacts, interactions))

    rates, recompute, on_cluster_recompute = {}, {}, {}
    for workers in (1, 2, 4):
        ctx.fresh()
        loaded = loaded_into(ctx.app)
        rates[workers] = drain_rate(ctx, ctx.app, loaded, workers, ctx.worker_env())
        ctx.say(f"row 7: {workers} worker(s): {rates[workers]:,.0f}/s")
        if workers == 1:
            single = recompute_seconds(ctx, ctx.app, "row 7 baseline", split=False, workers=1, env=ctx.worker_env())
        recompute[workers] = recompute_seconds(ctx, ctx.app, f"row 7 {workers} worker(s)", workers=workers,
                                               env=ctx.worker_env())
    cluster = Cluster(reaper=ctx.bench.reaper).start()
    try:
        ctx.bench.redis.flushall()
        settings = {**ctx.settings(), "STORE_URL": cluster.url}
        app = create_app({"REDIS_URL": ctx.bench.redis_url, **settings})
        with app.app_context():  # this release's data: nothing to backfill (app/archive_backfill.py)
            nothing_before_the_archive(app.extensions["scorekeeper"])
        publish(ctx, data.profile_draft(), app)
        loaded = loaded_into(app)
        env = ctx.bench.app_env(**settings)
        on_cluster = drain_rate(ctx, app, loaded, 1, env)
        ctx.say(f"row 7: 1 worker, store on a 3-master cluster: {on_cluster:,.0f}/s")
        on_cluster_single = recompute_seconds(ctx, app, "row 7 cluster baseline", split=False, workers=1, env=env)
        for workers in (1, 2, 4):
            on_cluster_recompute[workers] = recompute_seconds(ctx, app, f"row 7 cluster {workers} worker(s)",
                                                              workers=workers, env=env)
    finally:
        cluster.stop()
    recompute_note = (f"every contact ({contacts:,}) recomputed for a new version (points doubled), timed from the "
                      "request until the switch; in parts: one job per registry bucket, taken by whichever worker is "
                      "free; baseline: the same recompute as one job (the recompute before the split), same run")
    recompute_rows = [
        Row(f"7{key}", f"publish recompute in parts, {workers} worker process{'es' if workers > 1 else ''}"
            + (", store on a 3-master Redis Cluster" if cluster_run else ""),
            seconds, "s", base, "one job, 1 worker" + (", same cluster" if cluster_run else ""),
            notes=[recompute_note])
        for key, workers, seconds, base, cluster_run in (
            ("d", 1, recompute[1], single, False), ("e", 2, recompute[2], single, False),
            ("f", 4, recompute[4], single, False), ("g", 1, on_cluster_recompute[1], on_cluster_single, True),
            ("h", 2, on_cluster_recompute[2], on_cluster_single, True),
            ("i", 4, on_cluster_recompute[4], on_cluster_single, True))]
    return [
        Row("7a", "scoring, 2 worker processes", rates[2], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7b", "scoring, 4 worker processes", rates[4], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7c", "scoring, 1 worker, store on a 3-master Redis Cluster", on_cluster, "interactions/s", rates[1],
            "1 worker, single Redis",
            notes=["the cluster's 3 redis-server processes run on the same cores; a batch's writes go out as "
                   "one script call per contact, pipelined per node, instead of 250 contacts per call"]),
        *recompute_rows,
    ]
