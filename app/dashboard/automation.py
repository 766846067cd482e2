"""Workflows, their runs, webhook deliveries (with dead letters and redelivery) and the inbox."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..automation.config import validate_document
from ..automation.dry_run import TestRun, send_test, test_run
from ..automation.deliveries import IN_FLIGHT, public_delivery, redeliver
from ..automation.runner import public_run
from ..automation.workflows import save_workflow
from ..errors import Conflict
from ..scoring.conditions import NUMERIC_OPS, SCORE_OPS
from ..clock import now_ms
from ..scoring.sentences import where_words
from ..scoring.vocabulary import OPERATOR_WORDS as PROPERTY_OPERATOR_WORDS
from ..services import get_services
from ..words import EVENT_GROUPS, OPERATOR_WORDS, step_sentence, trigger_sentence, trigger_warnings
from .auth import dashboard_actor
from .blueprint import bp
from .contacts import contact_labels, profile_names, search_contact
from .condition_rows import ConditionRow
from .defaults import PAGE_SIZE
from .forms import parse_offset
from .rules import event_groups, event_properties
from .workflow_form import (
    STEP_TYPES,
    WorkflowForm,
    blank_form,
    form_from_config,
    interaction_type,
    new_workflow_id,
    parse_workflow_form,
    step_document,
    trigger_document,
)


def load_workflow_doc(workflow_id: str) -> dict[str, Any]:
    return get_services().automation.require_workflow(workflow_id)


def managed_file(doc: dict[str, Any]) -> str | None:
    """The workflow file a stored workflow is managed by (read-only here), or None."""
    return f"workflows/{doc.get('file')}" if doc.get("managed_by") == "file" else None


def refuse_if_managed(doc: dict[str, Any]) -> None:
    path = managed_file(doc)
    if path:
        raise Conflict(f"This workflow is managed by {path}: edit the file and run `scorekeeper workflows sync`, "
                       "or make an editable copy.")


@bp.route("/workflows")
def workflows():
    services = get_services()
    names = profile_names(services)
    rows = []
    for workflow_id, doc in sorted(services.automation.workflow_docs().items()):
        config = doc["config"]
        rows.append({"id": workflow_id, "name": config.get("name", workflow_id),
                     "enabled": bool(config.get("enabled")),
                     "trigger": trigger_sentence(config.get("trigger") or {}, trigger_names(services, config.get("trigger") or {})
                                                 if (config.get("trigger") or {}).get("type") == "grade_changed" else names),
                     "steps": len(config.get("steps", [])), "source": doc.get("source"),
                     "managed": managed_file(doc), "problems": len(validate_document(config))})
    return render_template("dashboard/workflows.html", workflows=rows)


def trigger_names(services: Any, trigger: dict[str, Any]) -> dict[str, str]:
    """The names a trigger's sentence uses: its grades' for a grade trigger, else the profiles'."""
    if trigger.get("type") == "grade_changed":
        return {gid: grade.name for gid, grade in services.grades.all().items()}
    return profile_names(services)


def render_workflow_page(workflow_id: str, text: str | None = None, problems: list[str] | None = None,
                         checked: bool = False, status: int = 200, trial: TestRun | None = None,
                         trial_contact: str = "", trial_error: str = ""):
    services = get_services()
    doc = load_workflow_doc(workflow_id)
    cursor = parse_offset(request.args.get("cursor"))
    runs = services.automation.workflow_runs(workflow_id, cursor, PAGE_SIZE + 1)
    stored_problems = validate_document(doc["config"])
    names = profile_names(services)
    config = doc["config"]
    shown = [public_run(services, r) for r in runs[:PAGE_SIZE]]
    return render_template(
        "dashboard/workflow.html", doc=doc, config=config, workflow_id=workflow_id,
        trigger=trigger_sentence(config.get("trigger") or {}, trigger_names(services, config.get("trigger") or {})), warnings=trigger_warnings(config.get("trigger") or {}),
        step_sentences=[step_sentence(s, names) for s in config.get("steps") or []], managed=managed_file(doc),
        stored_problems=stored_problems,
        text=text if text is not None else json.dumps(config, indent=2), problems=problems or [],
        checked=checked, runs=shown, people=contact_labels(services, [r["contact_id"] for r in shown]),
        cursor=cursor, more_runs=len(runs) > PAGE_SIZE, page_size=PAGE_SIZE, trial=trial,
        trial_contact=trial_contact, trial_error=trial_error,
    ), status


@bp.route("/workflows/<workflow_id>")
def workflow(workflow_id: str):
    return render_workflow_page(workflow_id)


@bp.route("/workflows/<workflow_id>", methods=["POST"])
def check_workflow(workflow_id: str):
    """Validate the edited JSON (Advanced); save it too when asked and valid (as ``PUT /v1/workflows/<id>``)."""
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
    refuse_if_managed(load_workflow_doc(workflow_id))
    save_workflow(get_services(), doc, "dashboard", dashboard_actor())
    flash("Workflow saved.")
    return redirect(url_for("dashboard.workflow", workflow_id=workflow_id), 303)


