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
from .clock import now_ms
from .scoring_service import collector_paused, make_scorer
from .errors import Conflict, NotFound
from .retention import job_record_ttl_seconds
from .scoring.events import ScoreChanged
from .scoring.profiles import parse_version_field, version_field
from .scoring.summary import summarize
from .services import Services
from .storage.profiles import ActiveVersion, ProfileStore, VersionRecord

log = logging.getLogger(__name__)

#: Contacts recomputed per round trip during a publish.
PUBLISH_PAGE = 500
#: The ``migrations`` entry of ``deleted_versions_once``.
DELETED_VERSIONS = "deleted-profiles-recorded"
#: Runs of a publish job, or of one of its parts, that may start at the same place (no page done between them) before
#: the publish fails: RQ's first try and its retries (app/jobs.py), each raising or its worker dying.
PUBLISH_TRIES = 4


class PublishGaveUp(Exception):
    """A publish job or part started ``PUBLISH_TRIES`` times at one place without getting further: its worker died
    (or it ran past its time limit) each time."""


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
                  actor: str = SYSTEM_ACTOR, restore: int | None = None, split: bool = True) -> dict[str, Any]:
    """Freeze the draft (or, with ``restore``, the rules of that earlier version) as the next
    version, record who asked, and queue its recompute (``split=False``: in one job, the benchmark's baseline)."""
    profiles = services.profiles
    doc = profiles.require(profile_id)
    if doc.get("building_job") and not doc.get("building_version"):  # a publish's end that a crash cut short
        _settle_ended(services, doc, doc["building_job"])
        doc = profiles.require(profile_id)
    if doc.get("building_version") or doc.get("building_job"):
        raise Conflict(f"Profile {profile_id!r} is already being published (job {doc.get('building_job')}).")
    definition = profiles.definition(profile_id, restore) if restore else doc["draft"]
    version = int(doc.get("version_seq", 0)) + 1
    profiles.store_version(profile_id, version, definition)
    job_id = f"publish-{profile_id}-{version}-{uuid.uuid4().hex[:8]}"
    set_job(services, job_id, kind="rollback" if restore else "publish", status="queued", progress=0,
            profile=profile_id, version=version, fire_triggers=int(fire_triggers), split=int(split),
            moved_at=now_ms())
    profiles.record_version(profile_id, VersionRecord(
        version, actor, int(time.time() * 1000), kind="rollback" if restore else "publish", restored_from=restore,
        job=job_id))
    doc.update(version_seq=version, building_version=version, building_job=job_id)
    profiles.save(doc)
    services.enqueue.publish_profile(profile_id, version, job_id, fire_triggers, split)
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
    if version not in profiles.version_numbers(doc):
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
    """Delete the profile with its versions and their records; a job empties its scores. Its version numbers are
    never used again under its id (``ProfileStore.delete``): its states outlive it until that job has run."""
    profiles = services.profiles
    doc = profiles.require(profile_id)
    if doc.get("building_job") and not doc.get("building_version"):  # a failure's retirement a crash left unqueued
        _settle_ended(services, doc, doc["building_job"])
    profiles.delete(doc)
    profiles.forget_versions(doc)
    services.evaluations.forget(profile_id)
    for key in ("live_version", "building_version"):
        if doc.get(key):
            services.enqueue.retire_version(profile_id, doc[key])
    record(services, actor, "profile.delete", f"profile:{profile_id}")


def deleted_versions_once(services: Services) -> list[str] | None:
    """Record the last version numbers of the profiles that releases before this one deleted without keeping them
    (``deleted-profiles``), unless done; records itself (``DELETED_VERSIONS``). Read from what their retirements, if
    they never ran, left: the score indexes of a version (every key scanned, node by node) whose profile has no
    document now. A version that scored no contact left none, nor states to misread. Returns the ids recorded."""
    if services.jobs.migration_done(DELETED_VERSIONS):
        return None
    start = services.keys.score_indexes() + ":"
    last: dict[str, int] = {}
    for page in services.workspaces.scan_prefix(services.keys.score_indexes()):
        for key in page:
            try:
                profile_id, version = parse_version_field(key[len(start):].rpartition(":")[0])
            except ValueError:
                continue
            last[profile_id] = max(version, last.get(profile_id, 0))
    recorded = services.profiles.record_deleted(last)
    services.jobs.record_migration(DELETED_VERSIONS, now_ms())
    if recorded:
        log.info("last version numbers of profiles deleted before recorded", extra={"profiles": recorded})
    return recorded


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


