"""The stored forms of a contact's scoring data, and the write of one scored contact: the contracts
between the scorer (app/scorer.py) and the storage layer (app/storage/timelines.py), each with one
encoding and one decoding.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from .profiles import version_field

__all__ = ["PROPERTY_CODES", "PROPERTY_CODES_READ_BEFORE", "ContactWrite", "LedgerEntry", "LedgerWrite", "TimelineRecord", "decode_ledger_entry",
           "decode_record",
           "encode_ledger_entry", "encode_record", "is_compact_ledger_entry", "is_compact_record", "lacks_properties",
           "make_record", "make_write",
           "record_json", "record_text", "code_or_name", "type_code", "type_name"]

#: Interaction types stored as their index here (a small integer) in timeline records, ledger entries and fold
#: states (the built-in catalogue of ``interactions.py``, then the manual and attribute types): stored data
#: refers to these numbers, so the tuple is APPEND ONLY — never reorder or remove an entry. Other types
#: (``custom.*``) are stored by name. A static table, not one in Redis: a backup restored anywhere reads the same.
TYPE_CODES = ("email.delivered", "email.opened", "email.clicked", "email.bounced", "email.unsubscribed",
              "email.spam_reported", "appointment.booked", "appointment.cancelled", "appointment.rescheduled",
              "appointment.no_show", "form.submitted", "payment.succeeded", "payment.failed", "payment.refunded",
              "contact.dnd_updated", "score.manual", "contact.attributes")
_TYPE_INDEX = {name: i for i, name in enumerate(TYPE_CODES)}

#: Ledger reasons stored as their index here (APPEND ONLY, like ``TYPE_CODES``); any other is stored by name.
REASON_CODES = ("matched", "capped", "floor", "limit", "expired", "decay", "manual", "fit")
_REASON_INDEX = {name: i for i, name in enumerate(REASON_CODES)}


#: Property names stored as their index here (a small integer) in timeline records: the names our webhook receivers
#: (app/hooks/) and the manual and attribute records write, and a few that most accounts send. APPEND ONLY, like
#: ``TYPE_CODES``; any other name is stored as it is. A static table for the same reason.
PROPERTY_CODES = ("message_id", "machine_open", "url", "category", "reason", "status", "amount", "currency",
                  "payment_intent", "charge", "invoice", "customer", "description", "stripe_event", "bounce_type",
                  "blocked", "classification", "group_id", "tags", "form_id", "form_name", "form_title",
                  "response_id", "response_token", "submission_id", "score", "booking_uid", "booking_id", "title",
                  "event_type", "event_type_id", "start_time", "end_time", "rescheduled_from", "invitee", "event",
                  "event_name", "old_invitee", "canceled_by", "utm_source", "utm_medium", "utm_campaign", "channels",
                  "profile", "set", "add", "reset", "by", "depth", "company", "plan", "path", "campaign_id",
                  "email_id", "subject", "ip", "useragent", "country", "order_id", "product", "value",
                  # 2026-12-06 evening: Stripe's and Postmark's, for now only in the names a trimmed copy lists as
                  # left out (``PROPERTY_CODES_READ_BEFORE``)
                  "stripe_type", "livemode", "tag", "stream", "first_open", "permanent", "origin")
#: How many of ``PROPERTY_CODES`` a release before 2026-12-06 evening reads (it fails on a code past them): a
#: property is stored by one of those only, since a web process of this release writes records (a manual change, a
#: contact's attributes, whose names are anyone's: ``tag``) while processes of the release before still read them.
#: The names a trimmed copy lists as left out use every code once ``once-values-keyed`` is recorded (``listed``:
#: no process of a release before lives then), by name before. A later release may store properties by every code.
PROPERTY_CODES_READ_BEFORE = 61
_PROPERTY_INDEX = {name: i for i, name in enumerate(PROPERTY_CODES[:PROPERTY_CODES_READ_BEFORE])}
_LISTED_INDEX = {name: i for i, name in enumerate(PROPERTY_CODES)}


def type_code(name: str) -> int | str:
    """A type's stored form: its index in ``TYPE_CODES``, else its name."""
    return _TYPE_INDEX.get(name, name)


