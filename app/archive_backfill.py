"""The archive backfill: history that only Redis holds (written before the archive existed) is copied into it.

A deployment that ran a release before the archive (docs/archive.md) has its whole history in its contacts'
timelines, and none of it in the archive. The hot horizon (app/horizon.py) deletes from Redis only what the archive
holds, so without this nothing of that history would ever leave Redis. The backfill walks every contact of a
workspace once, a page at a time (``backfill_step``), reads the page's timelines through the timeline gateway,
asks the archive which of their records it holds (``held_keys``) and appends the others (``append``), then saves
its place (``storage/archive_backfill.py``). After it, the trim pass finds that history archived and moves it out
of Redis like any other.

Why it is safe to run at any moment, any number of times:

- the archive keeps the first record of each key and ignores the rest, so a page appended twice (a crash between
  the append and the saved position, a second run) stores nothing twice;
- a timeline record is the record the contact's scores were folded from (the first of its key), and the live
  archiver appends the same record: whichever comes first, the archive ends up with the timeline's;
- the walk only reads Redis (never writes a contact), so live scoring and the trim pass are never in its way; the
  trim pass deletes only records the archive holds, so a record the walk has not reached yet stays where it is;
- contacts made after the walk passed their place have every record archived by the live path;
- a copy that lacks properties (Redis keeps of an archived interaction only what the rules read:
  app/scoring/kept_properties.py) is never appended: it was trimmed after an archive took its whole record, so an
  archive that does not hold it is not the one the deployment wrote to (a new, empty one in place of the old). Stored
  as if whole, it would make every later fold of a version that reads what it lacks wrong; left out, it stays in
  Redis (the horizon deletes only what the archive holds) and is counted (``short``) and logged, so the operator
  can copy the old archive's rows in, after which a walk ``--again`` finds them held.

The worker's ticker runs one page per tick in every workspace until the walk finishes (then one read per tick);
``scorekeeper archive backfill`` runs the walk at once with a progress bar.
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from .archive import ArchivedRecord, ArchiveUnavailable
from .services import Services

log = logging.getLogger(__name__)

#: Contacts read per page (one timeline read, one ``held_keys`` and at most one ``append`` per page).
PAGE = 200
#: Contacts per tick of a worker's ticker: smaller, so that a page of long timelines stays well inside the
#: ticker's lock (three ticks) beside the ticker's other duties.
TICK_PAGE = 100
#: The ``migrations`` entry written when a walk finished.
MIGRATION = "archive-backfill"


def backfill_step(services: Services, page: int = PAGE) -> dict[str, int] | None:
    """Copy one page of contacts' Redis-held records into the archive and move the walk on. Returns the page's
    counts (``contacts`` visited, ``records`` appended, ``held`` already archived), or None once the walk has
    finished. Raises ``ArchiveUnavailable`` (the position stays: the page is read again next time)."""
    walk = services.archive_backfill
    position = walk.position()
    if position.finished_at is not None:
        return None
    bucket, score, last = position.bucket, position.score, position.contact_id
    buckets = services.sharding.buckets
    found: list[tuple[str, str]] = []
    while bucket < buckets:
        found = walk.next_page(bucket, score, last, page)
        if found:
            break
        bucket, score, last = bucket + 1, "", ""
    now = services.clock.now_ms()
    if not found:
        walk.advance(bucket, "", "", now)
        walk.finish(now)
        services.jobs.record_migration(MIGRATION, now)
        log.info("archive backfill finished", extra={"workspace": services.workspace, **(position.counts or {})})
        return None
    counts = copy_to_archive(services, [cid for cid, _ in found])
    last, score = found[-1]
    walk.advance(bucket, score, last, now, **counts)
    return counts


def copy_to_archive(services: Services, contact_ids: list[str]) -> dict[str, int]:
    """Append these contacts' timeline records the archive does not hold yet, but for the copies that lack
    properties (the module's docstring); returns the counts."""
    timelines = services.timelines.read_timelines(contact_ids)
    keys = [(cid, r.source, r.id) for cid, records in timelines.items() for r in records]
    held = services.archive.held_keys(keys, services.workspace) if keys else set()
    missing = [(cid, r) for cid, records in timelines.items() for r in records if (cid, r.source, r.id) not in held]
    whole = [ArchivedRecord(cid, r, services.workspace) for cid, r in missing if not r.dropped]
    short = len(missing) - len(whole)
    if short:
        log.warning("copies in Redis that lack properties are not in the archive: their whole records were in an "
                    "archive this one is not (copy that archive's rows in, then run the backfill --again)",
                    extra={"workspace": services.workspace, "copies": short,
                           "contacts": sorted({cid for cid, r in missing if r.dropped})[:10]})
    appended = services.archive.append(whole) if whole else 0
    return {"contacts": len(contact_ids), "records": appended, "held": len(keys) - len(missing), "short": short}


def backfill(services: Services, on_page: Callable[[int], None] | None = None,
             page: int = PAGE) -> dict[str, int]:
    """Run the walk to its end (resuming where it stands); ``on_page(n)`` after each page of ``n`` contacts (the
    CLI's progress bar). Returns the counts of this run."""
    total = {"contacts": 0, "records": 0, "held": 0, "short": 0}
    while (counts := backfill_step(services, page)) is not None:
        for name, n in counts.items():
            total[name] += n
        if on_page:
            on_page(counts["contacts"])
    return total


def nothing_before_the_archive(services: Services) -> None:
    """Record the walk of this workspace as finished without reading anything: for data that a release with the
    archive wrote from the start (the benchmark's worlds), whose every record the live path archived. Not done when
    a workspace is made: its key would make the workspace look not empty to a restore."""
    services.archive_backfill.finish(services.clock.now_ms())


def backfill_tick(services: Services) -> dict[str, int] | None:
    """The ticker's share: one page while the walk is not finished; an unavailable archive only waits."""
    try:
        return backfill_step(services, TICK_PAGE)
    except ArchiveUnavailable as exc:
        log.warning("archive unavailable: the archive backfill waits", extra={"error": exc.message})
        return None
