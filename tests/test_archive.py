"""The archive's specification (app/archive/), run on both backends: SQLite in the test's tmp dir and the
real PostgreSQL in a database created for the test (``archive_url`` in conftest)."""
from __future__ import annotations

import sqlite3
import threading
import uuid

import psycopg
import pytest
from hypothesis import given, settings, strategies as st

from app.archive import ArchivedRecord, ArchiveUnavailable, batch_rows_json, open_archive, rows_json
from app.archive import sqlite as sqlite_archive
from app.archive.sqlite import MIGRATIONS as SQLITE_MIGRATIONS
from app.archive.postgres import MIGRATIONS as POSTGRES_MIGRATIONS
from app.scoring.records import TimelineRecord

from .archive_helpers import TEST_POSTGRES_URL, free_port


def rec(contact: str, id_: str, at: int, type_: str = "email.opened", source: str = "api", **props) -> ArchivedRecord:
    return ArchivedRecord(contact, TimelineRecord(id_, source, type_, at, props))


def test_an_appended_record_reads_back_as_it_was(archive):
    record = rec("c1", "i1", 1_700_000_000_123, "form.submitted", "hubspot", page="/pricing", n=2**62, share=0.1,
                 tags=["a", "b"], nested={"deep": [1, {"x": None}]}, text="naïve ☃")
    assert archive.append([record]) == 1
    assert archive.history("c1") == [record.record]
    assert archive.count() == 1


def test_control_characters_inside_properties_read_back_as_they_were(archive):
    """A NUL in a property's text (which PostgreSQL's jsonb refuses) is kept like any other character."""
    record = rec("c1", "i1", 5, note="a\x00b", every="".join(map(chr, range(32))), deep={"k": ["\x00"]})
    assert archive.append([record]) == 1
    assert archive.history("c1") == [record.record]


def test_a_duplicate_is_ignored_and_the_first_kept(archive):
    first = rec("c1", "i1", 1000, "email.opened")
    again = rec("c1", "i1", 2000, "email.clicked")  # same (contact, source, id): a replay
    assert archive.append([first, again]) == 1
    assert archive.append([again]) == 0
    assert archive.history("c1") == [first.record]
    assert archive.count() == 1


def test_the_key_is_contact_source_and_id(archive):
    records = [rec("c1", "i1", 1000), rec("c2", "i1", 1000), rec("c1", "i1", 1000, source="stripe")]
    assert archive.append(records) == 3
    assert archive.count() == 3
    assert archive.history("c2") == [records[1].record]


def test_history_is_newest_first_and_pages_with_before(archive):
    records = [rec("c1", f"i{n}", 1000 * n) for n in range(1, 8)] + [rec("c2", "other", 5000)]
    archive.append(records)
    newest = archive.history("c1", limit=3)
    assert [r.id for r in newest] == ["i7", "i6", "i5"]
    older = archive.history("c1", before=newest[-1].at, limit=3)
    assert [r.id for r in older] == ["i4", "i3", "i2"]
    assert [r.id for r in archive.history("c1", before=older[-1].at)] == ["i1"]
    assert archive.history("c1", before=1000) == []
    assert archive.history("nobody") == []


def test_records_at_the_same_moment_come_in_source_then_id_order_newest_first(archive):
    archive.append([rec("c1", "b", 1000), rec("c1", "a", 1000), rec("c1", "z", 1000, source="stripe"),
                    rec("c1", "B", 1000)])
    assert [r.key for r in archive.history("c1")] == ["stripe:z", "api:b", "api:a", "api:B"]


def test_histories_read_several_contacts_whole_oldest_first(archive):
    records = [rec("c1", f"i{n}", 1000 * n) for n in (3, 1, 2)] + [rec("c2", "x", 500), rec("c1", "a", 2000),
                                                                      rec("c3", "y", 10)]
    archive.append(records)
    got = archive.histories(["c1", "c2", "nobody", "c1"])
    assert {cid: [r.key for r in rs] for cid, rs in got.items()} == {
        "c1": ["api:i1", "api:a", "api:i2", "api:i3"], "c2": ["api:x"]}
    assert got["c2"] == [records[3].record]
    assert [r.id for r in archive.histories(["c1"], before=2000)["c1"]] == ["i1"]
    assert archive.histories([]) == {}


