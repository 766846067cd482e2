"""Workflow files and user edits never overwrite each other (CONTRACTS item 2, docs/workflows.md).

A workflow is managed either by its file in the workflows directory — loaded when the web server starts or by
``scorekeeper workflows sync``, never as a side effect — or by its users over the API and the dashboard. Edits
of a file-managed workflow are refused with 409; a file never replaces a user's workflow.
"""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.automation import load_workflow_files
from app.cli import main

from .conftest import TEST_REDIS_URL
from .helpers import AUTH

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def workflow(workflow_id: str, enabled: bool = True, name: str = "Hot lead") -> dict:
    return {"id": workflow_id, "name": name, "enabled": enabled,
            "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 50},
            "steps": [{"type": "add_tag", "tag": "hot"}]}


@pytest.fixture
def files(tmp_path):
    """The workflows directory, with one file-managed workflow ``from-file`` (disabled, as shipped)."""
    directory = tmp_path / "workflows"
    directory.mkdir()
    (directory / "from-file.json").write_text(json.dumps(workflow("from-file", enabled=False)))
    return directory


@pytest.fixture
def server(make_app, files):
    """``start()``: the web server starting (the app factory plus the file load), as often as a test likes."""

    class Server:
        def start(self):
            app = make_app(WORKFLOWS_DIR=str(files))
            self.report = load_workflow_files(app)
            self.client = app.test_client()
            return self.client

    return Server()


@pytest.fixture
def cli(monkeypatch, files):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("SCOREKEEPER_PARTITIONS", "4")
    monkeypatch.setenv("SCOREKEEPER_WORKFLOWS_DIR", str(files))
    runner = CliRunner()
    return lambda *args: runner.invoke(main, list(args))


def listed(client) -> dict[str, dict]:
    return {w["id"]: w for w in client.get("/v1/workflows", headers=AUTH).get_json()["items"]}


@pytest.mark.parametrize("method, path, body", [
    pytest.param("PUT", "/v1/workflows/from-file", workflow("from-file", enabled=True), id="enable-by-put"),
    pytest.param("PUT", "/v1/workflows/from-file", {"oops": 1}, id="invalid-put"),
    pytest.param("DELETE", "/v1/workflows/from-file", None, id="delete"),
])
def test_an_api_edit_of_a_file_managed_workflow_is_refused_with_409(server, method, path, body):
    client = server.start()
    response = client.open(path, method=method, json=body, headers=AUTH)
    assert response.status_code == 409
    assert response.get_json() == {
        "code": 409, "status": "Conflict",
        "message": "workflow from-file is managed by workflows/from-file.json: edit the file and run "
                   "`scorekeeper workflows sync`",
        "errors": {"managed_by": ["file workflows/from-file.json"]}}
    shown = listed(client)["from-file"]
    assert (shown["managed_by"], shown["file"], shown["enabled"]) == ("file", "from-file.json", False)


def test_an_api_enabled_workflow_stays_enabled_across_cli_commands_and_restarts(server, cli, tmp_path):
    client = server.start()
    assert client.put("/v1/workflows/mine", json=workflow("mine", enabled=False), headers=AUTH).status_code == 201
    assert client.put("/v1/workflows/mine", json=workflow("mine", enabled=True), headers=AUTH).status_code == 200
    before = listed(client)["mine"]
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps([{"id": "engagement", "name": "E",
                                     "rules": [{"id": "o", "on": "email.opened", "points": 1}]}]))
    interactions = tmp_path / "interactions.jsonl"
    interactions.write_text(json.dumps({"id": "1", "type": "email.opened", "contact": {"email": "a@x.io"}}) + "\n")

    for command in (["import-profiles", str(profiles)], ["import-interactions", str(interactions)],
                    ["workflows", "validate"], ["workflows", "sync"]):
        assert cli(*command).exit_code == 0
        assert listed(client)["mine"] == before, command
    for _ in range(2):
        assert listed(server.start())["mine"] == before
    assert before["enabled"] is True and before["managed_by"] == "api"


def test_cli_commands_do_not_load_workflow_files_only_sync_does(make_app, cli, files, tmp_path):
    client = make_app().test_client()
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps([{"id": "engagement", "name": "E",
                                     "rules": [{"id": "o", "on": "email.opened", "points": 1}]}]))
    assert cli("import-profiles", str(profiles)).exit_code == 0
    assert cli("workflows", "validate").exit_code == 0
    assert listed(client) == {}

    result = cli("workflows", "sync")
    assert result.exit_code == 0, result.output
    assert "created from-file" in result.stdout
    assert listed(client)["from-file"]["managed_by"] == "file"

    (files / "from-file.json").write_text(json.dumps(workflow("from-file", enabled=True)))
    assert "updated from-file" in cli("workflows", "sync").stdout
    assert listed(client)["from-file"]["enabled"] is True
    (files / "from-file.json").unlink()
    assert "removed from-file" in cli("workflows", "sync").stdout
    assert listed(client) == {}


def test_a_file_never_replaces_a_users_workflow_of_the_same_id(server, cli, files):
    client = server.start()
    assert client.put("/v1/workflows/mine", json=workflow("mine", name="Mine"), headers=AUTH).status_code == 201
    (files / "mine.json").write_text(json.dumps(workflow("mine", enabled=False, name="From a file")))

    result = cli("workflows", "sync")
    assert result.exit_code == 1
    assert "refused mine.json: a workflow mine made over the API or dashboard exists" in result.stdout
    restarted = server.start()
    assert server.report.refused == ("mine",)
    mine = listed(restarted)["mine"]
    assert (mine["name"], mine["enabled"], mine["managed_by"]) == ("Mine", True, "api")


def test_an_invalid_file_stops_the_sync_before_anything_is_written(make_app, cli, files):
    client = make_app().test_client()
    (files / "broken.json").write_text('{"id": "broken",\n "name": }')
    result = cli("workflows", "sync")
    assert result.exit_code == 1
    assert "broken.json" in result.output and "nothing was synced" in result.output
    assert listed(client) == {}
