"""Rows 1, 4 and 10: scoring throughput with its baseline (one RQ job per interaction), the publish recompute, and
an evaluation of the same data (bench/row_evaluation.py)."""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rq.registry import FailedJobRegistry, FinishedJobRegistry

from . import data
from .report import Row
from .context import Context, depth, jobs_idle, recompute_seconds, stop_workers, wait_workers, wake_all
from .row_evaluation import evaluation_row


def rows_scoring(ctx: Context, want: set[str]) -> list[Row]:
    size = ctx.size
    ctx.fresh()
    ctx.say(f"row 1: loading {size.interactions:,} interactions over {size.contacts:,} contacts (in-process ingest)")
    started = time.perf_counter()
    with ctx.app.app_context():
        loaded = data.load(ctx.services, data.interactions(size.contacts, size.interactions))
    load_s = time.perf_counter() - started
    ctx.say(f"row 1: loaded {loaded:,} in {load_s:.1f} s ({loaded / load_s:,.0f}/s)")
    lists_note = []
    if ctx.profile_lists:
        tagged = ctx.tag_customers()
        lists_note = [f"the profile excludes the smart list customers (tagged customer): {tagged:,} contacts tagged"]
        ctx.say(f"row 1: {tagged:,} contacts tagged customer (excluded by the profile)")
    ctx.services.queue.empty()
    worker = ctx.bench.start_worker("worker-1", ctx.worker_env(), archive=not ctx.archive_bypass)
    if ctx.archive_bypass:
        ctx.say("row 1: the worker's archive keeps nothing (--archive-bypass): a measurement of the archive's cost")
    rows: list[Row] = []
    try:
        wait_workers(ctx, 1)
        cpu_before = _cpu_of(worker.pid), _redis_cpu(ctx)
        started = time.perf_counter()
        wake_all(ctx)
        last = time.perf_counter()
        while depth(ctx):
            time.sleep(0.05)
            if time.perf_counter() - last > 10:
                ctx.say(f"row 1: {depth(ctx):,} left")
                last = time.perf_counter()
        elapsed = time.perf_counter() - started
        worker_s, redis_s = _cpu_of(worker.pid) - cpu_before[0], _redis_cpu(ctx) - cpu_before[1]
        rate = loaded / elapsed
        cpu_note = (f"CPU-seconds meanwhile: worker {worker_s:.1f} s ({loaded / max(worker_s, 1e-9):,.0f} interactions "
                    f"per CPU-s), Redis {redis_s:.1f} s ({loaded / max(redis_s, 1e-9):,.0f} per CPU-s); load average "
                    f"at the end {_load()}")
        ctx.say(f"row 1: one worker scored {loaded:,} in {elapsed:.1f} s ({rate:,.0f}/s); {cpu_note}")
        stats = ctx.bench.redis.hgetall(ctx.services.keys.stats())
        baseline, base_note = baseline_one_job_per_interaction(ctx)
        if "1" in want:
            rows.append(Row("1", "scoring, one worker process, 10 rules", rate, "interactions/s", baseline,
                            "one RQ job per interaction", "≥ 10,000/s and ≥ 50×",
                            rate >= 10_000 and baseline is not None and rate / baseline >= 50,
                            [(f"{loaded:,} interactions over {size.contacts:,} contacts, in time order (a batch of "
                             f"1,000 touches ~1,000 contacts); loaded through app.ingest in {load_s:.1f} s "
                             f"({loaded / load_s:,.0f}/s) before the worker started"),
                             f"{stats.get('batches', '?')} batches; timed from the wake-up to empty streams",
                             cpu_note,
                             ("archive BYPASSED (--archive-bypass): the worker's archive kept nothing"
                              if ctx.archive_bypass else "archive: the run's own SQLite file (the default backend)"),
                             base_note, *lists_note]))
        if "10" in want:
            rows.append(evaluation_row(ctx))
        if "4" in want:  # last: it moves the history out of Redis (rows 1 and 10 read it hot)
            rows += publish_recompute(ctx, worker)
    finally:
        stop_workers(ctx, [worker])
    return rows


