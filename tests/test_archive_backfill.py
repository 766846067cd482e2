"""The archive backfill (app/archive_backfill.py, ``scorekeeper archive backfill``): history that only Redis holds
goes into the archive once, so the hot horizon can move it out of Redis with every score and ledger unchanged.

The upgrade case is tested on data written by the release before the archive existed: that release's own code
(``git archive`` of the commit before the one that added app/archive/) runs in a subprocess on the test Redis,
scores a history reaching back a year, and this release opens the same Redis, on SQLite and on the real
PostgreSQL; a backfill is killed half-way (SIGKILL) and the command resumes it. The other cases use this release's data with an archive that holds none of it (the same Redis opened
with another, empty, archive: what an upgraded deployment looks like)."""
from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archive_backfill import MIGRATION, backfill, backfill_step, copy_to_archive
from app.cli import main
from app.contact_layout import kept_properties_once
from app.clock import now_ms
from app.horizon import trim_all
from app.scoring.interactions import format_timestamp

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, OLD_RELEASE_WORKER, send, settle, wait_for
from .processes import start_worker, stop

ROOT = Path(__file__).resolve().parent.parent
DAY = 86_400_000
RULES = [
    {"id": "open", "on": "email.opened", "points": 1, "limit": {"count": 2, "window": "7d"}},
    {"id": "click", "on": "email.clicked", "points": 5, "limit": {"once_per": "message_id"}},
    {"id": "form", "on": "form.submitted", "points": 10},
]
TYPES = ["email.opened", "email.clicked", "form.submitted", "email.opened", "email.delivered"]

OLD_RELEASE_SCRIPT = OLD_RELEASE_WORKER + r"""
import json, sys
from datetime import datetime, timezone
from app import create_app

settings, rules, types, now = json.loads(sys.argv[1]), json.loads(sys.argv[2]), json.loads(sys.argv[3]), int(sys.argv[4])
app = create_app(settings)
services = app.extensions["scorekeeper"]
client = app.test_client()
auth = {"Authorization": "Bearer " + settings["API_KEYS"]}
DAY = 86_400_000

def work():
    with app.app_context():
        BurstWorker([services.queue], connection=services.queue.connection).work(burst=True)

def iso(ms):
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")

assert client.put("/v1/profiles/eng", headers=auth, json={"name": "Eng", "rules": rules}).status_code == 200
assert client.post("/v1/profiles/eng/publish", headers=auth, json={}).status_code == 202
work()
items = []
for c in range(12):
    for i in range(10):  # a year of history: day 360 back to day 0
        type_ = types[(c + i) % len(types)]
        items.append({"id": f"c{c}-{i}", "source": "api", "type": type_, "contact": {"email": f"p{c}@old.io"},
                      "occurred_at": iso(now - (360 - 40 * i) * DAY),
                      "properties": {"message_id": f"m{i % 3}", "n": i}})
for start in range(0, len(items), 40):
    assert client.post("/v1/interactions", headers=auth,
                       json={"interactions": items[start:start + 40]}).status_code == 202
work()
contacts = {}
for c in range(12):
    contact = client.get(f"/v1/contacts?email=p{c}@old.io", headers=auth).get_json()["items"][0]
    contacts[contact["id"]] = contact["scores"]["eng"]["score"]
print(json.dumps(contacts))
"""


def release_before_the_archive() -> str:
    """The commit just before the archive arrived (the parent of the commit that added app/archive/): a release
    that wrote its whole history to Redis only."""
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "HEAD", "--", "app/archive/__init__.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    assert added, "the history holds the commit that added the archive"
    return f"{added[-1]}^"


