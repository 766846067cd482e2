"""Webhook provider secrets of the workspace: set (write-only), see whether one is set, remove. Admin scope."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..auth import request_actor
from ..hooks.secrets import ALL_PROVIDERS, SECRET_MAX, remove_secret, set_secret, status, statuses
from ..scoring.interactions import format_timestamp
from ..services import get_services
from .common import v1_blueprint
from .schemas import Strict

bp = v1_blueprint("providers", __name__, "Webhook provider secrets of the workspace (admin; write-only)")


class SecretRequestSchema(Strict):
    secret = fields.String(required=True, validate=validate.Length(min=1, max=SECRET_MAX),
                           metadata={"description": "The provider's signing secret (as the provider names it); "
                                                    "never shown again, by any route"})


class ProviderSchema(ma.Schema):
    provider = fields.String(required=True, validate=validate.OneOf(sorted(ALL_PROVIDERS)))
    set = fields.Boolean(required=True, metadata={"description": "Whether deliveries can be verified"})
    source = fields.String(required=True, allow_none=True, validate=validate.OneOf(["stored", "environment"]),
                           metadata={"description": "`stored` (set here), `environment` (the server's setting, "
                                                    "workspace default only) or null (none: the endpoint is 404)"})
    webhook_path = fields.String(required=True, metadata={"description": "Where the provider posts in this "
                                                                         "workspace, after https://HOST"})
    environment_setting = fields.String(required=True, metadata={"description": "The environment variable that "
                                                                                "sets the default"})
    encrypted = fields.Boolean(required=True, metadata={"description": "The stored secret is encrypted at rest "
                                                                      "(SCOREKEEPER_SECRETS_KEY)"})
    updated_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    updated_by = fields.String(required=True, allow_none=True)


class ProviderListSchema(ma.Schema):
    items = fields.List(fields.Nested(ProviderSchema), required=True)


def render(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "updated_at": format_timestamp(doc["updated_at"]) if doc["updated_at"] else None}


@bp.route("/providers", methods=["GET"])
@bp.response(200, ProviderListSchema)
def list_providers():
    """Every webhook provider: whether a secret is set and where it comes from — never the secret."""
    return {"items": [render(doc) for doc in statuses(get_services())]}


@bp.route("/providers/<provider>", methods=["GET"])
@bp.response(200, ProviderSchema)
def get_provider(provider: str):
    """Whether the provider has a secret here and where it comes from — never the secret."""
    return render(status(get_services(), provider))


@bp.route("/providers/<provider>", methods=["PUT"])
@bp.arguments(SecretRequestSchema)
@bp.response(200, ProviderSchema)
def put_provider(body: dict, provider: str):
    """Set the workspace's secret for the provider (write-only: no route shows it again). Deliveries to
    ``/hooks/{provider}`` are verified with it from the next one on; recorded in the audit trail."""
    return render(set_secret(get_services(), provider, body["secret"], actor=request_actor()))


@bp.route("/providers/<provider>", methods=["DELETE"])
@bp.response(204)
def delete_provider(provider: str):
    """Remove the stored secret: the environment's applies again in workspace default, else the provider's
    endpoint is 404."""
    remove_secret(get_services(), provider, actor=request_actor())