def run_publish(services: Services, profile_id: str, version: int, job_id: str, fire_triggers: bool,
                split: bool = True, last_try: bool = True) -> None:
    """The publish job: split the recompute into one part per bucket of the contact registry and queue them
    (``publish_part`` jobs, which every worker takes a share of); the part that finishes last switches the
    version. With ``split=False`` every part runs here, one after another (in-process callers, and the
    benchmark's one-job baseline). A failure on its last try fails the publish, and so does a run that starts
    where ``PUBLISH_TRIES`` runs before it started (their worker died each time: ``_given_up``)."""
    try:
        if not _still_building(services, profile_id, version, job_id) or \
                _given_up(services, profile_id, version, job_id, "publish",
                          int(services.jobs.status_field(job_id, "done") or 0)):
            return
        parts = services.sharding.buckets
        services.jobs.start_parts(job_id, parts, status="running", total=services.contacts.contact_count())
        if split:
            if services.jobs.status_field(job_id, "parts_queued") is None:  # not yet (a run again after a crash)
                services.enqueue.publish_parts(profile_id, version, job_id, fire_triggers, parts)
                set_job(services, job_id, parts_queued=parts, moved_at=now_ms())
            return
    except Exception as exc:
        if last_try:
            _fail(services, profile_id, version, job_id, exc)
        raise
    for part in range(parts):
        run_publish_part(services, profile_id, version, job_id, part, fire_triggers, last_try)


def run_publish_part(services: Services, profile_id: str, version: int, job_id: str, part: int,
                     fire_triggers: bool, last_try: bool = True) -> None:
    """Recompute the contacts of one registry bucket for the version being built, a page at a time; each page
    moves the part's position and the job's ``done`` in one step, so a part run again after a crash resumes
    where it stopped and counts nothing twice. A part that fails on its last try fails the publish (the live
    version stays), and so does one that starts where ``PUBLISH_TRIES`` runs of it started (``_given_up``); a part
    of a publish that failed or was replaced stops. The part that finishes the last one switches the version
    (``_finish``)."""
    try:
        if not _still_building(services, profile_id, version, job_id):
            return
        position, finished = services.jobs.part_position(job_id, part)
        if _given_up(services, profile_id, version, job_id, str(part), position):
            return
        set_job(services, job_id, moved_at=now_ms())  # a part starting is progress (the watchdog's measure)
        if not finished:
            scorer = make_scorer(services)
            target = ActiveVersion(services.profiles.version(profile_id, version), version, live=False)
            while True:
                page = services.contacts.contact_page(part, position, PUBLISH_PAGE)
                if page:
                    with collector_paused():  # as a drain's batch: no cycles outlive the page
                        scorer.score({cid: [] for cid in page}, services.clock.now_ms(), versions=[target], full=True)
                    if not services.jobs.advance_part(job_id, part, position, position + len(page), now_ms()):
                        return  # another run of this part is ahead of this one (it was queued twice)
                    position += len(page)
                if len(page) < PUBLISH_PAGE:
                    break
                if not _still_building(services, profile_id, version, job_id):
                    return
        if services.jobs.finish_part(job_id, part, now_ms()):
            _finish(services, profile_id, version, job_id, fire_triggers)
    except Exception as exc:
        if last_try:
            _fail(services, profile_id, version, job_id, exc)
        raise