def run_old_release(base_settings: dict, tmp_path: Path, now: int) -> dict[str, int]:
    """Write a year of history with the release before the archive; returns its scores by contact id."""
    tree = tmp_path / "old"
    tree.mkdir()
    code = subprocess.run(["git", "archive", "--format=tar", release_before_the_archive(), "app", "workers"],
                          cwd=ROOT, capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(code)).extractall(tree, filter="data")
    assert not (tree / "app" / "archive").exists() and not (tree / "app" / "archiving.py").exists()
    settings = {k: v for k, v in base_settings.items() if isinstance(v, (str, int, bool)) and k != "ARCHIVE_URL"}
    written = subprocess.run([sys.executable, "-c", OLD_RELEASE_SCRIPT, json.dumps(settings), json.dumps(RULES),
                              json.dumps(TYPES), str(now)], cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)},
                             capture_output=True, text=True, timeout=180)
    assert written.returncode == 0, written.stderr[-3000:]
    return json.loads(written.stdout.strip().splitlines()[-1])


CRASH_SCRIPT = r"""
import os, sys
from app import create_app
from app.archive_backfill import backfill
app = create_app({"ARCHIVE_URL": sys.argv[1], "REDIS_URL": sys.argv[2], "PARTITIONS": 4, "WORKFLOWS_DIR": ""})
with app.app_context():
    services = app.extensions["scorekeeper"]
    backfill(services, page=1, on_page=lambda n: (print("page", flush=True), sys.stdin.readline()))
"""


