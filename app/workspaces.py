"""Workspaces (sub-accounts): make one, list them, delete one with everything it holds.

A workspace holds its own contacts, profiles, workflows, smart lists, runs, deliveries, notifications, provider
secrets, audit trail and API keys: its data lives under its own key prefix (app/services.py), so nothing of one
is reachable from another. The registry, stored API keys (by id) and users are instance-wide, under the plain
prefix of workspace ``default``, which always exists and cannot be deleted. Only instance admins (the keys of
``SCOREKEEPER_API_KEYS``, and owners of ``default`` in the dashboard) make or delete workspaces.

Deleting is a background job (``app.jobs.delete_workspace``): the workspace is first marked ``deleting`` — from
then on no request, webhook or job acts in it — then its keys are removed by a SCAN of its prefix on every
node, with progress in a job record readable at ``GET /v1/jobs/{id}``; its stored API keys and members' roles
go too; last, the registry entry, and a second scan picks up what a job still running wrote meanwhile.
"""
from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from .audit import record
from .errors import Conflict, NotFound, ValidationError
from .services import DEFAULT_WORKSPACE, Services, tenancy, workspace_prefix

log = logging.getLogger(__name__)

#: A workspace id: lower-case letters, digits and dashes (no ``:``, so one prefix never starts another's).
WORKSPACE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
NAME_MAX = 100


def check_id(workspace: str) -> str:
    if not isinstance(workspace, str) or not WORKSPACE_ID.match(workspace):
        raise ValidationError("A workspace id is 1 to 40 lower-case letters, digits and dashes, starting with a "
                              "letter or digit.", {"id": ["1-40 of a-z, 0-9 and -"]})
    return workspace


def exists(services: Services, workspace: str) -> bool:
    """Whether ``workspace`` exists and is not being deleted."""
    if workspace == DEFAULT_WORKSPACE:
        return True
    return isinstance(workspace, str) and bool(WORKSPACE_ID.match(workspace)) and services.workspaces.exists(workspace)


def require(services: Services, workspace: str) -> str:
    """``workspace`` if it exists, else NotFound (saying nothing about which others exist)."""
    if not exists(services, workspace):
        raise NotFound(f"No workspace {workspace!r}.")
    return workspace


def _default_doc(services: Services) -> dict[str, Any]:
    return {"id": DEFAULT_WORKSPACE, "name": "Default", "status": "active", "created_at": None,
            "created_by": None}


def every_workspace(services: Services) -> list[Services]:
    """The services of ``default`` and of every active workspace (the ticker, expiries and retention visit
    each)."""
    built = tenancy()
    return [built.default, *(built.get(doc["id"]) for doc in services.workspaces.all()
                             if doc["id"] != DEFAULT_WORKSPACE and doc.get("status", "active") == "active")]


def list_workspaces(services: Services) -> list[dict[str, Any]]:
    """``default`` first, then every other workspace by creation (those being deleted say so)."""
    stored = [doc for doc in services.workspaces.all() if doc["id"] != DEFAULT_WORKSPACE]
    return [_default_doc(services), *stored]


def get_workspace(services: Services, workspace: str) -> dict[str, Any]:
    if workspace == DEFAULT_WORKSPACE:
        return _default_doc(services)
    doc = services.workspaces.get(workspace) if WORKSPACE_ID.match(workspace or "") else None
    if doc is None:
        raise NotFound(f"No workspace {workspace!r}.")
    return doc


def create_workspace(services: Services, workspace: str, name: str, actor: str) -> dict[str, Any]:
    """Register a new, empty workspace; 409 if the id is taken (``default`` included)."""
    check_id(workspace)
    name = (name or "").strip()
    if not 1 <= len(name) <= NAME_MAX:
        raise ValidationError(f"A workspace name has 1 to {NAME_MAX} characters.",
                              {"name": [f"1 to {NAME_MAX} characters"]})
    doc = {"id": workspace, "name": name, "status": "active", "created_at": services.clock.now_ms(),
           "created_by": actor}
    if workspace == DEFAULT_WORKSPACE or not services.workspaces.put_new(doc):
        raise Conflict(f"A workspace {workspace!r} exists already.", {"id": ["taken"]})
    record(services, actor, "workspace.create", f"workspace:{workspace}", name=name)
    log.info("workspace created", extra={"workspace": workspace})
    return doc


def start_delete(services: Services, workspace: str, actor: str) -> dict[str, Any]:
    """Mark the workspace ``deleting`` (it stops answering at once) and queue its removal; the job record.

    ``services`` are the default workspace's: the registry and the job record live there."""
    if workspace == DEFAULT_WORKSPACE:
        raise Conflict("Workspace 'default' cannot be deleted.")
    doc = get_workspace(services, workspace)
    if doc.get("status") == "deleting":
        raise Conflict(f"Workspace {workspace!r} is being deleted already (job {doc.get('job')}).")
    job_id = f"workspace-delete-{workspace}-{uuid.uuid4().hex[:8]}"
    services.jobs.set_status(job_id, kind="workspace.delete", status="queued", progress=0, total=0, done=0)
    services.workspaces.put({**doc, "status": "deleting", "job": job_id})
    record(services, actor, "workspace.delete", f"workspace:{workspace}", job=job_id)
    services.enqueue.delete_workspace(workspace, job_id)
    log.info("workspace deletion queued", extra={"workspace": workspace, "job": job_id})
    return services.jobs.status(job_id) or {"id": job_id}


def remove_workspace(services: Services, workspace: str, job_id: str) -> int:
    """The deletion job's work (``services``: the default workspace's): every key of the workspace, its stored
    API keys and its members' roles, then its registry entry. Safe to run again (a retried job)."""
    if workspace == DEFAULT_WORKSPACE:
        raise Conflict("Workspace 'default' cannot be deleted.")
    jobs = services.jobs
    prefix = workspace_prefix(services.settings["KEY_PREFIX"], workspace)
    try:
        total = services.workspaces.count_prefix(prefix)
        jobs.set_status(job_id, status="running", total=total, done=0, progress=0)

        def progress(done: int) -> None:
            jobs.set_status(job_id, done=done, progress=round(min(done / total, 1.0), 4) if total else 1.0)

        removed = services.workspaces.remove_prefix(prefix, progress)
        for key in services.api_keys.all():
            if key.get("workspace") == workspace:
                services.api_keys.delete(key["id"])
        for user in services.users.all():
            if workspace in (user.get("roles") or {}):
                roles = {w: r for w, r in user["roles"].items() if w != workspace}
                services.users.put({**user, "roles": roles})
        services.workspaces.delete(workspace)
        removed += services.workspaces.remove_prefix(prefix, lambda done: None)  # what a running job wrote meanwhile
        tenancy().forget(workspace)
    except Exception as error:
        jobs.set_status(job_id, status="failed", error=type(error).__name__)
        raise
    jobs.set_status(job_id, status="finished", progress=1.0, done=removed, total=max(total, removed))
    log.info("workspace deleted", extra={"workspace": workspace, "keys": removed})
    return removed