def test_histories_of_more_contacts_than_one_statement_takes(archive):
    archive.append([rec(f"c{n}", "i", n) for n in range(1200)])
    got = archive.histories([f"c{n}" for n in range(1200)])
    assert len(got) == 1200 and got["c1199"][0].at == 1199


def test_held_keys_says_which_records_the_archive_holds(archive):
    archive.append([rec("c1", "i1", 1), rec("c1", "i2", 2, source="stripe"), rec("c2", "i1", 3)])
    asked = [("c1", "api", "i1"), ("c1", "stripe", "i2"), ("c1", "api", "i2"), ("c3", "api", "i1"),
             ("c2", "api", "i1")] + [("c9", "api", f"n{n}") for n in range(1100)]
    assert archive.held_keys(asked) == {("c1", "api", "i1"), ("c1", "stripe", "i2"), ("c2", "api", "i1")}
    assert archive.held_keys([]) == set()


@pytest.mark.parametrize("limit", [0, 10_001], ids=["zero", "too-many"])
def test_a_limit_out_of_range_is_refused(archive, limit):
    with pytest.raises(ValueError):
        archive.history("c1", limit=limit)


def test_an_empty_append_writes_nothing(archive):
    assert archive.append([]) == 0
    assert archive.count() == 0


def test_a_batch_is_written_whole_in_one_append(archive):
    batch = [rec(f"c{n % 50}", f"i{n}", n) for n in range(5000)]
    assert archive.append(batch) == 5000
    assert archive.count() == 5000
    assert archive.append(batch) == 0


def test_the_schema_is_created_once_and_survives_reopening(archive_url):
    first = open_archive(archive_url)
    first.append([rec("c1", "i1", 1)])
    first.close()
    again = open_archive(archive_url)
    try:
        assert again.count() == 1
        assert again.append([rec("c1", "i1", 1), rec("c1", "i2", 2)]) == 1
    finally:
        again.close()


def test_the_schema_version_is_recorded(archive, archive_url):
    archive.count()  # first use migrates
    if archive_url.startswith("sqlite"):
        with sqlite3.connect(archive_url.removeprefix("sqlite:///")) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM archive_schema")]
        assert versions == list(range(1, len(SQLITE_MIGRATIONS) + 1))
        assert conn.execute  # closed by the context manager's commit only: close it
    else:
        with psycopg.connect(archive_url) as conn:
            versions = [v for (v,) in conn.execute("SELECT version FROM archive_schema").fetchall()]
            indexes = [n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'interactions'")]
        assert versions == list(range(1, len(POSTGRES_MIGRATIONS) + 1))
        assert indexes == ["interactions_pkey"]  # the key only: a contact's records are read by its prefix


def test_an_archive_of_the_first_schema_is_brought_up_to_date_with_its_records(archive_url):
    """An archive written by the release before (schema 1, with the (contact_id, at) index) keeps its records
    and loses the index that made every append twice as dear."""
    first = (SQLITE_MIGRATIONS if archive_url.startswith("sqlite") else POSTGRES_MIGRATIONS)[0]
    row = ("c1", "api", "old", 7, "email.opened", '{"plan":"pro"}')
    if archive_url.startswith("sqlite"):
        with sqlite3.connect(archive_url.removeprefix("sqlite:///")) as conn:
            for statement in (*first, "CREATE TABLE archive_schema (version INTEGER NOT NULL)"):
                conn.execute(statement)
            conn.execute("INSERT INTO archive_schema VALUES (1)")
            conn.execute("INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?)", row)
        conn.close()
    else:
        with psycopg.connect(archive_url) as conn:
            for statement in (*first, "CREATE TABLE archive_schema (version integer NOT NULL)"):
                conn.execute(statement)
            conn.execute("INSERT INTO archive_schema VALUES (1)")
            conn.execute("INSERT INTO interactions VALUES (%s, %s, %s, %s, %s, %s)", row)
    archive = open_archive(archive_url)
    try:
        assert archive.history("c1") == [TimelineRecord("old", "api", "email.opened", 7, {"plan": "pro"})]
        assert archive.append([rec("c1", "new", 8), rec("c1", "old", 9)]) == 1
        assert [r.id for r in archive.history("c1")] == ["new", "old"]
    finally:
        archive.close()
    if archive_url.startswith("sqlite"):
        with sqlite3.connect(archive_url.removeprefix("sqlite:///")) as conn:
            indexes = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")]
        conn.close()
        assert "interactions_contact_at" not in indexes
    else:
        with psycopg.connect(archive_url) as conn:
            indexes = [n for (n,) in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'interactions'")]
        assert indexes == ["interactions_pkey"]


def test_processes_starting_together_migrate_once(archive_url):
    opened = [open_archive(archive_url) for _ in range(4)]
    errors: list[BaseException] = []

    def first_use(archive):
        try:
            archive.append([rec("c1", "i1", 1)])
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use, args=(a,)) for a in opened]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert opened[0].count() == 1
    finally:
        for archive in opened:
            archive.close()


