"""Each contact's scoring data: its timeline (``source:id`` -> record: fields of the contact's hash, ``record_field``;
the records that do not fit there in its timeline hash, ``Keys.timeline``, as releases before kept every record
until app/contact_layout.py moved them — every reader here reads both), fold states per
``PROFILE@VERSION`` with the ``_rev`` optimistic lock (fields of the contact's hash, beside its document:
``is_state_field``; in a hash of their own, ``Keys.states_before``, for contacts of releases before until
app/contact_layout.py moved them — every reader and writer here looks there first), the outbox of events for workflows (ledgers are not
stored: app/ledger_history.py makes them from the timeline; lists earlier releases stored still read), and
its hot horizon (the checkpoints at it, once older history left Redis: docs/archive.md).

``read_batch.lua`` reads a batch's states, which records its timelines hold and their horizons;
``apply_batch.lua`` writes each scored contact, and ``trim_horizon.lua`` moves each contact's horizon, only
if its ``_rev`` did not move (all beside this module). Per bucket of contacts, a bound on how old a record their
timelines hold (``Keys.horizon_oldest``: lowered after each write of records, raised by the trim pass's walk of
the bucket through ``horizon_oldest.lua``) lets the pass leave alone a bucket with nothing older than the horizon.
"""
from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

from ..keys import Keys
from ..scoring.fold import FoldState
from ..scoring.profiles import Profile, parse_version_field, version_field
from ..scoring.records import ContactWrite, TimelineRecord, decode_ledger_entry, decode_record
from .activity import ACTIVITY_FIELD, ACTIVITY_MIGRATION, ACTIVITY_NONE_EXPLICIT, GRANULE_MS
from .errors import InconsistentRead, gateway
from .ordered_index import LEAF_ENTRIES, library_script
from .redis_tools import Done, Later, Sharding, dumps, load_script, loads, on_cluster, run_scripts

#: The Lua library of a record's place (``record_fields.lua``: ``record_field``, ``record_key``, ``place_records``).
RECORDS_LIBRARY = "record_fields.lua"

#: Contacts per call of the batch scripts (read_batch.lua, apply_batch.lua) on a single Redis (one on a cluster):
#: large enough to save most per-command overhead, small enough that one call blocks Redis
#: for only a few milliseconds.
SCRIPT_CONTACTS = 250

#: Redis keeps a hash in its compact listpack encoding while each of its values is at most this many bytes (the
#: default of ``hash-max-listpack-value``; hosted Redis keeps it): a longer fold state is stored in pieces of at most
#: this size, under its field ``PROFILE@VERSION`` and then ``PROFILE@VERSION#1``, ``#2``... A hash table costs a
#: contact ~300 B more than the same values in a listpack.
PIECE_BYTES = 64
#: What separates a state's field from its piece's number (never in a profile id).
PIECE_MARK = "#"
#: The fold states' move into the contact hashes (app/contact_layout.py) in the migrations hash: once recorded, no
#: states hash of releases before is left, and the scoring scripts are not sent one to look in.
STATES_MOVED = "states-in-contact-hash"
#: Seconds between looks (``HEXISTS``) at whether the move was recorded, until it was (then remembered).
STATES_MOVED_CHECK_S = 60.0
#: The timelines' move into the contact hashes (app/contact_layout.py: timelines_once) in the migrations hash: once
#: recorded, a contact's timeline hash holds records only when its hash holds ``RECORD_MARKER``, and the drain
#: looks in no other (``read_batch.lua``).
TIMELINES_MOVED = "timelines-in-contact-hash"
#: The ``migrations`` entry of ``app/compaction.py:short_states_once``: every fold state in the form with interned
#: rule ids (``FoldState.to_json``); until a process sees it, it writes the form of the release before
#: (``FoldState.to_json_before``), which that release's workers read.
STATES_INTERNED = "fold-states-interned"
#: The ``migrations`` entry of ``app/contact_layout.py:kept_properties_once``: once a process sees it, its drains trim
#: the copies in Redis of archived interactions to what the rules read (app/archiving.py: ``trim_archived``), a form
#: the release before would read as whole; until then every copy is kept whole.
COPIES_TRIMMED = "interaction-copies-trimmed"
#: The ``migrations`` entry of ``app/contact_layout.py:once_keys_once``: long ``once_per`` values are kept as their keys
#: (app/scoring/once_keys.py). A fold state holding a long value as it is stays so in ``scorekeeper compact`` until a
#: process sees it (app/compaction.py: a worker of the release before compares values with a state's entries as they
#: are).
ONCE_KEYED = "once-values-keyed"

#: The first character of a timeline record's field in its contact's hash, which no other field of the hash starts
#: with (document fields are named, fold states are ``PROFILE@VERSION``, profile ids slugs; ``_rev``, ``la``).
RECORD_MARK = "~"
#: The contact's hash holds this field (an empty record id: no record has one) while its timeline hash may hold
#: records: those that do not fit in the hash (``place_records``).
RECORD_MARKER = RECORD_MARK
#: A contact's hash takes records while it has fewer fields than this: 28 short of the 128 ``LISTPACK_ENTRIES``
#: assumes stay for its document, ``dnd:`` fields, fold states and their pieces, so a long history never turns the
#: hash into a hash table (the rest stay in the timeline hash).
RECORD_ROOM = 100
#: Redis keeps a hash a listpack while it has at most ``hash-max-listpack-entries`` fields: 512 by default (Redis 7.0,
#: its redis.conf too), which a configuration may lower; 128, the zsets' default, is assumed as a bound that holds for
#: any configuration not set below it (``CONFIG GET`` is refused to scripts and by some hosted Redis). On a default
#: server it only moves records out sooner than needed. A write that adds
#: fields other than records (``apply_batch.lua``) first moves records out of the contact's hash to its timeline hash
#: until it has at most ``LISTPACK_ENTRIES - DOC_ROOM`` fields (``record_fields.lua``: ``rf_make_room``).
LISTPACK_ENTRIES = 128
#: Fields kept free for the document fields written outside the scripts, which make no room: the email (``e``;
#: ``email`` too where a second email was linked by a process of the other form: ``contacts.email_of``),
#: external_id, the creation time (``c``; ``created_at`` too likewise: ``registry.created_of``), name, company,
#: ``la`` and the four ``dnd:`` channels, and two spare (the two second fields).
DOC_ROOM = 12
#: Reads of a contact's records again, when a write moved some out of its hash meanwhile, before giving up.
READ_AGAIN = 10
_RECORD_ESCAPES = {"%": "%25", "@": "%40"}
_RECORD_UNESCAPES = {"25": "%", "40": "@"}
_UNESCAPED = re.compile("%(25|40)")


