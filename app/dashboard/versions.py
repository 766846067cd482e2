"""A profile's versions (who, when, the summary, the diff of any two in words), roll back, and the
publish progress page that ends with the summary kept with the version."""
from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, render_template, request, url_for

from ..errors import Conflict, NotFound, error_body
from .auth import dashboard_actor
from ..publish import get_job, roll_back
from ..scoring.summary import PublishSummary
from ..services import get_services
from ..versions import changes_between, history, unpublished_changes
from . import actions
from .blueprint import bp
from .defaults import JOB_POLL_MS
from .profiles import profile_name, profile_status


def summary_lines(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored publish summary as the page shows it (band moves as ``cold → warm: 412``)."""
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
    """Roll back; when the draft has unpublished changes (which the rollback replaces), a page lists
    them and asks first (``confirmed``), so no edit is thrown away unannounced."""
    services = get_services()
    try:
        version = int(request.form.get("version", ""))
        losing = unpublished_changes(services, profile_id)
        if losing and not request.form.get("confirmed"):
            doc = actions.load_profile(services, profile_id)
            return render_template("dashboard/rollback_confirm.html", doc=doc, profile_id=profile_id,
                                   version=version, losing=losing)
        job = roll_back(services, profile_id, version, actor=dashboard_actor())
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
        return jsonify(error_body(404, exc.message, exc.errors)), 404
