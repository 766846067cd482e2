"""``python -m bench.page_cost [--contacts 20000] [--pages 200] [--callgrind]``: the client's cost of a smart-list page
in one process (row 6's data as ``bench/row_smart_list.py`` writes it, a page of 50 by ``run_filter``), on a private
redis-server: CPU-seconds of ``--pages`` pages after 50 to warm up, and with ``--callgrind`` (under ``valgrind
--tool=callgrind --instr-atstart=no``) the instructions of those pages alone, whatever the machine's load.
To compare two commits, run it from each tree (docs/performance.md, row 5a of 2026-12-03 evening)."""
from __future__ import annotations

import argparse
import time

from app import create_app
from app.contact_directory import run_filter
from app.contact_filter_schema import from_legacy

from . import data
from .context import Context, publish
from .drain_profile import callgrind
from .env import bench_world
from .row_smart_list import write_scored_contacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--callgrind", action="store_true")
    args = parser.parse_args()
    with bench_world() as bench:
        bench.start_redis()
        app = create_app({"REDIS_URL": bench.redis_url, "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": "", "API_KEYS": "k"})
        ctx = Context(bench, None, 0, "", 0, 0)  # type: ignore[arg-type]  # only what publish() reads
        ctx.app = app
        publish(ctx, data.profile_draft(), app)
        services = app.extensions["scorekeeper"]
        with app.app_context():
            write_scored_contacts(services, args.contacts)
            flt = from_legacy({"profile": data.PROFILE_ID, "op": "gte", "value": 50})
            with app.test_request_context():
                for _ in range(50):
                    run_filter(services, flt, 50, 0)
                cpu = time.process_time()
                if args.callgrind:
                    callgrind("on")
                for _ in range(args.pages):
                    run_filter(services, flt, 50, 0)
                if args.callgrind:
                    callgrind("off")
                cpu = time.process_time() - cpu
        print(f"{args.pages} pages of 50 over {args.contacts:,} contacts: {cpu / args.pages * 1000:.3f} ms client CPU a page")


if __name__ == "__main__":
    main()
