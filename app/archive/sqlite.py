"""The embedded archive: one SQLite file, no server (the default, ``sqlite:///var/archive.sqlite3``).

WAL mode lets readers go on while a worker appends, and ``synchronous=FULL`` makes each append durable when it
returns (``set_up``); ``busy_timeout`` makes several worker processes on one machine take turns instead of
failing. One connection per archive object, shared by its threads under a lock (SQLite serialises writers anyway).

An append is a multi-row ``INSERT`` with every field a bound parameter but a drain's workspace, which is the
statement's literal (``append_statements``: a drain's batch of
1,000 is one statement, a larger or ragged one a few in one transaction), so a batch is one ``sqlite3_step`` or a
few, each letting go of Python's GIL while SQLite works. ``executemany`` steps once per row, taking the GIL back
between rows; run in the worker's archiver thread beside a scoring thread that holds the GIL, each row then waited
for the interpreter's switch interval (seconds per batch, measured: docs/archive.md). The release before sent the
batch as one JSON text unpacked by ``json_each``; SQLite spent about two thirds of its instructions on that
unpacking (each row's array rendered again and parsed by seven ``->>``), more than on the insert itself
(docs/performance.md, "Row 1 (2026-12-04): the archive's inserts"). Either way the batch is written whole or not
at all.
"""
from __future__ import annotations

import functools
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import orjson

from ..scoring.records import TimelineRecord, make_record
from . import BULK_CHUNK, DEFAULT_HISTORY_LIMIT, ArchivedRecord, ArchiveUnavailable, Batch, check_limit

#: Versioned migrations, applied in order once each (``archive_schema`` remembers the highest).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE interactions (
               contact_id TEXT NOT NULL,
               source TEXT NOT NULL,
               id TEXT NOT NULL,
               at INTEGER NOT NULL,
               type TEXT NOT NULL,
               properties TEXT NOT NULL,
               PRIMARY KEY (contact_id, source, id)
           ) WITHOUT ROWID""",
        "CREATE INDEX interactions_contact_at ON interactions (contact_id, at)",
    ),
    # 2: no second index. The table's key starts with contact_id, so a contact's records are together already
    # (``history`` reads that range and orders it); the (contact_id, at) index doubled the cost of an append,
    # each record landing on a random page of both trees (at 1M records: 20-60 ms per 1,000 with it, 7-27
    # without, measured: docs/archive.md).
    ("DROP INDEX IF EXISTS interactions_contact_at",),
    # 3: the workspace (docs/teams.md) in every row and first in the key, so two workspaces' contacts never share
    # a record (a workspace restored from another's backup has the same contact ids). SQLite cannot change a
    # table's key in place: the table is copied once into the new shape, every existing row in ``default``.
    (
        """CREATE TABLE interactions_by_workspace (
               workspace TEXT NOT NULL,
               contact_id TEXT NOT NULL,
               source TEXT NOT NULL,
               id TEXT NOT NULL,
               at INTEGER NOT NULL,
               type TEXT NOT NULL,
               properties TEXT NOT NULL,
               PRIMARY KEY (workspace, contact_id, source, id)
           ) WITHOUT ROWID""",
        """INSERT INTO interactions_by_workspace (workspace, contact_id, source, id, at, type, properties)
           SELECT 'default', contact_id, source, id, at, type, properties FROM interactions""",
        "DROP TABLE interactions",
        "ALTER TABLE interactions_by_workspace RENAME TO interactions",
    ),
)
#: Rows of one ``INSERT`` of an append: a drain's full batch (``BATCH_SIZE``), so under load an append is one
#: statement, one ``sqlite3_step`` and one GIL hand-off, as the JSON append was. Any size from 64 to 1,000 costs
#: about the same per row (callgrind).
CHUNK_ROWS = 1000
#: Fields a row binds, in ``row_values``'s order (the columns of ``insert_rows``).
ROW_FIELDS = 7
#: Page cache of the connection, in KiB (SQLite's default is 2 MiB): appends land on random pages of the key's
#: tree, which a small cache reads again and again. Taken as needed, not at connect.
CACHE_KIB = 65_536
#: Pages in the WAL before a commit copies them into the file (SQLite's default: 1,000). Fewer, larger
#: checkpoints write a page changed by several appends once.
CHECKPOINT_PAGES = 10_000
#: How long a writer waits for another process's write to finish, in milliseconds.
BUSY_TIMEOUT_MS = 10_000
#: Seconds between tries of turning WAL on while another process opens the same new file.
WAL_RETRY_S = 0.005


def path_of(url: str) -> Path:
    """``sqlite:///var/a.sqlite3`` is relative to the working directory, ``sqlite:////srv/a.sqlite3`` absolute."""
    rest = url.partition("://")[2]
    if not rest.startswith("/") or rest == "/":
        raise ValueError(f"an SQLite archive URL is sqlite:///PATH, not {url!r}")
    return Path(rest[1:])


