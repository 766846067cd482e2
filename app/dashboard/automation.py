"""Workflows, their runs, webhook deliveries (with dead letters and redelivery) and the inbox."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..automation.config import validate_document
from ..automation.delivery import IN_FLIGHT, public_delivery, redeliver
from ..automation.runner import public_run
from ..services import get_services
from .blueprint import bp
from .contacts import OP_LABELS
from .defaults import PAGE_SIZE
from .forms import parse_offset

#: Symbols of the score operators in trigger summaries.
OP_SYMBOLS = {"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}


def trigger_summary(config: dict[str, Any]) -> str:
    """A trigger in words: ``engagement score ≥ 50 (on enter, once per contact; none of: customer)``."""
    trigger = config.get("trigger") or {}
    if trigger.get("type") == "score_changed":
        op = trigger.get("operator", "")
        condition = (f"{OP_SYMBOLS[op]} {trigger.get('value')}" if op in OP_SYMBOLS
                     else OP_LABELS.get(op, op).replace("has ", "has "))
        text = f"{trigger.get('profile')} score {condition}"
        details = [trigger.get("fire", "on_enter").replace("_", " ")]
    elif trigger.get("type") == "interaction":
        text = f"interaction {trigger.get('on')}"
        if trigger.get("where"):
            text += f" where {json.dumps(trigger['where'])}"
        details = []
    else:
        return "unknown trigger"
    details.append("again on every firing" if trigger.get("reentry") else "once per contact")
    filters = trigger.get("filters") or {}
    if filters.get("tags_all"):
        details.append("tagged " + ", ".join(filters["tags_all"]))
    if filters.get("tags_none"):
        details.append("not tagged " + ", ".join(filters["tags_none"]))
    return f"{text} ({'; '.join(details)})"


def load_workflow_doc(workflow_id: str) -> dict[str, Any]:
    return get_services().automation.require_workflow(workflow_id)


@bp.route("/workflows")
def workflows():
    rows = []
    for workflow_id, doc in sorted(get_services().automation.workflow_docs().items()):
        config = doc["config"]
        rows.append({"id": workflow_id, "name": config.get("name", workflow_id),
                     "enabled": bool(config.get("enabled")), "trigger": trigger_summary(config),
                     "steps": len(config.get("steps", [])), "source": doc.get("source"),
                     "problems": len(validate_document(config))})
    return render_template("dashboard/workflows.html", workflows=rows)


def render_workflow_page(workflow_id: str, text: str | None = None, problems: list[str] | None = None,
                         checked: bool = False, status: int = 200):
    services = get_services()
    doc = load_workflow_doc(workflow_id)
    cursor = parse_offset(request.args.get("cursor"))
    runs = services.automation.workflow_runs(workflow_id, cursor, PAGE_SIZE + 1)
    stored_problems = validate_document(doc["config"])
    return render_template(
        "dashboard/workflow.html", doc=doc, config=doc["config"], workflow_id=workflow_id,
        trigger=trigger_summary(doc["config"]), stored_problems=stored_problems,
        text=text if text is not None else json.dumps(doc["config"], indent=2), problems=problems or [],
        checked=checked, runs=[public_run(services, r) for r in runs[:PAGE_SIZE]], cursor=cursor,
        more_runs=len(runs) > PAGE_SIZE, page_size=PAGE_SIZE,
    ), status


@bp.route("/workflows/<workflow_id>")
def workflow(workflow_id: str):
    return render_workflow_page(workflow_id)


@bp.route("/workflows/<workflow_id>", methods=["POST"])
def check_workflow(workflow_id: str):
    """Validate the edited config; save it too when asked and valid (as ``PUT /v1/workflows/<id>``)."""
    text = request.form.get("config", "")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        return render_workflow_page(workflow_id, text, [(f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                                        f"{exc.msg}")], checked=True, status=400)
    if isinstance(doc, dict):
        doc.setdefault("id", workflow_id)
    problems = validate_document(doc)
    if not problems and doc.get("id") != workflow_id:
        problems = [f"id: must be {workflow_id!r}"]
    if problems:
        return render_workflow_page(workflow_id, text, problems, checked=True, status=400)
    if request.form.get("action") != "save":
        return render_workflow_page(workflow_id, text, [], checked=True)
    load_workflow_doc(workflow_id)
    get_services().automation.put_workflow(doc, "dashboard")
    flash("Workflow saved. A workflow file of the same id replaces it at the next start-up.")
    return redirect(url_for("dashboard.workflow", workflow_id=workflow_id), 303)


@bp.route("/runs/<run_id>")
def run(run_id: str):
    services = get_services()
    stored = services.automation.require_run(run_id)
    return render_template("dashboard/run.html", run=public_run(services, stored))


@bp.route("/deliveries")
def deliveries():
    dead = request.args.get("status") == "dead"
    cursor = parse_offset(request.args.get("cursor"))
    store = get_services().automation
    ids = store.delivery_ids(cursor, PAGE_SIZE + 1, dead_only=dead)
    items = [public_delivery(d) for d in store.get_deliveries(ids[:PAGE_SIZE])]
    return render_template("dashboard/deliveries.html", deliveries=items, dead=dead, cursor=cursor,
                           more=len(ids) > PAGE_SIZE, page_size=PAGE_SIZE)


def load_delivery(delivery_id: str) -> dict[str, Any]:
    return get_services().automation.require_delivery(delivery_id)


@bp.route("/deliveries/<delivery_id>")
def delivery(delivery_id: str):
    item = public_delivery(load_delivery(delivery_id))
    return render_template("dashboard/delivery.html", delivery=item, in_flight=item["status"] in IN_FLIGHT,
                           payload=json.dumps(item["payload"], indent=2))


@bp.route("/deliveries/<delivery_id>/redeliver", methods=["POST"])
def redeliver_delivery(delivery_id: str):
    stored = load_delivery(delivery_id)
    if stored["status"] in IN_FLIGHT:
        flash("The delivery is still being attempted; redeliver it once it succeeded or failed.", "error")
    else:
        redeliver(get_services(), stored)
        flash("Redelivery queued: a new round of attempts with the same webhook-id.")
    return redirect(url_for("dashboard.delivery", delivery_id=delivery_id), 303)


@bp.route("/notifications")
def notifications():
    cursor = parse_offset(request.args.get("cursor"))
    items = get_services().automation.notifications(cursor, PAGE_SIZE + 1)
    return render_template("dashboard/notifications.html", notifications=items[:PAGE_SIZE], cursor=cursor,
                           more=len(items) > PAGE_SIZE, page_size=PAGE_SIZE)