def watch_publishes(services: Services, now: int) -> list[dict[str, Any]]:
    """The publish watchdog (the ticker's duty): a publish that made no progress for ``PUBLISH_STALL_SECONDS``
    gets its lost jobs queued again. RQ 3 loses a job taken by a worker that dies before starting it (its id
    waits in the queue's intermediate list until two of RQ's maintenance passes, 10-20 minutes on, fail it), and
    retries one whose worker died while running it only once its execution lapsed and a maintenance pass ran
    (every 10 minutes). Lost is what RQ will not run by itself
    (``JobQueue.waiting``): each part not finished and neither waiting nor scheduled, or, before the parts were
    queued (and for a publish run as one job), the publish job itself; or, every part finished, the part that
    finished the last one (its ``_finish`` cut short). Running them again is safe: a part
    resumes at its position and counts nothing twice (``publish_part.lua``). A lost job that already started
    ``PUBLISH_TRIES`` times where it stands fails the publish instead (``_fail``). A publish whose end was cut short
    (its job's record says failed or finished, but the profile still names it) is ended: ``_settle_ended``.
    Returns what it queued again, one ``{"job", "parts"}`` per publish (``parts`` None: the publish job)."""
    stall_ms = int(float(services.settings["PUBLISH_STALL_SECONDS"]) * 1000)
    if stall_ms <= 0:
        return []
    requeued = []
    for doc in services.profiles.all().values():
        job_id, version = doc.get("building_job"), doc.get("building_version")
        if not job_id:
            continue
        raw = services.jobs.record(job_id)
        if now - int(raw.get("moved_at") or 0) < stall_ms:
            continue
        if raw.get("status") not in ("queued", "running"):
            _settle_ended(services, doc, job_id, raw)
            continue
        version = version or int(raw.get("version") or 0)  # or switched already: its finish was cut short
        parts = _lost_parts(services, job_id, raw)
        if parts == []:
            continue  # everything unfinished waits in the queue (the workers are busy): nothing is lost
        spent = _spent(raw, parts)
        if spent is not None:
            _fail(services, doc["id"], int(version), job_id, PublishGaveUp(
                f"{spent} started {PUBLISH_TRIES} times where it stands and never got further (its worker died, or "
                f"it ran past its time limit, each time)"))
            continue
        fire_triggers = raw.get("fire_triggers") == "1"
        if parts is None:
            services.jobs.forget_taken([job_id])
            services.enqueue.publish_profile(doc["id"], int(version), job_id, fire_triggers,
                                             raw.get("split", "1") == "1")
        else:
            services.jobs.forget_taken([part_job_id(job_id, p) for p in parts])
            services.enqueue.publish_parts(doc["id"], int(version), job_id, fire_triggers, parts)
        set_job(services, job_id, moved_at=now, requeued=int(raw.get("requeued") or 0) + 1, requeued_at=now,
                requeued_parts="publish" if parts is None else ",".join(map(str, parts)))
        log.warning("publish stalled: lost jobs queued again",
                    extra={"job": job_id, "parts": parts, "still_for_s": (now - int(raw.get("moved_at") or 0)) / 1000})
        requeued.append({"job": job_id, "parts": parts})
    return requeued


def _lost_parts(services: Services, job_id: str, raw: dict[str, str]) -> list[int] | None:
    """The parts of a stalled publish that RQ will not run by itself; None when the publish job itself is lost
    (its parts were never all queued) and [] when nothing is lost. Every part finished, the finisher is lost
    unless it waits: it ends the publish (``finish_part``: its run again does)."""
    if raw.get("split", "1") != "1" or not raw.get("parts_queued"):
        return [] if services.jobs.waiting([job_id]) else None
    unfinished = [p for p in range(int(raw["parts_queued"])) if not raw.get(f"finished:{p}")]
    if not unfinished and raw.get("finisher"):
        unfinished = [int(raw["finisher"])]
    waiting = services.jobs.waiting([part_job_id(job_id, p) for p in unfinished])
    return [p for p in unfinished if part_job_id(job_id, p) not in waiting]


def _spent(raw: dict[str, str], parts: list[int] | None) -> str | None:
    """Which of these lost jobs (None: the publish job) started ``PUBLISH_TRIES`` times where it stands, if any."""
    named = [("publish", "the publish job", raw.get("done"))] if parts is None else \
        [(str(p), f"part {p}", raw.get(f"part:{p}")) for p in parts]
    for name, said, position in named:
        if raw.get(f"tried:{name}") == str(int(position or 0)) and int(raw.get(f"tries:{name}") or 0) >= PUBLISH_TRIES:
            return said
    return None


