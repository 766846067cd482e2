"""The processes a benchmark run needs: a private Redis, gunicorn, RQ workers, all on loopback.

The private Redis runs with ``--save "" --appendonly no`` on a free port, so the user's Redis
is never touched; everything is stopped (by process group) when the run ends, however it ends: SIGTERM and
SIGHUP unwind like Ctrl-C, ``atexit`` catches an exit that skips the unwinding, and the watchdog of
bench/children.py ends what a run killed with SIGKILL left behind.
"""
from __future__ import annotations

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from .children import Reaper

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
#: Seconds a started server has to answer before the run gives up.
START_TIMEOUT_S = 20.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(check, timeout: float = START_TIMEOUT_S, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, redis.RedisError):  # a server that is not up yet refuses connections
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready within {timeout:.0f} s")


#: Signals that end a run like Ctrl-C does (unwinding, so its processes are stopped): what ``timeout`` and
#: ``kill`` send, and a closed terminal.
ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
    """Stop a process we started and the rest of its process group (a gunicorn's workers), escalating to
    SIGKILL."""
    try:
        os.killpg(process.pid, sig)
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    except ProcessLookupError:  # the whole group is gone already
        process.wait(timeout=5)


class Bench:
    """One run's private world: a Redis, a log directory, and the processes started in it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        self.processes: list[subprocess.Popen] = []
        self.redis = redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)
        #: The watchdog that ends this run's processes should the run die without stopping them.
        self.reaper = Reaper()

    # --- processes -----------------------------------------------------------------------
    def spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps its descriptor
        process = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.processes.append(process)
        self.reaper.watch(process.pid)  # its own group (start_new_session): the leader's pid is the group's id
        return process

    def run(self, argv: list[str], timeout: float) -> str:
        """Run a command that ends by itself (wrk) and return its output; like ``spawn``, in a process group of its
        own that the watchdog looks after, so it ends with the run even if the run is killed while it runs."""
        process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                   start_new_session=True)
        self.processes.append(process)
        self.reaper.watch(process.pid)
        try:
            out, _ = process.communicate(timeout=timeout)  # TimeoutExpired goes up, as from subprocess.run
        finally:
            if process in self.processes:  # not stopped by ``stop_all`` meanwhile
                self.processes.remove(process)
                if process.poll() is None:
                    stop(process)
                self.reaper.forget(process.pid)
        return out

    def start_redis(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
        self.spawn("redis", [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(self.workdir), "--protected-mode", "no"])
        wait_until(self.redis.ping, what="private redis-server")

    def app_env(self, **settings: str) -> dict[str, str]:
        """Environment of a server or worker process of this run."""
        env = {"REDIS_URL": self.redis_url, "SCOREKEEPER_WORKFLOWS_DIR": "", "SCOREKEEPER_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT)}
        env.update({f"SCOREKEEPER_{k}": str(v) for k, v in settings.items()})
        return env

    def start_gunicorn(self, name: str, app: str, workers: int, worker_class: str, threads: int,
                       env: dict[str, str]) -> str:
        port = free_port()
        argv = [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
                "--worker-class", worker_class, "--threads", str(threads), "--log-level", "warning",
                "--backlog", "2048", app]
        self.spawn(name, argv, env)
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _http_ok(port), what=f"gunicorn {name}")
        return url

    def start_worker(self, name: str, env: dict[str, str], archive: bool = True) -> subprocess.Popen:
        """``scorekeeper worker``; without ``archive``, one whose archive keeps nothing (bench/worker_without_archive.py)."""
        argv = ["-m", "app.cli", "worker"] if archive else ["-m", "bench.worker_without_archive"]
        return self.spawn(name, [sys.executable, *argv], env)

    def stop_all(self) -> None:
        """Stop every process of the run, the last started first (workers before the Redis they use)."""
        while self.processes:
            process = self.processes.pop()
            stop(process)
            self.reaper.forget(process.pid)

    def close(self) -> None:
        """Stop everything and let the watchdog go (idempotent: ``atexit`` may call it after the run did)."""
        self.stop_all()
        self.reaper.close()


def _http_ok(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
        s.sendall(b"GET /healthz HTTP/1.0\r\nHost: x\r\n\r\n")
        return s.recv(12).startswith(b"HTTP/1.")


def _exit_on_signal(signum: int, _frame: object) -> None:
    sys.exit(128 + signum)


@contextmanager
def ending_signals_unwind() -> Iterator[None]:
    """While the run lasts, SIGTERM and SIGHUP raise ``SystemExit`` in the main thread (as SIGINT raises
    ``KeyboardInterrupt``), so ``finally`` blocks stop the run's processes; the handlers before are put back after.
    Elsewhere than in the main thread (signals cannot be handled there) it changes nothing."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = {sig: signal.signal(sig, _exit_on_signal) for sig in ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@contextmanager
def bench_world(keep: bool = False) -> Iterator[Bench]:
    workdir = Path(tempfile.mkdtemp(prefix="scorekeeper-bench-"))
    with ending_signals_unwind():
        bench = Bench(workdir)
        atexit.register(bench.close)  # an interpreter exit that skips the unwinding below
        try:
            bench.start_redis()
            yield bench
        finally:
            bench.close()
            atexit.unregister(bench.close)
            if not keep:
                shutil.rmtree(workdir, ignore_errors=True)
