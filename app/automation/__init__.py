"""Workflows: score and interaction triggers that run steps (owned by the workflows work).

Contract with the scoring core: ``init_app`` registers ``runs.WorkflowTriggers`` as the
listener to scoring (``services.events``, an ``app.ports.EventSink``): asked once per batch what
it wants to hear about, then handed the committed events. Steps change scores through the score
port (``services.change_score``) and queue jobs through the job port (``services.enqueue``).

Modules: ``triggers`` (pure matcher and index), ``config`` (schemas, JSON Schema, validate),
``workflows`` (where workflows come from, and the compiled index), ``runs`` (starting runs),
``runner`` and ``steps`` (executing them), ``deliveries`` (outgoing webhooks), ``api``; their
Redis is ``app.storage.automation``, their jobs are in ``app.jobs``.
"""
from __future__ import annotations

import logging

from flask import Flask

from ..services import wire
from ..settings import setting
from ..storage.errors import StoreError
from .config import json_schema, validate_document
from .defaults import parse_schedule
from .runs import WorkflowTriggers
from .workflows import SyncReport, WorkflowConfigError, sync_directory, validate_file

log = logging.getLogger(__name__)

__all__ = [
    "WorkflowConfigError",
    "init_app",
    "load_workflow_files",
    "json_schema",
    "validate_document",
    "validate_file",
]


def init_app(app: Flask) -> None:
    """Check the workflow settings (a bad one stops start-up). Workflow files are not loaded here: see
    ``load_workflow_files``, called when the web server starts and by ``scorekeeper workflows sync``."""
    from ..outbound import parse_allow

    parse_schedule(setting(app.config, "WEBHOOK_RETRY_SCHEDULE"))
    parse_schedule(setting(app.config, "STEP_RETRY_SCHEDULE"))
    parse_allow(app.config.get("OUTBOUND_ALLOW"))
    wire(app, _listen)


def _listen(services) -> None:
    """Workflows listen to scoring, in each workspace (each its own workflows and trigger index)."""
    services.events = WorkflowTriggers(services)


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
