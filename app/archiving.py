"""Write-through to the archive: every scored record goes to the archive before its stream entry is deleted.

A drain (``scoring_service.drain``) scores a batch (its records reach Redis) and hands it to its partition's
``Archiver``, a thread that appends the batch to the archive in one ``append`` and only then deletes the
batch's stream entries (``XDEL``) — while the drain reads and scores the next batch. The archiver takes
batches in the order they were scored and confirms them in that order; the drain reads on past entries
still waiting (``read_partition(after=...)``) and, before it lets go of its lease, waits until every
batch it scored is confirmed. The archive ignores what it already holds, so a batch scored twice (a
worker that died before its entries were deleted) is archived once.

An archive outage stops neither ingest nor scoring (docs/archive.md): when an append fails, the batch's
records go to the partition's archive backlog in Redis (``storage/archive_backlog.py``) and the stream
entries are deleted as usual, so scoring goes on. The holder of a partition's lease empties its backlog
into the archive when it starts draining (``flush_backlog``); the ticker wakes partitions whose backlog
waits. Nothing is lost: each record is in the stream, the backlog or the archive at every moment (and in
the contact's timeline in Redis).

Once the archive holds a batch, its records' copies in Redis are trimmed to the properties the rules of the live and
building versions read (``trim_archived``; app/scoring/kept_properties.py): the archive keeps the rest. Only then,
so a copy that lacks a property is always one the archive holds whole. Records that wait in the backlog stay whole
in Redis until it is emptied into the archive, and are trimmed then. Nothing is trimmed until
``kept_properties_once`` was recorded (a worker's start, once no process of a release before lives).
"""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Mapping, Sequence
from types import TracebackType
from typing import Self

from .archive import ArchivedRecord, ArchiveUnavailable, make_archived
from .scoring.kept_properties import PropertyReads, reads_of, trimmer_for
from .scoring.records import TimelineRecord, record_text
from .services import Services

log = logging.getLogger(__name__)

#: Backlog items appended to the archive per call while emptying a backlog.
FLUSH_CHUNK = 1000
#: Scored batches that may wait for the archiver while the drain scores the next one (memory: a batch is
#: ``BATCH_SIZE`` records). 1 already overlaps an append with the next batch's scoring; more absorbs a slow
#: append, and the batches that waited go to the archive together, in one transaction.
PIPELINE_DEPTH = 3


def archive_batch(services: Services, batch: Mapping[str, Sequence[TimelineRecord]], direct: bool = True) -> bool:
    """Append a scored batch's records to the archive in one call, or, when that fails (or ``direct`` is
    false: the archive already failed during this drain), keep them in the backlog of their contacts'
    partitions. Returns whether the archive took them."""
    return archive_batches(services, [batch], direct)


def active_reads(services: Services) -> PropertyReads:
    """What the rules of the workspace's live and building versions read, by type (``kept_properties.reads_of``)."""
    return reads_of(v.profile for v in services.profiles.active())


def trim_archived(services: Services, batches: Sequence[Mapping[str, Sequence[TimelineRecord]]],
                  reads: PropertyReads) -> int:
    """Replace the Redis copies of these archived records by copies with only the properties ``reads`` names for
    their type (``kept_properties.trimmed``), each where it is still stored as the scorer wrote it; returns how many
    were replaced. Call it only once the archive holds them, and once ``kept_properties_once`` was recorded
    (``TimelineStore.copies_trimmed``: no process of a release that would read a trimmed copy as whole lives)."""
    trim = trimmer_for(reads)
    listed = services.timelines.once_keyed()  # (every name code read by every live process: records.py)
    trims: list[list[str]] = []
    for batch in batches:
        for cid, records in batch.items():
            item: list[str] | None = None
            for record in records:
                short = trim(record)
                if short is not None:
                    if item is None:
                        item = [cid]
                        trims.append(item)
                    item += (record.key, record_text(record), record_text(short, listed))
    return services.timelines.trim_records(trims) if trims else 0


def archive_batches(services: Services, batches: Sequence[Mapping[str, Sequence[TimelineRecord]]],
                    direct: bool = True, reads: PropertyReads | None = None) -> bool:
    """``archive_batch`` for several batches in one append (one transaction), their records in order."""
    workspace = services.workspace
    if direct:
        try:  # (the records bound from the batches: no ``ArchivedRecord`` made unless the archive fails)
            services.archive.append_batches(batches, workspace)
        except ArchiveUnavailable as exc:
            log.warning("archive unavailable: records wait in the archive backlog",
                        extra={"records": sum(len(records) for batch in batches for records in batch.values()),
                               "error": exc.message})
        else:
            if reads is not None and services.timelines.copies_trimmed():
                trim_archived(services, batches, reads)
            return True
    archived = [make_archived(cid, record, workspace) for batch in batches
                for cid, records in batch.items() for record in records]
    if not archived:
        return direct
    by_partition: dict[int, list[list]] = {}
    partition_of = services.sharding.partition_of
    for item in archived:
        by_partition.setdefault(partition_of(item.contact_id), []).append(item.to_json())
    for partition, items in by_partition.items():
        services.archive_backlog.push(partition, items)
    return False


