"""Starting runs: one per firing, claimed under an id derived from workflow, contact and change.

``start_runs`` is what the listener to scoring (``WorkflowTriggers.handle``) does: match the
events against the compiled index, check tag filters and reentry, claim each run atomically and
enqueue it. A
replayed or duplicated change finds its run id claimed and starts nothing; a crash between
claim and enqueue is repaired on replay (a claimed run without a document is created then).
"""
from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from typing import Any

from ..metrics import count_run
from ..scoring.events import CompanyScoreChanged, Event, GradeChanged, Interest, ScoreChanged
from .workflows import compiled_index
from ..clock import now_ms
from .triggers import Workflow, should_start

log = logging.getLogger(__name__)

TERMINAL = frozenset({"succeeded", "failed"})


def run_id_for(workflow_id: str, contact_id: str, change_id: str) -> str:
    digest = hashlib.sha256(f"{workflow_id}\x1f{contact_id}\x1f{change_id}".encode()).hexdigest()
    return f"run_{digest[:32]}"


def new_run(workflow: Workflow, event: Event) -> dict[str, Any]:
    """The run document of one firing: trigger snapshot, a copy of the steps, their status."""
    contact_id = event.contact_id
    trigger: dict[str, Any]
    if isinstance(event, ScoreChanged):
        trigger = {"kind": "score", "profile": event.profile, "version": event.version,
                   "old": event.old, "new": event.new, "at": event.at, "cause": dict(event.cause)}
    elif isinstance(event, GradeChanged):
        trigger = {"kind": "grade", "grade": event.grade, "old": event.old, "new": event.new, "at": event.at}
    elif isinstance(event, CompanyScoreChanged):
        trigger = {"kind": "company", "company": event.company, "profile": event.profile, "version": event.version,
                   "old": event.old, "new": event.new, "at": event.at}
    else:
        trigger = {"kind": "interaction", "interaction": event.record.to_json(), "at": event.record.at}
    created = now_ms()
    return {
        "id": run_id_for(workflow.id, contact_id, event.change_id),
        "workflow": {"id": workflow.id, "name": workflow.name},
        "contact_id": contact_id,
        "change_id": event.change_id,
        "depth": event.depth if isinstance(event, (ScoreChanged, GradeChanged, CompanyScoreChanged)) else 0,
        "trigger": trigger,
        "status": "queued",
        "error": None,
        "next_step": 0,
        "resume_at": None,
        "created_at": created,
        "updated_at": created,
        "definition": list(workflow.steps),
        "steps": [{"index": i, "type": s["type"], "name": s.get("name"), "status": "pending", "attempts": 0,
                   "error": None, "started_at": None, "finished_at": None} for i, s in enumerate(workflow.steps)],
    }


def start_runs(services: Any, events: Sequence[Event]) -> list[str]:
    """Start the runs these outbox events fire; returns the ids of runs started now."""
    index = compiled_index(services)
    fired = [(event, workflow) for event in events for workflow in index.fired(event)]
    if not fired:
        return []
    store = services.automation
    need_tags = sorted({e.contact_id for e, w in fired if w.trigger.filters})
    tags: dict[str, set[str]] = {}
    if need_tags:
        tags = services.contacts.tags_of(need_tags)
    passing = [(e, w) for e, w in fired if should_start(w.trigger, tags.get(e.contact_id, ()))]
    if not passing:
        return []
    runs = [new_run(w, e) for e, w in passing]
    outcomes = store.claim_runs([(r["contact_id"], w.id, r["id"], w.trigger.reentry)
                                 for r, (_e, w) in zip(runs, passing)])
    claimed = [r for r, o in zip(runs, outcomes) if o == 1]
    replayed = [r for r, o in zip(runs, outcomes) if o == 0]
    if replayed:  # claimed before: only a run lost between claim and creation is made now
        claimed += [r for r, exists in zip(replayed, store.runs_exist([r["id"] for r in replayed])) if not exists]
    created = [r for r, new in zip(claimed, store.create_runs(claimed)) if new] if claimed else []
    if created:
        services.enqueue.start_runs([r["id"] for r in created])
    count_run(services, "started", len(created))
    for run in created:
        log.info("workflow run started", extra={"run_id": run["id"], "workflow_id": run["workflow"]["id"],
                                                "contact_id": run["contact_id"]})
    return [r["id"] for r in created]


class WorkflowTriggers:
    """The listener to scoring (``app.ports.EventSink``) that ``init_app`` registers."""

    def __init__(self, services: Any):
        self.services = services

    def interest(self) -> Interest:
        """Profiles with score triggers and interaction types with interaction triggers (enabled ones)."""
        return compiled_index(self.services).interest

    def handle(self, events: Sequence[Event]) -> None:
        """Start the runs these committed events fire (idempotent; runs execute as RQ jobs)."""
        if events:
            start_runs(self.services, events)