def test_sqlite_uses_wal(tmp_path):
    archive = open_archive(f"sqlite:///{tmp_path}/a.sqlite3")
    try:
        archive.count()
        with sqlite3.connect(tmp_path / "a.sqlite3") as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("SELECT count(*) FROM interactions").fetchone()[0] == 0
        conn.close()
    finally:
        archive.close()


def test_a_relative_sqlite_path_is_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    archive = open_archive("sqlite:///var/archive.sqlite3")
    try:
        archive.append([rec("c1", "i1", 1)])
        assert (tmp_path / "var" / "archive.sqlite3").is_file()
    finally:
        archive.close()


@pytest.mark.parametrize("url", ["redis://localhost/0", "sqlite:/x", "mysql://root@localhost/db"])
def test_an_unknown_archive_url_is_refused(url):
    with pytest.raises(ValueError):
        open_archive(url)


MALFORMED_URLS = {
    "port-not-a-number": "postgresql://u@127.0.0.1:notaport/db", "port-out-of-range": "postgresql://u@127.0.0.1:99999/db",
    "port-zero": "postgresql://u@127.0.0.1:0/db", "second-port-not-a-number": "postgresql://u@127.0.0.1:5432,127.0.0.1:x/db",
    "bad-percent-encoding": "postgresql://u:%zzsecret@127.0.0.1/db", "unclosed-bracket": "postgresql://u@[::1/db",
    "space": "postgres://u x@127.0.0.1/db", "sqlite-without-path": "sqlite://", "sqlite-empty-path": "sqlite:///",
    "sqlite-without-slashes": "sqlite:relative", "one-slash": "postgresql:/127.0.0.1/db", "other-scheme": "ftp://x/y",
}


@pytest.mark.parametrize("url", MALFORMED_URLS.values(), ids=MALFORMED_URLS.keys())
def test_a_malformed_archive_url_stops_the_start_and_keeps_the_password_out_of_the_message(make_app, url):
    """A setting's mistake is said at the start, never taken for an outage on first use (which would keep every
    interaction in the backlog for ever and answer 503s); the message names the setting, not the secret."""
    with pytest.raises(ValueError, match="ARCHIVE_URL|SQLite archive URL") as refused:
        make_app(ARCHIVE_URL=url)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1:5432,127.0.0.1:5433/db?connect_timeout=1",
                                 "postgres://u:p%40ss@127.0.0.1/db", "postgresql:///db?host=/var/run/postgresql"])
def test_well_formed_postgresql_urls_are_taken_without_connecting(url):
    open_archive(url).close()  # nothing connects until first use


@pytest.mark.parametrize("value", ["ninety", "-5d", "1.5d", "90 days", "d", "5", "1y", "0.0"])
def test_a_hot_history_that_is_not_a_duration_stops_the_start(make_app, value):
    """Else every worker's trim pass would fail on it at each tick and Redis keep everything without a word."""
    with pytest.raises(ValueError, match="HOT_HISTORY"):
        make_app(HOT_HISTORY=value)