#: ``type_code`` without a Python call: ``code_or_name(name, name)`` (a loop's local: the fold's state encodes a
#: type per pending expiry and decay step).
code_or_name = _TYPE_INDEX.get


def type_name(stored: int | str) -> str:
    """The type a stored form (``type_code``'s, or a name written by an earlier release) stands for."""
    return TYPE_CODES[stored] if isinstance(stored, int) else stored


@dataclass(frozen=True, slots=True, init=False)
class TimelineRecord:
    """One entry of a contact's timeline (an interaction or a manual change), as the fold reads it.

    Two stored forms, each written and read only here: in the timeline hash, ``encode_record`` /
    ``decode_record`` (the field is the ``key``, the value ``[type, at, [name, value...]]``); in a partition
    stream and an outbox event, ``to_json`` / ``from_json`` (``{"id", "src", "t", "at", "p"}``).
    """

    id: str
    source: str
    type: str
    at: int  # milliseconds since the epoch, UTC
    properties: Mapping[str, Any]
    #: ``source:id``: the record's field in the timeline, and its idempotency key. Made once: a drain and a
    #: refold read it several times per record (its sort key, its field, its place in the batch).
    key: str = field(init=False, repr=False, compare=False)
    #: The names of the properties this copy lacks (empty: it is whole): Redis keeps of an archived interaction
    #: only what the rules read (``kept_properties.trimmed``); the archive holds the rest.
    dropped: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def __init__(self, id: str, source: str, type: str, at: int, properties: Mapping[str, Any],
                 dropped: tuple[str, ...] = ()) -> None:
        # Frozen, so each field is set through its slot (``_slot_setters``); a recompute makes one per record
        set_id, set_source, set_type, set_at, set_properties, set_key, set_dropped = _RECORD_SET
        set_id(self, id)
        set_source(self, source)
        set_type(self, type)
        set_at(self, at)
        set_properties(self, properties)
        set_key(self, f"{source}:{id}")
        set_dropped(self, dropped)

    def to_json(self) -> dict[str, Any]:
        return record_json(self.id, self.source, self.type, self.at, self.properties)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TimelineRecord:
        return make_record(data["id"], data["src"], data["t"], data["at"], data.get("p") or {})


def record_json(id: str, source: str, type: str, at: int, properties: Mapping[str, Any]) -> dict[str, Any]:
    """``TimelineRecord(id, source, type, at, properties).to_json()`` without the record: a webhook's stream entry
    is made from its interaction (``ingest._payload``), and the record cost ~7k of ~1 M instructions a webhook."""
    return {"id": id, "src": source, "t": type, "at": at, "p": properties}


def _slot_setters(cls: type, names: Sequence[str]) -> tuple[Callable[[Any, Any], None], ...]:
    """The setters of these slots of a frozen slotted dataclass, for a hand-written ``__init__``: the generated
    one sets each field through ``object.__setattr__`` (a frozen class refuses its own), about twice the cost of
    the whole construction (TimelineRecord: 2.1 -> 1.0 us in-process; LedgerEntry's eleven fields more so). A
    fold makes a record per interaction read and a ledger entry per change."""
    return tuple(cls.__dict__[name].__set__ for name in names)


_RECORD_SET = _slot_setters(TimelineRecord, ("id", "source", "type", "at", "properties", "key", "dropped"))


