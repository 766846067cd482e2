"""The archive backlog: what was scored while the archive was unavailable, kept in Redis until it returns.

One list per ingest partition, so the holder of the partition's lease is its only reader: it reads the
oldest items, appends them to the archive, and only then trims them (``trim``) — a worker that dies in
between leaves them to be appended again, which the archive ignores (idempotent by key). Anyone may push
(a manual score change pushes to its contact's partition): pushes go to the tail, trims take the head.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import dumps, loads


@gateway
class ArchiveBacklog:
    def __init__(self, redis: Any, keys: Keys, partitions: int):
        self.redis = redis
        self.keys = keys
        self.partitions = partitions

    def push(self, partition: int, items: Iterable[Any]) -> int:
        """Add JSON-able items at the tail; returns the backlog's new length."""
        encoded = [dumps(item) for item in items]
        if not encoded:
            return int(self.redis.llen(self.keys.archive_backlog(partition)))
        return int(self.redis.rpush(self.keys.archive_backlog(partition), *encoded))

    def oldest(self, partition: int, count: int) -> list[Any]:
        """Up to ``count`` items from the head, decoded, without removing them."""
        return [loads(item) for item in self.redis.lrange(self.keys.archive_backlog(partition), 0, count - 1)]

    def trim(self, partition: int, count: int) -> None:
        """Drop the ``count`` oldest items (those just archived)."""
        self.redis.ltrim(self.keys.archive_backlog(partition), count, -1)

    def depths(self) -> list[int]:
        pipe = self.redis.pipeline(transaction=False)
        for n in range(self.partitions):
            pipe.llen(self.keys.archive_backlog(n))
        return [int(depth) for depth in pipe.execute()]
