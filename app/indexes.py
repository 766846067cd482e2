"""Backfill of the indexes added after contacts existed: prefix search terms, latest activity,
DND per channel, and companies (membership and rolled-up contributions).

New contacts are indexed as they are created (search) and scored (activity, DND); contacts stored
before these indexes existed are indexed once by ``backfill_once`` — run by each worker at
start (the first finished run marks it done) and by ``scorekeeper reindex`` on demand. Every
write is idempotent (the DND index is set from the contact document, which stays the source of
truth), so a run cut short or two workers starting together do no harm.

``rosters_once`` (each worker at start, for every workspace; and every backfill) rewrites the company rosters
that releases before wrote — every contact at 0, with a set of members per company and contact bucket beside
them — into the form the filters read: each contact scored by its contact bucket + 1, no sets. It also runs
``expiries_once``: the due expiries of releases before (one sorted set per bucket) moved into the compact ordered
index (``storage/ordered_index.py``), a page at a time; readers read both until then, so it only gives back memory.
And ``search_once``: the search terms of releases before (one sorted set per bucket) moved into the compact index
(``storage/search_terms.py``), a page at a time; readers read both, so it only gives back memory.

``registry_once`` (each worker at start, once no worker of a release before is alive: app/contact_layout.py) copies
the contact registry of releases before (one sorted set per bucket) into its compact index (``storage/registry.py``);
readers read the old sets alone until it is recorded, and the ticker empties them after.

``roster_index_once`` (likewise, after the same wait) moves each company roster grown past a leaf of the compact
ordered index into one (``storage/companies.py``, ``roster.lua``); readers read a roster's plain set and its index as
one, before, during and after; until it is recorded no roster becomes an index.

``activity_once`` (each worker at start, after the workers of releases before stopped: they would write the old
sets) moves the latest-activity sorted sets of releases before into the compact index (``storage/activity.py``).
``sizes_once`` (likewise, after the same wait, after the moves into indexes) writes each compact index's leaf sizes
anew (``ordered_index.lua``: ``BASE:z``, ``oi_size_all``) for the indexes that are counted: the registry's, the
latest activity's and every company roster's (the search terms and the expiries are never counted: no sizes to
keep). Counts read the sizes where an index has them and walk its leaves where it has none, so before, during and
after the run they are exact; a worker of a release before writes leaves without them, hence the wait, and the run
writes anew even the sizes of a roster index this release made meanwhile (``roster.lua`` sizes a new one).
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .companies import place, rollups_of
from .scoring.interactions import NOT_ACTIVITY_TYPES
from .scoring.records import TimelineRecord
from .services import Services
from .storage.activity import ACTIVITY_MIGRATION
from .storage.companies import ROSTER_INDEX_MIGRATION
from .storage.registry import REGISTRY_MIGRATION
from .storage.score_base import SCORE_BASE_MIGRATION

log = logging.getLogger(__name__)

#: The backfill's name in the migrations hash: bump it when a later index needs its own backfill.
#: (was "search-activity-and-dnd-indexes", before it "search-and-activity-indexes": upgrades run it again)
MIGRATION = "search-activity-dnd-and-company-indexes"
#: The rosters' rewrite (``rosters_once``) in the migrations hash.
ROSTER_MIGRATION = "company-rosters-by-bucket"
#: The expiries' move into the compact ordered index (``expiries_once``) in the migrations hash.
EXPIRY_MIGRATION = "expiries-compact-index"
#: The search terms' move into the compact ordered index (``search_once``) in the migrations hash.
SEARCH_MIGRATION = "search-compact-index"
#: The compact indexes' leaf sizes written (``sizes_once``) in the migrations hash.
SIZES_MIGRATION = "ordered-index-sizes"
#: Compact indexes whose sizes are written per round trip (one atomic call each: ~1 ms of Redis a 1,000 leaves).
SIZES_AT_ONCE = 16
#: The search terms whose text derives their contact rewritten without its id (``search_short_once``).
SEARCH_SHORT_MIGRATION = "search-terms-short"
#: Registry entries copied per page (a round trip to read their created_at, a script call to add them).
REGISTRY_PAGE = 1000
#: Activity entries moved per page.
ACTIVITY_PAGE = 500
#: Expiries moved per round trip.
EXPIRY_PAGE = 500
#: Search terms moved per script call.
SEARCH_PAGE = 500
#: Contacts read per round trip while backfilling.
BACKFILL_PAGE = 500


@dataclass(frozen=True)
class Backfill:
    contacts: int
    terms: int
    active: int
    dnd: int = 0
    #: contacts placed in (or moved to) their company
    companies: int = 0


def backfill(services: Services, page: int = BACKFILL_PAGE) -> Backfill:
    """Index every stored contact's search terms, latest interaction and DND channels."""
    contacts = terms = active = dnd = placed = 0
    services.companies.place_rosters()  # before placing: a contact at 0 in the right roster needs no move
    rollups = rollups_of(services.profiles.active())
    for ids in services.contacts.contact_pages(page):
        contacts += len(ids)
        terms += services.contacts.index_search_terms(ids)
        latest = latest_activity(services.timelines.read_timelines(ids))
        channels = {cid: flags for cid, flags in services.contacts.dnd_of(ids).items() if flags}
        services.scores.update_indexes({}, {}, latest, channels)
        active += len(latest)
        dnd += sum(1 for flags in channels.values() if any(flags.values()))
        placed += place(services, ids, check_rosters=True)
        if rollups:  # contributions from the score index (idempotent: a contact already counted is set again)
            services.companies.contribute(services.companies.scores_of(ids, rollups))
    return Backfill(contacts, terms, active, dnd, placed)


