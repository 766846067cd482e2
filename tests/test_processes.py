"""Every long-lived process says in Redis who it is, and the layout migrations wait for the ones that do not know
them — web processes included (app/processes.py; docs/durability.md, "Live processes and the migrations that wait
for them").

The real processes here are gunicorn serving ``app.wsgi`` and ``scorekeeper worker``, started and stopped as in
production; a process of "the next release" is this test, asking for a migration this release does not know.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from hypothesis import given, settings
from hypothesis import strategies as st

from app import indexes
from app.cli import main as cli
from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX
from app.keys import Keys
from app.processes import (
    Heartbeat,
    ProcessRecord,
    await_processes_before,
    decode,
    deployment_status,
    layout_number,
    live_processes,
    processes_before,
    start_heartbeat,
    this_process,
)
from app.storage.contacts import IDS_SHORT
from app.storage.processes import ProcessRegistry
from app.workspaces import every_workspace

from .conftest import TEST_REDIS_URL
from .helpers import API_KEY, wait_for
from .processes import ROOT, start_worker, stop
from .redis_server import free_port

#: A migration of the next release: no process of this one knows it.
NEXT_MOVE = "next-release-move"
NEXT_RELEASE = (*LAYOUT_MIGRATIONS, NEXT_MOVE)


def web_process(tmp_path: Path, ttl_s: float, preload: bool = False, workers: int = 1,
                flask_run: bool = False) -> subprocess.Popen:
    """gunicorn serving ``app.wsgi:app`` (the Procfile's web process) on loopback, in its own process group; or
    ``flask --app app.wsgi run``."""
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "SCOREKEEPER_API_KEYS": API_KEY,
           "SCOREKEEPER_WORKFLOWS_DIR": "", "SCOREKEEPER_PROCESS_TTL_SECONDS": str(ttl_s),
           "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{tmp_path}/web-archive.sqlite3"}
    argv = [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "--bind", f"127.0.0.1:{free_port()}",
            "--workers", str(workers), *(["--preload"] if preload else []), "app.wsgi:app"]
    if flask_run:
        argv = [sys.executable, "-m", "flask", "--app", "app.wsgi", "run", "--port", str(free_port())]
    with open(tmp_path / "web.log", "ab") as log:
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


@pytest.fixture
def web(tmp_path: Path, services) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start web processes; each is stopped (its group killed) at the end, whatever the test did to it."""
    started: list[subprocess.Popen] = []

    def start(ttl_s: float = 60.0, **options) -> subprocess.Popen:
        started.append(web_process(tmp_path, ttl_s, **options))
        return started[-1]

    yield start
    for process in started:
        stop(process, signal.SIGKILL)


def web_records(services) -> list[ProcessRecord]:
    return [record for record in live_processes(services) if record.role == "web"]


def announced(services, count: int) -> list[ProcessRecord]:
    """The web processes' announcements, once ``count`` of them are there."""
    return wait_for(lambda: (found := web_records(services)) and len(found) == count and found, timeout=60)


def waiting_for_next_release(services, told: queue.Queue) -> tuple[threading.Thread, list[bool], threading.Event]:
    """A worker of the next release at start: waiting, in a thread, for the processes that lack its migration."""
    stop_waiting, outcome = threading.Event(), []
    thread = threading.Thread(target=lambda: outcome.append(await_processes_before(
        [services], stop_waiting, period_s=0.05, migrations=NEXT_RELEASE, on_wait=told.put)))
    thread.start()
    return thread, outcome, stop_waiting


def test_a_web_process_announces_itself_before_any_request_and_withdraws_when_it_stops(web, services):
    server = web()
    (record,) = announced(services, 1)
    assert (record.release, record.layout, record.migrations) == (WORKER_PREFIX, layout_number(WORKER_PREFIX),
                                                                   LAYOUT_MIGRATIONS)
    assert record.pid != server.pid  # the gunicorn worker that serves, not the master
    stop(server)  # SIGTERM: a clean stop; the announcement would live a minute more on its own
    wait_for(lambda: not web_records(services), timeout=30)


def test_flask_run_announces_itself_and_withdraws_at_sigterm(web, services):
    server = web(flask_run=True)
    (record,) = announced(services, 1)
    assert record.pid == server.pid
    stop(server)
    assert server.returncode == 128 + signal.SIGTERM  # a clean exit, not a death by the signal
    assert not web_records(services)


def test_importing_the_web_app_elsewhere_leaves_sigterm_to_the_importer(tmp_path, services):
    """Only ``flask run`` gets the SIGTERM handler: a test run or a script that imports ``app.wsgi`` keeps SIGTERM's
    default, so a SIGTERM still ends it (a pytest that took it as ``SystemExit`` failed one test and ran on)."""
    code = ("import signal, app.wsgi; print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL, flush=True); "
            "app.wsgi.heartbeat.stop()")  # withdrawn: no announcement left for the next test
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "SCOREKEEPER_API_KEYS": API_KEY, "SCOREKEEPER_WORKFLOWS_DIR": "",
           "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{tmp_path}/archive.sqlite3"}
    env.pop("FLASK_RUN_FROM_CLI", None)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.stdout.split() == ["True"], done.stderr


