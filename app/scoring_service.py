"""Draining a partition: take accepted interactions in batches, score them, hand events on.

Only the holder of a partition's lease drains it, so one contact's interactions are
applied by one worker at a time. Entries leave the stream only after their contacts are
written and their records archived (app/archiving.py: the archiver thread appends a batch
while the next is scored); a worker that dies mid-batch leaves them for the next, and
re-applying them is harmless because the timeline and the archive already hold them
(idempotency by ``source:id``).
"""
from __future__ import annotations

import gc
import logging
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from . import metrics
from .archiving import Archiver, LeaseLost, archive_batch, flush_backlog
from .ingest import wake_partition
from .membership import Membership
from .scorer import ContactResult, Overlap, Reads, Scorer, record_keys_apart
from .scoring.events import event_from_json
from .scoring.records import TimelineRecord, make_record
from .scoring.vocabulary import vocabulary_of
from .services import Services
from .settings import setting
from .storage.profiles import ActiveVersion
from .storage.redis_tools import Later

log = logging.getLogger(__name__)


def make_scorer(services: Services) -> Scorer:
    return Scorer(services.timelines, services.scores, services.profiles, services.grades,
                  Membership(services.smart_lists, services.contacts), services.companies,
                  archive=services.archive, workspace=services.workspace)


def score_and_dispatch(services: Services, scorer: Scorer, batch: Mapping[str, Sequence[Mapping[str, Any]]],
                       now: int, versions: Sequence[ActiveVersion] | None = None, *, later: Later | None = None,
                       reads: Reads | None = None, overlap: Overlap | None = None) -> dict[str, ContactResult]:
    """Score a batch, then hand its committed events to the listener (``services.events``): the one
    path of live scoring — worker batches, expiry ticks, manual and workflow score changes.

    The listener is asked once what it wants to hear about; the scorer writes only those events,
    in the same atomic write as the scores. ``later``, ``reads``, ``overlap``: a drain's (``Scorer.score``).
    """
    interest = services.events.interest()
    results = scorer.score(batch, now, interest, versions, later=later, reads=reads, overlap=overlap)
    if interest:
        if overlap is not None:  # a workflow hears of the batch once its index writes are in
            overlap.confirm()
        dispatch_outbox(services, batch)
    return results


def score_record(services: Services, contact_id: str, record: TimelineRecord, at: int) -> dict[str, ContactResult]:
    """Score one record made outside the streams (a manual score change, an attribute change) and archive it,
    as a drained batch is (app/archiving.py)."""
    batch = {contact_id: [record]}
    results = score_and_dispatch(services, make_scorer(services), batch, at)
    archive_batch(services, batch)
    return results


def recheck_lists(services: Services, contact_ids: Sequence[str]) -> None:
    """Decide again, at once, whether the profiles with include/exclude lists score these contacts (after
    their tags changed, or a list those profiles use did): app/membership.py."""
    gated = [v for v in services.profiles.active() if v.profile.include or v.profile.exclude]
    if gated and contact_ids:
        score_and_dispatch(services, make_scorer(services), {cid: [] for cid in contact_ids},
                           services.clock.now_ms(), gated)


def recheck_all_lists(services: Services, page_size: int = 500) -> int:
    """``recheck_lists`` for every contact, a page at a time (a job, after a list a profile uses changed)."""
    done = 0
    for page in services.contacts.contact_pages(page_size):
        recheck_lists(services, page)
        done += len(page)
    return done


def dispatch_outbox(services: Services, contact_ids: Iterable[str]) -> int:
    """Hand the committed outbox events of these contacts to the listener, then drop them."""
    outboxes = services.timelines.drain_outbox(list(contact_ids))
    if not outboxes:
        return 0
    events = [event_from_json(event) for pending in outboxes.values() for event in pending]
    services.events.handle(events)
    services.timelines.ack_outbox({cid: len(pending) for cid, pending in outboxes.items()})
    return len(events)


def parse_entries(entries: Sequence[tuple[str, Mapping[str, Any]]]) -> tuple[dict[str, list[TimelineRecord]],
                                                                            list[TimelineRecord]]:
    """Stream entries as a batch (contact id -> records, a tick's contact with none) and the interactions in it."""
    batch: dict[str, list[TimelineRecord]] = {}
    records: list[TimelineRecord] = []
    for _entry_id, data in entries:
        if "tick" in data:
            batch.setdefault(data["tick"], [])
            continue
        r = data["r"]  # TimelineRecord.from_json, without a call more per entry
        record = make_record(r["id"], r["src"], r["t"], r["at"], r.get("p") or {})
        cid = data["c"]
        contact = batch.get(cid)
        if contact is None:
            contact = batch[cid] = []
        contact.append(record)
        if "a" in data:
            contact.append(TimelineRecord.from_json(data["a"]))
        records.append(record)
    return batch, records