def latest_activity(timelines: dict[str, list[TimelineRecord]]) -> dict[str, int]:
    """Each contact's latest activity as the drain writes it (``app/scorer.py``): its latest record's time, manual
    score changes and attribute changes left out (``NOT_ACTIVITY_TYPES``); a contact with none is left out."""
    out = {}
    for cid, records in timelines.items():
        times = [r.at for r in records if r.type not in NOT_ACTIVITY_TYPES]
        if times:
            out[cid] = max(times)
    return out


def expiries_once(services: Services, page: int = EXPIRY_PAGE) -> int | None:
    """The expiries of releases before moved into the compact ordered index, bucket by bucket, a page per round
    trip (online: the writers write only the new index, the ticker reads and forgets in both; a run cut short
    resumes where the sets stand), unless a finished run was recorded; returns the expiries moved."""
    if services.jobs.migration_done(EXPIRY_MIGRATION):
        return None
    started = time.monotonic()
    moved = 0
    for bucket in range(services.sharding.buckets):
        while n := services.scores.old_expiries_page(bucket, page):
            moved += n
    services.jobs.record_migration(EXPIRY_MIGRATION, int(time.time() * 1000))
    log.info("expiries moved to the compact index", extra={"expiries": moved,
                                                           "seconds": round(time.monotonic() - started, 3)})
    return moved


def search_once(services: Services, page: int = SEARCH_PAGE) -> int | None:
    """The search terms of releases before moved into the compact ordered index, bucket by bucket, a page at a time
    (``SearchTerms.move_before``: readers read the sets first, so a term is found before, during and after; a rename
    meanwhile is not undone), unless a finished run was recorded; returns the terms moved. Online and resumable: a
    run cut short leaves the rest in the sets; a worker of the release before that writes one after stays read."""
    if services.jobs.migration_done(SEARCH_MIGRATION):
        return None
    started = time.monotonic()
    moved = 0
    for bucket in range(services.sharding.buckets):
        while (n := services.contacts.search.move_before(bucket, page)) == page:
            moved += n
        moved += n
    services.jobs.record_migration(SEARCH_MIGRATION, int(time.time() * 1000))
    log.info("search terms moved to the compact index", extra={"terms": moved,
                                                              "seconds": round(time.monotonic() - started, 3)})
    return moved


