"""A real 3-master Redis Cluster on loopback ports, from the redis-server binary (benchmarks and tests)."""
from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .children import Reaper


def free_ports(count: int) -> list[int]:
    """Free loopback ports whose +10000 cluster-bus ports are free too."""
    ports: list[int] = []
    while len(ports) < count:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port + 10000 < 65536 and port not in ports:
            with socket.socket() as bus:
                try:
                    bus.bind(("127.0.0.1", port + 10000))
                except OSError:
                    continue
            ports.append(port)
    return ports


class Cluster:
    def __init__(self, masters: int = 3, reaper: Reaper | None = None):
        self.dir = Path(tempfile.mkdtemp(prefix="sk-cluster-"))
        self.ports = free_ports(masters)
        self.processes: list[subprocess.Popen] = []
        #: A benchmark run's watchdog (bench/children.py): the nodes die with the run, however it ends.
        self.reaper = reaper

    @property
    def url(self) -> str:
        return f"redis+cluster://127.0.0.1:{self.ports[0]}/0"

    def start(self) -> Cluster:
        for port in self.ports:
            node_dir = self.dir / str(port)
            node_dir.mkdir()
            self.processes.append(subprocess.Popen(
                ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--cluster-config-file", "nodes.conf", "--dir", str(node_dir), "--save", "", "--appendonly", "no",
                 "--protected-mode", "no"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=self.reaper is not None))
            if self.reaper:
                self.reaper.watch(self.processes[-1].pid)
        for port in self.ports:
            self._wait(lambda p=port: redis.Redis(port=p).ping())
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
                        "--cluster-yes"], check=True, capture_output=True, timeout=60)
        for port in self.ports:
            self._wait(lambda p=port: redis.Redis(port=p).cluster("info").get("cluster_state") == "ok")
        return self

    def flush(self) -> None:
        for port in self.ports:
            redis.Redis(port=port).flushall()

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if self.reaper:
                self.reaper.forget(process.pid)
        shutil.rmtree(self.dir, ignore_errors=True)

    @staticmethod
    def _wait(condition, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if condition():
                    return
            except redis.RedisError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("redis cluster did not come up")
            time.sleep(0.05)
