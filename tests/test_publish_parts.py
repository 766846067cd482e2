"""A publish recompute is split into one part per registry bucket (``publish_part`` jobs) that every worker takes
a share of; the version switches at once when the last part is done, progress is the sum of the parts, and a
part that crashes resumes where it stopped without counting anything twice (app/publish.py)."""

from __future__ import annotations

import signal
from typing import Any

import pytest
from rq import Worker
from rq.job import Job
from rq.registry import StartedJobRegistry

import app.publish as publish_module
from app.horizon import trim_all
from app.jobs import Jobs
from app.publish import run_publish, run_publish_part

from .faults.load import (PROFILE, RULES, assert_scored_exactly_once, batches, make_load, post_batch,
                          records_by_email)
from .faults.load import T0
from .helpers import AUTH, publish, put_profile, run_jobs, settle, wait_for
from .processes import stop
from .reference import reference_score

#: On a private redis-server: real worker processes take the parts.
pytestmark = pytest.mark.private_redis

CONTACTS, LOAD = 600, 3_000
DOUBLED = [{**rule, "points": rule["points"] * 2} for rule in RULES]


def loaded(client, services) -> dict[str, list[dict[str, Any]]]:
    """Version 1 of ``eng`` live and the load scored; the draft then doubles every rule's points."""
    put_profile(client, PROFILE, RULES)
    publish(client, services, PROFILE)
    load = make_load(LOAD, CONTACTS)
    for batch in batches(load, 1_000):
        assert post_batch(client, batch).status_code == 202
    settle(services)
    put_profile(client, PROFILE, DOUBLED)
    return records_by_email(load)


def live_version(client) -> int:
    return client.get(f"/v1/profiles/{PROFILE}", headers=AUTH).get_json()["version"]


def job_of(client, job_id: str) -> dict[str, Any]:
    return client.get(f"/v1/jobs/{job_id}", headers=AUTH).get_json()


def assert_scores(client, services, accepted: dict[str, list[dict[str, Any]]], rules: list[dict[str, Any]]) -> None:
    """Every contact's live score is the reference fold of its whole history under ``rules``."""
    live = live_version(client)
    wrong = {}
    for email, records in accepted.items():
        state = services.contacts.get_contact(services.contacts.find_contact(email=email))["states"].get(
            f"{PROFILE}@{live}")
        expected = reference_score(rules, records, now=T0 + 10**12)
        if (state.score if state else None) != expected:
            wrong[email] = (state.score if state else None, expected)
    assert not wrong, f"{len(wrong)} scores differ from the reference: {list(wrong.items())[:3]}"


def part_ids(services, job_id: str) -> list[str]:
    return [f"{job_id}-part-{part}" for part in range(services.sharding.buckets)]


class Crash(Exception):
    """A worker dying in the middle of a part."""


def crashing_after(calls: int, monkeypatch, shared: bool = False) -> None:
    """Every scorer made from now on raises on its ``calls + 1``-th page (``shared``: on every page after the first
    ``calls`` of them all, so every try of a part fails)."""
    make, every = publish_module.make_scorer, []

    def make_crashing(services):
        scorer = make(services)
        score, seen = scorer.score, every if shared else []

        def score_or_crash(*args, **kwargs):
            seen.append(1)
            if len(seen) > calls:
                raise Crash("the worker died")
            return score(*args, **kwargs)

        scorer.score = score_or_crash
        return scorer

    monkeypatch.setattr(publish_module, "make_scorer", make_crashing)


def test_worker_processes_share_a_recompute_and_it_switches_when_every_part_is_done(client, services, workers):
    accepted = loaded(client, services)
    moved = trim_all(services, services.clock.now_ms())  # every interaction is older than the hot horizon
    assert moved["contacts"] == len(accepted) and moved["records"] == LOAD  # so history is in the archive only
    workers(), workers()
    wait_for(lambda: len(Worker.all(queue=services.queue)) >= 2, timeout=30)
    job_id = client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]["id"]
    progress = []

    def finished() -> bool:
        live = live_version(client)
        job = job_of(client, job_id)  # read after: done only grows
        progress.append(job["progress"])
        if live == 2:
            assert job["done"] == job["total"] == len(accepted), f"the new version went live before every part was done: {job}"
        return job["status"] == "finished"

    wait_for(finished, timeout=120)
    job = job_of(client, job_id)
    assert (job["done"], job["total"], job["progress"]) == (len(accepted), len(accepted), 1.0)
    assert progress == sorted(progress), "progress went backwards"
    assert live_version(client) == 2
    ran_by = {Job.fetch(part, connection=services.queue.connection).worker_name for part in part_ids(services, job_id)}
    assert len(ran_by) == 2, f"the parts were not shared by both workers: {ran_by}"
    assert_scores(client, services, accepted, DOUBLED)


