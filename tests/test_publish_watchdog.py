"""The publish watchdog (``watch_publishes``, app/publish.py; run by every worker's ticker): a publish whose
recompute made no progress for ``PUBLISH_STALL_SECONDS`` gets the jobs RQ lost queued again — a part taken from
the queue by a worker that died before starting it, a part whose worker died while running it, or the publish job
itself — and finishes with exact scores; parts still waiting in the queue are left alone, and the job says what
was queued again (``requeued``)."""

from __future__ import annotations

import signal

import pytest
from rq import Worker

from app.clock import now_ms
from app.horizon import trim_all
from app.publish import part_job_id, run_publish, watch_publishes

from .faults.load import PROFILE
from .helpers import AUTH, run_jobs, wait_for
from .processes import stop
from .test_publish_parts import DOUBLED, assert_scores, job_of, live_version, loaded

#: The stall of the real worker processes' watchdog (their ticker runs every 0.2 s).
STALL_S = 1
#: The stall of the in-process tests, which pass the watchdog its time: long enough that a slow machine never makes a
#: publish look stalled between two lines of a test.
LONG_STALL_S = 60


def _publish(client) -> str:
    return client.post(f"/v1/profiles/{PROFILE}/publish", json={}, headers=AUTH).get_json()["job"]["id"]


def _ids(raw: list) -> list[str]:
    return [i.decode() if isinstance(i, bytes) else i for i in raw]


def _take_from_queue(services, job_id: str) -> None:
    """What a worker's dequeue does (RQ 3: the id moves to the queue's intermediate list), the worker then dying
    before it starts the job."""
    queue = services.queue
    assert queue.connection.lrem(queue.key, 1, job_id) == 1
    queue.connection.rpush(queue.intermediate_queue_key, job_id)


def _after_stall(services) -> int:
    return now_ms() + 2 * LONG_STALL_S * 1000


@pytest.mark.app_settings(PUBLISH_STALL_SECONDS=LONG_STALL_S)
def test_a_lost_part_is_queued_again_and_parts_still_waiting_are_left_alone(client, services, dash):
    accepted = loaded(client, services)
    job_id = _publish(client)
    services.queue.empty()
    run_publish(services, PROFILE, 2, job_id, False)  # the publish job: queues the parts
    parts = services.sharding.buckets
    assert watch_publishes(services, _after_stall(services)) == []  # every part waits: the workers are busy
    assert len(services.queue) == parts
    lost = [3, 7]
    for part in lost:
        _take_from_queue(services, part_job_id(job_id, part))
    assert watch_publishes(services, now_ms()) == []  # not stalled yet
    assert watch_publishes(services, _after_stall(services)) == [{"job": job_id, "parts": lost}]
    assert len(services.queue) == parts  # each lost part once more, nothing twice
    assert _ids(services.queue.connection.lrange(services.queue.intermediate_queue_key, 0, -1)) == []
    job = job_of(client, job_id)
    assert (job["status"], job["requeued"], job["requeued_parts"]) == ("running", 1, "3,7")
    assert watch_publishes(services, now_ms()) == []  # re-queueing is progress: the next look waits a stall again
    page = dash.get(f"/dashboard/jobs/{job_id}").get_data(as_text=True)
    assert "Stalled" in page and "lost parts (3,7) were queued again (1 time)" in page
    run_jobs(services)
    job = job_of(client, job_id)
    assert (job["status"], job["done"], job["total"]) == ("finished", len(accepted), len(accepted))
    assert live_version(client) == 2
    assert watch_publishes(services, _after_stall(services)) == []  # a finished publish is left alone
    page = dash.get(f"/dashboard/jobs/{job_id}").get_data(as_text=True)
    assert "Stalled" not in page and "queued again 1 time during this publish" in page
    assert_scores(client, services, accepted, DOUBLED)


@pytest.mark.app_settings(PUBLISH_STALL_SECONDS=LONG_STALL_S)
def test_a_lost_publish_job_is_queued_again_before_its_parts_exist(client, services):
    accepted = loaded(client, services)
    job_id = _publish(client)
    _take_from_queue(services, job_id)  # the publish job itself, lost before it queued any part
    assert watch_publishes(services, _after_stall(services)) == [{"job": job_id, "parts": None}]
    assert job_of(client, job_id)["requeued_parts"] == "publish"
    run_jobs(services)
    job = job_of(client, job_id)
    assert (job["status"], job["done"], job["requeued"]) == ("finished", len(accepted), 1)
    assert_scores(client, services, accepted, DOUBLED)


@pytest.mark.app_settings(PUBLISH_STALL_SECONDS=0)
def test_no_watchdog_when_the_stall_setting_is_zero(client, services):
    loaded(client, services)
    job_id = _publish(client)
    _take_from_queue(services, job_id)
    assert watch_publishes(services, _after_stall(services)) == []
    assert job_of(client, job_id)["status"] == "queued" and "requeued" not in job_of(client, job_id)


@pytest.mark.private_redis
def test_a_worker_killed_between_taking_a_part_and_starting_it_does_not_stall_the_publish(client, services,
                                                                                           workers):
    accepted = loaded(client, services)
    trim_all(services, services.clock.now_ms())  # history in the archive only: the parts read it there
    lossy = workers(module="tests.lossy_worker", PUBLISH_STALL_SECONDS=STALL_S)
    wait_for(lambda: len(Worker.all(queue=services.queue)) >= 1, timeout=30)
    job_id = _publish(client)
    wait_for(lambda: lossy.poll() is not None, timeout=60)  # it ran the publish job, took a part and died
    assert lossy.returncode == -signal.SIGKILL
    queue = services.queue
    # a worker taking from two queues (the workflow queue first) pops its job (LPOP), one taking from one moves it
    # to the queue's intermediate list: either way the part is no longer queued and was never started
    queued = set(_ids(queue.connection.lrange(queue.key, 0, -1)))
    parts = [part_job_id(job_id, part) for part in range(int(services.jobs.record(job_id)["parts"]))]
    taken = [part for part in parts if part not in queued]
    assert len(taken) == 1 and taken[0] not in queue.started_job_registry  # lost: taken, never started
    assert job_of(client, job_id)["status"] == "running"
    workers(PUBLISH_STALL_SECONDS=STALL_S)  # the second worker process: the other parts, and its ticker's watchdog
    wait_for(lambda: job_of(client, job_id)["status"] in ("finished", "failed"), timeout=120)
    job = job_of(client, job_id)
    assert (job["status"], job["done"], job["total"]) == ("finished", len(accepted), len(accepted)), job
    assert job["requeued"] >= 1 and taken[0].rsplit("-", 1)[1] in job["requeued_parts"].split(","), job
    assert live_version(client) == 2
    assert_scores(client, services, accepted, DOUBLED)
    stop(lossy)
