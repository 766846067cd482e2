"""Row 5: memory per scored contact, with a breakdown by key kind."""
from __future__ import annotations

import itertools
import re
from collections.abc import Callable

from . import data
from .report import Row
from .context import Context


def rows_memory(ctx: Context) -> list[Row]:
    from app.scoring_service import drain

    contacts = ctx.size.memory_contacts
    per_contact_later = 9
    ctx.fresh()
    redis = ctx.bench.redis
    services = ctx.services

    def settle(absorb: bool = True) -> None:
        services.queue.empty()
        for p in range(services.sharding.partitions):
            drain(services, p, max_batches=10 ** 6)
        services.queue.empty()
        for p in range(services.sharding.partitions):
            services.partitions.clear_wake(p)
        services.companies.tidy()  # what the worker's ticker does each TICK_SECONDS: big rosters' new contacts moved
        if absorb:  # and every SCORE_ABSORB_SECONDS: the score index's changes into its base (due at once here)
            versions = [(v.profile.id, v.version) for v in services.profiles.active()]
            while services.scores.absorb_step(versions, 0, 0):
                pass

    def used() -> int:
        return int(redis.info("memory")["used_memory"])

    stream = data.interactions(contacts, contacts * (1 + per_contact_later), seed=11)
    with ctx.app.app_context():
        settle()
        m0 = used()
        data.load(services, itertools.islice(stream, contacts))
        settle(absorb=False)
        m1_hot = used()
        first_hot = memory_breakdown(ctx, contacts, interactions=1)
        settle()
        m1 = used()
        first = memory_breakdown(ctx, contacts, interactions=1)
        data.load(services, stream)
        settle()
        m2 = used()
    per_interaction = (m2 - m1) / (contacts * per_contact_later)
    per_contact = (m1 - m0) / contacts - per_interaction
    per_contact_hot = (m1_hot - m0) / contacts - per_interaction
    ctx.say(f"row 5: {per_contact:,.0f} B per contact at rest ({per_contact_hot:,.0f} B before the absorb), "
            f"{per_interaction:,.0f} B per interaction")
    breakdown = memory_breakdown(ctx, contacts, interactions=1 + per_contact_later)
    seen = sum(int(redis.memory_usage(key, samples=0) or 0)
               for key in redis.scan_iter(match=services.keys.seen(0, 0).replace("{p:0}", "{p:*}")[:-1] + "*",
                                          count=1000)) / (contacts * (1 + per_contact_later))
    ctx.say(f"row 5: of which {seen:,.0f} B per interaction in the seen sets (they expire)")
    provider, provider_breakdown = provider_shaped(ctx, settle, used, contacts, per_contact_later)
    ctx.say(f"row 5c: {provider:,.0f} B per interaction with provider-shaped properties")
    method = (f"INFO used_memory deltas: {contacts:,} contacts each with 1 interaction scored (Δ₁), then 9 more "
              f"each (Δ₂); per interaction = Δ₂ / {contacts * per_contact_later:,}; per contact = Δ₁ / {contacts:,} − "
              f"per interaction")
    return [
        Row("5a", "Redis memory per contact, one scored profile", per_contact, "B", target="≤ 400 B",
            met=per_contact <= 400, notes=[
                f"a contact at rest: its score absorbed into the score index's compact base, as the ticker does every "
                f"SCORE_ABSORB_SECONDS; before the absorb (every score still in the hot sorted set, as just scored): "
                f"{per_contact_hot:,.0f} B", method, first, f"before the absorb: {first_hot}", breakdown]),
        Row("5b", "Redis memory per stored interaction", per_interaction, "B", target="≤ 100 B",
            met=per_interaction <= 100, notes=[(
                f"includes its timeline record, the fold state's growth (no ledger is stored: it is the fold of the "
                f"timeline), the stream's leftovers and its idempotency key "
                f"in its partition's seen set: {seen:,.0f} B of it (MEMORY USAGE of the seen sets / interactions), "
                f"which expire after SEEN_SECONDS (1-2 days), long before the hot horizon: "
                f"{per_interaction - seen:,.0f} B per interaction once they did")]),
        Row("5c", "Redis memory per stored interaction, provider-shaped properties", provider, "B",
            target="≤ 100 B", met=provider <= 100, notes=[(
                "5b's measure again on an empty store, each interaction carrying what the providers' parsers keep "
                "(bench/data.py, provider_properties_for: SendGrid's message id and category, a click's URL, a "
                "Stripe payment's ids and description) where 5b's carry the few short values the rules read; once "
                "the archive holds an interaction, its copy in Redis keeps only the properties a live or building "
                "rule reads (app/scoring/kept_properties.py; docs/archive.md, 'What Redis keeps of an interaction')"),
                provider_breakdown]),
    ]


def provider_shaped(ctx: Context, settle: Callable[..., None], used: Callable[[], int], contacts: int,
                    per_contact_later: int) -> tuple[float, str]:
    """5b's per-interaction delta on a fresh store with ``data.provider_properties_for``'s properties, and where
    the bytes are (``memory_breakdown``)."""
    ctx.fresh()
    stream = data.interactions(contacts, contacts * (1 + per_contact_later), seed=11,
                               properties=data.provider_properties_for)
    with ctx.app.app_context():
        data.load(ctx.services, itertools.islice(stream, contacts))
        settle()
        before = used()
        data.load(ctx.services, stream)
        settle()
        return ((used() - before) / (contacts * per_contact_later),
                memory_breakdown(ctx, contacts, interactions=1 + per_contact_later))


def memory_breakdown(ctx: Context, contacts: int, interactions: int) -> str:
    """MEMORY USAGE summed by key kind over every key, per contact: where the bytes go."""
    redis = ctx.bench.redis
    kinds: dict[str, int] = {}
    for key in redis.scan_iter(count=1000):
        kind = re.sub(r"\{c:[^}]+\}", "{c}", re.sub(r"\{p:\d+\}", "{p}", key))
        kind = re.sub(r":id:email:.*", ":id:email:*", kind)
        kind = re.sub(r"\{xp:\d+\}.*", "{xp:N}", kind)  # a compact ordered index: its leaves, directory, counter
        kind = re.sub(r"\{se:\d+\}.*", "{se:N}", kind)  # the search terms: compact index and the set beside it
        kind = re.sub(r"\{rg:\d+\}.*", "{rg:N}", kind)  # the contact registry: compact index and the set beside it
        kind = re.sub(r":company:.*:contacts(:.*)?$", ":company:*:contacts", kind)  # a roster: plain set and index
        kind = re.sub(r"\{ac:\d+\}.*", "{ac:N}", kind)  # the latest activity: a compact ordered index
        kind = re.sub(r"\{([^{}]*):scores:([^{}]*):\d+\}:(\w+).*", r"{\1:scores:\2:N}:\3", kind)  # score base, stale
        kind = re.sub(r":\d+$", ":N", kind)
        kinds[kind] = kinds.get(kind, 0) + int(redis.memory_usage(key, samples=0) or 0)
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:16]
    return (f"MEMORY USAGE by key kind, summed over every key and divided by the {contacts:,} contacts (each with "
            f"{interactions} interaction{'s' if interactions > 1 else ''}): " + ", ".join(f"`{k}` {v / contacts:,.0f} B" for k, v in top))
