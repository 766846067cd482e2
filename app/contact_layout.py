"""The contact hash's migration: each contact's fold states, which releases before kept in a hash of their own
(``Keys.states_before``), moved into the contact's hash beside its document (``Keys.contact``) — one key a contact
fewer (docs/performance.md, row 5a).

Online and resumable: ``move_states.lua`` moves one contact's states in one atomic step, and until then every
reader and writer (storage/timelines.py, contacts.py, queries.py, snapshot.py and their scripts) looks for them in
the old hash first, so the move changes nothing anyone reads; nothing of this release creates the old hash. Each
worker runs ``states_once`` at start, for every workspace; a run cut short
moves what is left the next time; a run that walked every contact records it in the migrations hash, and from
then on the drain's scripts are not sent the old hash's key to look in (``TimelineStore.states_moved``).

The workers of the release before read and write only the old hash: one scoring a contact whose states moved (or
a contact this release created) would start its fold states afresh there. So until the move is recorded, a worker
of this release waits at start while a worker of a release before is alive (``workers_before``; each worker of
this release is named with ``WORKER_PREFIX``) — in a rolling deploy the new workers start scoring once the old
ones stopped, and a worker of the release before that was killed outright holds them up to 8 minutes (its key's
life in RQ's registry). Once the move is recorded nothing waits: a release before must not run again (roll back
only with a backup taken before the upgrade).

``timelines_once`` (after the same wait, after ``states_once``) moves each contact's timeline records from the
timeline hash releases before kept them in (``Keys.timeline``) into its contact hash, with ``move_timelines.lua``
(atomic per contact; a record too long for a listpack value, or past the hash's room, stays in the timeline hash and
the contact's hash gets the marker that says so: ``storage/timelines.py: place_records``), and records
``timelines-in-contact-hash``; from then on the drain looks in a contact's timeline hash only when that marker is
there. Every other reader reads both hashes, before the move and after. A worker of the release before reads only the
timeline hash: it would take a record stored in the contact's hash for a new one and fold it twice, hence the wait.
Web processes of the release before show a contact's ledger and timeline without the moved records (and ignore the
record fields of its hash: they hold no ``@``) until they are replaced.

``identity_once`` (after the same wait) deletes the email identity keys that say only what the contacts say — a
key naming the contact its email derives, which exists (``ContactStore.drop_implied_identities``) — and records
``identity-keys-implied``; from then on a new contact first seen by its email gets no key on one Redis. Until then
every reader finds an email's contact by its key first and by the derived contact's existence after. A release
before resolves by the key alone: it would give an email whose key went a second contact, hence the wait.

``companies_once`` (after the same wait, last) leaves out of each contact hash the ``company`` field that repeats
what its email says (``storage/contacts.py: stored_company``): a hash without the field is then in the company its
email implies, where for releases before it was in none. First pass: each contact whose email implies a company but
which has none gets an empty field (``ContactStore.say_no_company``), then ``company-none-explicit`` is recorded —
from then on no hash without the field means "none", and this release reads the field's absence as the company its
email implies (every reader asks Redis for the record again when it meets such a hash before it saw it) and writes
the compact form. Second pass: the fields that repeat the implied company are deleted (``drop_implied_companies.lua``,
atomic per contact), and ``company-implied`` is recorded. A release before reads a missing field as no company, and
writes one that is missing when a contact has none: hence the wait (workers), and web processes of the release
before must be replaced before this release's workers start.

``sizes_once`` (``app/indexes.py``, after the same wait, after the moves into indexes) writes the leaf sizes of the
compact indexes that are counted (the registry, the latest activity, the rosters: ``ordered_index.lua``, ``BASE:z``),
which this release's writers keep and its counts read; a worker of a release before changes leaves without them,
hence the wait. Counts walk an index without sizes, so they are exact before, during and after. Web processes of
the release before write only the plain sets beside the indexes (ingest), which this release moves in.

``search_short_once`` (after the same wait, last) rewrites each search term whose text derives its contact (a
lower-case email's or external id's: ``contact_id_for``) without the contact id (``storage/contacts.py:
search_member``), a page of a bucket's compact index per atomic call, and records ``search-terms-short``. This
release writes the short form from its first deploy and reads both (a rename removes both). A release before reads
a short term as a contact with an empty id: its web processes must be replaced before this release's workers start.

``created_once`` (after the same wait, last) renames each contact hash's creation time from ``created_at`` to ``c``
(``storage/registry.py: CREATED``; ``shorten_created.lua``, atomic per contact) and records ``created-short``; from
then on this release writes ``c`` for a new contact (a process asks again within a minute until it saw the record,
writing the long field meanwhile). Every reader of this release reads both fields, the earlier where a contact holds
both (``created_of``: each is written with ``HSETNX``, so the earlier is its first link's). A release before reads
only ``created_at``: a renamed contact would read as made at 0 (its API, the registry's moves, the newest-first
pages), hence the wait, and its web processes must be replaced before this release's workers start.

``email_once`` (after the same wait, last) renames each contact hash's email from ``email`` to ``e``
(``storage/contacts.py: EMAIL``; ``shorten_email.lua``, atomic per contact) and records ``email-short``; from then on
this release writes ``e`` for a newly linked email (asking again within a minute until it saw the record, writing
the long field meanwhile). Every reader of this release reads both fields (``email_of``: an email never changes;
where a contact holds both, a second email linked by a process of the other form, the one that derives the contact,
else the long one). A release before reads only ``email``: a renamed contact would have no email (its API, search's
backfill, the company its email implies), hence the wait, and its web processes must be replaced before this
release's workers start.
``activity_derived_once`` (after the same wait, last) leaves out of each contact hash the latest-activity field `la`
that its fold states' newest record says (``storage/activity.py: derived_activity``), in two passes as
``companies_once``: first an empty ``la`` ("no activity") where it is missing and the states would say a time, and
``activity-none-explicit`` recorded — from then on a hash without ``la`` holds what its states say, and the drain on one
Redis leaves it out there; then the fields the states say deleted (``derive_activity.lua``, atomic per contact, one
Redis only: a cluster's drain keeps ``la``), and ``activity-derived`` recorded. A release before reads a missing ``la``
as no activity and an empty one as an error in Python, hence the wait, and its web processes must be replaced before
this release's workers start.

``short_ids_once`` (after the same wait, last) moves nothing: it records ``contact-ids-short``
(``storage/contacts.py: IDS_SHORT``), and from then on a new contact gets the short id (``contact_id_for(...,
short=True)``: 13 characters, not 21; a process asks again within a minute until it saw the record, making long ids
meanwhile). A contact keeps the id it was made with (ids are in URLs, exports, webhooks sent, workflow runs): every
reader and creator of this release, from its first deploy, looks for both ids an email derives (``derived_ids``) and
takes a contact for the one its email makes in either form (``derives``). A release before derives only the long id:
on one Redis, where a new contact first seen by its email gets no identity key, one would make a second contact for
an email whose contact has the short id — hence the wait, and its web processes must be replaced before this
release's workers start.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from .compaction import SHORT_STATES, short_states_once
from .indexes import (SEARCH_SHORT_MIGRATION, SIZES_MIGRATION, activity_once, registry_once, roster_index_once,
                      rosters_once, score_base_once, search_short_once, sizes_once)
from .publish import deleted_versions_once
from .services import Services
from .storage.activity import ACTIVITY_DERIVED, ACTIVITY_MIGRATION, ACTIVITY_NONE_EXPLICIT
from .storage.companies import ROSTER_INDEX_MIGRATION
from .storage.contacts import COMPANY_IMPLIED, COMPANY_NONE_EXPLICIT, EMAIL_SHORT, IDENTITIES_IMPLIED, IDS_SHORT
from .storage.registry import CREATED_SHORT, REGISTRY_MIGRATION
from .storage.score_base import SCORE_BASE_MIGRATION
from .storage.timelines import COPIES_TRIMMED, ONCE_KEYED, STATES_MOVED, TIMELINES_MOVED

log = logging.getLogger(__name__)

#: The move's name in the migrations hash (once there, the drain's scripts look for no old hash).
MIGRATION = STATES_MOVED
#: Contacts per page of the registry's walk (one script call a page on one Redis).
PAGE = 500
#: The start of the name of every worker of this release (and of later ones keeping this layout): a worker named
#: otherwise is of a release before the move.
WORKER_PREFIX = "sk-l16-"
#: The migrations a worker of a release before would undo by writing where this release no longer reads or
#: writes: while any of them is unrecorded in a workspace, workers of this release wait at start for the workers
#: of releases before (``await_workers_before``). A release that adds one names its workers anew
#: (``WORKER_PREFIX``), so the workers of the release before it count as before.
LAYOUT_MIGRATIONS: tuple[str, ...] = (MIGRATION, IDENTITIES_IMPLIED, REGISTRY_MIGRATION, ROSTER_INDEX_MIGRATION,
                                      ACTIVITY_MIGRATION, TIMELINES_MOVED, COMPANY_IMPLIED, SIZES_MIGRATION,
                                      SEARCH_SHORT_MIGRATION, CREATED_SHORT,
                                      SHORT_STATES, EMAIL_SHORT, SCORE_BASE_MIGRATION,
                                      ACTIVITY_DERIVED, IDS_SHORT, COPIES_TRIMMED, ONCE_KEYED)


def workers_before(services: Services) -> set[str]:
    """The live workers of a release before the contact hash's layout (not named with ``WORKER_PREFIX``)."""
    return {name for name in services.jobs.live_workers() if not name.startswith(WORKER_PREFIX)}


