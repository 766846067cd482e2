"""RQ jobs of workflows: module-level, taking ids only, building the app they need."""
from __future__ import annotations

from typing import Any


def _services() -> Any:
    from ..services import get_services

    return get_services()


def execute_run(run_id: str) -> str | None:
    """Run (or resume) a workflow run; returns its status."""
    from workers.context import job_app

    from .runner import execute

    with job_app():
        run = execute(_services(), run_id)
    return run["status"] if run else None


def deliver_webhook(delivery_id: str, cycle: int, try_number: int) -> str | None:
    """One attempt of a webhook delivery; returns the delivery's status after it."""
    from workers.context import job_app

    from .delivery import attempt

    with job_app():
        delivery = attempt(_services(), delivery_id, cycle, try_number)
    return delivery["status"] if delivery else None
