"""Fixtures: an app on a dedicated Redis database, flushed around every test."""
from __future__ import annotations

import os

from pathlib import Path

import pytest
import redis
from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

from app import create_app

from .helpers import API_KEY, AUTH

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


@pytest.fixture
def store_url():
    """The score store: empty means the test Redis itself; tests/test_on_cluster.py gives a Redis Cluster."""
    return ""


@pytest.fixture
def make_app(store_url):
    """Build an app with extra settings: ``make_app(SENDGRID_PUBLIC_KEY=...)``."""

    def build(**overrides):
        # No workflow files unless a test asks: tests see only what they set up.
        config = {"TESTING": True, "REDIS_URL": TEST_REDIS_URL, "STORE_URL": store_url, "API_KEYS": API_KEY,
                  "PARTITIONS": 4, "WORKFLOWS_DIR": ""}
        config.update(overrides)
        return create_app(config)

    _flush()
    yield build
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