def unfrozen(cls: type) -> type:
    """A plain class with the slots of the frozen slotted dataclass ``cls``: the same names in the same order, so the
    same layout. A hot path's factory (``make_record``, ``make_write``) fills one with plain attribute stores, which
    the interpreter specializes, and then makes it a ``cls`` by setting its ``__class__`` (Python allows that
    between classes of the same layout): the object is then exactly what ``cls(...)`` makes, frozen like it. Each
    slot setter of the hand-written ``__init__``s is a method-wrapper call with an argument tuple: TimelineRecord
    6.8k -> 3.3k instructions, ContactWrite 8.7k -> 3.6k (callgrind; docs/performance.md, row 1 of 2026-12-05
    evening). The ``__init__``s stay for every other caller."""
    return type(f"_Unfrozen{cls.__name__}", (), {"__slots__": cls.__slots__})  # type: ignore[attr-defined]


_RecordFields: Any = unfrozen(TimelineRecord)


def make_record(id: str, source: str, type: str, at: int, properties: Mapping[str, Any],
                dropped: tuple[str, ...] = ()) -> TimelineRecord:
    """``TimelineRecord(id, source, type, at, properties, dropped)``, made in half the instructions (``unfrozen``): a
    drain makes one per interaction it reads."""
    record = _RecordFields()
    record.id = id
    record.source = source
    record.type = type
    record.at = at
    record.properties = properties
    record.key = f"{source}:{id}"
    record.dropped = dropped
    record.__class__ = TimelineRecord
    return record


def encode_record(record: TimelineRecord, listed: bool = False) -> list[Any]:
    """The stored form under the field ``record.key``: ``[type, at, [name, value, name, value...]]`` with the type
    and the property names interned (``type_code``, ``PROPERTY_CODES``; the id and source are in the field name;
    empty properties are left out), and for a copy that lacks properties (``record.dropped``) their names, interned
    alike, as a fourth element. Short enough that a contact's hash of such values keeps Redis's compact (listpack)
    encoding."""
    type_ = record.type
    properties = record.properties
    dropped = record.dropped
    if not properties and not dropped:
        return [_TYPE_INDEX.get(type_, type_), record.at]  # (``type_code`` inline: one per record scored)
    flat: list[Any] = []
    code = _PROPERTY_INDEX.get
    for name, item in properties.items():
        flat.append(code(name, name))
        flat.append(item)
    if dropped:
        named = (_LISTED_INDEX if listed else _PROPERTY_INDEX).get
        return [_TYPE_INDEX.get(type_, type_), record.at, flat, [named(name, name) for name in dropped]]
    return [_TYPE_INDEX.get(type_, type_), record.at, flat]


def record_text(record: TimelineRecord, listed: bool = False) -> str:
    """The text stored for a record (``encode_record``'s form as JSON): what the scorer writes, and what the archiver
    expects to find when it replaces the record by its trimmed copy (app/archiving.py)."""
    return orjson.dumps(encode_record(record, listed)).decode()


def is_compact_record(stored: Any) -> bool:
    """Whether a stored timeline value is already in ``encode_record``'s form (the migration's test)."""
    return isinstance(stored, list) and not (isinstance(stored[0], str) and stored[0] in _TYPE_INDEX) \
        and (len(stored) < 3 or isinstance(stored[2], list))


def lacks_properties(stored: Any) -> bool:
    """Whether a stored timeline value (as JSON gives it back) is a copy without some of its properties (the fourth
    element of ``encode_record``'s form): ``decode_record(key, stored).dropped`` without making the record (a backup
    asks it of every hot record the archive holds, at a quarter of the cost)."""
    return isinstance(stored, list) and len(stored) > 3


def decode_record(key: str, stored: Any) -> TimelineRecord:
    """A record from its field and stored value (the forms of earlier releases, an object, an array with the type
    by name, or with the properties as an object, read as they were)."""
    if isinstance(stored, dict):
        return TimelineRecord.from_json(stored)
    source, _, id_ = key.partition(":")
    properties = stored[2] if len(stored) > 2 else {}
    if isinstance(properties, list):
        properties = {PROPERTY_CODES[name] if isinstance(name, int) else name: item
                      for name, item in zip(properties[::2], properties[1::2])}
    if len(stored) > 3:  # a copy without some properties: their names
        dropped = tuple(PROPERTY_CODES[name] if isinstance(name, int) else name for name in stored[3])
        return make_record(id_, source, type_name(stored[0]), stored[1], properties, dropped)
    return make_record(id_, source, type_name(stored[0]), stored[1], properties)


