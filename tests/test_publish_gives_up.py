"""A publish that can never succeed ends failed, with real worker processes whose job processes die: one whose
parts' job processes are killed on every try (RQ retries each part, then gives up; the watchdog does not queue
them again for ever: ``PUBLISH_TRIES``, app/publish.py), and one whose job process is killed inside ``_fail``
right after it saved the failure (the watchdog ends what it left: ``_settle_ended``). Either way the live version
keeps its scores, nothing of the failed version is left, and the next publish works."""
from __future__ import annotations

import signal

import pytest
from rq import Worker

from .helpers import AUTH, drain_ready, put_profile, send, settle, wait_for
from .processes import stop
from .test_publish_failure import CONTACTS, DOUBLED, RULES, opened, traces

pytestmark = [pytest.mark.private_redis, pytest.mark.app_settings(INDEX_BUCKETS=2)]

#: What the worker processes share with the test's app, and their watchdog's stall.
WORKER_SETTINGS = {"PARTITIONS": 1, "INDEX_BUCKETS": 2, "PUBLISH_STALL_SECONDS": 1}


@pytest.mark.parametrize("death, error", [
    pytest.param("part", "PublishGaveUp: part", id="killed in every part, every try"),
    pytest.param("failing", "RuntimeError: the recompute failed", id="killed in _fail after saving the failure"),
])
def test_a_publish_that_cannot_succeed_ends_failed_and_leaves_nothing(make_app, workers, monkeypatch, death, error):
    with drain_ready(make_app, RULES) as (client, services):
        for n in range(CONTACTS):
            send(client, opened(n))
        settle(services)
        ids = [services.contacts.find_contact(email=f"c{n}@x.io") for n in range(CONTACTS)]
        put_profile(client, "eng", DOUBLED)
        monkeypatch.setenv("PUBLISH_DEATH", death)
        dying = workers(module="tests.dying_worker", WORKER_CLASS="fork", **WORKER_SETTINGS)
        wait_for(lambda: len(Worker.all(queue=services.queue)) >= 1, timeout=30)
        job_id = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]["id"]
        wait_for(lambda: services.jobs.status(job_id)["status"] == "failed", timeout=60)
        assert error in services.jobs.status(job_id)["error"]
        wait_for(lambda: services.profiles.get("eng").get("building_job") is None, timeout=30)  # the watchdog's end
        wait_for(lambda: services.jobs.depth() == 0 and not services.queue.started_job_registry.count, timeout=30)
        assert dying.poll() is None  # its job processes died, not the worker
        doc = services.profiles.get("eng")
        assert (doc["live_version"], doc.get("building_version")) == (1, None)
        assert traces(services, "eng", 2) == []
        assert services.timelines.read_scores(ids, "eng@1") == dict.fromkeys(ids, 2)
        stop(dying, signal.SIGKILL)
        workers(**WORKER_SETTINGS)  # a worker that dies nowhere: the next publish works
        job_id = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]["id"]
        wait_for(lambda: services.jobs.status(job_id)["status"] == "finished", timeout=60)
        assert services.timelines.read_scores(ids, "eng@3") == dict.fromkeys(ids, 4)
