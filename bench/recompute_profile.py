"""``python -m bench.recompute_profile``: where a publish recompute from the archive spends its CPU, in one process
(docs/performance.md, "Row 4 at full size").

Row 4's seconds mean little on a busy machine; CPU-seconds per contact do. This loads the bench's data into a
private redis-server, scores it with the worker's own drain, runs the hot horizon's trim pass as if
``HOT_HISTORY`` had passed (every archived record leaves Redis, each contact keeps a checkpoint), then publishes a
new version (points doubled) and runs its recompute as one job in this process — every contact refolded from the
SQLite archive, as row 4 does — and prints the CPU-seconds of this process and of the redis-server (``/proc``).
``--stages`` adds CPU time per stage (the storage calls, the fold, the encoding; functions wrapped for the run),
``--commands`` Redis's ``INFO commandstats``, ``--cprofile FILE`` a profile, and ``--check`` compares every
contact's new score with the reference fold of its whole history. To compare two commits, run each from its own
tree (``cd TREE && python -m bench.recompute_profile``), alternating, in the same minutes. (Made from the harness
helper ``recompute`` used in the session of 2026-12-02.)
"""
from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import data
from .drain_profile import process_cpu_s, published_app
from .env import bench_world

#: (module, class or None, function): what ``--stages`` times. A name the tree does not have is left out, so
#: older and newer commits can be compared with the same command.
STAGES = [
    ("app.storage.timelines", "TimelineStore", "read_for_scoring"),
    ("app.storage.timelines", "TimelineStore", "read_timelines"),
    ("app.storage.timelines", "TimelineStore", "read_horizons"),
    ("app.storage.timelines", "TimelineStore", "apply_many"),
    ("app.archive.sqlite", "SqliteArchive", "histories"),
    ("app.scorer", "Scorer", "_compute"),
    ("app.scorer", None, "checkpoint"),
    ("app.scorer", None, "resume"),
    ("app.scorer", None, "fold"),
    ("app.scorer", None, "fold_across"),
    ("app.scorer", None, "horizon_fields"),
    ("app.scorer", None, "encode_record"),
    ("app.storage.score_index", "ScoreIndex", "update_indexes"),
    ("app.publish", None, "_finish"),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.recompute_profile", description=__doc__)
    parser.add_argument("--contacts", type=int, default=20_000)
    parser.add_argument("--interactions", type=int, default=200_000)
    parser.add_argument("--stages", action="store_true", help="print CPU time per stage of the recompute")
    parser.add_argument("--commands", action="store_true", help="print Redis's INFO commandstats of the recompute")
    parser.add_argument("--cprofile", help="write a cProfile of the recompute here")
    parser.add_argument("--check", action="store_true", help="compare each new score with the reference fold")
    return parser.parse_args(argv)


@contextmanager
def stage_timers(enabled: bool) -> Iterator[dict[str, list[float]]]:
    """While it lasts, each function of ``STAGES`` adds its calls and CPU time to the dict it gives (wrapped,
    and put back after). Nested stages count in both."""
    spent: dict[str, list[float]] = {}
    restore: list[tuple[Any, str, Any]] = []
    for module_name, class_name, name in (STAGES if enabled else []):
        owner = importlib.import_module(module_name)
        if class_name:
            owner = getattr(owner, class_name)
        original = owner.__dict__.get(name)
        if original is None:
            continue
        restore.append((owner, name, original))
        setattr(owner, name, _timed(original, spent.setdefault(f"{class_name + '.' if class_name else ''}{name}",
                                                                [0, 0.0])))
    try:
        yield spent
    finally:
        for owner, name, original in restore:
            setattr(owner, name, original)


def _timed(original: Any, cell: list[float]) -> Any:
    function: Callable[..., Any] = original.__func__ if isinstance(original, staticmethod) else original

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return function(*args, **kwargs)
        finally:
            cell[0] += 1
            cell[1] += time.process_time() - started

    return staticmethod(timed) if isinstance(original, staticmethod) else timed


def prepare(services: Any, contacts: int, interactions: int) -> tuple[int, int]:
    """Row 1's data, scored by the worker's drain, then moved out of Redis by the trim pass; returns (scored,
    moved)."""
    from app.clock import now_ms
    from app.horizon import hot_history_ms, trim_all
    from app.scoring_service import drain

    data.load(services, data.interactions(contacts, interactions))
    services.queue.empty()
    scored = 0
    while sum(services.partitions.partition_depths()):
        for partition in range(services.sharding.partitions):
            scored += drain(services, partition, max_batches=10_000)
    moved = trim_all(services, now_ms() + (hot_history_ms(services.settings) or 0))["records"]
    services.queue.empty()
    return scored, moved


def mismatches(services: Any, version: int) -> tuple[int, int]:
    """(contacts checked, contacts whose new score is not the reference fold of their whole history)."""
    from app.horizon import whole_timelines
    from app.scoring.fold import fold

    target = services.profiles.version(data.PROFILE_ID, version)
    scores = services.scores.scores_of(data.PROFILE_ID, version)
    now = services.clock.now_ms()
    checked = wrong = 0
    for page in services.contacts.contact_pages(500):
        histories = whole_timelines(services, page)
        for contact_id in page:
            checked += 1
            wrong += scores.get(contact_id) != fold(target, histories[contact_id], now)[0].score
    return checked, wrong


def main(argv: list[str] | None = None) -> None:
    from app.api.schemas import ProfileDraftSchema
    from app.publish import run_publish, start_publish

    args = parse_args(argv)
    with bench_world() as bench:
        app = published_app(bench)
        services = app.extensions["scorekeeper"]
        redis_pid = bench.processes[0].pid
        with app.app_context():
            scored, moved = prepare(services, args.contacts, args.interactions)
            draft = data.profile_draft()
            draft["rules"] = [{**rule, "points": rule["points"] * 2} for rule in draft["rules"]]
            services.profiles.put_draft({"id": data.PROFILE_ID, **ProfileDraftSchema().load(draft)})
            job = start_publish(services, data.PROFILE_ID, split=False)
            services.queue.empty()
            bench.redis.config_resetstat()
            profile = cProfile.Profile() if args.cprofile else None
            with stage_timers(args.stages) as spent:
                cpu, wall, redis_cpu = time.process_time(), time.perf_counter(), process_cpu_s(redis_pid)
                if profile:
                    profile.enable()
                run_publish(services, data.PROFILE_ID, job["version"], job["id"], False, split=False)
                if profile:
                    profile.disable()
                cpu = time.process_time() - cpu
                wall = time.perf_counter() - wall
                redis_cpu = process_cpu_s(redis_pid) - redis_cpu
            status = services.jobs.status(job["id"])
            checked = mismatches(services, job["version"]) if args.check else None
            services.archive.close()
        print(f"{scored:,} interactions scored over {args.contacts:,} contacts, {moved:,} records moved to the "
              f"archive; recompute {status['status']}, {status.get('done')} contacts; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"worker process CPU {cpu:.2f} s ({1e6 * cpu / max(args.contacts, 1):,.0f} µs per contact), "
              f"redis-server CPU {redis_cpu:.2f} s, wall {wall:.2f} s")
        for name, (calls, seconds) in sorted(spent.items(), key=lambda kv: -kv[1][1]):
            print(f"  {name:32} {calls:>9,} calls {seconds:8.2f} s {100 * seconds / max(cpu, 1e-9):6.1f} %")
        if args.commands:
            stats = bench.redis.info("commandstats")
            for name, stat in sorted(stats.items(), key=lambda kv: -kv[1]["usec"])[:12]:
                print(f"  {name:28} calls {stat['calls']:>9,}  usec {stat['usec']:>10,}")
        if checked is not None:
            print(f"check: {checked[0]:,} contacts, {checked[1]:,} whose score is not the reference fold's")
        if profile and args.cprofile:
            profile.dump_stats(args.cprofile)


if __name__ == "__main__":
    main()
