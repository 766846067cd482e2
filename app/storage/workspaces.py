"""The workspaces registry (instance-wide, under the plain prefix) and the removal of one workspace's keys.

A workspace's keys all start with its prefix (``{KEY_PREFIX}:w:{ID}:``, app/services.py), so removing it is
a SCAN by that prefix on every node (every master of a Redis Cluster: a SCAN sees one node's keys only) and
an UNLINK of each key found — one key per command, since a cluster node refuses a multi-key command across
slots.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash, dumps

#: Keys read per SCAN step and unlinked per round trip.
SCAN_COUNT = 500


@gateway
class WorkspaceStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self.docs = DocumentHash(redis, keys.workspaces())

    def all(self) -> list[dict[str, Any]]:
        return sorted(self.docs.all().values(), key=lambda doc: (doc["created_at"], doc["id"]))

    def get(self, workspace: str) -> dict[str, Any] | None:
        return self.docs.get(workspace)

    def exists(self, workspace: str) -> bool:
        """Whether a workspace exists and is not being deleted (``default`` always exists)."""
        doc = self.docs.get(workspace)
        return doc is not None and doc.get("status", "active") == "active"

    def put_new(self, doc: dict[str, Any]) -> bool:
        """Register a workspace; False if the id is taken (also while one of that id is being deleted)."""
        return bool(self.redis.hsetnx(self.keys.workspaces(), doc["id"], dumps(doc)))

    def put(self, doc: dict[str, Any]) -> None:
        self.docs.put(doc["id"], doc)

    def delete(self, workspace: str) -> bool:
        return self.docs.delete(workspace)

    def _nodes(self) -> list[Any]:
        """A client per node holding data: every master of a cluster, or the one Redis."""
        if hasattr(self.redis, "get_primaries"):
            return [self.redis.get_redis_connection(node) for node in self.redis.get_primaries()]
        return [self.redis]

    def scan_prefix(self, prefix: str) -> Iterator[list[str]]:
        """Every key starting with ``prefix + ':'``, node by node, in pages."""
        pattern = _glob_escape(prefix) + ":*"
        for node in self._nodes():
            page: list[str] = []
            for key in node.scan_iter(match=pattern, count=SCAN_COUNT):
                page.append(key.decode() if isinstance(key, bytes) else key)
                if len(page) >= SCAN_COUNT:
                    yield page
                    page = []
            if page:
                yield page

    def remove_prefix(self, prefix: str, progress: Callable[[int], None]) -> int:
        """Unlink every key starting with ``prefix + ':'``; ``progress(n)`` after each page. Returns how many."""
        removed = 0
        for page in self.scan_prefix(prefix):
            pipe = self.redis.pipeline(transaction=False)
            for key in page:
                pipe.unlink(key)
            removed += sum(int(n or 0) for n in pipe.execute())
            progress(removed)
        return removed

    def count_prefix(self, prefix: str) -> int:
        return sum(len(page) for page in self.scan_prefix(prefix))


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a SCAN MATCH pattern."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
