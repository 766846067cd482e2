"""Where each live process of the deployment says who it is: one key per process that lapses unless renewed.

A process (a web worker, an RQ worker, a CLI command that moves data) writes its announcement under
``Keys.process`` with an expiry, and its id into the set ``Keys.processes``; it renews both every third of the
expiry and removes them when it stops cleanly. One killed outright (SIGKILL, a lost host) is gone once its key
lapses: Redis's clock decides, so the hosts' clocks need not agree. The set only lists where to look: an id whose
key lapsed is dropped by the next read. Both keys share a hash tag, so a cluster reads them in one slot.
"""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import load_script


@gateway
class ProcessRegistry:
    """The announcements of the deployment's live processes (instance-wide, under the plain prefix)."""

    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def announce(self, process_id: str, record: str, ttl_ms: int) -> None:
        """Say (again) that this process lives, for ``ttl_ms`` from now: one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.process(process_id), record, px=max(int(ttl_ms), 1))
        pipe.sadd(self.keys.processes(), process_id)
        pipe.execute()

    def withdraw(self, process_id: str) -> None:
        """This process stops: its announcement goes at once, not when it would have lapsed."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.delete(self.keys.process(process_id))
        pipe.srem(self.keys.processes(), process_id)
        pipe.execute()

    def forget_lapsed(self, process_ids: list[str]) -> int:
        """Drop from the set these ids whose announcement has lapsed, each only if its key is still gone (atomic:
        ``forget_lapsed.lua``); returns how many went."""
        keys = [self.keys.processes(), *(self.keys.process(process_id) for process_id in process_ids)]
        return int(load_script(self.redis, "forget_lapsed.lua")(keys=keys, args=process_ids))

    def live(self) -> dict[str, str]:
        """Every live process's id -> its announcement as written; ids whose key lapsed are dropped from the set."""
        ids = sorted(self.redis.smembers(self.keys.processes()))
        if not ids:
            return {}
        records = self.redis.mget([self.keys.process(process_id) for process_id in ids])
        gone = [process_id for process_id, record in zip(ids, records) if record is None]
        if gone:  # (only those still gone: one renewed since the read stays listed)
            self.forget_lapsed(gone)
        return {process_id: record for process_id, record in zip(ids, records) if record is not None}
