"""A PostgreSQL archive that stops answering without closing anything (a frozen server: its host's kernel still
accepts connections and acknowledges every byte) is given up within the call's bound, never waited on for ever
(app/archive/postgres.py, ``ARCHIVE_CALL_TIMEOUT_S``; docs/archive.md).

Timings are asserted loosely: that the call raised, and that it ended well within a generous outer limit — a
hang would exceed it by far, a loaded machine would not.
"""
from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from app.archive import ArchivedRecord, ArchiveUnavailable
from app.archive.postgres import PostgresArchive
from app.scoring.records import TimelineRecord

from .archive_helpers import TcpGate

#: The bound the tests give the archive's calls, in seconds.
BOUND_S = 1.0
#: What a call may take here before the test counts it as hung: the bound, a fresh connect's own bound
#: (CONNECT_TIMEOUT_S, 3 s) and a wide margin for a loaded machine.
HUNG_AFTER_S = 30.0


def rec(contact: str, id_: str, at: int) -> ArchivedRecord:
    return ArchivedRecord(contact, TimelineRecord(id_, "api", "email.opened", at, {}))


def outcome(call: Callable[[], object]) -> BaseException | object:
    """What ``call`` returned or raised, run in a thread of its own; fails the test if it is still running after
    ``HUNG_AFTER_S`` (the thread, a daemon, is left behind)."""
    result: list[BaseException | object] = []

    def run() -> None:
        try:
            result.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=HUNG_AFTER_S)
    assert not thread.is_alive(), f"the archive's call still waited after {HUNG_AFTER_S} s"
    return result[0]


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP listener on loopback that accepts every connection and never sends a byte; its port."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                held.append(listener.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield listener.getsockname()[1]
    listener.close()
    for sock in held:
        sock.close()


@pytest.fixture
def frozen_gate(postgres_url: str) -> Iterator[tuple[TcpGate, str]]:
    """The test's PostgreSQL database behind a TCP gate that can freeze; the gate and the URL through it."""
    gate = TcpGate(("127.0.0.1", 5432)).open()
    database = postgres_url.rsplit("/", 1)[1]
    yield gate, f"postgresql://postgres@127.0.0.1:{gate.port}/{database}"
    gate.close()


def test_a_connect_to_a_server_that_never_answers_is_given_up(silent_server):
    """The kernel completes the TCP handshake, the server never sends its startup reply: the connect's own
    bound (CONNECT_TIMEOUT_S, which psycopg enforces itself) gives it up."""
    archive = PostgresArchive(f"postgresql://postgres@127.0.0.1:{silent_server}/postgres", call_timeout_s=BOUND_S)
    appended = outcome(lambda: archive.append([rec("c1", "i1", 1)]))
    assert isinstance(appended, ArchiveUnavailable), appended
    assert isinstance(outcome(archive.count), ArchiveUnavailable)
    archive.close()


def test_calls_to_a_server_that_froze_are_given_up_and_the_next_call_after_it_thaws_connects_afresh(frozen_gate):
    gate, url = frozen_gate
    archive = PostgresArchive(url, call_timeout_s=BOUND_S)
    try:
        assert archive.append([rec("c1", "i1", 1)]) == 1  # connected, schema made
        gate.freeze()
        # the open connection's statement is sent and acknowledged, its answer never comes
        frozen_append = outcome(lambda: archive.append([rec("c1", "i2", 2)]))
        assert isinstance(frozen_append, ArchiveUnavailable), frozen_append
        assert "within" in frozen_append.message  # given up by the bound, not failed otherwise
        # then each call connects afresh, and that connect is given up too
        for call in (lambda: archive.histories(["c1"]), lambda: archive.held_keys([("c1", "api", "i1")]),
                     lambda: archive.history("c1")):
            assert isinstance(outcome(call), ArchiveUnavailable)
        gate.thaw()
        # (the statement sent while frozen may still arrive and be run: an append ignores what it holds)
        assert archive.append([rec("c1", "i2", 2), rec("c1", "i3", 3)]) in (1, 2)
        assert [r.id for r in archive.history("c1")] == ["i3", "i2", "i1"]
    finally:
        archive.close()


def test_a_call_waiting_for_the_connection_of_a_frozen_call_is_given_up_as_well(frozen_gate):
    """The connection is one, under a lock: a call that waits for it counts that wait in its bound."""
    gate, url = frozen_gate
    archive = PostgresArchive(url, call_timeout_s=BOUND_S)
    try:
        assert archive.count() == 0
        gate.freeze()
        first: list[object] = []
        holder = threading.Thread(target=lambda: first.append(outcome(archive.count)), daemon=True)
        holder.start()
        second = outcome(lambda: archive.held_keys([("c1", "api", "i1")]))
        holder.join(timeout=HUNG_AFTER_S)
        assert isinstance(second, ArchiveUnavailable), second
        assert first and isinstance(first[0], ArchiveUnavailable), first
    finally:
        gate.thaw()
        archive.close()
