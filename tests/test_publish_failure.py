"""A publish that fails leaves nothing of the version it was building (app/publish.py, ``_fail``): the fold states,
their pieces and checkpoints, the score index and the company scores its parts (and the drains meanwhile) wrote are
dropped by the same retirement a replaced or deleted version gets, and the live version is untouched. On a real
Redis and on a cluster."""
from __future__ import annotations

from typing import Any

import pytest

import app.jobs as jobs_module
import app.publish as publish_module
from app.clock import now_ms
from app.jobs import Jobs
from app.scoring_service import make_scorer
from app.storage.contacts import ContactStore
from app.storage.jobs import JobQueue
from app.storage.profiles import ActiveVersion, ProfileStore

from .helpers import AUTH, drain_ready, put_profile, run_jobs, send, settle
from .test_publish_parts import crashing_after

pytestmark = pytest.mark.also_on_cluster

RULES = [{"id": "open", "on": "email.opened", "points": 2}]
DOUBLED = [{"id": "open", "on": "email.opened", "points": 4}]
CONTACTS = 12


def opened(n: int) -> dict[str, Any]:
    return {"id": f"e{n}", "type": "email.opened", "contact": {"email": f"c{n}@x.io"},
            "occurred_at": "2026-01-01T00:00:00Z"}


def traces(services, profile_id: str, version: int) -> list[str]:
    """Every key named after the version (but its rules, which its record keeps) and every hash field of it
    (``PROFILE@VERSION``, ``PROFILE@VERSION#N``)."""
    redis, field = services.redis, f"{profile_id}@{version}"
    if hasattr(redis, "get_primaries"):  # a cluster: every primary's keys
        keys = [k for node in redis.get_primaries() for k in redis.scan_iter(target_nodes=node)]
    else:
        keys = list(redis.scan_iter())
    found = [k for k in keys if field in k and k != services.keys.profile_version(profile_id, version)]
    for key in keys:
        if redis.type(key) == "hash":
            found += [f"{key} {f}" for f in redis.hkeys(key) if f == field or f.startswith(field + "#")]
    return found


def test_a_failed_publish_leaves_nothing_of_its_version_and_the_live_one_as_it_was(make_app, monkeypatch):
    with drain_ready(make_app, RULES) as (client, services):
        monkeypatch.setattr(publish_module, "PUBLISH_PAGE", 2)
        for n in range(CONTACTS):
            send(client, opened(n))
        settle(services)
        ids = [services.contacts.find_contact(email=f"c{n}@x.io") for n in range(CONTACTS)]
        live_before = services.timelines.read_scores(ids, "eng@1")
        assert set(live_before.values()) == {2}
        put_profile(client, "eng", DOUBLED)
        crashing_after(3, monkeypatch, shared=True)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        send(client, opened(CONTACTS))  # scored into the building version too, by the drain
        run_jobs(services)  # the drain, the publish, its parts (the one that fails tried again), the retirement
        assert services.jobs.status(job["id"])["status"] == "failed"
        doc = services.profiles.get("eng")
        assert (doc["live_version"], doc.get("building_version")) == (1, None)
        assert traces(services, "eng", 2) == []  # (the states, pieces and score index the parts wrote, before)
        assert services.timelines.read_scores(ids, "eng@1") == live_before


