"""The hot horizon: a contact's interactions older than ``HOT_HISTORY`` leave Redis once the archive holds them.

Redis keeps what scoring needs now; the archive (app/archive/) keeps everything. A pass of the worker's ticker
walks every contact in bounded chunks (``trim_step``, one chunk per tick; a new pass starts at most once per
``RETENTION_SWEEP_SECONDS``) and moves each contact's horizon forward to ``now − effective horizon``:

- the timeline records before the horizon that the archive holds (``Archive.held_keys``) are deleted, and the
  ledger entries before it (the tail of each ledger, which is in time order); a record the archive does not
  hold yet (its append is late, or waits in the backlog) stops the horizon just before it, so nothing is
  deleted that only Redis holds;
- per profile version that scores the contact, the fold state at the horizon is kept as its checkpoint
  (``scoring.fold.checkpoint``), with the contact's attributes at the horizon: folding the checkpoint and the
  records from the horizon on gives exactly the fold of the whole history (``scoring.fold.resume``), so a late
  interaction within the horizon refolds without the archive; one before the horizon, and a version with no
  checkpoint (a publish), refold from the archive (app/scorer.py).

All of a contact's changes are written by ``trim_horizon.lua`` only if the contact did not change since it was
read (its ``_rev``, the scorer's optimistic lock); one that did is left for the next pass.

The effective horizon is ``HOT_HISTORY``, but never shorter than the longest rule window, expiry or decay
period of any profile version being scored (docs/archive.md, "The hot horizon", says why).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from .archive import ArchiveUnavailable
from .scoring.fit import apply_attribute_changes, attributes_at
from .scoring.fold import FoldState, checkpoint
from .scoring.durations import parse_duration_ms
from .scoring.interactions import ATTRIBUTES_TYPE
from .scoring.kept_properties import PropertyReads, lacks, reads_of
from .scoring.profiles import Profile, parse_version_field
from .scoring.records import TimelineRecord
from .services import Services
from .storage.profiles import ActiveVersion
from .storage.timelines import Horizon, HorizonMove, horizon_fields

log = logging.getLogger(__name__)

#: Contacts looked at per tick by the trim pass (bounded work per tick, whatever the deployment's size).
TRIM_CHUNK = 500


def hot_history_ms(settings: Mapping[str, Any]) -> int | None:
    """``HOT_HISTORY`` in milliseconds; None when it is ``0`` (everything stays in Redis)."""
    text = str(settings["HOT_HISTORY"]).strip()
    if text in ("", "0"):
        return None
    return parse_duration_ms(text, bounded=False)


def init_app(app: Any) -> None:
    """Stop the start on a ``HOT_HISTORY`` that is neither a duration nor ``0`` (else every trim pass of every
    worker's ticker would fail on it, and Redis would keep everything without a word)."""
    try:
        hot_history_ms(app.config)
    except ValueError as exc:
        raise ValueError(f"SCOREKEEPER_HOT_HISTORY={app.config['HOT_HISTORY']!r}: {exc}") from None


def longest_reach_ms(profiles: Sequence[Profile]) -> int:
    """The longest rule window, expiry or decay period of these profiles (0 when none has one)."""
    return max((span for profile in profiles for rule in profile.rules
                for span in (rule.limit_window_ms, rule.expires_after_ms, rule.decay_every_ms) if span), default=0)


def effective_horizon_ms(settings: Mapping[str, Any], versions: Sequence[ActiveVersion]) -> int | None:
    """How far back Redis keeps history: ``HOT_HISTORY``, never shorter than ``longest_reach_ms`` of the
    versions being scored; None when ``HOT_HISTORY`` is 0."""
    base = hot_history_ms(settings)
    if base is None:
        return None
    return max(base, longest_reach_ms([v.profile for v in versions]))


def trim(services: Services, contact_ids: Sequence[str], now: int, kept: list[int] | None = None) -> dict[str, int]:
    """Move these contacts' horizons to ``now − effective horizon``; returns what it did: ``contacts`` moved,
    ``records`` deleted from Redis, ``waiting`` (records before the horizon the archive does not hold yet),
    ``changed`` (contacts that changed meanwhile, left for the next pass). ``kept`` (when given) gets the oldest
    ``at`` of the records left in Redis, if any (what the pass's bound on the bucket becomes)."""
    counts = {"contacts": 0, "records": 0, "waiting": 0, "changed": 0}
    versions = services.profiles.active()
    span = effective_horizon_ms(services.settings, versions)
    if span is None or not contact_ids:
        return counts
    target = now - span
    by_field = {v.field: v for v in versions}
    reads = reads_of(v.profile for v in versions)
    read = services.timelines.read_for_trim(contact_ids)
    candidates: dict[str, list[TimelineRecord]] = {}
    oldest: dict[str, int] = {}  # each contact's oldest record read
    for cid, (_rev, _fields, timeline, horizon) in read.items():
        until = max(target, horizon.at) if horizon else target
        old = [r for r in timeline if r.at < until]
        if old:
            candidates[cid] = old
        if timeline and kept is not None:
            oldest[cid] = min(r.at for r in timeline)
    if not candidates:
        if oldest:
            kept.append(min(oldest.values()))  # type: ignore[union-attr]
        return counts
    held = services.archive.held_keys(((cid, r.source, r.id) for cid, old in candidates.items() for r in old),
                                      services.workspace)
    moves: list[HorizonMove] = []
    need_archive: list[str] = []
    plans: dict[str, tuple[int, list[str]]] = {}
    for cid, old in candidates.items():
        rev, fields, timeline, horizon = read[cid]
        previous = horizon.at if horizon else None
        waiting = [r for r in old if (cid, r.source, r.id) not in held]
        counts["waiting"] += len(waiting)
        at = target if previous is None else max(previous, target)
        fresh_waiting = [r.at for r in waiting if previous is None or r.at >= previous]
        if fresh_waiting:
            at = min(at, min(fresh_waiting))
        if previous is not None:
            at = max(at, previous)
        drop = [r.key for r in old if r.at < at and (cid, r.source, r.id) in held]
        if not drop:  # nothing leaves (history the archive does not hold yet, say from before it existed)
            continue
        plans[cid] = (at, drop)
        if horizon is not None and any(f in by_field and f not in horizon.checkpoints for f in fields):
            need_archive.append(cid)
        elif lacks(timeline, reads):  # a copy without a property a version reads: the archive holds it whole
            need_archive.append(cid)
    archived = services.archive.histories(need_archive, workspace=services.workspace) if need_archive else {}
    for cid, (at, drop) in plans.items():
        rev, fields, timeline, horizon = read[cid]
        history = _merge(archived[cid], timeline) if cid in archived else None
        checkpoints = {f: _checkpoint_at(by_field[f].profile, horizon, timeline, history, at, f)
                       for f in fields if f in by_field}
        if history is not None:
            attributes = attributes_at([r for r in history if r.at < at])
        else:
            attributes = _attributes_at(horizon, timeline, at)
        ledgers = [parse_version_field(f) for f in fields if f in by_field]
        values = horizon_fields(at, attributes, checkpoints, {f: by_field[f].profile for f in checkpoints})
        moves.append(HorizonMove(cid, rev, at, drop, values, ledgers))
    for move, applied in zip(moves, services.timelines.move_horizons(moves)):
        if applied:
            counts["contacts"] += 1
            counts["records"] += len(move.drop_records)
            if kept is not None:  # what is left of its timeline (a contact that changed keeps all it had)
                dropped = set(move.drop_records)
                left = [r.at for r in read[move.contact_id][2] if r.key not in dropped]
                if left:
                    oldest[move.contact_id] = min(left)
                else:
                    oldest.pop(move.contact_id, None)
        else:
            counts["changed"] += 1
    if kept is not None and oldest:
        kept.append(min(oldest.values()))
    return counts


def whole_timelines(services: Services, contact_ids: Sequence[str],
                    reads: PropertyReads | None = None) -> dict[str, list[TimelineRecord]]:
    """Each contact's whole timeline: the hot records from Redis and, for contacts with a horizon, the older ones
    from the archive (one ``histories`` call for the page); and from the archive too, whole, the records whose copy
    in Redis lacks a property ``reads`` names for its type (None: any property; ``kept_properties.lacks``). What the
    draft preview, the evaluation and the ledger's older pages fold."""
    hot = services.timelines.read_timelines(contact_ids)
    horizons = services.timelines.read_horizons(contact_ids)
    beyond = [cid for cid in contact_ids if horizons[cid] is not None
              or (any(r.dropped for r in hot[cid]) if reads is None else lacks(hot[cid], reads))]
    if not beyond:
        return hot
    archived = services.archive.histories(beyond, workspace=services.workspace)
    return {cid: _merge(archived.get(cid, []), hot[cid]) if cid in beyond else hot[cid] for cid in contact_ids}


def _merge(archived: list[TimelineRecord], timeline: list[TimelineRecord]) -> list[TimelineRecord]:
    merged = {r.key: r for r in archived}
    for record in timeline:
        merged.setdefault(record.key, record)
    return list(merged.values())


def _checkpoint_at(profile: Profile, horizon: Horizon | None, timeline: list[TimelineRecord],
                   history: list[TimelineRecord] | None, at: int, field: str) -> FoldState:
    """The fold state of one version at ``at``: from the whole history when it was read from the archive, else
    from the checkpoint at the previous horizon (or the empty state) and the hot records after it."""
    if history is not None:
        return checkpoint(profile, None, history, at)
    if horizon is None:
        return checkpoint(profile, None, timeline, at)
    return checkpoint(profile, horizon.checkpoints[field], [r for r in timeline if r.at >= horizon.at], at)


def _attributes_at(horizon: Horizon | None, timeline: list[TimelineRecord], at: int) -> dict[str, Any]:
    start = horizon.at if horizon else None
    attributes = dict(horizon.attributes) if horizon else {}
    changes = [r for r in timeline if r.type == ATTRIBUTES_TYPE and r.at < at and (start is None or r.at >= start)]
    for record in sorted(changes, key=lambda r: (r.at, r.key)):
        attributes = apply_attribute_changes(attributes, record.properties)
    return attributes


def trim_step(services: Services, now: int, chunk: int = TRIM_CHUNK) -> dict[str, int] | None:
    """One chunk of the trim pass (the ticker's duty; the caller holds the ticker lock). A pass walks every
    bucket of the contact registry, but not one whose bound says none of its records is older than the horizon
    (``_skippable``); the next pass starts ``RETENTION_SWEEP_SECONDS`` after the last one started.
    Returns the chunk's counts (``skipped``: buckets left unread), or None when no pass is due. While the archive
    is unavailable nothing moves."""
    if hot_history_ms(services.settings) is None:
        return None
    position = services.jobs.horizon_pass()
    buckets = services.sharding.buckets
    bucket, start, started = position.get("bucket", buckets), position.get("start", 0), position.get("started_at")
    if bucket >= buckets:  # the last pass finished (or none ran yet)
        period_ms = int(float(services.settings["RETENTION_SWEEP_SECONDS"]) * 1000)
        if started is not None and now - started < period_ms:
            return None
        bucket, start, started = 0, 0, now
        services.timelines.begin_oldest_pass(started)
    if started is None:  # (a position saved without it)
        started = now
    skipped = 0
    if start == 0:
        skip = _skippable(services, now)
        while bucket < buckets and bucket in skip:
            bucket, skipped = bucket + 1, skipped + 1
    if bucket >= buckets:
        _end_pass(services, started, now)
        services.jobs.save_horizon_pass(bucket, 0, started)
        return {"contacts": 0, "records": 0, "waiting": 0, "changed": 0, "skipped": skipped}
    timelines = services.timelines
    if start == 0:
        timelines.take_oldest(bucket)
    page = services.contacts.contact_page(bucket, start, chunk)
    kept: list[int] = []
    try:
        counts = trim(services, page, now, kept)
    except ArchiveUnavailable as exc:
        log.warning("archive unavailable: the hot horizon waits", extra={"error": exc.message})
        return None
    if kept:
        timelines.keep_oldest(bucket, kept[0])
    if len(page) < chunk:
        timelines.settle_oldest(bucket)
        bucket, start = bucket + 1, 0
        if bucket >= buckets:
            _end_pass(services, started, now)
    else:
        start += len(page)
    services.jobs.save_horizon_pass(bucket, start, started)
    if counts["records"] or counts["waiting"]:
        log.info("hot horizon moved", extra=counts)
    return {**counts, "skipped": skipped}


def _end_pass(services: Services, started: int, now: int) -> None:
    """A pass ends: each bucket was walked (its bound taken, then settled) or skipped on bounds that covered
    every record, so from now on they do — if this release's code walked it from its first bucket (one an
    earlier release began took no bounds)."""
    if services.timelines.oldest_pass() == started:
        services.timelines.oldest_cover_all(now)


def _skippable(services: Services, now: int) -> set[int]:
    """The buckets none of whose records can be older than the horizon: each bucket's bound (lowered by every
    write of records, raised by the pass's walk of it) is not before ``now − effective horizon``. None while
    the bounds do not cover every record (a store written by a release before them: the first whole pass
    makes them), nor with ``HOT_HISTORY`` 0."""
    span = effective_horizon_ms(services.settings, services.profiles.active())
    if span is None:
        return set()
    covered, bounds = services.timelines.oldest_bounds()
    if not covered:
        return set()
    target = now - span
    return {b for b in range(services.sharding.buckets) if bounds.get(b, float("inf")) >= target}


def empty_store(services: Services) -> None:
    """Say the bounds cover every record: for a store that holds no timeline record now (the benchmark's
    worlds, made empty; a store a pass walked is said so by the pass), so that its first pass reads only what
    may be old. Every write of records from now on lowers its bucket's bound."""
    services.timelines.oldest_cover_all(services.clock.now_ms())


def trim_all(services: Services, now: int, chunk: int = TRIM_CHUNK) -> dict[str, int]:
    """A whole pass at once (tests, the benchmark): every contact's horizon moved to ``now``'s, each bucket read
    unless its bound says nothing in it is older (``_skippable``), as the ticker's pass does."""
    total = {"contacts": 0, "records": 0, "waiting": 0, "changed": 0, "skipped": 0}
    if hot_history_ms(services.settings) is None:
        return total
    timelines = services.timelines
    skip = _skippable(services, now)
    for bucket in range(services.sharding.buckets):
        if bucket in skip:
            total["skipped"] += 1
            continue
        timelines.take_oldest(bucket)
        start = 0
        while True:
            page = services.contacts.contact_page(bucket, start, chunk)
            kept: list[int] = []
            for name, n in trim(services, page, now, kept).items():
                total[name] += n
            if kept:
                timelines.keep_oldest(bucket, kept[0])
            if len(page) < chunk:
                break
            start += len(page)
        timelines.settle_oldest(bucket)
    timelines.oldest_cover_all(now)
    return total
