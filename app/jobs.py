"""RQ jobs: every job function of the app, and ``Jobs``, the port through which the rest of the
app queues them — by reference to the function, never by its dotted name.

Job functions live at module level and take ids and plain JSON data. They run inside the worker
(``scorekeeper worker``), which holds the app's context, as does a test or CLI command that runs
jobs in-process; they take the services from it.

Every job carries its workspace in its RQ meta (``{"workspace": ID}``, set by the port below); each job
function runs in that workspace (``in_job_workspace``), so a drain, publish, run, delivery or evaluation
acts on the workspace it was queued for. A job without one (queued before workspaces existed) runs in
``default``; a job of a workspace deleted since does nothing.
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from flask import Flask
from rq import Retry, get_current_job

from .automation.defaults import JOB_RESULT_TTL_SECONDS, RUN_JOB_TIMEOUT_SECONDS
from .automation.runner import execute
from .automation.deliveries import attempt
from .evaluation import run_evaluation
from .publish import PUBLISH_TRIES, part_job_id, retire, run_publish, run_publish_part
from .scoring_service import drain, recheck_all_lists
from .workspaces import remove_workspace
from .services import DEFAULT_WORKSPACE, Services, get_services, in_workspace, wire
from .storage.jobs import JobQueue

log = logging.getLogger(__name__)

#: Seconds a drain job may run; a failed one is kept this long for inspection.
DRAIN_TIMEOUT_S, FAILED_TTL_S = 600, 86400
#: Seconds a publish recompute may run, and how long its result is kept.
PUBLISH_TIMEOUT_S = PUBLISH_RESULT_TTL_S = 3600
#: Tries after the first of a publish job or of one of its parts (one bucket of contacts) before the publish fails.
PART_RETRIES = PUBLISH_TRIES - 1
#: Seconds between two tries of a publish job.
PUBLISH_RETRY_S = 5
#: Seconds a finished part's RQ record (which worker ran it) is kept.
PART_RESULT_TTL_S = 600
#: Seconds an evaluation may run, and how long RQ keeps its result (the reports are kept apart).
EVALUATION_TIMEOUT_S, EVALUATION_RESULT_TTL_S = 3600, 600
#: A webhook attempt's time limit (the request's own timeout is shorter), in seconds.
DELIVERY_TIMEOUT_S = 120
#: Seconds a workspace's deletion may run (it scans every key of the workspace).
DELETE_TIMEOUT_S = 6 * 3600


#: The RQ meta field naming a job's workspace.
WORKSPACE_META = "workspace"
#: The RQ meta field of a job no other job depends on (every job the app queues: it never uses ``depends_on``):
#: the worker ends such a job that keeps no result in one round trip (workers/main.py).
LEAF_META = "leaf"

F = TypeVar("F", bound=Callable[..., Any])


def in_job_workspace(function: F) -> F:
    """Run the job function in the workspace its job was queued for (its RQ meta); outside a job (a test or
    command calling it directly) in the current one. A workspace that no longer exists runs nothing."""

    @functools.wraps(function)
    def run(*args: Any, **kwargs: Any) -> Any:
        job = get_current_job()
        workspace = (job.meta or {}).get(WORKSPACE_META, DEFAULT_WORKSPACE) if job is not None else None
        if workspace is None:
            return function(*args, **kwargs)
        with in_workspace(workspace):
            if workspace != DEFAULT_WORKSPACE and not get_services().workspaces.exists(workspace):
                log.warning("job of a deleted workspace skipped", extra={"workspace": workspace,
                                                                         "job": function.__name__})
                return None
            return function(*args, **kwargs)

    return run  # type: ignore[return-value]


# --- the job functions ---------------------------------------------------------------------------
@in_job_workspace
def drain_partition(partition: int) -> int:
    """Score what is waiting in one ingest partition."""
    return drain(get_services(), partition)


@in_job_workspace
def publish_profile(profile_id: str, version: int, job_id: str, fire_triggers: bool = False,
                    split: bool = True) -> None:
    """Start the recompute of every contact for a new profile version: queue its parts (``publish_part``;
    with ``split=False``, run them all in this job). A failure on its last try fails the publish."""
    job = get_current_job()
    run_publish(get_services(), profile_id, version, job_id, fire_triggers, split,
                last_try=job is None or not job.retries_left)


@in_job_workspace
def publish_part(profile_id: str, version: int, job_id: str, part: int, fire_triggers: bool = False) -> None:
    """Recompute the contacts of one registry bucket for a new version; the last part to finish switches to it.
    A failure on the part's last try fails the publish."""
    job = get_current_job()
    run_publish_part(get_services(), profile_id, version, job_id, part, fire_triggers,
                     last_try=job is None or not job.retries_left)


@in_job_workspace
def evaluate_profile(job_id: str) -> None:
    """Evaluate a profile over a period (app/evaluation.py): conversion by band, decile and rule."""
    run_evaluation(get_services(), job_id)


@in_job_workspace
def retire_version(profile_id: str, version: int) -> None:
    """Remove the scores, ledgers and index of a version that is no longer live."""
    retire(get_services(), profile_id, version)


@in_job_workspace
def recheck_lists() -> int:
    """Decide again for every contact whether the profiles with include/exclude lists score it."""
    return recheck_all_lists(get_services())


@in_job_workspace
def execute_run(run_id: str) -> str | None:
    """Run (or resume) a workflow run; returns its status."""
    run = execute(get_services(), run_id)
    return run["status"] if run else None


