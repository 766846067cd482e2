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
from pathlib import Path
from typing import Any

from flask import Flask

from . import api
from .config import json_schema, validate_document, validate_file
from .defaults import parse_schedule, setting
from ..storage.errors import StoreError
from .registry import WorkflowConfigError, load_directory, sync_files
from .runs import interest as _interest
from .runs import start_runs

log = logging.getLogger(__name__)

__all__ = [
    "WorkflowConfigError",
    "api",
    "handle_events",
    "init_app",
    "interest",
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
    """Check the workflow settings and load the workflow files: an invalid one stops start-up."""
    from ..outbound import parse_allow

    parse_schedule(setting(app.config, "WEBHOOK_RETRY_SCHEDULE"))
    parse_schedule(setting(app.config, "STEP_RETRY_SCHEDULE"))
    parse_allow(app.config.get("OUTBOUND_ALLOW"))
    directory = setting(app.config, "WORKFLOWS_DIR")
    workflows = load_directory(Path(directory)) if directory else []
    services = app.extensions["scorekeeper"]
    try:
        sync_files(services.automation, workflows)
    except StoreError as error:
        log.warning("workflow files not synced: the store is unavailable", extra={"error": type(error).__name__})
    log.info("workflow files loaded", extra={"count": len(workflows), "directory": str(directory)})
