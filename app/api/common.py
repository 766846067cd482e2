"""Helpers shared by the /v1 views: the authenticated blueprint and contact rendering."""
from __future__ import annotations

from typing import Any

from ..auth import require_api_key
from ..errors import NotFound
from ..profile_store import ProfileStore
from ..services import Services
from . import Blueprint


def v1_blueprint(name: str, import_name: str, description: str) -> Blueprint:
    bp = Blueprint(name, import_name, url_prefix="/v1", description=description)
    bp.before_request(require_api_key)
    return bp


def render_contact(services: Services, contact: dict[str, Any], live: dict | None = None) -> dict[str, Any]:
    """The public form of a contact: live scores with their band, per profile.

    Pass ``live`` (``ProfileStore.live()``) when rendering many contacts, to read it once."""
    if live is None:
        live = ProfileStore(services.redis, services.keys).live()
    scores = {}
    for pid, version in live.items():
        state = contact["states"].get(version.field)
        if state is not None:
            scores[pid] = {"score": state["s"], "band": version.profile.band_for(state["s"])}
    return {"id": contact["id"], "email": contact["email"], "external_id": contact["external_id"],
            "tags": contact["tags"], "dnd": contact["dnd"], "scores": scores}


def load_contact(services: Services, contact_id: str) -> dict[str, Any]:
    contact = services.store.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"No contact {contact_id!r}.")
    return contact