def registry_once(services: Services, page: int = REGISTRY_PAGE) -> int | None:
    """The contact registry of releases before copied into its compact index, bucket by bucket, a page at a time
    (``ContactRegistry.copy_before``: each contact at its ``created_at``, so a copy made twice, or of a contact the
    drain moved in already, adds nothing), unless a finished run was recorded; returns the contacts copied. Until it
    is recorded readers read the old sets alone and writers write both, so a contact made meanwhile is read, and
    then copied or moved in from beside the index; a run cut short copies again. Run once no worker of a release
    before is alive (they write only the old sets): after the record, only the ticker's sweep reads those."""
    registry = services.contacts.registry
    if services.jobs.migration_done(REGISTRY_MIGRATION):
        registry.moved(recheck=True)
        return None
    started = time.monotonic()
    copied = 0
    for bucket in range(services.sharding.buckets):
        start = 0
        while n := registry.copy_before(bucket, start, page):
            start += n
        copied += start
    services.jobs.record_migration(REGISTRY_MIGRATION, int(time.time() * 1000))
    registry.moved(recheck=True)
    log.info("contact registry copied to the compact index", extra={"contacts": copied,
                                                                   "seconds": round(time.monotonic() - started, 3)})
    return copied


def roster_index_once(services: Services) -> int | None:
    """Every company roster grown past a leaf moved into its compact ordered index (``CompanyIndex.index_rosters``,
    a page of ``ROSTER_MOVE_PAGE`` contacts an atomic call; a run cut short moves the rest the next time), unless a
    finished run was recorded; returns the contacts moved. Readers read a roster's plain set and its index as one
    whatever the split. Run once no worker of a release before is alive (they read and write the plain set alone);
    from the record on, rosters grow into indexes (``company_member.lua``, the ticker's ``CompanyIndex.tidy``)."""
    companies = services.companies
    if services.jobs.migration_done(ROSTER_INDEX_MIGRATION):
        companies.moved(recheck=True)
        return None
    started = time.monotonic()
    moved = companies.index_rosters()
    services.jobs.record_migration(ROSTER_INDEX_MIGRATION, int(time.time() * 1000))
    companies.moved(recheck=True)
    log.info("company rosters moved to compact indexes", extra={"contacts": moved,
                                                                "seconds": round(time.monotonic() - started, 3)})
    return moved


def activity_once(services: Services, page: int = ACTIVITY_PAGE) -> int | None:
    """The latest-activity sorted sets of releases before moved into the compact ordered index, bucket by bucket, a
    page at a time (``ActivityIndex.move_before``: each contact's time becomes the later of the old entry and any it
    has in the index, and the old entry goes, atomically on one Redis; readers read both as one meanwhile), unless a
    finished run was recorded; returns the entries moved. Online and resumable."""
    if services.jobs.migration_done(ACTIVITY_MIGRATION):
        return None
    started = time.monotonic()
    moved = 0
    for bucket in range(services.sharding.buckets):
        while n := services.scores.activity.move_before(bucket, page):
            moved += n
    services.jobs.record_migration(ACTIVITY_MIGRATION, int(time.time() * 1000))
    log.info("latest activity moved to the compact index", extra={"contacts": moved,
                                                                 "seconds": round(time.monotonic() - started, 3)})
    return moved


def sizes_once(services: Services, at_once: int = SIZES_AT_ONCE) -> int | None:
    """Every compact ordered index's leaf sizes written anew from its leaves (``OrderedIndex.sizes_call``, atomic per
    index), unless a finished run was recorded; returns the entries the indexes hold. Online and idempotent: counts
    walk an index's leaves until it has sizes. Run once no worker of a release before is alive (they write leaves
    and not the sizes)."""
    if services.jobs.migration_done(SIZES_MIGRATION):
        return None
    started = time.monotonic()
    keys, buckets = services.keys, range(services.sharding.buckets)
    bases = [key(b) for b in buckets for key in (keys.registry_index, keys.activity_index)]
    bases += services.companies.roster_keys()
    entries = services.scores.ordered.write_sizes(bases, at_once)
    services.jobs.record_migration(SIZES_MIGRATION, int(time.time() * 1000))
    log.info("compact index sizes written", extra={"indexes": len(bases), "entries": entries,
                                                    "seconds": round(time.monotonic() - started, 3)})
    return entries


