"""``scorekeeper worker`` that dies (SIGKILL, its own) right after taking its first publish part from the queue and
before starting it: the moment RQ loses a job (taken from the queue, never started). Run as ``python -m
tests.lossy_worker`` by tests/test_publish_watchdog.py; never part of the app."""
from __future__ import annotations

import os
import signal

from rq.job import Job

from workers.main import main

_prepare = Job.prepare_for_execution


def _die_before_a_part(self, *args, **kwargs):
    """RQ 3 calls this after the dequeue, as it writes the job's start (with the execution's registration, in the
    app's worker), before either reaches Redis: die here on a publish part."""
    if self.func_name.endswith(".publish_part"):
        os.kill(os.getpid(), signal.SIGKILL)
    return _prepare(self, *args, **kwargs)


if __name__ == "__main__":
    Job.prepare_for_execution = _die_before_a_part
    main()
