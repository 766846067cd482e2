"""The production archive: PostgreSQL through psycopg 3 (``postgresql://user@host:port/database``).

The schema is created on first use by versioned migrations (``archive_schema`` remembers the highest
applied), under an advisory lock so processes starting together apply each step once. An append is one
statement over one JSON text (``json_array_elements``), one round trip whatever the batch size. Any failure
to reach or write the server becomes ``ArchiveUnavailable``, and the connection is dropped so the next call
connects afresh. Every call is bounded in time (``ARCHIVE_CALL_TIMEOUT_S``, ``BoundedConnection``): a server
that stops answering, even one whose host still acknowledges every byte, is given up, never waited on for ever.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

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
#: Seconds to wait for a connection before the archive counts as unavailable. psycopg enforces it itself (its
#: wait for the connection has this deadline), so it also bounds a connect to a server whose kernel completes
#: the TCP handshake but whose processes never send the startup reply (a frozen server: measured, 3.0 s).
CONNECT_TIMEOUT_S = 3
#: Seconds a call (``append``, ``history``, ``histories``, ``held_keys``, ``count``) may take from its start,
#: waiting for the connection's lock included, before it is given up (``ArchiveUnavailable``, the connection
#: dropped). Far above a legitimate call: on a 2-core test host an append of 4,000 records (four drain batches
#: that waited together) took 0.17 s at worst and a ``histories`` read of 500 contacts returning 100,000
#: records 1.3 s. Below the partition lease (``LEASE_MS``, 30 s by default): a drain waits on its archiver (and
#: on its own reads) while holding its lease, so a frozen archive is given up before the lease runs out and
#: another worker takes the partition. Tests set a smaller one (the constructor's ``call_timeout_s``, or this
#: attribute before the archive is made).
ARCHIVE_CALL_TIMEOUT_S = 20.0
#: Seconds a schema migration may take (``migrate``, on the first connection that finds a step to apply):
#: steps 2 and 4 rewrite or re-index the whole table, minutes on a large archive, far more than a call's bound;
#: a step cut half-way would roll back and start again on every call, never finishing.
MIGRATION_TIMEOUT_S = 3600.0
#: libpq's TCP settings: a server whose host stops acknowledging (a network cut, a host that is down) is given
#: up after about ten seconds. They do not help when the host still acknowledges what is sent and only the
#: server's processes hang (a frozen or overloaded server): ``ARCHIVE_CALL_TIMEOUT_S`` covers that.
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


class BoundedConnection(psycopg.Connection[Any]):
    """A psycopg connection whose every wait on the server ends by ``deadline`` (a ``time.monotonic()``
    instant; ``None``: no bound), raising an ``OperationalError`` (psycopg's ``_WaitTimeout``) when it passes.

    Why this way. A frozen server (its processes stopped: the kernel still accepts connections and acknowledges
    every byte) is invisible to TCP: keepalives are answered and ``tcp_user_timeout`` never fires, so only the
    client's own clock can give it up. Every blocking step of psycopg's sync connection (a statement, its
    results, a transaction's BEGIN and COMMIT) goes through ``Connection.wait``, whose wait loop takes a
    deadline (``timeout``, psycopg >= 3.3.6; ``notifies`` and the Ctrl-C cancellation use it the same way), so
    the bound lives in the very loop that would block, in the calling thread, and the connection is then closed
    by the thread that holds it. The alternatives were worse: a server-side ``statement_timeout`` is enforced by
    the server that is frozen (it is set too, as the server's own twin of the bound, to spare a slow server the
    work the client gave up); ``cancel_safe`` asks that same server to cancel; socket timeouts
    (``SO_RCVTIMEO``) do not apply, libpq's socket is non-blocking and waited on with ``poll``; a watchdog
    thread closing the connection (or shutting its socket) races the thread using it (a closed ``PGconn`` in use,
    a descriptor number reused by another connection); running the call in a helper thread with a deadline
    leaves that thread blocked, holding the connection. The wait's ``timeout`` is not in psycopg's documented
    API: tests/test_archive_frozen.py fails if an upgrade stops it bounding a call.
    """

    deadline: float | None = None

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        if self.deadline is not None:
            left = max(self.deadline - time.monotonic(), 0.0)
            timeout = left if timeout is None else min(timeout, left)
        return super().wait(gen, interval, timeout)


class PostgresArchive:
    def __init__(self, url: str, call_timeout_s: float | None = None):
        check_url(url)
        self.url = url
        #: The bound of every call, in seconds (``ARCHIVE_CALL_TIMEOUT_S`` unless given).
        self.call_timeout_s = ARCHIVE_CALL_TIMEOUT_S if call_timeout_s is None else call_timeout_s
        self._lock = threading.Lock()
        self._conn: BoundedConnection | None = None

    @contextmanager
    def _call(self) -> Iterator[BoundedConnection]:
        """The connection, held alone (the lock) until the ``with`` ends, under the call's bound: a call that has
        not ended ``call_timeout_s`` after it began (its wait for the lock included) raises
        ``ArchiveUnavailable``; so does any failure of the server, after which the connection is dropped so the
        next call connects afresh (a connect is bounded by ``CONNECT_TIMEOUT_S``)."""
        deadline = time.monotonic() + self.call_timeout_s
        if not self._lock.acquire(timeout=self.call_timeout_s):
            raise ArchiveUnavailable(f"the PostgreSQL archive did not answer within {self.call_timeout_s:g} s: "
                                     "another call held its connection all that time")
        try:
            conn = self._connection(deadline)
            deadline = conn.deadline or deadline  # (a fresh one after a migration)
            try:
                yield conn
            finally:
                conn.deadline = None
        except psycopg.Error as exc:
            raise self._failed(exc, deadline) from exc
        finally:
            self._lock.release()

    def _connection(self, deadline: float) -> BoundedConnection:
        """The open connection, or a new one (its schema migrated), its ``deadline`` set for the call."""
        conn = self._conn
        if conn is None or conn.closed:
            conn = BoundedConnection.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                                             **TCP_SETTINGS)
            try:
                conn.deadline = deadline
                if schema_version(conn) < len(MIGRATIONS):
                    conn.deadline = time.monotonic() + MIGRATION_TIMEOUT_S
                    migrate(conn)
                    deadline = time.monotonic() + self.call_timeout_s  # the call's statements get their own
                    conn.deadline = deadline
                # the server's own twin of the bound: a statement the client gave up is not worked on after
                conn.execute("SELECT set_config('statement_timeout', %s, false)",
                             (str(int(self.call_timeout_s * 1000)),))
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        conn.deadline = deadline
        return conn

    def _failed(self, exc: psycopg.Error, deadline: float) -> ArchiveUnavailable:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if time.monotonic() >= deadline:
            return ArchiveUnavailable(f"the PostgreSQL archive did not answer within {self.call_timeout_s:g} s")
        return ArchiveUnavailable(f"the PostgreSQL archive did not answer: {type(exc).__name__}")

    def append(self, records: Iterable[ArchivedRecord]) -> int:
        return self._append(rows_json(records))

    def append_batches(self, batches: Sequence[Batch], workspace: str = "default") -> int:
        return self._append(batch_rows_json(batches, workspace))

    def _append(self, payload: str | None) -> int:
        if payload is None:
            return 0
        with self._call() as conn, conn.cursor() as cur:
            cur.execute(APPEND, (payload,))
            return cur.rowcount

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
        with self._call() as conn, conn.cursor() as cur:
            rows = cur.execute(sql, params).fetchall()
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
        with self._call() as conn, conn.cursor() as cur:
            for start in range(0, len(ids), BULK_CHUNK):
                params: list[object] = [workspace, ids[start:start + BULK_CHUNK]]
                if before is not None:
                    params.append(before)
                for cid, id_, source, type_, at, props in cur.execute(sql, params).fetchall():
                    out.setdefault(cid, []).append(TimelineRecord(id_, source, type_, at, props))
        return out

    def held_keys(self, keys: Iterable[tuple[str, str, str]], workspace: str = "default") -> set[tuple[str, str, str]]:
        wanted = list(dict.fromkeys(keys))
        held: set[tuple[str, str, str]] = set()
        sql = ("SELECT i.contact_id, i.source, i.id FROM unnest(%s::text[], %s::text[], %s::text[]) AS w(c, s, i) "
               "JOIN interactions i ON i.workspace = %s AND i.contact_id = w.c AND i.source = w.s AND i.id = w.i")
        with self._call() as conn, conn.cursor() as cur:
            for start in range(0, len(wanted), BULK_CHUNK):
                chunk = wanted[start:start + BULK_CHUNK]
                rows = cur.execute(sql, [[k[0] for k in chunk], [k[1] for k in chunk],
                                         [k[2] for k in chunk], workspace]).fetchall()
                held.update((c, s, i) for c, s, i in rows)
        return held

    def count(self) -> int:
        with self._call() as conn, conn.cursor() as cur:
            row = cur.execute("SELECT count(*) FROM interactions").fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def schema_version(conn: psycopg.Connection) -> int:
    """The highest migration applied (0 on a new database): read on every new connection, so that only one that
    finds a step to apply runs ``migrate`` (its advisory lock, its longer bound)."""
    try:
        row = conn.execute("SELECT coalesce(max(version), 0) FROM archive_schema").fetchone()
    except psycopg.errors.UndefinedTable:  # (autocommit: nothing is left aborted)
        return 0
    return int(row[0]) if row else 0


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
