"""The deployment's live processes: each says in Redis who it is, and the layout migrations wait for the ones that
do not know them.

Why: several layout migrations (app/contact_layout.py) change what is stored in a form a process of an earlier
release misreads or writes again the old way — web processes included (an empty ``la``, a short contact id, ``e``
for ``email``...). ``await_workers_before`` sees only RQ's workers of releases before; nothing saw a web process
still serving webhooks in a rolling deploy. From this release on, every long-lived process announces itself
(``Heartbeat``): its role (``web``: a gunicorn worker or ``flask run`` serving ``app.wsgi``; ``worker``: an RQ
worker with its ticker; ``cli``: a command that moves data), host, pid, release (``WORKER_PREFIX`` and its layout
number) and the layout migrations it knows (``LAYOUT_MIGRATIONS``: it reads and writes both forms of each). The
announcement lives ``PROCESS_TTL_SECONDS``, renewed every third of it by a thread of its own — never on a request's
path — and goes when the process stops cleanly; one killed outright lapses.

A worker's start waits (``await_processes_before``), while a layout migration is unrecorded in some workspace, until
no live process lacks it: a process *before* a migration is one that does not announce knowing it, whatever its role.
A process of a release before this one announces nothing, so this sees only processes of this release and later:
a release after this one can rely on it for this release's web processes; for releases before, the operator still
replaces the web processes before the new workers start (docs/durability.md).
"""
from __future__ import annotations

import atexit
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from .contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX
from .services import Services
from .settings import setting
from .storage.errors import StoreError
from .storage.processes import ProcessRegistry

log = logging.getLogger(__name__)

#: What a process is: it serves requests, runs jobs and the ticker, or is a command that moves data.
ROLES = ("web", "worker", "cli")


def layout_number(release: str) -> int:
    """The layout generation a release's worker prefix names (``sk-l14-`` -> 14; 0 for a name of another form)."""
    found = re.fullmatch(r"sk-l(\d+)-", release)
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class ProcessRecord:
    """One process's announcement, as stored (JSON) and as the status shows it."""
    id: str
    role: str
    host: str
    pid: int
    #: The worker prefix of its release (``WORKER_PREFIX``) and the layout number it names.
    release: str
    layout: int
    #: The layout migrations it knows: it reads and writes both forms of each.
    migrations: tuple[str, ...]
    #: When it started, ms.
    started_at: int
    #: A command's name (``cli``), else empty.
    command: str = ""
    #: The processes it waits for before migrating (their ids), while it does.
    waiting_for: tuple[str, ...] = ()

    def lacks(self, migrations: Iterable[str]) -> list[str]:
        """Which of these migrations this process does not know (it would misread or undo them)."""
        known = set(self.migrations)
        return [name for name in migrations if name not in known]

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def decode(process_id: str, text: str) -> ProcessRecord:
    """A stored announcement; one this release cannot read (a later release's, or damaged) is a process that knows
    no migration, so a migration waits for it rather than guess."""
    try:
        raw: dict[str, Any] = json.loads(text)
        return ProcessRecord(id=process_id, role=str(raw.get("role", "?")), host=str(raw.get("host", "?")),
                             pid=int(raw.get("pid", 0)), release=str(raw.get("release", "?")),
                             layout=int(raw.get("layout", 0)), migrations=_names(raw.get("migrations")),
                             started_at=int(raw.get("started_at", 0)), command=str(raw.get("command", "")),
                             waiting_for=_names(raw.get("waiting_for")))
    except (ValueError, TypeError, AttributeError, OverflowError):
        return ProcessRecord(id=process_id, role="?", host="?", pid=0, release="?", layout=0, migrations=(),
                             started_at=0)


def _names(value: Any) -> tuple[str, ...]:
    """A stored list of names (anything else: none)."""
    return tuple(str(name) for name in value) if isinstance(value, list) else ()


def this_process(role: str, command: str = "", migrations: Sequence[str] = LAYOUT_MIGRATIONS) -> ProcessRecord:
    """The announcement of the running process (a new id for each: a pid is used again)."""
    host, pid = socket.gethostname(), os.getpid()
    return ProcessRecord(id=f"{host}:{pid}:{uuid.uuid4().hex[:8]}", role=role, host=host, pid=pid,
                         release=WORKER_PREFIX, layout=layout_number(WORKER_PREFIX), migrations=tuple(migrations),
                         started_at=int(time.time() * 1000), command=command)