def _given_up(services: Services, profile_id: str, version: int, job_id: str, name: str, position: int) -> bool:
    """Count this run of the publish job or of a part (``name``) at ``position``; past ``PUBLISH_TRIES`` runs
    started there, fail the publish and say so (True): the runs before died there."""
    tries = services.jobs.count_try(job_id, name, position)
    if tries <= PUBLISH_TRIES:
        return False
    said = "the publish job" if name == "publish" else f"part {name}"
    _fail(services, profile_id, version, job_id, PublishGaveUp(
        f"{said} started {tries - 1} times where it stands and never got further (its worker died, or it ran past "
        f"its time limit, each time)"))
    return True


def part_job_id(job_id: str, part: int) -> str:
    """The RQ job id of one part of a publish (app/jobs.py queues it under this id)."""
    return f"{job_id}-part-{part}"


def _still_building(services: Services, profile_id: str, version: int, job_id: str) -> bool:
    """Whether the publish goes on: its job neither failed nor finished, and the profile still names the version
    (building, or live after a switch whose run stopped before its end). A profile deleted meanwhile (its
    retirement queued) fails the job here, its version record not written again."""
    job = services.jobs.status(job_id)
    if job is None or job["status"] in ("failed", "finished"):
        return False
    doc = services.profiles.get(profile_id)
    if doc is None or version not in (doc.get("building_version"), doc.get("live_version")):
        set_job(services, job_id, status="failed", error="Conflict: the profile was deleted or re-published while "
                                                         "this version was built")
        return False
    return True


def _finish(services: Services, profile_id: str, version: int, job_id: str, fire_triggers: bool) -> None:
    """Switch to the new version at once (one write of the profile document), then fire the triggers (if asked)
    and queue the retirement of the version it replaced (``retire_version``). Run again after a crash, it goes on from where the first run stopped:
    the switch is not repeated, and the triggers' runs are keyed by their change id (a repeat starts none)."""
    profiles = services.profiles
    if services.jobs.status_field(job_id, "status") == "failed":
        return  # failed meanwhile (another run of a part, or the watchdog): ``_fail`` ends it
    doc = profiles.get(profile_id)
    if doc is not None and doc.get("building_version") == version:
        previous = doc.get("live_version")
        set_job(services, job_id, previous=previous or "")
        old_scores = _live_scores(services, profile_id, previous)
        summary = summarize(old_scores, _live_scores(services, profile_id, version),
                            profiles.version(profile_id, previous) if previous else None,
                            profiles.version(profile_id, version))
        live_at = int(time.time() * 1000)
        # building_job stays until the end: the watchdog finds a finish cut short after the switch by it
        doc.update(live_version=version, building_version=None, published_at=live_at)
        profiles.save(doc)
        _update_record(profiles, profile_id, version, live_at=live_at, summary=summary)
    elif doc is not None and doc.get("live_version") == version:
        previous = int(services.jobs.status_field(job_id, "previous") or 0) or None  # switched by an earlier try
        old_scores = _live_scores(services, profile_id, previous)
    else:
        raise Conflict("the profile was deleted or re-published while this version was built")
    if fire_triggers:
        _fire_publish_triggers(services, profile_id, version, old_scores, job_id)
    if previous:  # a job of its own: the publish is done at the switch, not after a pass over every contact
        services.enqueue.retire_version(profile_id, previous, once=retirement_job_id(job_id))
    set_job(services, job_id, status="finished", progress=1.0)
    _let_go(services, profile_id, job_id)


