"""Real processes for end-to-end tests: the worker, started and killed like in production."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_worker(redis_url: str, module: str = "", **settings: str) -> subprocess.Popen:
    """``scorekeeper worker`` (or ``python -m MODULE``, a worker made to fail) in its own process group, logging
    to a file under var/."""
    env = {**os.environ, "REDIS_URL": redis_url, "SCOREKEEPER_API_KEYS": "test-key", "SCOREKEEPER_PARTITIONS": "4",
           "SCOREKEEPER_TICK_SECONDS": "0.2", "SCOREKEEPER_WORKFLOWS_DIR": "",
           # never the development archive (var/archive.sqlite3): the fixtures pass the test's own
           "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{ROOT}/var/test-worker-archive.sqlite3"}
    env.update({f"SCOREKEEPER_{k}": str(v) for k, v in settings.items()})
    log_dir = ROOT / "var"
    log_dir.mkdir(exist_ok=True)
    with open(log_dir / "test-worker.log", "ab") as log:  # the child keeps its own descriptor
        argv = ["-m", module] if module else ["-m", "app.cli", "worker"]
        return subprocess.Popen([sys.executable, *argv], cwd=ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
