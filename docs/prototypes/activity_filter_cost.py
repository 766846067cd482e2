"""The activity filter's cost ("active in the last N days" / "no activity in the last N days"): N contacts scored by
the drain's scorer, one interaction each, spread over 90 hours; then pages and counts of the filter whose cutoff
cuts an hour. Private redis-server; reports redis-server usec per filter_bucket.lua call (INFO commandstats, evalsha)
and client ms a page. Run from a tree: PYTHONPATH=. python docs/prototypes/activity_filter_cost.py [CONTACTS] (docs/performance.md, "Row 5a (2026-12-06)")."""
import sys, time
from app import create_app
from app.contact_directory import run_filter
from app.contact_filter_schema import load_filter
from app.contact_layout import migrate_layouts
from app.scoring.records import TimelineRecord
from app.scoring_service import make_scorer
from bench import data
from bench.context import Context, publish
from bench.env import bench_world

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
PAGES = 100
HOUR = 3_600_000
T0 = int(time.time() * 1000) - 40 * HOUR - HOUR // 2  # the filter's cutoff (a day before now) falls inside
with bench_world() as bench:
    bench.start_redis()
    app = create_app({"REDIS_URL": bench.redis_url, "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": "", "API_KEYS": "k"})
    ctx = Context(bench, None, 0, "", 0, 0)
    ctx.app = app
    publish(ctx, data.profile_draft(), app)
    services = app.extensions["scorekeeper"]
    with app.app_context():
        migrate_layouts(services)
        scorer = make_scorer(services)
        batch = {}
        for n in range(N):
            cid = f"bench-c{n}"
            batch[cid] = [TimelineRecord(f"e{n}", "bench", "email.opened", T0 + (n * 90 * HOUR) // N + n % 997, {"message_id": "m"})]
            if len(batch) == 500:
                scorer.score(batch, T0 + 91 * HOUR)
                batch = {}
        if batch:
            scorer.score(batch, T0 + 91 * HOUR)
        r = services.redis
        print("contacts without la:", sum(1 for n in range(0, N, 100) if r.hget(services.keys.contact(f"bench-c{n}"), "la") is None), "of", len(range(0, N, 100)))
        now = T0 + 90 * HOUR + HOUR // 2 + 24 * HOUR  # cutoff one day before: mid-hour 90 - 24
        with app.test_request_context():
            for op in ("within", "before"):
                flt = load_filter({"conditions": [{"field": "activity", "op": op, "days": 1}]})
                for _ in range(5):
                    run_filter(services, flt, 50, 0)
                r.config_resetstat()
                cpu = time.process_time()
                for _ in range(PAGES):
                    out = run_filter(services, flt, 50, 0)
                cpu = time.process_time() - cpu
                st = r.info("commandstats")
                ev = st.get("cmdstat_evalsha", {})
                total = sum(v["usec"] for v in st.values())
                print(f"{op}: {PAGES} pages: client {cpu / PAGES * 1000:.2f} ms a page; evalsha {ev.get('calls')} calls "
                      f"{ev.get('usec_per_call')} usec/call; redis all commands {total / PAGES:.0f} usec a page; "
                      f"total {out['total'] if isinstance(out, dict) and 'total' in out else '?'}")