def score_entries(services: Services, scorer: Scorer, entries: list[tuple[str, dict[str, Any]]],
                  learnt: set[tuple[str, str]] | None = None) -> tuple[int, dict[str, list[TimelineRecord]]]:
    """Score one batch of stream entries; returns the number of interactions in it and its records by
    contact (what the archiver appends before the entries are deleted)."""
    batch, records = parse_entries(entries)
    score_parsed(services, scorer, batch, records, learnt)
    return len(records), batch


def _unlearnt(records: Sequence[TimelineRecord], shapes: set[tuple[str, tuple[str, ...]]]) -> list[TimelineRecord]:
    """The records whose vocabulary pairs a drain may not know yet: those of a type and property names (flat:
    no object values, whose names would count too) not seen before in it (``shapes``, updated here)."""
    out = []
    for record in records:
        properties = record.properties
        flat = True
        for value in properties.values():  # (the class, not isinstance(): a call less per value; the records come
            if value.__class__ is dict:     # from the streams' JSON, whose objects are exactly dicts)
                flat = False
                break
        if flat:
            shape = (record.type, tuple(properties))
            if shape in shapes:
                continue
            shapes.add(shape)
        out.append(record)
    return out


def score_parsed(services: Services, scorer: Scorer, batch: dict[str, list[TimelineRecord]],
                 records: Sequence[TimelineRecord], learnt: set[tuple[str, str]] | None = None, *,
                 later: Later | None = None, reads: Reads | None = None, overlap: Overlap | None = None,
                 shapes: set[tuple[str, tuple[str, ...]]] | None = None) -> None:
    """Score a batch ``parse_entries`` made, and tell the vocabulary store the (type, property) pairs it brings.

    ``learnt``: the vocabulary pairs this drain already told the store (updated here), so a batch that
    brings nothing new makes no round trip for it; ``shapes`` (the drain's, updated here) the records of a
    type and property names it saw before, whose pairs it knows. ``later``, ``reads``, ``overlap``: a drain's."""
    score_and_dispatch(services, scorer, batch, services.clock.now_ms(), later=later, reads=reads, overlap=overlap)
    pairs = vocabulary_of(records if shapes is None else _unlearnt(records, shapes)) - (learnt or set())
    if pairs:
        services.vocabulary.remember(pairs)
        if learnt is not None:
            learnt |= pairs


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for one batch (docs/performance.md, "Scoring, again").

    A batch makes a few hundred thousand small containers (parsed entries, fold states, records, payloads) that
    live until the batch ends and are then freed by reference counting. While they live, every 700 allocations
    start a collection that walks them, survivors are promoted, and about every second batch ends in a full
    collection over the whole process: a third of the worker's CPU in a drain. Nothing of a batch needs the
    collector (it makes no cycles that outlive it), so the collector waits until the batch is over; whatever
    cycles there are are collected by the next collection after it. A no-op when the collector is already off
    (nested, or turned off by the caller)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


#: Batches one drain scores at most (``drain``'s ``max_batches``: a worker's drain job, app/jobs.py).
DRAIN_BATCHES = 100

#: Batches a drain scores between two runs of the cyclic collector (``BatchCollector``): as many as a drain job
#: scores, so a worker's drain lets it run at its end (and after a batch that raised), not in between. Each young
#: collection walks every container the batches left alive since the last, and the fold states the scorer keeps
#: decoded (``DecodedStates``: at row 1's size ~1,000 contacts' a batch, a dozen containers each) stay alive: run
#: after every tenth batch, it walked ~10,000 states each time, 87 young and 8 middle collections in a drain of 1M,
#: ~7 % of the scoring thread's CPU (docs/performance.md, "Row 1 (2026-12-06, fourth session)"). A cycle a batch
#: makes (none is known) waits at most this many batches.
COLLECT_EVERY_BATCHES = DRAIN_BATCHES


