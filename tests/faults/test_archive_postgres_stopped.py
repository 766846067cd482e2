"""Fault: the archive's PostgreSQL really stopped and started, or frozen and thawed, while interactions arrive and
are scored.

The test makes a PostgreSQL cluster of its own (``initdb`` from Debian's postgresql packages, on a free
loopback port, removed afterwards), points the archive at it, stops it (``pg_ctl stop -m fast``: open
connections are cut, new ones refused) in the middle of a load, starts it again, and checks that ingest and
scoring went on meanwhile, that every accepted interaction is in the archive exactly once, and that every
score is the reference's. Frozen (every process of the cluster sent SIGSTOP: the kernel still takes its
connections and acknowledges what is sent on them, but nothing answers, as a hung host does), the archive's
calls are given up after their bound (a test-sized one: tests/impatient_archive_worker.py), so ingest and
scoring go on likewise, the backlog fills while it is frozen, and nothing is lost once it is thawed (SIGCONT).
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import psycopg
import pytest

from app.archive import postgres

from .. import impatient_archive_worker
from ..archive_helpers import free_port
from ..helpers import AUTH, put_profile, wait_for
from ..reference import reference_score
from .load import (PROFILE, REFERENCE_RULES, RULES, T0, assert_scored_exactly_once, batches, make_load, post_batch,
                   records_by_email)

#: On a private redis-server, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis

#: 12,000 interactions over 300 contacts, in requests of 250.
LOAD, CONTACTS, PER_REQUEST = 12_000, 300, 250
#: The frozen case's workers: their archive gives a call up after 2 s (``impatient_archive_worker``), and their
#: partition leases outlast that and a fresh connect's own bound (3 s), as the defaults do (a call's 20 s within
#: a lease's 30 s): a drain waiting on a frozen archive keeps its partition. No hot horizon: a contact with one
#: needs the archive to be scored (its batch waits in its stream while the archive is away, by design:
#: tests/test_archive_write_through.py), and whether the first trim pass gives some contacts one before the
#: freeze is a race; without, every drain's only call of the archive is the write-through, the subject here.
FROZEN_WORKERS = {"module": "tests.impatient_archive_worker", "LEASE_MS": 10_000, "HOT_HISTORY": "0"}


def postgres_bin() -> Path:
    """The newest installed server's binaries (scripts/ensure-postgres.sh installs Debian's packages)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if not found:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql: run scripts/ensure-postgres.sh")
    return Path(found[-1])