def await_workers_before(every_services: list[Services], stop: threading.Event, period_s: float = 5.0,
                         on_wait: Callable[[set[str]], None] | None = None) -> bool:
    """Wait, while any of these workspaces has not recorded one of ``LAYOUT_MIGRATIONS``, until no worker of a
    release before is alive (checked every ``period_s``; ``on_wait`` is told who is waited for each time). False if
    ``stop`` was set first. A worker's start then waits for every live process, web ones included, that does not
    announce knowing a migration still unrecorded (``app/processes.py: await_processes_before``; from this release
    on: a process of a release before announces nothing)."""
    if all(services.jobs.migration_done(name) for services in every_services for name in LAYOUT_MIGRATIONS):
        return True
    while before := workers_before(every_services[0]):
        log.warning("waiting for the workers of a release before to stop: they write where this release has "
                    "moved things (fold states, indexes)", extra={"workers": sorted(before)})
        if on_wait is not None:
            on_wait(before)
        if stop.wait(period_s):
            return False
    return True


def move_all_states(services: Services, page: int = PAGE) -> int:
    """Move every registered contact's fold states of releases before into its contact hash; returns how many
    contacts had states to move."""
    return sum(services.timelines.move_states(ids) for ids in services.contacts.contact_pages(page))


def states_once(services: Services, page: int = PAGE) -> int | None:
    """``move_all_states``, unless a finished run was recorded; records this one. Returns the contacts moved."""
    if services.jobs.migration_done(MIGRATION):
        return None
    started = time.monotonic()
    moved = move_all_states(services, page)
    services.jobs.record_migration(MIGRATION, int(time.time() * 1000))
    services.timelines.states_moved(recheck=True)  # this process's drains and pages look for no old hash from now on
    services.contacts.states_moved(recheck=True)
    log.info("fold states moved into the contact hashes", extra={"contacts": moved,
                                                                  "seconds": round(time.monotonic() - started, 3)})
    return moved


