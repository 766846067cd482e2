"""Retention: runs, deliveries, dead letters, inbox notifications and job records are deleted once past their
retention (30 days; dead letters 90), and only once nothing can change them any more. Time is driven explicitly:
each sweep is told what time it is."""
from __future__ import annotations

import pytest
from rq.registry import FailedJobRegistry

from app.storage.automation import now_ms
from app.retention import DAY_MS, sweep, sweep_if_due

from .helpers import AUTH, BurstWorker
from .workflow_helpers import FAST, SECRET, Reply, interact, run_until, setup_profile

pytestmark = pytest.mark.app_settings(**FAST)


def put(client, wid: str, steps: list[dict]) -> None:
    doc = {"id": wid, "name": wid, "steps": steps,
           "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 10}}
    assert client.put(f"/v1/workflows/{wid}", json=doc, headers=AUTH).status_code == 201


@pytest.fixture
def history(client, services, receiver):
    """One firing of three workflows: a delivered webhook plus an inbox message, a webhook that is
    dead-lettered, and a run waiting a day. Returns the run and delivery ids by workflow."""
    receiver.script["/dead"] = [Reply(status=500)]
    setup_profile(client, services)
    put(client, "ok", [{"type": "webhook", "url": receiver.url("/ok"), "secret": SECRET},
                       {"type": "notify", "channel": "inbox", "message": "hot: {{ contact.email }}"}])
    put(client, "dead", [{"type": "webhook", "url": receiver.url("/dead"), "secret": SECRET}])
    put(client, "wait", [{"type": "wait", "duration": "1d"}, {"type": "add_tag", "tag": "later"}])
    interact(client, services, "a@x.io", "email.clicked", "c1")

    def deliveries():
        items = client.get("/v1/deliveries", headers=AUTH).get_json()["items"]
        done = {d["workflow_id"]: d for d in items if d["status"] in ("succeeded", "dead")}
        return done if len(done) == 2 else None

    settled = run_until(services, deliveries)
    runs = {wid: client.get(f"/v1/workflows/{wid}/runs", headers=AUTH).get_json()["items"][0]
            for wid in ("ok", "dead", "wait")}
    # a run shows its delivery's outcome: the dead-lettered webhook's run reads failed
    assert [runs[w]["status"] for w in ("ok", "dead", "wait")] == ["succeeded", "failed", "waiting"]
    return {"runs": {w: r["id"] for w, r in runs.items()}, "deliveries": {w: d["id"] for w, d in settled.items()}}


def found(client, path: str) -> bool:
    return client.get(path, headers=AUTH).status_code == 200


def test_nothing_goes_before_its_retention(client, services, history):
    assert sweep(services, now_ms() + 29 * DAY_MS) == {"runs": 0, "deliveries": 0, "dead_letters": 0,
                                                         "notifications": 0, "jobs": 0, "audit": 0}
    assert all(found(client, f"/v1/runs/{r}") for r in history["runs"].values())
    assert all(found(client, f"/v1/deliveries/{d}") for d in history["deliveries"].values())
    assert len(client.get("/v1/notifications", headers=AUTH).get_json()["items"]) == 1


def test_after_30_days_finished_runs_delivered_webhooks_and_notifications_go(client, services, history):
    assert services.automation.unread_count() == 1
    removed = sweep(services, now_ms() + 31 * DAY_MS)
    assert removed | {"jobs": 0} == {"runs": 2, "deliveries": 1, "dead_letters": 0, "notifications": 1, "jobs": 0,
                                     "audit": 0}
    assert not found(client, f"/v1/runs/{history['runs']['ok']}")
    assert not found(client, f"/v1/runs/{history['runs']['dead']}")
    assert client.get("/v1/workflows/ok/runs", headers=AUTH).get_json()["items"] == []
    assert not found(client, f"/v1/deliveries/{history['deliveries']['ok']}")
    assert client.get("/v1/notifications", headers=AUTH).get_json()["items"] == []
    assert services.redis.get(services.keys.notifications_unread()) == "0"  # the unread one that went
    # What may still change stays, however old: the waiting run, the dead letter (kept 90 days).
    assert found(client, f"/v1/runs/{history['runs']['wait']}")
    dead = client.get("/v1/deliveries", query_string={"status": "dead"}, headers=AUTH).get_json()["items"]
    assert [d["id"] for d in dead] == [history["deliveries"]["dead"]]


def test_dead_letters_go_after_90_days(client, services, history):
    sweep(services, now_ms() + 31 * DAY_MS)
    assert sweep(services, now_ms() + 89 * DAY_MS)["dead_letters"] == 0
    assert sweep(services, now_ms() + 91 * DAY_MS)["dead_letters"] == 1
    assert client.get("/v1/deliveries", query_string={"status": "dead"}, headers=AUTH).get_json()["items"] == []
    assert client.get("/v1/deliveries", headers=AUTH).get_json()["items"] == []
    assert found(client, f"/v1/runs/{history['runs']['wait']}")


def test_zero_keeps_a_kind_for_ever(make_app, services, history):
    app = make_app(RUNS_RETENTION_DAYS=0, NOTIFICATIONS_RETENTION_DAYS="0")
    with app.app_context():
        removed = sweep(app.extensions["scorekeeper"], now_ms() + 365 * DAY_MS)
    assert (removed["runs"], removed["notifications"], removed["deliveries"]) == (0, 0, 1)


def test_job_records_expire_and_failed_jobs_are_swept(client, services):
    setup_profile(client, services)  # a finished publish job
    (job_key,) = services.redis.keys(services.keys.job("*"))
    assert 29 * 86_400 < services.redis.ttl(job_key) <= 30 * 86_400

    services.queue.enqueue("tests.no_such_module.job")
    BurstWorker([services.queue], connection=services.queue.connection).work(burst=True)
    failed = FailedJobRegistry(queue=services.queue)
    assert failed.count == 1
    assert sweep(services, now_ms() + 29 * DAY_MS)["jobs"] == 0
    assert sweep(services, now_ms() + 31 * DAY_MS)["jobs"] == 1
    assert failed.count == 0


def test_one_sweep_per_period_across_workers(services):
    now = now_ms()
    assert sweep_if_due(services, now) is not None
    assert sweep_if_due(services, now + 1) is None  # another worker's tick within the hour
    services.redis.delete(services.keys.retention_sweep())  # the period ran out (the key expired)
    assert sweep_if_due(services, now + 3_600_000) is not None


def test_nothing_of_a_swept_run_or_delivery_stays_in_redis(client, services, history):
    """Runs and deliveries would grow Redis for ever like interactions did (#17): once swept, none of our lasting
    keys, fields or index members names a finished run or a delivery any more (RQ's records of their jobs lapse
    and its registries are cleaned by its workers); only the waiting run's keep theirs."""
    from .test_ledger_on_read import everything_stored

    gone = [history["runs"]["ok"], history["runs"]["dead"], *history["deliveries"].values()]
    stored = everything_stored()
    assert all(name.encode() in stored for name in gone)
    sweep(services, now_ms() + 91 * DAY_MS)
    stored = everything_stored(ours_only=True)
    assert [name for name in gone if name.encode() in stored] == [], [
        line[:200] for line in stored.split(b"\n") if any(n.encode() in line for n in gone)][:8]
    assert history["runs"]["wait"].encode() in stored
