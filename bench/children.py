"""Every process a benchmark run starts dies with the run, however the run ends.

A run starts a private redis-server, gunicorns (each with its workers) and RQ workers, each in a process group of
its own (``start_new_session``: a Ctrl-C in the terminal reaches the run, which stops them in order). The run
stops them when it unwinds: at its normal end, on an exception, on Ctrl-C (SIGINT), on SIGTERM (what ``timeout``
sends) and on SIGHUP (a closed terminal), which ``bench_world`` turns into ``SystemExit`` (bench/env.py), and at
interpreter exit (``atexit``). A run killed with SIGKILL unwinds nothing, so a **watchdog** does the rest: a small
process of its own session (``python -m bench.children``), started first, that reads the process groups to look
after from a pipe only the run holds. When the run is gone, however it went, the pipe reaches its end and the
watchdog ends every group still alive (SIGTERM, then SIGKILL after ``GRACE_S``), grandchildren included (a
gunicorn's workers are in its group). A group the run stopped itself is taken off the watchdog's list first, so
a process id used again later is never signalled.

Why not ``PR_SET_PDEATHSIG``: it reaches only the direct child (not a gunicorn's workers), fires when the *thread*
that started the child ends (a process started from a short-lived helper thread would die with it), and needs
``preexec_fn``, which is unsafe while other threads run (the bench has its webhook receiver's).
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

#: Seconds the watchdog gives a group to stop after SIGTERM before it sends SIGKILL.
GRACE_S = 5.0
#: Seconds between the watchdog's looks at whether the groups it signalled are gone.
POLL_S = 0.05


class Reaper:
    """The run's side of the watchdog: ``watch`` a process group when it is started, ``forget`` it once stopped."""

    def __init__(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.children"], stdin=subprocess.PIPE,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True, cwd=os.path.dirname(os.path.dirname(__file__)))

    def _tell(self, line: str) -> None:
        stdin = self.process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode())
            stdin.flush()
        except BrokenPipeError:  # the watchdog is gone: the run still stops its children itself
            pass

    def watch(self, pgid: int) -> None:
        self._tell(f"+ {pgid}\n")

    def forget(self, pgid: int) -> None:
        self._tell(f"- {pgid}\n")

    def close(self) -> None:
        """The run's end: the watchdog ends what is still on its list (normally nothing) and exits."""
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except BrokenPipeError:
                pass
        try:
            self.process.wait(timeout=GRACE_S + 5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def alive(pgid: int) -> bool:
    """Whether any process of the group is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the id went to someone else's group: not ours to look after
        return False
    return True


def end_groups(groups: set[int], grace_s: float = GRACE_S) -> None:
    """SIGTERM to each group, then SIGKILL to those still alive after ``grace_s``."""
    for pgid in groups:
        try:
            os.killpg(pgid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace_s
    waiting = {pgid for pgid in groups if alive(pgid)}
    while waiting and time.monotonic() < deadline:
        time.sleep(POLL_S)
        waiting = {pgid for pgid in waiting if alive(pgid)}
    for pgid in waiting:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def watchdog() -> None:
    """Read ``+ PGID`` / ``- PGID`` lines until the run's end of the pipe closes, then end what is left."""
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # a terminal's signals are the run's to handle, not the watchdog's
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # told to stop: end what it looks after first
    groups: set[int] = set()
    try:
        for line in sys.stdin.buffer:
            kind, _, pgid = line.decode().strip().partition(" ")
            if pgid.isdigit():
                (groups.add if kind == "+" else groups.discard)(int(pgid))
    finally:
        end_groups(groups)


if __name__ == "__main__":
    watchdog()