def test_a_part_that_crashes_resumes_where_it_stopped_and_counts_nothing_twice(client, services, monkeypatch):
    accepted = loaded(client, services)
    monkeypatch.setattr(publish_module, "PUBLISH_PAGE", 10)
    job = client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]
    services.queue.empty()
    run_publish(services, PROFILE, job["version"], job["id"], False)  # the publish job: queues the parts
    part = max(range(services.sharding.buckets), key=lambda b: len(services.contacts.contact_page(b, 0, 1_000)))
    crashing_after(2, monkeypatch)
    with pytest.raises(Crash):
        run_publish_part(services, PROFILE, job["version"], job["id"], part, False, last_try=False)
    crashed = job_of(client, job["id"])
    assert (crashed["status"], crashed["done"]) == ("running", 20)  # two pages of ten counted
    assert live_version(client) == 1
    monkeypatch.undo()
    monkeypatch.setattr(publish_module, "PUBLISH_PAGE", 10)
    run_jobs(services)  # every part, the crashed one again among them
    done = job_of(client, job["id"])
    assert (done["status"], done["done"], done["total"]) == ("finished", len(accepted), len(accepted))
    assert live_version(client) == 2
    assert assert_scored_exactly_once(client, services, accepted, DOUBLED) == len(accepted)


def test_a_part_that_fails_on_its_last_try_fails_the_publish_and_the_live_version_stays(client, services,
                                                                                          monkeypatch):
    accepted = loaded(client, services)
    crashing_after(0, monkeypatch)
    job = client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]
    run_jobs(services)  # each part tried 1 + PART_RETRIES times
    failed = job_of(client, job["id"])
    assert failed["status"] == "failed" and "the worker died" in failed["error"]
    profile = client.get(f"/v1/profiles/{PROFILE}", headers=AUTH).get_json()
    assert profile["version"] == 1 and not profile.get("building_version")
    assert assert_scored_exactly_once(client, services, accepted, RULES) == len(accepted)
    monkeypatch.undo()
    publish(client, services, PROFILE)  # publishing again works
    assert assert_scored_exactly_once(client, services, accepted, DOUBLED) == len(accepted)


def test_the_parts_carry_the_workspace_of_their_publish(services):
    services.queue.empty()
    Jobs(services.jobs, "acme").publish_parts(PROFILE, 2, "publish-x", True, 3)
    queued = [Job.fetch(i, connection=services.queue.connection) for i in services.queue.job_ids]
    assert [(j.id, j.args, j.meta["workspace"]) for j in queued] == [
        (f"publish-x-part-{n}", (PROFILE, 2, "publish-x", n, True), "acme") for n in range(3)]
    services.queue.empty()


@pytest.mark.app_settings(INDEX_BUCKETS=2)  # two long parts: the kill lands inside one, not between jobs
def test_a_part_whose_worker_is_killed_is_taken_again_and_counts_nothing_twice(client, services, workers):
    accepted = loaded(client, services)
    trim_all(services, services.clock.now_ms())
    first = workers(INDEX_BUCKETS=2)
    wait_for(lambda: len(Worker.all(queue=services.queue)) >= 1, timeout=30)
    job_id = client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]["id"]
    started = StartedJobRegistry(queue=services.queue)

    def running_part() -> bool:
        return any("-part-" in i and Job.fetch(i, connection=services.queue.connection).get_status() == "started"
                   for i in started.get_job_ids())

    wait_for(running_part, timeout=60, interval=0.005)
    stop(first, signal.SIGKILL)  # in the middle of a part
    killed = job_of(client, job_id)
    assert killed["status"] == "running" and killed["done"] < killed["total"], killed
    assert live_version(client) == 1
    # RQ itself retries the abandoned part only once its execution lapses (its heartbeat TTL) and a worker's
    # maintenance runs (every 10 minutes): the second worker's watchdog queues it again after the stall instead
    workers(INDEX_BUCKETS=2, PUBLISH_STALL_SECONDS=1)
    wait_for(lambda: job_of(client, job_id)["status"] == "finished", timeout=120)
    job = job_of(client, job_id)
    assert (job["done"], job["total"], job["progress"]) == (len(accepted), len(accepted), 1.0)
    assert job["requeued"] >= 1, job
    assert live_version(client) == 2
    assert_scores(client, services, accepted, DOUBLED)
