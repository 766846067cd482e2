"""Grades as the product offers them: defined by a fit profile and an engagement profile, shown on contacts
as their current cell (``A1`` … ``C3``, see ``app.scoring.grades``), filtered and triggering workflows."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import Conflict, NotFound
from .scoring.fold import FoldState
from .scoring.grades import Grade, cell
from .scoring.profiles import ENGAGEMENT, FIT
from .services import Services
from .storage.profiles import ActiveVersion

#: Most grades one installation may define.
MAX_GRADES = 50


def put_grade(services: Services, grade_id: str, name: str, fit_profile: str, engagement_profile: str) -> Grade:
    """Create or change a grade. Each profile must exist, be of its kind, and have bands (otherwise a 409 —
    the body is well-formed, the profiles are not in a state to be graded — names the field); the cells follow
    the profiles' live versions from then on."""
    errors: dict[str, str] = {}
    for field_name, profile_id, kind in (("fit_profile", fit_profile, FIT),
                                         ("engagement_profile", engagement_profile, ENGAGEMENT)):
        doc = services.profiles.get(profile_id)
        if doc is None:
            errors[field_name] = f"no profile {profile_id!r}"
        elif (doc["draft"].get("kind") or ENGAGEMENT) != kind:
            errors[field_name] = f"profile {profile_id!r} is not a {kind} profile"
        elif not doc["draft"].get("bands"):
            errors[field_name] = f"profile {profile_id!r} has no bands: a grade reads its levels from the bands"
    if errors:
        raise Conflict("These profiles cannot make a grade; see errors.", errors)
    existing = services.grades.all()
    if grade_id not in existing and len(existing) >= MAX_GRADES:
        raise Conflict(f"At most {MAX_GRADES} grades.")
    grade = Grade(grade_id, name, fit_profile, engagement_profile)
    services.grades.put(grade)
    return grade


def get_grade(services: Services, grade_id: str) -> Grade:
    grade = services.grades.get(grade_id)
    if grade is None:
        raise NotFound(f"No grade {grade_id!r}.")
    return grade


def delete_grade(services: Services, grade_id: str, workflow_triggers: Mapping[str, str]) -> None:
    """Delete a grade unless a workflow triggers on it (``workflow_triggers``: workflow id -> grade id)."""
    get_grade(services, grade_id)
    users = sorted(wid for wid, gid in workflow_triggers.items() if gid == grade_id)
    if users:
        raise Conflict(f"Grade {grade_id!r} starts workflow {users[0]!r}: change its trigger first.")
    services.grades.delete(grade_id)


def contact_grades(grades: Mapping[str, Grade], live: Mapping[str, ActiveVersion],
                   states: Mapping[str, FoldState]) -> dict[str, str]:
    """A contact's cell in each grade whose two profiles are published and score it (others are left out)."""
    out: dict[str, str] = {}
    for gid, grade in grades.items():
        fit, engagement = live.get(grade.fit_profile), live.get(grade.engagement_profile)
        if fit is None or engagement is None:
            continue
        fit_state, engagement_state = states.get(fit.field), states.get(engagement.field)
        found = cell(fit.profile, engagement.profile, fit_state.score if fit_state else None,
                     engagement_state.score if engagement_state else None)
        if found is not None:
            out[gid] = found
    return out


def render_grade(grade: Grade) -> dict[str, Any]:
    return grade.to_dict()
