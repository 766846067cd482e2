"""The production archive: PostgreSQL through psycopg 3 (``postgresql://user@host:port/database``).

The schema is created on first use by versioned migrations (``archive_schema`` remembers the highest
applied), under an advisory lock so processes starting together apply each step once. An append is one
statement over one JSON text (``json_array_elements``), one round trip whatever the batch size. Any failure
to reach or write the server becomes ``ArchiveUnavailable``, and the connection is dropped so the next call
connects afresh.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence

import psycopg
import psycopg.conninfo

from ..scoring.records import TimelineRecord
from . import (BULK_CHUNK, DEFAULT_HISTORY_LIMIT, ArchivedRecord, ArchiveUnavailable, Batch, batch_rows_json, check_limit,
               rows_json)

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE interactions (
               contact_id text NOT NULL,
               source text NOT NULL,
               id text NOT NULL,
               at bigint NOT NULL,
               type text NOT NULL,
               properties jsonb NOT NULL,
               PRIMARY KEY (contact_id, source, id)
           )""",
        "CREATE INDEX interactions_contact_at ON interactions (contact_id, at)",
    ),
    # 2: properties as json, not jsonb. jsonb refuses the escape of U+0000 (PostgreSQL text cannot hold it),
    # and the edge lets a NUL inside a property's text through (only identities, ids and tags refuse control
    # characters): one such interaction would fail its batch's append for good and hold the partition's
    # backlog behind it. json keeps the text as written and reads back exactly.
    ("ALTER TABLE interactions ALTER COLUMN properties TYPE json USING properties::json",),
    # 3: no second index: the primary key starts with contact_id, which ``history`` reads by; the (contact_id,
    # at) index was a second random B-tree insert per record (app/archive/sqlite.py, docs/archive.md).
    ("DROP INDEX IF EXISTS interactions_contact_at",),
    # 4: the workspace (docs/teams.md) in every row and first in the key, so two workspaces' contacts never share
    # a record (a workspace restored from another's backup has the same contact ids); existing rows are
    # ``default`` (a constant default: no table rewrite, only the key's index is rebuilt).
    (
        "ALTER TABLE interactions ADD COLUMN workspace text NOT NULL DEFAULT 'default'",
        "ALTER TABLE interactions DROP CONSTRAINT interactions_pkey",
        "ALTER TABLE interactions ADD PRIMARY KEY (workspace, contact_id, source, id)",
    ),
)
#: The advisory lock taken while migrating (any constant number; "sk-arch" in ASCII).
MIGRATION_LOCK = 0x736B2D61726368
#: Seconds to wait for a connection before the archive counts as unavailable.
CONNECT_TIMEOUT_S = 3
#: libpq's TCP settings: a server that stops answering on an open connection (a network cut, a frozen host) is
#: given up after about ten seconds instead of blocking the worker (and its partition lease) for ever.
TCP_SETTINGS = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3,
                "tcp_user_timeout": 10_000}

#: One batch in one statement and one parameter (``rows_json``: a JSON array of ``[contact_id, source, id, at,
#: type, properties, workspace]``, properties as their JSON text), inserted in array order so that the first of a repeated
#: key is the one kept. Unpacked as ``json`` (not ``jsonb``): the text of a row's fields comes back exactly, and
#: a NUL written as ``\\u0000`` inside the properties' text stays text.
APPEND = """
INSERT INTO interactions (contact_id, source, id, at, type, properties, workspace)
SELECT r ->> 0, r ->> 1, r ->> 2, (r ->> 3)::bigint, r ->> 4, (r ->> 5)::json, r ->> 6
FROM json_array_elements(%s::json) WITH ORDINALITY AS batch(r, n)
ORDER BY n
ON CONFLICT (workspace, contact_id, source, id) DO NOTHING
"""


def check_url(url: str) -> None:
    """Refuse a URL libpq cannot read (ValueError, so the start stops naming it) rather than connect with it on
    first use and count a setting's mistake as an outage for ever."""
    try:
        ports = psycopg.conninfo.conninfo_to_dict(url).get("port") or ""
    except psycopg.ProgrammingError:  # its message quotes the URL's text, which may hold the password
        raise ValueError("SCOREKEEPER_ARCHIVE_URL is not a PostgreSQL URL libpq reads (its percent-encoding, "
                         "spaces or brackets)") from None
    if not all(port.isascii() and port.isdigit() and 0 < int(port) < 65536 for port in ports.split(",") if port):
        raise ValueError(f"SCOREKEEPER_ARCHIVE_URL has a port that is not a number from 1 to 65535: {ports!r}")


