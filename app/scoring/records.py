"""The stored forms of a contact's scoring data, and the write of one scored contact: the contracts
between the scorer (app/scorer.py) and the storage layer (app/storage/timelines.py), each with one
encoding and one decoding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ContactWrite", "LedgerEntry", "LedgerWrite", "TimelineRecord", "decode_ledger_entry", "decode_record",
           "encode_ledger_entry", "encode_record"]


@dataclass(frozen=True, slots=True)
class TimelineRecord:
    """One entry of a contact's timeline (an interaction or a manual change), as the fold reads it.

    Two stored forms, each written and read only here: in the timeline hash, ``encode_record`` /
    ``decode_record`` (the field is the ``key``, the value ``[type, at, properties]``); in a partition
    stream and an outbox event, ``to_json`` / ``from_json`` (``{"id", "src", "t", "at", "p"}``).
    """

    id: str
    source: str
    type: str
    at: int  # milliseconds since the epoch, UTC
    properties: Mapping[str, Any]

    @property
    def key(self) -> str:
        """``source:id``: the record's field in the timeline, and its idempotency key."""
        return f"{self.source}:{self.id}"

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "src": self.source, "t": self.type, "at": self.at, "p": self.properties}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TimelineRecord:
        return cls(data["id"], data["src"], data["t"], data["at"], data.get("p") or {})


def encode_record(record: TimelineRecord) -> list[Any]:
    """The stored form under the field ``record.key``: ``[type, at, properties]`` (the id and source
    are in the field name; empty properties are left out)."""
    value = [record.type, record.at]
    if record.properties:
        value.append(record.properties)
    return value


def decode_record(key: str, stored: Any) -> TimelineRecord:
    """A record from its field and stored value (records written as objects read as they were)."""
    if isinstance(stored, dict):
        return TimelineRecord.from_json(stored)
    source, _, id_ = key.partition(":")
    return TimelineRecord(id_, source, stored[0], stored[1], stored[2] if len(stored) > 2 else {})


@dataclass(frozen=True, slots=True)
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

    def to_json(self) -> dict[str, Any]:
        return {"at": self.at, "interaction_id": self.interaction_id, "source": self.source,
                "type": self.type, "rule_id": self.rule_id, "points": self.points,
                "change": self.change, "score": self.score, "reason": self.reason, "note": self.note}


#: A stored ledger entry is a JSON array of these fields, in this order, without a trailing null
#: ``note`` (about half the bytes of the same entry as an object with every field named).
LEDGER_FIELDS = ("at", "interaction_id", "source", "type", "rule_id", "points", "change", "score", "reason", "note")


def encode_ledger_entry(entry: LedgerEntry) -> list[Any]:
    """The stored form of a ``LedgerEntry``."""
    row = [getattr(entry, name) for name in LEDGER_FIELDS]
    if row[-1] is None:
        row.pop()
    return row


def decode_ledger_entry(stored: Any) -> dict[str, Any]:
    """A stored ledger entry as the API shows it (entries written as objects still read as they were)."""
    if isinstance(stored, dict):
        return stored
    return {name: stored[i] if i < len(stored) else None for i, name in enumerate(LEDGER_FIELDS)}


@dataclass(frozen=True, slots=True)
class LedgerWrite:
    """New ledger entries of one profile version (newest last); ``replace``: a refold's whole ledger."""

    profile_id: str
    version: int
    replace: bool
    entries: Sequence[str]


@dataclass(frozen=True, slots=True)
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
    horizon: Mapping[str, str] = field(default_factory=dict)