@dataclass(frozen=True, slots=True, init=False)
class LedgerEntry:
    """One explained change: what was asked (points), what applied (change), and why."""

    at: int
    interaction_id: str
    source: str
    type: str
    rule_id: str | None
    points: int
    change: int
    score: int
    reason: str
    note: str | None = None
    # Which caps bit ("group:<id>", "max_score"): for reports such as the preview; not stored.
    capped_by: tuple[str, ...] = ()

    def __init__(self, at: int, interaction_id: str, source: str, type: str, rule_id: str | None, points: int,
                 change: int, score: int, reason: str, note: str | None = None,
                 capped_by: tuple[str, ...] = ()) -> None:
        # as TimelineRecord's: each field through its slot (``_slot_setters``)
        set_at, set_id, set_source, set_type, set_rule, set_points, set_change, set_score, set_reason, set_note, \
            set_capped = _LEDGER_SET
        set_at(self, at)
        set_id(self, interaction_id)
        set_source(self, source)
        set_type(self, type)
        set_rule(self, rule_id)
        set_points(self, points)
        set_change(self, change)
        set_score(self, score)
        set_reason(self, reason)
        set_note(self, note)
        set_capped(self, capped_by)

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "interaction_id": self.interaction_id, "source": self.source,
                "type": self.type, "rule_id": self.rule_id, "points": self.points,
                "change": self.change, "score": self.score, "reason": self.reason, "note": self.note}


_LEDGER_SET = _slot_setters(LedgerEntry, ("at", "interaction_id", "source", "type", "rule_id", "points", "change",
                                           "score", "reason", "note", "capped_by"))


#: The fields of a ledger entry as the API shows it. Earlier releases stored them as a JSON array in this
#: order, without a trailing null ``note`` (9 or 10 elements); ``decode_ledger_entry`` still reads that form.
LEDGER_FIELDS = ("at", "interaction_id", "source", "type", "rule_id", "points", "change", "score", "reason", "note")

#: Elements of the compact stored form (``encode_ledger_entry``): always this many, so it never looks like the older.
_COMPACT_LEDGER_LEN = 8


def encode_ledger_entry(entry: LedgerEntry) -> list[Any]:
    """The stored form of a ``LedgerEntry``: ``[at, interaction key, type, rule_id, points, change, score,
    reason]``. It points at the interaction by its key (``source:id``, its field in the timeline) instead of
    repeating source and id, interns type and reason (``type_code``, ``REASON_CODES``), and carries a note as
    ``[reason, note]`` in the last place. About 60 % of the bytes of the earlier array form."""
    reason: Any = _REASON_INDEX.get(entry.reason, entry.reason)
    if entry.note is not None:
        reason = [reason, entry.note]
    return [entry.at, f"{entry.source}:{entry.interaction_id}", type_code(entry.type), entry.rule_id, entry.points,
            entry.change, entry.score, reason]


def is_compact_ledger_entry(stored: Any) -> bool:
    """Whether a stored ledger entry is already in ``encode_ledger_entry``'s form (the migration's test)."""
    return isinstance(stored, list) and len(stored) == _COMPACT_LEDGER_LEN


def decode_ledger_entry(stored: Any) -> dict[str, Any]:
    """A stored ledger entry as the API shows it (the forms of earlier releases, objects and 9- or 10-element
    arrays, read as they were)."""
    if isinstance(stored, dict):
        return stored
    if len(stored) != _COMPACT_LEDGER_LEN:
        return {name: stored[i] if i < len(stored) else None for i, name in enumerate(LEDGER_FIELDS)}
    at, key, type_, rule_id, points, change, score, reason = stored
    note = None
    if isinstance(reason, list):
        reason, note = reason
    source, _, interaction_id = key.partition(":")
    return {"at": at, "interaction_id": interaction_id, "source": source, "type": type_name(type_),
            "rule_id": rule_id, "points": points, "change": change, "score": score,
            "reason": REASON_CODES[reason] if isinstance(reason, int) else reason, "note": note}