def test_a_version_given_to_the_scorer_is_not_written_once_its_publish_failed(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        send(client, opened(1))
        settle(services)
        cid = services.contacts.find_contact(email="c1@x.io")
        put_profile(client, "eng", DOUBLED)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        services.queue.empty()
        target = ActiveVersion(services.profiles.version("eng", 2), 2, live=False)  # as a part still running holds it
        publish_module._fail(services, "eng", 2, job["id"], RuntimeError("another part failed"))
        run_jobs(services)  # its retirement
        make_scorer(services).score({cid: []}, services.clock.now_ms(), versions=[target], full=True)
        assert "eng@2" not in services.timelines.read_states([cid])[cid]
        assert services.timelines.read_scores([cid], "eng@1")[cid] == 2
        settle(services)


def test_a_publish_that_fails_after_its_switch_keeps_its_version_live(make_app, monkeypatch):
    """Its triggers fail after the switch (every try): the publish fails, but the version it built is the live one
    now and keeps its states and score index — nothing retires it (``_fail``: only a version still building)."""
    with drain_ready(make_app, RULES) as (client, services):
        for n in range(3):
            send(client, opened(n))
        settle(services)
        ids = [services.contacts.find_contact(email=f"c{n}@x.io") for n in range(3)]

        def failing(*_args: Any) -> None:
            raise RuntimeError("a trigger failed")

        monkeypatch.setattr(publish_module, "_fire_publish_triggers", failing)
        put_profile(client, "eng", DOUBLED)
        job = client.post("/v1/profiles/eng/publish", json={"fire_triggers": True}, headers=AUTH).get_json()["job"]
        run_jobs(services)  # the publish, its parts (the last one tried again), any retirement
        assert services.jobs.status(job["id"])["status"] == "failed"
        doc = services.profiles.get("eng")
        assert (doc["live_version"], doc.get("building_version")) == (2, None)
        assert services.timelines.read_scores(ids, "eng@2") == dict.fromkeys(ids, 4)
        assert services.scores.scores_of("eng", 2) == dict.fromkeys(ids, 4)  # (its score index)


# --- a publish that fails wherever it fails, its worker killed at any step of the failure -------------------------
class Died(BaseException):
    """The worker killed (SIGKILL) at that point: nothing after it runs. Not an ``Exception``: no ``except`` of the
    app's sees it (RQ, in this process, counts it as the job failing: ``die``)."""


def die() -> None:
    """Kill the worker here (``Died``): RQ does not try its job again (it would, an hour on, once the job's time
    limit lapsed: the watchdog does not wait for that)."""
    from rq import get_current_job

    job = get_current_job()
    if job is not None:
        job.retries_left = 0
    raise Died


#: Where a publish fails, on every try.
PLACES = ["publish job", "first part", "last part", "finish before switch", "finish after switch"]
#: After which write of the failure's the worker is killed (None: not killed).
KILLS = [None, 1, 2, 3, 4]
#: The stall of the watchdog's in-process calls, long enough that no test line looks stalled to it.
STALL_S = 60


def failing_at(place: str, buckets: int, monkeypatch) -> None:
    """Make the publish fail at ``place`` on every try."""
    def fails(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError(f"the {place} failed")

    if place == "publish job":
        monkeypatch.setattr(JobQueue, "start_parts", fails)
    elif place.endswith("part"):
        failing, page = 0 if place == "first part" else buckets - 1, ContactStore.contact_page

        def contact_page(self, bucket: int, start: int, size: int) -> list[str]:
            return fails() if bucket == failing else page(self, bucket, start, size)

        monkeypatch.setattr(ContactStore, "contact_page", contact_page)
    elif place == "finish before switch":
        monkeypatch.setattr(publish_module, "summarize", fails)
    else:
        monkeypatch.setattr(publish_module, "_fire_publish_triggers", fails)


def killed_after(at: int | None, monkeypatch) -> None:
    """The worker that fails the publish is killed right after the ``at``-th write of the failure (counted from
    the job's record saying "failed"): the job's record, the version's record, the profile, the queueing of a
    retirement. Once: the watchdog's later work is not killed."""
    if at is None:
        return
    writes: list[str] = []

    def counted(name: str, function):
        def write(*args: Any, **kwargs: Any) -> Any:
            result = function(*args, **kwargs)
            if writes or (name == "job" and kwargs.get("status") == "failed"):
                writes.append(name)
                if len(writes) == at:
                    die()
            return result
        return write

    monkeypatch.setattr(publish_module, "set_job", counted("job", publish_module.set_job))
    monkeypatch.setattr(publish_module, "_update_record", counted("record", publish_module._update_record))
    monkeypatch.setattr(ProfileStore, "save", counted("profile", ProfileStore.save))
    monkeypatch.setattr(Jobs, "retire_version", counted("retire", Jobs.retire_version))


def run_every_try(services) -> None:
    """Every queued job, as workers would run them: each retry RQ schedules (the publish job's, 5 s on) at once, a
    worker killed taking none (its job is RQ's to retry, or the watchdog's)."""
    registry = services.queue.scheduled_job_registry
    for _ in range(20):
        try:
            run_jobs(services)
        except Died:
            continue
        waiting = registry.get_job_ids()
        if not waiting:
            return
        for job_id in waiting:
            registry.requeue(job_id)
    raise AssertionError("the jobs did not end")


def scored_then_doubled(client, services, monkeypatch) -> tuple[list[str], list[tuple[str, int]]]:
    """``CONTACTS`` contacts scored by version 1, the draft doubling its points: their ids, and the list each
    retirement run from now on is added to (profile, version)."""
    for n in range(CONTACTS):
        send(client, opened(n))
    settle(services)
    put_profile(client, "eng", DOUBLED)
    retired: list[tuple[str, int]] = []
    retire = jobs_module.retire
    monkeypatch.setattr(jobs_module, "retire", lambda s, p, v: (retired.append((p, v)), retire(s, p, v)))
    return [services.contacts.find_contact(email=f"c{n}@x.io") for n in range(CONTACTS)], retired


def watched(services, ticks: int) -> None:
    """The watchdog ``ticks`` times, each more than a stall after the last, with the jobs it queues run."""
    for tick in range(1, ticks + 1):
        publish_module.watch_publishes(services, now_ms() + tick * 2 * STALL_S * 1000)
        run_every_try(services)


@pytest.mark.app_settings(PUBLISH_STALL_SECONDS=STALL_S)
@pytest.mark.parametrize("killed", KILLS, ids=lambda k: "not killed" if k is None else f"killed after write {k}")
@pytest.mark.parametrize("place", PLACES)
def test_a_publish_failing_on_every_try_fails_once_and_retires_what_it_left(make_app, monkeypatch, place, killed):
    """Wherever a publish fails on every try, and wherever its worker dies while failing it, the watchdog finishes
    what was left: the job ends failed with the error, the profile builds nothing, what no version live uses is
    retired once (the failed version; or, failed after its switch, the version it replaced), the live version keeps
    its scores, and the next publish works."""
    with drain_ready(make_app, RULES, PUBLISH_STALL_SECONDS=STALL_S) as (client, services):
        ids, retired = scored_then_doubled(client, services, monkeypatch)
        failing_at(place, services.sharding.buckets, monkeypatch)
        killed_after(killed, monkeypatch)
        switched = place == "finish after switch"
        job = client.post("/v1/profiles/eng/publish", json={"fire_triggers": switched}, headers=AUTH).get_json()["job"]
        run_every_try(services)
        watched(services, 3)
        failed = services.jobs.status(job["id"])
        assert failed["status"] == "failed" and f"the {place} failed" in failed["error"], failed
        doc = services.profiles.get("eng")
        live, gone = (2, 1) if switched else (1, 2)
        assert (doc["live_version"], doc.get("building_version"), doc.get("building_job")) == (live, None, None)
        assert retired == [("eng", gone)]
        assert traces(services, "eng", gone) == []
        assert services.timelines.read_scores(ids, f"eng@{live}") == dict.fromkeys(ids, 4 if switched else 2)
        monkeypatch.undo()
        put_profile(client, "eng", RULES if switched else DOUBLED)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        settle(services)
        assert services.jobs.status(job["id"])["status"] == "finished"
        assert services.timelines.read_scores(ids, "eng@3") == dict.fromkeys(ids, 2 if switched else 4)


def _dies_after(function, when):
    """``function``, killed (``Died``) right after a call ``when(*args, **kwargs)`` says, once."""
    died: list[int] = []

    def call(*args: Any, **kwargs: Any) -> Any:
        result = function(*args, **kwargs)
        if not died and when(*args, **kwargs):
            died.append(1)
            die()
        return result
    return call


#: Where a finish is cut short: after the switch's save, after queueing the replaced version's retirement, after the
#: job's record says finished.
FINISH_DEATHS = ["switch", "retirement", "finished"]


@pytest.mark.app_settings(PUBLISH_STALL_SECONDS=STALL_S)
@pytest.mark.parametrize("death", FINISH_DEATHS)
def test_a_finish_cut_short_is_ended_by_the_watchdog(make_app, monkeypatch, death):
    """The worker finishing a publish dies in ``_finish``: the watchdog queues the finisher again (or lets the job go),
    the publish ends finished, the version it replaced is retired once, and the next publish works."""
    with drain_ready(make_app, RULES, PUBLISH_STALL_SECONDS=STALL_S) as (client, services):
        ids, retired = scored_then_doubled(client, services, monkeypatch)
        if death == "switch":
            monkeypatch.setattr(ProfileStore, "save", _dies_after(ProfileStore.save, lambda _s, doc: doc.get(
                "live_version") == 2))
        elif death == "retirement":
            monkeypatch.setattr(Jobs, "retire_version", _dies_after(Jobs.retire_version, lambda *_a, **_k: True))
        else:
            monkeypatch.setattr(publish_module, "set_job", _dies_after(
                publish_module.set_job, lambda *_a, **fields: fields.get("status") == "finished"))
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        run_every_try(services)
        watched(services, 2)
        assert services.jobs.status(job["id"])["status"] == "finished"
        doc = services.profiles.get("eng")
        assert (doc["live_version"], doc.get("building_version"), doc.get("building_job")) == (2, None, None)
        assert retired == [("eng", 1)]
        assert traces(services, "eng", 1) == []
        assert services.timelines.read_scores(ids, "eng@2") == dict.fromkeys(ids, 4)
        monkeypatch.undo()
        put_profile(client, "eng", RULES)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        settle(services)
        assert services.jobs.status(job["id"])["status"] == "finished"
