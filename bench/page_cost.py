"""``python -m bench.page_cost [--contacts 20000] [--pages 200] [--callgrind]``: the client's cost of a smart-list page
in one process (row 6's data as ``bench/row_smart_list.py`` writes it, a page of 50 by ``run_filter``), on a private
redis-server: CPU-seconds of ``--pages`` pages after 50 to warm up, and with ``--callgrind`` (under ``valgrind
--tool=callgrind --instr-atstart=no``) the instructions of those pages alone, whatever the machine's load.
To compare two commits, run it from each tree (docs/performance.md, row 5a of 2026-12-03 evening)."""
from __future__ import annotations

import argparse
import random
import time

import orjson

from app import create_app
from app.contact_directory import run_filter
from app.contact_filter_schema import from_legacy
from app.contact_layout import states_once
from app.scoring.fold import FoldState
from app.scoring.interactions import Interaction

from . import data
from .context import Context, publish
from .drain_profile import callgrind
from .env import bench_world


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
        rng = random.Random(6)
        field_ = f"{data.PROFILE_ID}@1"
        with app.app_context():
            states_once(services)  # as each worker does at start
            for start in range(0, args.contacts, 5000):
                items = [Interaction(id="x", source="bench", type="email.opened", occurred_at=0,
                                     email=data.email_of(i, "s")) for i in range(start, min(args.contacts, start + 5000))]
                ids = services.contacts.resolve_contacts(items)
                scores = {cid: rng.randint(0, 200) for cid in ids}
                pipe = services.redis.pipeline(transaction=False)
                for cid, score in scores.items():
                    pipe.hset(services.keys.contact(cid), mapping={
                        field_: orjson.dumps(FoldState(score=score).to_json()).decode(), "_rev": 1})
                pipe.execute()
                services.scores.update_indexes({(data.PROFILE_ID, 1): scores}, {})
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