def move_all_timelines(services: Services, page: int = PAGE) -> int:
    """Move every registered contact's timeline records of releases before into its contact hash; returns how many
    contacts had records to move."""
    return sum(services.timelines.move_timelines(ids) for ids in services.contacts.contact_pages(page))


def timelines_once(services: Services, page: int = PAGE) -> int | None:
    """``move_all_timelines``, unless a finished run was recorded; records this one. Returns the contacts moved."""
    if services.jobs.migration_done(TIMELINES_MOVED):
        return None
    started = time.monotonic()
    moved = move_all_timelines(services, page)
    services.jobs.record_migration(TIMELINES_MOVED, int(time.time() * 1000))
    services.timelines.timelines_moved(recheck=True)  # this process's drains look for the marker from now on
    log.info("timeline records moved into the contact hashes",
             extra={"contacts": moved, "seconds": round(time.monotonic() - started, 3)})
    return moved


def identity_once(services: Services) -> int | None:
    """Delete the email identity keys whose contact's existence says the same (one Redis; a cluster keeps every
    key: there only the key can decide who links an email first), unless a finished run was recorded; records this
    one, and from then on this process creates contacts without them. Returns the keys deleted."""
    if services.jobs.migration_done(IDENTITIES_IMPLIED):
        return None
    started = time.monotonic()
    contacts = services.contacts
    dropped = contacts.drop_implied_identities() if contacts.single_node else 0
    services.jobs.record_migration(IDENTITIES_IMPLIED, int(time.time() * 1000))
    contacts.identities_implied(recheck=True)
    log.info("email identity keys implied by their contacts deleted",
             extra={"keys": dropped, "seconds": round(time.monotonic() - started, 3)})
    return dropped