@dataclass(frozen=True, slots=True, init=False)
class LedgerWrite:
    """A profile version whose ledger changed in a write. No entries are stored any more (the ledger is the fold
    of the timeline, made again on read: app/ledger_history.py), so ``entries`` stays empty; storage drops the
    ledger list an earlier release stored for the version, which would be stale. ``replace``: a refold."""

    profile_id: str
    version: int
    replace: bool
    entries: Sequence[str]
    #: ``PROFILE@VERSION`` (``version_field``), made once: the write names its ledger by it, for every contact
    #: whose ledger changed (the scorer makes one ``LedgerWrite`` per version and kind)
    field: str = field(init=False, repr=False, compare=False)

    def __init__(self, profile_id: str, version: int, replace: bool, entries: Sequence[str]) -> None:
        set_profile, set_version, set_replace, set_entries, set_field = _LEDGER_WRITE_SET  # as TimelineRecord's
        set_profile(self, profile_id)
        set_version(self, version)
        set_replace(self, replace)
        set_entries(self, entries)
        set_field(self, version_field(profile_id, version))


_LEDGER_WRITE_SET = _slot_setters(LedgerWrite, ("profile_id", "version", "replace", "entries", "field"))


@dataclass(frozen=True, slots=True, init=False)
class ContactWrite:
    """Everything scoring one contact changes, written at once only if the contact's ``rev`` (the
    ``_rev`` of its fold states) did not move since it was read. Values are already encoded."""

    contact_id: str
    rev: str
    timeline: Mapping[str, str]
    states: Mapping[str, str]
    drop: Sequence[str]
    ledgers: Sequence[LedgerWrite]
    outbox: Sequence[str]
    doc: Mapping[str, str]
    #: Fields of the contact's horizon hash to set (the checkpoints a refold from the archive made).
    horizon: Mapping[str, str]

    def __init__(self, contact_id: str, rev: str, timeline: Mapping[str, str], states: Mapping[str, str],
                 drop: Sequence[str], ledgers: Sequence[LedgerWrite], outbox: Sequence[str], doc: Mapping[str, str],
                 horizon: Mapping[str, str] | None = None) -> None:
        # as TimelineRecord's: each field through its slot (one per contact scored)
        set_cid, set_rev, set_timeline, set_states, set_drop, set_ledgers, set_outbox, set_doc, set_horizon = _WRITE_SET
        set_cid(self, contact_id)
        set_rev(self, rev)
        set_timeline(self, timeline)
        set_states(self, states)
        set_drop(self, drop)
        set_ledgers(self, ledgers)
        set_outbox(self, outbox)
        set_doc(self, doc)
        set_horizon(self, {} if horizon is None else horizon)


_WRITE_SET = _slot_setters(ContactWrite, ("contact_id", "rev", "timeline", "states", "drop", "ledgers", "outbox",
                                          "doc", "horizon"))
_WriteFields: Any = unfrozen(ContactWrite)


def make_write(contact_id: str, rev: str, timeline: Mapping[str, str], states: Mapping[str, str], drop: Sequence[str],
               ledgers: Sequence[LedgerWrite], outbox: Sequence[str], doc: Mapping[str, str],
               horizon: Mapping[str, str]) -> ContactWrite:
    """``ContactWrite(...)`` (every field given), made in less than half the instructions (``unfrozen``): one per
    contact scored."""
    write = _WriteFields()
    write.contact_id = contact_id
    write.rev = rev
    write.timeline = timeline
    write.states = states
    write.drop = drop
    write.ledgers = ledgers
    write.outbox = outbox
    write.doc = doc
    write.horizon = horizon
    write.__class__ = ContactWrite
    return write
