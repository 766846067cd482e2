"""Every fixture of the suite, in one place (tests/browser/conftest.py adds the browser's).

The app trio — ``make_app``, ``app``, ``client``, ``services`` — is built on a dedicated Redis database,
flushed around every test. Three markers choose where and how, instead of copies of the trio:

- ``@pytest.mark.app_settings(**settings)``: the app's extra settings for a test or a module
  (``pytestmark = pytest.mark.app_settings(**FAST)`` for the workflow tests);
- ``@pytest.mark.on_cluster``: the score store on a real 3-master Redis Cluster (queues stay on the test Redis);
  a module marked ``also_on_cluster`` runs every test twice, ``[redis]`` and ``[cluster]`` (a test of it marked
  ``single_redis``, of something only a single Redis does, runs on Redis alone);
- ``@pytest.mark.private_redis``: the app on a private redis-server (AOF, ``appendfsync always``) that the
  test may kill and restart (``redis_server``), with partition leases short enough for recovery to fit
  the test (``TEST_LEASE_MS``); ``workers`` starts worker processes on it.
"""
from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.connection import AbstractConnection
from click.testing import CliRunner
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from app import create_app

from app.archive import open_archive

from .archive_helpers import TEST_POSTGRES_URL
from .clock import CLOCK_START, ManualClock
from .dashboard_helpers import post, sign_in, text
from .evaluation_helpers import BANDS as EVALUATED_BANDS, EVALUATION_PAGE, PERIOD, RULES as EVALUATED_RULES, history
from .helpers import API_KEY, AUTH, publish_profile, send, settle
from .processes import start_worker, stop
from .redis_server import RedisServer
from .workflow_helpers import FAST, Receiver

TEST_REDIS_URL = os.environ.get("SCOREKEEPER_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")

# Property tests: the same examples on every run (CI gives one answer on any machine); each
# test states how many it runs and how many it needed to find the mutants it guards against.
# ``--hypothesis-profile=explore`` draws new examples instead and keeps every failing one in
# .hypothesis/examples, where the next run replays it first.
settings.register_profile("default", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", derandomize=False, deadline=None, print_blob=True,
                          database=DirectoryBasedExampleDatabase(
                              str(Path(__file__).resolve().parent.parent / ".hypothesis" / "examples")))
settings.load_profile("default")


def _flush() -> None:
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()


#: A killed worker's partition leases lapse this fast (ms) on a ``private_redis``, so recovery fits the test budget.
TEST_LEASE_MS = 2000


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """A module marked ``also_on_cluster``: each test that builds an app runs on Redis and on a cluster."""
    if metafunc.definition.get_closest_marker("also_on_cluster") and "store_url" in metafunc.fixturenames \
            and not metafunc.definition.get_closest_marker("single_redis"):
        metafunc.parametrize("store_url", ["redis", "cluster"], indirect=True)


@pytest.fixture(scope="session")
def cluster():
    """A real 3-master Redis Cluster, started once for the tests that ask for one."""
    from bench.cluster import Cluster

    running = Cluster().start()
    yield running
    running.stop()


@pytest.fixture
def store_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The score store: empty means the test Redis itself; ``on_cluster`` (or the ``cluster`` parameter of
    an ``also_on_cluster`` module) gives a Redis Cluster, flushed around the test."""
    wanted = getattr(request, "param", "cluster" if request.node.get_closest_marker("on_cluster") else "redis")
    if wanted != "cluster":
        yield ""
        return
    running = request.getfixturevalue("cluster")
    running.flush()
    yield running.url
    running.flush()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the test PostgreSQL (``SCOREKEEPER_TEST_POSTGRES_URL``), created for the
    test under a unique name and dropped afterwards; its URL."""
    import psycopg

    name = f"sk_archive_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    yield TEST_POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(TEST_POSTGRES_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def archive_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty archive of each backend: an SQLite file in the test's tmp dir, a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/archive.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def archive(archive_url: str):
    """The archive at ``archive_url``, closed after the test."""
    opened = open_archive(archive_url)
    yield opened
    opened.close()


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A private redis-server (AOF, ``appendfsync always``) that a test may kill and restart."""
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def base_settings(request: pytest.FixtureRequest, store_url: str, tmp_path: Path) -> dict:
    """The settings every app of the test starts from: the test Redis (or a ``private_redis``), the store,
    the test key, and no workflow files unless a test asks (tests see only what they set up); then the
    ``app_settings`` marker's."""
    config = {"TESTING": True, "REDIS_URL": TEST_REDIS_URL, "STORE_URL": store_url, "API_KEYS": API_KEY,
              "PARTITIONS": 4, "WORKFLOWS_DIR": "", "ARCHIVE_URL": f"sqlite:///{tmp_path}/archive.sqlite3"}
    if request.node.get_closest_marker("private_redis"):
        config.update(REDIS_URL=request.getfixturevalue("redis_server").url, LEASE_MS=TEST_LEASE_MS)
    for marker in reversed(list(request.node.iter_markers("app_settings"))):  # the closest wins
        config.update(*marker.args, **marker.kwargs)
    return config