class LeaseLost(Exception):
    """The partition's lease was not renewed during ``flush_backlog``: another worker may drain it now."""


def flush_backlog(services: Services, partition: int, renew: Callable[[], bool] | None = None) -> bool:
    """Append the partition's backlog to the archive, oldest first, trimming each chunk once it is taken, and
    then the Redis copies of its records (``trim_archived``). Call it only while holding the partition's lease, and
    give ``renew`` (the lease's renewal) when the backlog may be long: it is asked before each chunk after the first,
    and ``LeaseLost`` raised when it fails — the backlog is trimmed by count, so two flushes of one partition at
    once would drop a chunk neither appended. Returns whether the backlog is empty now."""
    backlog = services.archive_backlog
    reads: PropertyReads | None = None
    first = True
    while True:
        if not first and renew is not None and not renew():
            raise LeaseLost(f"partition {partition}")
        first = False
        items = backlog.oldest(partition, FLUSH_CHUNK)
        if not items:
            return True
        taken = [ArchivedRecord.from_json(item, services.workspace) for item in items]
        try:
            services.archive.append(taken)
        except ArchiveUnavailable as exc:
            log.warning("archive still unavailable: the backlog waits",
                        extra={"partition": partition, "error": exc.message})
            return False
        backlog.trim(partition, len(items))
        if not services.timelines.copies_trimmed():
            continue
        if reads is None:
            reads = active_reads(services)
        by_contact: dict[str, list[TimelineRecord]] = {}
        for archived in taken:
            by_contact.setdefault(archived.contact_id, []).append(archived.record)
        trim_archived(services, [by_contact], reads)


Batch = Mapping[str, Sequence[TimelineRecord]]


class Archiver:
    """The archive's half of a drain: a thread of its own that, for each scored batch in the order it was
    handed, appends its records to the archive (``archive_batch``: the backlog once the archive has failed
    during this drain) and then deletes the batch's stream entries — so a batch is appended while the next
    one is scored, and an entry leaves its stream only once its record is in the archive or the backlog.

    ``submit`` waits while ``depth`` batches are already waiting; the batches waiting when the thread is
    free are appended together (one transaction: an archive that falls behind catches up with larger
    writes); ``close`` waits until every submitted batch is confirmed. Should the thread fail (Redis gone
    while it deletes entries), it leaves the entries of that batch and of every later one in the stream
    (they are scored again, harmlessly, by the next drain) and ``submit``/``close`` raise its error in the
    draining thread.
    """

    def __init__(self, services: Services, partition: int, direct: bool = True, depth: int = PIPELINE_DEPTH):
        self.services = services
        self.partition = partition
        #: Whether batches still go straight to the archive (false once an append failed in this drain).
        self.direct = direct
        #: Batches confirmed so far (appended, or in the backlog, and their entries deleted).
        self.confirmed = 0
        self._waiting: queue.Queue[tuple[Batch, Sequence[str], PropertyReads | None] | None] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"archiver-{partition}", daemon=True)
        self._thread.start()

    def submit(self, batch: Batch, entry_ids: Sequence[str], reads: PropertyReads | None = None) -> None:
        """Hand over a scored batch and the ids of its stream entries, and what the rules it was scored with read
        (its records' copies in Redis are trimmed to that once archived; None: they stay whole)."""
        self._raise()
        self._waiting.put((batch, entry_ids, reads))

    def close(self) -> None:
        """Wait until every batch handed over is confirmed, then end the thread; raises what it met."""
        if self._thread.is_alive():
            self._waiting.put(None)
            self._thread.join()
        self._raise()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            self.close()
            return
        try:  # the batches handed over were scored: archive them before the drain's own error goes up
            self.close()
        except Exception:
            log.exception("archiver failed", extra={"partition": self.partition})

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        done = False
        while not done:
            taken = [self._waiting.get()]
            while taken[-1] is not None:  # batches that wait meanwhile share the append: fewer, larger transactions
                try:
                    taken.append(self._waiting.get_nowait())
                except queue.Empty:
                    break
            if taken[-1] is None:
                done = True
                taken.pop()
            if not taken or self._error is not None:
                continue  # after a failure: the entries stay in their stream
            try:
                # (the reads of the last batch taken: the newest versions known; any is safe, as a copy says what it lacks)
                self.direct = archive_batches(self.services, [batch for batch, _, _ in taken], self.direct,
                                              taken[-1][2])
                self.services.partitions.remove_entries(self.partition, [i for _, ids, _ in taken for i in ids])
                self.confirmed += len(taken)
            except BaseException as exc:  # noqa: BLE001 - handed to the draining thread
                self._error = exc
