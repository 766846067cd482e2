"""``scorekeeper worker`` that dies (SIGKILL, its own) right after taking its first publish part from the queue and
before starting it: the moment RQ loses a job (its id left in the queue's intermediate list, never started). Run
as ``python -m tests.lossy_worker`` by tests/test_publish_watchdog.py; never part of the app."""
from __future__ import annotations

import os
import signal

from rq.worker.base import BaseWorker

from workers.main import main

_prepare = BaseWorker.prepare_execution


def _die_before_a_part(self, job, *args, **kwargs):
    """RQ 3 calls this right after the dequeue (the id moved to the queue's intermediate list), before the job's
    execution is registered as started: die here on a publish part."""
    if job.func_name.endswith(".publish_part"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _prepare(self, job, *args, **kwargs)


if __name__ == "__main__":
    BaseWorker.prepare_execution = _die_before_a_part
    main()
