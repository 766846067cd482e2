"""Smart lists: saved contact filters (named filter documents), stored as one hash of documents."""
from __future__ import annotations

import uuid
from typing import Any

from marshmallow import ValidationError as SchemaError

from .contact_filter_schema import load_filter
from .contact_filter import ContactFilter, from_legacy
from .errors import NotFound, ValidationError
from .services import Services

#: The single-condition fields lists were saved with before filter documents.
LEGACY_FIELDS = ("profile", "op", "value", "tag", "without_tag")


def filter_of(doc: dict[str, Any]) -> ContactFilter:
    """The filter of a stored list; lists saved with single-condition fields read as before."""
    if "filter" in doc:
        try:
            return load_filter(doc["filter"])
        except SchemaError as exc:
            raise ValidationError("The smart list's stored filter is invalid.", exc.messages) from exc
    return from_legacy({k: doc.get(k) for k in LEGACY_FIELDS})


def public_list(doc: dict[str, Any]) -> dict[str, Any]:
    """A list as the API shows it: id, name and the filter document."""
    return {"id": doc["id"], "name": doc["name"], "filter": filter_of(doc).to_document()}


def all_lists(services: Services) -> list[dict[str, Any]]:
    docs = services.smart_lists.all()
    return sorted((public_list(d) for d in docs), key=lambda d: (d["name"].lower(), d["id"]))


def get_list(services: Services, list_id: str) -> dict[str, Any]:
    doc = services.smart_lists.get(list_id)
    if doc is None:
        raise NotFound(f"No smart list {list_id!r}.")
    return public_list(doc)


def save_list(services: Services, name: str, flt: ContactFilter, list_id: str | None = None) -> dict[str, Any]:
    """Create (no id) or replace a list with a validated filter."""
    doc = {"id": list_id or uuid.uuid4().hex[:12], "name": name, "filter": flt.to_document()}
    services.smart_lists.put(doc)
    return doc


def delete_list(services: Services, list_id: str) -> None:
    if not services.smart_lists.delete(list_id):
        raise NotFound(f"No smart list {list_id!r}.")