def companies_once(services: Services, page: int = PAGE) -> int | None:
    """Leave out of every registered contact's hash the ``company`` field its email implies, in two passes (the
    module's docstring), unless a finished run was recorded; records each pass. A run cut short in the second pass
    does it again from the start (deleting what is left). Returns the fields deleted."""
    jobs, contacts = services.jobs, services.contacts
    if jobs.migration_done(COMPANY_IMPLIED):
        return None
    started = time.monotonic()
    said = 0
    if not jobs.migration_done(COMPANY_NONE_EXPLICIT):
        said = sum(contacts.say_no_company(ids) for ids in contacts.contact_pages(page))
        jobs.record_migration(COMPANY_NONE_EXPLICIT, int(time.time() * 1000))
    contacts.company_compact(recheck=True)
    services.companies.company_compact(recheck=True)
    dropped = sum(contacts.drop_implied_companies(ids) for ids in contacts.contact_pages(page))
    jobs.record_migration(COMPANY_IMPLIED, int(time.time() * 1000))
    log.info("company fields that repeat the email's domain left out of the contact hashes",
             extra={"contacts_without": said, "fields_deleted": dropped,
                    "seconds": round(time.monotonic() - started, 3)})
    return dropped


def created_once(services: Services, page: int = PAGE) -> int | None:
    """Rename every registered contact's ``created_at`` to ``c`` (the module's docstring), unless a finished run was
    recorded; records this one, and from then on this process writes ``c``. A run cut short renames what is left
    the next time. Returns the fields renamed."""
    contacts = services.contacts
    return _rename_once(services, CREATED_SHORT, contacts.shorten_created, contacts.created_short,
                        "contact hashes' created_at renamed c", page)


def email_once(services: Services, page: int = PAGE) -> int | None:
    """Rename every registered contact's ``email`` to ``e`` (the module's docstring), unless a finished run was
    recorded; records this one, and from then on this process writes ``e``. A run cut short renames what is left the
    next time. Returns the fields renamed."""
    contacts = services.contacts
    return _rename_once(services, EMAIL_SHORT, contacts.shorten_email, contacts.email_short,
                        "contact hashes' email renamed e", page)


def _rename_once(services: Services, record: str, rename: Callable[[list[str]], int],
                 seen: Callable[..., bool], what: str, page: int) -> int | None:
    """A contact hash's field renamed in every registered contact, ``rename`` a page of ids at a time, unless
    ``record`` was recorded; records it, then asks ``seen`` (the process's ``StatesMoved`` of it) again, so this
    process writes the new name from now on. Returns the fields renamed (None: recorded before)."""
    jobs = services.jobs
    if jobs.migration_done(record):
        return None
    started = time.monotonic()
    renamed = sum(rename(ids) for ids in services.contacts.contact_pages(page))
    jobs.record_migration(record, int(time.time() * 1000))
    seen(recheck=True)
    log.info(what, extra={"fields_renamed": renamed, "seconds": round(time.monotonic() - started, 3)})
    return renamed


def activity_derived_once(services: Services, page: int = PAGE) -> int | None:
    """Leave out of every registered contact's hash the ``la`` its fold states derive, in two passes (the module's
    docstring), unless a finished run was recorded; records each pass. A run cut short in the second pass does it
    again from the start. A cluster's writers never leave ``la`` out (its index is written apart from the contact,
    from Python), so there the second pass deletes nothing. Returns the fields deleted."""
    jobs, timelines, contacts = services.jobs, services.timelines, services.contacts
    if jobs.migration_done(ACTIVITY_DERIVED):
        return None
    started = time.monotonic()
    said = 0
    if not jobs.migration_done(ACTIVITY_NONE_EXPLICIT):
        said = sum(timelines.derive_activity(ids, drop=False) for ids in contacts.contact_pages(page))
        jobs.record_migration(ACTIVITY_NONE_EXPLICIT, int(time.time() * 1000))
    timelines.activity_derived(recheck=True)  # this process's drains leave `la` out where the states say it
    dropped = sum(timelines.derive_activity(ids, drop=True) for ids in contacts.contact_pages(page)) \
        if timelines.single_node else 0
    jobs.record_migration(ACTIVITY_DERIVED, int(time.time() * 1000))
    log.info("latest-activity fields that the fold states derive left out of the contact hashes",
             extra={"contacts_none": said, "fields_deleted": dropped, "seconds": round(time.monotonic() - started, 3)})
    return dropped


