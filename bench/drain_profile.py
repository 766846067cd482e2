"""``python -m bench.drain_profile``: where a drain's CPU goes, in one process (docs/performance.md, "Scoring,
again").

Row 1's absolute rate means little on a busy machine; CPU-seconds per interaction do. This loads the bench's
data (the 10-rule profile, interactions in time order over the contacts) into a private redis-server through
``app.ingest``, then drains every partition in this process with ``scoring_service.drain`` — the worker's own
code, archiver thread and SQLite archive included — and prints interactions per CPU-second of this process (all
its threads: ``time.process_time``), of the archiver threads alone, and of the redis-server (from ``/proc``), the
garbage collector's collections and time, and with ``--commands`` Redis's ``INFO commandstats``.
``--cprofile FILE`` writes a cProfile of the drain (the main thread). To compare two commits, run each from its
own tree (``cd TREE && python -m bench.drain_profile``), alternating, in the same minutes.
"""
from __future__ import annotations

import argparse
import cProfile
import gc
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from app import create_app
from app.contact_layout import migrate_layouts

from . import data
from .context import Context, publish
from .env import bench_world


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.drain_profile", description=__doc__)
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--interactions", type=int, default=40_000,
                        help="default 40,000 over 10,000 contacts: about one record per contact per batch, as at full size")
    parser.add_argument("--cprofile", help="write a cProfile of the drain here")
    parser.add_argument("--commands", action="store_true", help="print Redis's INFO commandstats of the drain")
    parser.add_argument("--callgrind", action="store_true",
                        help="instrument the drain alone when run under `valgrind --tool=callgrind --instr-atstart=no` "
                             "(callgrind_control turns it on and off): instructions, whatever the machine's load")
    parser.add_argument("--callgrind-redis", action="store_true",
                        help="run the private redis-server under callgrind and count its instructions during the drain "
                             "alone: the server's side of the drain (Lua scripts included), whatever the machine's load")
    parser.add_argument("--callgrind-redis-out", help="with --callgrind-redis: where to copy the server's dump "
                                                      "(for callgrind_annotate)")
    return parser.parse_args(argv)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Collections:
    """The garbage collector's collections and their CPU time per generation, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.by_generation: dict[int, list[float]] = {}
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
            return
        seen = self.by_generation.setdefault(info["generation"], [0, 0.0])
        seen[0] += 1
        seen[1] += time.process_time() - self._started


@contextmanager
def archiver_cpu() -> Iterator[list[float]]:
    """While it lasts, each archiver thread adds its CPU time to the list it gives (``Archiver._run`` wrapped,
    and put back after)."""
    from app import archiving

    spent: list[float] = []
    run = archiving.Archiver._run

    def timed(self: archiving.Archiver) -> None:
        started = time.thread_time()
        try:
            run(self)
        finally:
            spent.append(time.thread_time() - started)

    archiving.Archiver._run = timed  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        archiving.Archiver._run = run  # type: ignore[method-assign]


def callgrind(state: str) -> None:
    """Turn callgrind's instrumentation of this process on or off (``callgrind_control -i``)."""
    subprocess.run(["callgrind_control", "-i", state, str(os.getpid())], check=True, capture_output=True)


def start_redis_callgrind(bench) -> subprocess.Popen:
    """The bench's private redis-server, replaced by one under ``valgrind --tool=callgrind --instr-atstart=no``."""
    from .env import stop, wait_until
    for process in list(bench.processes):  # the one bench_world started, still empty
        stop(process)
        bench.processes.remove(process)
        bench.reaper.forget(process.pid)
    server = shutil.which("redis-server")
    if server is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    out = bench.workdir / "redis.callgrind.%p"
    process = bench.spawn("redis", ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                                    f"--vgdb-prefix={bench.workdir}/vgdb",
                                    server, "--port", str(bench.port), "--bind", "127.0.0.1", "--save", "",
                                    "--appendonly", "no", "--dir", str(bench.workdir), "--protected-mode", "no",
                                    "--busy-reply-threshold", "600000"])  # (a call runs ~50x slower under callgrind)
    wait_until(bench.redis.ping, what="private redis-server under callgrind")
    return process


def control_redis(process: subprocess.Popen, *argv: str) -> None:
    prefix = next(arg for arg in process.args if arg.startswith("--vgdb-prefix="))
    done = subprocess.run(["callgrind_control", prefix, *argv, str(process.pid)], check=True, capture_output=True,
                          text=True)
    if "OK" not in done.stdout and "ok" not in done.stdout.lower():
        listed = subprocess.run(["vgdb", prefix, "-l"], capture_output=True, text=True)
        raise RuntimeError(f"callgrind_control {argv}: {done.stdout} {done.stderr} {listed} {process.args} {process.pid}")


