"""Which cut of a contact hash pays: its listpack's bytes worked out exactly as Redis 7.0 encodes them, rounded up to
jemalloc's size classes, for every contact of row 5's first load, as stored and with fields renamed or left out.

    PYTHONPATH=<tree> python docs/prototypes/listpack_classes.py full   # ~2 min: row 5's load, then the table

A hash's `MEMORY USAGE` is its key's ~72 B plus its listpack's allocation, the listpack's bytes rounded up to a
jemalloc class (..., 160, 192, 224, 256, 320, ...): bytes saved pay only where they take a hash below a class edge.
The computed allocation plus 72 B equals `MEMORY USAGE` for each of row 5's 20,000 contacts (checked below).
docs/performance.md, "Row 5a (2026-12-05 evening): the creation time's field".
"""
import collections
import re
import sys

import bench.row_memory as row_memory
from bench.context import SIZES, Context
from bench.env import bench_world

CLASSES = [8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896, 1024]


def size_class(n: int) -> int:
    return next((c for c in CLASSES if c >= n), n)


def entry_bytes(text: str) -> int:
    """One listpack entry: an integer's encoding when the text is one (string2ll's canonical form), else a string's;
    then its back length."""
    try:
        value = int(text) if len(text) <= 20 else None
    except ValueError:
        value = None
    if value is not None and str(value) == text:
        n = next(size for low, high, size in ((0, 127, 1), (-4096, 4095, 2), (-2**15, 2**15 - 1, 3),
                                               (-2**23, 2**23 - 1, 4), (-2**31, 2**31 - 1, 5)) if low <= value <= high) \
            if -2**31 <= value < 2**31 else 9
    else:
        length = len(text.encode())
        n = (1 if length < 64 else 2 if length < 4096 else 5) + length
    return n + (1 if n <= 127 else 2)


def listpack_bytes(fields: dict[str, str]) -> int:
    return 7 + sum(entry_bytes(f) + entry_bytes(v) for f, v in fields.items())


def renamed(old: str, new: str):
    return lambda h: {new if f == old else f: v for f, v in h.items()}


def without(name: str):
    return lambda h: {f: v for f, v in h.items() if f != name}


def l_without_id(h):  # the fold state's `l` without its record id (the fold's stored form: not this change's)
    return {f: re.sub(r'("l":\[-?\d+,\d+),"[^"]*"\]', r"\1]", v) if "@" in f else v for f, v in h.items()}


def l_without_middle(h):  # `l` without its middle element (the fold's branch `fold`, 499fd33)
    return {f: re.sub(r'("l":\[-?\d+),\d+,', r"\1,", v) if "@" in f else v for f, v in h.items()}


CUTS = {"as stored": [], "created_at -> c": [renamed("created_at", "c")], "la left out": [without("la")],
        "email -> e": [renamed("email", "e")], "_rev -> r": [renamed("_rev", "r")],
        "c, la left out": [renamed("created_at", "c"), without("la")],
        "l without its id": [l_without_id], "l without its id, c": [l_without_id, renamed("created_at", "c")],
        "l without its middle": [l_without_middle], "l without its middle, c": [l_without_middle, renamed("created_at", "c")]}


def table(hashes: dict[str, tuple[dict[str, str], int]]) -> None:
    assert all(size_class(listpack_bytes(h)) + 72 == usage for h, usage in hashes.values())
    for name, cuts in CUTS.items():
        sizes = []
        for h, _usage in hashes.values():
            for cut in cuts:
                h = cut(h)
            sizes.append(listpack_bytes(h))
        allocated = collections.Counter(size_class(n) for n in sizes)
        mean = sum(c * k for c, k in allocated.items()) / len(sizes)
        print(f"{name:24} listpack {sum(sizes) / len(sizes):6.1f} B  allocated {mean:6.1f} B  {sorted(allocated.items())}")


def probe(ctx, contacts, interactions):
    r = ctx.bench.redis
    table({key: (r.hgetall(key), r.memory_usage(key, samples=0)) for key in r.scan_iter(match="sk:{c:*", count=1000)})
    raise SystemExit(0)


if __name__ == "__main__":
    row_memory.memory_breakdown = probe
    with bench_world(keep=False) as world:
        ctx = Context(world, SIZES[sys.argv[1] if len(sys.argv) > 1 else "small"], 1, "sync", 1, 1)
        ctx.start()
        for _row in row_memory.rows_memory(ctx):
            pass