class SqliteArchive:
    def __init__(self, url: str):
        self.url = url
        self.path = path_of(url)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False,
                                   timeout=BUSY_TIMEOUT_MS / 1000)
            try:
                set_up(conn)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _failed(self, exc: sqlite3.Error | OSError) -> ArchiveUnavailable:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        return ArchiveUnavailable(f"the archive {self.path} did not answer: {exc}")

    def append(self, records: Iterable[ArchivedRecord]) -> int:
        return self._append(row_values(records))

    def append_batches(self, batches: Sequence[Batch], workspace: str = "default") -> int:
        return self._append(batch_values(batches), workspace)

    def _append(self, values: list[object], workspace: str | None = None) -> int:
        """Append rows of ``values`` (``row_values``'s; ``batch_values``' without the workspace when it is given)."""
        if not values:
            return 0
        with self._lock:
            try:
                conn = self._connection()
                before = conn.total_changes
                statements = list(append_statements(values, workspace))
                if len(statements) == 1:
                    conn.execute(*statements[0])  # a statement alone is its own transaction
                else:
                    in_one_transaction(conn, statements)
                return conn.total_changes - before
            except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made
                raise self._failed(exc) from exc

    def history(self, contact_id: str, before: int | None = None,
                limit: int = DEFAULT_HISTORY_LIMIT, workspace: str = "default") -> list[TimelineRecord]:
        check_limit(limit)
        sql = "SELECT id, source, type, at, properties FROM interactions WHERE workspace = ? AND contact_id = ?"
        params: list[object] = [workspace, contact_id]
        if before is not None:
            sql += " AND at < ?"
            params.append(before)
        sql += " ORDER BY at DESC, source DESC, id DESC LIMIT ?"
        params.append(limit)
        with self._lock:
            try:
                rows = self._connection().execute(sql, params).fetchall()
            except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made
                raise self._failed(exc) from exc
        return [make_record(id_, source, type_, at, orjson.loads(props)) for id_, source, type_, at, props in rows]

    def histories(self, contact_ids: Sequence[str], before: int | None = None,
                  workspace: str = "default") -> dict[str, list[TimelineRecord]]:
        out: dict[str, list[TimelineRecord]] = {}
        ids = list(dict.fromkeys(contact_ids))
        with self._lock:
            try:
                conn = self._connection()
                for start in range(0, len(ids), BULK_CHUNK):
                    chunk = ids[start:start + BULK_CHUNK]
                    sql = (f"SELECT contact_id, id, source, type, at, properties FROM interactions WHERE workspace = ? "
                           f"AND contact_id IN ({','.join('?' * len(chunk))})")
                    params: list[object] = [workspace, *chunk]
                    if before is not None:
                        sql += " AND at < ?"
                        params.append(before)
                    loads, record, last = orjson.loads, make_record, None  # (row 4: a record per row)
                    mine: list[TimelineRecord] = []
                    for cid, id_, source, type_, at, props in conn.execute(sql + " ORDER BY contact_id, at, source, id",
                                                                            params):
                        if cid != last:  # the rows come by contact
                            mine = out[cid] = []
                            last = cid
                        mine.append(record(id_, source, type_, at, loads(props)))
            except (sqlite3.Error, OSError) as exc:
                raise self._failed(exc) from exc
        return out

    def held_keys(self, keys: Iterable[tuple[str, str, str]], workspace: str = "default") -> set[tuple[str, str, str]]:
        wanted = list(dict.fromkeys(keys))
        held: set[tuple[str, str, str]] = set()
        with self._lock:
            try:
                conn = self._connection()
                for start in range(0, len(wanted), BULK_CHUNK):
                    chunk = wanted[start:start + BULK_CHUNK]
                    values = ",".join("(?, ?, ?)" for _ in chunk)
                    sql = (f"WITH wanted(c, s, i) AS (VALUES {values}) SELECT c, s, i FROM wanted WHERE EXISTS "
                           "(SELECT 1 FROM interactions WHERE workspace = ? AND contact_id = c AND source = s AND id = i)")
                    params = [v for key in chunk for v in key] + [workspace]
                    held.update(tuple(row) for row in conn.execute(sql, params))
            except (sqlite3.Error, OSError) as exc:
                raise self._failed(exc) from exc
        return held

    def count(self) -> int:
        with self._lock:
            try:
                return self._connection().execute("SELECT count(*) FROM interactions").fetchone()[0]
            except (sqlite3.Error, OSError) as exc:  # OSError: its folder cannot be made
                raise self._failed(exc) from exc

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def row_values(records: Iterable[ArchivedRecord]) -> list[object]:
    """The batch's fields, ``ROW_FIELDS`` a record in one flat list (``contact_id, source, id, at, type, properties,
    workspace``), properties as their JSON text so the archive keeps exactly that text; flat, because that is how
    the statements bind them."""
    dumps = orjson.dumps
    values: list[object] = []
    add = values.extend
    for a in records:  # each record's attributes read once (as ``rows_json``)
        r = a.record
        add((a.contact_id, r.source, r.id, r.at, r.type, dumps(r.properties).decode(), a.workspace))
    return values


