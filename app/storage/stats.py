"""The stats hash: counters that every process adds to and any web process renders
(field names are ``app.metrics``'s contract)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..keys import Keys
from .errors import gateway


#: Admits labels into a capped set: a label already in it, or any while it has room (atomic, so concurrent
#: processes never push the set past the cap). KEYS[1] the set; ARGV[1] the cap, then the labels.
#: Returns 1 (admitted) or 0 per label.
_ADMIT = """
local out = {}
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
    out[#out + 1] = 1
  elseif redis.call('SCARD', KEYS[1]) < tonumber(ARGV[1]) then
    redis.call('SADD', KEYS[1], ARGV[i])
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"""


@gateway
class StatsStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self._admit = redis.register_script(_ADMIT)
        #: Custom types this process already saw admitted: no round trip for them again.
        self._admitted: set[str] = set()

    def admit_custom_types(self, labels: Iterable[str], cap: int) -> set[str]:
        """Which of these ``custom.*`` type labels may be counted under their own name (at most ``cap``
        distinct ones ever, first come first served); the others are to be counted together."""
        wanted = sorted(set(labels) - self._admitted)
        if wanted:
            flags = self._admit(keys=[self.keys.stats_custom_types()], args=[cap, *wanted])
            self._admitted.update(label for label, ok in zip(wanted, flags, strict=True) if ok)
        return {label for label in labels if label in self._admitted}

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
