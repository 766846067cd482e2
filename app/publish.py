"""Publishing a profile: recompute every contact for the new version, then switch at once.

While the recompute runs, the new version is "building": live interactions are scored
into it as well as into the live version, so nothing that arrives meanwhile is missed.
Readers keep seeing the live version until the switch, which is one write.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import replace
from typing import Any

from .audit import record
from .scoring_service import make_scorer
from .errors import Conflict, NotFound
from .retention import job_record_ttl_seconds
from .scoring.events import ScoreChanged
from .scoring.profiles import version_field
from .scoring.summary import summarize
from .services import Services
from .storage.profiles import ActiveVersion, ProfileStore, VersionRecord

log = logging.getLogger(__name__)

#: Contacts recomputed per round trip during a publish.
PUBLISH_PAGE = 500


def set_job(services: Services, job_id: str, **fields: Any) -> None:
    """Update a job's record; once it finished or failed, it expires after JOBS_RETENTION_DAYS."""
    done = fields.get("status") in ("finished", "failed")
    services.jobs.set_status(job_id, expire_seconds=job_record_ttl_seconds(services.settings) if done else None,
                             **fields)


def get_job(services: Services, job_id: str) -> dict[str, Any] | None:
    """Status and progress of a publish job, or None."""
    return services.jobs.status(job_id)


#: Who made a change when no person or key did (the CLI, benchmarks): see the actor strings.
SYSTEM_ACTOR = "system"


def start_publish(services: Services, profile_id: str, fire_triggers: bool = False, *,
                  actor: str = SYSTEM_ACTOR, restore: int | None = None) -> dict[str, Any]:
    """Freeze the draft (or, with ``restore``, the rules of that earlier version) as the next
    version, record who asked, and queue its recompute."""
    profiles = services.profiles
    doc = profiles.require(profile_id)
    if doc.get("building_version"):
        raise Conflict(f"Profile {profile_id!r} is already being published (job {doc.get('building_job')}).")
    definition = profiles.definition(profile_id, restore) if restore else doc["draft"]
    version = int(doc.get("version_seq", 0)) + 1
    profiles.store_version(profile_id, version, definition)
    job_id = f"publish-{profile_id}-{version}-{uuid.uuid4().hex[:8]}"
    set_job(services, job_id, kind="rollback" if restore else "publish", status="queued", progress=0,
            profile=profile_id, version=version)
    profiles.record_version(profile_id, VersionRecord(
        version, actor, int(time.time() * 1000), kind="rollback" if restore else "publish", restored_from=restore,
        job=job_id))
    doc.update(version_seq=version, building_version=version, building_job=job_id)
    profiles.save(doc)
    services.enqueue.publish_profile(profile_id, version, job_id, fire_triggers)
    return get_job(services, job_id)


