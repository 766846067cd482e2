"""``python -m bench [--size tiny|small|full] [--rows 1,2,3,4,5,6,7,8,9,10,11,12]``: run the suite, print one table,
write bench/RESULTS.md. Everything runs against a private redis-server, real gunicorn and real RQ
workers started for the run (and stopped after it)."""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from .env import bench_world
from .report import Row, machine, results_markdown, table
from .context import SIZES, Context
from .row_dashboard import rows_dashboard
from .row_http import rows_http
from .row_latency import rows_latency
from .row_horizon import rows_horizon
from .row_memory import rows_memory
from .row_scale import rows_scale
from .row_scoring import rows_scoring
from .row_smart_list import rows_smart_list
from .row_workspaces import rows_workspaces
from .search import rows_search

ALL_ROWS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--size", choices=sorted(SIZES), default="full",
                        help="tiny: seconds (the test suite); small: a few minutes; full: the issue's sizes")
    parser.add_argument("--rows", default=",".join(ALL_ROWS), help="comma-separated rows to run (default: all)")
    parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")),
                        help="gunicorn worker processes (default: WEB_CONCURRENCY or 2)")
    parser.add_argument("--web-class", default="sync", help="gunicorn worker class (default: sync)")
    parser.add_argument("--web-threads", type=int, default=1, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--latency-workers", type=int, default=3, help="worker processes in row 3 (default 3)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "RESULTS.md",
                        help="where to write the results (default: bench/RESULTS.md)")
    parser.add_argument("--archive-bypass", action="store_true",
                        help="row 1's worker archives nothing (to measure what the archive costs; never a setting)")
    parser.add_argument("--keep", action="store_true", help="keep the run's directory (logs) under /tmp")
    parser.add_argument("--profile-lists", action="store_true",
                        help="rows 1 and 4: the profile excludes a smart list (tagged customer; every 10th contact is)")
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[Row]:
    want = {r.strip() for r in args.rows.split(",") if r.strip()}
    unknown = want - set(ALL_ROWS)
    if unknown:
        raise SystemExit(f"unknown rows: {', '.join(sorted(unknown))}")
    started = time.time()
    with bench_world(keep=args.keep) as bench:
        ctx = Context(bench, SIZES[args.size], args.web_workers, args.web_class, args.web_threads,
                      args.latency_workers, archive_bypass=args.archive_bypass,
                      profile_lists=args.profile_lists)
        ctx.say(f"private redis-server on port {bench.port}; run directory {bench.workdir}")
        ctx.start()
        rows: list[Row] = []
        if "2" in want:
            rows += rows_http(ctx)
        if "6" in want:
            rows += rows_smart_list(ctx)
        if "9" in want:
            rows += rows_search(ctx)
        if "5" in want:
            rows += rows_memory(ctx)
        if "12" in want:
            rows += rows_horizon(ctx)
        if want & {"1", "4", "10"}:
            rows += rows_scoring(ctx, want)
        if "3" in want:
            rows += rows_latency(ctx)
        if "7" in want:
            rows += rows_scale(ctx)
        if "8" in want:
            rows += rows_dashboard(ctx)
        if "11" in want:
            rows += rows_workspaces(ctx)
        info = machine(bench.redis.info("server"))
    rows.sort(key=lambda r: r.key)
    options = {"size": args.size, "rows": ",".join(sorted(want)),
               "profile lists": "on" if args.profile_lists else "off", "archive": "bypassed (row 1's worker)"
               if args.archive_bypass else "the run's own SQLite file",
               "gunicorn": f"{args.web_workers} × {args.web_class}, {args.web_threads} thread(s)",
               "duration": f"{time.time() - started:.0f} s", "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}
    print(f"\nScorekeeper benchmark ({args.size}) on {info['cores']} cores, {info['memory']}; the load generator "
          f"(wrk) shares these cores with the server.\n")
    print(table(rows))
    args.out.write_text(results_markdown(rows, info, options, ctx.log))
    print(f"\nwritten to {args.out}")
    return rows


def main(argv: list[str] | None = None) -> int:
    # However the run ends (SIGTERM, SIGHUP and Ctrl-C unwind; SIGKILL leaves it to the watchdog), the private
    # Redis, gunicorns and workers end with it (bench/env.py, bench/children.py).
    run(parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
