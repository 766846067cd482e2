"""/v1 routes of workflows: configs, runs, webhook deliveries and the in-app inbox.

Views only wire: parse arguments, call the store or the domain, render. Errors are raised
as ``app.errors`` exceptions and rendered centrally.
"""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import ValidationError as SchemaError

from ..api.common import v1_blueprint
from ..api.schemas import CursorPageSchema, ItemsSchema
from ..errors import Conflict, NotFound, ValidationError
from ..services import get_services
from ..storage.automation import refuse_if_file_managed
from .config import load_workflow
from .deliveries import IN_FLIGHT, public_delivery, redeliver
from .runner import public_run

bp = v1_blueprint("workflows", __name__, "Workflows, their runs, webhook deliveries and the inbox")

#: Items per page of the list endpoints, by default and at most.
DEFAULT_PAGE, MAX_PAGE = 50, 500


def page_args() -> tuple[int, int]:
    """``limit`` and ``cursor`` (an offset) from the query string."""
    problems = {}
    values = {}
    for name, default, low, high in (("limit", DEFAULT_PAGE, 1, MAX_PAGE), ("cursor", 0, 0, None)):
        raw = request.args.get(name)
        try:
            value = default if raw in (None, "") else int(raw)
        except ValueError:
            problems[name] = "must be an integer"
            continue
        if value < low or (high is not None and value > high):
            problems[name] = f"must be between {low} and {high}" if high else f"must be at least {low}"
        values[name] = value
    if problems:
        raise ValidationError("Invalid paging arguments.", problems)
    return values["limit"], values["cursor"]


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


@bp.get("/workflows/<workflow_id>")
def get_workflow(workflow_id: str):
    return render_workflow(get_services().automation.require_workflow(workflow_id))


@bp.put("/workflows/<workflow_id>")
def put_workflow(workflow_id: str):
    body = request.get_json(silent=True)
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
    doc = store.put_workflow(dict(workflow.config), "api")
    return render_workflow(doc), 200 if existing is not None else 201


@bp.delete("/workflows/<workflow_id>")
def delete_workflow(workflow_id: str):
    if not get_services().automation.delete_workflow(workflow_id):
        raise NotFound(f"No workflow {workflow_id!r}.")
    return "", 204


@bp.get("/workflows/<workflow_id>/runs")
def list_runs(workflow_id: str):
    limit, cursor = page_args()
    services = get_services()
    store = services.automation
    runs = store.workflow_runs(workflow_id, cursor, limit + 1)
    if not runs and cursor == 0 and store.workflow_doc(workflow_id) is None:
        raise NotFound(f"No workflow {workflow_id!r}.")
    return _page([public_run(services, r) for r in runs], limit, cursor)


@bp.get("/runs/<run_id>")
def get_run(run_id: str):
    services = get_services()
    return public_run(services, services.automation.require_run(run_id))


@bp.get("/deliveries")
@bp.alt_response(200, schema=CursorPageSchema, description="Webhook deliveries, newest first")
def list_deliveries():
    limit, cursor = page_args()
    status = request.args.get("status") or None
    if status not in (None, "dead"):
        raise ValidationError("Invalid status filter.", {"status": ["only 'dead' (the dead letters) is supported"]})
    store = get_services().automation
    ids = store.delivery_ids(cursor, limit + 1, dead_only=status == "dead")
    return _page([public_delivery(d) for d in store.get_deliveries(ids)], limit, cursor)


def _delivery(delivery_id: str) -> dict[str, Any]:
    return get_services().automation.require_delivery(delivery_id)


@bp.get("/deliveries/<delivery_id>")
def get_delivery(delivery_id: str):
    return public_delivery(_delivery(delivery_id))


@bp.post("/deliveries/<delivery_id>/redeliver")
def redeliver_delivery(delivery_id: str):
    delivery = _delivery(delivery_id)
    if delivery["status"] in IN_FLIGHT:
        raise Conflict("The delivery is still being attempted; redeliver it once it succeeded or failed.")
    return public_delivery(redeliver(get_services(), delivery)), 202


@bp.get("/notifications")
@bp.alt_response(200, schema=CursorPageSchema, description="In-app notifications, newest first")
def list_notifications():
    limit, cursor = page_args()
    items = get_services().automation.notifications(cursor, limit + 1)
    return _page(items, limit, cursor)
