"""Grades: a fit profile and an engagement profile combined into cells (A1 … C3)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

from ..automation.workflows import stored_workflows
from ..grades import delete_grade, get_grade, put_grade, render_grade
from ..services import get_services
from .common import v1_blueprint
from .schemas import ItemsSchema, Strict, _ID

bp = v1_blueprint("grades", __name__, "Grades: fit × engagement")


class GradeDraftSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    fit_profile = fields.String(required=True, validate=_ID,
                                metadata={"description": "the fit profile whose bands give the letter (A, B, C)"})
    engagement_profile = fields.String(required=True, validate=_ID, metadata={
        "description": "the engagement profile whose bands give the number (1, 2, 3)"})


class GradeSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    fit_profile = fields.String()
    engagement_profile = fields.String()


@bp.route("/grades", methods=["GET"])
@bp.alt_response(200, schema=ItemsSchema, description="Every grade, by id")
def list_grades():
    return {"items": [render_grade(g) for g in get_services().grades.all().values()]}


@bp.route("/grades/<slug:grade_id>", methods=["GET"])
@bp.response(200, GradeSchema)
def read_grade(grade_id: str):
    return render_grade(get_grade(get_services(), grade_id))


@bp.route("/grades/<slug:grade_id>", methods=["PUT"])
@bp.arguments(GradeDraftSchema)
@bp.response(200, GradeSchema)
def write_grade(data: dict, grade_id: str):
    """Create or change a grade: contacts show their cell at once (from the live scores)."""
    return render_grade(put_grade(get_services(), grade_id, data["name"], data["fit_profile"],
                                  data["engagement_profile"]))


@bp.route("/grades/<slug:grade_id>", methods=["DELETE"])
@bp.response(204)
def remove_grade(grade_id: str):
    """Delete a grade (409 while a workflow triggers on it)."""
    services = get_services()
    triggers = {w.id: getattr(w.trigger, "grade", "") for w in stored_workflows(services.automation)}
    delete_grade(services, grade_id, triggers)
    return None
