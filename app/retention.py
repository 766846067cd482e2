"""Retention: what the automation and the jobs leave behind is deleted once it is old enough.

Workflow runs, webhook deliveries, dead letters, inbox notifications, job records and the audit trail each have a retention
setting in days (README's settings table; 0 keeps them). A worker's ticker calls ``sweep_if_due`` on every
tick; one sweep runs per ``RETENTION_SWEEP_SECONDS`` across all workers. Only what can no longer change is
deleted: a run still waiting or a delivery still being retried stays, however old. The stats hash is not
swept: its counters only go up (Prometheus counters must not go down), one per provider, interaction type and
outcome, over a bounded set of labels (a malformed one counts as ``invalid``, ``custom.*`` types past
``metrics.MAX_CUSTOM_TYPE_LABELS`` as ``custom.other``). Contact history is bounded by the storage layer, not
here.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

DAY_MS = 86_400_000


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind is kept (0: kept for ever)."""

    runs_days: float
    deliveries_days: float
    dead_letters_days: float
    notifications_days: float
    jobs_days: float
    audit_days: float = 0

    @classmethod
    def from_settings(cls, settings: Any) -> RetentionPolicy:
        return cls(float(settings["RUNS_RETENTION_DAYS"]), float(settings["DELIVERIES_RETENTION_DAYS"]),
                   float(settings["DEAD_LETTERS_RETENTION_DAYS"]), float(settings["NOTIFICATIONS_RETENTION_DAYS"]),
                   float(settings["JOBS_RETENTION_DAYS"]), float(settings["AUDIT_RETENTION_DAYS"]))


def cutoff(days: float, now_ms: int) -> int | None:
    """The time before which things of a kind kept ``days`` are deleted (None: kept for ever)."""
    return int(now_ms - days * DAY_MS) if days > 0 else None


def sweep(services: Any, now_ms: int) -> dict[str, int]:
    """Delete everything past its retention at ``now_ms``; returns how many of each kind went."""
    policy = RetentionPolicy.from_settings(services.settings)
    store = services.automation
    removed = {"runs": 0, "deliveries": 0, "dead_letters": 0, "notifications": 0, "jobs": 0, "audit": 0}
    if (runs := cutoff(policy.runs_days, now_ms)) is not None:
        removed["runs"] = store.sweep_runs(runs)
    deliveries, dead = cutoff(policy.deliveries_days, now_ms), cutoff(policy.dead_letters_days, now_ms)
    if deliveries is not None or dead is not None:
        removed["deliveries"], removed["dead_letters"] = store.sweep_deliveries(
            deliveries if deliveries is not None else -1, dead)
    if (notifications := cutoff(policy.notifications_days, now_ms)) is not None:
        removed["notifications"] = store.sweep_notifications(notifications)
    if (jobs := cutoff(policy.jobs_days, now_ms)) is not None:
        removed["jobs"] = services.jobs.sweep_failed(jobs)
    if (audit := cutoff(policy.audit_days, now_ms)) is not None:
        removed["audit"] = services.audit.sweep(audit)
    log.info("retention sweep", extra={f"removed_{kind}": n for kind, n in removed.items()})
    return removed


def sweep_if_due(services: Any, now_ms: int) -> dict[str, int] | None:
    """Sweep when no worker swept within ``RETENTION_SWEEP_SECONDS`` (called on every tick)."""
    period_ms = int(float(services.settings["RETENTION_SWEEP_SECONDS"]) * 1000)
    if not services.jobs.claim_retention_sweep(now_ms, period_ms):
        return None
    return sweep(services, now_ms)


def job_record_ttl_seconds(settings: Any) -> int | None:
    """How long a finished publish job's record is kept, in seconds (None: for ever)."""
    days = float(settings["JOBS_RETENTION_DAYS"])
    return int(days * 86_400) if days > 0 else None
