"""Row 10: evaluating the live profile over every contact (1M interactions / 100k contacts at full size), as a
job in the worker, beside the time to only read the same timelines (the floor any evaluation pays)."""
from __future__ import annotations

import time

from . import data
from .context import Context
from .report import Row


def evaluation_row(ctx: Context) -> Row:
    """Run after row 1 (its data scored, the worker running): one evaluation job, followed through its status."""
    from app.evaluation import EvaluationRequest, start_evaluation
    from app.publish import get_job

    services = ctx.services
    with ctx.app.app_context():
        first, last = _span(services)
        start = first + (last - first) // 2  # half the history before the period, half in it
        contacts = services.contacts.contact_count()
        started = time.perf_counter()
        record = start_evaluation(services, data.PROFILE_ID, EvaluationRequest(start, 1, "payment.succeeded"))
        job, said = get_job(services, record["id"]), 0.0
        while job["status"] not in ("finished", "failed"):
            time.sleep(0.2)
            job = get_job(services, record["id"])
            if time.perf_counter() - said > 5:
                ctx.say(f"row 10: evaluation {job['progress'] * 100:.0f}% ({job['done']:,}/{job['total']:,})")
                said = time.perf_counter()
        elapsed = time.perf_counter() - started
        ok = job["status"] == "finished"
        report = (services.evaluations.get(record["id"]) or {}).get("reports") or [{}]
        read_s = _read_everything(services)
    ctx.say(f"row 10: evaluation {job['status']} in {elapsed:.1f} s; reading the timelines alone {read_s:.1f} s")
    population, conversions = report[0].get("contacts"), report[0].get("conversions")
    return Row("10", "evaluation of the live profile (job, one worker)", elapsed if ok else None, "s", read_s,
               "reading the same timelines, no fold", "≤ 60 s", ok and elapsed <= 60,
               [(f"{contacts:,} contacts, {ctx.size.interactions + ctx.size.baseline_jobs:,} stored interactions; "
                 f"the period starts halfway through the history: {population:,} contacts scored as of its start, "
                 f"{conversions:,} converted (payment.succeeded); progress followed through the job's status"),
                "baseline: the bench process reads every timeline a page of 500 at a time (the evaluation's reads), "
                "without folding"])


def _span(services) -> tuple[int, int]:
    """The first and last moment of the stored history, from a sample of contacts."""
    page = next(services.contacts.contact_pages(500))
    times = [r.at for records in services.timelines.read_timelines(page).values() for r in records]
    return min(times), max(times)


def _read_everything(services) -> float:
    started = time.perf_counter()
    for page in services.contacts.contact_pages(500):
        services.timelines.read_timelines(page)
    return time.perf_counter() - started
