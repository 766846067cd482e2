"""CPU per request of row 2a's two servers under wrk, from ``/proc`` (a figure the machine's load moves far less
than requests per second).

``python -m bench.hook_cpu [--seconds 8]``: a private redis-server, gunicorn (2 sync workers) serving the app and
the hello-world app, ``wrk -t2 -c8`` as row 2 runs it (signed Stripe webhooks from a pre-signed file; ``GET /``);
prints the user + system CPU-seconds per request of each gunicorn (master and workers) and, for the webhooks, of
the redis-server, and the ratio of hello-world's CPU per request to the webhook's (what row 2a's ratio would be on
a machine where CPU is all that bounds both).
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .env import ROOT, VENV_BIN, free_port
from .signed import STRIPE_SECRET, WRK_DIR, write_stripe
from .tools import parse_wrk

def group_cpu(pgid: int) -> float:
    """User + system CPU seconds so far of the live processes of a process group."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def serve(app: str, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                "--worker-class", "sync", "--log-level", "warning", "--backlog", "2048", app],
                               env=env, cwd=ROOT, start_new_session=True)
    for _ in range(300):
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start")


def measured(url: str, seconds: int, pgids: list[int], script: list[str]) -> tuple[float, list[float]]:
    before = [group_cpu(p) for p in pgids]
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "10s", *script[:2], url, *script[2:]],
                         capture_output=True, text=True, check=True).stdout
    result = parse_wrk(out)
    assert not result["non2xx"], out
    return result["requests"], [group_cpu(p) - b for p, b in zip(pgids, before)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hook_cpu."))
    redis_port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
                              stdout=subprocess.DEVNULL, start_new_session=True)
    processes = [server]
    try:
        url = f"redis://127.0.0.1:{redis_port}/0"
        for _ in range(100):
            try:
                redis.Redis.from_url(url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        env = {**os.environ, "REDIS_URL": url, "SCOREKEEPER_WORKFLOWS_DIR": "", "SCOREKEEPER_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(ROOT), "SCOREKEEPER_API_KEYS": "bench-key-" + "x" * 24,
               "SCOREKEEPER_STRIPE_SECRET": STRIPE_SECRET, "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{work}/a.sqlite3"}
        web, web_port = serve("app:create_app()", env)
        hello, hello_port = serve("bench.hello:app", env)
        processes += [web, hello]
        stripe_file = write_stripe(work / "stripe.txt", 40_000, run=str(int(time.time())))
        n, (cpu_hello,) = measured(f"http://127.0.0.1:{hello_port}/", args.seconds, [hello.pid], [])
        m, (cpu_web, cpu_redis) = measured(f"http://127.0.0.1:{web_port}/hooks/stripe", args.seconds,
                                           [web.pid, server.pid],
                                           ["-s", str(WRK_DIR / "replay.lua"), "--", str(stripe_file), "stripe"])
        hello_ms, web_ms, redis_ms = cpu_hello / n * 1e3, cpu_web / m * 1e3, cpu_redis / m * 1e3
        print(f"hello-world: {n / args.seconds:,.0f} req/s, {hello_ms:.3f} ms CPU per request (gunicorn)")
        print(f"stripe: {m / args.seconds:,.0f} req/s, {web_ms:.3f} ms CPU per request (gunicorn) + {redis_ms:.3f} ms "
              f"(redis-server); CPU ratio hello/stripe {hello_ms / (web_ms + redis_ms):.2f}x "
              f"(gunicorn alone {hello_ms / web_ms:.2f}x); load {os.getloadavg()[0]:.1f}")
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