def _fail(services: Services, profile_id: str, version: int, job_id: str, exc: Exception) -> None:
    """The publish failed: say so in its job and version record; the live version stays live. What the version had
    built (its parts' and the drains' states, its score index) goes with the retirement a replaced version gets,
    queued once the profile no longer names it: a part still running writes nothing of it from then on
    (``Scorer._versions``), and a write already under way loses its race to the retirement (``drop_version.lua``).
    A version that went live before the failure (its triggers failed after the switch) is not retired: the version
    it replaced is. The job's record says "failed" first; a worker dying at any later step leaves the rest to the
    watchdog (``_settle_ended``), which does each step again, the retirement once (``retirement_job_id``)."""
    set_job(services, job_id, status="failed", error=f"{type(exc).__name__}: {exc}", moved_at=now_ms())
    _end_failed(services, profile_id, version, job_id, f"{type(exc).__name__}: {exc}")


def _end_failed(services: Services, profile_id: str, version: int, job_id: str, error: str) -> None:
    """A failed publish's steps after its job's record: the version's record; the profile building nothing, but still
    naming the job (``building_job``) until the retirement is queued; that retirement; the job let go."""
    profiles = services.profiles
    _update_record(profiles, profile_id, version, error=error)
    doc = profiles.get(profile_id)
    if doc is None or doc.get("building_job") != job_id:
        return
    if doc.get("building_version") == version:
        doc.update(building_version=None)
        profiles.save(doc)
    if doc.get("live_version") != version:
        services.enqueue.retire_version(profile_id, version, once=retirement_job_id(job_id))
    elif previous := int(services.jobs.status_field(job_id, "previous") or 0):  # switched: the replaced one goes
        services.enqueue.retire_version(profile_id, previous, once=retirement_job_id(job_id))
    _let_go(services, profile_id, job_id)


def _settle_ended(services: Services, doc: dict[str, Any], job_id: str, raw: dict[str, str] | None = None) -> None:
    """End a publish that its profile still names (``building_job``) though its job's record says it ended: a worker
    died in ``_fail`` (the failure's steps again) or at the end of ``_finish`` (the job let go). A record gone with
    the profile building nothing lets the job go too."""
    raw = services.jobs.record(job_id) if raw is None else raw
    version = int(raw.get("version") or doc.get("building_version") or 0)
    if raw.get("status") == "failed" and version:
        _end_failed(services, doc["id"], version, job_id, raw.get("error") or "")
    elif raw.get("status") == "finished" or (not raw and not doc.get("building_version")):
        _let_go(services, doc["id"], job_id)


def _let_go(services: Services, profile_id: str, job_id: str) -> None:
    """The profile no longer names the job (a publish is over: its version live or retired), unless it builds."""
    doc = services.profiles.get(profile_id)
    if doc is not None and doc.get("building_job") == job_id and not doc.get("building_version"):
        doc.update(building_job=None)
        services.profiles.save(doc)


def retirement_job_id(job_id: str) -> str:
    """The RQ job id of the retirement a publish queues (its failed version's, or the one it replaced): queued again
    after a crash, it runs once (``JobPort.retire_version``)."""
    return f"{job_id}-retire"


def _update_record(profiles: ProfileStore, profile_id: str, version: int, **changes: Any) -> None:
    """Add the outcome to a version's record (one published before records were kept gets one)."""
    record = profiles.version_record(profile_id, version) or VersionRecord(version, "unknown", 0)
    profiles.record_version(profile_id, replace(record, **changes))


def _live_scores(services: Services, profile_id: str, version: int | None) -> dict[str, int]:
    return services.scores.scores_of(profile_id, version) if version else {}


def _fire_publish_triggers(services: Services, profile_id: str, version: int, old: dict[str, int],
                           job_id: str) -> None:
    """Score events for every contact whose score the new version changed (asked for explicitly); each thousand
    handled is progress (the watchdog's measure: a finish still firing is not queued again)."""
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
        set_job(services, job_id, moved_at=now_ms())


def retire(services: Services, profile_id: str, version: int) -> None:
    """Drop a version's states, ledgers and index (after a switch, unpublish or delete)."""
    for page in services.contacts.contact_pages(PUBLISH_PAGE):
        services.timelines.drop_version(page, profile_id, version)
    services.scores.drop_score_index(profile_id, version)
    services.companies.drop_version(profile_id, version)
