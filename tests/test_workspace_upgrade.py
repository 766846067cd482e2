"""Upgrade: a deployment written by the release before workspaces becomes workspace ``default`` with nothing
moved, lost or rescored.

The data is written by that release's own code: ``git archive`` of the commit before workspaces arrived runs
in a subprocess on the test Redis (profiles published, contacts scored, a workflow run, a smart list, a
stored key, a user, and one interaction accepted but not scored — its drain job queued without a workspace).
Then this release opens the same Redis."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import io
from pathlib import Path

from app.people import get_user

from .helpers import AUTH, OLD_RELEASE_WORKER, settle

ROOT = Path(__file__).resolve().parent.parent

OLD_RELEASE_SCRIPT = OLD_RELEASE_WORKER + r"""
import json, sys
from app import create_app
from app.people import create_user

settings = json.loads(sys.argv[1])
app = create_app(settings)
services = app.extensions["scorekeeper"]
client = app.test_client()
auth = {"Authorization": "Bearer " + settings["API_KEYS"]}

def work():
    with app.app_context():
        BurstWorker([services.queue], connection=services.queue.connection).work(burst=True)

assert client.put("/v1/profiles/engagement", headers=auth, json={
    "name": "Engagement", "rules": [{"id": "click", "on": "email.clicked", "points": 10}],
    "bands": [{"name": "cold", "min": 0}, {"name": "hot", "min": 20}]}).status_code == 200
client.post("/v1/profiles/engagement/publish", headers=auth, json={})
work()
assert client.put("/v1/workflows/hot", headers=auth, json={
    "id": "hot", "name": "Hot", "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte",
                                            "value": 20},
    "steps": [{"type": "add_tag", "tag": "hot-lead"}]}).status_code in (200, 201)
list_id = client.post("/v1/smart-lists", headers=auth, json={"name": "Hot", "profile": "engagement", "op": "gte",
                                                            "value": 20}).get_json()["id"]
for n in range(2):
    client.post("/v1/interactions", headers=auth, json={"id": f"c{n}", "type": "email.clicked",
                                                        "contact": {"email": "ann@old.io"}})
    work()
key = client.post("/v1/keys", headers=auth, json={"name": "old-script", "scopes": ["read"]}).get_json()
with app.app_context():
    create_user(services, "owner@old.io", "correct horse battery", "owner", "cli")
contact = client.get("/v1/contacts?email=ann@old.io", headers=auth).get_json()["items"][0]
ledger = client.get(f"/v1/contacts/{contact['id']}/scores/engagement/history", headers=auth).get_json()["items"]
# accepted, not scored: its drain job waits in the queue, queued by a release that knew no workspaces
client.post("/v1/interactions", headers=auth, json={"id": "c2", "type": "email.clicked",
                                                    "contact": {"email": "ann@old.io"}})
print(json.dumps({"contact": contact, "ledger": ledger, "key": key, "list_id": list_id}))
"""


def old_release() -> str:
    """The commit just before workspaces arrived (the parent of the commit that added app/workspaces.py)."""
    added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "HEAD", "--", "app/workspaces.py"],
                           cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    assert added, "the history holds the commit that added workspaces"
    return f"{added}^"


def test_a_deployment_written_before_workspaces_is_workspace_default_with_nothing_rescored(
        make_app, base_settings, tmp_path):
    tree = tmp_path / "old"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "--format=tar", old_release(), "app", "workers"], cwd=ROOT,
                             capture_output=True, check=True).stdout
    tarfile.open(fileobj=io.BytesIO(archive)).extractall(tree, filter="data")
    assert not (tree / "app" / "workspaces.py").exists()
    settings = {k: v for k, v in base_settings.items() if isinstance(v, (str, int, bool))}
    written = subprocess.run([sys.executable, "-c", OLD_RELEASE_SCRIPT, json.dumps(settings)], cwd=tree,
                             env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr[-3000:]
    before = json.loads(written.stdout.strip().splitlines()[-1])
    cid = before["contact"]["id"]
    assert before["contact"]["scores"]["engagement"]["score"] == 20 and "hot-lead" in before["contact"]["tags"]

    app = make_app()
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        assert services.workspace == "default"
        assert not [k for k in services.redis.scan_iter(match="*:w:*")]  # nothing moved under a workspace prefix
        # everything is there, as it was: scores, tags, ledger, workflow, smart list, key, user
        contact = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()
        assert contact["scores"] == before["contact"]["scores"] and contact["tags"] == before["contact"]["tags"]
        ledger = client.get(f"/v1/contacts/{cid}/scores/engagement/history", headers=AUTH).get_json()["items"]
        assert ledger == before["ledger"]  # not rescored
        assert client.get("/v1/workflows/hot", headers=AUTH).status_code == 200
        assert client.get(f"/v1/smart-lists/{before['list_id']}/contacts", headers=AUTH).get_json()["items"]
        old_key = {"Authorization": f"Bearer {before['key']['key']}"}
        assert client.get(f"/v1/contacts/{cid}", headers=old_key).status_code == 200
        [listed] = client.get("/v1/keys", headers=AUTH).get_json()["items"]
        assert listed["id"] == before["key"]["id"] and listed["workspace"] == "default"
        assert get_user(services, "owner@old.io").role == "owner"
        # the drain job queued by the old release runs in default
        settle(services)
        after = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()
        assert after["scores"]["engagement"]["score"] == 30
        history = client.get(f"/v1/contacts/{cid}/scores/engagement/history", headers=AUTH).get_json()["items"]
        assert history[1:] == before["ledger"] and history[0]["interaction_id"] == "c2"
        # a new workspace starts empty beside it
        assert client.post("/v1/workspaces", json={"id": "acme", "name": "Acme"}, headers=AUTH).status_code == 201
        acme = {**AUTH, "X-Scorekeeper-Workspace": "acme"}
        assert client.get("/v1/contacts", headers=acme).get_json()["items"] == []
        assert client.get("/v1/profiles", headers=acme).get_json()["items"] == []
        assert client.get(f"/v1/contacts/{cid}", headers=acme).status_code == 404
