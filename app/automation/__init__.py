"""Workflows: score and interaction triggers that run steps (owned by the workflows work).

Contract with the scoring core (app/engine.py, workers/jobs.py):
- ``interest(services) -> (profile_ids, interaction_types)``: what the trigger index wants
  to hear about; the scorer writes outbox events only for these.
- ``handle_events(services, events)``: called by the drain job with outbox events after
  they were committed; must be idempotent (a crash replays them).

Modules: ``triggers`` (pure matcher and index), ``config`` (schemas, JSON Schema, validate),
``registry`` (files and the compiled index), ``runs`` (starting runs), ``runner`` and
``steps`` (executing them), ``delivery`` (webhooks), ``jobs`` (RQ), ``api``; their Redis is
``app.storage.automation``.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from . import api
from .config import json_schema, validate_document, validate_file
from .defaults import parse_schedule, setting
from ..storage.errors import StoreError
from .registry import SyncReport, WorkflowConfigError, sync_directory
from .runs import interest as _interest
from .runs import start_runs

log = logging.getLogger(__name__)

__all__ = [
    "WorkflowConfigError",
    "api",
    "handle_events",
    "init_app",
    "interest",
    "load_workflow_files",
    "json_schema",
    "validate_document",
    "validate_file",
]


def interest(services: Any) -> tuple[set[str], set[str]]:
    """Profiles with score triggers and interaction types with interaction triggers (enabled ones)."""
    return _interest(services)


def handle_events(services: Any, events: list[dict[str, Any]]) -> None:
    """Start the runs these committed outbox events fire (idempotent; runs execute as RQ jobs)."""
    if events:
        start_runs(services, events)


def init_app(app: Flask) -> None:
    """Check the workflow settings (a bad one stops start-up). Workflow files are not loaded here: see
    ``load_workflow_files``, called when the web server starts and by ``scorekeeper workflows sync``."""
    from ..outbound import parse_allow

    parse_schedule(setting(app.config, "WEBHOOK_RETRY_SCHEDULE"))
    parse_schedule(setting(app.config, "STEP_RETRY_SCHEDULE"))
    parse_allow(app.config.get("OUTBOUND_ALLOW"))


def load_workflow_files(app: Flask) -> SyncReport | None:
    """Sync the workflow files of ``WORKFLOWS_DIR`` into the store (the web server's start).

    An invalid file stops start-up (WorkflowConfigError naming file, field and problem); an unreachable store
    only logs a warning, so the server still starts (the next start or a ``workflows sync`` loads them).
    """
    try:
        return sync_directory(app.extensions["scorekeeper"], setting(app.config, "WORKFLOWS_DIR"))
    except StoreError as error:
        log.warning("workflow files not synced: the store is unavailable", extra={"error": type(error).__name__})
        return None
