"""Every Redis read and write of workflows, runs, deliveries and inbox notifications.

Key names come from ``keys.Keys``; ``claim_run.lua`` (beside this module) makes claiming a run
atomic. Documents are JSON strings; callers get plain Python data back.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from ..errors import Conflict, NotFound
from ..keys import Keys
from ..clock import now_ms
from .errors import gateway
from .redis_tools import DocumentHash, dumps, get_many, load_script, loads, run_scripts

#: In-app inbox notifications kept (newest first).
NOTIFICATIONS_MAX = 1000
#: Documents a retention sweep reads per round trip.
SWEEP_PAGE = 500
#: Run statuses after which a run never changes again (the sweep may delete it).
RUN_DONE = frozenset({"succeeded", "failed"})


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
        """Workflow id -> ``{"config", "source", "managed_by", "file"?, "updated_at"}``."""
        return {wid: _managed(doc) for wid, doc in self.workflows.all().items()}

    def workflow_doc(self, workflow_id: str) -> dict[str, Any] | None:
        doc = self.workflows.get(workflow_id)
        return _managed(doc) if doc is not None else None

    def require_workflow(self, workflow_id: str) -> dict[str, Any]:
        """The workflow document, or NotFound (404)."""
        return _found(self.workflow_doc(workflow_id), "workflow", workflow_id)

    def put_workflow(self, config: dict[str, Any], source: str) -> dict[str, Any]:
        """Store a workflow edited by a user (``source`` "api" or "dashboard").

        A workflow loaded from a file is refused (WorkflowManagedByFile, a 409): its file is the truth, and an
        edit here would be reverted by the next sync.
        """
        refuse_if_file_managed(self.workflow_doc(config["id"]))
        return self._write(config, {"source": source, "managed_by": source})

    def put_file_workflow(self, config: dict[str, Any], file_name: str) -> dict[str, Any]:
        """Store a workflow loaded from ``workflows/<file_name>`` (only the file sync does this)."""
        return self._write(config, {"source": f"file:{file_name}", "managed_by": "file", "file": file_name})

    def _write(self, config: dict[str, Any], origin: dict[str, str]) -> dict[str, Any]:
        doc = {"config": config, **origin, "updated_at": now_ms()}
        pipe = self.redis.pipeline(transaction=True)
        self.workflows.put(config["id"], doc, pipe)
        pipe.set(self.keys.workflows_rev(), uuid.uuid4().hex)
        pipe.execute()
        return doc

    def delete_workflow(self, workflow_id: str) -> bool:
        """Delete a user's workflow; a file-managed one is refused (409), its file would bring it back."""
        refuse_if_file_managed(self.workflow_doc(workflow_id))
        return self.delete_file_workflow(workflow_id)

    def delete_file_workflow(self, workflow_id: str) -> bool:
        """Delete a workflow whatever manages it (the file sync, after its file was removed)."""
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
    def create_delivery(self, delivery: dict[str, Any], awaiting: bool = False) -> bool:
        """Store a new delivery (SET NX); True when it was created now. ``awaiting``: its run job makes the first
        attempt itself (no job queued for it), so it is also listed among the deliveries awaiting one until
        ``save_delivery`` records an attempt."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.delivery(delivery["id"]), dumps(delivery), nx=True)
        pipe.zadd(self.keys.deliveries(), {delivery["id"]: delivery["created_at"]}, nx=True)
        if awaiting:
            pipe.zadd(self.keys.deliveries_awaiting(), {delivery["id"]: delivery["created_at"]}, nx=True)
        return bool(pipe.execute()[0])

    def awaiting_attempt(self, created_before_ms: int, count: int = SWEEP_PAGE) -> list[str]:
        """Deliveries created before ``created_before_ms`` whose run job has not recorded their first attempt."""
        return self.redis.zrangebyscore(self.keys.deliveries_awaiting(), "-inf", created_before_ms, start=0, num=count)

    def forget_awaiting(self, delivery_ids: Sequence[str]) -> None:
        """No longer list these deliveries as awaiting their first attempt (a job for it was queued)."""
        if delivery_ids:
            self.redis.zrem(self.keys.deliveries_awaiting(), *delivery_ids)

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
        """Write the delivery (no longer awaiting its first attempt); ``dead`` True adds it to the dead letters,
        False takes it out."""
        delivery["updated_at"] = now_ms()
        # The dead-letter index is written idempotently beside the document (another cluster slot).
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.delivery(delivery["id"]), dumps(delivery))
        pipe.zrem(self.keys.deliveries_awaiting(), delivery["id"])  # an attempt made (or its job queued): no longer
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
        self.redis.incr(self.keys.notifications_unread())  # another slot on a cluster: its own command

    def notifications(self, start: int, count: int) -> list[dict[str, Any]]:
        """A page of the inbox, newest first, each with ``read`` (marked read one by one or all at once)."""
        items = [loads(x) for x in self.redis.lrange(self.keys.notifications(), start, start + count - 1)]
        if not items:
            return items
        before = int(self.redis.get(self.keys.notifications_read_before()) or 0)
        marked = self.redis.smismember(self.keys.notifications_read(), [n["id"] for n in items])
        return [{**n, "read": n["at"] <= before or bool(m)} for n, m in zip(items, marked)]

    def unread_count(self) -> int:
        """Unread notifications (never more than the inbox holds: the oldest fall off its end)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self.keys.notifications_unread())
        pipe.llen(self.keys.notifications())
        unread, held = pipe.execute()
        return max(0, min(int(unread or 0), held))

    def mark_read(self, notification_id: str) -> bool:
        """Mark one notification read; False when it was read already (or is not in the inbox)."""
        found = next((n for n in self.notifications(0, NOTIFICATIONS_MAX) if n["id"] == notification_id), None)
        if found is None or found["read"]:
            return False
        if self.redis.sadd(self.keys.notifications_read(), notification_id):
            if int(self.redis.decr(self.keys.notifications_unread())) < 0:
                self.redis.set(self.keys.notifications_unread(), 0)
        return True

    def mark_all_read(self, at_ms: int) -> None:
        """Every notification so far is read."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.notifications_read_before(), at_ms)
        pipe.delete(self.keys.notifications_read())
        pipe.set(self.keys.notifications_unread(), 0)
        pipe.execute()

    def get_runs(self, run_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Several runs in one round trip (lists that name each run's contact)."""
        pipe = self.redis.pipeline(transaction=False)
        for run_id in run_ids:
            pipe.get(self.keys.run(run_id))
        return [loads(raw) if raw else None for raw in pipe.execute()]

    # --- retention (app/retention.py decides when) -------------------------------------------
    def sweep_runs(self, cutoff_ms: int, page: int = SWEEP_PAGE) -> int:
        """Delete the finished runs (succeeded or failed) created and last changed before ``cutoff_ms``, with
        their index entries and claims. Runs still queued, running, waiting or retrying are kept."""
        removed = 0
        for index_key in self.redis.scan_iter(match=self.keys.workflow_runs("*"), count=SWEEP_PAGE):
            offset = 0
            while True:
                ids = self.redis.zrangebyscore(index_key, "-inf", cutoff_ms, start=offset, num=page)
                if not ids:
                    break
                pipe = self.redis.pipeline(transaction=False)
                for run_id, raw in zip(ids, get_many(self.redis, [self.keys.run(i) for i in ids]), strict=True):
                    run = loads(raw) if raw else None
                    if run is not None and (run["status"] not in RUN_DONE or run["updated_at"] >= cutoff_ms):
                        offset += 1
                        continue
                    pipe.zrem(index_key, run_id)
                    if run is not None:
                        pipe.delete(self.keys.run(run_id))
                        pipe.delete(self.keys.run_claim(run["contact_id"], run_id))
                        removed += 1
                pipe.execute()
        return removed

    def sweep_deliveries(self, cutoff_ms: int, dead_cutoff_ms: int | None, page: int = SWEEP_PAGE) -> tuple[int, int]:
        """Delete succeeded deliveries created before ``cutoff_ms``, and dead letters that gave up before
        ``dead_cutoff_ms`` (None: dead letters are kept). Deliveries still being attempted are kept.
        Returns (deliveries, dead letters) removed."""
        removed = [0, 0]
        for dead_pass, key, cutoff in ((False, self.keys.deliveries(), cutoff_ms),
                                       (True, self.keys.dead_letters(), dead_cutoff_ms)):
            if cutoff is None:
                continue
            offset = 0
            while ids := self.redis.zrangebyscore(key, "-inf", cutoff, start=offset, num=page):
                pipe = self.redis.pipeline(transaction=False)
                for delivery_id, raw in zip(ids, get_many(self.redis, [self.keys.delivery(i) for i in ids]),
                                            strict=True):
                    delivery = loads(raw) if raw else None
                    if delivery is not None and delivery["status"] != ("dead" if dead_pass else "succeeded"):
                        offset += 1
                        continue
                    pipe.delete(self.keys.delivery(delivery_id))
                    pipe.zrem(self.keys.deliveries(), delivery_id)
                    pipe.zrem(self.keys.dead_letters(), delivery_id)
                    removed[dead_pass] += delivery is not None
                pipe.execute()
        return removed[0], removed[1]

    def sweep_notifications(self, cutoff_ms: int) -> int:
        """Drop inbox notifications older than ``cutoff_ms`` from the old end of the list (new ones are pushed
        at the other end meanwhile, so trimming from the tail never loses one). Unread ones that go are taken
        off the unread count, and read marks of those that go are forgotten."""
        removed = 0
        while True:
            tail = [loads(x) for x in self.redis.lrange(self.keys.notifications(), -SWEEP_PAGE, -1)]
            old = []
            for notification in reversed(tail):
                if notification.get("at", 0) >= cutoff_ms:
                    break
                old.append(notification)
            if not old:
                return removed
            before = int(self.redis.get(self.keys.notifications_read_before()) or 0)
            marked = self.redis.smismember(self.keys.notifications_read(), [n["id"] for n in old])
            unread = sum(1 for n, m in zip(old, marked, strict=True) if n.get("at", 0) > before and not m)
            self.redis.ltrim(self.keys.notifications(), 0, -len(old) - 1)
            self.redis.srem(self.keys.notifications_read(), *[n["id"] for n in old])
            if unread and int(self.redis.decrby(self.keys.notifications_unread(), unread)) < 0:
                self.redis.set(self.keys.notifications_unread(), 0)
            removed += len(old)

