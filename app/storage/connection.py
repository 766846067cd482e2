"""Redis connections: one client for queues (REDIS_URL), one for the score store (STORE_URL).

Nothing connects at import time; the app factory builds the clients.

- ``redis://`` / ``rediss://`` / ``unix://``: one Redis. When the store URL points at a node of a
  Redis Cluster (``cluster_enabled:1``), a cluster client is used.
- ``redis+cluster://host:port/``: a Redis Cluster, said explicitly.
- ``redis+sentinel://host:port[,host:port...]/SERVICE[/DB]``: the master that Sentinel names,
  found again after a fail-over.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
from redis.sentinel import Sentinel

_COMMON = {"socket_connect_timeout": 2, "socket_timeout": 10, "health_check_interval": 30}


def _sentinel_master(url: str, decode: bool) -> redis.Redis:
    parts = urlsplit(url)
    hosts = []
    for item in parts.netloc.split("@")[-1].split(","):
        host, _, port = item.partition(":")
        hosts.append((host, int(port or 26379)))
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("redis+sentinel:// URLs name the service: redis+sentinel://host:26379/mymaster/0")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(hosts, socket_timeout=2, password=parts.password)
    return sentinel.master_for(service, db=db, decode_responses=decode, password=parts.password,
                               socket_connect_timeout=2, socket_timeout=10)


def _is_cluster_node(url: str) -> bool:
    """Whether a plain redis:// URL points at a Redis Cluster node (False if it cannot tell)."""
    try:
        probe = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        try:
            return str(probe.info("cluster").get("cluster_enabled", 0)) == "1"
        finally:
            probe.close()
    except redis.RedisError:
        return False


def connect(url: str) -> Any:
    """The score store's client (responses decoded to str)."""
    from redis.cluster import RedisCluster

    if url.startswith("redis+cluster://"):
        return RedisCluster.from_url("redis://" + url[len("redis+cluster://"):], decode_responses=True)
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url, decode=True)
    if _is_cluster_node(url):
        return RedisCluster.from_url(url, decode_responses=True)
    return redis.Redis.from_url(url, decode_responses=True, **_COMMON)


def queue_connection(url: str) -> redis.Redis:
    """RQ's client: it stores pickled job data, so responses are not decoded. Plain or Sentinel."""
    if url.startswith("redis+sentinel://"):
        return _sentinel_master(url, decode=False)
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=30)


def describe_url(url: str) -> str:
    """A Redis URL fit to show a person: the password left out (``redis://user@host:6379/0``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = f"{parts.username}@" if parts.username else ""
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}{host}").geturl()
