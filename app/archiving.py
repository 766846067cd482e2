"""Write-through to the archive: every scored record goes to the archive before its stream entry is deleted.

The order in ``scoring_service.drain`` is: score the batch (its records reach Redis), ``archive_batch``,
then delete the batch's stream entries. ``archive_batch`` makes one ``append`` for the whole batch; the
archive ignores what it already holds, so a batch scored twice (a worker that died before deleting its
entries) is archived once.

An archive outage stops neither ingest nor scoring (docs/archive.md): when the append fails, the batch's
records go to the partition's archive backlog in Redis (``storage/archive_backlog.py``) and the stream
entries are deleted as usual, so scoring goes on. The holder of a partition's lease empties its backlog
into the archive when it starts draining (``flush_backlog``); the ticker wakes partitions whose backlog
waits. Nothing is lost: each record is in the stream, the backlog or the archive at every moment (and in
the contact's timeline in Redis).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from .archive import ArchivedRecord, ArchiveUnavailable
from .scoring.records import TimelineRecord
from .services import Services

log = logging.getLogger(__name__)

#: Backlog items appended to the archive per call while emptying a backlog.
FLUSH_CHUNK = 1000


def archive_batch(services: Services, batch: Mapping[str, Sequence[TimelineRecord]], direct: bool = True) -> bool:
    """Append a scored batch's records to the archive in one call, or, when that fails (or ``direct`` is
    false: the archive already failed during this drain), keep them in the backlog of their contacts'
    partitions. Returns whether the archive took them."""
    archived = [ArchivedRecord(cid, record) for cid, records in batch.items() for record in records]
    if not archived:
        return direct
    if direct:
        try:
            services.archive.append(archived)
            return True
        except ArchiveUnavailable as exc:
            log.warning("archive unavailable: records wait in the archive backlog",
                        extra={"records": len(archived), "error": exc.message})
    by_partition: dict[int, list[list]] = {}
    partition_of = services.sharding.partition_of
    for item in archived:
        by_partition.setdefault(partition_of(item.contact_id), []).append(item.to_json())
    for partition, items in by_partition.items():
        services.archive_backlog.push(partition, items)
    return False


def flush_backlog(services: Services, partition: int) -> bool:
    """Append the partition's backlog to the archive, oldest first, trimming each chunk once it is taken.
    Call it only while holding the partition's lease. Returns whether the backlog is empty now."""
    backlog = services.archive_backlog
    while True:
        items = backlog.oldest(partition, FLUSH_CHUNK)
        if not items:
            return True
        try:
            services.archive.append(ArchivedRecord.from_json(item) for item in items)
        except ArchiveUnavailable as exc:
            log.warning("archive still unavailable: the backlog waits",
                        extra={"partition": partition, "error": exc.message})
            return False
        backlog.trim(partition, len(items))
