"""Scoring: the profiles list, a profile's page (its rules as sentences, bands, preview, publish),
the rule builder, versions with their diff and roll back, publish progress with its summary, delete.

Every change is a plain HTML form posted here (the pages work without scripts); a rule change
is saved to the draft at once, and only publishing changes live scores.
"""
from __future__ import annotations

import uuid
from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for
from marshmallow import ValidationError as SchemaError

from ..api.schemas import ProfileDraftSchema, is_valid_id
from ..auth import DASHBOARD_ACTOR
from ..errors import Conflict, NotFound
from ..preview import preview_draft
from ..publish import delete_profile as delete_profile_and_versions
from ..publish import get_job, publish_draft, roll_back
from ..scoring.profiles import rule_from_dict
from ..scoring.sentences import rule_sentence
from ..scoring.summary import PublishSummary
from ..scoring.vocabulary import EVENT_GROUPS, EVENTS, OPERATOR_WORDS, UNITS, event_label
from ..services import get_services
from ..versions import changes_between, history
from . import actions
from .blueprint import bp
from .charts import histogram
from .defaults import BLANK_BAND_ROWS, JOB_POLL_MS
from .forms import ProfileForm, form_from_draft, parse_profile_form
from .rule_form import (
    OTHER_CUSTOM,
    ConditionRow,
    RuleForm,
    form_from_rule,
    parse_rule_form,
    read_rule_form,
    rule_messages,
)

#: Condition rows the rule builder shows for a rule without conditions (one blank row to fill).
BLANK_CONDITION_ROWS = 1


def profile_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the list and the profile page say about a profile's life cycle."""
    return {"live_version": doc.get("live_version"), "building_version": doc.get("building_version"),
            "building_job": doc.get("building_job"), "versions": int(doc.get("version_seq") or 0),
            "draft_changed": doc.get("published_draft") != doc.get("draft")}


def profile_name(profile_id: str | None) -> str:
    """A profile's display name (its id only when it has no document any more)."""
    if not profile_id:
        return ""
    doc = get_services().profiles.get(profile_id)
    return doc["draft"]["name"] if doc else profile_id


