"""Scoring settings: the profiles list, the rule editor, preview, publish with progress, unpublish."""
from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for

from ..api.schemas import is_valid_id
from ..errors import Conflict, NotFound
from ..preview import preview_draft
from ..publish import get_job
from ..scoring.interactions import CATALOG
from ..services import get_services
from . import actions
from .blueprint import bp
from .charts import histogram
from .defaults import BLANK_BAND_ROWS, BLANK_RULE_ROWS, JOB_POLL_MS
from .forms import ProfileForm, form_from_draft, parse_profile_form


def profile_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the list and the editor say about a profile's life cycle."""
    return {"live_version": doc.get("live_version"), "building_version": doc.get("building_version"),
            "building_job": doc.get("building_job"),
            "draft_changed": bool(doc.get("live_version")) and doc.get("published_draft") != doc.get("draft")}


def render_editor(form: ProfileForm, doc: dict[str, Any] | None, profile_id: str | None = None,
                  extra_rules: int = 0, preview: dict[str, Any] | None = None, status: int = 200):
    rules = form.rules + [dict.fromkeys(("id", "on", "points", "where", "limit_count", "limit_window",
                                          "once_per", "expires_after"), "")
                          for _ in range(BLANK_RULE_ROWS + extra_rules)]
    bands = form.bands + [{"name": "", "min": ""} for _ in range(BLANK_BAND_ROWS)]
    return render_template(
        "dashboard/profile_edit.html", form=form, rules=rules, bands=bands, doc=doc,
        profile_id=profile_id or (doc or {}).get("id", ""), status=profile_status(doc) if doc else None,
        catalog=CATALOG, preview=preview, chart=histogram(preview["histogram"]) if preview else None,
    ), status


@bp.route("/profiles")
def profiles():
    docs = actions.profile_store(get_services()).all()
    rows = [{"id": pid, "name": doc["draft"]["name"], "rules": len(doc["draft"].get("rules", [])),
             "bands": [b["name"] for b in doc["draft"].get("bands", [])], **profile_status(doc)}
            for pid, doc in sorted(docs.items())]
    return render_template("dashboard/profiles.html", profiles=rows)


@bp.route("/profiles/new", methods=["GET", "POST"])
def new_profile():
    if request.method == "GET":
        return render_editor(ProfileForm(), None)
    profile_id = request.form.get("id", "").strip()
    form = parse_profile_form(request.form)
    if "add_rule" in request.form:
        form.errors.clear()
        return render_editor(form, None, profile_id, extra_rules=1)
    if not is_valid_id(profile_id):
        form.errors["id"] = "letters, digits, '_', '.', '-' (at most 64)"
    elif actions.profile_store(get_services()).get(profile_id) is not None:
        form.errors["id"] = "a profile with this id exists already"
    if not form.valid:
        return render_editor(form, None, profile_id, status=400)
    actions.profile_store(get_services()).put_draft({"id": profile_id, **form.draft})
    flash(f"Draft of {profile_id} saved. Preview it, then publish it to start scoring.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>", methods=["GET", "POST"])
def edit_profile(profile_id: str):
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    if request.method == "GET":
        return render_editor(form_from_draft(doc["draft"]), doc)
    form = parse_profile_form(request.form)
    if "add_rule" in request.form:
        form.errors.clear()
        return render_editor(form, doc, extra_rules=1)
    if not form.valid:
        return render_editor(form, doc, status=400)
    actions.profile_store(services).put_draft({"id": profile_id, **form.draft})
    flash("Draft saved. Live scores change only when you publish.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>/preview", methods=["POST"])
def preview_profile(profile_id: str):
    """What the rules in the form would score, without saving them or touching live scores."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    form = parse_profile_form(request.form)
    if not form.valid:
        return render_editor(form, doc, status=400)
    preview = preview_draft(services, {"id": profile_id, "draft": {"id": profile_id, **form.draft}})
    for mover in preview["movers"]:
        contact = services.contacts.get_contact(mover["contact_id"]) or {}
        mover["label"] = contact.get("email") or contact.get("external_id") or mover["contact_id"]
    return render_editor(form, doc, preview=preview)


@bp.route("/profiles/<profile_id>/publish", methods=["POST"])
def publish_profile(profile_id: str):
    services = get_services()
    try:
        job = actions.publish_draft(services, profile_id)
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)
    return redirect(url_for("dashboard.job", job_id=job["id"]), 303)


@bp.route("/profiles/<profile_id>/unpublish", methods=["POST"])
def unpublish_profile(profile_id: str):
    actions.unpublish(get_services(), profile_id)
    flash(f"{profile_id} is unpublished: it no longer scores, and its scores are being emptied.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


def load_job(job_id: str) -> dict[str, Any]:
    job = get_job(get_services(), job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job


@bp.route("/jobs/<job_id>")
def job(job_id: str):
    return render_template("dashboard/job.html", job=load_job(job_id), poll_ms=JOB_POLL_MS)


@bp.route("/jobs/<job_id>.json")
def job_json(job_id: str):
    """The job's progress for the page's script (the same fields as ``GET /v1/jobs/<id>``)."""
    try:
        return jsonify(load_job(job_id))
    except NotFound as exc:
        return jsonify({"code": 404, "status": "Not Found", "message": exc.message}), 404