def test_each_worker_gunicorn_forks_from_a_preloaded_app_announces_itself(web, services):
    """(A worker still booting when the stop comes ignores it, as gunicorn's workers do until they set their own
    handlers, and is killed after gunicorn's graceful timeout: its announcement lapses, hence the short TTL.)"""
    server = web(ttl_s=3.0, preload=True, workers=2)
    found = announced(services, 3)  # the master that loaded the app, and each worker it forked
    assert len({record.pid for record in found}) == 3 and server.pid in {record.pid for record in found}
    stop(server)
    wait_for(lambda: not web_records(services), timeout=30)


def test_the_next_release_s_migration_waits_for_a_web_process_of_this_one_and_runs_once_it_stopped(web, services):
    """The rolling deploy the heartbeat is for: a web process still serving when the next release's workers start
    holds their migration up, is named while it does, and lets it go when it stops."""
    server = web()
    (record,) = announced(services, 1)
    told: queue.Queue = queue.Queue()
    waiting, outcome, _stop = waiting_for_next_release(services, told)
    assert [r.id for r in told.get(timeout=30)] == [record.id]
    shown = deployment_status([services], NEXT_RELEASE)
    assert {"name": NEXT_MOVE, "waits_for": [record.id]} in shown["pending_migrations"]
    assert waiting.is_alive()
    stop(server)
    waiting.join(timeout=30)
    assert outcome == [True]


def test_a_web_process_killed_outright_is_waited_for_until_its_announcement_lapses(web, services):
    server = web(ttl_s=3.0)
    (record,) = announced(services, 1)
    stop(server, signal.SIGKILL)  # no clean stop: nothing withdraws it
    assert record.id in {r.id for r in live_processes(services)}  # renewed within the last second: still there
    told: queue.Queue = queue.Queue()
    waiting, outcome, _stop = waiting_for_next_release(services, told)
    assert [r.id for r in told.get(timeout=30)] == [record.id]
    waiting.join(timeout=30)  # PROCESS_TTL_SECONDS after its last renewal
    assert outcome == [True] and not web_records(services)


def test_a_worker_of_this_release_waits_at_start_for_a_process_that_lacks_one_of_its_migrations(services, tmp_path):
    """What the next release's workers will do to a web process of this one, done by this release's real worker to
    a process announced without ``contact-ids-short`` (as one of the release before would have, had it announced):
    the worker says whom it waits for, migrates nothing meanwhile, and migrates once that process is gone."""
    before = ProcessRecord(id="old-host:4242:cafe", role="web", host="old-host", pid=4242, release="sk-l13-",
                           layout=13, migrations=LAYOUT_MIGRATIONS[:-1], started_at=1)
    services.processes.announce(before.id, before.encode(), 600_000)
    worker = start_worker(TEST_REDIS_URL, PROCESS_TTL_SECONDS="60")
    try:
        ours = wait_for(lambda: next((r for r in live_processes(services)
                                      if r.role == "worker" and r.waiting_for == (before.id,)), None), timeout=60)
        assert ours.release == WORKER_PREFIX and not services.jobs.migration_done(IDS_SHORT)
        services.processes.withdraw(before.id)  # it stopped
        wait_for(lambda: services.jobs.migration_done(IDS_SHORT), timeout=60)
        wait_for(lambda: next(r for r in live_processes(services) if r.id == ours.id).waiting_for == (), timeout=30)
    finally:
        stop(worker)
    wait_for(lambda: not live_processes(services), timeout=30)  # the worker's own, withdrawn at its clean stop