def baseline_one_job_per_interaction(ctx: Context) -> tuple[float | None, str]:
    from rq import Queue

    jobs = ctx.size.baseline_jobs
    items = list(data.interactions(max(1, jobs // 10), jobs, seed=9, run="b"))
    with ctx.app.app_context():
        contact_ids = ctx.services.contacts.resolve_contacts(items)
    queue = ctx.services.queue
    finished = FinishedJobRegistry(queue=queue)
    failed = FailedJobRegistry(queue=queue)
    before = finished.count
    started = time.perf_counter()
    for chunk in data.chunks(iter(zip(contact_ids, items)), 500):
        queue.enqueue_many([Queue.prepare_data("bench.jobs.score_one", (cid, item.to_record().to_json()), result_ttl=600)
                            for cid, item in chunk])
    while finished.count + failed.count - before < jobs:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if failed.count:
        return None, f"baseline: {failed.count} jobs failed"
    rate = jobs / elapsed
    ctx.say(f"row 1 baseline: {jobs:,} jobs in {elapsed:.1f} s ({rate:,.0f}/s)")
    return rate, (f"baseline: {jobs:,} RQ jobs (`bench.jobs.score_one`: `Scorer.score` of one interaction) "
                  f"on the same worker process (RQ SimpleWorker, as the app's default), {elapsed:.1f} s")


def publish_recompute(ctx: Context, worker: Any) -> list[Row]:
    """Row 4: the recompute in parts by the one worker, reading every contact's history from the archive, beside the
    same recompute as one job (the baseline); both after the hot horizon moved the whole history out of Redis (a
    trim pass as if ``HOT_HISTORY`` had passed). First, for reference, the recompute in parts with the history
    still hot in Redis. The worker's and Redis's CPU-seconds are given for each (less load-dependent than the
    seconds)."""
    from app.clock import now_ms
    from app.horizon import hot_history_ms, trim_all

    services = ctx.services
    with ctx.app.app_context():
        contacts = services.contacts.contact_count()
    hot, hot_cpu = _timed_recompute(ctx, [worker], "row 4 (history hot in Redis)")
    with ctx.app.app_context():
        started = time.perf_counter()
        moved = trim_all(services, now_ms() + (hot_history_ms(services.settings) or 0))
        trim_s = time.perf_counter() - started
    ctx.say(f"row 4: the hot horizon moved {moved['records']:,} records of {moved['contacts']:,} contacts out of "
            f"Redis in {trim_s:.1f} s ({moved['waiting']:,} not archived stay)")
    baseline, base_cpu = _timed_recompute(ctx, [worker], "row 4 baseline", split=False)
    elapsed, cpu = _timed_recompute(ctx, [worker], "row 4")
    second = ctx.bench.start_worker("row-4-second", ctx.worker_env())
    try:
        wait_workers(ctx, 2)
        two, two_cpu = _timed_recompute(ctx, [worker, second], "row 4b (two workers)")
    finally:
        stop_workers(ctx, [second])
    interactions = ctx.size.interactions + ctx.size.baseline_jobs
    return [Row("4b", "publish recompute, history from the archive, 2 worker processes", two, "s", baseline,
                "the same recompute as one job, one worker", target="≤ 30 s", met=two is not None and two <= 30,
                notes=[f"row 4's recompute in parts taken by row 1's worker and a second one; CPU-seconds {two_cpu}",
                       f"load average at the end: {_load()}"]),
            Row("4", "publish recompute, history from the archive", elapsed, "s", baseline,
               "the same recompute as one job", target="≤ 30 s", met=elapsed is not None and elapsed <= 30,
               notes=[(f"{contacts:,} contacts, {interactions:,} stored interactions, one worker process; the "
                       f"recompute in {services.sharding.buckets} part jobs (one per registry bucket); progress "
                       "was followed through the job document (logged below)"),
                      (f"history from the archive (the run's SQLite file): a trim pass as if HOT_HISTORY had passed "
                       f"moved {moved['records']:,} records of {moved['contacts']:,} contacts out of Redis first "
                       f"({moved['waiting']:,} not archived stayed; the 3,000 of row 1's baseline jobs are scored "
                       "without the drain's archiver)"),
                      f"CPU-seconds in parts: {cpu}; as one job: {base_cpu}",
                      (f"for reference, the recompute in parts with the history still hot in Redis (before the trim, "
                       f"same run): {_seconds(hot)}, CPU-seconds {hot_cpu}"),
                      f"load average at the end: {_load()}"])]


def _timed_recompute(ctx: Context, workers: list[Any], label: str, split: bool = True) -> tuple[float | None, str]:
    """``recompute_seconds`` with the CPU-seconds the worker processes and Redis spent meanwhile (after the jobs
    queued before it ran)."""
    jobs_idle(ctx.services)
    before = sum(_cpu_of(w.pid) for w in workers), _redis_cpu(ctx)
    elapsed = recompute_seconds(ctx, ctx.app, label, split=split)
    worker_s, redis_s = sum(_cpu_of(w.pid) for w in workers) - before[0], _redis_cpu(ctx) - before[1]
    text = f"worker{'s' if len(workers) > 1 else ''} {worker_s:.1f} s, Redis {redis_s:.1f} s"
    ctx.say(f"{label}: {text}; load average {_load()}")
    return elapsed, text


def _cpu_of(pid: int) -> float:
    """User + system CPU-seconds of a process so far (/proc, Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _redis_cpu(ctx: Context) -> float:
    info = ctx.bench.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _seconds(value: float | None) -> str:
    return "failed" if value is None else f"{value:.1f} s"
