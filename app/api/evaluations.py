"""Evaluations of a profile: conversion by band, decile and rule over a period, run as a job."""
from __future__ import annotations

from typing import Any

from ..auth import request_actor
from ..evaluation import EvaluationRequest, evaluation_of, recent_evaluations, start_evaluation
from ..scoring.interactions import format_timestamp
from ..services import get_services
from .common import v1_blueprint
from .evaluation_schemas import EvaluationListSchema, EvaluationRequestSchema, EvaluationSchema

bp = v1_blueprint("evaluations", __name__, "Evaluations: does a profile's score predict conversion?")


def render_evaluation(record: dict[str, Any]) -> dict[str, Any]:
    """The stored record as the API shows it: times as RFC 3339, the frozen draft left out."""
    out = {key: record.get(key) for key in ("id", "profile", "actor", "status", "progress", "error", "days",
                                              "outcome", "reports")}
    for key in ("requested_at", "from", "to", "observed_until"):
        out[key] = format_timestamp(record[key])
    out["judged"] = [{"of": item["of"], "version": item["version"]} for item in record["judged"]]
    return out


@bp.route("/profiles/<slug:profile_id>/evaluations", methods=["POST"])
@bp.arguments(EvaluationRequestSchema)
@bp.response(202, EvaluationSchema)
def start(body: dict, profile_id: str):
    """Evaluate the profile over a period, as a job: contacts' scores as of ``from`` against the outcome
    interactions from ``from`` for ``days``. Follow ``GET /v1/jobs/{id}`` for progress and read the reports
    with ``GET .../evaluations/{id}``. 409 when the live version is asked for and there is none."""
    request = EvaluationRequest(body["from"], body["days"], body["outcome"], tuple(body.get("of") or ()))
    services = get_services()
    return render_evaluation({**start_evaluation(services, profile_id, request, actor=request_actor()),
                              "status": "queued", "progress": 0.0, "error": None})


@bp.route("/profiles/<slug:profile_id>/evaluations", methods=["GET"])
@bp.response(200, EvaluationListSchema)
def list_evaluations(profile_id: str):
    """The profile's most recent evaluations (up to 20), newest first."""
    return {"items": [render_evaluation(r) for r in recent_evaluations(get_services(), profile_id)]}


@bp.route("/profiles/<slug:profile_id>/evaluations/<job_id>", methods=["GET"])
@bp.response(200, EvaluationSchema)
def get_evaluation(profile_id: str, job_id: str):
    """One evaluation: its status and, once finished, a report per judged definition (bands, deciles, lift and
    suggested points per rule)."""
    return render_evaluation(evaluation_of(get_services(), profile_id, job_id))
