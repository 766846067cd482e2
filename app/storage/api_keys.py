"""Stored API keys: one JSON document per key (never the key itself, only its SHA-256) and the
time each was last used, kept apart so that marking a key used never rewrites its document."""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash


@gateway
class ApiKeyStore:
    def __init__(self, redis: Any, keys: Keys, used_every_ms: int = 60_000):
        self.redis = redis
        self.keys = keys
        self.docs = DocumentHash(redis, keys.api_keys())
        #: This process's last write of each key's last-used time: a busy key costs one write a minute,
        #: not one per request (the time shown is at most that much behind).
        self.used_every_ms = used_every_ms
        self._marked: dict[str, int] = {}

    def all(self) -> list[dict[str, Any]]:
        """Every key's document with ``last_used_at`` (ms or None), oldest first."""
        docs = self.docs.all()
        used = self.redis.hgetall(self.keys.api_keys_used())
        out = []
        for key_id, doc in docs.items():
            raw = used.get(key_id)
            out.append({**doc, "last_used_at": int(raw) if raw else None})
        return sorted(out, key=lambda doc: (doc["created_at"], doc["id"]))

    def get(self, key_id: str) -> dict[str, Any] | None:
        """One key's document (read on every request made with it: no cache, so a revoke is seen at once)."""
        return self.docs.get(key_id)

    def put(self, doc: dict[str, Any]) -> None:
        self.docs.put(doc["id"], doc)

    def delete(self, key_id: str) -> bool:
        """Revoke: the document and its last-used time go in one transaction; True if the key existed."""
        pipe = self.redis.pipeline(transaction=True)
        self.docs.delete(key_id, pipe)
        pipe.hdel(self.keys.api_keys_used(), key_id)
        existed, _ = pipe.execute()
        return bool(existed)

    def mark_used(self, key_id: str, at_ms: int) -> bool:
        """Record a use, unless this process did within ``used_every_ms``; True if it wrote.

        Written only while the key's document exists, so a revoked key leaves no time behind (a revoke
        landing between the check and the write leaves one orphan field, which ``all`` never shows)."""
        if at_ms - self._marked.get(key_id, -self.used_every_ms) < self.used_every_ms:
            return False
        self._marked[key_id] = at_ms
        if self.redis.hexists(self.keys.api_keys(), key_id):
            self.redis.hset(self.keys.api_keys_used(), key_id, at_ms)
        return True
