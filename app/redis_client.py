"""Redis connections: one client for queues (REDIS_URL), one for the score store.

Nothing connects at import time; the app factory calls ``init_app``.
"""
from __future__ import annotations

from typing import Any

import redis


def connect(url: str) -> Any:
    """A client for ``url``; ``redis+cluster://`` (or ``?cluster=1``) gives a cluster client."""
    if url.startswith("redis+cluster://"):
        from redis.cluster import RedisCluster

        return RedisCluster.from_url("redis://" + url[len("redis+cluster://"):], decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, health_check_interval=30,
                                socket_connect_timeout=2, socket_timeout=10)


def queue_connection(url: str) -> redis.Redis:
    """RQ stores pickled job data: it needs a client without response decoding."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=30)