#: Seconds a stop waits for a renewal in flight before withdrawing the announcement.
STOP_JOIN_S = 5.0


class Heartbeat:
    """This process's announcement, renewed every third of ``ttl_s`` by a daemon thread, withdrawn at a clean exit
    (``stop``, or at the interpreter's exit). Redis being away is logged and retried at the next renewal: a process
    never stops for it. ``fork_again``: a child forked after the start announces itself anew (gunicorn's
    ``--preload`` forks its workers from the process that loaded the app; a thread does not survive a fork)."""

    def __init__(self, registry: ProcessRegistry, record: ProcessRecord, ttl_s: float, fork_again: bool = False):
        self.registry = registry
        self.record = record
        self.ttl_s = float(ttl_s)
        self.fork_again = fork_again
        self._stop = threading.Event()
        #: Held by each renewal and by the withdrawal: a renewal that started before a stop lands before the
        #: withdrawal, however long Redis takes, and none starts after it.
        self._writing = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def id(self) -> str:
        return self.record.id

    def start(self) -> Heartbeat:
        """Announce now (so the process is seen before it serves or migrates), then renew in the background. The
        ids of processes whose announcement lapsed (killed outright) leave the set here too, so it does not grow with
        each kill where nothing reads it."""
        atexit.register(self.stop)  # first: a stop that comes as soon as the announcement is seen withdraws it
        if self.fork_again:
            os.register_at_fork(after_in_child=self._forked)
        if self.beat():
            self._forget_lapsed()
        self._thread = threading.Thread(target=self._renew, daemon=True, name="heartbeat")
        self._thread.start()
        return self

    def beat(self) -> bool:
        """Renew the announcement once; False (logged) when Redis did not take it."""
        try:
            self.registry.announce(self.record.id, self.record.encode(), int(self.ttl_s * 1000))
            return True
        except StoreError:
            log.warning("could not announce this process in Redis", extra={"process_id": self.record.id})
            return False

    def _forget_lapsed(self) -> None:
        try:
            self.registry.live()
        except StoreError:
            log.warning("could not read the live processes", extra={"process_id": self.record.id})

    def waiting(self, process_ids: Iterable[str]) -> None:
        """Say whom this process waits for (empty: none), at once."""
        self.record = replace(self.record, waiting_for=tuple(sorted(process_ids)))
        with self._writing:
            if not self._stop.is_set():
                self.beat()

    def stop(self) -> None:
        """Stop renewing and withdraw the announcement (only in the process that made it: a forked child inherits
        the object, not the announcement)."""
        if self._stop.is_set() or os.getpid() != self.record.pid:
            return
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=STOP_JOIN_S)
        # (the lock, not the join, keeps a renewal in flight from landing after the withdrawal: the join gives up
        # after STOP_JOIN_S, and a renewal slowed past it by a loaded Redis re-announced a process that had stopped)
        with self._writing:
            for attempt in range(2):  # once more: a connection the pool dropped at exit is made again
                try:
                    self.registry.withdraw(self.record.id)
                    return
                except StoreError:
                    if attempt:
                        log.warning("could not withdraw this process's announcement: it lapses on its own",
                                    extra={"process_id": self.record.id, "seconds": self.ttl_s})

    def _renew(self) -> None:
        while not self._stop.wait(self.ttl_s / 3):
            with self._writing:
                if self._stop.is_set():  # stopped while this renewal waited: the withdrawal is next, or done
                    return
                self.beat()

    def _forked(self) -> None:
        """In a forked child: its own announcement and thread (the parent's stays the parent's)."""
        if self._stop.is_set():
            return
        record = this_process(self.record.role, self.record.command, self.record.migrations)
        Heartbeat(self.registry, record, self.ttl_s).start()


