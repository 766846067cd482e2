"""API keys: make one with scopes (shown once), list them without secrets, revoke one. Admin scope."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..access import create_key, list_keys, revoke_key
from ..auth import SCOPES, current_principal, request_actor
from ..errors import Forbidden
from ..scoring.interactions import format_timestamp
from ..services import get_services, tenancy
from ..workspaces import require as require_workspace
from .common import v1_blueprint
from .schemas import Strict

bp = v1_blueprint("keys", __name__, "API keys with scopes (admin)")


class KeyRequestSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100),
                         metadata={"description": "What the key is for (shown in the audit trail)"})
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True,
                         validate=validate.Length(min=1, max=len(SCOPES)),
                         metadata={"description": "ingest: POST /v1/interactions only; read: every GET; "
                                                  "write: all but administration (implies read and ingest); "
                                                  "admin: everything, keys included"})
    workspace = fields.String(validate=validate.Length(min=1, max=40),
                              metadata={"description": "The workspace the key acts in (only there): the "
                                                       "request's own by default; another only for an "
                                                       "instance admin"})


class KeySchema(ma.Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    scopes = fields.List(fields.String(validate=validate.OneOf(SCOPES)), required=True)
    workspace = fields.String(required=True)
    created_at = fields.String(required=True, metadata={"format": "date-time"})
    created_by = fields.String(required=True)
    last_used_at = fields.String(required=True, allow_none=True,
                                 metadata={"format": "date-time",
                                           "description": "Up to a minute behind; null if never used"})


class NewKeySchema(KeySchema):
    key = fields.String(required=True, metadata={"description": "The key itself: shown this once, stored hashed"})


class KeyListSchema(ma.Schema):
    items = fields.List(fields.Nested(KeySchema), required=True)


def render(doc: dict[str, Any]) -> dict[str, Any]:
    last_used = doc.get("last_used_at")
    return {**doc, "created_at": format_timestamp(doc["created_at"]),
            "last_used_at": format_timestamp(last_used) if last_used else None}


@bp.route("/keys", methods=["POST"])
@bp.arguments(KeyRequestSchema)
@bp.response(201, NewKeySchema)
def create(body: dict):
    """Make a key with the given scopes. The response holds the key itself — the only time it is shown."""
    services = get_services()
    workspace = body.get("workspace") or services.workspace
    if workspace != services.workspace:
        if not current_principal().instance_admin:
            raise Forbidden("A key may make keys of its own workspace only.", {"workspace": ["not yours"]})
        services = tenancy().get(require_workspace(services, workspace))
    return render(create_key(services, body["name"], body["scopes"], actor=request_actor()))


@bp.route("/keys", methods=["GET"])
@bp.response(200, KeyListSchema)
def list_all():
    """Every stored key of the request's workspace, oldest first, with when it was last used (never the key or
    its hash). The keys of ``SCOREKEEPER_API_KEYS`` are not listed: they live in the environment."""
    return {"items": [render(doc) for doc in list_keys(get_services())]}


@bp.route("/keys/<key_id>", methods=["DELETE"])
@bp.response(204)
def revoke(key_id: str):
    """Revoke a key: every process refuses it (401) from the next request on."""
    revoke_key(get_services(), key_id, actor=request_actor())
    return None
