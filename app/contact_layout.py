"""The contact hash's migration: each contact's fold states, which releases before kept in a hash of their own
(``Keys.states_before``), moved into the contact's hash beside its document (``Keys.contact``) — one key a contact
fewer (docs/performance.md, row 5a).

Online and resumable: ``move_states.lua`` moves one contact's states in one atomic step, and until then every
reader and writer (storage/timelines.py, contacts.py, queries.py, snapshot.py and their scripts) looks for them in
the old hash first, so the move changes nothing anyone reads; nothing of this release creates the old hash. Each
worker runs ``states_once`` at start, for every workspace; a run cut short
moves what is left the next time; a run that walked every contact records it in the migrations hash, and from
then on the drain's scripts are not sent the old hash's key to look in (``TimelineStore.states_moved``).

The workers of the release before must be stopped before this release's start: they read and write only the old
hash, so one scoring a contact whose states moved would start its fold states afresh there.
"""
from __future__ import annotations

import logging
import time

from .services import Services
from .storage.timelines import STATES_MOVED

log = logging.getLogger(__name__)

#: The move's name in the migrations hash (once there, the drain's scripts look for no old hash).
MIGRATION = STATES_MOVED
#: Contacts per page of the registry's walk (one script call a page on one Redis).
PAGE = 500


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
