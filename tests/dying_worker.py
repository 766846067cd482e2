"""``scorekeeper worker`` (``WORKER_CLASS=fork``) whose job processes die (SIGKILL, their own) where ``PUBLISH_DEATH``
says: ``part`` — as a publish part starts recomputing, every part, every try (a publish that can never succeed);
``failing`` — the parts raise on every try, and the job process dies in ``_fail`` right after the publish's failure
is saved. The worker process itself (its ticker, the watchdog) lives on. Run as ``python -m tests.dying_worker`` by
tests/test_publish_gives_up.py; never part of the app."""
from __future__ import annotations

import os
import signal
from typing import Any

from app import publish
from workers.main import main

#: The worker process; its job processes (forked) have other ids.
WORKER_PID = os.getpid()


def _die_in_a_job() -> None:
    if os.getpid() != WORKER_PID:
        os.kill(os.getpid(), signal.SIGKILL)


def _dying_scorer(services: Any) -> Any:
    _die_in_a_job()
    return _make_scorer(services)


def _failing_scorer(services: Any) -> Any:
    raise RuntimeError("the recompute failed")


def _set_job_then_die(services: Any, job_id: str, **fields: Any) -> None:
    _set_job(services, job_id, **fields)
    if fields.get("status") == "failed":
        _die_in_a_job()


_make_scorer, _set_job = publish.make_scorer, publish.set_job

if __name__ == "__main__":
    if os.environ["PUBLISH_DEATH"] == "part":
        publish.make_scorer = _dying_scorer
    else:
        publish.make_scorer = _failing_scorer
        publish.set_job = _set_job_then_die
    main()
