"""Score profiles: drafts, publish (recompute then switch), unpublish, preview; and jobs."""
from __future__ import annotations

from typing import Any

from flask import request

from ..errors import NotFound, ValidationError
from ..preview import preview_draft
from ..storage.profiles import ProfileStore
from ..publish import get_job, publish_draft
from ..publish import unpublish as unpublish_profile
from ..services import Services, get_services
from .common import v1_blueprint
from .schemas import (
    ItemsSchema,
    JobEnvelope,
    JobSchema,
    PreviewSchema,
    ProfileDraftSchema,
    ProfileSchema,
    PublishSchema,
    is_valid_id,
)

bp = v1_blueprint("profiles", __name__, "Score profiles and their rules")


def render_profile(doc: dict[str, Any]) -> dict[str, Any]:
    draft = doc["draft"]
    return {"id": doc["id"], "name": draft["name"], "description": draft.get("description", ""),
            "status": "published" if doc.get("live_version") else "draft",
            "version": doc.get("live_version"), "building_version": doc.get("building_version"),
            "draft_changed": doc.get("published_draft") != draft,
            "rules": draft.get("rules", []), "bands": draft.get("bands", [])}


def profiles_of(services: Services) -> ProfileStore:
    return services.profiles


def load_profile(services: Services, profile_id: str) -> dict[str, Any]:
    return profiles_of(services).require(profile_id)


@bp.route("/profiles", methods=["GET"])
@bp.alt_response(200, schema=ItemsSchema, description="Every profile")
def list_profiles():
    """Every profile, draft or published."""
    docs = profiles_of(get_services()).all()
    return {"items": [render_profile(d) for _, d in sorted(docs.items())]}


@bp.route("/profiles/<profile_id>", methods=["GET"])
@bp.response(200, ProfileSchema)
def get_profile(profile_id: str):
    return render_profile(load_profile(get_services(), profile_id))


@bp.route("/profiles/<profile_id>", methods=["PUT"])
@bp.arguments(ProfileDraftSchema)
@bp.response(200, ProfileSchema)
def put_profile(draft: dict, profile_id: str):
    """Create the profile or replace its draft. Live scores change only when it is published."""
    if not is_valid_id(profile_id):
        raise ValidationError("Invalid profile id.", {"id": "letters, digits, '_', '.', '-' (at most 64)"})
    doc = profiles_of(get_services()).put_draft({"id": profile_id, **draft})
    return render_profile(doc)


@bp.route("/profiles/<profile_id>", methods=["DELETE"])
@bp.response(204)
def delete_profile(profile_id: str):
    """Delete the profile; its scores are emptied."""
    services = get_services()
    doc = load_profile(services, profile_id)
    profiles_of(services).delete(profile_id)
    for key in ("live_version", "building_version"):
        if doc.get(key):
            services.jobs.enqueue("workers.jobs.retire_version", profile_id, doc[key], result_ttl=0)
    return None


@bp.route("/profiles/<profile_id>/publish", methods=["POST"])
@bp.response(202, JobEnvelope)
def publish(profile_id: str):
    """Make the draft live: every contact is recomputed from history, then all switch at once."""
    body = request.get_json(silent=True) if request.data else {}
    options = PublishSchema().load(body or {})
    return {"job": publish_draft(get_services(), profile_id, fire_triggers=options["fire_triggers"])}


@bp.route("/profiles/<profile_id>/unpublish", methods=["POST"])
@bp.alt_response(200, schema=ProfileSchema, description="The profile, no longer scoring")
def unpublish(profile_id: str):
    """Stop scoring with this profile; its scores are emptied."""
    return render_profile(unpublish_profile(get_services(), profile_id))


@bp.route("/profiles/<profile_id>/preview", methods=["POST"])
@bp.alt_response(200, schema=PreviewSchema, description="What the draft would score")
def preview(profile_id: str):
    """The score distribution the draft would give, without touching live scores."""
    services = get_services()
    doc = load_profile(services, profile_id)
    return preview_draft(services, doc)


@bp.route("/jobs/<job_id>", methods=["GET"])
@bp.response(200, JobSchema)
def job_status(job_id: str):
    """Progress of a long job (publish): queued, running, finished or failed."""
    job = get_job(get_services(), job_id)
    if job is None:
        raise NotFound(f"No job {job_id!r}.")
    return job
