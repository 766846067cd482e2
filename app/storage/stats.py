"""The stats hash: counters that every process adds to and any web process renders
(field names are ``app.metrics``'s contract)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..keys import Keys
from .errors import gateway


@gateway
class StatsStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def add(self, counts: Mapping[str, int | float]) -> None:
        """Add to several counters in one round trip (floats with HINCRBYFLOAT)."""
        if not counts:
            return
        pipe = self.redis.pipeline(transaction=False)
        for field, amount in counts.items():
            if isinstance(amount, float):
                pipe.hincrbyfloat(self.keys.stats(), field, amount)
            else:
                pipe.hincrby(self.keys.stats(), field, amount)
        pipe.execute()

    def all(self) -> dict[str, str]:
        return self.redis.hgetall(self.keys.stats())
