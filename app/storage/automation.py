"""Every Redis read and write of workflows, runs, deliveries and inbox notifications.

Key names come from ``keys.Keys``; ``claim_run.lua`` (beside this module) makes claiming a run
atomic. Documents are JSON strings; callers get plain Python data back.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import NotFound
from ..keys import Keys
from ..scoring.interactions import now_ms
from .errors import gateway
from .redis_tools import DocumentHash, dumps, get_many, load_script, loads, run_scripts

#: In-app inbox notifications kept (newest first).
NOTIFICATIONS_MAX = 1000


@gateway
class AutomationStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self.workflows = DocumentHash(redis, keys.workflows())
        self.disabled = DocumentHash(redis, keys.disabled_endpoints())
        self._claim = load_script(redis, "claim_run.lua")

    # --- workflows ---------------------------------------------------------------------------
    def workflow_docs(self) -> dict[str, dict[str, Any]]:
        """Workflow id -> ``{"config", "source", "updated_at"}``."""
        return self.workflows.all()

    def workflow_doc(self, workflow_id: str) -> dict[str, Any] | None:
        return self.workflows.get(workflow_id)

    def require_workflow(self, workflow_id: str) -> dict[str, Any]:
        """The workflow document, or NotFound (404)."""
        return _found(self.workflow_doc(workflow_id), "workflow", workflow_id)

    def put_workflow(self, config: dict[str, Any], source: str) -> dict[str, Any]:
        doc = {"config": config, "source": source, "updated_at": now_ms()}
        pipe = self.redis.pipeline(transaction=True)
        self.workflows.put(config["id"], doc, pipe)
        pipe.set(self.keys.workflows_rev(), uuid.uuid4().hex)
        pipe.execute()
        return doc

    def delete_workflow(self, workflow_id: str) -> bool:
        pipe = self.redis.pipeline(transaction=True)
        self.workflows.delete(workflow_id, pipe)
        pipe.set(self.keys.workflows_rev(), uuid.uuid4().hex)
        return bool(pipe.execute()[0])

    def workflows_rev(self) -> str:
        """A token that changes with every workflow change (never repeats, unlike a counter after a flush)."""
        return self.redis.get(self.keys.workflows_rev()) or ""

    # --- runs --------------------------------------------------------------------------------
    def claim_runs(self, claims: Sequence[tuple[str, str, str, bool]]) -> list[int]:
        """For each ``(contact_id, workflow_id, run_id, reentry)``: 1 claimed, 0 already claimed, -1 entered before."""
        calls = [([self.keys.run_claim(contact_id, run_id), self.keys.workflow_entered(contact_id)],
                  [workflow_id, "1" if reentry else "0", run_id])
                 for contact_id, workflow_id, run_id, reentry in claims]
        return [int(x) for x in run_scripts(self.redis, self._claim, calls)]

    def runs_exist(self, run_ids: Sequence[str]) -> list[bool]:
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.exists(self.keys.run(run_id))
        return [bool(x) for x in pipe.execute()]

    def create_runs(self, runs: Iterable[dict[str, Any]]) -> list[bool]:
        """Store new runs (SET NX); True for each that was created now."""
        runs = list(runs)
        pipe = self.redis.pipeline(transaction=False)
        for run in runs:
            pipe.set(self.keys.run(run["id"]), dumps(run), nx=True)
            pipe.zadd(self.keys.workflow_runs(run["workflow"]["id"]), {run["id"]: run["created_at"]}, nx=True)
        replies = pipe.execute()
        return [bool(replies[2 * i]) for i in range(len(runs))]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.run(run_id))
        return loads(raw) if raw else None

    def require_run(self, run_id: str) -> dict[str, Any]:
        return _found(self.get_run(run_id), "run", run_id)

    def save_run(self, run: dict[str, Any]) -> None:
        run["updated_at"] = now_ms()
        self.redis.set(self.keys.run(run["id"]), dumps(run))

    def workflow_runs(self, workflow_id: str, start: int, count: int) -> list[dict[str, Any]]:
        """Runs of a workflow, newest first."""
        ids = self.redis.zrevrange(self.keys.workflow_runs(workflow_id), start, start + count - 1)
        return [loads(raw) for raw in get_many(self.redis, [self.keys.run(i) for i in ids]) if raw] if ids else []

    # --- deliveries --------------------------------------------------------------------------
    def create_delivery(self, delivery: dict[str, Any]) -> bool:
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.delivery(delivery["id"]), dumps(delivery), nx=True)
        pipe.zadd(self.keys.deliveries(), {delivery["id"]: delivery["created_at"]}, nx=True)
        return bool(pipe.execute()[0])

    def get_delivery(self, delivery_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.delivery(delivery_id))
        return loads(raw) if raw else None

    def require_delivery(self, delivery_id: str) -> dict[str, Any]:
        return _found(self.get_delivery(delivery_id), "delivery", delivery_id)

    def get_deliveries(self, delivery_ids: Sequence[str]) -> list[dict[str, Any]]:
        if not delivery_ids:
            return []
        return [loads(raw) for raw in get_many(self.redis, [self.keys.delivery(i) for i in delivery_ids]) if raw]

    def save_delivery(self, delivery: dict[str, Any], dead: bool | None = None) -> None:
        """Write the delivery; ``dead`` True adds it to the dead letters, False takes it out."""
        delivery["updated_at"] = now_ms()
        # The dead-letter index is written idempotently beside the document (another cluster slot).
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.delivery(delivery["id"]), dumps(delivery))
        if dead is True:
            pipe.zadd(self.keys.dead_letters(), {delivery["id"]: delivery["updated_at"]})
        elif dead is False:
            pipe.zrem(self.keys.dead_letters(), delivery["id"])
        pipe.execute()

    def delivery_ids(self, start: int, count: int, dead_only: bool = False) -> list[str]:
        key = self.keys.dead_letters() if dead_only else self.keys.deliveries()
        return self.redis.zrevrange(key, start, start + count - 1)

    def disable_endpoint(self, url: str, reason: dict[str, Any]) -> None:
        self.disabled.put(url, reason)

    def enable_endpoint(self, url: str) -> None:
        self.disabled.delete(url)

    def endpoint_disabled(self, url: str) -> dict[str, Any] | None:
        return self.disabled.get(url)

    # --- inbox -------------------------------------------------------------------------------
    def push_notification(self, notification: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.lpush(self.keys.notifications(), dumps(notification))
        pipe.ltrim(self.keys.notifications(), 0, NOTIFICATIONS_MAX - 1)
        pipe.execute()

    def notifications(self, start: int, count: int) -> list[dict[str, Any]]:
        return [loads(x) for x in self.redis.lrange(self.keys.notifications(), start, start + count - 1)]


def _found(doc: dict[str, Any] | None, kind: str, id_: str) -> dict[str, Any]:
    if doc is None:
        raise NotFound(f"No {kind} {id_!r}.")
    return doc
