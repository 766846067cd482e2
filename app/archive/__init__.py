"""The archive: every interaction a contact ever had, kept outside Redis (docs/archive.md).

Redis holds what scoring needs now; the archive holds history for good. One port, ``Archive``, with two
backends chosen by ``SCOREKEEPER_ARCHIVE_URL`` (``open_archive``): an embedded SQLite file that needs no
server (the default, ``sqlite:///var/archive.sqlite3``) and PostgreSQL through psycopg 3 for production
(``postgresql://...``). Both keep one table of interactions keyed by ``(contact_id, source, id)``, so an
``append`` of something already archived is ignored: replays and retries write once.

Backends connect on first use, not when the app is made, and raise ``ArchiveUnavailable`` (never a driver's
exception) when the archive cannot be reached or written; the caller decides what waits (app/archiving.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from ..errors import ScorekeeperError
from ..scoring.records import TimelineRecord, unfrozen

__all__ = ["Archive", "ArchiveUnavailable", "ArchivedRecord", "DEFAULT_HISTORY_LIMIT", "make_archived", "open_archive"]

#: Records ``history`` returns when no limit is given.
DEFAULT_HISTORY_LIMIT = 100
#: Largest ``limit`` of one ``history`` call.
MAX_HISTORY_LIMIT = 10_000
#: Contacts (``histories``) or keys (``held_keys``) per statement of the bulk readers.
BULK_CHUNK = 500


class ArchiveUnavailable(ScorekeeperError):
    """The archive could not be reached or did not take a write; nothing was half-written."""

    status = 503


@dataclass(frozen=True, slots=True, init=False)
class ArchivedRecord:
    """One contact's timeline record, as the archive keeps it; its key is ``(contact_id, source, id)``."""

    contact_id: str
    record: TimelineRecord
    #: The workspace of the contact (docs/teams.md): part of the archive's key, so workspaces never mix.
    workspace: str

    def __init__(self, contact_id: str, record: TimelineRecord, workspace: str = "default") -> None:
        # one per interaction archived: each field through its slot, as TimelineRecord's (``_slot_setters``)
        set_contact, set_record, set_workspace = _ARCHIVED_SET
        set_contact(self, contact_id)
        set_record(self, record)
        set_workspace(self, workspace)

    def to_json(self) -> list[Any]:
        """The form kept in the archive backlog (app/storage/archive_backlog.py), which is the workspace's own:
        the workspace is not repeated in it."""
        return [self.contact_id, self.record.to_json()]

    @classmethod
    def from_json(cls, data: Sequence[Any], workspace: str = "default") -> ArchivedRecord:
        return cls(data[0], TimelineRecord.from_json(data[1]), workspace)


#: A scored batch as the archiver hands it on: contact id -> its records.
Batch = Mapping[str, Sequence[TimelineRecord]]

_ARCHIVED_SET = tuple(ArchivedRecord.__dict__[name].__set__ for name in ("contact_id", "record", "workspace"))
_ArchivedFields: Any = unfrozen(ArchivedRecord)


def make_archived(contact_id: str, record: TimelineRecord, workspace: str) -> ArchivedRecord:
    """``ArchivedRecord(contact_id, record, workspace)`` in half the instructions (``records.unfrozen``): the
    archiver makes one per interaction drained."""
    archived = _ArchivedFields()
    archived.contact_id = contact_id
    archived.record = record
    archived.workspace = workspace
    archived.__class__ = ArchivedRecord
    return archived