def short_ids_once(services: Services) -> bool:
    """Record that new contacts get short ids (the module's docstring) unless it was recorded; nothing moves.
    Returns whether this run recorded it."""
    return _record_once(services, IDS_SHORT, services.contacts.ids_short, "new contacts get short ids from now on")


def kept_properties_once(services: Services) -> bool:
    """Record that the copies in Redis of archived interactions are trimmed to what the rules read from now on
    (app/scoring/kept_properties.py; docs/archive.md, "What Redis keeps of an interaction") unless it was recorded;
    nothing moves (copies written before are trimmed by no one: they leave with the hot horizon). Its name in
    ``LAYOUT_MIGRATIONS`` keeps it from being recorded while a process of a release before lives: that release reads
    a trimmed copy as whole, and would fold a version that reads what the copy left out on what is left. Returns
    whether this run recorded it."""
    return _record_once(services, COPIES_TRIMMED, services.timelines.copies_trimmed,
                        "archived interactions' copies in Redis keep only what the rules read from now on")


def once_keys_once(services: Services) -> bool:
    """Record that this release's processes keep a long ``once_per`` value as its key (app/scoring/once_keys.py), in
    the fold states and in the trimmed copies, unless it was recorded; nothing moves (a state's long values are
    keyed as it is read). Its name in ``LAYOUT_MIGRATIONS`` keeps this release's workers from scoring while a
    process of a release before lives: that release compares a value with the states' keys as they are, and would
    score a value it finds only as a key once more. (A release before reads a copy holding a key as one that lacks
    the value, and reads the archive's whole record: nothing to wait for there.) Returns whether this run recorded
    it."""
    return _record_once(services, ONCE_KEYED, services.timelines.once_keyed,
                        "once-per values over 17 characters are kept as their 96-bit keys from now on")


def _record_once(services: Services, name: str, seen: Callable[..., bool], said: str) -> bool:
    """Record a migration that moves nothing (a form this release's processes write once they see it) unless it was
    recorded, and tell this process at once (``seen``, its ``StatesMoved``). Returns whether this run recorded it."""
    if services.jobs.migration_done(name):
        return False
    services.jobs.record_migration(name, int(time.time() * 1000))
    seen(recheck=True)
    log.info(said)
    return True


def migrate_layouts(services: Services) -> None:
    """Every online move of a workspace's data into this release's layout, in the order a worker's start runs them
    (after ``await_workers_before``): each returns at once once recorded, and records itself on a new store. The
    benchmark's stores take the same path, so it measures the layout a deployment runs, not a half-moved one."""
    deleted_versions_once(services)  # profiles deleted before: their last version numbers, from what they left
    rosters_once(services)  # company rosters of releases before: by contact bucket
    states_once(services)  # fold states of releases before: into each contact's hash
    timelines_once(services)  # timeline records of releases before: into each contact's hash
    identity_once(services)  # email identity keys that name the contact their email derives: deleted
    registry_once(services)  # the contact registry of releases before: into its compact index
    roster_index_once(services)  # big company rosters: into compact indexes
    activity_once(services)  # latest activity of releases before: into the compact index
    sizes_once(services)  # the compact indexes' leaf sizes (counts read them): after the moves into indexes
    companies_once(services)  # company fields that repeat what the email implies: left out
    search_short_once(services)  # search terms whose text derives their contact: without its id
    created_once(services)  # each contact hash's created_at: renamed c
    short_states_once(services)  # fold states: rule ids as their index in the version's rules
    email_once(services)  # each contact hash's email: renamed e
    score_base_once(services)  # the score index's absorb into its compact base may run from now on
    activity_derived_once(services)  # `la` where the fold states derive it: left out (after the states' moves)
    short_ids_once(services)  # new contacts: short ids (nothing moves)
    kept_properties_once(services)  # archived interactions' copies: only what the rules read (nothing moves)
    once_keys_once(services)  # long once-per values: their keys (nothing moves)

