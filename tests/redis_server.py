"""A private redis-server for fault tests: loopback, a free port, AOF with ``appendfsync always``.

It can be killed (SIGKILL, like a crash or an OOM kill) and started again on the same port and
directory, so it comes back with exactly what it had acknowledged.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    def __init__(self, appendfsync: str = "always"):
        self.dir = Path(tempfile.mkdtemp(prefix="sk-redis-"))
        self.port = free_port()
        self.appendfsync = appendfsync
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, decode_responses=True, socket_connect_timeout=1)

    def start(self, timeout: float = 15.0) -> RedisServer:
        """Start (or start again) and wait until the data set is loaded and commands are served."""
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                self.appendfsync,
                "--save",
                "",
                "--protected-mode",
                "no",
                "--logfile",
                str(self.dir / "redis.log"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if self.client().ping():  # a server still loading the AOF answers LOADING, not PONG
                    return self
            except redis.RedisError:
                pass
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited: see {self.dir / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not come up")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye to clients — only what the AOF already holds survives."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def close(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)