class Archive(Protocol):
    """Where history lives: append-only, idempotent by ``(workspace, contact_id, source, id)``."""

    url: str

    def append(self, records: Iterable[ArchivedRecord]) -> int:
        """Store these records in one transaction; a record already archived (or repeated in ``records``) is
        ignored, the first one kept. Returns how many were new."""
        ...

    def append_batches(self, batches: Sequence[Batch], workspace: str = "default") -> int:
        """``append`` of every record of these scored batches (contact id -> records, in that order) in
        ``workspace``, without an ``ArchivedRecord`` made per record: the archiver's (app/archiving.py)."""
        ...

    def history(self, contact_id: str, before: int | None = None,
                limit: int = DEFAULT_HISTORY_LIMIT, workspace: str = "default") -> list[TimelineRecord]:
        """The contact's records in ``workspace``, newest first (by ``at``, then ``source``, then ``id``); with
        ``before`` (milliseconds), only those that happened strictly before it."""
        ...

    def histories(self, contact_ids: Sequence[str], before: int | None = None,
                  workspace: str = "default") -> dict[str, list[TimelineRecord]]:
        """Every record of each contact in ``workspace`` (all of them: a refold reads whole histories), oldest
        first by ``(at, source, id)``; with ``before`` (ms), only those strictly before it. Contacts with none
        are left out."""
        ...

    def held_keys(self, keys: Iterable[tuple[str, str, str]], workspace: str = "default") -> set[tuple[str, str, str]]:
        """Which of these ``(contact_id, source, id)`` the archive holds in ``workspace`` (the hot horizon deletes
        nothing else from Redis)."""
        ...

    def count(self) -> int:
        """How many records the archive holds."""
        ...

    def close(self) -> None:
        """Let go of connections; a later call connects again."""
        ...


def rows_json(records: Iterable[ArchivedRecord]) -> str | None:
    """A batch as both backends' append statements take it: one JSON array of ``[contact_id, source, id, at,
    type, properties, workspace]`` rows, properties as their own JSON text (a string, so the archive stores exactly that
    text); ``None`` for no records. One text, unpacked by the database: the driver adapts one parameter
    instead of six arrays of a thousand values each (psycopg spent ~9 ms of Python per 1,000 records on
    those, and SQLite's ``executemany`` one GIL hand-off per row)."""
    dumps = orjson.dumps
    rows: list[tuple[Any, ...]] = []
    add = rows.append
    for a in records:  # (a loop, each record's attributes read once: ~2.1 -> ~1.3 µs a record with ArchivedRecord's)
        r = a.record
        add((a.contact_id, r.source, r.id, r.at, r.type, dumps(r.properties).decode(), a.workspace))
    return dumps(rows).decode() if rows else None


def batch_rows(batches: Iterable[Batch], workspace: str) -> list[tuple[Any, ...]]:
    """The row of ``ArchivedRecord(cid, record, workspace)`` (contact id, source, id, at, type, properties as JSON,
    workspace) for every record of these batches, in order, made from the batches themselves (an ``ArchivedRecord``
    a record cost the archiver ~3k instructions): what both backends' ``append_batches`` write."""
    dumps = orjson.dumps
    rows: list[tuple[Any, ...]] = []
    add = rows.append
    for batch in batches:
        for cid, records in batch.items():
            for r in records:
                add((cid, r.source, r.id, r.at, r.type, dumps(r.properties).decode(), workspace))
    return rows


def batch_rows_json(batches: Iterable[Batch], workspace: str) -> str | None:
    """``rows_json`` of ``batch_rows``."""
    rows = batch_rows(batches, workspace)
    return orjson.dumps(rows).decode() if rows else None


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_HISTORY_LIMIT:
        raise ValueError(f"limit must be between 1 and {MAX_HISTORY_LIMIT}, not {limit}")
    return limit


def open_archive(url: str) -> Archive:
    """The backend named by the URL's scheme: ``sqlite:///relative/path``, ``sqlite:////absolute/path``, or
    ``postgresql://user@host:port/database`` (``postgres://`` too). Nothing connects until first use."""
    scheme = url.partition("://")[0].lower()
    if scheme == "sqlite":
        from .sqlite import SqliteArchive

        return SqliteArchive(url)
    if scheme in ("postgresql", "postgres"):
        from .postgres import PostgresArchive

        return PostgresArchive(url)
    raise ValueError(f"SCOREKEEPER_ARCHIVE_URL must start with sqlite:// or postgresql://, not {url!r}")