@in_job_workspace
def deliver_webhook(delivery_id: str, cycle: int, try_number: int) -> str | None:
    """One attempt of a webhook delivery; returns the delivery's status after it."""
    delivery = attempt(get_services(), delivery_id, cycle, try_number)
    return delivery["status"] if delivery else None


@in_job_workspace
def delete_workspace(workspace: str, job_id: str) -> int:
    """Remove every key of a workspace (app/workspaces.py), with progress in the job's status record."""
    return remove_workspace(get_services(), workspace, job_id)


# --- the port -------------------------------------------------------------------------------------
class Jobs:
    """``app.ports.JobPort``: each method queues one job function with its options, and its workspace."""

    def __init__(self, queue: JobQueue, workspace: str = DEFAULT_WORKSPACE):
        self.queue = queue
        self.meta = {WORKSPACE_META: workspace, LEAF_META: 1}

    def drain_partition(self, partition: int) -> None:
        self.queue.enqueue(drain_partition, partition, job_timeout=DRAIN_TIMEOUT_S, result_ttl=0,
                           failure_ttl=FAILED_TTL_S, meta=self.meta)

    def publish_profile(self, profile_id: str, version: int, job_id: str, fire_triggers: bool,
                        split: bool = True) -> None:
        self.queue.enqueue(publish_profile, profile_id, version, job_id, fire_triggers, split, job_id=job_id,
                           job_timeout=PUBLISH_TIMEOUT_S, result_ttl=PUBLISH_RESULT_TTL_S,
                           retry=Retry(max=PART_RETRIES, interval=PUBLISH_RETRY_S), meta=self.meta)

    def publish_parts(self, profile_id: str, version: int, job_id: str, fire_triggers: bool,
                      parts: int | Sequence[int]) -> None:
        """One job per part (``parts`` of them, or these parts: the watchdog's re-queue), in one round trip; a
        part that fails (or whose worker dies) is tried again at once and resumes where it stopped."""
        options = {"timeout": PUBLISH_TIMEOUT_S, "result_ttl": PART_RESULT_TTL_S, "failure_ttl": FAILED_TTL_S,
                   "retry": Retry(max=PART_RETRIES), "meta": self.meta}
        numbers = range(parts) if isinstance(parts, int) else parts
        self.queue.enqueue_many(publish_part, [((profile_id, version, job_id, part, fire_triggers),
                                                {"job_id": part_job_id(job_id, part), **options})
                                               for part in numbers])

    def evaluate_profile(self, job_id: str) -> None:
        self.queue.enqueue(evaluate_profile, job_id, job_id=job_id, job_timeout=EVALUATION_TIMEOUT_S,
                           result_ttl=EVALUATION_RESULT_TTL_S, failure_ttl=FAILED_TTL_S, meta=self.meta)

    def retire_version(self, profile_id: str, version: int, once: str | None = None) -> None:
        """With ``once``, the job's id: not queued while RQ knows a job of that id, whose record is kept a day after it
        ran (a publish's retirement queued again after a crash runs once)."""
        if once is None:
            self.queue.enqueue(retire_version, profile_id, version, result_ttl=0, meta=self.meta)
        elif not self.queue.known(once):
            self.queue.enqueue(retire_version, profile_id, version, job_id=once, result_ttl=FAILED_TTL_S,
                               meta=self.meta)

    def recheck_lists(self) -> None:
        self.queue.enqueue(recheck_lists, job_timeout=PUBLISH_TIMEOUT_S, result_ttl=0, failure_ttl=FAILED_TTL_S,
                           meta=self.meta)

    # Workflow runs and webhook attempts go on the workflow queue, which workers take from first.
    def start_runs(self, run_ids: Sequence[str]) -> None:
        options = {"timeout": RUN_JOB_TIMEOUT_SECONDS, "result_ttl": JOB_RESULT_TTL_SECONDS, "meta": self.meta}
        self.queue.enqueue_many(execute_run, [((run_id,), {"job_id": f"{run_id}-start", **options})
                                              for run_id in run_ids], workflow=True)

    def resume_run(self, run_id: str, delay_ms: int, job_id: str) -> None:
        self.queue.enqueue_in(timedelta(milliseconds=max(delay_ms, 0)), execute_run, run_id, job_id=job_id,
                              job_timeout=RUN_JOB_TIMEOUT_SECONDS, result_ttl=JOB_RESULT_TTL_SECONDS,
                              meta=self.meta, workflow=True)

    def attempt_delivery(self, delivery_id: str, cycle: int, try_number: int, delay_seconds: float,
                         job_id: str) -> None:
        options = {"job_id": job_id, "result_ttl": JOB_RESULT_TTL_SECONDS, "job_timeout": DELIVERY_TIMEOUT_S,
                   "meta": self.meta, "workflow": True}
        if delay_seconds > 0:
            self.queue.enqueue_in(timedelta(seconds=delay_seconds), deliver_webhook, delivery_id, cycle,
                                  try_number, **options)
        else:
            self.queue.enqueue(deliver_webhook, delivery_id, cycle, try_number, **options)

    def delete_workspace(self, workspace: str, job_id: str) -> None:
        """Queued in ``default`` (the registry lives there), naming the workspace to delete."""
        self.queue.enqueue(delete_workspace, workspace, job_id, job_id=job_id, job_timeout=DELETE_TIMEOUT_S,
                           result_ttl=0, failure_ttl=FAILED_TTL_S, meta=self.meta)


def plug(services: Services) -> None:
    """The job port of one workspace's services."""
    services.enqueue = Jobs(services.jobs, services.workspace)


def init_app(app: Flask) -> None:
    """Plug the job port into the services of every workspace (``services.enqueue``)."""
    wire(app, plug)
