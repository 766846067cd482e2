"""A contact's ledger, whole: made again on read from the hot timeline, the older entries from the archive.

Redis stores no ledger (issue #17's compact hot layout): the fold is deterministic, so a version's ledger is the
fold of the contact's timeline with that version's profile, up to the moment its stored fold state has reached
(``FoldState.last``: the expiries and decay steps the ticker has not applied yet are not in it, as they were not
in the stored ledger). ``hot_ledger`` folds the hot timeline (from the checkpoint at the contact's horizon, when
older history left Redis); a page reaching past the horizon folds the whole history, the archive's records and
the hot timeline's (``whole_ledger``), so the two kinds of page join without a seam. A ledger list an earlier
release stored is read as it was until the contact is scored again (``apply_batch.lua`` then deletes it) or
``scorekeeper compact`` drops it.

Two cursors page through it, newest first: ``offset`` (the position in the whole ledger, as before) and
``before``, the position of the last entry shown (``Position``): stable while new entries arrive.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import orjson

from .archive import ArchiveUnavailable
from .errors import ValidationError
from .horizon import whole_timelines
from .scoring.fold import FoldState, LedgerEntry, fold, resume
from .scoring.kept_properties import every_type, lacks, reads_of
from .scoring.records import TimelineRecord, decode_ledger_entry, encode_ledger_entry
from .services import Services
from .storage.redis_tools import loads
from .storage.profiles import ActiveVersion
from .words import SHOWN_PROPERTIES

#: Reasons of the entries the fold makes on its own schedule (before the interactions of their millisecond).
TIMED = frozenset({"expired", "decay"})


def position_of(entry: dict[str, Any]) -> str:
    """The cursor after ``entry``: what identifies it in its ledger (moment, interaction, rule, timed or not)."""
    key = [entry["at"], entry["source"], entry["interaction_id"], entry["rule_id"], entry["reason"] in TIMED]
    return base64.urlsafe_b64encode(orjson.dumps(key)).decode().rstrip("=")


def parse_position(text: str) -> list[Any]:
    try:
        key = orjson.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if isinstance(key, list) and len(key) == 5 and isinstance(key[0], int):
            return key
    except (ValueError, orjson.JSONDecodeError):
        pass
    raise ValidationError("Invalid cursor.", {"before": "use next_before from the previous page"})


def _identity(entry: dict[str, Any]) -> list[Any]:
    return [entry["at"], entry["source"], entry["interaction_id"], entry["rule_id"], entry["reason"] in TIMED]


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_offset: int | None
    next_before: str | None


def _after(entries: list[dict[str, Any]], before: list[Any]) -> int | None:
    """The index after the entry at ``before`` in ``entries`` (newest first); None when it is not there."""
    for i, entry in enumerate(entries):
        if _identity(entry) == before:
            return i + 1
    return None


def _shown(ledger: list[LedgerEntry]) -> list[dict[str, Any]]:
    """Fold entries as the API shows them, newest first (through the stored form, as they always read)."""
    return [decode_ledger_entry(encode_ledger_entry(e)) for e in reversed(ledger)]


def reached(services: Services, contact_id: str, version: ActiveVersion) -> int | None:
    """The moment (ms) the contact's stored fold state in this version has reached (None: it has none)."""
    raw = services.timelines.read_states([contact_id])[contact_id].get(version.field)
    last = FoldState.from_json(loads(raw)).last if raw else None
    return last[0] if last else None