def test_a_worker_stopped_while_it_waits_withdraws_its_announcement(services):
    """SIGTERM during the wait (an operator giving up on the deploy): a clean stop, not a death by signal."""
    before = ProcessRecord(id="old-host:4242:cafe", role="web", host="old-host", pid=4242, release="sk-l13-",
                           layout=13, migrations=LAYOUT_MIGRATIONS[:-1], started_at=1)
    services.processes.announce(before.id, before.encode(), 600_000)
    worker = start_worker(TEST_REDIS_URL, PROCESS_TTL_SECONDS="600")
    try:
        wait_for(lambda: any(r.waiting_for == (before.id,) for r in live_processes(services)), timeout=60)
    finally:
        stop(worker)
    assert worker.returncode == 128 + signal.SIGTERM
    assert [r.id for r in live_processes(services)] == [before.id]  # its own went at once, not in ten minutes
    assert not services.jobs.migration_done(IDS_SHORT)


def test_a_command_that_moves_data_is_announced_until_it_ends(app, services, monkeypatch):
    seen: list[list[ProcessRecord]] = []
    real = indexes.backfill
    monkeypatch.setattr(indexes, "backfill", lambda *a, **k: (seen.append(live_processes(services)), real(*a, **k))[1])
    _cli(app, "reindex")
    ((record,),) = seen
    assert (record.role, record.command, record.pid) == ("cli", "scorekeeper reindex", os.getpid())
    assert live_processes(services) == []


@pytest.mark.on_cluster
def test_announcements_on_a_cluster_are_read_in_one_slot(services):
    beats = [start_heartbeat(services, role) for role in ("web", "worker")]
    assert {r.id for r in live_processes(services)} == {beat.id for beat in beats}
    beats[0].stop()
    assert [r.id for r in live_processes(services)] == [beats[1].id]
    services.redis.delete(services.keys.process(beats[1].id))  # what its key's lapse does
    assert live_processes(services) == [] and not services.redis.smembers(services.keys.processes())
    beats[1].stop()


def test_the_wait_says_loudly_whom_it_waits_for(services, caplog):
    other = start_heartbeat(services, "web")
    told: list = []
    gave_up = threading.Event()

    def once(records: list[ProcessRecord]) -> None:
        told.append(records)
        gave_up.set()

    with caplog.at_level(logging.WARNING, logger="app.processes"):
        assert await_processes_before([services], gave_up, migrations=NEXT_RELEASE, on_wait=once) is False
    other.stop()
    (waited,) = told
    assert [r.id for r in waited] == [other.id]
    (line,) = [r for r in caplog.records if r.getMessage().startswith("waiting for processes")]
    assert line.migrations == [NEXT_MOVE] and f"pid {os.getpid()}" in line.processes[0]


def test_processes_of_this_release_hold_up_none_of_its_migrations(services):
    beats = [start_heartbeat(services, role) for role in ("web", "worker", "cli")]
    try:
        assert len(live_processes(services)) == 3
        assert processes_before([services]) == []  # every one knows every LAYOUT_MIGRATIONS entry
        assert await_processes_before([services], threading.Event(), period_s=30) is True
    finally:
        for beat in beats:
            beat.stop()
    assert live_processes(services) == []


def test_a_process_does_not_wait_for_itself(services):
    beat = Heartbeat(services.processes, this_process("worker", migrations=LAYOUT_MIGRATIONS), 60).start()
    try:
        assert processes_before([services], NEXT_RELEASE, itself=beat.id) == []
        assert [r.id for r in processes_before([services], NEXT_RELEASE)] == [beat.id]
    finally:
        beat.stop()


