"""Running a workflow run: its steps in order, from where it stopped, until a wait or the end.

The run document says which step is next, so a run resumed by the scheduler (after a wait
or a step retry) — in whatever worker, after any restart — carries on from there. A job
that arrives early (a duplicate) finds the resume time ahead and does nothing.
"""
from __future__ import annotations

import logging
from typing import Any

from ..settings import setting
from .defaults import parse_schedule
from .deliveries import attempt_first
from ..metrics import count_run
from .runs import TERMINAL
from .steps import STEPS, RunContext, StepFailed, StepRetry, when_holds
from ..clock import now_ms

log = logging.getLogger(__name__)

#: A resume job may run this early (clock skew between scheduler and worker), in milliseconds.
RESUME_SLACK_MS = 1000


def schedule_resume(services: Any, store: Any, run: dict[str, Any], delay_ms: int, reason: str) -> None:
    """Save the run, then schedule the job that resumes it (saved first: an early job must see ``resume_at``)."""
    run["resumes"] = int(run.get("resumes") or 0) + 1
    job_id = f"{run['id']}-{reason}-{run['resumes']}"
    store.save_run(run)
    services.enqueue.resume_run(run["id"], delay_ms, job_id)


def _fail(run: dict[str, Any], record: dict[str, Any] | None, message: str) -> None:
    if record is not None:
        record["status"], record["error"], record["finished_at"] = "failed", message, now_ms()
    run["status"], run["error"], run["resume_at"] = "failed", message, None


def execute(services: Any, run_id: str) -> dict[str, Any] | None:
    """Run the steps of ``run_id`` from its next step, then make the first attempt of the webhook deliveries they
    made (the run saved first: its steps do not wait for a receiver); returns the run document as saved."""
    made: list[str] = []
    run = _run_steps(services, run_id, made)
    if made:
        attempt_first(services, made)
    return run


def _run_steps(services: Any, run_id: str, deliveries: list[str]) -> dict[str, Any] | None:
    """The steps of ``run_id`` from its next step, until a wait, a retry or the end; the deliveries its webhook
    steps make are added to ``deliveries`` for their first attempt."""
    store = services.automation
    run = store.get_run(run_id)
    if run is None or run["status"] in TERMINAL:
        return run
    if run.get("resume_at") and now_ms() + RESUME_SLACK_MS < run["resume_at"]:
        return run
    contact = services.contacts.get_contact(run["contact_id"])
    if contact is None:
        _fail(run, None, f"contact {run['contact_id']} no longer exists")
        store.save_run(run)
        return run
    context = RunContext(services, run, contact, deliveries)
    run["status"], run["resume_at"] = "running", None
    steps = run["definition"]
    while run["next_step"] < len(steps):
        index = run["next_step"]
        step, record = steps[index], run["steps"][index]
        if not when_holds(context, step.get("when")):
            record["status"], record["finished_at"] = "skipped", now_ms()
            run["next_step"] = index + 1
            store.save_run(run)
            continue
        record["attempts"] += 1
        record["started_at"] = record["started_at"] or now_ms()
        record["status"], record["error"] = "running", None
        try:
            result = STEPS[step["type"]](context, step, index)
        except StepRetry as error:
            schedule = parse_schedule(setting(services.settings, "STEP_RETRY_SCHEDULE"))
            if record["attempts"] > len(schedule):
                _fail(run, record, f"{error} (gave up after {record['attempts']} attempts)")
                break
            delay_ms = int(schedule[record["attempts"] - 1] * 1000)
            record["status"], record["error"] = "retrying", str(error)
            run["status"], run["resume_at"] = "retrying", now_ms() + delay_ms
            schedule_resume(services, store, run, delay_ms, "retry")
            return run
        except StepFailed as error:
            _fail(run, record, str(error))
            break
        except Exception as error:  # an unexpected bug: the run records it, the job log has the traceback
            log.exception("workflow step crashed", extra={"run_id": run_id, "step": index})
            _fail(run, record, f"internal error in step: {type(error).__name__}")
            break
        record["status"], record["finished_at"] = "succeeded", now_ms()
        record.update(result.detail)
        run["next_step"] = index + 1
        if result.wait_ms is not None:
            run["status"], run["resume_at"] = "waiting", now_ms() + result.wait_ms
            schedule_resume(services, store, run, result.wait_ms, "wait")
            return run
        store.save_run(run)
    else:
        run["status"] = "succeeded"
    store.save_run(run)
    log.info("workflow run finished", extra={"run_id": run_id, "status": run["status"], "error": run["error"]})
    count_run(services, run["status"])
    return run


#: How a webhook step reads, by the state of its delivery.
STEP_BY_DELIVERY = {"pending": "delivering", "retrying": "delivering", "succeeded": "succeeded", "dead": "failed"}


def public_run(services: Any, run: dict[str, Any]) -> dict[str, Any]:
    """The API (and dashboard) form of a run; no secrets.

    A webhook step hands its request to a delivery that is attempted on its own schedule, so the
    step and the run show the delivery's outcome, read now: the step is ``delivering`` while the
    delivery is attempted, ``failed`` once it is dead (refused by the SSRF guard, a 4xx, retries
    spent) and ``succeeded`` once the receiver took it. A run whose steps all ran reads
    ``delivering`` while a delivery is in flight and ``failed`` when one is dead; a redelivery that
    succeeds makes it read ``succeeded`` again. The stored run keeps what its steps did.
    """
    store = services.automation
    out = {k: v for k, v in run.items() if k != "definition"}
    steps = []
    for record in run["steps"]:
        record = dict(record)
        if record.get("delivery_id") and record.get("status") == "succeeded":
            delivery = store.get_delivery(record["delivery_id"])
            if delivery:
                record["delivery"] = {"status": delivery["status"], "attempts": len(delivery["attempts"]),
                                      "error": delivery["error"]}
                record["status"] = STEP_BY_DELIVERY.get(delivery["status"], record["status"])
                if record["status"] == "failed":
                    record["error"] = f"webhook delivery {delivery['id']} failed: {delivery['error']}"
        steps.append(record)
    out["steps"] = steps
    if run["status"] == "succeeded":
        failed = next((r for r in steps if r["status"] == "failed"), None)
        if failed is not None:
            out["status"], out["error"] = "failed", f"step {failed['index']}: {failed['error']}"
        elif any(r["status"] == "delivering" for r in steps):
            out["status"] = "delivering"
    return out