def hot_ledger(services: Services, contact_id: str, version: ActiveVersion) -> tuple[list[dict[str, Any]], bool]:
    """The ledger entries Redis's history makes, newest first, and whether they are the whole ledger: the fold
    of the hot timeline up to what the stored state reached, from the horizon's checkpoint when older history
    left Redis (then not whole). A ledger list stored by an earlier release is read instead while it exists."""
    stored = services.timelines.ledger(contact_id, version.profile.id, version.version, 0,
                                       int(services.settings["LEDGER_MAX"]))
    # The timeline before the horizon, never after: the ticker may move the horizon between the two reads. Read in
    # this order, a move in between leaves records the checkpoint already holds (``resume`` skips them); read the
    # other way, it would leave the moved records out of both, and the ledger short (seen in the worker-kill test).
    timeline = services.timelines.read_timelines([contact_id])[contact_id]
    horizon = services.timelines.read_horizons([contact_id])[contact_id]
    if stored:
        return stored, len(stored) < int(services.settings["LEDGER_MAX"]) and horizon is None
    now = reached(services, contact_id, version)
    if now is None:
        return [], horizon is None
    if lacks(timeline, reads_of([version.profile])):  # a copy lacks what the version reads: the archive's is whole
        return whole_ledger(services, contact_id, version), True
    if horizon is None:
        return _shown(fold(version.profile, timeline, now)[1]), True
    at_horizon = horizon.checkpoints.get(version.field)
    if at_horizon is None:
        return [], False
    return _shown(resume(version.profile, at_horizon, timeline, horizon.at, now)[1]), False


def whole_ledger(services: Services, contact_id: str, version: ActiveVersion) -> list[dict[str, Any]]:
    """Every entry of the contact's ledger in this version, newest first: the fold of its whole history
    (archive and hot timeline), up to what its stored state reached (to now when it has none)."""
    records = whole_timelines(services, [contact_id], reads_of([version.profile]))[contact_id]
    now = reached(services, contact_id, version)
    return _shown(fold(version.profile, records, services.clock.now_ms() if now is None else now)[1])


def page(services: Services, contact_id: str, version: ActiveVersion, limit: int, offset: int = 0,
         before: str | None = None) -> Page:
    """``limit`` entries of the ledger, newest first, from ``offset`` or after the entry ``before``."""
    key = parse_position(before) if before is not None else None
    stored, complete = hot_ledger(services, contact_id, version)
    start = _after(stored, key) if key is not None else offset if offset <= len(stored) else None
    if start is not None and (complete or start + limit < len(stored)):
        return _cut(stored, start, limit, offset if key is None else start)
    # the page reaches past what Redis holds: the older entries come from the fold of the whole history
    whole = whole_ledger(services, contact_id, version)
    if key is not None:
        found = _after(whole, key)
        if found is None:  # the ledger changed meanwhile (a refold): go on from the same moment
            found = next((i for i, e in enumerate(whole) if e["at"] < key[0]), len(whole))
    elif 0 < offset <= len(stored):  # Redis's entries are the newest of the whole ledger: join after its last
        found = _after(whole, _identity(stored[offset - 1]))
        found = offset if found is None else found
    else:
        found = offset
    return _cut(whole, found, limit, offset if key is None else found)


def _cut(entries: list[dict[str, Any]], start: int, limit: int, offset: int) -> Page:
    items = entries[start:start + limit]
    more = start + limit < len(entries)
    return Page(items, offset + len(items) if more else None, position_of(items[-1]) if more and items else None)


def shown_records(services: Services, contact_id: str, entries: list[dict[str, Any]]) -> dict[str, TimelineRecord]:
    """The records behind these ledger entries, by key, with what the console shows of them (``words.activity``):
    Redis's copies, and the archive's whole records where a copy lacks a shown property (Redis keeps only what the
    rules read) or left Redis (an older page). While the archive is away, what Redis holds: the page shows the
    activity without its object rather than fail."""
    hot = {r.key: r for r in services.timelines.read_timelines([contact_id])[contact_id]}
    shown = every_type(SHOWN_PROPERTIES)
    wanted = {f"{e['source']}:{e['interaction_id']}" for e in entries}
    missing = {key for key in wanted if key not in hot or lacks([hot[key]], shown)}
    if not missing:
        return hot
    try:
        archived = services.archive.histories([contact_id], workspace=services.workspace).get(contact_id, [])
    except ArchiveUnavailable:
        return hot
    return {**hot, **{r.key: r for r in archived if r.key in missing}}