def rule_rows(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule list: each rule's id (for the forms, never shown) and its sentence."""
    return [{"id": rule["id"], "sentence": rule_sentence(rule_from_dict(rule))} for rule in draft.get("rules", [])]


def render_profile(form: ProfileForm, doc: dict[str, Any] | None, profile_id: str = "",
                   preview: dict[str, Any] | None = None, status: int = 200, unsaved: bool = False):
    """The profile's page; ``unsaved``: the form shows posted values that are not saved (the page
    script then warns before they are left behind)."""
    bands = form.bands + [{"name": "", "min": ""} for _ in range(BLANK_BAND_ROWS)]
    return render_template(
        "dashboard/profile_edit.html", form=form, bands=bands, doc=doc,
        profile_id=profile_id or (doc or {}).get("id", ""), status=profile_status(doc) if doc else None,
        rules=rule_rows(doc["draft"]) if doc else [], preview=preview,
        chart=histogram(preview["histogram"]) if preview else None, unsaved=unsaved or status != 200,
    ), status


def new_profile_id(name: str) -> str:
    """An id for the API made from the name (``Engagement score`` -> ``engagement-score``), unique."""
    base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:40] or "profile"
    store = get_services().profiles
    candidate, n = base, 2
    while store.get(candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@bp.route("/profiles")
def profiles():
    docs = get_services().profiles.all()
    rows = [{"id": pid, "name": doc["draft"]["name"], "description": doc["draft"].get("description", ""),
             "rules": len(doc["draft"].get("rules", [])),
             "bands": [b["name"] for b in doc["draft"].get("bands", [])], **profile_status(doc)}
            for pid, doc in sorted(docs.items(), key=lambda item: item[1]["draft"]["name"].lower())]
    return render_template("dashboard/profiles.html", profiles=rows)


@bp.route("/profiles/new", methods=["GET", "POST"])
def new_profile():
    if request.method == "GET":
        return render_profile(ProfileForm(), None)
    profile_id = request.form.get("id", "").strip()
    form = parse_profile_form(request.form)
    if profile_id and not is_valid_id(profile_id):
        form.errors["id"] = "letters, digits, '_', '.', '-' (at most 64)"
    elif profile_id and get_services().profiles.get(profile_id) is not None:
        form.errors["id"] = "a profile with this id exists already"
    if not form.valid:
        return render_profile(form, None, profile_id, status=400)
    profile_id = profile_id or new_profile_id(form.name)
    get_services().profiles.put_draft({"id": profile_id, **form.draft})
    flash(f"{form.name} is saved as a draft. Add its rules, then publish it to start scoring.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>", methods=["GET", "POST"])
def edit_profile(profile_id: str):
    """The profile's page; its form saves the name, description and bands (and publishes on request)."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    if request.method == "GET":
        return render_profile(form_from_draft(doc["draft"]), doc)
    form = parse_profile_form(request.form, rules=doc["draft"].get("rules", []))
    if "add_band" in request.form:
        form.errors.clear()
        form.bands.append({"name": "", "min": ""})
        return render_profile(form, doc, unsaved=True)
    if not form.valid:
        return render_profile(form, doc, status=400)
    services.profiles.put_draft({"id": profile_id, **form.draft})
    if "publish" in request.form:
        return start_publish(profile_id)
    flash("Draft saved. Live scores change only when you publish.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


def start_publish(profile_id: str):
    """Publish the saved draft and show the progress page (or say why not, on the profile's page)."""
    try:
        job = publish_draft(get_services(), profile_id, actor=DASHBOARD_ACTOR)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)
    return redirect(url_for("dashboard.job", job_id=job["id"]), 303)


@bp.route("/profiles/<profile_id>/preview", methods=["POST"])
def preview_profile(profile_id: str):
    """What the draft's rules with the bands in the form would score, saving nothing."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    form = parse_profile_form(request.form, rules=doc["draft"].get("rules", []))
    if not form.valid:
        return render_profile(form, doc, status=400)
    preview = preview_draft(services, {"id": profile_id, "draft": {"id": profile_id, **form.draft}})
    for mover in preview["movers"]:
        contact = services.contacts.get_contact(mover["contact_id"]) or {}
        mover["label"] = contact.get("email") or contact.get("external_id") or mover["contact_id"]
    return render_profile(form, doc, preview=preview, unsaved=True)


@bp.route("/profiles/<profile_id>/publish", methods=["POST"])
def publish_profile(profile_id: str):
    actions.load_profile(get_services(), profile_id)
    return start_publish(profile_id)


@bp.route("/profiles/<profile_id>/unpublish", methods=["POST"])
def unpublish_profile(profile_id: str):
    doc = actions.unpublish(get_services(), profile_id)
    flash(f"{doc['draft']['name']} is unpublished: it no longer scores, and its scores are being emptied.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


# --- deleting -------------------------------------------------------------------------------------
def what_is_lost(profile_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """What deleting the profile takes with it, for the confirmation page."""
    services = get_services()
    scored = services.scores.count(profile_id, doc["live_version"]) if doc.get("live_version") else 0
    lists = [d["name"] for d in actions.smart_lists(services) if _mentions(d, profile_id)]
    workflows = [d.get("name") or wid for wid, d in actions.workflow_docs(services).items()
                 if _mentions(d.get("trigger") or {}, profile_id)]
    return {"versions": int(doc.get("version_seq") or 0), "scored": scored, "rules": len(doc["draft"]["rules"]),
            "smart_lists": lists, "workflows": workflows}


def _mentions(value: Any, profile_id: str) -> bool:
    """Whether a stored filter or trigger names the profile (under a ``profile`` key, at any depth)."""
    if isinstance(value, dict):
        return value.get("profile") == profile_id or any(_mentions(v, profile_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, profile_id) for v in value)
    return False


@bp.route("/profiles/<profile_id>/delete", methods=["GET", "POST"])
def delete_profile(profile_id: str):
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    if request.method == "GET":
        return render_template("dashboard/profile_delete.html", doc=doc, profile_id=profile_id,
                               lost=what_is_lost(profile_id, doc))
    delete_profile_and_versions(services, profile_id)
    flash(f"{doc['draft']['name']} is deleted; its scores are being emptied.")
    return redirect(url_for("dashboard.profiles"), 303)


# --- the rule builder -----------------------------------------------------------------------------
def event_groups(current: str, seen: dict[str, set[str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's groups: the catalog, then custom events seen in stored interactions (and the
    rule's own), then "another custom event"."""
    custom = sorted({t for t in seen if t.startswith("custom.")} | ({current} if current.startswith("custom.")
                                                                      else set()))
    groups = [(name, [(e.type, e.label) for e in events]) for name, events in EVENT_GROUPS]
    groups.append(("Custom", [(t, event_label(t)) for t in custom] + [(OTHER_CUSTOM, "Another custom event…")]))
    return groups


def event_properties(types: list[str], seen: dict[str, set[str]]) -> dict[str, list[tuple[str, str]]]:
    """Per type: ``(name, label)`` of the properties it carries, then any others seen in stored ones."""
    out = {}
    for type_ in types:
        known = [(p.name, p.label) for p in EVENTS[type_].properties] if type_ in EVENTS else []
        names = {name for name, _ in known}
        out[type_] = known + [(name, name) for name in sorted(seen.get(type_, ())) if name not in names]
    return out


def render_rule(profile_id: str, doc: dict[str, Any], form: RuleForm, rule_id: str | None, status: int = 200,
                unsaved: bool = False):
    seen = get_services().vocabulary.all()
    groups = event_groups(form.type if form.event == OTHER_CUSTOM else form.event, seen)
    types = [t for _, items in groups for t, _ in items if t != OTHER_CUSTOM]
    conditions = form.conditions + [ConditionRow() for _ in range(max(BLANK_CONDITION_ROWS - len(form.conditions),
                                                                      0))]
    return render_template(
        "dashboard/rule_edit.html", doc=doc, profile_id=profile_id, form=form, rule_id=rule_id,
        groups=groups, properties=event_properties(types, seen), operators=OPERATOR_WORDS, units=UNITS,
        conditions=conditions, errors=form.errors, status=profile_status(doc),
        unsaved=unsaved or status != 200,
    ), status


def find_rule(doc: dict[str, Any], rule_id: str) -> int:
    for index, rule in enumerate(doc["draft"].get("rules", [])):
        if rule["id"] == rule_id:
            return index
    raise NotFound("That rule is not in the draft any more (it was deleted or the profile was rolled back).")


def save_rules(profile_id: str, doc: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, str]:
    """Validate the draft with these rules as ``PUT /v1/profiles/<id>`` would, and save it.
    Returns the messages of the rule that failed (nothing is saved then)."""
    draft = {k: v for k, v in doc["draft"].items() if k != "id"}
    try:
        loaded = ProfileDraftSchema().load({**draft, "rules": rules})
    except SchemaError as exc:
        problems = exc.messages.get("rules") if isinstance(exc.messages, dict) else None
        if isinstance(problems, dict):
            return {k: v for messages in problems.values() if isinstance(messages, dict)
                    for k, v in rule_messages(messages).items()}
        return {"_form": str(exc.messages)}
    get_services().profiles.put_draft({"id": profile_id, **loaded})
    return {}


def new_rule_id(doc: dict[str, Any]) -> str:
    """A rule id nobody sees: short, random, unique in the draft."""
    taken = {rule["id"] for rule in doc["draft"].get("rules", [])}
    while True:
        candidate = f"r-{uuid.uuid4().hex[:8]}"
        if candidate not in taken:
            return candidate


@bp.route("/profiles/<profile_id>/rules/new", methods=["GET", "POST"])
@bp.route("/profiles/<profile_id>/rules/<rule_id>", methods=["GET", "POST"])
def edit_rule(profile_id: str, rule_id: str | None = None):
    """Add or change one rule: saved to the draft ("Save rule") or saved and published at once."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    index = find_rule(doc, rule_id) if rule_id else None
    if request.method == "GET":
        form = form_from_rule(doc["draft"]["rules"][index]) if index is not None else RuleForm()
        return render_rule(profile_id, doc, form, rule_id)
    if "add_condition" in request.form or "remove_condition" in request.form or "change_event" in request.form:
        form = read_rule_form(request.form)
        if "add_condition" in request.form:
            form.conditions.append(ConditionRow())
        return render_rule(profile_id, doc, form, rule_id, unsaved=True)
    form = parse_rule_form(request.form, rule_id or new_rule_id(doc))
    if form.rule is None:
        return render_rule(profile_id, doc, form, rule_id, status=400)
    rules = list(doc["draft"].get("rules", []))
    if index is None:
        rules.append(form.rule)
    else:
        rules[index] = form.rule
    form.errors.update(save_rules(profile_id, doc, rules))
    if form.errors:
        form.rule = None
        return render_rule(profile_id, doc, form, rule_id, status=400)
    if "publish" in request.form:
        return start_publish(profile_id)
    flash(f"Rule saved to the draft: {rule_sentence(rule_from_dict(form.rule))}. Publish to apply it.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>/rules/<rule_id>/<action>", methods=["POST"])
def change_rule(profile_id: str, rule_id: str, action: str):
    """The ⋯ menu: duplicate, move up, move down, delete (each saved to the draft at once)."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    index = find_rule(doc, rule_id)
    rules = list(doc["draft"]["rules"])
    sentence = rule_sentence(rule_from_dict(rules[index]))
    if action == "duplicate":
        rules.insert(index + 1, {**rules[index], "id": new_rule_id(doc)})
        message = f"Rule duplicated: {sentence}. Edit the copy below the original."
    elif action in ("up", "down"):
        other = index - 1 if action == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        message = f"Rule moved {action}: {sentence}."
    elif action == "delete":
        rules.pop(index)
        message = f"Rule deleted from the draft: {sentence}. Publish to apply it."
    else:
        raise NotFound(f"No rule action {action!r}.")
    problems = save_rules(profile_id, doc, rules)
    flash(message if not problems else "; ".join(problems.values()), "error" if problems else "message")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id, _anchor="rules"), 303)


