"""Helpers of the archive tests: the test PostgreSQL's address, and a TCP gate that makes it unreachable or
frozen."""
from __future__ import annotations

import os
import socket
import struct
import threading
from contextlib import suppress

#: The test PostgreSQL (trust auth): a database is created in it per test and dropped afterwards.
TEST_POSTGRES_URL = os.environ.get("SCOREKEEPER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reset(sock: socket.socket) -> None:
    """Close with a reset (SO_LINGER 0), after waking any thread blocked reading it."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


class TcpGate:
    """A real TCP forwarder on 127.0.0.1:``port`` to ``target``, shut until ``open()``. Shut, it resets every
    connection made to it and cuts every connection it was forwarding: the server is unreachable. Frozen
    (``freeze()`` until ``thaw()``), it forwards nothing either way but keeps every connection open and accepts
    new ones, and the kernel acknowledges what is sent to it: a server whose processes hang (SIGSTOP)."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self._passing = False
        self._closed = False
        self._flowing = threading.Event()
        self._flowing.set()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def open(self) -> TcpGate:
        self._passing = True
        return self

    def freeze(self) -> None:
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def shut(self) -> None:
        self._passing = False
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _reset(sock)

    def close(self) -> None:
        self.shut()
        self._closed = True
        self._listener.close()
        self.thaw()  # (its pumps see their sockets gone)

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            if not self._passing:
                _reset(client)
                continue
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while self._flowing.wait() and (data := source.recv(65536)):
                self._flowing.wait()  # (what was read as it froze waits too)
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
