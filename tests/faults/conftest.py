"""Fault-test fixtures: a private redis-server (AOF, ``appendfsync always``), an app on it, worker processes."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from app import create_app

from ..helpers import API_KEY
from ..processes import start_worker, stop
from ..redis_server import RedisServer

#: A killed worker's partition leases lapse this fast (ms), so recovery fits the test budget.
TEST_LEASE_MS = 2000


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.close()


@pytest.fixture
def fault_settings(redis_server: RedisServer) -> dict:
    return {
        "TESTING": True,
        "REDIS_URL": redis_server.url,
        "STORE_URL": "",
        "API_KEYS": API_KEY,
        "PARTITIONS": 4,
        "WORKFLOWS_DIR": "",
        "LEASE_MS": TEST_LEASE_MS,
    }


@pytest.fixture
def fault_app(fault_settings: dict):
    return create_app(fault_settings)


@pytest.fixture
def fault_client(fault_app):
    return fault_app.test_client()


@pytest.fixture
def fault_services(fault_app):
    with fault_app.app_context():
        yield fault_app.extensions["scorekeeper"]


@pytest.fixture
def workers(redis_server: RedisServer) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``scorekeeper worker`` processes on the private Redis; all are stopped at the end."""
    started: list[subprocess.Popen] = []

    def start(**settings: object) -> subprocess.Popen:
        process = start_worker(
            redis_server.url, LEASE_MS=str(TEST_LEASE_MS), **{k: str(v) for k, v in settings.items()}
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop(process, signal.SIGKILL)


@pytest.fixture
def make_fault_app(fault_settings: dict):
    """An app on the private Redis with extra settings: ``make_fault_app(STRIPE_SECRET=...)``."""
    return lambda **overrides: create_app({**fault_settings, **overrides})
