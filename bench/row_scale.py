"""Row 7: scale-out, more worker processes, and the store on a Redis Cluster."""
from __future__ import annotations

import os
from typing import Any

from app import create_app

from . import data
from .report import Row
from .context import Context, drain_rate, publish


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

    rates = {}
    for workers in (1, 2, 4):
        ctx.fresh()
        loaded = loaded_into(ctx.app)
        rates[workers] = drain_rate(ctx, ctx.app, loaded, workers, ctx.worker_env())
        ctx.say(f"row 7: {workers} worker(s): {rates[workers]:,.0f}/s")
    cluster = Cluster().start()
    try:
        ctx.bench.redis.flushall()
        settings = {**ctx.settings(), "STORE_URL": cluster.url}
        app = create_app({"REDIS_URL": ctx.bench.redis_url, **settings})
        publish(ctx, data.profile_draft(), app)
        loaded = loaded_into(app)
        on_cluster = drain_rate(ctx, app, loaded, 1, ctx.bench.app_env(**settings))
        ctx.say(f"row 7: 1 worker, store on a 3-master cluster: {on_cluster:,.0f}/s")
    finally:
        cluster.stop()
    return [
        Row("7a", "scoring, 2 worker processes", rates[2], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7b", "scoring, 4 worker processes", rates[4], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7c", "scoring, 1 worker, store on a 3-master Redis Cluster", on_cluster, "interactions/s", rates[1],
            "1 worker, single Redis",
            notes=["the cluster's 3 redis-server processes run on the same cores; a batch's writes go out as "
                   "one script call per contact, pipelined per node, instead of 250 contacts per call"]),
    ]
