"""Evaluating a profile: does its score predict conversion? Started by a request, run as a job.

``start_evaluation`` checks the request against the profile, freezes what is judged (the live
version's number, the draft's definition as it is now), stores the evaluation's record and queues
``app.jobs.evaluate_profile``; ``run_evaluation`` (the job) reads every contact's timeline once, a
page at a time, feeds it to one tally per judged definition (``app/scoring/evaluation.py`` holds
the method) and stores the reports, updating the job's progress as it goes. ``GET /v1/jobs/<id>``
shows the progress; the evaluation's record shows the reports.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from typing import Any

from .errors import Conflict, NotFound
from .horizon import whole_timelines
from .scoring.kept_properties import reads_of
from .publish import SYSTEM_ACTOR, get_job, set_job
from .retention import job_record_ttl_seconds
from .scoring.evaluation import CONVERTED_BEFORE, NO_HISTORY, DEFAULT_OUTCOME, Period, Tally, add_contact
from .scoring.profiles import Profile, profile_from_dict
from .services import Services

log = logging.getLogger(__name__)

#: Contacts whose timelines are read per round trip.
EVALUATION_PAGE = 500
#: What an evaluation can judge: the live version, the draft, or both side by side (a backtest).
JUDGED = ("live", "draft")
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class EvaluationRequest:
    """``start`` (epoch ms) and ``days``: the period is ``[start, start + days)``, its outcome type, and which
    definitions to judge (empty: the live version when there is one, else the draft)."""

    start: int
    days: int
    outcome: str = DEFAULT_OUTCOME
    of: tuple[str, ...] = ()

    @property
    def end(self) -> int:
        return self.start + self.days * DAY_MS


def start_evaluation(services: Services, profile_id: str, request: EvaluationRequest, *,
                     actor: str = SYSTEM_ACTOR) -> dict[str, Any]:
    """Freeze what is judged and queue the job; returns the evaluation's record (without reports yet).

    409 when the live version is asked for and the profile has none.
    """
    doc = services.profiles.require(profile_id)
    live = doc.get("live_version")
    of = request.of or (("live",) if live else ("draft",))
    if "live" in of and not live:
        raise Conflict(f"Profile {profile_id!r} has no live version to evaluate; evaluate its draft.",
                       {"of": ["the profile is not published"]})
    now = services.clock.now_ms()
    job_id = f"evaluate-{profile_id}-{uuid.uuid4().hex[:12]}"
    judged = [{"of": name, "version": live if name == "live" else None,
               "definition": doc["draft"] if name == "draft" else None} for name in JUDGED if name in of]
    record = {"id": job_id, "profile": profile_id, "actor": actor, "requested_at": now,
              "from": request.start, "to": request.end, "days": request.days, "outcome": request.outcome,
              "observed_until": min(request.end, now), "judged": judged, "reports": None}
    set_job(services, job_id, kind="evaluation", status="queued", progress=0, profile=profile_id,
            **({"version": live} if live and "live" in of else {}))
    services.evaluations.create(profile_id, job_id, record)
    services.enqueue.evaluate_profile(job_id)
    return record


def evaluation_of(services: Services, profile_id: str, job_id: str) -> dict[str, Any]:
    """An evaluation of this profile with its job's status (404 when unknown, expired or another profile's)."""
    record = services.evaluations.get(job_id)
    if record is None or record.get("profile") != profile_id:
        raise NotFound(f"Profile {profile_id!r} has no evaluation {job_id!r}.")
    return with_status(services, record)


def recent_evaluations(services: Services, profile_id: str) -> list[dict[str, Any]]:
    services.profiles.require(profile_id)
    return [with_status(services, record) for record in services.evaluations.recent(profile_id)]


def with_status(services: Services, record: dict[str, Any]) -> dict[str, Any]:
    job = get_job(services, record["id"]) or {}
    return {**record, "status": job.get("status") or ("finished" if record.get("reports") is not None else "unknown"),
            "progress": job.get("progress", 1.0 if record.get("reports") is not None else 0.0),
            "error": job.get("error")}


def judged_profiles(services: Services, record: dict[str, Any]) -> dict[str, Profile]:
    """The definitions an evaluation judges, by ``live``/``draft``."""
    profile_id = record["profile"]
    out: dict[str, Profile] = {}
    for item in record["judged"]:
        if item["of"] == "live":
            out["live"] = services.profiles.version(profile_id, item["version"])
        else:
            out["draft"] = profile_from_dict({"id": profile_id, **item["definition"]})
    return out


def run_evaluation(services: Services, job_id: str) -> None:
    """The job: every contact's timeline, once, into one tally per judged definition; then the reports."""
    record = services.evaluations.get(job_id)
    if record is None:
        raise NotFound(f"No evaluation {job_id!r}.")
    total = services.contacts.contact_count()
    set_job(services, job_id, status="running", total=total, done=0, progress=0)
    try:
        period = Period(record["from"], record["observed_until"], record["outcome"])
        judged = judged_profiles(services, record)
        tallies = {name: Tally(profile) for name, profile in judged.items()}
        reads = reads_of(judged.values())  # what the judged rules read: a copy in Redis without it is read whole
        excluded = {CONVERTED_BEFORE: 0, NO_HISTORY: 0}
        done = 0
        for page in services.contacts.contact_pages(EVALUATION_PAGE):
            timelines = whole_timelines(services, page, reads)  # with what left Redis (the hot horizon)
            for contact_id in page:
                add_contact(tallies, excluded, timelines[contact_id], period)
            done += len(page)
            set_job(services, job_id, done=done, progress=round(min(done / max(total, 1), 1.0), 4))
        record["reports"] = [{"of": item["of"], "version": item["version"], **tallies[item["of"]].report(excluded)
                              .to_json()} for item in record["judged"]]
        services.evaluations.save(job_id, record, job_record_ttl_seconds(services.settings))
        set_job(services, job_id, status="finished", progress=1.0, done=done)
    except Exception as exc:
        log.exception("evaluation failed", extra={"job": job_id})
        set_job(services, job_id, status="failed", error=f"{type(exc).__name__}: {exc}")
        services.evaluations.save(job_id, record, job_record_ttl_seconds(services.settings))  # goes with its job
        raise


