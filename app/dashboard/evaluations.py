"""A profile's evaluation page: start an evaluation (a period, an outcome, the draft beside the live version),
follow its progress, read the bands, deciles and lift per rule, and apply a suggested number of points to
the draft with a click (never publishing). The method is ``app/evaluation.py``'s, as in the API."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..errors import Conflict, NotFound
from ..evaluation import EvaluationRequest, apply_suggestion, evaluation_of, recent_evaluations, start_evaluation
from .auth import dashboard_actor
from ..scoring.evaluation import DEFAULT_OUTCOME
from ..scoring.interactions import CATALOG, MANUAL_TYPE, is_known_type
from ..services import get_services
from . import actions
from .blueprint import bp
from .defaults import JOB_POLL_MS
from .profiles import profile_status

#: The period the form offers first, in days before today.
DEFAULT_DAYS = 30
#: The longest period, in days (as the API).
MAX_DAYS = 3650


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return None


def _start_ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def parse_form(form: Any, today: date) -> tuple[dict[str, str], dict[str, str], EvaluationRequest | None]:
    """The posted form's values, its errors by field, and the request (None when there are errors).

    The dates are whole UTC days; the period runs from the start of ``from`` to the end of ``to``."""
    values = {"from": form.get("from", "").strip(), "to": form.get("to", "").strip(),
              "outcome": form.get("outcome", "").strip() or DEFAULT_OUTCOME,
              "draft": "1" if form.get("draft") else ""}
    errors: dict[str, str] = {}
    first, last = _day(values["from"]), _day(values["to"])
    if first is None:
        errors["from"] = "a date such as 2026-02-01"
    if last is None:
        errors["to"] = "a date such as 2026-03-01"
    if first and last:
        if last < first:
            errors["to"] = "must not be before the first day"
        elif first > today:
            errors["from"] = "must not be after today: nothing has happened in the period yet"
        elif (last - first).days + 1 > MAX_DAYS:
            errors["to"] = f"a period is at most {MAX_DAYS} days"
    if values["outcome"] == MANUAL_TYPE or not is_known_type(values["outcome"]):
        errors["outcome"] = "an interaction type of the catalog, or custom.<name>"
    if errors or first is None or last is None:
        return values, errors, None
    return values, errors, EvaluationRequest(_start_ms(first), (last - first).days + 1, values["outcome"])


def render_page(profile_id: str, values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                selected: str | None = None, status: int = 200):
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    recent = recent_evaluations(services, profile_id)
    shown = next((r for r in recent if r["id"] == selected), None) if selected else (recent[0] if recent else None)
    if selected and shown is None:
        shown = evaluation_of(services, profile_id, selected)
    today = datetime.now(UTC).date()
    values = values or {"from": (today - timedelta(days=DEFAULT_DAYS)).isoformat(), "to": today.isoformat(),
                        "outcome": recent[0]["outcome"] if recent else DEFAULT_OUTCOME,
                        "draft": "1" if doc.get("live_version") and (request.args.get("backtest") or
                                                                      doc.get("published_draft") != doc["draft"]) else ""}
    draft_rules = {rule["id"]: rule for rule in doc["draft"].get("rules", [])}  # what Apply would change
    return render_template("dashboard/evaluation.html", doc=doc, profile_id=profile_id, status=profile_status(doc),
                           values=values, errors=errors or {}, recent=recent, shown=shown,
                           job=services.jobs.status(shown["id"]) if shown else None, poll_ms=JOB_POLL_MS,
                           outcomes=list(CATALOG), draft_rules=draft_rules), status


@bp.route("/profiles/<profile_id>/evaluation", methods=["GET", "POST"])
def evaluation(profile_id: str):
    """The page (GET, ``?id=`` picks a past evaluation), or start an evaluation (POST)."""
    if request.method == "GET":
        return render_page(profile_id, selected=request.args.get("id") or None)
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    values, errors, wanted = parse_form(request.form, datetime.now(UTC).date())
    if wanted is None:
        return render_page(profile_id, values, errors, status=400)
    of = ("live", "draft") if values["draft"] and doc.get("live_version") else ()
    try:
        record = start_evaluation(services, profile_id, EvaluationRequest(wanted.start, wanted.days, wanted.outcome,
                                                                          of), actor=dashboard_actor())
    except Conflict as exc:
        return render_page(profile_id, values, {"draft": exc.message}, status=409)
    return redirect(url_for("dashboard.evaluation", profile_id=profile_id, id=record["id"]), 303)


@bp.route("/profiles/<profile_id>/evaluation/<job_id>/apply", methods=["POST"])
def apply_points(profile_id: str, job_id: str):
    """Put one rule's suggested points into the draft (a click per rule; publishing stays a separate step)."""
    services = get_services()
    rule_id, of = request.form.get("rule_id", ""), request.form.get("of", "")
    try:
        before, after = apply_suggestion(services, profile_id, job_id, of, rule_id)
    except (Conflict, NotFound) as exc:
        flash(exc.message, "error")
    else:
        flash(f"The draft's rule {rule_id} now gives {after:+d} points (was {before:+d}). "
              "Preview or evaluate the draft, then publish to make it live.")
    return redirect(url_for("dashboard.evaluation", profile_id=profile_id, id=job_id), 303)
