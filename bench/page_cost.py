"""``python -m bench.page_cost [--contacts 20000] [--pages 200] [--callgrind] [--callgrind-redis] [--absorb] [--list]``: the client's cost of a smart-list page
in one process (row 6's data as ``bench/row_smart_list.py`` writes it, a page of 50 by ``run_filter``), on a private
redis-server: CPU-seconds of ``--pages`` pages after 50 to warm up, and with ``--callgrind`` (under ``valgrind
--tool=callgrind --instr-atstart=no``) the instructions of those pages alone, whatever the machine's load.
``--absorb``: the score index absorbed into its compact base first (storage/score_base.py; as the ticker does), else
every score is in the hot set as just written. Also prints redis-server CPU a page (its ``INFO``: load-dependent).
``--callgrind-redis``: the private redis-server run under callgrind, its instructions counted for those pages alone
(``callgrind_control -i``), printed a page: the server's side of the page, whatever the machine's load.
``--list``: the page as row 6's request reads it, a saved smart list's members by ``list_members`` (the API's view
without Flask): the documents and the page uncounted in one write, the count in a script call of its own behind it.
To compare two commits, run it from each tree (docs/performance.md, row 5a of 2026-12-03 evening)."""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from app import create_app
from app.contact_directory import run_filter
from app.contact_filter_schema import from_legacy

from . import data
from .context import Context, publish
from .drain_profile import callgrind, control_redis, dumped_redis_instructions, start_redis_callgrind
from .env import bench_world
from .row_smart_list import write_scored_contacts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=200)
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--callgrind-redis", action="store_true")
    parser.add_argument("--callgrind-redis-out", help="with --callgrind-redis: where to copy the server's dump "
                                                      "(for callgrind_annotate)")
    parser.add_argument("--absorb", action="store_true")
    parser.add_argument("--list", action="store_true", help="a saved smart list's page, as the API reads it")
    args = parser.parse_args()
    with bench_world() as bench:
        redis_server = start_redis_callgrind(bench) if args.callgrind_redis else None  # bench_world started one
        app = create_app({"REDIS_URL": bench.redis_url, "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": "", "API_KEYS": "k"})
        ctx = Context(bench, None, 0, "", 0, 0)  # type: ignore[arg-type]  # only what publish() reads
        ctx.app = app
        publish(ctx, data.profile_draft(), app)
        services = app.extensions["scorekeeper"]
        with app.app_context():
            write_scored_contacts(services, args.contacts)
            if args.absorb:
                while services.scores.absorb_step([(data.PROFILE_ID, 1)], 0, 0):
                    pass
            page = _list_page(services) if args.list else _filter_page(services)
            with app.test_request_context():
                for _ in range(50):
                    page()
                cpu = time.process_time()
                server = _server_cpu(services)
                if args.callgrind:
                    callgrind("on")
                if redis_server is not None:
                    control_redis(redis_server, "-i", "on")
                for _ in range(args.pages):
                    page()
                if redis_server is not None:
                    control_redis(redis_server, "-i", "off")
                if args.callgrind:
                    callgrind("off")
                cpu = time.process_time() - cpu
                server = _server_cpu(services) - server
                server_instructions = (dumped_redis_instructions(bench, redis_server, args.callgrind_redis_out)
                                       if redis_server is not None else None)
        print(f"{args.pages} pages of 50 over {args.contacts:,} contacts: {cpu / args.pages * 1000:.3f} ms client CPU a page, "
              f"redis-server {server / args.pages * 1000:.3f} ms"
              + (f", redis-server {server_instructions / args.pages / 1000:,.1f} k instructions a page"
                 if server_instructions is not None else ""))


def _filter_page(services) -> Callable[[], Any]:
    """A page of 50 of ``score ≥ 50`` by ``run_filter``: the page and its count in one script call."""
    flt = from_legacy({"profile": data.PROFILE_ID, "op": "gte", "value": 50})
    return lambda: run_filter(services, flt, 50, 0)


def _list_page(services) -> Callable[[], Any]:
    """A page of 50 of a saved smart list of ``score ≥ 50`` by ``list_members``, as row 6's request reads it (from
    the second page on: the documents and the page planned by the page before, the count apart)."""
    from app.smart_lists import list_members, save_list

    flt = from_legacy({"profile": data.PROFILE_ID, "op": "gte", "value": 50})
    list_id = save_list(services, "hot", flt)["id"]
    return lambda: list_members(services, list_id, 50, 0)


def _server_cpu(services) -> float:
    info = services.redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


if __name__ == "__main__":
    main()
