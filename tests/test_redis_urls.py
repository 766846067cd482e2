"""Connection settings: queues and store behind Redis Sentinel, found again after a fail-over."""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import pytest
import redis

from app import create_app
from app.storage.connection import connect, queue_connection

from .helpers import API_KEY, publish_profile, score_of, send, settle, wait_for
from .redis_server import RedisServer, free_port


@pytest.fixture
def sentinel():
    """A private Redis master and one Sentinel watching it as ``mymaster``."""
    master = RedisServer(appendfsync="everysec").start()
    port = free_port()
    conf = Path(tempfile.mkdtemp(prefix="sk-sentinel-")) / "sentinel.conf"
    conf.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor mymaster 127.0.0.1 {master.port} 1\n")
    process = subprocess.Popen(["redis-server", str(conf), "--sentinel"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    probe = redis.Redis(port=port, decode_responses=True)
    wait_for(lambda: _answers(probe), timeout=15)
    yield f"redis+sentinel://127.0.0.1:{port}/mymaster/3", master
    process.terminate()
    process.wait(timeout=10)
    master.close()


def _answers(client) -> bool:
    try:
        return client.sentinel_get_master_addr_by_name("mymaster") is not None
    except redis.RedisError:
        return False


def test_a_sentinel_url_reaches_the_named_master(sentinel):
    url, master = sentinel
    store = connect(url)
    store.set("probe", "1")
    assert redis.Redis(port=master.port, db=3).get("probe") == b"1"
    assert queue_connection(url).get("probe") == b"1"


def test_scoring_runs_with_queues_and_store_behind_sentinel(sentinel):
    url, _master = sentinel
    app = create_app({"TESTING": True, "REDIS_URL": url, "API_KEYS": API_KEY, "WORKFLOWS_DIR": ""})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", [{"id": "o", "on": "email.opened", "points": 2}])
        send(client, {"id": "1", "type": "email.opened", "contact": {"email": "s@x.io"}})
        settle(services)
        assert score_of(client, "s@x.io", "eng") == 2


def test_a_bad_sentinel_url_says_what_is_missing():
    with pytest.raises(ValueError, match="name the service"):
        connect("redis+sentinel://127.0.0.1:26379")
