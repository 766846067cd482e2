"""The job queues (RQ, on REDIS_URL) and the status records of long jobs such as a publish.

Jobs are enqueued by reference: callers pass the job function itself (``app.jobs``), never
its dotted name. Queue errors leave as the storage layer's exceptions, like every gateway's.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from rq import Queue, Worker
from rq.intermediate_queue import IntermediateQueue
from rq.registry import FailedJobRegistry

from ..keys import Keys
from .errors import gateway
from .redis_tools import load_script


#: The name of the queue of workflow jobs after the main queue's (``QUEUE``): ``scorekeeper-workflows``.
WORKFLOW_QUEUE_SUFFIX = "-workflows"


@gateway
class JobQueue:
    """The app's two RQ queues: the main one (``QUEUE``: drains, publishes, evaluations...) and the workflow queue
    (runs and webhook attempts), which workers take from first, so a run or a retry does not wait behind the
    drains queued before it (a drain takes whatever its partition holds when it starts, so it loses little by
    waiting for a run)."""

    def __init__(self, queue: Queue, redis: Any, keys: Keys, workflow_queue: Queue | None = None):
        self.queue = queue
        self.workflow_queue = workflow_queue or Queue(queue.name + WORKFLOW_QUEUE_SUFFIX, connection=queue.connection,
                                                      serializer=queue.serializer)
        self.redis = redis
        self.keys = keys
        self._part = load_script(redis, "publish_part.lua")

    @property
    def queues(self) -> list[Queue]:
        """Both queues, in the order workers take from them."""
        return [self.workflow_queue, self.queue]

    # --- the RQ queues -----------------------------------------------------------------------
    def enqueue(self, function: Callable[..., Any], *args: Any, workflow: bool = False, **options: Any) -> None:
        """Queue a job (``workflow``: on the workflow queue)."""
        (self.workflow_queue if workflow else self.queue).enqueue(function, *args, **options)

    def enqueue_in(self, delay: timedelta, function: Callable[..., Any], *args: Any, workflow: bool = False,
                   **options: Any) -> None:
        (self.workflow_queue if workflow else self.queue).enqueue_in(delay, function, *args, **options)

    def enqueue_many(self, function: Callable[..., Any], calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
                     workflow: bool = False) -> None:
        """One round trip for many jobs of one function: ``(args, options)`` per job."""
        if calls:
            (self.workflow_queue if workflow else self.queue).enqueue_many(
                [Queue.prepare_data(function, args, **options) for args, options in calls])

    def waiting(self, job_ids: Sequence[str]) -> set[str]:
        """Which of these jobs RQ will run without help: waiting in the queue, or scheduled (a retry with a
        delay). A job taken from the queue by a worker that died before starting it is in neither (RQ keeps
        its id in the queue's intermediate list), nor is one whose worker died while running it."""
        if not job_ids:
            return set()
        pipe = self.queue.connection.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.lpos(self.queue.key, job_id)
            pipe.zscore(self.queue.scheduled_job_registry.key, job_id)
        answers = pipe.execute()
        return {job_id for job_id, queued, scheduled in zip(job_ids, answers[::2], answers[1::2])
                if queued is not None or scheduled is not None}

    def forget_taken(self, job_ids: Sequence[str]) -> None:
        """Drop these jobs' ids from the queue's intermediate list (taken by a worker that never started them),
        so RQ's own clean-up, minutes later, does not fail a job that runs again meanwhile."""
        if job_ids:
            pipe = self.queue.connection.pipeline(transaction=False)
            for job_id in job_ids:
                pipe.lrem(self.queue.intermediate_queue_key, 0, job_id)
            pipe.execute()

    def ping(self) -> bool:
        """Whether the queue's Redis answers."""
        return bool(self.queue.connection.ping())

    def idle(self) -> bool:
        """Whether no workflow job (a run, a webhook attempt) waits: a drain may then wait a few ms for more in its
        partition (``DRAIN_LINGER_MS``, app/scoring_service.py), holding a worker a run would wait for. Drains of
        other partitions waiting meanwhile do not stop it: each of them takes what arrived in its partition
        meanwhile, so a drain that lingers makes fewer drain jobs in all (row 3's flow in-process at 150/s:
        0.65–0.71 drain jobs per interaction → 0.45–0.48, docs/performance.md)."""
        return not self.workflow_queue.connection.llen(self.workflow_queue.key)

    def live_workers(self) -> set[str]:
        """The names of the workers RQ lists on either queue whose key is still alive (a worker's key lapses
        ``worker_ttl + 60`` s after its last renewal, so one killed outright is listed up to 8 minutes)."""
        return {worker.name for queue in self.queues for worker in Worker.all(queue=queue)}

    def depth(self) -> int:
        """Jobs waiting in the queues."""
        return sum(len(queue) for queue in self.queues)

    def counts(self) -> dict[str, int]:
        """Jobs of both queues by state: queued, started, scheduled, deferred, failed."""
        counts = {"queued": 0, "started": 0, "scheduled": 0, "deferred": 0, "failed": 0}
        for queue in self.queues:
            counts["queued"] += queue.count
            counts["started"] += queue.started_job_registry.count
            counts["scheduled"] += queue.scheduled_job_registry.count
            counts["deferred"] += queue.deferred_job_registry.count
            counts["failed"] += queue.failed_job_registry.count
        return counts

    def sweep_failed(self, cutoff_ms: int) -> int:
        """Delete failed jobs (RQ keeps them a year by default) that ended before ``cutoff_ms``."""
        removed = 0
        for queue in self.queues:
            registry = FailedJobRegistry(queue=queue)
            for job in queue.job_class.fetch_many(registry.get_job_ids(), connection=queue.connection):
                if job is not None and job.ended_at is not None and job.ended_at.timestamp() * 1000 < cutoff_ms:
                    registry.remove(job, delete_job=True)
                    removed += 1
        return removed

    def horizon_pass(self) -> dict[str, int]:
        """Where the hot horizon's trim pass stands (``bucket``, ``start``, ``started_at``; empty before the first)."""
        return {k: int(v) for k, v in self.redis.hgetall(self.keys.horizon_pass()).items()}

    def save_horizon_pass(self, bucket: int, start: int, started_at: int) -> None:
        self.redis.hset(self.keys.horizon_pass(), mapping={"bucket": bucket, "start": start, "started_at": started_at})

    def claim_retention_sweep(self, now_ms: int, period_ms: int) -> bool:
        """True for the first caller in each period (every worker's ticker asks; one sweeps)."""
        return bool(self.redis.set(self.keys.retention_sweep(), str(now_ms), nx=True, px=max(period_ms, 1)))

    # --- status records of long jobs -----------------------------------------------------------
    def set_status(self, job_id: str, expire_seconds: int | None = None, **fields: Any) -> None:
        """Update a job's status record; with ``expire_seconds``, it is deleted that long after."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.job(job_id), mapping={k: str(v) for k, v in fields.items()})
        if expire_seconds is not None:
            pipe.expire(self.keys.job(job_id), expire_seconds)
        pipe.execute()

    def status(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.hgetall(self.keys.job(job_id))
        if not raw:
            return None
        return {"id": job_id, "kind": raw.get("kind"), "status": raw.get("status"),
                "progress": float(raw.get("progress", 0)), "profile": raw.get("profile"),
                "version": int(raw["version"]) if raw.get("version") else None, "error": raw.get("error") or None,
                "total": int(raw.get("total", 0)), "done": int(raw.get("done", 0)),
                **_watchdog_fields(raw)}

    def record(self, job_id: str) -> dict[str, str]:
        """A job's status record as stored, every field (the publish watchdog reads its parts' marks)."""
        return self.redis.hgetall(self.keys.job(job_id))

    # --- the parts of a job split over workers (a publish recompute: one part per index bucket) -------
    def start_parts(self, job_id: str, parts: int, **fields: Any) -> None:
        """Say the job has ``parts`` parts, none done, with these status fields (only the first time: a job
        run again after a crash keeps its parts' progress and status)."""
        key = self.keys.job(job_id)
        if self.redis.hsetnx(key, "parts_left", parts):
            self.redis.hset(key, mapping={"parts": parts, "done": 0, "progress": 0,
                                          **{k: str(v) for k, v in fields.items()}})

    def part_position(self, job_id: str, part: int) -> tuple[int, bool]:
        """Where a part stands: how many of its items are done, and whether it is finished."""
        position, finished = self.redis.hmget(self.keys.job(job_id), [f"part:{part}", f"finished:{part}"])
        return int(position or 0), bool(finished)

    def advance_part(self, job_id: str, part: int, read: int, position: int, now_ms: int) -> bool:
        """Move a part from ``read`` to ``position`` items done, adding the difference to the job's ``done``
        and ``progress`` at once, and say the job moved at ``now_ms``; False (nothing counted) when the part's
        position is no longer ``read``."""
        return int(self._part(keys=[self.keys.job(job_id)], args=["advance", part, read, position, now_ms])) >= 0

    def finish_part(self, job_id: str, part: int, now_ms: int) -> bool:
        """Mark a part finished (once); True for the part whose mark finished the last one (it finishes the
        job, and so does its retry)."""
        return int(self._part(keys=[self.keys.job(job_id)], args=["finish", part, now_ms])) == part

    def count_try(self, job_id: str, name: str, position: int) -> int:
        """Count a run of a publish job (``name`` "publish") or of one of its parts (its number) starting at
        ``position``: how many runs of it started there, this one included (a run starting elsewhere counts from
        1 again)."""
        return int(self._part(keys=[self.keys.job(job_id)], args=["try", name, position]))

    def known(self, job_id: str) -> bool:
        """Whether RQ holds a job of this id (waiting, scheduled, running, or ended and its result still kept)."""
        return bool(self.queue.connection.exists(self.queue.job_class.key_for(job_id)))

    def status_field(self, job_id: str, name: str) -> str | None:
        """One field of a job's status record as stored (None when absent)."""
        return self.redis.hget(self.keys.job(job_id), name)

    def migration_done(self, name: str) -> bool:
        """Whether a data migration (such as an index backfill) has finished once."""
        return bool(self.redis.hexists(self.keys.migrations(), name))

    def record_migration(self, name: str, at_ms: int) -> None:
        self.redis.hset(self.keys.migrations(), name, at_ms)


#: What a take returns: the queue's key, the job's id and the job's stored hash.
Taken = tuple[bytes, bytes, dict[bytes, bytes]]


class JobTaker:
    """A worker's take of its next job from its queues, in their order (the workflow queue first), into the queue's
    intermediate list, as RQ takes a job for a worker of one queue: a worker that dies before starting the job
    leaves its id there, where RQ's clean-up fails it after a minute (the publish watchdog and the ticker's re-wake
    of partitions queue again the parts and drains), instead of losing it. RQ pops the job (``BLPOP``) for a worker
    of two queues."""

    def __init__(self, connection: Any, job_prefix: str):
        self.connection = connection
        self.job_prefix = job_prefix
        self._take = load_script(connection, "take_job.lua")

    def take(self, queue_keys: Sequence[str]) -> Taken | None:
        """The first job waiting, with its hash, in one round trip (take_job.lua); None when the queues are
        empty."""
        keys = [key for queue_key in queue_keys for key in (queue_key, _intermediate(queue_key))]
        reply = self._take(keys=keys, args=[self.job_prefix])
        if not reply:
            return None
        queue_key, job_id, *fields = reply
        return queue_key, job_id, dict(zip(fields[::2], fields[1::2]))

    def wait(self, queue_keys: Sequence[str], timeout: int) -> Taken | None:
        """The first job to arrive within ``timeout`` seconds (``BLPOP``, which blocks on several lists but pops),
        then put in its intermediate list with its hash read, in a second round trip; None when none arrives. Only
        a worker that dies between the two loses the job."""
        while True:
            popped = self.connection.blpop(list(queue_keys), timeout)
            if popped is None:
                return None
            queue_key, job_id = popped
            pipe = self.connection.pipeline(transaction=False)
            pipe.rpush(_intermediate(queue_key.decode()), job_id)
            pipe.hgetall(self.job_prefix + job_id.decode())
            _, raw = pipe.execute()
            if raw:
                return queue_key, job_id, raw
            self.connection.lrem(_intermediate(queue_key.decode()), -1, job_id)  # deleted meanwhile: as RQ, skip


def _intermediate(queue_key: str) -> str:
    """RQ's intermediate list of a queue (``rq.intermediate_queue.IntermediateQueue``)."""
    return IntermediateQueue.get_intermediate_queue_key(queue_key)


def _watchdog_fields(raw: dict[str, str]) -> dict[str, Any]:
    """What the publish watchdog (app/publish.py: ``watch_publishes``) did to a job, when it did anything: how
    often it re-queued lost parts, which the last time, and when (ms)."""
    if not raw.get("requeued"):
        return {}
    return {"requeued": int(raw["requeued"]), "requeued_parts": raw.get("requeued_parts", ""),
            "requeued_at": int(raw.get("requeued_at") or 0)}
