"""Helpers shared by the /v1 views: the authenticated blueprint and contact rendering."""
from __future__ import annotations

from typing import Any

from ..contact_directory import render_contact  # noqa: F401  (the views render with it)
from ..errors import NotFound
from ..json_bodies import require_json_body
from ..services import Services
from . import Blueprint
from .access import require_scope


def v1_blueprint(name: str, import_name: str, description: str) -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix="/v1", description=description)
    bp.before_request(require_scope)  # the key, then its scope for the route (app/api/access.py)
    bp.before_request(require_json_body)  # after the key check: strangers learn nothing about bodies
    return bp


def load_contact(services: Services, contact_id: str) -> dict[str, Any]:
    contact = services.contacts.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"No contact {contact_id!r}.")
    return contact