def _judged_rules(services: Services, record: dict[str, Any], of: str) -> list[dict[str, Any]]:
    """The rules of the definition an evaluation judged as ``of`` (the frozen draft, or the live version's)."""
    for item in record["judged"]:
        if item["of"] == of:
            definition = item["definition"] if of == "draft" else \
                services.profiles.definition(record["profile"], item["version"])
            return list(definition.get("rules", []))
    raise NotFound(f"Evaluation {record['id']!r} did not judge the {of}.")


def apply_suggestion(services: Services, profile_id: str, job_id: str, of: str, rule_id: str) -> tuple[int, int]:
    """Put one rule's suggested points (from the report of ``of``) into the draft; never publishes.

    Refused (409) when there is no suggestion, or the draft's rule is not the rule that was judged
    (removed, or its conditions changed since): points suggested for other conditions would mislead.
    Returns (points before, points after).
    """
    record = evaluation_of(services, profile_id, job_id)
    report = next((r for r in record.get("reports") or [] if r["of"] == of), None)
    row = next((r for r in (report or {}).get("rules", []) if r["rule_id"] == rule_id), None)
    if row is None:
        raise NotFound(f"Evaluation {job_id!r} has no {of} report for rule {rule_id!r}.")
    points = row["suggestion"]["points"]
    if points is None:
        raise Conflict(f"There is no suggestion for rule {rule_id!r}: {row['suggestion']['reason']}.")
    judged = next((r for r in _judged_rules(services, record, of) if r["id"] == rule_id), None)
    doc = services.profiles.require(profile_id)
    rules = doc["draft"].get("rules", [])
    index = next((i for i, r in enumerate(rules) if r["id"] == rule_id), None)
    if index is None or judged is None or _without_points(rules[index]) != _without_points(judged):
        raise Conflict(f"Rule {rule_id!r} of the draft is not the rule this evaluation judged (it was removed or "
                       "changed since); evaluate again.")
    before = int(rules[index]["points"])
    draft = {**doc["draft"], "rules": [*rules[:index], {**rules[index], "points": points}, *rules[index + 1:]]}
    services.profiles.put_draft(draft)
    return before, points


def _without_points(rule: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in rule.items() if key != "points"}


def latest_suggestion(services: Services, profile_id: str, rule_id: str) -> dict[str, Any] | None:
    """The newest finished evaluation's suggestion for one rule, with its evidence, for hints elsewhere (the rule
    builder): ``{"evaluation", "of", "points", "suggestion", "matched", "unmatched", "lift"}`` or None. The draft's
    report wins over the live one's when the evaluation judged both (it judged the rules being edited)."""
    for record in services.evaluations.recent(profile_id):
        for report in sorted(record.get("reports") or [], key=lambda r: r["of"] != "draft"):
            row = next((r for r in report["rules"] if r["rule_id"] == rule_id), None)
            if row is not None:
                return {"evaluation": record["id"], "of": report["of"], **row}
    return None