def publish_draft(services: Services, profile_id: str, fire_triggers: bool = False, *,
                  actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """Publish the current draft; remembers which draft went live (``draft_changed`` compares)."""
    job = start_publish(services, profile_id, fire_triggers=fire_triggers, actor=actor)
    profiles = services.profiles
    doc = profiles.get(profile_id)
    doc["published_draft"] = doc["draft"]
    profiles.save(doc)
    record(services, actor, "profile.publish", f"profile:{profile_id}", version=job["version"])
    return job


def roll_back(services: Services, profile_id: str, version: int, *, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """Publish the rules of an earlier version again, as a new version recomputed like any publish.

    The draft becomes those rules too, so a later publish does not silently undo the rollback
    (the dashboard warns first when the draft had unpublished changes).
    """
    profiles = services.profiles
    doc = profiles.require(profile_id)
    if not 1 <= version <= int(doc.get("version_seq", 0)):
        raise NotFound(f"Profile {profile_id!r} has no version {version}.")
    if doc.get("live_version") and profiles.definition(profile_id, doc["live_version"]) == \
            profiles.definition(profile_id, version):
        raise Conflict(f"Version {version} has the same rules as the live version {doc['live_version']}: "
                       "nothing to roll back.", {"version": "already live"})
    job = start_publish(services, profile_id, actor=actor, restore=version)
    doc = profiles.require(profile_id)
    doc["draft"] = doc["published_draft"] = profiles.definition(profile_id, version)
    profiles.save(doc)
    record(services, actor, "profile.rollback", f"profile:{profile_id}", version=job["version"], restored=version)
    return job


def delete_profile(services: Services, profile_id: str, *, actor: str = SYSTEM_ACTOR) -> None:
    """Delete the profile with its versions and their records; a job empties its scores."""
    profiles = services.profiles
    doc = profiles.require(profile_id)
    profiles.delete(profile_id)
    profiles.forget_versions(profile_id, int(doc.get("version_seq", 0)))
    services.evaluations.forget(profile_id)
    for key in ("live_version", "building_version"):
        if doc.get(key):
            services.enqueue.retire_version(profile_id, doc[key])
    record(services, actor, "profile.delete", f"profile:{profile_id}")


def unpublish(services: Services, profile_id: str, *, actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """Stop scoring with the profile; a job empties its scores."""
    profiles = services.profiles
    doc = profiles.require(profile_id)
    previous = doc.get("live_version")
    doc.update(live_version=None, unpublished_at=int(time.time() * 1000))
    profiles.save(doc)
    if previous:
        services.enqueue.retire_version(profile_id, previous)
    record(services, actor, "profile.unpublish", f"profile:{profile_id}", version=previous)
    return doc


def run_publish(services: Services, profile_id: str, version: int, job_id: str, fire_triggers: bool) -> None:
    profiles = services.profiles
    scorer = make_scorer(services)
    target = ActiveVersion(profiles.version(profile_id, version), version, live=False)
    total = services.contacts.contact_count()
    set_job(services, job_id, status="running", total=total, done=0, progress=0)
    try:
        start = 0
        for page in services.contacts.contact_pages(PUBLISH_PAGE):
            scorer.score({cid: [] for cid in page}, services.clock.now_ms(), versions=[target], full=True)
            start += len(page)
            set_job(services, job_id, done=start, progress=round(min(start / max(total, 1), 1.0), 4))
        doc = profiles.get(profile_id)
        if doc is None or doc.get("building_version") != version:
            raise Conflict("the profile was deleted or re-published while this version was built")
        previous = doc.get("live_version")
        old_scores = _live_scores(services, profile_id, previous)
        summary = summarize(old_scores, _live_scores(services, profile_id, version),
                            profiles.version(profile_id, previous) if previous else None, target.profile)
        live_at = int(time.time() * 1000)
        doc.update(live_version=version, building_version=None, building_job=None, published_at=live_at)
        profiles.save(doc)
        _update_record(profiles, profile_id, version, live_at=live_at, summary=summary)
        if fire_triggers:
            _fire_publish_triggers(services, profile_id, version, old_scores)
        if previous:
            retire(services, profile_id, previous)
        set_job(services, job_id, status="finished", progress=1.0, done=start)
    except Exception as exc:
        set_job(services, job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        _update_record(profiles, profile_id, version, error=f"{type(exc).__name__}: {exc}")
        doc = profiles.get(profile_id)
        if doc and doc.get("building_version") == version:
            doc.update(building_version=None, building_job=None)
            profiles.save(doc)
        raise


def _update_record(profiles: ProfileStore, profile_id: str, version: int, **changes: Any) -> None:
    """Add the outcome to a version's record (one published before records were kept gets one)."""
    record = profiles.version_record(profile_id, version) or VersionRecord(version, "unknown", 0)
    profiles.record_version(profile_id, replace(record, **changes))


def _live_scores(services: Services, profile_id: str, version: int | None) -> dict[str, int]:
    return services.scores.scores_of(profile_id, version) if version else {}


def _fire_publish_triggers(services: Services, profile_id: str, version: int, old: dict[str, int]) -> None:
    """Score events for every contact whose score the new version changed (asked for explicitly)."""
    new = _live_scores(services, profile_id, version)
    events = []
    for cid in set(old) | set(new):
        if old.get(cid) != new.get(cid):
            events.append(ScoreChanged(contact_id=cid, profile=profile_id, version=version, old=old.get(cid),
                                       new=new.get(cid), at=services.clock.now_ms(),
                                       change_id=f"publish:{version_field(profile_id, version)}:{cid}",
                                       cause={"reason": "publish"}))
    for i in range(0, len(events), 1000):
        services.events.handle(events[i:i + 1000])


def retire(services: Services, profile_id: str, version: int) -> None:
    """Drop a version's states, ledgers and index (after a switch, unpublish or delete)."""
    for page in services.contacts.contact_pages(PUBLISH_PAGE):
        services.timelines.drop_version(page, profile_id, version)
    services.scores.drop_score_index(profile_id, version)
    services.companies.drop_version(profile_id, version)
