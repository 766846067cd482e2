"""RQ job functions: module level, plain arguments, everything else from the app factory."""
from __future__ import annotations

from app.services import get_services

from .context import job_app


def drain_partition(partition: int) -> int:
    """Score what is waiting in one ingest partition."""
    from app.drain import drain

    with job_app():
        return drain(get_services(), partition)


def publish_profile(profile_id: str, version: int, job_id: str, fire_triggers: bool = False) -> None:
    """Recompute every contact for a new profile version, then switch to it at once."""
    from app.publish import run_publish

    with job_app():
        run_publish(get_services(), profile_id, version, job_id, fire_triggers)


def retire_version(profile_id: str, version: int) -> None:
    """Remove the scores, ledgers and index of a version that is no longer live."""
    from app.publish import retire

    with job_app():
        retire(get_services(), profile_id, version)