class PostgresCluster:
    """A private PostgreSQL cluster (trust auth, user ``postgres``) on 127.0.0.1:``port``; as root, its files
    belong to the ``postgres`` user and its commands run as that user, as the server requires."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="sk-archive-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_owner: list[str] = []
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres")
            self.as_owner = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        result = subprocess.run([*self.as_owner, str(self.bin / tool), *args], capture_output=True, text=True,
                                timeout=120)
        if result.returncode:
            raise RuntimeError(f"{tool} failed: {result.stdout}{result.stderr}")

    def start(self) -> None:
        """Start and wait until it accepts connections (``pg_ctl -w``)."""
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "postgres.log"), "-w", "-t", "60",
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.dir} -c fsync=off", "start")

    def stop(self, mode: str = "fast") -> None:
        """Stop and wait until it is down: ``fast`` ends every session (their transactions roll back)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def processes(self) -> list[int]:
        """The postmaster and every process it started."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(postmaster)], capture_output=True, text=True).stdout.split()
        return [postmaster, *map(int, children)]

    def signal(self, signum: int) -> None:
        """``SIGSTOP`` freezes the cluster, ``SIGCONT`` thaws it."""
        for pid in self.processes():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def close(self) -> None:
        if self.running():
            self.signal(signal.SIGCONT)
            self.stop("immediate")
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def cluster():
    made = PostgresCluster()
    try:
        made.start()
        yield made
    finally:
        made.close()


def archived_ids(url: str) -> list[tuple[str, str]]:
    """Every archived interaction as (contact id, id), duplicates included (there must be none)."""
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute("SELECT contact_id, id FROM interactions").fetchall()


def scored_entries(services) -> int:
    return int(services.redis.hget(services.keys.stats(), "scored_entries") or 0)


def frozen(cluster: PostgresCluster) -> bool:
    """Whether every process of the cluster is stopped (state ``T``)."""
    return {Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] for pid in cluster.processes()} == {"T"}


def scores_are_the_references(client, services, by_email: dict[str, list[dict]]) -> bool:
    """Whether every contact's live score is the reference fold of its accepted interactions (read from Redis
    alone: no ledger, whose older pages come from the archive)."""
    live = client.get(f"/v1/profiles/{PROFILE}", headers=AUTH).get_json()["version"]
    for email, records in by_email.items():
        state = services.contacts.get_contact(services.contacts.find_contact(email=email))["states"].get(
            f"{PROFILE}@{live}")
        if state is None or state.score != reference_score(REFERENCE_RULES, records, now=T0 + 10**12):
            return False
    return True


@pytest.mark.parametrize("outage", ["stopped", "frozen"])
def test_postgresql_stopped_and_started_loses_nothing_and_archives_each_interaction_once(
        make_app, workers, cluster, request, monkeypatch, outage):
    if outage == "frozen":  # this process's archive as the workers' (it reads the ledger's older pages)
        monkeypatch.setattr(postgres, "ARCHIVE_CALL_TIMEOUT_S", impatient_archive_worker.CALL_TIMEOUT_S)
    app = make_app(ARCHIVE_URL=cluster.url)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        request.addfinalizer(services.archive.close)  # the ledger's older pages are read through it
        assert services.archive.count() == 0  # its schema made
        services.archive.close()
        put_profile(client, PROFILE, RULES)
        workers(ARCHIVE_URL=cluster.url, **(FROZEN_WORKERS if outage == "frozen" else {}))
        client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH)
        load = make_load(LOAD, CONTACTS, seed=17)
        accepted: list[dict] = []
        failures: list[object] = []
        sent_half = threading.Event()
        go_on = threading.Event()

        def send_all() -> None:
            for n, batch in enumerate(batches(load, PER_REQUEST)):
                if n == len(load) // PER_REQUEST // 2:  # the second half arrives while PostgreSQL is down
                    sent_half.set()
                    go_on.wait(timeout=120)
                response = post_batch(client, batch)
                if response.status_code != 202:
                    failures.append(response.get_json())
                    return
                accepted.extend(batch)

        sender = threading.Thread(target=send_all)
        sender.start()
        try:
            assert sent_half.wait(timeout=120)
            wait_for(lambda: archived_ids(cluster.url), timeout=60)  # the archive took some
            if outage == "stopped":
                cluster.stop()
            else:
                cluster.signal(signal.SIGSTOP)
            scored_at_stop = scored_entries(services)
            go_on.set()
            # scoring goes on while the archive is down; what it cannot take waits in the backlog
            wait_for(lambda: scored_entries(services) >= scored_at_stop + PER_REQUEST * 4, timeout=120)
            wait_for(lambda: sum(services.archive_backlog.depths()) > 0, timeout=60)
        finally:
            go_on.set()
            sender.join(timeout=180)
        assert not failures and len(accepted) == LOAD  # ingest went on, frozen archive or not
        by_email = records_by_email(accepted)
        if outage == "stopped":
            assert not cluster.running()
            backlog_while_down = sum(services.archive_backlog.depths())
            cluster.start()
        else:
            # every interaction scored, each contact's score the reference's, while the cluster is still frozen:
            # the drains gave up on the archive (its records in the backlog) instead of waiting for it
            wait_for(lambda: not any(services.partitions.partition_depths())
                     and scores_are_the_references(client, services, by_email), timeout=180)
            backlog_while_down = sum(services.archive_backlog.depths())
            assert frozen(cluster)
            cluster.signal(signal.SIGCONT)
        assert backlog_while_down > 0
        # the ticker wakes the partitions whose backlog waits; their lease holders empty it into the archive
        wait_for(lambda: not any(services.partitions.partition_depths()), timeout=120)
        wait_for(lambda: sum(services.archive_backlog.depths()) == 0, timeout=120)
        rows = archived_ids(cluster.url)
        assert len(rows) == len(set(rows)) == LOAD
        expected = {(services.contacts.find_contact(email=email), record["id"])
                    for email, records in by_email.items() for record in records}
        assert set(rows) == expected
        assert assert_scored_exactly_once(client, services, by_email) == len(by_email)