@pytest.fixture
def make_app(base_settings: dict):
    """Build an app with extra settings: ``make_app(SENDGRID_PUBLIC_KEY=...)``; each call is a new app
    (a new process's view) on the same Redis."""

    built = []

    def build(**overrides):
        made = create_app({**base_settings, **overrides})
        built.append(made)
        return made

    _flush()
    yield build
    for made in built:  # a connection left open warns when collected, and warnings are errors
        services = made.extensions["scorekeeper"]
        services.archive.close()
        services.redis.close()
        services.queue.connection.close()
    _flush()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def services(app):
    with app.app_context():
        yield app.extensions["scorekeeper"]


@pytest.fixture
def auth_headers():
    return dict(AUTH)


@pytest.fixture
def clock() -> ManualClock:
    """A clock the test moves by hand, at ``CLOCK_START``: pass it as ``make_app(CLOCK=clock)``."""
    return ManualClock(CLOCK_START)


@pytest.fixture
def dash(app):
    """A dashboard client, signed in."""
    client = app.test_client()
    assert sign_in(client).status_code == 302
    return client


@pytest.fixture
def wf_dash(make_app):
    """A signed-in dashboard client and the services of an app with the workflow tests' fast retries."""
    app = make_app(**FAST)
    client = app.test_client()
    sign_in(client)
    with app.app_context():
        yield client, app.extensions["scorekeeper"]


@pytest.fixture
def worker(app):
    """``scorekeeper worker`` in its own process, on the test Redis, as in production."""
    process = start_worker(TEST_REDIS_URL, ARCHIVE_URL=app.config["ARCHIVE_URL"])
    yield process
    stop(process)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real HTTP receiver on 127.0.0.1 checking Standard Webhooks signatures (workflow_helpers.Receiver)."""
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def workers(redis_server: RedisServer, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``scorekeeper worker`` processes on the private Redis (and the test's archive, as in
    ``base_settings``, and short leases, unless given); all are stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(module: str = "", **worker_settings: object) -> subprocess.Popen:
        worker_settings = {"ARCHIVE_URL": f"sqlite:///{tmp_path}/archive.sqlite3", "LEASE_MS": TEST_LEASE_MS,
                           **worker_settings}
        process = start_worker(redis_server.url, module, **{k: str(v) for k, v in worker_settings.items()})
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process, signal.SIGKILL)


@pytest.fixture
def world(client, services):
    """The profile ``eng`` published, and a history whose evaluation is known by hand (evaluation_helpers)."""
    publish_profile(client, services, "eng", EVALUATED_RULES, EVALUATED_BANDS)
    send(client, *history())
    settle(services)
    return client


@pytest.fixture
def evaluated(world, dash, services):
    """An evaluation of the ``world`` started from the dashboard's form and finished; its page's URL."""
    resp = post(dash, EVALUATION_PAGE, PERIOD)
    assert resp.status_code == 303, text(resp)
    settle(services)
    return resp.headers["Location"]


@pytest.fixture
def runner(monkeypatch, app):
    """The click CLI run in-process against the test app's Redis (what `scorekeeper …` reads from the environment)."""
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("SCOREKEEPER_PARTITIONS", "4")
    monkeypatch.setenv("SCOREKEEPER_WORKFLOWS_DIR", "")
    return CliRunner()


@pytest.fixture
def round_trips(monkeypatch):
    """Every command (or pipeline) this process sends to Redis from now on, one entry per round trip."""
    sent: list[bytes] = []
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    return sent


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Collect what the session left in reference cycles before pytest's own last collection, and report an
    unclosed Redis socket found there on the terminal instead of failing a run whose every test passed.

    Whether a socket in a collected cycle warns depends on the order the collector finalizes the cycle's
    objects (its connection's ``__del__`` closes it when it goes first), so an end-of-session warning came and
    went between identical runs (2026-12-02: 2,321 passed, exit 1). Inside a test the warning is still an error;
    anything else found here still goes to pytest."""
    import gc
    import sys

    found: list = []
    pytests_hook, sys.unraisablehook = sys.unraisablehook, found.append
    try:
        for _ in range(3):
            gc.collect()
    finally:
        sys.unraisablehook = pytests_hook
    for unraisable in found:
        if isinstance(unraisable.exc_value, ResourceWarning) and "socket" in str(unraisable.exc_value):
            sys.stderr.write(f"\nleft open at the end of the session: {unraisable.exc_value}\n")
        else:
            pytests_hook(unraisable)
