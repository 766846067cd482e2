"""The dashboard's entry points into the core: the same functions the /v1 views call,
so both leave the same data behind."""
from __future__ import annotations

from typing import Any

from marshmallow import ValidationError as SchemaError

from ..contact_filter_schema import SmartListSchema
from ..contact_directory import set_attributes, set_dnd  # noqa: F401  (re-exported for the views)
from ..errors import ValidationError
from ..publish import publish_draft, unpublish  # noqa: F401
from ..contact_filter import ContactFilter
from ..services import Services
from ..smart_lists import all_lists as smart_lists  # noqa: F401
from ..smart_lists import delete_list as delete_smart_list  # noqa: F401
from ..smart_lists import get_list as get_smart_list  # noqa: F401
from ..smart_lists import save_list
from ..storage.profiles import ProfileStore


def workflow_docs(services: Services) -> dict[str, dict[str, Any]]:
    return services.automation.workflow_docs()


def profile_store(services: Services) -> ProfileStore:
    return services.profiles


def load_profile(services: Services, profile_id: str) -> dict[str, Any]:
    return profile_store(services).require(profile_id)


def save_smart_list(services: Services, name: str, flt: ContactFilter, list_id: str | None = None) -> dict[str, Any]:
    """What ``POST /v1/smart-lists`` (or ``PUT`` with an id) does: the same schema, the same document."""
    try:
        data = SmartListSchema().load({"name": name, "filter": flt.to_document()})
    except SchemaError as exc:
        raise ValidationError("The smart list is invalid.", exc.messages) from exc
    return save_list(services, data["name"], data["filter"], list_id)