def record_field(key: str) -> str:
    """A record's field in its contact's hash: ``RECORD_MARK`` and its ``source:id`` with ``%`` written ``%25`` and
    ``@`` written ``%40`` — so it holds no ``@`` and a release before never takes it for a fold state (ids may hold
    ``:``, ``@``, ``#``). ``record_fields.lua``'s ``rf_field`` does the same."""
    if "%" in key or "@" in key:
        key = "".join(_RECORD_ESCAPES.get(ch, ch) for ch in key)
    return RECORD_MARK + key


def record_key(field_: str) -> str:
    """The ``source:id`` of a record's field (``record_field``'s inverse)."""
    body = field_[1:]
    if "%" in body:
        body = _UNESCAPED.sub(lambda m: _RECORD_UNESCAPES[m.group(1)], body)
    return body


def place_records(hash_len: int, records: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """Where these new records go, given ``hash_len`` fields in the contact's hash: the hash's fields (each field
    and value within ``PIECE_BYTES``, while the hash has fewer than ``RECORD_ROOM`` fields; with ``RECORD_MARKER``
    when some do not) and the timeline hash's (``source:id`` -> record). ``record_fields.lua``'s ``rf_place``
    decides the same in the scripts."""
    inhash: dict[str, str] = {}
    apart: dict[str, str] = {}
    for key, value in records.items():
        name = record_field(key)
        if hash_len < RECORD_ROOM and len(name.encode()) <= PIECE_BYTES and len(value.encode()) <= PIECE_BYTES:
            inhash[name] = value
            hash_len += 1
        else:
            apart[key] = value
    if apart:
        inhash[RECORD_MARKER] = "1"
    return inhash, apart


def hash_records(stored: Mapping[str, str]) -> dict[str, str]:
    """The records a contact's hash holds, by ``source:id``."""
    return {record_key(f): v for f, v in stored.items() if f[:1] == RECORD_MARK and f != RECORD_MARKER}


#: An ASCII text longer than ``PIECE_BYTES`` in its pieces (``state_pieces``), by one C call: a comprehension of
#: slices was a call more and a step a piece, once a state written (most are two to four pieces).
_ascii_pieces = re.compile(f".{{1,{PIECE_BYTES}}}", re.DOTALL).findall


def state_pieces(value: str) -> list[str]:
    """``value`` in pieces of at most ``PIECE_BYTES`` bytes each (whole characters), in order: what
    ``join_states`` puts together again."""
    if value.isascii():
        return [value] if len(value) <= PIECE_BYTES else _ascii_pieces(value)
    out: list[str] = []
    piece: list[str] = []
    size = 0
    for char in value:
        width = len(char.encode())
        if size + width > PIECE_BYTES:
            out.append("".join(piece))
            piece, size = [], 0
        piece.append(char)
        size += width
    out.append("".join(piece))
    return out


#: A mapping's pairs flattened (``[*_flat(d.items())]``: name, value, name, value...).
_flat = chain.from_iterable


def _pieces(values: Mapping[str, str]) -> list[Any]:
    """Each field and its value's ``state_pieces``, flat (apply_batch.lua's form of the states and horizon)."""
    out: list[Any] = []
    for name, value in values.items():
        out.append(name)
        if value.isascii():  # (``state_pieces``' common case inline: a call less a state written)
            out.append([value] if len(value) <= PIECE_BYTES else _ascii_pieces(value))
        else:
            out.append(state_pieces(value))
    return out


#: A write's activity (apply_batch.lua's [9] and [10]) when it has none.
_NO_ACTIVITY = (False, False)


def join_states(stored: dict[str, str]) -> dict[str, str]:
    """A stored states hash as fields and whole values: each state's pieces joined (``_rev`` as it is). Reads
    the unsplit form of earlier releases as it is."""
    for f in stored:  # (a loop: any() over a generator costs a contact ~1 us more)
        if PIECE_MARK in f:
            break
    else:
        return stored
    out = {}
    get = stored.get
    for field_, value in stored.items():
        if PIECE_MARK in field_:
            continue
        piece = get(f"{field_}{PIECE_MARK}1")
        if piece is None:
            out[field_] = value
            continue
        parts = [value, piece]
        n = 2
        while (piece := get(f"{field_}{PIECE_MARK}{n}")) is not None:  # (each piece's name made once)
            parts.append(piece)
            n += 1
        out[field_] = "".join(parts)
    return out


def joined_state(stored: Mapping[str, str], field_: str) -> str | None:
    """One state of a stored hash (``field_`` and its pieces, joined; None when absent): what ``join_states`` gives
    for it, without a pass over every field (a contact's hash holds its document too)."""
    value = stored.get(field_)
    if value is None or f"{field_}{PIECE_MARK}1" not in stored:
        return value
    parts = [value]
    n = 1
    while (piece := stored.get(f"{field_}{PIECE_MARK}{n}")) is not None:
        parts.append(piece)
        n += 1
    return "".join(parts)


def is_state_field(name: str) -> bool:
    """Whether a field of a contact's hash (``Keys.contact``) belongs to its fold states — ``_rev``, a state
    ``PROFILE@VERSION`` (profile ids are slugs) or one of its pieces — rather than to its document, whose fields
    hold no ``@`` outside its ``dnd:CHANNEL`` ones. ``read_batch.lua`` tells them apart the same way."""
    return name == "_rev" or ("@" in name and not name.startswith("dnd:"))  # (a record's field has no "@")


# (ACTIVITY_FIELD, the contact hash's field of its latest activity: storage/activity.py)


def split_contact(stored: dict[str, str], before: dict[str, str] | None = None) -> tuple[dict[str, str],
                                                                                        dict[str, str]]:
    """A contact's hash as its document and its fold states as stored (pieces apart: ``join_states``); the states
    from ``before``, the hash of releases before (``Keys.states_before``), while that exists. The latest-activity
    field (``ACTIVITY_FIELD``), the timeline records and their marker (``RECORD_MARK``) are in neither."""
    doc = {f: v for f, v in stored.items() if not is_state_field(f) and f != ACTIVITY_FIELD and f[:1] != RECORD_MARK}
    if before:
        return doc, before
    return doc, {f: v for f, v in stored.items() if is_state_field(f)}


class StatesMoved:
    """Whether the fold states of releases before were all moved into the contact hashes (recorded by
    app/contact_layout.py), so the scripts that read or write a contact need not look for their old hash: a key
    less to send and to look up per contact. Asked of Redis at most once every ``STATES_MOVED_CHECK_S`` (at once
    with ``recheck``: the process that recorded it), and remembered once true (nothing of this release writes an
    old hash). Another migration's record (``name``) is watched the same way (``ContactStore.identities_implied``)."""

    def __init__(self, redis: Any, keys: Keys, name: str = STATES_MOVED, check_s: float = STATES_MOVED_CHECK_S):
        self.redis = redis
        self.keys = keys
        self.name = name  # (another migration's, for a subclass: storage/registry.py)
        self.check_s = check_s
        self._moved = False
        self._next = 0.0

    def __call__(self, recheck: bool = False) -> bool:
        if not self._moved and (recheck or time.monotonic() >= self._next):
            self._moved = self._recorded()
            self._next = time.monotonic() + self.check_s
        return self._moved

    def _recorded(self) -> bool:
        return bool(self.redis.hexists(self.keys.migrations(), self.name))


@dataclass(frozen=True)
class Horizon:
    """What a contact keeps of its history older than its hot horizon: the horizon ``at`` (ms; every record
    before it is in the archive and may have left Redis), its attributes then, and the fold state at it per
    ``PROFILE@VERSION`` (the checkpoints)."""

    at: int
    attributes: dict[str, Any] = field(default_factory=dict)
    checkpoints: Mapping[str, FoldState] = field(default_factory=dict)

    @classmethod
    def from_hash(cls, stored: dict[str, str]) -> Horizon | None:
        if "c" not in stored:
            return None
        stored = join_states(stored)
        return cls(int(stored["c"]), loads(stored["a"]) if stored.get("a") else {},
                   Checkpoints({f: v for f, v in stored.items() if f not in ("c", "a")}))


class Checkpoints(Mapping[str, FoldState]):
    """A horizon's checkpoints by ``PROFILE@VERSION``, each parsed when first asked for: a recompute folds one
    version, and parsing every version's checkpoint of every contact was ~8 % of its CPU."""

    def __init__(self, raw: dict[str, str]):
        self._raw = raw
        self._parsed: dict[str, FoldState] = {}

    def __getitem__(self, field_: str) -> FoldState:
        if field_ not in self._parsed:
            self._parsed[field_] = FoldState.from_json(loads(self._raw[field_]))
        return self._parsed[field_]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

    def __contains__(self, field_: object) -> bool:
        return field_ in self._raw

    def __repr__(self) -> str:
        return f"Checkpoints({sorted(self._raw)})"


def flat_pieces(fields: Mapping[str, str]) -> dict[str, str]:
    """Hash fields for these values, each longer than ``PIECE_BYTES`` in pieces (``F``, ``F#1``...)."""
    out = {}
    for name, value in fields.items():
        pieces = state_pieces(value)
        out[name] = pieces[0]
        for n, piece in enumerate(pieces[1:], start=1):
            out[f"{name}{PIECE_MARK}{n}"] = piece
    return out


def horizon_fields(at: int, attributes: dict[str, Any], checkpoints: Mapping[str, FoldState],
                   profiles: Mapping[str, Profile] | None = None) -> dict[str, str]:
    """The horizon hash's values for these (whole: storage stores a long one in pieces, like a fold state;
    ``Horizon.from_hash`` reads them); each checkpoint's rule ids as their index in its version's rules
    (``profiles``, by version field), as the states store them."""
    profile = (profiles or {}).get
    fields = {"c": str(at), **{f: dumps(state.to_json(profile(f))) for f, state in checkpoints.items()}}
    if attributes:
        fields["a"] = dumps(attributes)
    return fields


@dataclass
class StoredContact:
    """A contact's stored scoring values as they are, for the compaction: ``_rev``, timeline, states (pieces
    as stored: ``join_states``) and horizon hashes, and each version's ledger (newest first)."""

    rev: str
    timeline: dict[str, str]
    states: dict[str, str]
    horizon: dict[str, str]
    ledgers: dict[str, Any]


@dataclass(frozen=True)
class HorizonMove:
    """One contact's horizon moving forward: written only if its ``rev`` did not move since it was read."""

    contact_id: str
    rev: str
    at: int
    drop_records: Sequence[str]
    fields: dict[str, str]
    ledgers: Sequence[tuple[str, int]]


class ScoringReads(dict):
    """``TimelineStore.read_for_scoring``'s answer: contact -> (fold states, records present, horizon); and, on a
    cluster, ``pending``: contact -> its score pending key's value, where it has one (``Keys.score_pending``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pending: dict[str, str] = {}


@gateway
class TimelineStore:
    def __init__(self, redis: Any, keys: Keys, ledger_max: int, sharding: Sharding):
        self.redis = redis
        self.keys = keys
        self.ledger_max = ledger_max
        self.sharding = sharding
        self._oldest = load_script(redis, "horizon_oldest.lua")
        self._apply_batch = library_script(redis, "apply_batch.lua", RECORDS_LIBRARY, "score_entry.lua", "latest_activity.lua")
        self._read_batch = load_script(redis, "read_batch.lua", RECORDS_LIBRARY)
        self._trim = load_script(redis, "trim_horizon.lua", RECORDS_LIBRARY)
        self._read_trim = load_script(redis, "read_trim.lua", RECORDS_LIBRARY)
        self._compact = load_script(redis, "compact_contact.lua", RECORDS_LIBRARY)
        self._drop_version = load_script(redis, "drop_version.lua", "latest_activity.lua")
        self._move_states = load_script(redis, "move_states.lua", RECORDS_LIBRARY)
        self._move_timelines = load_script(redis, "move_timelines.lua", RECORDS_LIBRARY)
        self._trim_records = load_script(redis, "trim_records.lua", RECORDS_LIBRARY)
        self._derive_activity = load_script(redis, "derive_activity.lua", "latest_activity.lua")
        #: One Redis (not a cluster): a scoring batch's reads and writes go in a few script calls.
        self.single_node = not on_cluster(redis)
        #: Whether no old states hash is left (the drain's scripts then get no key of one: ~1 % of its instructions).
        self.states_moved = StatesMoved(redis, keys)
        #: Whether the timelines of releases before were all moved into the contact hashes: the drain then looks in
        #: a contact's timeline hash only when its hash holds ``RECORD_MARKER``.
        self.timelines_moved = StatesMoved(redis, keys, TIMELINES_MOVED)
        #: Whether ``short_states_once`` was recorded: states are written with their rule ids interned
        #: (``FoldState.to_json``), else in the form of the release before (``to_json_before``).
        self.states_interned = StatesMoved(redis, keys, STATES_INTERNED)
        #: Whether ``kept_properties_once`` was recorded: archived interactions' copies are trimmed (``COPIES_TRIMMED``).
        self.copies_trimmed = StatesMoved(redis, keys, COPIES_TRIMMED)
        #: Whether ``once_keys_once`` was recorded: no process of a release before keys lives (``ONCE_KEYED``).
        self.once_keyed = StatesMoved(redis, keys, ONCE_KEYED)
        #: Whether the latest-activity sorted sets of releases before were all moved (``apply_batch.lua`` then
        #: looks in none), and the parts of the names apply_batch.lua makes (storage/activity.py).
        self.activity_moved = StatesMoved(redis, keys, ACTIVITY_MIGRATION)
        ac_head, ac_tail = keys.activity_index_parts()
        self._activity_args = [LEAF_ENTRIES, GRANULE_MS, ac_head, ac_tail]
        self._activity_before = keys.activity_parts()[0]
        self._score_head = keys.score_index("", 0, 0)[:-len("@0:0")]  # (the text before `PROFILE@VERSION:BUCKET`)
        #: Whether ``ACTIVITY_NONE_EXPLICIT`` is recorded: a contact hash without ``la`` holds what its states derive
        #: (the drain's script asks the migrations hash itself; this process's migration tells it when it records).
        self.activity_derived = StatesMoved(redis, keys, ACTIVITY_NONE_EXPLICIT)
        #: On one Redis the drain's scripts get each contact's id, not its keys' names, and make the names from these
        #: parts (``Keys.contact_parts``...): a name packed as an argument cost the worker ~1,600 instructions, ~6 %
        #: of a drain (docs/performance.md, row 1). A cluster needs every key declared (its slot), so gets them.
        self._read_parts = dumps([x for parts in (keys.contact_parts(), keys.timeline_parts(), keys.horizon_parts(),
                                                  keys.states_before_parts()) for x in parts])
        self._trim_parts = dumps([*keys.contact_parts(), *keys.timeline_parts()])
        self._apply_parts = dumps([x for parts in (keys.timeline_parts(), keys.contact_parts(), keys.outbox_parts(),
                                                   keys.horizon_parts(), keys.states_before_parts(),
                                                   keys.ledger_parts()) for x in parts])

    def read_for_scoring(self, batch: dict[str, list[str]],
                         later: Later | None = None) -> Callable[[], ScoringReads]:
        """For each contact: its fold states (with ``_rev``), which of ``keys`` its timeline has, and its hot
        horizon (None while nothing left Redis) — given by the function returned. With ``later`` the calls are
        sent now and their replies read when it is called (``Later``); else they are made at once.

        read_batch.lua carries SCRIPT_CONTACTS contacts per call on one Redis, one on a cluster.
        """
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        contact_ids = list(batch)
        moved = self.states_moved()
        marked = "1" if self.timelines_moved() else "0"
        calls: list[tuple[list[str], list[Any]]] = []
        for start in range(0, len(contact_ids), per_call):
            chunk = contact_ids[start:start + per_call]
            if self.single_node:  # the names made in the script from the ids
                calls.append(([], [dumps([batch[cid] for cid in chunk]), 3 if moved else 4, marked, dumps(chunk),
                                   self._read_parts]))
                continue
            if moved:
                keys = [key for cid in chunk for key in (self.keys.contact(cid), self.keys.timeline(cid),
                                                         self.keys.horizon(cid))]
            else:
                keys = [key for cid in chunk for key in (self.keys.contact(cid), self.keys.timeline(cid),
                                                         self.keys.horizon(cid), self.keys.states_before(cid))]
            keys += [self.keys.score_pending(cid) for cid in chunk]  # (one: its value read too)
            calls.append((keys, [dumps([batch[cid] for cid in chunk]), 3 if moved else 4, marked]))
        reply = later.send_scripts(self._read_batch, calls) if later is not None \
            else Done(run_scripts(self.redis, self._read_batch, calls))

        def reads() -> ScoringReads:
            out = ScoringReads()
            for contact_id, item in zip(contact_ids, _flat(reply.result())):  # (no starred target: a list each)
                pairs = iter(item[0])  # (field, value pairs without two slices copied)
                horizon = item[2]
                out[contact_id] = (join_states(dict(zip(pairs, pairs))), item[1], int(horizon) if horizon else None)
                if len(item) > 3 and item[3]:
                    out.pending[contact_id] = item[3]
            return out
        return reads

    def read_horizons(self, contact_ids: Sequence[str]) -> dict[str, Horizon | None]:
        """Each contact's hot horizon with its checkpoints (None while nothing left Redis)."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.horizon(contact_id))
        return {cid: Horizon.from_hash(stored) for cid, stored in zip(contact_ids, pipe.execute())}

    def read_for_trim(self, contact_ids: Sequence[str]) -> dict[str, tuple[str, list[str], list[TimelineRecord],
                                                                            Horizon | None]]:
        """For each contact: its ``_rev``, the ``PROFILE@VERSION`` fields of its states, its timeline and its
        horizon (what ``app/horizon.py`` needs to move the horizon).

        read_trim.lua carries SCRIPT_CONTACTS contacts per call on one Redis, one on a cluster: a pass reads every
        contact a page at a time from the worker's ticker, beside its drains, and a pipeline of four commands per
        contact cost the worker ~5 % of a drain's CPU in redis-py's per-command packing and parsing
        (docs/performance.md, row 1)."""
        ids = list(contact_ids)
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        calls: list[tuple[list[str], list[Any]]] = [([key for cid in ids[start:start + per_call]
                   for key in (self.keys.contact(cid), self.keys.timeline(cid), self.keys.horizon(cid),
                               self.keys.states_before(cid))], [])
                 for start in range(0, len(ids), per_call)]
        replies = [reply for chunk in run_scripts(self.redis, self._read_trim, calls) for reply in chunk]
        out = {}
        for cid, (rev, fields, timeline, horizon) in zip(ids, replies):
            out[cid] = (rev or "", [f for f in fields if f != "_rev" and PIECE_MARK not in f and is_state_field(f)],
                        [decode_record(key, loads(v)) for key, v in zip(timeline[::2], timeline[1::2])],
                        Horizon.from_hash(dict(zip(horizon[::2], horizon[1::2]))))
        return out

    def move_horizons(self, moves: Sequence[HorizonMove]) -> list[int]:
        """Apply horizon moves with trim_horizon.lua; 0 marks a contact that changed since it was read."""
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        calls = []
        for start in range(0, len(moves), per_call):
            keys: list[str] = []
            payloads = []
            for move in moves[start:start + per_call]:
                cid = move.contact_id
                keys += (self.keys.timeline(cid), self.keys.contact(cid), self.keys.horizon(cid),
                         self.keys.states_before(cid))
                keys += [self.keys.ledger(cid, profile_id, version) for profile_id, version in move.ledgers]
                payloads.append({"rev": move.rev, "n": len(move.ledgers), "c": move.at,
                                 "del": list(move.drop_records), "horizon": flat_pieces(move.fields)})
            calls.append((keys, [dumps({"writes": payloads})]))
        return [int(x) for chunk in run_scripts(self.redis, self._trim, calls) for x in chunk]

    # --- how old a record each bucket may hold: the trim pass reads no bucket with nothing to trim ----------
    def lower_oldest(self, at: int, later: Later | None = None) -> Callable[[], Any]:
        """Lower every bucket's bound to ``at``, the oldest of records just written, with one ``ZADD LT`` (every
        bucket, not each record's own: finding each contact's bucket cost a drain ~1.5 % of its instructions, and
        a late record older than the horizon, the only kind that lowers a bound below it, is rare: a pass after one
        reads every bucket once). The function returned reads its reply. To be sent after the writes of those
        records (the bound a walk takes must not miss a record it did not read): on ``later`` behind them (a plain
        Redis runs one connection's commands in order), else at once."""
        buckets = range(self.sharding.buckets)
        if later is not None and later.deferred:
            reply = later.send([("ZADD", self.keys.horizon_oldest(), "LT", *[x for b in buckets for x in (at, b)])])
            return reply.result
        self.redis.zadd(self.keys.horizon_oldest(), {str(b): at for b in buckets}, lt=True)
        return lambda: None

    def oldest_bounds(self) -> tuple[bool, dict[int, float]]:
        """Whether the bounds cover every record stored (``all``: else a bucket's may miss records written
        before they were kept), and per bucket how old a record its contacts may hold (ms; a bucket with
        none is left out)."""
        covered = False
        bounds: dict[int, float] = {}
        for member, score in self.redis.zrange(self.keys.horizon_oldest(), 0, -1, withscores=True):
            name = member.decode() if isinstance(member, bytes) else member
            if name == "all":
                covered = True
                continue
            if name == "pass":
                continue
            kind, _, bucket = name.rpartition(":")
            if kind in ("", "taken"):  # a walk's kept:B is what it read: B and taken:B bound the rest
                bounds[int(bucket)] = min(score, bounds.get(int(bucket), score))
        return covered, bounds

    def take_oldest(self, bucket: int) -> None:
        """A walk of the bucket begins (its bound is taken; the writers after it lower a new one)."""
        self._oldest(keys=[self.keys.horizon_oldest()], args=["take", bucket])

    def keep_oldest(self, bucket: int, at: int) -> None:
        """The walk of the bucket left a record of this ``at`` in Redis."""
        self.redis.zadd(self.keys.horizon_oldest(), {f"kept:{bucket}": at}, lt=True)

    def settle_oldest(self, bucket: int) -> None:
        """The walk of the bucket ended: its bound is what it left and what was written since it began."""
        self._oldest(keys=[self.keys.horizon_oldest()], args=["settle", bucket])

    def begin_oldest_pass(self, started: int) -> None:
        """A trim pass begins at its first bucket (started at ``started``, ms)."""
        self.redis.zadd(self.keys.horizon_oldest(), {"pass": started})

    def oldest_pass(self) -> int | None:
        """When the trim pass that began at its first bucket began (None: none did)."""
        score = self.redis.zscore(self.keys.horizon_oldest(), "pass")
        return None if score is None else int(score)

    def oldest_cover_all(self, now: int) -> None:
        """Say the bounds cover every record stored: a pass walked every bucket, or the store was empty."""
        self.redis.zadd(self.keys.horizon_oldest(), {"all": now})

    def read_timelines(self, contact_ids: Sequence[str]) -> dict[str, list[TimelineRecord]]:
        """Each contact's timeline records (those of its hash, then those of its timeline hash), in one round trip."""
        return {cid: [decode_record(key, loads(v)) for key, v in stored.items()]
                for cid, stored in self.stored_timelines(contact_ids).items()}

    def stored_timelines(self, contact_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each contact's records as stored (``source:id`` -> record JSON), wherever they are.

        The timeline hash is read before the contact's: a record moves from the one into the other (atomically:
        ``move_timelines.lua``, the compaction), and a move can run between two commands of a pipeline — read the
        other way, a record moved in between would be in neither read. Records move out only when a write makes
        room in the contact's hash (``apply_batch.lua``, ``rf_make_room``), which moves its ``_rev``: a contact whose
        ``_rev`` moved between the reads and whose hash holds the marker is read again."""
        out: dict[str, dict[str, str]] = {}
        left = list(contact_ids)
        for _ in range(READ_AGAIN):
            pipe = self.redis.pipeline(transaction=False)
            for contact_id in left:
                pipe.hget(self.keys.contact(contact_id), "_rev")
                pipe.hgetall(self.keys.timeline(contact_id))
                pipe.hgetall(self.keys.contact(contact_id))
            replies = pipe.execute()
            again = []
            for i, cid in enumerate(left):
                rev, apart, stored = replies[3 * i:3 * i + 3]
                if stored.get("_rev") != rev and RECORD_MARKER in stored:
                    again.append(cid)
                else:
                    out[cid] = {**hash_records(stored), **apart}
            if not again:
                return {cid: out[cid] for cid in contact_ids}
            left = again
        raise InconsistentRead(f"contacts {left[:3]} kept changing while their records were read")

    def read_states(self, contact_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each contact's fold states with ``_rev``, whole."""
        return {cid: join_states(states) for cid, states in self.stored_states(contact_ids).items()}

    def stored_states(self, contact_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        """Each contact's fold states with ``_rev`` as stored (pieces apart), wherever they are (the contact's hash,
        or the hash of releases before while it exists), in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.contact(contact_id))
            pipe.hgetall(self.keys.states_before(contact_id))
        replies = pipe.execute()
        return {cid: split_contact(replies[2 * i], replies[2 * i + 1])[1] for i, cid in enumerate(contact_ids)}

    def read_scores(self, contact_ids: Sequence[str], field: str) -> dict[str, int | None]:
        """Each contact's score in one version (``PROFILE@VERSION``), None where it has none."""
        states = self.read_states(contact_ids)
        return {cid: FoldState.from_json(loads(states[cid][field])).score if states[cid].get(field) else None
                for cid in contact_ids}

    def apply_many(self, writes: Sequence[ContactWrite], later: Later | None = None,
                   active: Mapping[str, tuple[int, int | str]] | None = None,
                   scored: Mapping[str, Any] | None = None,
                   kept: Mapping[str, int | bool] | None = None,
                   derived: Mapping[str, int | bool] | None = None) -> Callable[[], list[int]]:
        """Write scored contacts with apply_batch.lua; the function returned gives, per write, 0 for a contact
        that lost a race (else its new ``_rev``). With ``later`` the calls are sent now and their replies read
        when it is called (``Later``: the caller computes its next writes meanwhile); else they are made at once.
        ``active`` (one Redis only): contact -> (the time of its latest interaction in the batch, its bucket),
        written with it to its ``la`` and the latest-activity index (storage/activity.py). ``scored``: contact ->
        its score index write (``storage/score_base.py``: on one Redis ``[bucket, V, NEW, HELD, ...]``, written with
        it; on a cluster the ``pending_text`` its pending key gets with it), when it has one. ``kept``: contact -> what the states the write keeps as read derive
        (``kept_activity``; a contact not in it: none), with which the script keeps its ``la`` exact.
        ``derived`` (one Redis): contact -> what every state it read derives
        (``ContactResult.derived_before``), sent as a write's [13] so the script reads no state it replaces.

        On one Redis a call carries SCRIPT_CONTACTS contacts; on a cluster, one contact (its keys
        share one slot), pipelined per node.
        """
        single = self.single_node
        per_call = SCRIPT_CONTACTS if single else 1
        moved = self.states_moved()
        extra: list[Any] = []
        if single:
            extra = [*self._activity_args, "" if self.activity_moved() else self._activity_before,
                     self._score_head, self.keys.prefix, self.keys.migrations(), ACTIVITY_NONE_EXPLICIT]
        kept = kept or {}
        calls = []
        for start in range(0, len(writes), per_call):
            keys: list[str] = []
            ids: list[str] = []
            payloads: list[list[Any]] = []
            for w in writes[start:start + per_call]:
                cid = w.contact_id
                if single:  # the names made in the script from the ids
                    ids.append(cid)
                else:
                    keys += (self.keys.timeline(cid), self.keys.contact(cid), self.keys.outbox(cid),
                             self.keys.horizon(cid))
                    if not moved:
                        keys.append(self.keys.states_before(cid))
                    keys += [self.keys.ledger(cid, lw.profile_id, lw.version) for lw in w.ledgers]
                    if scored and cid in scored:
                        keys.append(self.keys.score_pending(cid))
                # (what is empty as a shared empty tuple, the same JSON: no comprehension called for it, ~0.7 us a
                # contact; a dict's pairs flattened by chain, in C)
                ledgers, states, doc, horizon = w.ledgers, w.states, w.doc, w.horizon
                payload: list[Any] = [
                    w.rev, [lw.field for lw in ledgers] if ledgers else (),
                    [*_flat(w.timeline.items())], _pieces(states) if states else (), w.drop, w.outbox,
                    [*_flat(doc.items())] if doc else (), _pieces(horizon) if horizon else ()]
                at = active.get(cid) if single and active else None
                sc = scored.get(cid) if scored else None
                if at is not None:
                    payload += at
                elif sc is not None or cid in kept:
                    payload += _NO_ACTIVITY
                if sc is not None:
                    payload.append(sc)
                dv = derived.get(cid) if single and derived else None
                if cid in kept or dv is not None:  # (else nothing more: what the states keep derives none)
                    if at is None and sc is None and cid not in kept:
                        payload += _NO_ACTIVITY
                    if sc is None:
                        payload.append(False)
                    payload.append(kept.get(cid, False))
                    if dv is not None:  # [13]: what every state read derives (the script reads none it replaces)
                        payload.append(dv)
                payloads.append(payload)
            if single:
                calls.append((keys, [dumps(payloads), 4 if moved else 5, dumps(ids), self._apply_parts, *extra]))
            else:
                calls.append((keys, [dumps(payloads), 4 if moved else 5]))
        reply = later.send_scripts(self._apply_batch, calls) if later is not None \
            else Done(run_scripts(self.redis, self._apply_batch, calls))
        return lambda: [int(x) for chunk in reply.result() for x in chunk]

    def later(self) -> Later:
        """A ``Later`` on this store's Redis (close it, or use it as a context manager)."""
        return Later(self.redis)

    def ledger(self, contact_id: str, profile_id: str, version: int, start: int, count: int) -> list[dict]:
        """A ledger list as an earlier release stored it, newest first (empty when there is none: nothing stores
        a ledger now; app/ledger_history.py makes it from the timeline)."""
        raw = self.redis.lrange(self.keys.ledger(contact_id, profile_id, version), start, start + count - 1)
        return [decode_ledger_entry(loads(x)) for x in raw]

    def drop_version(self, contact_ids: Sequence[str], profile_id: str, version: int) -> None:
        """Remove one version's fold states, checkpoints and ledgers from these contacts (``drop_version.lua``,
        atomic per contact; SCRIPT_CONTACTS contacts a call on one Redis, one on a cluster).

        Each contact's ``_rev`` moves with it, in the hash of the states (with them: ``apply_batch.lua``), whether or
        not it held a state of the version: a scorer that read the contact before, and the versions before the
        switch this retirement follows, loses its write's race instead of writing the retired state back, and reads
        the contact and the versions again (``Scorer._versions``)."""
        field = version_field(profile_id, version)
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        calls: list[tuple[list[str], list[Any]]] = []
        for start in range(0, len(contact_ids), per_call):
            keys = [key for cid in contact_ids[start:start + per_call]
                    for key in (self.keys.contact(cid), self.keys.states_before(cid), self.keys.horizon(cid),
                                self.keys.ledger(cid, profile_id, version))]
            calls.append((keys, [field, self.keys.migrations(), ACTIVITY_NONE_EXPLICIT] if self.single_node else [field]))
        run_scripts(self.redis, self._drop_version, calls)

    def drain_outbox(self, contact_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Read the pending outbox events of these contacts (removed by ``ack_outbox``)."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.lrange(self.keys.outbox(cid), 0, -1)
        return {cid: [loads(e) for e in events] for cid, events in zip(contact_ids, pipe.execute()) if events}

    def append_outbox(self, events: dict[str, list[str]]) -> None:
        """Add events (JSON) to contacts' outboxes after their write (company-score changes, made after the score
        index): dispatched with the rest, kept like the rest until then."""
        pipe = self.redis.pipeline(transaction=False)
        for cid, items in events.items():
            if items:
                pipe.rpush(self.keys.outbox(cid), *items)
        pipe.execute()

    def ack_outbox(self, counts: dict[str, int]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for cid, n in counts.items():
            pipe.ltrim(self.keys.outbox(cid), n, -1)
        pipe.execute()

    # --- the contact hash's migration (app/contact_layout.py) ------------------------------------------
    def move_states(self, contact_ids: Sequence[str]) -> int:
        """Move these contacts' fold states from the hash of releases before into their contact hash
        (``move_states.lua``, atomic per contact); returns how many had states to move."""
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        ids = list(contact_ids)
        calls: list[tuple[list[str], list[Any]]] = [
            ([key for cid in ids[start:start + per_call] for key in (self.keys.contact(cid),
                                                                     self.keys.states_before(cid),
                                                                     self.keys.timeline(cid))], [])
            for start in range(0, len(ids), per_call)]
        return sum(int(n) for n in run_scripts(self.redis, self._move_states, calls))

    def move_timelines(self, contact_ids: Sequence[str]) -> int:
        """Move these contacts' timeline records from their timeline hash into their contact hash
        (``move_timelines.lua``, atomic per contact; a record that does not fit stays, ``place_records``); returns
        how many had records to move."""
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        ids = list(contact_ids)
        calls: list[tuple[list[str], list[Any]]] = [
            ([key for cid in ids[start:start + per_call] for key in (self.keys.contact(cid), self.keys.timeline(cid))],
             [])
            for start in range(0, len(ids), per_call)]
        return sum(int(n) for n in run_scripts(self.redis, self._move_timelines, calls))

    def trim_records(self, trims: Sequence[list[str]]) -> int:
        """Replace archived records by their trimmed copies (``trim_records.lua``, atomic per contact): per contact
        ``[id, key, stored value, trimmed value, key, ...]``, each replaced only where it is still stored as that
        value. On one Redis SCRIPT_CONTACTS contacts a call, their names made in the script from their ids (as the
        drain's are: a name packed as an argument costs the caller ~1,600 instructions); on a cluster one contact a
        call, its keys declared. Returns how many were replaced."""
        if self.single_node:
            calls: list[tuple[list[str], list[Any]]] = [
                ([], [dumps(trims[start:start + SCRIPT_CONTACTS]), self._trim_parts])
                for start in range(0, len(trims), SCRIPT_CONTACTS)]
        else:
            calls = [([self.keys.contact(item[0]), self.keys.timeline(item[0])], [dumps([item])]) for item in trims]
        return sum(int(n) for n in run_scripts(self.redis, self._trim_records, calls)) if calls else 0

    def derive_activity(self, contact_ids: Sequence[str], drop: bool) -> int:
        """``activity_derived_once``'s passes over these contacts (``derive_activity.lua``, atomic per contact; a
        call per page on one Redis, per contact on a cluster): without ``drop``, a hash without ``la`` whose states
        derive a time gets ``la`` empty ("none"); with it, an ``la`` its states derive goes. Returns how many hashes
        were written."""
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        ids = list(contact_ids)
        mode = "drop" if drop else "none"
        calls: list[tuple[list[str], list[Any]]] = [
            ([self.keys.contact(cid) for cid in ids[start:start + per_call]], [mode])
            for start in range(0, len(ids), per_call)]
        return sum(int(n) for n in run_scripts(self.redis, self._derive_activity, calls))

    # --- the compact layout's migration (app/compaction.py) --------------------------------------------
    def read_stored(self, contact_ids: Sequence[str]) -> dict[str, StoredContact]:
        """Each contact's stored values as they are (whatever their form): what the compaction rewrites."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hgetall(self.keys.contact(cid))
            pipe.hgetall(self.keys.states_before(cid))
            pipe.hgetall(self.keys.timeline(cid))
            pipe.hgetall(self.keys.horizon(cid))
        replies = pipe.execute()
        out = {}
        pipe = self.redis.pipeline(transaction=False)
        for i, cid in enumerate(contact_ids):
            stored, before, apart, horizon = replies[4 * i:4 * i + 4]
            timeline = {**hash_records(stored), **apart}
            states = split_contact(stored, before)[1]
            fields = [f for f in states if f != "_rev" and PIECE_MARK not in f]
            for vfield in fields:
                pipe.lrange(self.keys.ledger(cid, *parse_version_field(vfield)), 0, -1)
            out[cid] = StoredContact(states.get("_rev", ""), timeline, states, horizon, dict.fromkeys(fields))
        ledgers = iter(pipe.execute())
        for contact in out.values():
            for vfield in contact.ledgers:
                contact.ledgers[vfield] = next(ledgers)
        return out

    def rewrite_stored(self, contact_id: str, rev: str, timeline: dict[str, str], states: dict[str, str],
                       horizon: dict[str, str], ledgers: dict[str, tuple[int, list[str]]]) -> bool:
        """Write values of the same data in another form, with compact_contact.lua (``states`` and ``horizon``
        whole: stored in pieces); False when the contact changed since it was read (``rev``)."""
        keys = [self.keys.timeline(contact_id), self.keys.contact(contact_id), self.keys.horizon(contact_id),
                self.keys.states_before(contact_id)]
        keys += [self.keys.ledger(contact_id, *parse_version_field(f)) for f in ledgers]
        payload = {"rev": rev, "timeline": timeline, "records": {record_field(k): v for k, v in timeline.items()},
                   "states": {f: state_pieces(v) for f, v in states.items()},
                   "horizon": {f: state_pieces(v) for f, v in horizon.items()},
                   "ledgers": [[n, entries] for n, entries in ledgers.values()]}
        return bool(self._compact(keys=keys, args=[dumps(payload)]))