class BatchCollector:
    """The cyclic collector paused over a drain's batches (``collector_paused``'s reasons), and let run after every
    ``every``-th batch, after a batch that raised, and at ``resume`` (the drain's end): one young collection per
    batch walked the batch's survivors and, every tenth, the middle generation again (docs/performance.md, "Row 1
    (2026-12-06, second session)"); the fold states kept decoded made even every tenth dear (``COLLECT_EVERY_BATCHES``).
    A collector already off when the first batch starts (the caller's) is left off."""

    __slots__ = ("every", "_left", "_paused")

    def __init__(self, every: int = COLLECT_EVERY_BATCHES) -> None:
        self.every = every
        self._left = every
        self._paused = False

    @contextmanager
    def batch(self, counted: bool = True) -> Iterator[None]:
        """One batch with the collector paused; ``counted``: one of the ``every`` (not a drain's first read)."""
        if not self._paused:
            if not gc.isenabled():
                yield
                return
            gc.disable()
            self._paused = True
        try:
            yield
        except BaseException:
            self.resume()
            raise
        self._left -= counted
        if self._left <= 0:
            self.resume()

    def resume(self) -> None:
        """The collector on again (when this pause turned it off)."""
        if self._paused:
            self._paused = False
            self._left = self.every
            gc.enable()


class _Ahead(Overlap):
    """A drain's overlap while it scores one batch (``Scorer.score``; docs/performance.md, "Scoring, again"): the
    next batch's stream entries are asked for before this batch is scored; once this batch's first writes are
    sent, the next batch's contacts that this one does not hold have their states read (read_batch.lua), and once
    its last writes are sent, the others', on the same connection, so they see this batch's writes. The score
    index writes are sent, and confirmed (``confirm``) only when the batch's entries are let go."""

    def __init__(self, services: Services, scorer: Scorer, later: Later, partition: int,
                 entries: list[tuple[str, dict[str, Any]]], batch: dict[str, list[TimelineRecord]]):
        super().__init__()
        self.scorer = scorer
        self.later = later
        self.batch = batch
        self.entry_ids = [entry_id for entry_id, _ in entries]
        self._entries = services.partitions.read_partition_later(later, partition,
                                                                 int(services.settings["BATCH_SIZE"]), entries[-1][0])
        #: The next batch: its entries, records by contact, interactions, and reads (once ``all_sent``).
        self.next_entries: list[tuple[str, dict[str, Any]]] | None = None
        self.next_batch: dict[str, list[TimelineRecord]] = {}
        self.next_records: list[TimelineRecord] = []
        self._apart: Reads | None = None
        #: The record keys of the next batch's contacts that this one holds (read once its last writes are sent).
        self._shared_keys: dict[str, list[str]] = {}
        self._shared: Reads | None = None

    def first_sent(self) -> None:
        if self.next_entries is not None:
            return
        self.next_entries = self._entries()
        if self.next_entries:
            self.next_batch, self.next_records = parse_entries(self.next_entries)
            apart, self._shared_keys = record_keys_apart(self.next_batch, self.batch)
            self._apart = self.scorer.read_ahead(apart, self.later)

    def all_sent(self) -> None:
        self.first_sent()
        if self._shared is None and self.next_entries:
            self._shared = self.scorer.read_ahead(self._shared_keys, self.later)

    def next_reads(self) -> Reads | None:
        """The next batch's reads (None when there is none)."""
        self.all_sent()
        apart, shared = self._apart, self._shared
        if apart is None or shared is None:
            return None
        return lambda: {**apart(), **shared()}


def drain(services: Services, partition: int, max_batches: int = DRAIN_BATCHES) -> int:
    """Drain up to ``max_batches`` batches of the partition; returns interactions scored.

    Each scored batch goes to the partition's ``Archiver``, which deletes its entries once its records are
    archived; the next batch is read from after the last entry read, and scored meanwhile. Redis's work
    overlaps the drain's own (``Later``, ``_Ahead``): each chunk of a batch's writes is sent as soon as it is
    computed, the next batch is read while this one is scored, and a batch's index writes are confirmed while
    the next batch is scored, before its entries are handed to the archiver. The lease is let go only after
    every batch is confirmed.

    The drain takes the lease and the wake mark together (``PartitionQueue.take``): what arrives while it holds
    them queues no job, the drain reads it. Once the partition is empty it may wait a few ms for more
    (``_linger``); it lets go with a last look at the stream (``PartitionQueue.let_go``) and queues a job for what
    came after that look."""
    store = services.partitions
    settings = services.settings
    token = uuid.uuid4().hex
    lease_ms = int(settings["LEASE_MS"])
    if not store.take(partition, token, lease_ms):
        return 0  # its holder sees what waits before it lets go
    collector = BatchCollector()
    try:
        scored = _drain_batches(services, partition, max_batches, token, lease_ms, collector)
    except BaseException:
        store.drop(partition, token)  # the ticker wakes the partition for what waits
        raise
    finally:
        # (after the batches' objects are gone: the young collection walks what outlives the drain, not the fold
        # states its scorer kept decoded)
        collector.resume()
    if store.let_go(partition, token):  # entries came after the last look: a job for them
        services.enqueue.drain_partition(partition)
    return scored


