"""Score profiles: drafts, publish (recompute then switch), unpublish, preview; and jobs."""
from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import ValidationError as SchemaError

from ..auth import request_actor
from ..errors import NotFound, ValidationError
from ..membership import check_profile_lists
from ..preview import preview_draft
from ..publish import delete_profile as delete_profile_and_versions
from ..publish import get_job, publish_draft, roll_back
from ..publish import unpublish as unpublish_profile
from ..scoring.profiles import ENGAGEMENT
from ..services import Services, get_services
from ..storage.profiles import ProfileStore
from ..versions import history, version_detail
from .common import v1_blueprint
from .schemas import (
    ItemsSchema,
    JobEnvelope,
    JobSchema,
    PreviewSchema,
    ProfileDraftSchema,
    ProfileSchema,
    PublishSchema,
    RollbackSchema,
    VersionArgsSchema,
    VersionDetailSchema,
    VersionListSchema,
    is_valid_id,
)

bp = v1_blueprint("profiles", __name__, "Score profiles and their rules")


def render_profile(doc: dict[str, Any]) -> dict[str, Any]:
    draft = doc["draft"]
    return {"id": doc["id"], "name": draft["name"], "description": draft.get("description", ""),
            "kind": draft.get("kind") or ENGAGEMENT,
            "status": "published" if doc.get("live_version") else "draft",
            "version": doc.get("live_version"), "building_version": doc.get("building_version"),
            "draft_changed": doc.get("published_draft") != draft,
            "rules": draft.get("rules", []), "bands": draft.get("bands", []),
            **{k: draft[k] for k in ("groups", "max_score", "include", "exclude", "company_rollup") if k in draft}}


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


@bp.route("/profiles/<slug:profile_id>", methods=["GET"])
@bp.response(200, ProfileSchema)
def get_profile(profile_id: str):
    return render_profile(load_profile(get_services(), profile_id))


@bp.route("/profiles/<slug:profile_id>", methods=["PUT"])
@bp.arguments(ProfileDraftSchema)
@bp.response(200, ProfileSchema)
def put_profile(draft: dict, profile_id: str):
    """Create the profile or replace its draft. Live scores change only when it is published."""
    if not is_valid_id(profile_id):
        raise ValidationError("Invalid profile id.", {"id": "letters, digits, '_', '.', '-' (at most 64)"})
    services = get_services()
    check_profile_lists(services.smart_lists, draft)
    doc = profiles_of(services).put_draft({"id": profile_id, **draft})
    return render_profile(doc)


@bp.route("/profiles/<slug:profile_id>", methods=["DELETE"])
@bp.response(204)
def delete_profile(profile_id: str):
    """Delete the profile with its versions; its scores are emptied."""
    delete_profile_and_versions(get_services(), profile_id, actor=request_actor())


@bp.route("/profiles/<slug:profile_id>/publish", methods=["POST"])
@bp.response(202, JobEnvelope)
def publish(profile_id: str):
    """Make the draft live: every contact is recomputed from history, then all switch at once."""
    body = request.get_json() if request.data else {}  # the door has parsed and checked it
    try:
        options = PublishSchema().load(body)
    except SchemaError as exc:  # not an object, an unknown field, a non-boolean
        raise ValidationError("The request is invalid; see errors.", exc.messages) from exc
    return {"job": publish_draft(get_services(), profile_id, fire_triggers=options["fire_triggers"],
                                 actor=request_actor())}


@bp.route("/profiles/<slug:profile_id>/versions", methods=["GET"])
@bp.response(200, VersionListSchema)
def list_versions(profile_id: str):
    """Every published version, newest first: who published it and when, publish or rollback, what it did
    to the scores (``summary``) and what changed from the version before, in words (``changes``)."""
    return {"items": history(get_services(), profile_id)}


@bp.route("/profiles/<slug:profile_id>/versions/<int:version>", methods=["GET"])
@bp.arguments(VersionArgsSchema, location="query")
@bp.response(200, VersionDetailSchema)
def get_version(args: dict, profile_id: str, version: int):
    """One version with its definition, and its changes from ``against`` (default: the version before)."""
    return version_detail(get_services(), profile_id, version, args.get("against"))


@bp.route("/profiles/<slug:profile_id>/rollback", methods=["POST"])
@bp.arguments(RollbackSchema)
@bp.response(202, JobEnvelope)
def rollback(body: dict, profile_id: str):
    """Publish an earlier version's rules again, as a new version: every contact is recomputed, then all
    switch at once, and the summary is kept like any publish's. The draft becomes those rules too.
    409 when that version's rules are the live ones already."""
    return {"job": roll_back(get_services(), profile_id, body["version"], actor=request_actor())}


@bp.route("/profiles/<slug:profile_id>/unpublish", methods=["POST"])
@bp.alt_response(200, schema=ProfileSchema, description="The profile, no longer scoring")
def unpublish(profile_id: str):
    """Stop scoring with this profile; its scores are emptied."""
    return render_profile(unpublish_profile(get_services(), profile_id, actor=request_actor()))


@bp.route("/profiles/<slug:profile_id>/preview", methods=["POST"])
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