class PostgresArchive:
    def __init__(self, url: str):
        check_url(url)
        self.url = url
        self._lock = threading.Lock()
        self._conn: psycopg.Connection | None = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, **TCP_SETTINGS)
            try:
                migrate(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _failed(self, exc: psycopg.Error) -> ArchiveUnavailable:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        return ArchiveUnavailable(f"the PostgreSQL archive did not answer: {type(exc).__name__}")

    def append(self, records: Iterable[ArchivedRecord]) -> int:
        return self._append(rows_json(records))

    def append_batches(self, batches: Sequence[Batch], workspace: str = "default") -> int:
        return self._append(batch_rows_json(batches, workspace))

    def _append(self, payload: str | None) -> int:
        if payload is None:
            return 0
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    cur.execute(APPEND, (payload,))
                    return cur.rowcount
            except psycopg.Error as exc:
                raise self._failed(exc) from exc

    def history(self, contact_id: str, before: int | None = None,
                limit: int = DEFAULT_HISTORY_LIMIT, workspace: str = "default") -> list[TimelineRecord]:
        check_limit(limit)
        sql = "SELECT id, source, type, at, properties FROM interactions WHERE workspace = %s AND contact_id = %s"
        params: list[object] = [workspace, contact_id]
        if before is not None:
            sql += " AND at < %s"
            params.append(before)
        sql += ' ORDER BY at DESC, source COLLATE "C" DESC, id COLLATE "C" DESC LIMIT %s'  # byte order, as SQLite
        params.append(limit)
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    rows = cur.execute(sql, params).fetchall()
            except psycopg.Error as exc:
                raise self._failed(exc) from exc
        return [TimelineRecord(id_, source, type_, at, props) for id_, source, type_, at, props in rows]

    def histories(self, contact_ids: Sequence[str], before: int | None = None,
                  workspace: str = "default") -> dict[str, list[TimelineRecord]]:
        out: dict[str, list[TimelineRecord]] = {}
        ids = list(dict.fromkeys(contact_ids))
        sql = ("SELECT contact_id, id, source, type, at, properties FROM interactions WHERE workspace = %s "
               "AND contact_id = ANY(%s)")
        if before is not None:
            sql += " AND at < %s"
        sql += ' ORDER BY contact_id, at, source COLLATE "C", id COLLATE "C"'  # byte order, as SQLite
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    for start in range(0, len(ids), BULK_CHUNK):
                        params: list[object] = [workspace, ids[start:start + BULK_CHUNK]]
                        if before is not None:
                            params.append(before)
                        for cid, id_, source, type_, at, props in cur.execute(sql, params).fetchall():
                            out.setdefault(cid, []).append(TimelineRecord(id_, source, type_, at, props))
            except psycopg.Error as exc:
                raise self._failed(exc) from exc
        return out

    def held_keys(self, keys: Iterable[tuple[str, str, str]], workspace: str = "default") -> set[tuple[str, str, str]]:
        wanted = list(dict.fromkeys(keys))
        held: set[tuple[str, str, str]] = set()
        sql = ("SELECT i.contact_id, i.source, i.id FROM unnest(%s::text[], %s::text[], %s::text[]) AS w(c, s, i) "
               "JOIN interactions i ON i.workspace = %s AND i.contact_id = w.c AND i.source = w.s AND i.id = w.i")
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    for start in range(0, len(wanted), BULK_CHUNK):
                        chunk = wanted[start:start + BULK_CHUNK]
                        rows = cur.execute(sql, [[k[0] for k in chunk], [k[1] for k in chunk],
                                                 [k[2] for k in chunk], workspace]).fetchall()
                        held.update((c, s, i) for c, s, i in rows)
            except psycopg.Error as exc:
                raise self._failed(exc) from exc
        return held

    def count(self) -> int:
        with self._lock:
            try:
                with self._connection().cursor() as cur:
                    row = cur.execute("SELECT count(*) FROM interactions").fetchone()
            except psycopg.Error as exc:
                raise self._failed(exc) from exc
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def migrate(conn: psycopg.Connection) -> int:
    """Bring the schema up to the last of ``MIGRATIONS`` in one transaction, each step once (an advisory
    lock makes processes that start together wait for each other). Returns the schema version."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        cur.execute("CREATE TABLE IF NOT EXISTS archive_schema (version integer NOT NULL)")
        row = cur.execute("SELECT coalesce(max(version), 0) FROM archive_schema").fetchone()
        version = int(row[0]) if row else 0
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number > version:
                for statement in statements:
                    cur.execute(statement)
                cur.execute("INSERT INTO archive_schema (version) VALUES (%s)", (number,))
                version = number
    return version
