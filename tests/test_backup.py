"""Backup and restore: a busy deployment, backed up while interactions are still waiting to be scored, restored
into a fresh redis-server (with other partition and index sizes) gives back every contact's scores, ledgers,
tags and DND, the smart lists, workflows, runs and the inbox."""
from __future__ import annotations

import gzip
import json
import random
from datetime import datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from rq.registry import ScheduledJobRegistry

from app import create_app
from app.cli import main
from app.people import create_first_owner

from .conftest import TEST_REDIS_URL
from .helpers import API_KEY, AUTH, publish, publish_profile, put_profile, send, settle
from .redis_server import RedisServer

pytestmark = [pytest.mark.timeout(120), pytest.mark.also_on_cluster]  # and on a Redis Cluster

EMAILS = [f"c{i}@example.com" for i in range(40)]


def busy(client, services) -> None:
    """Two published profiles, forty contacts with varied histories, tags, DND, a manual change, a workflow
    that ran, a smart list; then more interactions accepted but not scored yet."""
    publish_profile(client, services, "engagement", [
        {"id": "open", "on": "email.opened", "points": 2, "limit": {"count": 5, "window": "1d"},
         "expires_after": "30d"},
        {"id": "click", "on": "email.clicked", "points": 5, "limit": {"once_per": "message_id"}},
        {"id": "book", "on": "appointment.booked", "points": 25},
        {"id": "unsub", "on": "email.unsubscribed", "points": -20},
    ], bands=[{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 30}])
    put_profile(client, "fit", [{"id": "form", "on": "form.submitted", "points": 10}], company_rollup="max")
    publish(client, services, "fit")  # rolls up to companies: their scores come back from the contacts
    workflow = {"id": "hot", "name": "Hot", "trigger": {"type": "score_changed", "profile": "engagement",
                                                        "operator": "gte", "value": 30},
                "steps": [{"type": "add_tag", "tag": "hot"},
                          {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} is hot"}]}
    assert client.put("/v1/workflows/hot", json=workflow, headers=AUTH).status_code == 201
    nurture = {"id": "nurture", "name": "Nurture", "steps": [{"type": "wait", "duration": "1d"},
                                                             {"type": "add_tag", "tag": "nurtured"}],
               "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 10}}
    assert client.put("/v1/workflows/nurture", json=nurture, headers=AUTH).status_code == 201
    rng = random.Random(18)
    # Within the last 20 days, whatever today is: the opens' 30-day expiry never comes due while the test runs (a
    # fixed November date made expiries fall due from 2026-12-10 on, between the snapshot and the restore).
    start = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0) - timedelta(days=20)
    kinds = ["email.opened"] * 5 + ["email.clicked"] * 3 + ["appointment.booked", "email.unsubscribed",
                                                            "form.submitted"]
    batch = []
    for i, email in enumerate(EMAILS):
        for n in range(rng.randint(1, 12)):
            kind = rng.choice(kinds)
            batch.append({"id": f"{i}-{n}", "type": kind, "contact": {"email": email},
                          "occurred_at": (start + timedelta(days=rng.randint(0, 18), hours=rng.randint(0, 23)))
                          .strftime("%Y-%m-%dT%H:%M:%SZ"),
                          "properties": {"message_id": f"m{rng.randint(1, 3)}"} if kind == "email.clicked" else {}})
    for start in range(0, len(batch), 500):
        send(client, {"interactions": batch[start:start + 500]})
    settle(services)
    first = client.get("/v1/contacts", query_string={"email": EMAILS[0]}, headers=AUTH).get_json()["items"][0]
    assert client.patch(f"/v1/contacts/{first['id']}", json={"tags": {"add": ["vip", "2026"]}, "name": "Wes Brown",
                                                             "attributes": {"job_title": "VP", "seats": 40}},
                        headers=AUTH).status_code == 200
    put_profile(client, "who", [{"id": "vp", "points": 30, "where": {"job_title": "VP"}}],
                [{"name": "C", "min": 0}, {"name": "B", "min": 10}, {"name": "A", "min": 30}], kind="fit")
    publish(client, services, "who")
    assert client.put("/v1/grades/lead", json={"name": "Lead", "fit_profile": "who", "engagement_profile": "engagement"},
                      headers=AUTH).status_code == 200
    assert client.post(f"/v1/contacts/{first['id']}/scores/engagement", json={"add": 7, "reason": "met at a fair"},
                       headers=AUTH).status_code == 200
    assert client.post("/v1/smart-lists", json={"name": "Warm", "profile": "engagement", "op": "gte", "value": 10},
                       headers=AUTH).status_code == 201
    assert client.post("/v1/keys", json={"name": "zapier", "scopes": ["ingest"]}, headers=AUTH).status_code == 201
    assert client.put("/v1/providers/stripe", json={"secret": "whsec_kept_by_backups"}, headers=AUTH).status_code == 200
    create_first_owner(services, "ana@agency.com", "correct horse battery", "test")
    settle(services)
    services.automation.mark_read(services.automation.notifications(0, 1)[0]["id"])  # the inbox's read state
    # Accepted while the backup runs: in the partitions, not scored yet.
    send(client, {"interactions": [{"id": f"late-{i}", "type": "appointment.booked", "contact": {"email": email}}
                                   for i, email in enumerate(EMAILS[:5])]})


def snapshot(client) -> dict:
    """Everything a user can see of the deployment, by contact email."""
    contacts = {}
    for email in EMAILS:
        (contact,) = client.get("/v1/contacts", query_string={"email": email}, headers=AUTH).get_json()["items"]
        history = {p: client.get(f"/v1/contacts/{contact['id']}/scores/{p}/history", query_string={"limit": 1000},
                                 headers=AUTH).get_json()["items"] for p in ("engagement", "fit")}
        contacts[email] = {"contact": contact, "history": history}
    lists = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    members = {sl["id"]: client.get(f"/v1/smart-lists/{sl['id']}/contacts", query_string={"limit": 500},
                                    headers=AUTH).get_json() for sl in lists}
    ranking = client.get("/v1/contacts", query_string={"profile": "engagement", "op": "gte", "value": 0,
                                                      "limit": 100}, headers=AUTH).get_json()
    runs = [run for wid in ("hot", "nurture")
            for run in client.get(f"/v1/workflows/{wid}/runs", query_string={"limit": 500},
                                  headers=AUTH).get_json()["items"]]
    found = {prefix: sorted(c["id"] for c in client.get("/v1/contacts", query_string={"q": prefix, "limit": 100},
                                                        headers=AUTH).get_json()["items"])
             for prefix in ("c1", "c2", "wes")}
    active = client.post("/v1/contacts/search", headers=AUTH, json={
        "filter": {"conditions": [{"field": "activity", "op": "within", "days": 36500}]}, "limit": 100}).get_json()
    return {"contacts": contacts, "lists": lists, "members": members, "ranking": ranking, "found": found,
            "grades": client.get("/v1/grades", headers=AUTH).get_json(),
            "companies": client.get("/v1/companies", query_string={"limit": 500}, headers=AUTH).get_json(),
            "keys": client.get("/v1/keys", headers=AUTH).get_json(),
            "providers": client.get("/v1/providers", headers=AUTH).get_json(),
            "audit": client.get("/v1/audit", query_string={"limit": 500}, headers=AUTH).get_json(),
            "users": client.application.extensions["scorekeeper"].users.all(),
            "active": sorted(c["id"] for c in active["items"]),
            "unread": client.application.extensions["scorekeeper"].automation.unread_count(),
            "profiles": client.get("/v1/profiles", headers=AUTH).get_json(),
            "workflows": client.get("/v1/workflows", headers=AUTH).get_json(),
            "runs": sorted((r["id"], r["status"], r["contact_id"]) for r in runs),
            "inbox": client.get("/v1/notifications", query_string={"limit": 500}, headers=AUTH).get_json()}


@pytest.fixture
def fresh_redis():
    server = RedisServer(appendfsync="everysec").start()
    yield server
    server.kill()


def cli(redis_url: str, *args: str, **settings: str):
    env = {"REDIS_URL": redis_url, "SCOREKEEPER_WORKFLOWS_DIR": "", **{f"SCOREKEEPER_{k}": v for k, v in settings.items()}}
    return CliRunner(env=env).invoke(main, list(args))


@pytest.fixture
def source(store_url):
    """``source(*args)``: the CLI on the test deployment (its store on a cluster in test_backup_on_cluster.py)."""
    return lambda *args, **settings: cli(TEST_REDIS_URL, *args, STORE_URL=store_url, **settings)


def test_a_busy_deployment_restores_into_a_fresh_redis_with_the_same_scores_history_and_lists(
        client, services, fresh_redis, tmp_path, source):
    busy(client, services)
    archive = tmp_path / "scorekeeper.backup.jsonl.gz"
    result = source("backup", str(archive), PARTITIONS="4")
    assert result.exit_code == 0, result.output
    assert f"wrote {archive}: " in result.stdout and "40 contact" in result.stdout and "5 pending" in result.stdout

    result = cli(fresh_redis.url, "restore", str(archive), PARTITIONS="2", INDEX_BUCKETS="4")
    assert result.exit_code == 0, result.output
    assert f"Redis: {fresh_redis.url}" in result.stdout and "40 contact" in result.stdout

    restored = create_app({"TESTING": True, "REDIS_URL": fresh_redis.url, "API_KEYS": API_KEY, "PARTITIONS": 2,
                           "INDEX_BUCKETS": 4, "WORKFLOWS_DIR": ""})
    before = snapshot(client)
    assert snapshot(restored.test_client()) == before  # exactly what was backed up
    assert [p["provider"] for p in before["providers"]["items"] if p["source"] == "stored"] == ["stripe"]
    assert before["keys"]["items"] and before["users"] and {"profile.publish", "key.create", "member.create"} <= {
        e["action"] for e in before["audit"]["items"]}  # keys, users and the audit trail among it
    waiting = [run_id for run_id, status, _ in before["runs"] if status == "waiting"]
    scheduled = ScheduledJobRegistry(queue=restored.extensions["scorekeeper"].jobs.workflow_queue).get_job_ids()
    assert waiting and sorted(job.rpartition("-restore-")[0] for job in scheduled) == sorted(waiting)
    with restored.app_context():
        settle(restored.extensions["scorekeeper"])  # the interactions that were waiting get scored there
    settle(services)  # ... and here
    later, restored_later = snapshot(client), snapshot(restored.test_client())
    assert restored_later["contacts"] == later["contacts"]
    assert restored_later["contacts"] != before["contacts"]  # the waiting bookings were scored
    for part in ("members", "ranking", "runs"):
        assert restored_later[part] == later[part], part
    inbox = [sorted((n["id"], n["message"]) for n in s["inbox"]["items"]) for s in (later, restored_later)]
    assert inbox[0] == inbox[1]
    scored = [c["contact"] for c in before["contacts"].values()]
    assert any(c["tags"] for c in scored) and any(c["dnd"].get("email") for c in scored)
    assert any(len(c["history"]["engagement"]) > 3 for c in before["contacts"].values())
    assert before["runs"] and before["inbox"]["items"] and before["members"]
    assert len(before["found"]["wes"]) == 1 and len(before["active"]) == len(EMAILS) and before["unread"] > 0
    assert before["companies"]["items"] == [{"id": "example.com", "contacts": 40,
                                             "scores": {"fit": {"score": 20, "rollup": "max"}}}]
    assert before["grades"]["items"] and any(c["contact"]["grades"].get("lead", "").startswith("A")
                                             and c["contact"]["attributes"] for c in before["contacts"].values())


def test_a_restore_refuses_a_deployment_that_holds_data(client, services, tmp_path, source):
    busy(client, services)
    archive = tmp_path / "b.gz"
    assert source("backup", str(archive)).exit_code == 0
    result = source("restore", str(archive))
    assert result.exit_code == 1
    assert "already holds data" in result.output and "nothing was restored" in result.output


@pytest.mark.parametrize("damage, problem", [
    pytest.param(lambda lines: lines[:-1], "incomplete", id="cut-short"),
    pytest.param(lambda lines: [json.dumps({"format": "scorekeeper-backup", "version": 99}).encode() + b"\n",
                                *lines[1:]], "version 99", id="newer-version"),
    pytest.param(lambda lines: [b'{"format": "other"}\n', *lines[1:]], "not a Scorekeeper backup", id="not-ours"),
    pytest.param(lambda lines: [*lines[:2], *lines[3:]], "does not hold what its end record lists", id="lost-line"),
])
def test_a_damaged_archive_restores_nothing(client, services, fresh_redis, tmp_path, damage, problem, source):
    busy(client, services)
    archive = tmp_path / "b.gz"
    assert source("backup", str(archive)).exit_code == 0
    with gzip.open(archive, "rb") as lines:
        kept = damage(lines.readlines())
    with gzip.open(archive, "wb") as out:
        out.writelines(kept)
    result = cli(fresh_redis.url, "restore", str(archive))
    assert result.exit_code == 1 and problem in result.output and "nothing was restored" in result.output
    assert fresh_redis.client().dbsize() == 0


def test_each_contact_is_consistent_in_a_backup_taken_while_contacts_are_being_scored(client, services, tmp_path):
    """A writer keeps sending and scoring interactions while backups are taken: in every archive, every
    contact's fold state is the fold of its timeline (both are written in one script, so a contact read half
    before and half after a write would show a mismatch; the ledger is that fold's, made on read)."""
    import threading

    from app.backup import read_records, write_archive
    from app.scoring.fold import FoldState, fold
    from app.scoring.profiles import parse_version_field
    from app.scoring.records import decode_record
    from app.storage.timelines import join_states

    from .helpers import drain_all

    busy(client, services)
    settle(services)
    stop = threading.Event()
    app = client.application

    def write():
        writer = app.test_client()
        with app.app_context():
            n = 0
            while not stop.is_set():
                send(writer, {"interactions": [{"id": f"w{n}-{i}", "type": "email.clicked",
                                                "contact": {"email": EMAILS[(n + i) % len(EMAILS)]},
                                                "properties": {"message_id": f"w{n}"}} for i in range(10)]})
                drain_all(app.extensions["scorekeeper"])
                n += 1

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    try:
        archives = []
        for round_ in range(3):
            archive = tmp_path / f"b{round_}.gz"
            write_archive(services.snapshot, archive, app.config)
            archives.append(archive)
    finally:
        stop.set()
        thread.join(timeout=30)
    checked = 0
    for archive in archives:
        for record in read_records(archive):
            if record["kind"] != "contact":
                continue
            timeline = [decode_record(key, json.loads(value)) for key, value in record["timeline"].items()]
            for version_field, raw in join_states(record["states"]).items():
                if version_field == "_rev":
                    continue
                state = FoldState.from_json(json.loads(raw))
                profile = services.profiles.version(*parse_version_field(version_field))
                assert fold(profile, timeline, state.last[0])[0].score == state.score, (record["id"], version_field)
                checked += 1
    assert checked > 3 * len(EMAILS)
