"""Probe (docs/performance.md, "Row 5a (2026-12-05 evening): denser index members, measured, not built"): after row
5's first load, MEMORY USAGE of the registry, latest-activity and roster keys as they are, and of copies whose
members are the contact id in an ordered base-64 (14 chars) and, for activity, the score in hours. Run from a
tree's root: `PYTHONPATH=. python docs/prototypes/denser-members-probe.py full` (~3 min)."""
import sys, collections, re
from bench.context import Context, SIZES
from bench.env import bench_world
from bench.row_memory import rows_memory
import bench.row_memory as rm

A = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
def enc(cid):
    n = int(cid[1:], 16); s = ""
    for _ in range(14):
        s = A[n & 63] + s; n >>= 6
    return s
ID = re.compile(r"^c[0-9a-f]{20}$")
size = SIZES[sys.argv[1] if len(sys.argv) > 1 else "full"]
orig = rm.memory_breakdown
def probe(ctx, contacts, interactions):
    r = ctx.bench.redis
    before = collections.Counter(); after = collections.Counter(); after_h = collections.Counter()
    shown = set(); nonid = collections.Counter()
    for key in r.scan_iter(count=1000):
        kind = None
        if re.search(r"\{rg:\d+\}:i:l:", key): kind = "rg leaf"
        elif re.search(r"\{rg:\d+\}:i:d$", key): kind = "rg dir"
        elif re.search(r"\{ac:\d+\}:l:", key): kind = "ac leaf"
        elif re.search(r"\{ac:\d+\}:d$", key): kind = "ac dir"
        elif re.search(r":company:.*:contacts", key): kind = "roster"
        elif re.search(r"\{se:\d+\}", key): kind = "search"
        if not kind: continue
        mu = r.memory_usage(key, samples=0); before[kind] += mu
        if r.type(key) != "zset" or kind.endswith("dir") or kind == "search":
            if kind not in shown:
                shown.add(kind); print(kind, key, r.type(key), r.zrange(key, 0, 1, withscores=True) if r.type(key) == "zset" else "")
            after[kind] += mu; after_h[kind] += mu; continue
        flat = r.zrange(key, 0, -1, withscores=True)
        if kind not in shown:
            shown.add(kind); print(kind, key, r.object("encoding", key), flat[:2])
        nonid[kind] += sum(1 for m, _ in flat if not ID.match(m))
        for target, hours in ((after, False), (after_h, True)):
            r.delete("probe:tmp")
            r.zadd("probe:tmp", {(enc(m) if ID.match(m) else m): (int(s) // 3_600_000 if hours and kind == "ac leaf" else s) for m, s in flat})
            target[kind] += r.memory_usage("probe:tmp", samples=0)
        r.delete("probe:tmp")
    print(f"contacts={contacts} members not an id: {dict(nonid)}")
    for k in sorted(before):
        print(f"  {k:10} now {before[k]/contacts:6.1f} B/contact  base64 id {after[k]/contacts:6.1f}  +activity in hours {after_h[k]/contacts:6.1f}")
    print(f"  total      now {sum(before.values())/contacts:6.1f}  base64 id {sum(after.values())/contacts:6.1f}  +hours {sum(after_h.values())/contacts:6.1f}")
    return orig(ctx, contacts, interactions)
rm.memory_breakdown = probe
with bench_world(keep=False) as bench:
    ctx = Context(bench, size, 1, "sync", 1, 1)
    ctx.start()
    for row in rows_memory(ctx):
        print(row.key if hasattr(row, 'key') else row)