def kill_half_way(archive_url: str, redis_url: str, pages: int) -> None:
    """A backfill in a process of its own, a page of one contact at a time, killed (SIGKILL) after ``pages``,
    inside or just after the page that follows. After each page it waits for a line from this process: else, this
    process descheduled between reading the last page's line and the kill (a loaded machine), the walk ran on and
    finished before the kill came (it is a few milliseconds a page)."""
    process = subprocess.Popen([sys.executable, "-c", CRASH_SCRIPT, archive_url, redis_url], cwd=ROOT,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(pages):
            assert process.stdout.readline() == "page\n"
            process.stdin.write("next\n")
            process.stdin.flush()
        process.send_signal(signal.SIGKILL)  # where it stands: inside the next page, or waiting after it
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
        process.stdin.close()


def whole_ledger(client, cid: str) -> list[dict]:
    """A contact's whole ledger as the API pages it, newest first, following ``next_before`` to the end."""
    items, before = [], None
    while True:
        query = {"limit": 3, **({"before": before} if before else {})}
        page = client.get(f"/v1/contacts/{cid}/scores/eng/history", query_string=query, headers=AUTH).get_json()
        items += page["items"]
        before = page.get("next_before")
        if not before:
            return items


def readback(client, services, contact_ids) -> dict:
    """What the API gives back for each contact: its scores and its whole ledger."""
    return {cid: {"scores": client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["scores"],
                  "ledger": whole_ledger(client, cid)} for cid in contact_ids}


def every_record(services, contact_ids) -> set[tuple]:
    return {(cid, r.source, r.id, r.at, r.type, json.dumps(r.properties, sort_keys=True))
            for cid, records in services.timelines.read_timelines(contact_ids).items() for r in records}


def archived(services, contact_ids) -> set[tuple]:
    return {(cid, r.source, r.id, r.at, r.type, json.dumps(r.properties, sort_keys=True))
            for cid, records in services.archive.histories(contact_ids, workspace=services.workspace).items()
            for r in records}


def test_history_written_before_the_archive_is_backfilled_then_leaves_redis_with_scores_and_ledgers_unchanged(
        make_app, base_settings, archive_url, runner, monkeypatch, tmp_path):
    now = now_ms()
    old_scores = run_old_release(base_settings, tmp_path, now)
    assert len(old_scores) == 12 and all(old_scores.values())
    app = make_app(ARCHIVE_URL=archive_url, HOT_HISTORY="90d")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        cids = sorted(old_scores)
        hot = every_record(services, cids)
        assert len(hot) == 120 and services.archive.count() == 0
        before = readback(client, services, cids)
        assert {cid: before[cid]["scores"]["eng"]["score"] for cid in cids} == old_scores
        assert trim_all(services, now_ms())["contacts"] == 0  # the archive holds none of it: nothing may leave

        kill_half_way(archive_url, base_settings["REDIS_URL"], pages=5)
        killed = services.archive_backfill.position()
        assert killed.finished_at is None and 5 <= killed.counts["contacts"] < 12
        monkeypatch.setenv("SCOREKEEPER_ARCHIVE_URL", archive_url)
        result = runner.invoke(main, ["archive", "backfill"])  # resumes where the killed one stood
        assert result.exit_code == 0, result.output
        assert "archiving default" in result.output  # the progress bar
        assert archived(services, cids) == hot and services.archive.count() == 120  # each record once
        assert services.jobs.migration_done(MIGRATION)

        moved = trim_all(services, now_ms())
        assert moved["contacts"] == 12 and moved["waiting"] == 0
        left = every_record(services, cids)
        assert len(left) == 12 * 3  # days 40, 0 and 80 back stay hot; the other seven of each contact left
        assert readback(client, services, cids) == before  # scores and every ledger page, from Redis and archive

        again = runner.invoke(main, ["archive", "backfill", "--again"])  # a second walk writes nothing
        assert again.exit_code == 0 and "records appended 0" in again.output
        assert services.archive.count() == 120

        cid = client.get("/v1/contacts?email=p0@old.io", headers=AUTH).get_json()["items"][0]["id"]
        send(client, {"id": "new", "type": "form.submitted", "contact": {"email": "p0@old.io"}})
        settle(services)  # scoring goes on from the checkpoints at the horizon
        assert client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["scores"]["eng"]["score"] == \
            old_scores[cid] + 10


def scored_world(make_app, tmp_path, contacts: int, workspace: str = "default", trimmed: bool = False, **settings):
    """This release's data in Redis with an archive that holds none of it: contacts scored with archive A, then
    the same Redis opened with an empty archive B (an upgraded deployment's state). Returns B's app and the
    services of the workspace. ``trimmed``: copies are trimmed once archived (``kept_properties_once``), and every
    other interaction carries a long URL no rule reads, so Redis keeps it without."""
    first = make_app(ARCHIVE_URL=f"sqlite:///{tmp_path}/first.sqlite3", HOT_HISTORY="0", **settings)
    client = first.test_client()
    headers = {**AUTH, "X-Scorekeeper-Workspace": workspace}
    with first.app_context():
        if workspace != "default":
            assert client.post("/v1/workspaces", json={"id": workspace, "name": workspace},
                               headers=AUTH).status_code == 201
        services = first.extensions["scorekeeper.tenancy"].get(workspace)
        if trimmed:
            kept_properties_once(services)
        assert client.put("/v1/profiles/eng", json={"name": "Eng", "rules": RULES}, headers=headers).status_code == 200
        assert client.post("/v1/profiles/eng/publish", json={}, headers=headers).status_code == 202
        settle(services)
        now = now_ms()
        url = {"url": "https://example.com/pricing?utm_source=newsletter&utm_campaign=dec"}
        items = [{"id": f"i{c}-{i}", "type": TYPES[(c + i) % len(TYPES)], "contact": {"email": f"q{c}@x.io"},
                  "occurred_at": format_timestamp(now - (200 - 30 * i) * DAY),
                  "properties": {"message_id": f"m{i}", **(url if trimmed and i % 2 else {})}}
                 for c in range(contacts) for i in range(4)]
        for start in range(0, len(items), 500):
            resp = client.post("/v1/interactions", json={"interactions": items[start:start + 500]}, headers=headers)
            assert resp.status_code == 202, resp.get_json()
        settle(services)
    second = make_app(ARCHIVE_URL=f"sqlite:///{tmp_path}/second.sqlite3", HOT_HISTORY="90d", **settings)
    return second, second.extensions["scorekeeper.tenancy"].get(workspace)


def all_contacts(services) -> list[str]:
    return [cid for page in services.contacts.contact_pages(1000) for cid in page]


@pytest.mark.also_on_cluster
def test_a_page_appended_but_not_recorded_is_not_counted_or_stored_twice(make_app, tmp_path):
    app, services = scored_world(make_app, tmp_path, 30)
    with app.app_context():
        cids = all_contacts(services)
        # a crash after the append and before the walk saved its place: the page is read again
        assert copy_to_archive(services, cids[:5])["records"] == 20
        total = backfill(services, page=7)
        assert total["records"] == 120 - 20 and total["held"] == 20 and total["contacts"] == 30
        assert services.archive.count() == 120
        assert archived(services, cids) == every_record(services, cids)
        assert backfill_step(services) is None  # finished: the ticker only reads where it stands
        position = services.archive_backfill.position()
        assert position.finished_at is not None and position.counts == {"contacts": 30, "records": 100, "held": 20,
                                                                 "short": 0}


def test_the_walk_misses_no_contact_when_contacts_are_deleted_while_it_runs(make_app, tmp_path):
    app, services = scored_world(make_app, tmp_path, 40, INDEX_BUCKETS=2)
    with app.app_context():
        cids = all_contacts(services)
        walk, registry = services.archive_backfill, services.contacts.registry
        assert backfill_step(services, page=3)["contacts"] == 3
        position = walk.position()
        assert position.bucket == 0
        first = registry.page(0, 0, 1)[0]
        assert first != position.contact_id
        remove(registry, first)  # one the walk visited: every rank after it moves down
        assert first not in registry.page(0, 0, 100)
        backfill_step(services, page=3)
        position = walk.position()
        remove(registry, position.contact_id)  # the one it visited last
        backfill(services, page=3)
        kept = [cid for cid in cids if cid not in (first, position.contact_id)]
        assert every_record(services, kept) <= archived(services, cids)
        assert walk.position().counts["contacts"] >= 40


def test_each_workspace_is_backfilled_into_its_own_part_of_the_archive(make_app, tmp_path, runner, monkeypatch):
    app, services = scored_world(make_app, tmp_path, 5, workspace="acme")
    with app.app_context():
        default = app.extensions["scorekeeper"]
        monkeypatch.setenv("SCOREKEEPER_ARCHIVE_URL", f"sqlite:///{tmp_path}/second.sqlite3")
        result = runner.invoke(main, ["archive", "backfill", "--all-workspaces"])
        assert result.exit_code == 0, result.output
        assert "default: contacts 0" in result.output and "acme: contacts 5, records appended 20" in result.output
        status = runner.invoke(main, ["archive", "status"])
        assert status.exit_code == 0, status.output
        assert "acme: finished" in status.output and "records appended 20" in status.output
        cids = all_contacts(services)
        assert archived(services, cids) == every_record(services, cids)
        assert default.archive.histories(cids) == {}  # nothing under default
        moved = trim_all(services, now_ms())
        assert moved["contacts"] == 5 and moved["records"] == 5 * 4  # all four are older than 90 days


def test_a_copy_redis_keeps_without_some_properties_is_never_backfilled_as_if_whole(make_app, tmp_path, runner,
                                                                                     monkeypatch, caplog):
    """An archive put in the place of the one the deployment wrote to holds none of its records: the walk appends
    the whole copies, leaves out those Redis keeps without some properties (their whole records were in the other
    archive; stored as whole they would fold short for a version reading what they lack), counts and names them, and
    they stay in Redis, scored as before."""
    app, services = scored_world(make_app, tmp_path, 6, trimmed=True)
    with app.app_context():
        cids = all_contacts(services)
        hot = services.timelines.read_timelines(cids)
        short = {(cid, r.source, r.id, r.at, r.type, json.dumps(r.properties, sort_keys=True))
                 for cid, records in hot.items() for r in records if r.dropped}
        assert len(short) == 6 * 2 and all(r.properties.get("url") is None for cid in cids for r in hot[cid])
        client = app.test_client()
        before = readback(client, services, cids)
        monkeypatch.setenv("SCOREKEEPER_ARCHIVE_URL", f"sqlite:///{tmp_path}/second.sqlite3")
        result = runner.invoke(main, ["archive", "backfill"])
        assert result.exit_code == 0, result.output
        assert "default: contacts 6, records appended 12, already archived 0" in result.output
        assert "12 copies in Redis lack properties and are not in this archive" in result.output
        assert archived(services, cids) == every_record(services, cids) - short
        assert sum(getattr(r, "copies", 0) for r in caplog.records) == 12  # logged, with the contacts named
        status = runner.invoke(main, ["archive", "status"])
        assert "copies lacking properties left out 12" in status.output
        assert services.timelines.read_timelines(cids) == hot  # nothing of Redis changed
        assert readback(client, services, cids) == before
        trim_all(services, now_ms())  # the horizon deletes only what the archive holds: the short copies stay
        assert short <= every_record(services, cids)


def backfill_metrics(app) -> tuple[float, float]:
    """The walk's two gauges in ``/metrics`` for workspace ``default``: (contacts visited, finished)."""
    text = app.test_client().get("/metrics", headers=AUTH).get_data(as_text=True)
    values = {line.split("{")[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
              if line.startswith("scorekeeper_archive_backfill_") and 'workspace="default"' in line}
    return values["scorekeeper_archive_backfill_contacts"], values["scorekeeper_archive_backfill_finished"]


def test_a_backfill_killed_half_way_resumes_and_archives_every_record_once(make_app, tmp_path, archive_url,
                                                                            base_settings, runner):
    app, services = scored_world(make_app, tmp_path, 60)
    with app.app_context():
        cids = all_contacts(services)
        kill_half_way(archive_url, base_settings["REDIS_URL"], pages=10)
        position = services.archive_backfill.position()
        assert position.finished_at is None and 10 <= position.counts["contacts"] < 60
        status = runner.invoke(main, ["archive", "status"])
        assert f"default: {position.counts['contacts']} of 60 contacts passed" in status.output, status.output
        assert backfill_metrics(app) == (position.counts["contacts"], 0)
        resumed = make_app(ARCHIVE_URL=archive_url, HOT_HISTORY="90d")
        with resumed.app_context():
            services = resumed.extensions["scorekeeper"]
            total = backfill(services)
            assert total["contacts"] + position.counts["contacts"] >= 60
            assert services.archive.count() == 240  # each record once, whatever the moment of the kill
            assert archived(services, cids) == every_record(services, cids)
            assert position.counts["records"] + total["records"] >= 240 - 4  # at most the page killed mid-way
            assert backfill_metrics(resumed) == (position.counts["contacts"] + total["contacts"], 1)


def test_a_worker_backfills_by_itself_and_its_ticker_then_moves_that_history_out_of_redis(make_app, tmp_path):
    app, services = scored_world(make_app, tmp_path, 20)
    client = app.test_client()
    with app.app_context():
        cids = all_contacts(services)
        hot = every_record(services, cids)
        scores = {cid: client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["scores"] for cid in cids}
        assert trim_all(services, now_ms())["contacts"] == 0  # before: the archive holds none of it
        process = start_worker(TEST_REDIS_URL, ARCHIVE_URL=app.config["ARCHIVE_URL"], HOT_HISTORY="90d",
                               RETENTION_SWEEP_SECONDS="1")
        try:
            wait_for(lambda: services.jobs.migration_done(MIGRATION), timeout=60)
            assert archived(services, cids) == hot
            wait_for(lambda: not any(services.timelines.read_timelines(cids).values()), timeout=60)
        finally:
            stop(process)
        assert {cid: client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["scores"] for cid in cids} == scores


# --- the walk's place, as a property: whatever comes and goes between pages, no contact is skipped ----------------
CHANGE = st.one_of(
    st.tuples(st.just("delete"), st.integers(0, 10_000)),  # a contact deleted (the n-th of those left)
    st.tuples(st.just("delete-last"), st.just(0)),  # the contact the walk visited last is deleted
    st.tuples(st.just("add"), st.integers(0, 6)),  # a contact made, at any score (a restore writes old ones)
    st.tuples(st.just("again"), st.integers(1, 6)),  # the last visited deleted and made again with another score
)


def remove(registry, contact_id: str) -> None:
    """Take a contact out of the registry wherever it lies: the set beside the index, the old set, the index at its
    ``created_at`` (the app deletes no contact but with its workspace; these tests delete some under the walk)."""
    bucket = registry.sharding.bucket_of(contact_id)
    pipe = registry.redis.pipeline(transaction=False)
    pipe.zrem(registry.keys.registry(bucket), contact_id)
    pipe.zrem(registry.keys.contacts(bucket), contact_id)
    pipe.hget(registry.keys.contact(contact_id), "created_at")
    at = pipe.execute()[-1]
    if at is not None:
        registry._ordered.remove(registry.keys.registry_index(bucket), [(int(at), contact_id)])


class OldRegistry:
    """Bucket 0 of the registry as releases before kept it (a sorted set; readers read it until its move)."""

    def __init__(self, services, scores):
        self.redis, self.key = services.redis, services.keys.contacts(0)
        self.redis.delete(self.key)
        self.redis.zadd(self.key, {f"c{n:03d}": score for n, score in enumerate(scores)})

    def members(self):
        return self.redis.zrange(self.key, 0, -1)

    def remove(self, cid):
        self.redis.zrem(self.key, cid)

    def make(self, cid, score):
        self.redis.zadd(self.key, {cid: score})


class CompactRegistry:
    """Bucket 0 of the registry as its compact index (each contact at its contact hash's created_at)."""

    def __init__(self, services, scores):
        self.services, self.registry = services, services.contacts.registry
        assert self.registry.moved()
        for cid in self.members():  # (the examples share one database)
            self.remove(cid)
        for n, score in enumerate(scores):
            self.make(f"c{n:03d}", score)

    def members(self):
        return self.registry.page(0, 0, 10**6)

    def remove(self, cid):
        remove(self.registry, cid)

    def make(self, cid, score):
        self.services.redis.hset(self.services.keys.contact(cid), "created_at", int(score))
        pipe = self.services.redis.pipeline(transaction=False)
        self.registry.new_contact(pipe, cid, int(score) / 1000, int(score))
        pipe.execute()


@pytest.mark.parametrize("layout", [OldRegistry, CompactRegistry])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scores=st.lists(st.integers(0, 5), min_size=1, max_size=30),
       steps=st.lists(st.tuples(st.integers(1, 4), st.lists(CHANGE, max_size=3)), max_size=25))
def test_the_walk_visits_every_contact_that_stays_whatever_comes_and_goes_between_its_pages(services, layout, scores,
                                                                                              steps):
    """Few distinct scores, so contacts share them (made in the same second), and pages of 1 to 4: every contact
    there from the walk's start to its end is visited at least once."""
    services.contacts.registry.sharding = services.sharding.__class__(services.sharding.partitions, 1)  # bucket 0
    registry, walk = layout(services, scores), services.archive_backfill
    present, removed, made = set(registry.members()), set(), 0
    visited: set[str] = set()
    score, last = "", ""
    for size, changes in [*steps, *[(4, [])] * 40]:  # then pages until the walk reaches the end
        page = walk.next_page(0, score, last, size)
        if not page:
            break
        visited.update(cid for cid, _ in page)
        last, score = page[-1]
        for kind, n in changes:
            members = registry.members()
            if kind == "delete" and members:
                removed.add(gone := members[n % len(members)])
                registry.remove(gone)
            elif kind in ("delete-last", "again"):
                removed.add(last)
                registry.remove(last)
                if kind == "again":
                    registry.make(last, float(score.removeprefix("ms:")) + n)
            elif kind == "add":
                made += 1
                registry.make(f"new{made}", n)
    else:
        assert not walk.next_page(0, score, last, 4), "the walk reaches the end"
    assert present - removed <= visited