def rosters_once(services: Services) -> int | None:
    """The company rosters' rewrite (``CompanyIndex.place_rosters``: each contact scored by its contact bucket, the
    per-bucket member sets of releases before dropped), unless a finished run was recorded; returns the contacts
    rewritten. Readers take both forms, so this only gives back memory. Each worker runs it at start, so it first
    runs ``expiries_once`` and ``search_once`` (the index migrations of this module, each recorded on its own)."""
    expiries_once(services)
    search_once(services)
    if services.jobs.migration_done(ROSTER_MIGRATION):
        return None
    started = time.monotonic()
    rewritten = services.companies.place_rosters()
    services.jobs.record_migration(ROSTER_MIGRATION, int(time.time() * 1000))
    log.info("company rosters rewritten", extra={"contacts": rewritten,
                                                 "seconds": round(time.monotonic() - started, 3)})
    return rewritten


def backfill_once(services: Services) -> Backfill | None:
    """The backfill, unless a finished run was recorded; records this one when it finishes."""
    if services.jobs.migration_done(MIGRATION):
        return None
    started = time.monotonic()
    result = backfill(services)
    services.jobs.record_migration(MIGRATION, int(time.time() * 1000))
    log.info("indexes backfilled", extra={"contacts": result.contacts, "terms": result.terms,
                                          "active": result.active, "dnd": result.dnd, "seconds": round(time.monotonic() - started, 3)})
    return result


def search_short_once(services: Services, page: int = SEARCH_PAGE) -> int | None:
    """Every search term whose text derives its contact (its lower-case email's or external id's) rewritten
    without the contact id (``storage/contacts.py: search_member``), bucket by bucket: the terms written beside the
    index moved in first, then the index walked a page per script call, each page's terms replaced atomically
    (``ContactStore.shorten_search_terms``); readers read both forms, so nothing they answer changes. Unless a
    finished run was recorded (``search_once`` runs first: the sets of releases before emptied); records this one.
    Returns the terms rewritten."""
    if services.jobs.migration_done(SEARCH_SHORT_MIGRATION):
        return None
    search_once(services)
    started = time.monotonic()
    contacts, rewritten = services.contacts, 0
    for bucket in range(services.sharding.buckets):
        while contacts.search.absorb(bucket):
            pass
        after: str | None = None
        while True:
            after, n = contacts.shorten_search_terms(bucket, after, page)
            rewritten += n
            if after is None:
                break
    services.jobs.record_migration(SEARCH_SHORT_MIGRATION, int(time.time() * 1000))
    log.info("search terms whose text derives their contact stored without its id",
             extra={"terms": rewritten, "seconds": round(time.monotonic() - started, 3)})
    return rewritten


def score_base_once(services: Services) -> None:
    """Record ``SCORE_BASE_MIGRATION`` (a worker's start, after the wait for workers of releases before): from then
    on the ticker absorbs the score index into its base. Nothing moves."""
    if not services.jobs.migration_done(SCORE_BASE_MIGRATION):
        services.jobs.record_migration(SCORE_BASE_MIGRATION, int(time.time() * 1000))


def absorb_scores(services: Services, now: int) -> int | None:
    """The ticker's absorb of the score index (``storage/score_base.py``): every version scored (live and building),
    a page of each bucket a tick while a pass runs, a pass every ``SCORE_ABSORB_SECONDS``; none before
    ``score_base_once`` recorded that no worker of a release before is alive. Returns the entries moved, or None
    when no pass was due."""
    if not services.jobs.migration_done(SCORE_BASE_MIGRATION):
        return None
    versions = [(v.profile.id, v.version) for v in services.profiles.active()]
    period_ms = int(float(services.settings["SCORE_ABSORB_SECONDS"]) * 1000)
    return services.scores.absorb_step(versions, now, period_ms)