def test_once_the_next_release_s_migration_is_recorded_nothing_waits(services):
    beat = start_heartbeat(services, "web")
    services.jobs.record_migration(NEXT_MOVE, 1)
    for name in LAYOUT_MIGRATIONS:
        services.jobs.record_migration(name, 1)
    try:
        assert processes_before([services], NEXT_RELEASE) == []
        assert deployment_status([services], NEXT_RELEASE)["pending_migrations"] == []
    finally:
        beat.stop()


def test_an_announcement_in_a_workspace_s_migrations_counts_for_every_workspace(client, services, auth_headers):
    """A process serves every workspace: a migration recorded in ``default`` but not in another still waits."""
    assert client.post("/v1/workspaces", json={"id": "acme", "name": "Acme"}, headers=auth_headers).status_code == 201
    beat = start_heartbeat(services, "web")
    services.jobs.record_migration(NEXT_MOVE, 1)
    try:
        every = every_workspace(services)
        assert [r.id for r in processes_before(every, NEXT_RELEASE)] == [beat.id]
    finally:
        beat.stop()


def test_scorekeeper_status_shows_the_live_processes_and_whom_the_migrations_wait_for(app, services):
    beat = start_heartbeat(services, "cli", command="scorekeeper compact")
    try:
        out = _cli(app, "status")
        assert f"{beat.id}: cli scorekeeper compact, pid {os.getpid()}" in out and WORKER_PREFIX in out
        assert f"layout migration {IDS_SHORT}: not recorded; waits for no live process" in out
        found = json.loads(_cli(app, "status", "--json"))
        assert [p["id"] for p in found["processes"]] == [beat.id] and found["processes"][0]["missing"] == []
    finally:
        beat.stop()


def test_get_v1_processes_shows_the_same_to_an_instance_admin_only(client, services, auth_headers):
    beat = start_heartbeat(services, "web")
    try:
        answer = client.get("/v1/processes", headers=auth_headers)
        assert answer.status_code == 200
        assert [p["id"] for p in answer.get_json()["processes"]] == [beat.id]
        assert answer.get_json()["release"] == WORKER_PREFIX
        stored = client.post("/v1/keys", json={"name": "ops", "scopes": ["admin"]}, headers=auth_headers)
        other = {"Authorization": f"Bearer {stored.get_json()['key']}"}
        assert client.get("/v1/processes", headers=other).status_code == 403
    finally:
        beat.stop()


def test_an_announcement_is_not_data_a_restore_minds(services):
    beat = start_heartbeat(services, "cli", command="scorekeeper restore")
    try:
        assert services.snapshot.is_empty()
    finally:
        beat.stop()


def test_a_forked_child_never_withdraws_its_parent_s_announcement(services):
    beat = start_heartbeat(services, "worker")
    child = os.fork()
    if child == 0:  # RQ's forking worker's child ends so, or through sys.exit: nothing of the parent's goes
        beat.stop()
        os._exit(0)
    os.waitpid(child, 0)
    try:
        assert [r.id for r in live_processes(services)] == [beat.id]
    finally:
        beat.stop()


def test_a_process_that_starts_forgets_the_ids_of_processes_whose_announcement_lapsed(services):
    services.processes.announce("killed", "{}", 60_000)
    services.redis.delete(services.keys.process("killed"))  # what its key's lapse does
    beat = start_heartbeat(services, "web")
    try:
        assert services.redis.smembers(services.keys.processes()) == {beat.id}
    finally:
        beat.stop()


class SlowRenewals(ProcessRegistry):
    """The registry on the test Redis, whose renewals from the heartbeat's thread are held until a withdrawal came
    or ``hold_s`` passed (a Redis slowed past ``STOP_JOIN_S``); what reached Redis, in order, in ``landed``."""

    def __init__(self, redis_client, keys, hold_s: float):
        super().__init__(redis_client, keys)
        self.hold_s = hold_s
        self.renewing, self.withdrawn = threading.Event(), threading.Event()
        self.landed: list[str] = []

    def announce(self, process_id: str, record: str, ttl_ms: int) -> None:
        if threading.current_thread().name == "heartbeat":
            self.renewing.set()
            self.withdrawn.wait(self.hold_s)
        super().announce(process_id, record, ttl_ms)
        self.landed.append("announce")

    def withdraw(self, process_id: str) -> None:
        super().withdraw(process_id)
        self.landed.append("withdraw")
        self.withdrawn.set()


