"""RQ jobs: every job function of the app, and ``Jobs``, the port through which the rest of the
app queues them — by reference to the function, never by its dotted name.

Job functions live at module level and take ids and plain JSON data. They run inside the worker
(``scorekeeper worker``), which holds the app's context, as does a test or CLI command that runs
jobs in-process; they take the services from it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from flask import Flask
from rq import Retry

from .automation.defaults import JOB_RESULT_TTL_SECONDS, RUN_JOB_TIMEOUT_SECONDS
from .automation.runner import execute
from .automation.deliveries import attempt
from .evaluation import run_evaluation
from .publish import retire, run_publish
from .scoring_service import drain, recheck_all_lists
from .services import get_services
from .storage.jobs import JobQueue

#: Seconds a drain job may run; a failed one is kept this long for inspection.
DRAIN_TIMEOUT_S, FAILED_TTL_S = 600, 86400
#: Seconds a publish recompute may run, and how long its result is kept.
PUBLISH_TIMEOUT_S = PUBLISH_RESULT_TTL_S = 3600
#: Seconds an evaluation may run, and how long RQ keeps its result (the reports are kept apart).
EVALUATION_TIMEOUT_S, EVALUATION_RESULT_TTL_S = 3600, 600
#: A webhook attempt's time limit (the request's own timeout is shorter), in seconds.
DELIVERY_TIMEOUT_S = 120


# --- the job functions ---------------------------------------------------------------------------
def drain_partition(partition: int) -> int:
    """Score what is waiting in one ingest partition."""
    return drain(get_services(), partition)


def publish_profile(profile_id: str, version: int, job_id: str, fire_triggers: bool = False) -> None:
    """Recompute every contact for a new profile version, then switch to it at once."""
    run_publish(get_services(), profile_id, version, job_id, fire_triggers)


def evaluate_profile(job_id: str) -> None:
    """Evaluate a profile over a period (app/evaluation.py): conversion by band, decile and rule."""
    run_evaluation(get_services(), job_id)


def retire_version(profile_id: str, version: int) -> None:
    """Remove the scores, ledgers and index of a version that is no longer live."""
    retire(get_services(), profile_id, version)


def recheck_lists() -> int:
    """Decide again for every contact whether the profiles with include/exclude lists score it."""
    return recheck_all_lists(get_services())


def execute_run(run_id: str) -> str | None:
    """Run (or resume) a workflow run; returns its status."""
    run = execute(get_services(), run_id)
    return run["status"] if run else None


def deliver_webhook(delivery_id: str, cycle: int, try_number: int) -> str | None:
    """One attempt of a webhook delivery; returns the delivery's status after it."""
    delivery = attempt(get_services(), delivery_id, cycle, try_number)
    return delivery["status"] if delivery else None


# --- the port -------------------------------------------------------------------------------------
class Jobs:
    """``app.ports.JobPort``: each method queues one job function with its options."""

    def __init__(self, queue: JobQueue):
        self.queue = queue

    def drain_partition(self, partition: int) -> None:
        self.queue.enqueue(drain_partition, partition, job_timeout=DRAIN_TIMEOUT_S, result_ttl=0,
                           failure_ttl=FAILED_TTL_S)

    def publish_profile(self, profile_id: str, version: int, job_id: str, fire_triggers: bool) -> None:
        self.queue.enqueue(publish_profile, profile_id, version, job_id, fire_triggers, job_id=job_id,
                           job_timeout=PUBLISH_TIMEOUT_S, result_ttl=PUBLISH_RESULT_TTL_S,
                           retry=Retry(max=3, interval=5))

    def evaluate_profile(self, job_id: str) -> None:
        self.queue.enqueue(evaluate_profile, job_id, job_id=job_id, job_timeout=EVALUATION_TIMEOUT_S,
                           result_ttl=EVALUATION_RESULT_TTL_S, failure_ttl=FAILED_TTL_S)

    def retire_version(self, profile_id: str, version: int) -> None:
        self.queue.enqueue(retire_version, profile_id, version, result_ttl=0)

    def recheck_lists(self) -> None:
        self.queue.enqueue(recheck_lists, job_timeout=PUBLISH_TIMEOUT_S, result_ttl=0, failure_ttl=FAILED_TTL_S)

    def start_runs(self, run_ids: Sequence[str]) -> None:
        options = {"timeout": RUN_JOB_TIMEOUT_SECONDS, "result_ttl": JOB_RESULT_TTL_SECONDS}
        self.queue.enqueue_many(execute_run, [((run_id,), {"job_id": f"{run_id}-start", **options})
                                              for run_id in run_ids])

    def resume_run(self, run_id: str, delay_ms: int, job_id: str) -> None:
        self.queue.enqueue_in(timedelta(milliseconds=max(delay_ms, 0)), execute_run, run_id, job_id=job_id,
                              job_timeout=RUN_JOB_TIMEOUT_SECONDS, result_ttl=JOB_RESULT_TTL_SECONDS)

    def attempt_delivery(self, delivery_id: str, cycle: int, try_number: int, delay_seconds: float,
                         job_id: str) -> None:
        options = {"job_id": job_id, "result_ttl": JOB_RESULT_TTL_SECONDS, "job_timeout": DELIVERY_TIMEOUT_S}
        if delay_seconds > 0:
            self.queue.enqueue_in(timedelta(seconds=delay_seconds), deliver_webhook, delivery_id, cycle,
                                  try_number, **options)
        else:
            self.queue.enqueue(deliver_webhook, delivery_id, cycle, try_number, **options)


def init_app(app: Flask) -> None:
    """Plug the job port into the services (``services.enqueue``)."""
    services = app.extensions["scorekeeper"]
    services.enqueue = Jobs(services.jobs)
