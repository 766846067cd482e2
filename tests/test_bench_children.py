"""The benchmark's processes die with it (bench/env.py, bench/children.py): a run ended by SIGTERM (``timeout``),
SIGINT (Ctrl-C), SIGHUP (a closed terminal) or SIGKILL leaves no redis-server, gunicorn (nor any of its workers)
or RQ worker behind.

The run is the bench's own process-launching code (``bench_world``: the private Redis, a gunicorn with two
workers, a ``scorekeeper worker``, and a command that ends by itself, as wrk does, run by ``Bench.run``) in a
subprocess; the test kills that subprocess only (as ``kill`` or
``timeout`` would), then waits, polling with a deadline, until every process of every group it started is gone."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: Seconds the test waits for the processes to start, and then to be gone.
DEADLINE_S = 60.0

RUN = r"""
import json, sys, threading, time
from bench.env import bench_world
with bench_world() as bench:
    bench.start_gunicorn("hello", "bench.hello:app", 2, "sync", 1, bench.app_env())
    bench.start_worker("worker", bench.app_env(ARCHIVE_URL=f"sqlite:///{bench.workdir}/archive.sqlite3"))
    # a command that ends by itself (as wrk does), still running when the run is ended
    threading.Thread(target=bench.run, args=(["sleep", "600"], 700), daemon=True).start()
    while len(bench.processes) < 4:
        time.sleep(0.01)
    print(json.dumps({"groups": [p.pid for p in bench.processes], "watchdog": bench.reaper.process.pid}), flush=True)
    sys.stdin.read()  # a run in progress, until it is ended
"""


def process_state(pid: int) -> tuple[str, int, int] | None:
    """(state, process group, start time) of a live process from /proc; None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[2]), int(fields[19])


def members(groups: set[int]) -> dict[int, int]:
    """Every live process in these process groups: pid -> start time (to tell a reused pid apart)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state := process_state(int(entry.name))) and state[1] in groups \
                and state[0] != "Z":
            found[int(entry.name)] = state[2]
    return found


def still_running(started: dict[int, int]) -> list[int]:
    """Those of ``started`` still running (a zombie waiting for its reaper counts as gone)."""
    left = []
    for pid, start in started.items():
        state = process_state(pid)
        if state and state[2] == start and state[0] != "Z":
            left.append(pid)
    return left


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {DEADLINE_S:.0f} s"
        time.sleep(0.05)


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGTERM, id="SIGTERM"), pytest.param(signal.SIGINT, id="SIGINT"),
                                 pytest.param(signal.SIGHUP, id="SIGHUP"), pytest.param(signal.SIGKILL, id="SIGKILL")])
def test_a_killed_benchmark_leaves_no_process_behind(sig):
    run = subprocess.Popen([sys.executable, "-c", RUN], cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                           stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        line = run.stdout.readline()
        assert line, f"the run did not start (exit {run.poll()})"
        started = json.loads(line)
        groups = set(started["groups"])
        assert len(groups) == 4  # redis-server, gunicorn, worker, the command: each a group of its own
        gunicorn = started["groups"][1]
        wait_for(lambda: len(members({gunicorn})) >= 3, "gunicorn's two workers started")
        processes = members(groups)
        processes[started["watchdog"]] = process_state(started["watchdog"])[2]
        assert len(processes) >= 7
        os.kill(run.pid, sig)
        run.wait(timeout=DEADLINE_S)
        wait_for(lambda: not still_running(processes), f"every process gone after {sig.name}")
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        run.stdout.close()
        run.stdin.close()