def test_a_renewal_slowed_past_the_stop_s_wait_lands_before_the_withdrawal_never_after(services, monkeypatch):
    """The stop waits STOP_JOIN_S for a renewal in flight; one that takes longer (a loaded Redis) must still not
    land after the withdrawal and announce, for another TTL, a process that has stopped."""
    monkeypatch.setattr("app.processes.STOP_JOIN_S", 0.05)
    registry = SlowRenewals(services.redis, services.keys, hold_s=1.0)
    beat = Heartbeat(registry, this_process("web"), ttl_s=1.5).start()  # renewed every 0.5 s
    assert registry.renewing.wait(10)
    beat.stop()
    assert registry.landed == ["announce", "announce", "withdraw"]
    assert beat.id not in registry.live()


class RenewedMeanwhile(ProcessRegistry):
    """A registry whose reader finds a lapsed announcement, and whose process renews it just before the lapsed ids
    are dropped (one paused past its TTL that woke up)."""

    def forget_lapsed(self, process_ids: list[str]) -> int:
        for process_id in process_ids:
            self.announce(process_id, this_process("web").encode(), 60_000)
        return super().forget_lapsed(process_ids)


def test_a_process_that_renews_between_the_read_and_the_drop_of_lapsed_ids_stays_listed(services):
    """The set's lapsed ids are dropped only while their keys are still gone, atomically: a renewal in between
    keeps the process listed, so a migration that waits for it does not miss it for a third of a TTL."""
    registry = RenewedMeanwhile(services.redis, services.keys)
    registry.redis.sadd(services.keys.processes(), "paused")  # listed, its key lapsed
    assert registry.live() == {}  # (read before the renewal)
    assert "paused" in ProcessRegistry(services.redis, services.keys).live()
    plain = ProcessRegistry(services.redis, services.keys)
    plain.redis.sadd(services.keys.processes(), "gone")
    assert plain.forget_lapsed(["gone", "paused"]) == 1  # the one whose key is still there stays
    assert services.redis.smembers(services.keys.processes()) == {"paused"}
    plain.withdraw("paused")


def test_a_process_whose_redis_is_away_says_so_and_goes_on(caplog):
    """A web process starts, and keeps serving its 503s, while Redis is away: its announcement waits for Redis."""
    away = redis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    beat = Heartbeat(ProcessRegistry(away, Keys()), this_process("web"), ttl_s=60)
    with caplog.at_level(logging.WARNING, logger="app.processes"):
        assert beat.beat() is False
        beat.stop()
    assert [r.process_id for r in caplog.records] == [beat.id, beat.id]  # the renewal, then the withdrawal
    away.close()


@settings(max_examples=200)
@given(st.one_of(st.text(max_size=200), st.dictionaries(st.text(max_size=12), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8), max_size=8).map(json.dumps)))
def test_an_announcement_this_release_cannot_read_is_a_process_that_knows_nothing(text):
    """A later release's, or a damaged one: never an error, and a migration waits for it rather than guess."""
    record = decode("p", text)
    assert record.id == "p" and record.lacks(LAYOUT_MIGRATIONS)


def test_a_record_reads_back_as_written():
    record = this_process("worker", migrations=NEXT_RELEASE)
    assert decode(record.id, record.encode()) == record
    assert record.lacks(LAYOUT_MIGRATIONS) == [] and this_process("web").lacks(NEXT_RELEASE) == [NEXT_MOVE]


@pytest.mark.parametrize("release, layout", [pytest.param("sk-l14-", 14, id="this-form"),
                                             pytest.param("sk-l7-", 7, id="one-digit"),
                                             pytest.param("custom-", 0, id="another-form")])
def test_a_release_names_its_layout_number(release, layout):
    assert layout_number(release) == layout


def _cli(app, *args: str) -> str:
    from click.testing import CliRunner

    env = {"REDIS_URL": app.config["REDIS_URL"], "SCOREKEEPER_STORE_URL": app.config["STORE_URL"] or "",
           "SCOREKEEPER_ARCHIVE_URL": app.config["ARCHIVE_URL"], "SCOREKEEPER_WORKFLOWS_DIR": ""}
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout
