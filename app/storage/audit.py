"""The audit trail: a Redis stream, so entries are ordered by time, paged newest first by id, and
trimmed by age in one command (``XTRIM MINID``); ``append_audit.lua`` keeps ids in time order."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import dumps, load_script, loads

#: Entries read per round trip while filling a filtered page.
SCAN_CHUNK = 500
#: A bound whatever the retention setting (0 keeps entries by age for ever): the oldest go past this many
#: (trimmed approximately, which Redis does cheaply in whole stream nodes).
MAX_ENTRIES = 1_000_000


@gateway
class AuditStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.key = keys.audit()
        self._append = load_script(redis, "append_audit.lua")

    def append(self, at_ms: int, entry: dict[str, Any]) -> str:
        """Add one entry at ``at_ms``; returns its id (``<ms>-<n>``, unique and ordered by time)."""
        return self._append(keys=[self.key], args=[at_ms, dumps(entry), MAX_ENTRIES])

    def page(self, limit: int, before: str | None = None,
             keep: Callable[[dict[str, Any]], bool] = lambda entry: True) -> tuple[list[dict[str, Any]], str | None]:
        """Up to ``limit`` entries older than the id ``before`` (newest first) that ``keep`` accepts, and the
        cursor of the next page (None at the end). Reads in chunks until the page is full."""
        found: list[dict[str, Any]] = []
        if before is not None and all(part.strip("0") == "" for part in before.split("-")):
            return found, None  # nothing is older than 0-0 (and Redis refuses the exclusive range)
        upper = f"({before}" if before else "+"
        while True:
            chunk = self.redis.xrevrange(self.key, max=upper, min="-", count=SCAN_CHUNK)
            for entry_id, fields in chunk:
                entry = {**loads(fields["e"]), "id": entry_id}
                if keep(entry):
                    found.append(entry)
                    if len(found) == limit:
                        return found, entry_id
            if len(chunk) < SCAN_CHUNK:
                return found, None
            upper = f"({chunk[-1][0]}"

    def sweep(self, before_ms: int) -> int:
        """Delete entries older than ``before_ms``; returns how many went."""
        return int(self.redis.xtrim(self.key, minid=before_ms, approximate=False))
