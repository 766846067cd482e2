"""Smart lists: saved contact filters, one JSON document per list in one hash."""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash


@gateway
class SmartListStore:
    def __init__(self, redis: Any, keys: Keys):
        self.docs = DocumentHash(redis, keys.smart_lists())

    def all(self) -> list[dict[str, Any]]:
        return list(self.docs.all().values())

    def get(self, list_id: str) -> dict[str, Any] | None:
        return self.docs.get(list_id)

    def put(self, doc: dict[str, Any]) -> None:
        self.docs.put(doc["id"], doc)

    def delete(self, list_id: str) -> bool:
        return self.docs.delete(list_id)
