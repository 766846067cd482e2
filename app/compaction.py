"""The compact layout's migration: rewrite what earlier releases stored in Redis into the compact forms, in place
and online.

The compact forms (``scoring/records.py``: timeline records and ledger entries with interned types and reasons,
ledger entries that point at their interaction by its key; ``FoldState.to_json``: empty fields left out, timed
entries without the interaction id) are what every write produces now, and every reader reads both the compact
forms and the older ones. So nothing needs this migration to be correct: it only gives back the memory of data
written before the upgrade. It runs while the server scores: each contact is rewritten by
``compact_contact.lua`` only if its ``_rev`` did not move since it was read (a contact that changed is read again,
a few times, then left for the next run). A value whose re-encoding would not read back exactly the same is left
as it is. Running it again is harmless: values already compact are not written.

Ledgers are no longer stored (app/ledger_history.py makes them again from the timeline): a ledger list an earlier
release stored is dropped when the fold of the contact's timeline gives exactly its entries (what a reader now
shows); one that differs is kept (re-encoded compact), and reads as it was.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

from .scoring.fold import FoldState, fold, resume
from .scoring.once_keys import KEY_LEN
from .scoring.profiles import Profile, parse_version_field
from .scoring.records import (LEDGER_FIELDS, LedgerEntry, decode_ledger_entry, decode_record, encode_ledger_entry,
                              encode_record, is_compact_ledger_entry, is_compact_record)
from .services import Services
from .storage.redis_tools import dumps, loads
from .storage.timelines import PIECE_BYTES, PIECE_MARK, STATES_INTERNED, Horizon, StoredContact, join_states

log = logging.getLogger(__name__)

#: Contacts read per round trip.
PAGE = 200
#: Times a contact that changed while it was being rewritten is read again before it is left for the next run.
RETRIES = 5
#: The ``migrations`` entry written when a whole run finished with nothing left behind.
MIGRATION = "compact-layout"
#: The ``migrations`` entry of ``short_states_once``.
SHORT_STATES = STATES_INTERNED

COUNTS = ("contacts", "records", "entries", "ledgers", "states", "changed")


def compact_all(services: Services, on_page: Callable[[int], None] | None = None) -> dict[str, int]:
    """Rewrite every contact; ``on_page(n)`` after each page of ``n`` contacts (the CLI's progress bar). Returns
    the counts: ``contacts`` rewritten, ``records``/``entries``/``states`` values rewritten, ``ledgers`` lists
    dropped (the fold of the timeline gives them), ``changed``
    contacts left for the next run (they kept changing)."""
    total = dict.fromkeys(COUNTS, 0)
    profile_of = version_profiles(services)
    interned = services.timelines.states_interned(recheck=True)  # (by hand during a rolling deploy: not yet)
    for page in services.contacts.contact_pages(PAGE):
        for name, n in compact_page(services, page, profile_of=profile_of, interned=interned).items():
            total[name] += n
        if on_page:
            on_page(len(page))
    if not total["changed"]:
        services.jobs.record_migration(MIGRATION, services.clock.now_ms())
    return total


def short_states_once(services: Services) -> int | None:
    """Every contact's fold states and checkpoints rewritten in this release's form (``FoldState.to_json``: rule
    ids as their index in the version's rules, timed entries without the last entry's key) where it is shorter,
    unless a finished run was recorded; records this one (``SHORT_STATES``). Nothing needs it to read right (every
    reader reads every form): it gives back the memory of states written before the upgrade, and its name in
    ``LAYOUT_MIGRATIONS`` keeps the workers of releases before (which read no rule index) from folding on a state
    this release wrote (app/contact_layout.py). A contact that kept changing is left as it is (its next fold
    writes the new form). Returns the contacts rewritten."""
    if services.jobs.migration_done(SHORT_STATES):
        return None
    started = time.monotonic()
    profile_of = version_profiles(services)
    rewritten = sum(compact_page(services, page, states_only=True, profile_of=profile_of, interned=True,
                                 keyed=True)["contacts"]  # (after the wait: no process of a release before lives)
                    for page in services.contacts.contact_pages(PAGE))
    services.jobs.record_migration(SHORT_STATES, int(time.time() * 1000))
    services.timelines.states_interned(recheck=True)  # this process's scorers write the interned form from now on
    log.info("fold states rewritten with their rule ids interned", extra={
        "contacts": rewritten, "seconds": round(time.monotonic() - started, 3)})
    return rewritten


def compact_page(services: Services, contact_ids: Sequence[str], states_only: bool = False,
                 profile_of: Callable[[str], Profile | None] | None = None, interned: bool | None = None,
                 keyed: bool | None = None) -> dict[str, int]:
    """Rewrite these contacts (``states_only``: their fold states and checkpoints alone, ``short_states_once``'s
    pass); ``profile_of`` (a version field's profile, or None) is ``version_profiles``' unless given. Fold states
    are written in the form the scorer writes (``interned``: asked of ``TimelineStore.states_interned`` unless
    given): the release before's (``FoldState.to_json_before``, which its workers read) until ``short_states_once``
    is recorded, so a ``scorekeeper compact`` run by hand during a rolling deploy writes nothing they cannot read.
    Likewise a state holding a long ``once_per`` value as it is (written before keys) is left as it is until
    ``once-values-keyed`` is recorded (``keyed``: asked of ``TimelineStore.once_keyed`` unless given): a worker of the
    release before compares a value with the state's entries as they are, and would score it again against its key."""
    counts = dict.fromkeys(COUNTS, 0)
    pending = list(contact_ids)
    profile_of = profile_of or version_profiles(services)
    if interned is None:
        interned = services.timelines.states_interned(recheck=True)
    if keyed is None:
        keyed = services.timelines.once_keyed(recheck=True)
    for _ in range(RETRIES):
        if not pending:
            break
        stored = services.timelines.read_stored(pending)
        pending = []
        for cid, contact in stored.items():
            timeline, states, horizon, ledgers = _compacted(contact, profile_of, states_only, interned, keyed)
            for vfield in () if states_only else _derivable(services, contact):
                ledgers[vfield] = (len(contact.ledgers[vfield]), [])
            if not (timeline or states or horizon or ledgers):
                continue
            if services.timelines.rewrite_stored(cid, contact.rev, timeline, states, horizon, ledgers):
                counts["contacts"] += 1
                counts["records"] += len(timeline)
                counts["states"] += len(states) + len(horizon)
                counts["entries"] += sum(len(entries) for _, entries in ledgers.values())
                counts["ledgers"] += sum(not entries for _, entries in ledgers.values())
            else:
                pending.append(cid)
    counts["changed"] = len(pending)
    return counts


def version_profiles(services: Services) -> Callable[[str], Profile | None]:
    """A version field's profile (None when no such version is stored), each read once: a fold state stores its
    rule ids as their index in its version's rules (``FoldState.to_json``)."""
    known: dict[str, Profile | None] = {}

    def profile_of(vfield: str) -> Profile | None:
        if vfield not in known:
            try:
                known[vfield] = services.profiles.version(*parse_version_field(vfield))
            except (KeyError, ValueError):
                known[vfield] = None
        return known[vfield]
    return profile_of


def _compacted(contact: StoredContact, profile_of: Callable[[str], Profile | None], states_only: bool = False,
               interned: bool = True, keyed: bool = True
               ) -> tuple[dict[str, str], dict[str, str], dict[str, str], dict[str, tuple[int, list[str]]]]:
    """The values of a contact that have a compact form they do not have yet, re-encoded (checked to read back
    the same); ``states_only``: its fold states and checkpoints alone; ``interned``: states in the form with interned
    rule ids, else the release before's; ``keyed``: a state's long ``once_per`` values may become their keys."""
    timeline = {}
    for key, raw in () if states_only else contact.timeline.items():
        value = loads(raw)
        if not is_compact_record(value):
            record = decode_record(key, value)
            new = encode_record(record)
            if decode_record(key, loads(dumps(new))) == record:
                timeline[key] = dumps(new)
    whole = join_states(contact.states)
    states = {f: v for f, v in ((f, _state(raw, profile_of(f), interned, keyed)) for f, raw in whole.items()
                                 if f != "_rev") if v}
    # a state (or checkpoint) longer than a listpack value stored whole (earlier releases) goes into pieces, so its
    # hash is compact
    states.update({f: raw for f, raw in contact.states.items()
                   if f != "_rev" and f not in states and PIECE_MARK not in f and len(raw.encode()) > PIECE_BYTES})
    whole_horizon = join_states(contact.horizon)
    horizon = {f: v for f, v in ((f, _state(raw, profile_of(f), interned, keyed)) for f, raw in whole_horizon.items()
                                 if f not in ("c", "a")) if v}
    horizon.update({f: raw for f, raw in contact.horizon.items()
                    if f not in horizon and PIECE_MARK not in f and len(raw.encode()) > PIECE_BYTES})
    ledgers: dict[str, tuple[int, list[str]]] = {}
    for vfield, entries in () if states_only else contact.ledgers.items():
        values = [loads(e) for e in entries]
        if not entries or all(is_compact_ledger_entry(v) for v in values):
            continue
        rewritten = [_entry(raw, value) for raw, value in zip(entries, values)]
        if rewritten != entries:
            ledgers[vfield] = (len(entries), rewritten)
    return timeline, states, horizon, ledgers


def _derivable(services: Services, contact: StoredContact) -> list[str]:
    """The version fields whose stored ledger list the fold of the contact's timeline gives exactly (newest first,
    as far as the list goes): those lists can go."""
    out = []
    horizon = Horizon.from_hash(contact.horizon)
    records = [decode_record(key, loads(raw)) for key, raw in contact.timeline.items()]
    for vfield, entries in contact.ledgers.items():
        raw_state = join_states(contact.states).get(vfield)
        last = FoldState.from_json(loads(raw_state)).last if entries and raw_state else None
        if last is None or (horizon is not None and vfield not in horizon.checkpoints):
            continue
        try:
            profile = services.profiles.version(*parse_version_field(vfield))
        except KeyError:  # no such version stored: the list stays as it is
            continue
        shown = [decode_ledger_entry(loads(e)) for e in entries]
        if _folded(profile, records, horizon, vfield, last[0])[:len(shown)] == shown:
            out.append(vfield)
    return out


def _folded(profile: Profile, records: list, horizon: Horizon | None, vfield: str, now: int) -> list[dict[str, Any]]:
    """The ledger a reader makes from these hot records (app/ledger_history.py), newest first."""
    if horizon is None:
        ledger = fold(profile, records, now)[1]
    else:
        ledger = resume(profile, horizon.checkpoints[vfield], records, horizon.at, now)[1]
    return [decode_ledger_entry(encode_ledger_entry(e)) for e in reversed(ledger)]


def _state(raw: str, profile: Profile | None, interned: bool = True, keyed: bool = True) -> str | None:
    """A stored fold state in the compact form (``interned``: its rule ids as their index in ``profile``'s rules, its
    version's; else the release before's form, ``FoldState.to_json_before``), or None when it has it (or would not
    read back the same, or is to go back to the release before's form from rule indexes whose profile is gone, or
    holds a long ``once_per`` value as it is while it may not become its key: ``keyed`` false)."""
    data = loads(raw)
    if not keyed and _long_once(data):
        return None
    state = FoldState.from_json(data, profile)
    if interned:
        new = dumps(state.to_json(profile))
    elif state.coded and profile is None:
        return None
    else:
        new = dumps(state.to_json_before(profile))
    if new == raw or len(new) >= len(raw) or FoldState.from_json(loads(new), profile) != state:
        return None
    return new


def _long_once(data: Any) -> bool:
    """Whether a stored fold state holds a ``once_per`` value longer than a key, as it is (written before keys: read,
    it is keyed, ``FoldState.from_json``), in either form of the values (``O``, ``o``)."""
    stored = data.get("O")
    lists = [entry[1:] for entry in stored] if stored is not None else list((data.get("o") or {}).values())
    return any(isinstance(value, str) and len(value) > KEY_LEN for values in lists for value in values)


def _entry(raw: str, value: Any) -> str:
    """A stored ledger entry in the compact form (as it was when it has it, or cannot be re-encoded exactly)."""
    if is_compact_ledger_entry(value):
        return raw
    shown = decode_ledger_entry(value)
    if not isinstance(shown.get("source"), str) or not isinstance(shown.get("interaction_id"), str) \
            or ":" in shown["source"]:
        return raw
    fields: dict[str, Any] = {name: shown.get(name) for name in LEDGER_FIELDS}
    new = dumps(encode_ledger_entry(LedgerEntry(**fields)))
    return new if decode_ledger_entry(loads(new)) == fields else raw