def dumped_redis_instructions(bench, process: subprocess.Popen, keep: str | None) -> int:
    """Dump the server's counts (``callgrind_control -d``) and return the instructions since instrumentation began."""
    control_redis(process, "-d")
    dumps = sorted(Path(bench.workdir).glob("redis.callgrind.*"))
    if not dumps:
        raise RuntimeError(f"no dump in {sorted(p.name for p in Path(bench.workdir).iterdir())}")
    text = dumps[-1].read_text()
    if keep:
        shutil.copyfile(dumps[-1], keep)
    found = re.search(r"^totals:\s*(\d+)", text, re.M)
    if found is None:
        raise RuntimeError(f"no totals in {dumps[-1]}")
    return int(found.group(1))


def published_app(bench: Any) -> Any:
    """An app on the bench's private Redis and a SQLite archive in its run directory, the bench's 10-rule profile
    published."""
    app = create_app({"REDIS_URL": bench.redis_url, "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": "", "API_KEYS": "k",
                      "ARCHIVE_URL": f"sqlite:///{bench.workdir}/archive.sqlite3"})
    ctx = Context(bench, None, 0, "", 0, 0)  # type: ignore[arg-type]  # only what publish() reads
    ctx.app = app
    with app.app_context():  # as a worker's start leaves a new store: every layout move recorded
        migrate_layouts(app.extensions["scorekeeper"])
    publish(ctx, data.profile_draft(), app)
    return app


def main(argv: list[str] | None = None) -> None:
    from app.scoring_service import drain

    args = parse_args(argv)
    with archiver_cpu() as archived, bench_world() as bench:
        redis_server = start_redis_callgrind(bench) if args.callgrind_redis else None  # bench_world started one
        if redis_server is not None:  # a batch's call under callgrind on a loaded machine can pass the 10 s default
            from app.storage import connection
            connection._COMMON["socket_timeout"] = 600
        app = published_app(bench)
        services = app.extensions["scorekeeper"]
        redis_pid = bench.processes[0].pid
        with app.app_context():
            loaded = data.load(services, data.interactions(args.contacts, args.interactions))
            services.queue.empty()
            bench.redis.config_resetstat()
            collections = Collections()
            gc.callbacks.append(collections)
            profile = cProfile.Profile() if args.cprofile else None
            cpu, wall, redis_cpu = time.process_time(), time.perf_counter(), process_cpu_s(redis_pid)
            if profile:
                profile.enable()
            if args.callgrind:
                callgrind("on")
            if redis_server is not None:
                control_redis(redis_server, "-i", "on")
            scored = 0
            while sum(services.partitions.partition_depths()):
                for partition in range(services.sharding.partitions):
                    scored += drain(services, partition, max_batches=10_000)
            if redis_server is not None:
                control_redis(redis_server, "-i", "off")
            if args.callgrind:
                callgrind("off")
            if profile:
                profile.disable()
            cpu = time.process_time() - cpu
            wall = time.perf_counter() - wall
            redis_cpu = process_cpu_s(redis_pid) - redis_cpu
            gc.callbacks.remove(collections)
            server_instructions = (dumped_redis_instructions(bench, redis_server, args.callgrind_redis_out)
                                   if redis_server is not None else None)
        print(f"{scored:,} of {loaded:,} interactions scored over {args.contacts:,} contacts; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"worker process CPU {cpu:.2f} s: {scored / cpu:,.0f} interactions per CPU-second "
              f"(of which archiver threads {sum(archived):.2f} s)")
        print(f"redis-server CPU {redis_cpu:.2f} s: {scored / max(redis_cpu, 1e-9):,.0f} interactions per CPU-second")
        if server_instructions is not None:
            print(f"redis-server {server_instructions / 1e6:,.1f} M instructions during the drain: "
                  f"{server_instructions / max(scored, 1) / 1000:,.2f} k an interaction")
        print(f"wall {wall:.2f} s: {scored / wall:,.0f} interactions/s (on a busy machine this means little)")
        for generation, (count, spent) in sorted(collections.by_generation.items()):
            print(f"gc generation {generation}: {count:,} collections, {spent:.3f} CPU-s")
        if args.commands:
            stats = bench.redis.info("commandstats")
            for name, stat in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:15]:
                print(f"  {name:28} calls {stat['calls']:>9,}  usec {stat['usec']:>10,}  "
                      f"per interaction {stat['usec'] / max(scored, 1):.2f} µs")
        if profile and args.cprofile:
            profile.dump_stats(args.cprofile)


if __name__ == "__main__":
    main()
