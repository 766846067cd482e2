"""Smart lists: saved contact filters, stored as one hash of documents."""
from __future__ import annotations

import uuid
from typing import Any

from .errors import NotFound
from .queries import ContactFilter
from .services import Services

FILTER_FIELDS = ("profile", "op", "value", "tag", "without_tag")


def filter_of(doc: dict[str, Any]) -> ContactFilter:
    return ContactFilter(**{k: doc.get(k) for k in FILTER_FIELDS})


def all_lists(services: Services) -> list[dict[str, Any]]:
    docs = services.smart_lists.all()
    return sorted(docs, key=lambda d: (d["name"].lower(), d["id"]))


def get_list(services: Services, list_id: str) -> dict[str, Any]:
    doc = services.smart_lists.get(list_id)
    if doc is None:
        raise NotFound(f"No smart list {list_id!r}.")
    return doc


def save_list(services: Services, data: dict[str, Any], list_id: str | None = None) -> dict[str, Any]:
    """Create (no id) or replace a list from validated data; the filter itself is checked too."""
    doc = {"id": list_id or uuid.uuid4().hex[:12], **data}
    filter_of(doc).validate()
    services.smart_lists.put(doc)
    return doc


def delete_list(services: Services, list_id: str) -> None:
    if not services.smart_lists.delete(list_id):
        raise NotFound(f"No smart list {list_id!r}.")