@pytest.mark.parametrize("value, kept_ms", [("0", None), ("90d", 90 * 86_400_000), ("12w", 84 * 86_400_000),
                                            ("1s", 1000), ("", 90 * 86_400_000), (None, 90 * 86_400_000)])
def test_hot_history_takes_a_duration_or_zero_and_defaults_to_90_days(make_app, monkeypatch, value, kept_ms):
    from app.horizon import hot_history_ms

    monkeypatch.delenv("SCOREKEEPER_HOT_HISTORY", raising=False)
    if value is not None:
        monkeypatch.setenv("SCOREKEEPER_HOT_HISTORY", value)
    assert hot_history_ms(make_app().config) == kept_ms


def test_the_default_archive_is_sqlite_under_var_and_needs_no_server():
    from app.settings import DEFAULTS

    assert DEFAULTS["ARCHIVE_URL"][0] == "sqlite:///var/archive.sqlite3"


def test_an_unreachable_postgresql_is_unavailable_and_reconnects_when_back(postgres_url):
    from .archive_helpers import TcpGate

    database = postgres_url.rsplit("/", 1)[1]
    gate = TcpGate(("127.0.0.1", 5432))
    archive = open_archive(f"postgresql://postgres@127.0.0.1:{gate.port}/{database}")
    try:
        with pytest.raises(ArchiveUnavailable):
            archive.append([rec("c1", "i1", 1)])
        gate.open()
        assert archive.append([rec("c1", "i1", 1)]) == 1
        gate.shut()  # the open connection is cut
        with pytest.raises(ArchiveUnavailable):
            archive.append([rec("c1", "i2", 2)])
        gate.open()
        assert archive.append([rec("c1", "i2", 2), rec("c1", "i1", 1)]) == 1
        assert [r.id for r in archive.history("c1")] == ["i2", "i1"]
    finally:
        archive.close()
        gate.close()


def test_an_sqlite_archive_that_cannot_be_opened_is_unavailable(tmp_path):
    (tmp_path / "file").write_text("not a directory")
    archive = open_archive(f"sqlite:///{tmp_path}/file/archive.sqlite3")
    with pytest.raises(ArchiveUnavailable):
        archive.count()
    with pytest.raises(ArchiveUnavailable):
        archive.append([rec("c1", "i1", 1)])


def test_a_closed_port_is_unavailable():
    archive = open_archive(f"postgresql://postgres@127.0.0.1:{free_port()}/nothing")
    with pytest.raises(ArchiveUnavailable):
        archive.count()
    archive.close()


ids = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1, max_size=12)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(
        st.characters(blacklist_categories=("Cs",)), max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ids, inner, max_size=3), max_leaves=8)


any_records = st.lists(st.builds(rec, st.sampled_from(["c1", "c2"]), ids, st.integers(0, 2**53),
                                 st.sampled_from(["email.opened", "x"]), st.sampled_from(["api", "s"]),
                                 p=json_values), max_size=20)


def assert_reads_back_exactly_once_newest_first(archive, records: list[ArchivedRecord]) -> None:
    """What comes back is the first of each key, in (at, source, id) order newest first."""
    archive.append(records)
    archive.append(reversed(records))
    first: dict[tuple[str, str, str], ArchivedRecord] = {}
    for item in records:
        first.setdefault((item.contact_id, item.record.source, item.record.id), item)
    for contact in ("c1", "c2"):
        expected = sorted((a.record for a in first.values() if a.contact_id == contact),
                          key=lambda r: (r.at, r.source.encode(), r.id.encode()), reverse=True)
        assert archive.history(contact, limit=100) == expected
    assert archive.count() == len(first)


@settings(max_examples=40)
@given(records=any_records)
def test_any_records_read_back_exactly_once_newest_first(tmp_path_factory, records):
    archive = open_archive(f"sqlite:///{tmp_path_factory.mktemp('h')}/a.sqlite3")
    try:
        assert_reads_back_exactly_once_newest_first(archive, records)
    finally:
        archive.close()


