"""Row 12: Redis memory over a simulated year with the hot horizon (issue #17).

A steady flow — every contact gets 10 interactions a month of the usual mix, spread over the days — runs
for 12 months on a manual clock (the test clock: one simulated day per loop), scored in-process by the
worker's own drain, expiries ticked, and the hot horizon's trim pass run once a simulated day (the ticker's
duty, ``app.horizon.trim_all``). Redis's ``used_memory`` is read at the end of each month. The same flow
with ``HOT_HISTORY=0`` (everything stays in Redis, as before the horizon) is the baseline, in the same run.

``SEEN_SECONDS=1`` in both: ingest's idempotency sets expire on the wall clock, not the simulated one, and a
compressed year would otherwise keep a year of them; with 1-second periods they go as they would in a real
year. Scaled: ``horizon_contacts`` contacts (4,000 at full size), not a million; memory per contact is what
the ratio depends on.
"""
from __future__ import annotations

import random
from typing import Any

from app import create_app
from app.scoring.interactions import Interaction

from . import data
from .context import Context, publish
from .report import Row

DAY_MS = 86_400_000
PER_MONTH = 10
MONTHS = 12
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z


class Clock:
    def __init__(self, ms: int):
        self.ms = ms

    def now_ms(self) -> int:
        return self.ms


def simulate(ctx: Context, hot_history: str, contacts: int, step_days: int = 1) -> list[int]:
    """``used_memory`` at the end of each simulated month, with this ``HOT_HISTORY``."""
    from app.horizon import trim_all
    from app.scoring_service import drain, tick

    ctx.bench.redis.flushall()
    clock = Clock(START_MS)
    settings = {**ctx.settings(), "REDIS_URL": ctx.bench.redis_url, "CLOCK": clock, "HOT_HISTORY": hot_history,
                "SEEN_SECONDS": 1, "ARCHIVE_URL": f"sqlite:///{ctx.bench.workdir}/year-{hot_history}.sqlite3"}
    app = create_app(settings)
    publish(ctx, data.profile_draft(), app)
    services: Any = app.extensions["scorekeeper"]
    redis = ctx.bench.redis
    rng = random.Random(17)
    types = [t for t, w in data.MIX for _ in range(w)]

    def settle() -> None:
        services.queue.empty()
        for p in range(services.sharding.partitions):
            drain(services, p, max_batches=10 ** 6)
        services.queue.empty()
        for p in range(services.sharding.partitions):
            services.partitions.clear_wake(p)

    used: list[int] = []
    seq = 0
    with app.app_context():
        for month in range(MONTHS):
            for first_day in range(0, 30, step_days):
                step_start = clock.ms
                batch = []
                for day in range(first_day, min(first_day + step_days, 30)):
                    for contact in range(contacts):
                        # 10 a month: on each of 10 days of 30, chosen per contact
                        if (contact + day) % 3 != 0:
                            continue
                        type_ = rng.choice(types)
                        seq += 1
                        batch.append(Interaction(id=f"y{seq}", source=data.SOURCE, type=type_,
                                                 occurred_at=step_start + (day - first_day) * DAY_MS
                                                 + rng.randrange(DAY_MS),
                                                 properties=data.properties_for(type_, rng, seq),
                                                 email=data.email_of(contact)))
                clock.ms = step_start + min(step_days, 30 - first_day) * DAY_MS
                data.load(services, iter(batch))
                settle()
                tick(services)
                settle()
                trim_all(services, clock.ms)
            used.append(int(redis.info("memory")["used_memory"]))
            ctx.say(f"row 12 (HOT_HISTORY={hot_history}): month {month + 1}: {used[-1] / 1e6:,.1f} MB")
        services.archive.close()
    return used


def rows_horizon(ctx: Context) -> list[Row]:
    contacts = ctx.size.horizon_contacts
    step = ctx.size.horizon_step_days
    flat = simulate(ctx, "0", contacts, step)
    hot = simulate(ctx, "90d", contacts, step)
    ratio, base_ratio = hot[11] / hot[2], flat[11] / flat[2]
    series = ", ".join(f"{m / 1e6:,.1f}" for m in hot)
    baseline_series = ", ".join(f"{m / 1e6:,.1f}" for m in flat)
    return [Row("12", "Redis memory at month 12 ÷ month 3, steady flow, 90-day horizon", ratio, "×",
                baseline=base_ratio, baseline_name="the same flow with HOT_HISTORY=0 (everything stays in Redis)",
                target="≤ 1.2×", met=ratio <= 1.2,
                notes=[f"{contacts:,} contacts, {PER_MONTH} interactions each a month ({contacts * PER_MONTH * 12:,} in "
                       f"the year), the 10-rule profile, {step} simulated day(s) per loop on a manual clock; the trim "
                       f"pass once a loop", f"used_memory by month (MB), horizon 90d: {series}",
                       f"used_memory by month (MB), HOT_HISTORY=0: {baseline_series}"])]
