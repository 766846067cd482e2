"""Test helpers: run the worker's jobs synchronously, publish profiles, wait for conditions."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rq import SimpleWorker
from rq.timeouts import TimerDeathPenalty

from app.scoring_service import drain, tick
from workers.pubsub import BoundedUnsubscribe

API_KEY = "test-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}


def drain_all(services: Any, max_rounds: int = 50) -> int:
    """Score everything waiting in every partition (what the worker does), in this process."""
    scored = 0
    for _ in range(max_rounds):
        depths = services.partitions.partition_depths()
        if not any(depths):
            return scored
        for partition, depth in enumerate(depths):
            if depth:
                scored += drain(services, partition)
    raise AssertionError("partitions did not drain")


class BurstWorker(BoundedUnsubscribe, SimpleWorker):
    """RQ's ``SimpleWorker`` whose end waits for its pub/sub thread at most a second, as the app's workers do
    (workers/pubsub.py: else a burst now and then takes a minute).

    A job's time limit is a timer thread's, not SIGALRM's: RQ's ``UnixSignalDeathPenalty`` takes SIGALRM for each
    job and cancels it after, which cancelled pytest-timeout's alarm too, so a test that ran one job in this process
    had no timeout at all (a hang would have stalled the whole suite)."""

    death_penalty_class = TimerDeathPenalty


#: ``BurstWorker`` for a script run on an old release's tree (tests of upgrades), which has no workers/pubsub.py.
OLD_RELEASE_WORKER = r"""
from rq import SimpleWorker

class BurstWorker(SimpleWorker):
    def unsubscribe(self):  # as workers/pubsub.py's BoundedUnsubscribe (redis-py 8: stop takes a timeout)
        if self.pubsub_thread:
            self.pubsub.unsubscribe()
            self.pubsub_thread.stop(timeout=1)
            if not self.pubsub_thread.is_alive():  # else the thread closes it as it ends
                self.pubsub.close()
"""


def run_jobs(services: Any) -> None:
    """Run every queued RQ job (publish, retire, drains) in this process, as a burst worker would."""
    BurstWorker(services.jobs.queues, connection=services.queue.connection).work(burst=True)


def settle(services: Any) -> None:
    """Drain partitions and run queued jobs until nothing is left."""
    for _ in range(20):
        drain_all(services)
        run_jobs(services)
        if not any(services.partitions.partition_depths()) and services.jobs.depth() == 0:
            return
    raise AssertionError("did not settle")


def absorb_scores_now(services: Any) -> int:
    """The ticker's absorb of the score index into its compact base, every page of it now (storage/score_base.py);
    how many entries moved."""
    versions = [(v.profile.id, v.version) for v in services.profiles.active()]
    moved = 0
    while n := services.scores.absorb_step(versions, 0, 0):
        moved += n
    return moved


def expire_due(services: Any) -> None:
    """The ticker's duty: bring due expiries into the pipeline, then score them."""
    tick(services)
    settle(services)


def put_profile(client, profile_id: str, rules: list[dict], bands: list[dict] | None = None, **extra) -> dict:
    body = {"name": profile_id.title(), "rules": rules, "bands": bands or [], **extra}
    resp = client.put(f"/v1/profiles/{profile_id}", json=body, headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def publish(client, services, profile_id: str, **options) -> dict:
    resp = client.post(f"/v1/profiles/{profile_id}/publish", json=options, headers=AUTH)
    assert resp.status_code == 202, resp.get_json()
    settle(services)
    job = client.get(f"/v1/jobs/{resp.get_json()['job']['id']}", headers=AUTH).get_json()
    assert job["status"] == "finished", job
    return job


def publish_profile(client, services, profile_id: str, rules: list[dict], bands: list[dict] | None = None) -> dict:
    put_profile(client, profile_id, rules, bands)
    return publish(client, services, profile_id)


def send(client, *interactions: dict, expect: int = 202) -> dict:
    body = interactions[0] if len(interactions) == 1 else {"interactions": list(interactions)}
    resp = client.post("/v1/interactions", json=body, headers=AUTH)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def contact_by_email(client, email: str) -> dict | None:
    items = client.get("/v1/contacts", query_string={"email": email}, headers=AUTH).get_json()["items"]
    return items[0] if items else None


def score_of(client, email: str, profile: str) -> int | None:
    contact = contact_by_email(client, email)
    if contact is None:
        return None
    entry = contact["scores"].get(profile)
    return entry["score"] if entry else None


def wait_for(condition: Callable[[], Any], timeout: float = 10.0, interval: float = 0.02) -> Any:
    """Poll until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def in_batches(draw: Callable[[Any], Any], order: list) -> list[list]:
    """``order`` cut into one to four consecutive batches at drawn places (a Hypothesis ``draw``), as a
    sender would deliver it."""
    from hypothesis import strategies as st

    cuts = sorted(set(draw(st.lists(st.integers(1, len(order)), max_size=3))) | {len(order)})
    batches, start = [], 0
    for cut in cuts:
        batches.append(order[start:cut])
        start = cut
    return batches


@contextmanager
def drain_ready(make_app: Callable[..., Any], rules: list[dict], **settings: Any) -> Iterator[tuple[Any, Any]]:
    """An app of one partition with these settings and profile ``eng`` of these rules published, nothing queued:
    ``(client, services)`` inside its context, for tests that call ``drain`` themselves."""
    app = make_app(PARTITIONS=1, **settings)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", rules)
        services.queue.empty()
        yield client, services


def drop_activity(services: Any) -> None:
    """Every latest-activity entry gone — the compact index, the sorted sets of releases before and each contact's
    ``la`` field: as contacts stored before the activity index existed."""
    from app.storage.timelines import ACTIVITY_FIELD

    redis = services.redis
    for bucket in range(services.sharding.buckets):
        leaves = list(redis.scan_iter(match=services.keys.activity_index(bucket) + ":*"))
        redis.delete(services.keys.activity(bucket), *leaves)
    for ids in services.contacts.contact_pages(500):
        for cid in ids:
            redis.hdel(services.keys.contact(cid), ACTIVITY_FIELD)