@pytest.fixture(scope="module")
def shared_postgres_archive():
    """One PostgreSQL database for every example of a property (emptied by each): its archive."""
    name = f"sk_archive_prop_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    archive = open_archive(TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
    yield archive
    archive.close()
    with psycopg.connect(TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@settings(max_examples=25)
@given(records=any_records)
def test_any_records_read_back_exactly_once_newest_first_on_postgresql(shared_postgres_archive, records):
    """The same on PostgreSQL: every character of ids and properties survives the JSON text the append sends."""
    archive = shared_postgres_archive
    archive.count()  # first use migrates
    with psycopg.connect(archive.url, autocommit=True) as conn:
        conn.execute("TRUNCATE interactions")
    assert_reads_back_exactly_once_newest_first(archive, records)


def test_workspaces_never_share_a_record_even_with_the_same_contact_ids(archive):
    """A workspace restored from another's backup has the same contact ids: the workspace is part of the key."""
    mine = [ArchivedRecord("c1", TimelineRecord("i1", "api", "email.opened", 1, {"w": "default"}))]
    theirs = [ArchivedRecord("c1", TimelineRecord("i1", "api", "email.opened", 2, {"w": "acme"}), "acme")]
    assert archive.append(mine) == 1
    assert archive.append(theirs) == 1  # not a repeat of default's
    assert archive.append(theirs) == 0  # a repeat of its own
    assert [r.properties for r in archive.history("c1")] == [{"w": "default"}]
    assert [r.properties for r in archive.history("c1", workspace="acme")] == [{"w": "acme"}]
    assert archive.history("c1", workspace="other") == []
    assert archive.count() == 2


def test_the_bulk_readers_see_one_workspace(archive):
    archive.append([rec("c1", "i1", 1), ArchivedRecord("c1", TimelineRecord("i2", "api", "email.opened", 2, {}), "w2")])
    assert [r.id for r in archive.histories(["c1"])["c1"]] == ["i1"]
    assert [r.id for r in archive.histories(["c1"], workspace="w2")["c1"]] == ["i2"]
    asked = [("c1", "api", "i1"), ("c1", "api", "i2")]
    assert archive.held_keys(asked) == {("c1", "api", "i1")}
    assert archive.held_keys(asked, "w2") == {("c1", "api", "i2")}


def test_sqlite_syncs_each_append(tmp_path):
    """``synchronous=FULL`` in WAL mode: an append is on disk when it returns, before its stream entries go."""
    archive = open_archive(f"sqlite:///{tmp_path}/a.sqlite3")
    try:
        archive.count()
        assert archive._connection().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        archive.close()


#: The append of the release before (one JSON text unpacked by ``json_each``), kept here as the reference the
#: bound multi-row inserts must match row for row.
JSON_APPEND = """INSERT OR IGNORE INTO interactions (contact_id, source, id, at, type, properties, workspace)
SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
FROM json_each(?) ORDER BY key"""


def append_as_before(archive, records: list[ArchivedRecord]) -> int:
    """What the release before's ``append`` did, on the same connection: one statement over ``rows_json``."""
    from app.archive import rows_json

    payload = rows_json(records)
    if payload is None:
        return 0
    conn = archive._connection()
    before = conn.total_changes
    conn.execute(JSON_APPEND, (payload,))
    return conn.total_changes - before


def stored_rows(path) -> list[tuple]:
    """Every row of an SQLite archive's table as stored (types included), in key order."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT workspace, contact_id, source, id, at, typeof(at), type, properties "
                            "FROM interactions ORDER BY workspace, contact_id, source, id").fetchall()
    finally:
        conn.close()


sequence_records = st.builds(
    ArchivedRecord, st.sampled_from(["c1", "c2", "c3"]),
    st.builds(TimelineRecord, st.sampled_from(["i1", "i2", "i3", "é", "a'b"]) | ids, st.sampled_from(["api", "s"]),
              st.sampled_from(["email.opened", "x"]), st.integers(-(2**53), 2**53), st.dictionaries(ids, json_values,
                                                                                                     max_size=3)),
    st.sampled_from(["default", "acme"]))
batch_sequences = st.lists(st.lists(sequence_records, max_size=24), max_size=6)


@settings(max_examples=60, deadline=None)
@given(batches=batch_sequences, switch=st.integers(0, 6))
def test_the_bound_inserts_store_exactly_what_the_json_append_stored(tmp_path_factory, batches, switch):
    """For any sequence of batches (repeated keys within and across batches, two workspaces, batches across the
    statements' row chunks: 8 rows here, so a batch of 23 takes 8 + 8 + 4 + 2 + 1), an archive written by
    this release (the first ``switch`` batches by the release before, on the same file) stores the same rows, counts
    the same new records, and reads back the same as one written wholly by the release before."""
    folder = tmp_path_factory.mktemp("same")
    old = open_archive(f"sqlite:///{folder}/old.sqlite3")
    new = open_archive(f"sqlite:///{folder}/new.sqlite3")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite_archive, "CHUNK_ROWS", 8)
        try:
            appended_alike(old, new, batches, switch, folder)
        finally:
            old.close()
            new.close()


def appended_alike(old, new, batches: list[list[ArchivedRecord]], switch: int, folder) -> None:
    """Append each batch to both (to ``new`` by the release before's statement until ``switch``), then compare
    what they store and answer."""
    old.count(), new.count()  # first use makes the schema
    for n, batch in enumerate(batches):
        expected = append_as_before(old, batch)
        assert (append_as_before(new, batch) if n < switch else new.append(batch)) == expected
    assert stored_rows(folder / "new.sqlite3") == stored_rows(folder / "old.sqlite3")
    contacts = ["c1", "c2", "c3", "nobody"]
    keys = [(a.contact_id, a.record.source, a.record.id) for batch in batches for a in batch] + [("c1", "api", "no")]
    for workspace in ("default", "acme"):
        assert new.histories(contacts, workspace=workspace) == old.histories(contacts, workspace=workspace)
        assert new.held_keys(keys, workspace) == old.held_keys(keys, workspace)
        for contact in contacts:
            assert new.history(contact, limit=1000, workspace=workspace) == old.history(contact, limit=1000,
                                                                                        workspace=workspace)
    assert new.count() == old.count()


@pytest.mark.parametrize("size", [2, 255, 256, 999, 1000, 1001, 2500], ids=lambda n: f"{n}-rows")
def test_an_append_of_any_size_is_written_whole_in_order(tmp_path, size):
    """Across the statements' chunks (``CHUNK_ROWS`` then powers of two) every row is written once, in batch order:
    the last record repeats the first's key and is the one ignored."""
    archive = open_archive(f"sqlite:///{tmp_path}/a.sqlite3")
    try:
        batch = [rec(f"c{n % 7}", f"i{n}", n) for n in range(size - 1)] + [rec("c0", "i0", 999_999, "x")]
        assert archive.append(batch) == size - 1
        assert archive.count() == size - 1
        assert archive.history("c0", limit=10_000)[-1].at == 0
    finally:
        archive.close()


def test_a_failing_statement_leaves_nothing_of_its_append(tmp_path):
    """The batch is one transaction over several statements: a row refused in the last chunk (a lone surrogate
    SQLite cannot take as text) leaves none of the earlier chunks' rows, and the archive takes the next append."""
    archive = open_archive(f"sqlite:///{tmp_path}/a.sqlite3")
    try:
        batch = [rec("c1", f"i{n}", n) for n in range(300)] + [rec("c1", "bad\ud800", 301)]
        with pytest.raises(UnicodeEncodeError):
            archive.append(batch)
        assert archive.count() == 0
        assert archive.append(batch[:300]) == 300
    finally:
        archive.close()


scored_batches = st.lists(st.dictionaries(
    st.sampled_from(["c1", "c2", "c3"]),
    st.lists(st.builds(TimelineRecord, st.sampled_from(["i1", "i2", "é", "a'b"]) | ids, st.sampled_from(["api", "s"]),
                       st.sampled_from(["email.opened", "x"]), st.integers(-(2**53), 2**53),
                       st.dictionaries(ids, json_values, max_size=3)), max_size=4), max_size=3), max_size=4)


def as_archived(batches, workspace: str) -> list[ArchivedRecord]:
    """The archiver's batches as the ``ArchivedRecord``s it appended before ``append_batches``, in order."""
    return [ArchivedRecord(cid, record, workspace) for batch in batches for cid, records in batch.items()
            for record in records]


@settings(max_examples=80)
@given(batches=scored_batches, workspace=st.sampled_from(["default", "acme"]))
def test_the_archivers_append_sends_exactly_what_its_archived_records_sent(batches, workspace):
    """Both backends' statements get the same values from the batches as from their ``ArchivedRecord``s: SQLite the
    same bound fields, PostgreSQL the same JSON text."""
    records = as_archived(batches, workspace)
    flat = sqlite_archive.batch_values(batches)  # each row without its workspace: the statement's literal
    width = sqlite_archive.ROW_FIELDS - 1
    assert [v for i in range(0, len(flat), width) for v in (*flat[i:i + width], workspace)] == \
        sqlite_archive.row_values(records)
    assert batch_rows_json(batches, workspace) == rows_json(records)


@settings(max_examples=25)
@given(workspace=st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1,
                         max_size=12) | st.sampled_from(["o'brien", "'; DROP TABLE interactions; --", "a''b"]))
def test_an_archivers_append_stores_its_workspace_exactly_whatever_it_is_named(tmp_path_factory, workspace):
    """The workspace of the archiver's append is its statement's literal (quoted), not a bound parameter: any name
    is stored as it is, and only under it."""
    archive = sqlite_archive.SqliteArchive(f"sqlite:///{tmp_path_factory.mktemp('ws')}/a.sqlite3")
    batch = {"c1": [rec("c1", "i1", 5).record, rec("c1", "i2", 6, n=1).record]}
    assert archive.append_batches([batch], workspace) == 2
    assert sorted(r.id for r in archive.history("c1", workspace=workspace)) == ["i1", "i2"]
    assert archive.history("c1", workspace=workspace + "x") == []
    archive.close()


def test_the_archivers_append_stores_what_an_append_of_its_records_stores(archive):
    batches = [{"c1": [rec("c1", "i1", 5).record, rec("c1", "i2", 6, n=1).record], "c2": [rec("c2", "i1", 7).record]},
               {"c1": [rec("c1", "i1", 5).record, rec("c1", "i3", 8).record]}]
    assert archive.append_batches(batches, "acme") == 4  # i1 twice: the first kept
    assert archive.append_batches([], "acme") == archive.append_batches([{"c1": []}], "acme") == 0
    assert archive.histories(["c1", "c2"], workspace="acme") == {
        "c1": [rec("c1", "i1", 5).record, rec("c1", "i2", 6, n=1).record, rec("c1", "i3", 8).record],
        "c2": [rec("c2", "i1", 7).record]}
    assert archive.histories(["c1", "c2"]) == {}  # another workspace's


def test_the_statements_kept_for_the_archivers_appends_do_not_grow_with_the_workspaces(tmp_path):
    """A worker drains every workspace's partitions, and each workspace's appends have statement texts of their own
    (its name is their literal): the texts kept are bounded, not one set a workspace drained since the worker started
    (before the review of 2026-12-06, third session, ``functools.cache`` kept ~60 KB a workspace for good)."""
    archive = sqlite_archive.SqliteArchive(f"sqlite:///{tmp_path}/a.sqlite3")
    batch = {"c1": [rec("c1", "i1", 5).record, rec("c1", "i2", 6).record, rec("c1", "i3", 7).record]}
    for n in range(3 * sqlite_archive.STATEMENTS_KEPT):
        assert archive.append_batches([batch], f"ws-{n}") == 3
    assert sqlite_archive.insert_rows.cache_info().currsize <= sqlite_archive.STATEMENTS_KEPT
    assert [r.id for r in archive.history("c1", workspace="ws-0")] == ["i3", "i2", "i1"]
    archive.close()