@bp.route("/workflows/<workflow_id>/enabled", methods=["POST"])
def toggle_workflow(workflow_id: str):
    """Switch a workflow on or off (from the list or its page)."""
    doc = load_workflow_doc(workflow_id)
    refuse_if_managed(doc)
    config = dict(doc["config"])
    config["enabled"] = request.form.get("enabled") == "1"
    save_workflow(get_services(), config, "dashboard", dashboard_actor())
    flash(f"Workflow {config.get('name', workflow_id)!r} {'enabled' if config['enabled'] else 'disabled'}.")
    back = request.form.get("next")
    return redirect(url_for("dashboard.workflows") if back == "list"
                    else url_for("dashboard.workflow", workflow_id=workflow_id), 303)


@bp.route("/workflows/<workflow_id>/copy", methods=["POST"])
def copy_workflow(workflow_id: str):
    """An editable copy (a new id, disabled, not managed by a file) of a workflow."""
    store = get_services().automation
    config = {k: v for k, v in load_workflow_doc(workflow_id)["config"].items() if k not in ("managed_by", "file")}
    config["id"] = new_workflow_id(f"{workflow_id}-copy", set(store.workflow_docs()))
    config["name"] = f"{config.get('name', workflow_id)} (copy)"
    config["enabled"] = False
    save_workflow(get_services(), config, "dashboard", dashboard_actor())
    flash("An editable copy was made; it is disabled until you enable it.")
    return redirect(url_for("dashboard.edit_workflow", workflow_id=config["id"]), 303)


@bp.route("/workflows/<workflow_id>/test-run", methods=["POST"])
def test_run_workflow(workflow_id: str):
    """What each step would do for a chosen contact; nothing is sent or changed."""
    services = get_services()
    doc = load_workflow_doc(workflow_id)
    wanted = request.form.get("contact", "").strip()
    contact = find_one_contact(services, wanted)
    if contact is None:
        return render_workflow_page(workflow_id, trial_contact=wanted, status=400,
                                    trial_error=f"No contact matches {wanted!r}." if wanted else "Choose a contact.")
    trial = test_run(services, workflow_id, doc["config"], contact, profile_names(services))
    return render_workflow_page(workflow_id, trial=trial, trial_contact=wanted)


def find_one_contact(services: Any, text: str) -> dict[str, Any] | None:
    """A contact from an exact email, external id or id, else the first one whose text starts so."""
    if not text:
        return None
    contact_id = search_contact(services, text) or next(iter(services.contacts.search_contacts(text, 1)), None)
    return services.contacts.get_contact(contact_id) if contact_id else None


# --- the builder --------------------------------------------------------------------------------
def render_builder(form: WorkflowForm, workflow_id: str | None, show_errors: bool, status: int = 200,
                   tests: dict[int, Any] | None = None, previews: dict[int, str] | None = None):
    services = get_services()
    names = profile_names(services)
    grade_names = {gid: grade.name for gid, grade in sorted(services.grades.all().items())}
    trigger = trigger_document(form.values, form.where_rows)
    on = interaction_type(form.values)
    seen = services.vocabulary.all()
    types = [t for _, items in event_groups(on, seen) for t, _ in items if t != "custom"]
    properties = event_properties(types, seen)
    return render_template(
        "dashboard/workflow_edit.html", form=form, values=form.values, steps=form.steps, workflow_id=workflow_id,
        where_rows=form.where_rows or [ConditionRow()], where_ops=PROPERTY_OPERATOR_WORDS, properties=properties,
        where_list="props-" + (on if on in properties else "custom"), kept_where=kept_where_words(form.values),
        custom_types=[t for t in types if t.startswith("custom.")],
        errors=form.errors if show_errors else {}, names=names, ops=SCORE_OPS, op_words=OPERATOR_WORDS,
        numeric_ops=NUMERIC_OPS, step_types=STEP_TYPES, event_groups=EVENT_GROUPS,
        sentence=trigger_sentence(trigger, grade_names if trigger["type"] == "grade_changed" else names),
        warnings=trigger_warnings(trigger), grade_names=grade_names,
        step_sentences=[step_sentence(step_document(r, i, {}), names) for i, r in enumerate(form.steps)],
        tests=tests or {}, previews=previews or {}, preview_contact=request.form.get("preview_contact", ""),
    ), status


def kept_where_words(values: dict[str, str]) -> str:
    """The trigger's kept conditions (rows could not say them exactly) in words."""
    if not values.get("t_where"):
        return ""
    try:
        where = json.loads(values["t_where"])
    except json.JSONDecodeError:
        return values["t_where"]
    return where_words(interaction_type(values), where) if isinstance(where, dict) else values["t_where"]