def start_heartbeat(services: Services, role: str, command: str = "", fork_again: bool = False) -> Heartbeat:
    """Announce this process (``role`` of ``ROLES``) for as long as it lives, renewed in the background."""
    if role not in ROLES:
        raise ValueError(f"a process's role is one of {ROLES}, not {role!r}")
    ttl = float(setting(services.settings, "PROCESS_TTL_SECONDS"))
    return Heartbeat(services.processes, this_process(role, command), ttl, fork_again).start()


def exit_on_sigterm() -> None:
    """SIGTERM ends this process as ``SystemExit`` (so ``atexit`` withdraws its announcement, and a migration cut
    short resumes the next time) where nothing else handles it: ``flask run``, a worker still starting. A handler
    already set (gunicorn's, RQ's, which replace this one when they start) is left as it is."""
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _exit)


def _exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def live_processes(services: Services) -> list[ProcessRecord]:
    """Every process whose announcement has not lapsed, oldest first."""
    records = [decode(process_id, text) for process_id, text in services.processes.live().items()]
    return sorted(records, key=lambda record: (record.started_at, record.id))


def pending_migrations(every_services: Sequence[Services], migrations: Sequence[str] = LAYOUT_MIGRATIONS) -> list[str]:
    """The layout migrations some workspace has not recorded yet, in their order."""
    return [name for name in migrations
            if not all(services.jobs.migration_done(name) for services in every_services)]


def processes_before(every_services: Sequence[Services], migrations: Sequence[str] = LAYOUT_MIGRATIONS,
                     itself: str | None = None) -> list[ProcessRecord]:
    """The live processes (but ``itself``) that lack a migration some workspace has not recorded: a migration run
    now would be misread or undone by them."""
    pending = pending_migrations(every_services, migrations)
    if not pending:
        return []
    return [record for record in live_processes(every_services[0])
            if record.id != itself and record.lacks(pending)]


def describe(record: ProcessRecord) -> str:
    """One line a log or the console shows for a process."""
    what = f"{record.role} {record.command}".strip()
    return f"{what} pid {record.pid} on {record.host} ({record.release}, layout {record.layout})"


def await_processes_before(every_services: Sequence[Services], stop: threading.Event, period_s: float = 5.0,
                           heartbeat: Heartbeat | None = None, migrations: Sequence[str] = LAYOUT_MIGRATIONS,
                           on_wait: Callable[[list[ProcessRecord]], None] | None = None) -> bool:
    """Wait, while some workspace has not recorded one of ``migrations``, until no live process lacks it — a web
    process of a release before as much as a worker (checked every ``period_s``; each wait logged with who is
    waited for, said in ``heartbeat``'s announcement, and told to ``on_wait``). False if ``stop`` was set first."""
    itself = heartbeat.id if heartbeat is not None else None
    while before := processes_before(every_services, migrations, itself):
        pending = pending_migrations(every_services, migrations)
        log.warning("waiting for processes of a release before to stop: they do not know the layout migrations "
                    "this release runs now (replace them: docs/durability.md)",
                    extra={"processes": [describe(record) for record in before],
                           "migrations": [name for name in pending if any(r.lacks([name]) for r in before)]})
        if heartbeat is not None:
            heartbeat.waiting(record.id for record in before)
        if on_wait is not None:
            on_wait(before)
        if stop.wait(period_s):
            return False
    if heartbeat is not None and heartbeat.record.waiting_for:
        heartbeat.waiting(())
    return True


def deployment_status(every_services: Sequence[Services],
                      migrations: Sequence[str] = LAYOUT_MIGRATIONS) -> dict[str, Any]:
    """What ``scorekeeper status`` and ``GET /v1/processes`` show: the live processes with their releases, the layout
    migrations not recorded yet, and for each the live processes that lack it (who a migration waits on)."""
    processes = live_processes(every_services[0])
    pending = pending_migrations(every_services, migrations)
    return {
        "release": WORKER_PREFIX, "layout": layout_number(WORKER_PREFIX),
        "processes": [{**asdict(record), "migrations": len(record.migrations),
                       "missing": record.lacks(migrations)} for record in processes],
        "pending_migrations": [{"name": name, "waits_for": [record.id for record in processes
                                                            if record.lacks([name])]} for name in pending],
    }
