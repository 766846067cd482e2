"""/v1 routes of workflows: configs, runs, webhook deliveries and the in-app inbox.

Views only wire: parse arguments, call the store or the domain, render. Errors are raised
as ``app.errors`` exceptions and rendered centrally.
"""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import EXCLUDE, INCLUDE, Schema, fields, validate
from marshmallow import ValidationError as SchemaError

from ..api.common import v1_blueprint
from ..auth import request_actor
from ..api.schemas import MAX_CURSOR, CursorPageSchema, ItemsSchema
from ..errors import Conflict, NotFound, ValidationError
from ..services import get_services
from ..edge_fields import regexp
from ..storage.automation import refuse_if_file_managed
from .config import ID_PATTERN, WorkflowSchema, load_workflow
from .deliveries import IN_FLIGHT, public_delivery, redeliver
from .runner import public_run
from .workflows import remove_workflow, save_workflow

bp = v1_blueprint("workflows", __name__, "Workflows, their runs, webhook deliveries and the inbox")

#: Items per page of the list endpoints, by default and at most.
DEFAULT_PAGE, MAX_PAGE = 50, 500


class PageArgsSchema(Schema):
    """``limit`` and ``cursor`` (an offset, passed back from ``next_cursor``) of the list endpoints."""

    class Meta:
        unknown = EXCLUDE

    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))


class DeliveryArgsSchema(PageArgsSchema):
    status = fields.String(validate=validate.OneOf(["dead"]),
                           metadata={"description": "'dead': only the dead letters"})


class WorkflowOutSchema(Schema):
    """A workflow as stored: its document plus where it came from and when it changed."""

    class Meta:
        unknown = INCLUDE  # documents the fields clients rely on; others may be added

    id = fields.String()
    name = fields.String()
    description = fields.String()
    enabled = fields.Boolean()
    trigger = fields.Dict()
    steps = fields.List(fields.Dict())
    source = fields.String(metadata={"description": "'api', or 'file:NAME.json' for a file-managed workflow"})
    updated_at = fields.Integer(metadata={"description": "epoch milliseconds"})
    managed_by = fields.String(metadata={"description": "'file' when the workflow is loaded from workflows/"})
    file = fields.String(metadata={"description": "the file of a file-managed workflow"})


class RunOutSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String()
    workflow = fields.Dict()
    contact_id = fields.String()
    status = fields.String(metadata={"description": "queued, running, waiting, retrying, delivering, succeeded "
                                                    "or failed (see docs/workflows.md)"})
    error = fields.String(allow_none=True)
    steps = fields.List(fields.Dict())


class DeliveryOutSchema(Schema):
    class Meta:
        unknown = INCLUDE

    id = fields.String()
    run_id = fields.String()
    workflow_id = fields.String()
    url = fields.String()
    status = fields.String(metadata={"description": "pending, retrying, succeeded or dead"})
    error = fields.String(allow_none=True)
    attempts = fields.List(fields.Dict())
    attempt_count = fields.Integer()
    payload = fields.Dict()


class WorkflowBodySchema(WorkflowSchema):
    """Documents the body of PUT /v1/workflows/{id}: a workflow document whose id is the URL's."""

    id = fields.String(validate=regexp(ID_PATTERN), metadata={
        "readOnly": True, "description": "taken from the URL; when sent, it must equal the URL's id"})


def render_workflow(doc: dict[str, Any]) -> dict[str, Any]:
    """The config plus who manages it: ``managed_by`` "file" (with ``file``; read-only here), "api" or
    "dashboard"."""
    origin = {key: doc[key] for key in ("source", "managed_by", "file") if key in doc}
    return {**doc["config"], **origin, "updated_at": doc["updated_at"]}


def _page(items: list[Any], limit: int, cursor: int) -> dict[str, Any]:
    return {"items": items[:limit], "next_cursor": cursor + limit if len(items) > limit else None}


@bp.get("/workflows")
@bp.alt_response(200, schema=ItemsSchema, description="Every workflow")
def list_workflows():
    docs = get_services().automation.workflow_docs()
    return {"items": [render_workflow(doc) for _id, doc in sorted(docs.items())]}