def _drain_batches(services: Services, partition: int, max_batches: int, token: str, lease_ms: int,
                   collector: BatchCollector) -> int:
    """``drain``'s batches, with the lease held: returns interactions scored. Its objects (the scorer with the
    fold states it keeps decoded, the batches) are gone when it returns, before ``drain`` lets the collector run."""
    store = services.partitions
    settings = services.settings
    scorer = make_scorer(services)
    learnt: set[tuple[str, str]] = set()
    shapes: set[tuple[str, tuple[str, ...]]] = set()
    scored = 0
    # Once the archive fails during this drain, later batches go to the backlog without trying it again.
    try:
        direct = flush_backlog(services, partition, lambda: store.renew_lease(partition, token, lease_ms))
    except LeaseLost:
        log.warning("lost partition lease", extra={"partition": partition})
        return 0
    with Archiver(services, partition, direct=direct) as archiver, \
            services.timelines.later() as later:
        with collector.batch(counted=False):  # (a drain job's batches are DRAIN_BATCHES after its first read)
            entries = store.read_partition(partition, int(settings["BATCH_SIZE"]))
            batch, records = parse_entries(entries)
        reads: Reads | None = None
        scored_before: tuple[_Ahead, float] | None = None  # the batch scored, not yet confirmed
        last: str | None = None  # the last entry read

        def confirm(done: tuple[_Ahead, float]) -> None:
            ahead, seconds = done
            ahead.confirm()
            archiver.submit(ahead.batch, ahead.entry_ids, scorer.reads)
            metrics.count_batch(services, len(ahead.entry_ids), seconds)

        for _ in range(max_batches):
            if not entries:
                if scored_before is not None:  # what was scored is confirmed before any wait
                    confirm(scored_before)
                    scored_before = None
                entries = _linger(services, partition, last)
                if not entries:
                    break
                batch, records = parse_entries(entries)
                reads = None
            with collector.batch():
                started = time.perf_counter()
                ahead = _Ahead(services, scorer, later, partition, entries, batch)
                score_parsed(services, scorer, batch, records, learnt, later=later, reads=reads, overlap=ahead,
                             shapes=shapes)
                seconds = time.perf_counter() - started
                if scored_before is not None:
                    confirm(scored_before)
                scored_before = (ahead, seconds)
                scored += len(records)
                reads = ahead.next_reads()
            if not store.renew_lease(partition, token, lease_ms):
                log.warning("lost partition lease", extra={"partition": partition})
                break
            assert ahead.next_entries is not None
            last = entries[-1][0]
            entries, batch, records = ahead.next_entries, ahead.next_batch, ahead.next_records
        if scored_before is not None:
            confirm(scored_before)
    return scored


def _linger(services: Services, partition: int, last: str | None) -> list[tuple[str, dict[str, Any]]]:
    """What arrives in the partition within ``DRAIN_LINGER_MS`` after the entry ``last``, when the drain has scored
    something and no job waits in the queues (a run, another partition's drain): the drain holding the partition
    takes it, instead of a job queued for it (RQ's bookkeeping, the lease, the scorer's set-up again). While the
    drain holds the lease its token is the wake mark, so nothing queues a job for what arrives meanwhile."""
    wait_ms = int(setting(services.settings, "DRAIN_LINGER_MS"))
    if last is None or wait_ms <= 0 or not services.jobs.idle():
        return []
    return services.partitions.linger(partition, last, wait_ms, int(services.settings["BATCH_SIZE"]))


def tick(services: Services, stalled_after_s: float = 10.0) -> dict[str, int]:
    """Periodic duties: due expiries become ticks in their partitions; stalled partitions are woken."""
    store = services.partitions
    partition_of = services.sharding.partition_of
    due = services.scores.due_expiries(services.clock.now_ms())
    for expiry in due:
        store.push_tick(partition_of(expiry.contact_id), expiry.contact_id)
        services.scores.forget_expiry(expiry)
    touched = {partition_of(expiry.contact_id) for expiry in due}
    woken = 0
    waiting = services.archive_backlog.depths()  # records waiting for the archive: a drain retries them
    for partition, depth in enumerate(store.partition_depths()):
        if partition in touched or ((depth or waiting[partition]) and not store.lease_held(partition)):
            # a drain that died leaves its mark: nothing else would queue a job before the mark is old
            wake_partition(services, partition,
                           force=store.wake_age(partition) > stalled_after_s or store.orphaned(partition))
            woken += 1
    return {"expiries": len(due), "woken": woken}
