"""CPU per request of row 2a's two servers under wrk, from ``/proc`` (a figure the machine's load moves far less
than requests per second).

``python -m bench.hook_cpu [--seconds 8] [--rounds 1] [--root CHECKOUT]``: a private redis-server, gunicorn (2 sync
workers) serving the app (of ``--root``: another commit's worktree, for a before/after) and the hello-world app,
``wrk -t2 -c8`` as row 2 runs it (signed Stripe webhooks from a pre-signed file; ``GET /``); prints the user +
system CPU-seconds per request of each gunicorn (master and workers), of wrk (the client is on the same cores) and,
for the webhooks, of the redis-server, and the ratio of hello-world's CPU per request to the webhook's (what row
2a's ratio would be on a machine where CPU is all that bounds both). The whole machine's CPU over each run
(``/proc/stat``: busy and idle, other processes' included) says whether the run left a core idle — time its
processes spent waiting, not working — and the workers' voluntary context switches per request how often a worker
slept (for Redis's reply, the client's next request or its FIN).
"""
from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .env import ROOT, VENV_BIN, free_port
from .signed import STRIPE_SECRET, WRK_DIR, write_stripe
from .tools import parse_wrk

def group_cpu(pgid: int, system: bool = False) -> float:
    """User + system (or, with ``system``, only system) CPU seconds so far of the live processes of a process
    group."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += ((0 if system else int(fields[11])) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def machine_cpu() -> tuple[float, float]:
    """Busy and idle CPU seconds of the whole machine since boot (all cores), from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK"), idle / os.sysconf("SC_CLK_TCK")


def switches(pgid: int) -> int:
    """Voluntary context switches so far of the live processes of a process group (a sleep for I/O each)."""
    total = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
            stat = (status.parent / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(stat[2]) == pgid:
            total += int(text.partition("voluntary_ctxt_switches:")[2].split()[0])
    return total


def serve(app: str, env: dict[str, str], root: Path = ROOT) -> tuple[subprocess.Popen, int]:
    port = free_port()
    process = subprocess.Popen([str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers", "2",
                                "--worker-class", "sync", "--log-level", "warning", "--backlog", "2048", app],
                               env=env, cwd=root, start_new_session=True)
    for _ in range(300):
        try:
            import urllib.request

            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
            return process, port
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{app} did not start")


def measured(url: str, seconds: int, pgids: list[int], script: list[str]) -> dict[str, float]:
    """One wrk run: its requests, the CPU seconds of each process group, wrk's, the machine's busy and idle seconds,
    and the first group's voluntary context switches."""
    before = [group_cpu(p) for p in pgids]
    before_system = [group_cpu(p, system=True) for p in pgids]
    slept = switches(pgids[0])
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy, idle = machine_cpu()
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "10s", *script[:2], url, *script[2:]],
                         capture_output=True, text=True, check=True).stdout
    busy, idle = (a - b for a, b in zip(machine_cpu(), (busy, idle)))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = parse_wrk(out)
    assert not result["non2xx"], out
    return {"requests": result["requests"], "cpu": [group_cpu(p) - b for p, b in zip(pgids, before)],
            "system": [group_cpu(p, system=True) - b for p, b in zip(pgids, before_system)],
            "wrk": after.ru_utime + after.ru_stime - child.ru_utime - child.ru_stime, "busy": busy, "idle": idle,
            "switches": switches(pgids[0]) - slept}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=1, help="hello-world then webhooks, this many times")
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the checkout whose app serves the webhooks (another commit's worktree: a before/after)")
    parser.add_argument("--unix-socket", action="store_true",
                        help="the app reaches the redis-server by a Unix socket (not what row 2 runs: a comparison)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hook_cpu."))
    redis_port = free_port()
    server = subprocess.Popen(["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no",
                               "--unixsocket", str(work / "redis.sock")],
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
        if args.unix_socket:
            url = f"unix://{work / 'redis.sock'}?db=0"
        env = {**os.environ, "REDIS_URL": url, "SCOREKEEPER_WORKFLOWS_DIR": "", "SCOREKEEPER_LOG_LEVEL": "WARNING",
               "PYTHONPATH": str(args.root), "SCOREKEEPER_API_KEYS": "bench-key-" + "x" * 24,
               "SCOREKEEPER_STRIPE_SECRET": STRIPE_SECRET, "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{work}/a.sqlite3"}
        web, web_port = serve("app:create_app()", env, args.root)
        hello, hello_port = serve("bench.hello:app", env, args.root)
        processes += [web, hello]
        stripe_file = write_stripe(work / "stripe.txt", 40_000 * args.rounds, run=str(int(time.time())))
        for _ in range(args.rounds):
            hello_run = measured(f"http://127.0.0.1:{hello_port}/", args.seconds, [hello.pid], [])
            hook_run = measured(f"http://127.0.0.1:{web_port}/hooks/stripe", args.seconds, [web.pid, server.pid],
                                ["-s", str(WRK_DIR / "replay.lua"), "--", str(stripe_file), "stripe"])
            report(hello_run, hook_run, args.seconds)
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)


def report(hello: dict, hook: dict, seconds: int) -> None:
    """Print a pair of runs: rates, CPU per request by process, the machine's idle share, sleeps per request."""
    n, m = hello["requests"], hook["requests"]
    hello_ms, wrk_hello_ms = hello["cpu"][0] / n * 1e3, hello["wrk"] / n * 1e3
    web_ms, redis_ms, wrk_hook_ms = hook["cpu"][0] / m * 1e3, hook["cpu"][1] / m * 1e3, hook["wrk"] / m * 1e3
    whole_hello, whole_hook = hello_ms + wrk_hello_ms, web_ms + redis_ms + wrk_hook_ms
    print(f"{time.strftime('%H:%M:%S', time.gmtime())} load {os.getloadavg()[0]:.1f}: "
          f"hello-world {n / seconds:,.0f} req/s, stripe {m / seconds:,.0f} req/s, ratio {m / n:.2f}x")
    system = [hello["system"][0] / n * 1e3, hook["system"][0] / m * 1e3, hook["system"][1] / m * 1e3]
    for name, run, ms in (("hello-world", hello, f"gunicorn {hello_ms:.3f} (system {system[0]:.3f})"),
                          ("stripe", hook, f"gunicorn {web_ms:.3f} (system {system[1]:.3f}) + redis {redis_ms:.3f} "
                                           f"(system {system[2]:.3f})")):
        requests = run["requests"]
        print(f"  {name}: ms CPU per request {ms} + wrk {run['wrk'] / requests * 1e3:.3f}; machine "
              f"{run['busy'] / requests * 1e3:.3f} busy, {run['idle'] / seconds:.2f} cores idle; "
              f"{run['switches'] / requests:.2f} worker sleeps per request")
    print(f"  CPU ratio hello/stripe: servers {hello_ms / (web_ms + redis_ms):.2f}x, with wrk "
          f"{whole_hello / whole_hook:.2f}x (gunicorn alone {hello_ms / web_ms:.2f}x)")


if __name__ == "__main__":
    main()
