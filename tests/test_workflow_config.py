"""Workflow configs: validation (files, API), the generated JSON Schema, loading at start-up, CRUD."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from app.automation import WorkflowConfigError, json_schema, validate_document, validate_file
from click.testing import CliRunner

from app.automation import load_workflow_files
from app.cli import main as cli_main

from .helpers import AUTH

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(p for p in (ROOT / "workflows").glob("*.json") if not p.name.endswith(".schema.json"))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def valid_workflow(**overrides):
    doc = {
        "id": "hot", "name": "Hot lead",
        "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 50},
        "steps": [{"type": "add_tag", "tag": "hot"},
                  {"type": "webhook", "url": "https://crm.example.com/hook", "secret": SECRET}],
    }
    doc.update(overrides)
    return doc


def test_examples_are_valid_and_shipped_disabled():
    assert {p.stem for p in EXAMPLES} >= {"hot-lead-alert", "re-engagement", "dnd-clean-up"}
    for path in EXAMPLES:
        assert validate_file(path) == []
        assert json.loads(path.read_text())["enabled"] is False


def test_the_shipped_json_schema_is_the_generated_one():
    shipped = json.loads((ROOT / "workflows" / "workflow.schema.json").read_text())
    assert shipped == json.loads(json.dumps(json_schema()))


def test_json_schema_describes_every_step_type():
    schema = json_schema()

    def resolve(node):
        return schema["$defs"][node["$ref"].rpartition("/")[2]] if "$ref" in node else node

    steps = resolve(schema["properties"]["steps"]["items"])["oneOf"]
    types = set()
    for option in steps:
        type_field = resolve(option)["properties"]["type"]
        types |= set(type_field.get("enum") or [type_field.get("const")])
    assert types == {"add_tag", "remove_tag", "adjust_score", "reset_score", "notify", "webhook", "wait"}


def _with(path, value):
    doc = copy.deepcopy(valid_workflow())
    target = doc
    for part in path[:-1]:
        target = target[part]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


@pytest.mark.parametrize(("doc", "field", "problem"), [
    pytest.param(_with(["name"], KeyError), "name", "Missing data", id="name-missing"),
    pytest.param(_with(["id"], "has space"), "id", "A-Z", id="bad-id"),
    pytest.param(_with(["colour"], "red"), "colour", "Unknown field", id="unknown-key"),
    pytest.param(_with(["trigger", "operator"], "between"), "trigger.operator", "Must be one of", id="operator"),
    pytest.param(_with(["trigger", "value"], KeyError), "trigger.value", "needs a numeric value", id="value-missing"),
    pytest.param(_with(["trigger", "value"], "50"), "trigger.value", "integer", id="value-string"),
    pytest.param(_with(["trigger", "fire"], "always"), "trigger.fire", "Must be one of", id="fire"),
    pytest.param(_with(["trigger", "type"], "cron"), "trigger.type", "must be one of", id="trigger-type"),
    pytest.param(_with(["steps"], []), "steps", "Length", id="no-steps"),
    pytest.param(_with(["steps", 0, "type"], "launch"), "steps[0].type", "must be one of", id="step-type"),
    pytest.param(_with(["steps", 1, "url"], "ftp://x/"), "steps[1].url", "http or https", id="webhook-url"),
    pytest.param(_with(["steps", 1, "secret"], "plain"), "steps[1].secret", "whsec_", id="secret"),
    pytest.param(_with(["steps", 1, "headers"], {"webhook-id": "x"}), "steps[1].headers", "set by Scorekeeper",
                 id="reserved-header"),
])
def test_invalid_documents_name_the_field_and_the_problem(doc, field, problem):
    problems = validate_document(doc)
    assert any(line.startswith(f"{field}: ") and problem.lower() in line.lower() for line in problems), problems


@pytest.mark.parametrize(("step", "field", "problem"), [
    pytest.param({"type": "notify", "channel": "email", "to": "not-an-address", "message": "hi"}, "to",
                 "addresses", id="email-to"),
    pytest.param({"type": "notify", "channel": "slack", "message": "hi"}, "to", "URL", id="slack-url"),
    pytest.param({"type": "notify", "channel": "inbox", "message": "{{ contact.email "}, "message",
                 "template error", id="template-syntax"),
    pytest.param({"type": "adjust_score", "profile": "engagement", "add": 1, "set": 2}, "add", "exactly one",
                 id="add-and-set"),
    pytest.param({"type": "wait", "duration": "soon"}, "duration", "not a duration", id="wait-duration"),
    pytest.param({"type": "wait", "duration": "100d"}, "duration", "at most 90d", id="wait-too-long"),
    pytest.param({"type": "add_tag", "tag": " vip"}, "tag", "no spaces at either end", id="tag-space-at-start"),
    pytest.param({"type": "add_tag", "tag": "a,b"}, "tag", "without commas", id="tag-comma"),
    pytest.param({"type": "add_tag", "tag": "x", "when": {"operator": "gte", "value": 1}}, "when.profile",
                 "needs a profile", id="when-profile"),
])
def test_invalid_steps_name_the_field(step, field, problem):
    problems = validate_document(valid_workflow(steps=[step]))
    assert any(line.startswith(f"steps[0].{field}: ") and problem.lower() in line.lower() for line in problems), \
        problems


def test_interaction_trigger_checks_type_and_where():
    doc = valid_workflow(trigger={"type": "interaction", "on": "form.sent", "where": {"x": {"near": 1}}})
    problems = validate_document(doc)
    assert any(p.startswith("trigger.on: unknown interaction type") for p in problems), problems
    assert any(p.startswith("trigger.where.x: unknown operator") for p in problems), problems


def test_cli_validate_reports_file_field_and_problem(tmp_path):
    bad = tmp_path / "hot.json"
    bad.write_text(json.dumps(_with(["trigger", "operator"], "between")))
    result = CliRunner().invoke(cli_main, ["workflows", "validate", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}: trigger.operator: Must be one of" in result.stdout
    result = CliRunner().invoke(cli_main, ["workflows", "validate", *map(str, EXAMPLES)])
    assert result.exit_code == 0, result.output


def test_cli_writes_the_json_schema(tmp_path):
    result = CliRunner().invoke(cli_main, ["workflows", "schema", str(tmp_path / "w.schema.json")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "w.schema.json").read_text()) == json.loads(json.dumps(json_schema()))


def test_cli_validate_reports_invalid_json_and_a_wrong_file_name(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text("{\"id\": ")
    assert "invalid JSON at line 1" in validate_file(broken)[0]
    misnamed = tmp_path / "other.json"
    misnamed.write_text(json.dumps(valid_workflow()))
    assert "differs from the file name" in validate_file(misnamed)[0]


def test_an_invalid_file_stops_start_up_naming_file_field_and_problem(make_app, tmp_path):
    (tmp_path / "hot.json").write_text(json.dumps(_with(["trigger", "value"], KeyError)))
    with pytest.raises(WorkflowConfigError) as caught:
        load_workflow_files(make_app(WORKFLOWS_DIR=str(tmp_path)))
    assert str(tmp_path / "hot.json") in str(caught.value)
    assert "trigger.value: 'gte' needs a numeric value" in str(caught.value)


def test_files_are_loaded_at_start_up_and_removed_files_dropped(make_app, tmp_path):
    (tmp_path / "hot.json").write_text(json.dumps(valid_workflow()))
    (tmp_path / "workflow.schema.json").write_text(json.dumps(json_schema()))
    app = make_app(WORKFLOWS_DIR=str(tmp_path))
    load_workflow_files(app)
    listed = app.test_client().get("/v1/workflows", headers=AUTH).get_json()["items"]
    assert [(w["id"], w["managed_by"], w["file"]) for w in listed] == [("hot", "file", "hot.json")]
    (tmp_path / "hot.json").unlink()
    client = make_app(WORKFLOWS_DIR=str(tmp_path)).test_client()
    load_workflow_files(client.application)
    assert client.get("/v1/workflows", headers=AUTH).get_json()["items"] == []


def test_put_get_list_delete(client):
    resp = client.put("/v1/workflows/hot", json=valid_workflow(), headers=AUTH)
    assert resp.status_code == 201, resp.get_json()
    assert resp.get_json()["trigger"]["fire"] == "on_enter"
    assert client.put("/v1/workflows/hot", json=valid_workflow(name="Hotter"), headers=AUTH).status_code == 200
    got = client.get("/v1/workflows/hot", headers=AUTH).get_json()
    assert (got["name"], got["source"]) == ("Hotter", "api")
    assert [w["id"] for w in client.get("/v1/workflows", headers=AUTH).get_json()["items"]] == ["hot"]
    assert client.delete("/v1/workflows/hot", headers=AUTH).status_code == 204
    assert client.get("/v1/workflows/hot", headers=AUTH).status_code == 404
    assert client.delete("/v1/workflows/hot", headers=AUTH).status_code == 404


def test_put_answers_400_naming_each_field(client):
    doc = _with(["trigger", "operator"], "between")
    body = client.put("/v1/workflows/hot", json=doc, headers=AUTH).get_json()
    assert body["code"] == 400
    assert "Must be one of" in body["errors"]["trigger"]["operator"][0]


def test_put_refuses_an_id_other_than_the_url(client):
    body = client.put("/v1/workflows/cold", json=valid_workflow(), headers=AUTH).get_json()
    assert body["code"] == 400 and "id" in body["errors"]


def test_routes_need_the_api_key(client):
    assert client.get("/v1/workflows").status_code == 401
    assert client.get("/v1/deliveries").status_code == 401
