"""The stored forms of a contact's scoring data, and the write of one scored contact: the contracts
between the scorer (app/scorer.py) and the storage layer (app/storage/timelines.py), each with one
encoding and one decoding.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from .fold import LedgerEntry
from .interactions import record_key

__all__ = ["ContactWrite", "LedgerWrite", "TimelineRecord", "decode_ledger_entry", "decode_record",
           "encode_ledger_entry", "encode_record", "record_key"]


class TimelineRecord(TypedDict):
    """One entry of a contact's timeline (an interaction or a manual change), as the fold reads it."""

    id: str
    src: str
    t: str
    at: int
    p: dict[str, Any]


def encode_record(record: Mapping[str, Any]) -> list[Any]:
    """The stored form under the field ``source:id``: ``[type, at, properties]`` (the id and source
    are in the field name; empty properties are left out)."""
    value = [record["t"], record["at"]]
    if record["p"]:
        value.append(record["p"])
    return value


def decode_record(key: str, stored: Any) -> TimelineRecord:
    """A record from its field and stored value (records written as objects read as they were)."""
    if isinstance(stored, dict):
        return stored  # type: ignore[return-value]
    source, _, id_ = key.partition(":")
    return {"id": id_, "src": source, "t": stored[0], "at": stored[1], "p": stored[2] if len(stored) > 2 else {}}


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