# --- versions -------------------------------------------------------------------------------------
def summary_lines(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    if not summary:
        return None
    parsed = PublishSummary.from_json(summary)
    return {"scored": parsed.scored, "changed": parsed.changed, "moves": [m.words() for m in parsed.moves]}


@bp.route("/profiles/<profile_id>/versions")
def versions(profile_id: str):
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    items = history(services, profile_id)
    for item in items:
        item["summary_lines"] = summary_lines(item["summary"])
    compare = None
    try:
        a, b = int(request.args.get("a", "")), int(request.args.get("b", ""))
    except ValueError:
        a = b = 0
    if a and b:
        compare = {"a": a, "b": b, "changes": changes_between(services, profile_id, a, b)}
    return render_template("dashboard/versions.html", doc=doc, profile_id=profile_id, versions=items,
                           compare=compare, status=profile_status(doc))


@bp.route("/profiles/<profile_id>/rollback", methods=["POST"])
def rollback_profile(profile_id: str):
    try:
        version = int(request.form.get("version", ""))
        job = roll_back(get_services(), profile_id, version, actor=DASHBOARD_ACTOR)
    except (ValueError, Conflict) as exc:
        flash(getattr(exc, "message", "Pick a version to roll back to."), "error")
        return redirect(url_for("dashboard.versions", profile_id=profile_id), 303)
    return redirect(url_for("dashboard.job", job_id=job["id"]), 303)


# --- publish progress -----------------------------------------------------------------------------
def load_job(job_id: str) -> dict[str, Any]:
    job = get_job(get_services(), job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


@bp.route("/jobs/<job_id>")
def job(job_id: str):
    found = load_job(job_id)
    record = get_services().profiles.version_record(found["profile"], found["version"]) \
        if found.get("profile") and found.get("version") else None
    return render_template("dashboard/job.html", job=found, poll_ms=JOB_POLL_MS, record=record,
                           profile_name=profile_name(found.get("profile")),
                           summary=summary_lines(record.summary.to_json()) if record and record.summary else None)


@bp.route("/jobs/<job_id>.json")
def job_json(job_id: str):
    """The job's progress for the page's script (the same fields as ``GET /v1/jobs/<id>``)."""
    try:
        return jsonify(load_job(job_id))
    except NotFound as exc:
        return jsonify({"code": 404, "status": "Not Found", "message": exc.message}), 404
