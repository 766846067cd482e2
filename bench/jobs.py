"""RQ jobs of the baseline designs (module level, plain arguments, like the app's own jobs)."""
from __future__ import annotations

from typing import Any


def score_one(contact_id: str, record: dict[str, Any]) -> None:
    """The naive design: one RQ job per interaction, making the same scoring call as the drain."""
    from app.scoring_service import make_scorer
    from app.clock import now_ms
    from app.scoring.records import TimelineRecord
    from app.services import get_services
    from workers.context import job_app

    with job_app():
        make_scorer(get_services()).score({contact_id: [TimelineRecord.from_json(record)]}, now_ms())


def nothing() -> None:
    """A job that does nothing in the app's context: what RQ and the worker spend on any job
    (bench/job_profile.py)."""
    from workers.context import job_app

    with job_app():
        pass


def nothing_in_workspace() -> None:
    """``nothing`` through ``app.jobs.in_job_workspace``, as every app job runs."""
    from app.jobs import in_job_workspace

    in_job_workspace(nothing)()