def batch_values(batches: Iterable[Batch]) -> list[object]:
    """``row_values`` of ``ArchivedRecord(cid, record, workspace)`` for every record of these batches, in order,
    made from the batches themselves (an ``ArchivedRecord`` a record cost the archiver ~3k instructions), each row
    without its workspace: one workspace for all, the statement's literal (``insert_rows``), not a text bound per
    row (SQLite copies each bound text: ~790 instructions a row; docs/performance.md, "Row 1 (2026-12-06, second
    session)")."""
    dumps = orjson.dumps
    values: list[object] = []
    add = values.extend
    for batch in batches:
        for cid, records in batch.items():
            for r in records:
                add((cid, r.source, r.id, r.at, r.type, dumps(r.properties).decode()))
    return values


def sql_text(value: str) -> str:
    """``value`` as an SQL string literal (each ``'`` doubled)."""
    return "'" + value.replace("'", "''") + "'"


#: Statement texts ``insert_rows`` keeps (least recently used out): a dozen sizes a workspace, ~60 KB of text each
#: workspace, and a worker drains every workspace's partitions, so an unbounded cache grew with the workspaces
#: drained since the worker started (review of 2026-12-06, third session).
STATEMENTS_KEPT = 64


@functools.lru_cache(maxsize=STATEMENTS_KEPT)
def insert_rows(rows: int, workspace: str | None = None) -> str:
    """The ``INSERT`` of ``rows`` rows, kept in array order so that the first of a repeated key is the one kept
    (``OR IGNORE``: a key already archived, or earlier in the batch): each row's ``ROW_FIELDS`` bound, or, with
    ``workspace``, all but the workspace, which is the statement's literal (one statement text a workspace and
    size; the last ``STATEMENTS_KEPT`` kept: a worker drains the partitions of every workspace)."""
    row = "(?,?,?,?,?,?,?)" if workspace is None else f"(?,?,?,?,?,?,{sql_text(workspace)})"
    return ("INSERT OR IGNORE INTO interactions (contact_id, source, id, at, type, properties, workspace) VALUES "
            + ",".join((row,) * rows))


def append_statements(values: Sequence[object], workspace: str | None = None) -> Iterator[tuple[str, Sequence[object]]]:
    """The statements of one append, in order: ``CHUNK_ROWS`` rows each, then the rest in power-of-two steps, so
    whatever the batch sizes only a dozen statement texts (``insert_rows``) are ever compiled and cached. With
    ``workspace``, ``values`` are ``batch_values``' (a field fewer a row)."""
    width = ROW_FIELDS if workspace is None else ROW_FIELDS - 1
    rows, done = len(values) // width, 0
    while done < rows:
        size = min(CHUNK_ROWS, rows - done)
        if size < CHUNK_ROWS:
            size = 1 << (size.bit_length() - 1)
        yield insert_rows(size, workspace), values[done * width:(done + size) * width]
        done += size


def in_one_transaction(conn: sqlite3.Connection, statements: Iterable[tuple[str, Sequence[object]]]) -> None:
    """Run the statements as one transaction (the batch whole or not at all), taking the write lock first."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for sql, params in statements:
            conn.execute(sql, params)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def set_up(conn: sqlite3.Connection) -> None:
    """Switch a new connection to WAL, set its pragmas and migrate, waiting out the other processes that open
    the same new file at the same moment. Turning WAL on needs the file to itself, and SQLite answers "database
    is locked" at once there rather than calling the busy handler (1 in ~200 first opens of four processes
    together), so the step is tried again until ``BUSY_TIMEOUT_MS`` has passed."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(WAL_RETRY_S)
    # FULL: each commit's WAL frames are synced before the append returns, so a batch is on disk before its stream
    # entries are deleted, even if the machine loses power (NORMAL syncs only at checkpoints: a power cut could
    # take back the last appends after their entries were gone). One fsync per append, outside the GIL.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
    conn.execute(f"PRAGMA wal_autocheckpoint={CHECKPOINT_PAGES}")
    migrate(conn)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to the last of ``MIGRATIONS``, each step once, even with several processes
    starting together (``BEGIN IMMEDIATE`` takes the write lock before the version is read). Returns the
    schema version."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS archive_schema (version INTEGER NOT NULL)")
        version = conn.execute("SELECT coalesce(max(version), 0) FROM archive_schema").fetchone()[0]
        for number, statements in enumerate(MIGRATIONS, start=1):
            if number > version:
                for statement in statements:
                    conn.execute(statement)
                conn.execute("INSERT INTO archive_schema (version) VALUES (?)", (number,))
                version = number
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return version
