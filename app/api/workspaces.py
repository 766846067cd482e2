"""Workspaces: make one, list them, read one, delete one (a background job). Instance admins only."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..auth import request_actor
from ..scoring.interactions import format_timestamp
from ..services import DEFAULT_WORKSPACE, tenancy
from ..workspaces import NAME_MAX, WORKSPACE_ID, create_workspace, get_workspace, list_workspaces, start_delete
from .common import v1_blueprint
from .schemas import JobEnvelope, Strict

bp = v1_blueprint("workspaces", __name__, "Workspaces (instance admins)")


class WorkspaceRequestSchema(Strict):
    id = fields.String(required=True, validate=validate.Regexp(WORKSPACE_ID.pattern),
                       metadata={"description": "1-40 of a-z, 0-9 and -; the URL segment of its webhooks "
                                                "(/w/{id}/hooks/...)"})
    name = fields.String(required=True, validate=validate.Length(min=1, max=NAME_MAX))


class WorkspaceSchema(ma.Schema):
    id = fields.String(required=True)
    name = fields.String(required=True)
    status = fields.String(required=True, metadata={"description": "active, or deleting"})
    created_at = fields.String(required=True, allow_none=True, metadata={"format": "date-time"})
    created_by = fields.String(required=True, allow_none=True)
    job = fields.String(allow_none=True, metadata={"description": "The deletion job (GET /v1/jobs/{id})"})


class WorkspaceListSchema(ma.Schema):
    items = fields.List(fields.Nested(WorkspaceSchema), required=True)


def render(doc: dict[str, Any]) -> dict[str, Any]:
    at = doc.get("created_at")
    return {**doc, "created_at": format_timestamp(at) if at else None}


def _default():
    """The registry and deletion jobs live in the default workspace, whatever the request's header says."""
    return tenancy().get(DEFAULT_WORKSPACE)


@bp.route("/workspaces", methods=["POST"])
@bp.arguments(WorkspaceRequestSchema)
@bp.response(201, WorkspaceSchema)
def create(body: dict):
    """Make an empty workspace. Give it keys with `POST /v1/keys {"workspace": id}` (as an instance admin)."""
    return render(create_workspace(_default(), body["id"], body["name"], actor=request_actor()))


@bp.route("/workspaces", methods=["GET"])
@bp.response(200, WorkspaceListSchema)
def list_all():
    """Every workspace, `default` first; one being deleted says `deleting` and names its job."""
    return {"items": [render(doc) for doc in list_workspaces(_default())]}


@bp.route("/workspaces/<workspace>", methods=["GET"])
@bp.response(200, WorkspaceSchema)
def get_one(workspace: str):
    return render(get_workspace(_default(), workspace))


@bp.route("/workspaces/<workspace>", methods=["DELETE"])
@bp.response(202, JobEnvelope)
def delete(workspace: str):
    """Delete a workspace and everything in it: it stops answering at once; its data is removed by a
    background job whose progress is at `GET /v1/jobs/{id}` (in `default`). `default` cannot be deleted."""
    return {"job": start_delete(_default(), workspace, actor=request_actor())}