@bp.get("/workflows/<slug:workflow_id>")
@bp.alt_response(200, schema=WorkflowOutSchema, description="The workflow")
def get_workflow(workflow_id: str):
    return render_workflow(get_services().automation.require_workflow(workflow_id))


@bp.put("/workflows/<slug:workflow_id>")
@bp.doc(requestBody={"required": True, "content": {"application/json": {"schema": WorkflowBodySchema}}})
@bp.alt_response(200, schema=WorkflowOutSchema, description="The workflow, replaced")
@bp.alt_response(201, schema=WorkflowOutSchema, description="The workflow, created")
def put_workflow(workflow_id: str):
    """Create or replace a workflow (201 when created); 400 names each bad field."""
    body = request.get_json()
    if not isinstance(body, dict):
        raise ValidationError("Send the workflow as a JSON object.", {"_schema": ["expected a JSON object"]})
    store = get_services().automation
    existing = store.workflow_doc(workflow_id)
    refuse_if_file_managed(existing)  # 409 before anything else: the file is where this workflow is edited
    body.setdefault("id", workflow_id)
    if body["id"] != workflow_id:
        raise ValidationError("The workflow id differs from the URL.", {"id": [f"must be {workflow_id!r}"]})
    try:
        workflow = load_workflow(body)
    except SchemaError as error:
        raise ValidationError("The workflow is invalid; see errors.", error.messages) from error
    doc = save_workflow(get_services(), dict(workflow.config), "api", request_actor())
    return render_workflow(doc), 200 if existing is not None else 201


@bp.delete("/workflows/<slug:workflow_id>")
@bp.alt_response(204, description="Deleted")
def delete_workflow(workflow_id: str):
    if not remove_workflow(get_services(), workflow_id, request_actor()):
        raise NotFound(f"No workflow {workflow_id!r}.")
    return "", 204


@bp.get("/workflows/<slug:workflow_id>/runs")
@bp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=CursorPageSchema, description="Runs of the workflow, newest first")
def list_runs(workflow_id: str, limit: int, cursor: int):
    services = get_services()
    store = services.automation
    runs = store.workflow_runs(workflow_id, cursor, limit + 1)
    if not runs and cursor == 0 and store.workflow_doc(workflow_id) is None:
        raise NotFound(f"No workflow {workflow_id!r}.")
    return _page([public_run(services, r) for r in runs], limit, cursor)


@bp.get("/runs/<run_id>")
@bp.alt_response(200, schema=RunOutSchema, description="The run, each step's status and its delivery's outcome")
def get_run(run_id: str):
    services = get_services()
    return public_run(services, services.automation.require_run(run_id))


@bp.get("/deliveries")
@bp.arguments(DeliveryArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=CursorPageSchema, description="Webhook deliveries, newest first")
def list_deliveries(limit: int, cursor: int, status: str | None = None):
    store = get_services().automation
    ids = store.delivery_ids(cursor, limit + 1, dead_only=status == "dead")
    return _page([public_delivery(d) for d in store.get_deliveries(ids)], limit, cursor)


def _delivery(delivery_id: str) -> dict[str, Any]:
    return get_services().automation.require_delivery(delivery_id)


@bp.get("/deliveries/<delivery_id>")
@bp.alt_response(200, schema=DeliveryOutSchema, description="The delivery and its attempts")
def get_delivery(delivery_id: str):
    return public_delivery(_delivery(delivery_id))


@bp.post("/deliveries/<delivery_id>/redeliver")
@bp.alt_response(202, schema=DeliveryOutSchema, description="A new round of attempts has started")
def redeliver_delivery(delivery_id: str):
    delivery = _delivery(delivery_id)
    if delivery["status"] in IN_FLIGHT:
        raise Conflict("The delivery is still being attempted; redeliver it once it succeeded or failed.")
    return public_delivery(redeliver(get_services(), delivery)), 202


@bp.get("/notifications")
@bp.arguments(PageArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=CursorPageSchema, description="In-app notifications, newest first")
def list_notifications(limit: int, cursor: int):
    items = get_services().automation.notifications(cursor, limit + 1)
    return _page(items, limit, cursor)
