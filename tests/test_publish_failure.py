"""A publish that fails leaves nothing of the version it was building (app/publish.py, ``_fail``): the fold states,
their pieces and checkpoints, the score index and the company scores its parts (and the drains meanwhile) wrote are
dropped by the same retirement a replaced or deleted version gets, and the live version is untouched. On a real
Redis and on a cluster."""
from __future__ import annotations

from typing import Any

import pytest

import app.publish as publish_module
from app.scoring_service import make_scorer
from app.storage.profiles import ActiveVersion

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
