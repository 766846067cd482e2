"""The audit trail: who did what to which target, and when — written where each action happens,
through ``record`` alone, and read newest first by ``GET /v1/audit`` and the dashboard's Audit page.

Entries are kept ``AUDIT_RETENTION_DAYS`` (``app/retention.py`` trims them).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .services import Services

log = logging.getLogger(__name__)

#: Every action the trail records, with the words the dashboard shows.
ACTIONS: dict[str, str] = {
    "profile.publish": "published profile",
    "profile.rollback": "rolled back profile",
    "profile.unpublish": "unpublished profile",
    "profile.delete": "deleted profile",
    "score.set": "set score",
    "score.add": "added to score",
    "score.reset": "reset score",
    "workflow.create": "created workflow",
    "workflow.edit": "edited workflow",
    "workflow.enable": "enabled workflow",
    "workflow.disable": "disabled workflow",
    "workflow.delete": "deleted workflow",
    "key.create": "created API key",
    "key.revoke": "revoked API key",
    "member.create": "added member",
    "member.invite": "invited member",
    "member.role": "changed role of member",
    "member.remove": "removed member",
    "member.password": "reset password of member",
    "member.totp_on": "turned on two-step sign-in of member",
    "member.totp_off": "turned off two-step sign-in of member",
    "member.recovery_code": "used a recovery code of member",
    "provider.set": "set provider secret",
    "provider.remove": "removed provider secret",
    "workspace.create": "created workspace",
    "workspace.delete": "deleted workspace",
}


@dataclass(frozen=True)
class AuditEntry:
    """One action: ``actor`` is a user's email, ``key:<name> (<id>)``, ``api:<8 hex>`` or ``dashboard``;
    ``target`` what it was done to (``profile:engagement``, ``contact:c…/engagement``, ``key:<id>``)."""

    at: int
    actor: str
    action: str
    target: str
    details: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "actor": self.actor, "action": self.action, "target": self.target,
                "details": self.details}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> AuditEntry:
        return cls(doc["at"], doc["actor"], doc["action"], doc["target"], doc.get("details") or {}, doc.get("id"))


def record(services: Services, actor: str, action: str, target: str, **details: Any) -> AuditEntry:
    """Write one entry to the trail (the only writer). ``details`` hold small facts (a version, a score),
    never secrets."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    entry = AuditEntry(services.clock.now_ms(), actor, action, target, details)
    entry_id = services.audit.append(entry.at, entry.to_json())
    log.info("audit", extra={"actor": actor, "action": action, "target": target})
    return AuditEntry(entry.at, actor, action, target, details, entry_id)


@dataclass(frozen=True)
class AuditQuery:
    """Filters of a page of the trail: each matches exactly when given (``action`` may end in ``.*``:
    ``workflow.*``); ``target`` also matches as a prefix ending in ``:`` or ``/`` (``profile:``)."""

    actor: str | None = None
    action: str | None = None
    target: str | None = None

    def keeps(self, entry: dict[str, Any]) -> bool:
        if self.actor is not None and entry["actor"] != self.actor:
            return False
        if self.action is not None:
            if self.action.endswith(".*"):
                if not entry["action"].startswith(self.action[:-1]):
                    return False
            elif entry["action"] != self.action:
                return False
        if self.target is not None and entry["target"] != self.target:
            if not (self.target.endswith((":", "/")) and entry["target"].startswith(self.target)):
                return False
        return True


def page(services: Services, query: AuditQuery, limit: int, before: str | None = None
         ) -> tuple[list[AuditEntry], str | None]:
    """Newest first: up to ``limit`` entries older than the cursor ``before``, and the next cursor."""
    found, cursor = services.audit.page(limit, before, query.keeps)
    return [AuditEntry.from_json(doc) for doc in found], cursor