class WorkflowManagedByFile(Conflict):
    """An edit (update, enable, disable, delete) of a workflow that a file in the workflows directory manages."""

    def __init__(self, workflow_id: str, file_name: str):
        super().__init__(
            f"workflow {workflow_id} is managed by workflows/{file_name}: edit the file and run "
            "`scorekeeper workflows sync`", {"managed_by": [f"file workflows/{file_name}"]})
        self.workflow_id = workflow_id
        self.file_name = file_name


def refuse_if_file_managed(doc: dict[str, Any] | None) -> None:
    """Raise WorkflowManagedByFile when ``doc`` (a stored workflow, or None) was loaded from a file."""
    if doc is not None and doc.get("managed_by") == "file":
        raise WorkflowManagedByFile(doc["config"]["id"], doc["file"])


def _managed(doc: dict[str, Any]) -> dict[str, Any]:
    """Documents stored before ``managed_by`` existed: ``source`` says the same (``file:NAME`` or a user)."""
    if "managed_by" not in doc:
        source = str(doc.get("source", "api"))
        doc.update({"managed_by": "file", "file": source[5:]} if source.startswith("file:") else {"managed_by": source})
    return doc


def _found(doc: dict[str, Any] | None, kind: str, id_: str) -> dict[str, Any]:
    if doc is None:
        raise NotFound(f"No {kind} {id_!r}.")
    return doc