def builder_post(workflow_id: str | None):
    """Every builder button: save, or re-render after adding, moving, removing, testing or previewing."""
    services = get_services()
    store = services.automation
    action = request.form.get("action", "")
    target = workflow_id or new_workflow_id(request.form.get("name", ""), set(store.workflow_docs()))
    form = parse_workflow_form(request.form, target)
    if action == "save":
        if form.document is None:
            return render_builder(form, workflow_id, True, status=400)
        save_workflow(services, form.document, "dashboard", dashboard_actor())
        flash(f"Workflow {form.document['name']!r} saved{' and enabled' if form.document['enabled'] else ''}.")
        return redirect(url_for("dashboard.workflow", workflow_id=target), 303)
    verb, _, arg = action.partition(":")
    tests: dict[int, Any] = {}
    if verb == "test" and arg.isdigit() and int(arg) < len(form.steps):
        step = step_document(form.steps[int(arg)], int(arg), {})
        problems = [p for p in validate_document({"id": target, "name": "test", "trigger": {"type": "interaction",
                                                  "on": "form.submitted"}, "steps": [step]})]
        tests[int(arg)] = ({"error": "; ".join(p.split(": ", 1)[-1] for p in problems)} if problems
                           else send_test(services, step, {"id": target, "name": form.values["name"]}))
    previews = notify_previews(services, form, target) if request.form.get("preview_contact") else {}
    return render_builder(form, workflow_id, False, tests=tests, previews=previews)


def notify_previews(services: Any, form: WorkflowForm, workflow_id: str) -> dict[int, str]:
    """Each notification step's message rendered for the contact named in ``preview_contact``."""
    contact = find_one_contact(services, request.form.get("preview_contact", "").strip())
    if contact is None:
        return {-1: "No contact matches that."}
    config = {"name": form.values["name"], "trigger": trigger_document(form.values),
              "steps": [step_document(r, i, {}) for i, r in enumerate(form.steps)]}
    if config["trigger"]["type"] == "score_changed" and not config["trigger"].get("profile"):
        return {-1: "Choose the trigger's profile first."}
    trial = test_run(services, workflow_id, config, contact, profile_names(services))
    return {p.index: (p.detail or p.outcome) for p in trial.steps if p.type == "notify"}


@bp.route("/workflows/new", methods=["GET", "POST"])
def new_workflow():
    if request.method == "POST":
        return builder_post(None)
    return render_builder(blank_form(next(iter(profile_names(get_services())), None)), None, False)


@bp.route("/workflows/<workflow_id>/edit", methods=["GET", "POST"])
def edit_workflow(workflow_id: str):
    doc = load_workflow_doc(workflow_id)
    refuse_if_managed(doc)
    if request.method == "POST":
        return builder_post(workflow_id)
    return render_builder(form_from_config(doc["config"]), workflow_id, False)


@bp.route("/runs/<run_id>")
def run(run_id: str):
    services = get_services()
    stored = services.automation.require_run(run_id)
    return render_template("dashboard/run.html", run=public_run(services, stored), names=profile_names(services),
                           people=contact_labels(services, [stored["contact_id"]]))


@bp.route("/deliveries")
def deliveries():
    dead = request.args.get("status") == "dead"
    cursor = parse_offset(request.args.get("cursor"))
    store = get_services().automation
    ids = store.delivery_ids(cursor, PAGE_SIZE + 1, dead_only=dead)
    items = [public_delivery(d) for d in store.get_deliveries(ids[:PAGE_SIZE])]
    runs = {r["id"]: r for r in store.get_runs([d["run_id"] for d in items]) if r}
    contacts = {d["id"]: runs[d["run_id"]]["contact_id"] for d in items if d["run_id"] in runs}
    return render_template("dashboard/deliveries.html", deliveries=items, dead=dead, cursor=cursor,
                           more=len(ids) > PAGE_SIZE, page_size=PAGE_SIZE, contacts=contacts,
                           people=contact_labels(get_services(), list(contacts.values())))


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
    services = get_services()
    cursor = parse_offset(request.args.get("cursor"))
    items = services.automation.notifications(cursor, PAGE_SIZE + 1)
    more, items = len(items) > PAGE_SIZE, items[:PAGE_SIZE]
    return render_template("dashboard/notifications.html", notifications=items, cursor=cursor,
                           more=more, page_size=PAGE_SIZE,
                           people=contact_labels(services, [n.get("contact_id") for n in items]))


@bp.route("/notifications/read", methods=["POST"])
def mark_notification_read():
    """Mark one notification (``id``) read, or every one (``all``)."""
    store = get_services().automation
    if request.form.get("all"):
        store.mark_all_read(now_ms())
        flash("Every notification is marked as read.")
    elif store.mark_read(request.form.get("id", "")):
        flash("Marked as read.")
    return redirect(url_for("dashboard.notifications", cursor=request.form.get("cursor") or None), 303)
