"""The backup specifications with the score store on a real 3-master Redis Cluster: each contact is read
slot by slot (no multi-slot transaction there) and the archive restores into a plain Redis."""
from __future__ import annotations

import pytest

from bench.cluster import Cluster

from .test_backup import *  # noqa: F401,F403  (collected again here, on the cluster)


@pytest.fixture(scope="module")
def cluster():
    running = Cluster().start()
    yield running
    running.stop()


@pytest.fixture
def store_url(cluster):
    cluster.flush()
    yield cluster.url
    cluster.flush()


def test_the_store_really_is_a_cluster(services):
    assert not services.snapshot.single_node and len(services.redis.get_primaries()) == 3
