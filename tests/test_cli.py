"""The scorekeeper command: imports with progress, a bad line named, configs validated."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from app.cli import main

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, publish, score_of, settle


@pytest.fixture
def runner(monkeypatch, app):
    monkeypatch.setenv("REDIS_URL", TEST_REDIS_URL)
    monkeypatch.setenv("SCOREKEEPER_PARTITIONS", "4")
    monkeypatch.setenv("SCOREKEEPER_WORKFLOWS_DIR", "")
    return CliRunner()


def test_import_profiles_then_interactions_then_scores(runner, client, services, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps([{"id": "eng", "name": "Engagement",
                                     "rules": [{"id": "o", "on": "email.opened", "points": 3}]}]))
    result = runner.invoke(main, ["import-profiles", str(profiles)])
    assert result.exit_code == 0, result.output
    publish(client, services, "eng")
    lines = tmp_path / "interactions.jsonl"
    lines.write_text("\n".join(json.dumps({"id": str(i), "type": "email.opened", "contact": {"email": "c@x.io"}})
                               for i in range(5)) + "\n")
    result = runner.invoke(main, ["import-interactions", str(lines), "--batch", "2"])
    assert result.exit_code == 0, result.output
    assert "accepted 5, duplicates 0" in result.output
    settle(services)
    assert score_of(client, "c@x.io", "eng") == 15


def test_a_bad_line_stops_the_import_naming_it_and_stores_nothing_of_its_batch(runner, services, tmp_path):
    lines = tmp_path / "interactions.jsonl"
    good = json.dumps({"id": "1", "type": "email.opened", "contact": {"email": "c@x.io"}})
    lines.write_text(good + "\n" + json.dumps({"id": "2", "type": "nope", "contact": {"email": "c@x.io"}}) + "\n")
    result = runner.invoke(main, ["import-interactions", str(lines)])
    assert result.exit_code != 0
    assert "line 2" in result.output and "type" in result.output
    assert sum(services.partitions.partition_depths()) == 0


def test_an_invalid_profile_file_is_refused(runner, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text(json.dumps([{"id": "eng", "name": "E", "rules": [{"id": "o", "on": "x", "points": 1}]}]))
    result = runner.invoke(main, ["import-profiles", str(profiles)])
    assert result.exit_code != 0 and "eng" in result.output


def test_validate_names_the_file_and_field(runner, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"id": "w", "name": "W", "trigger": {"type": "score_changed"}, "steps": []}))
    result = runner.invoke(main, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "bad.json" in result.output and "trigger" in result.output


def test_the_shipped_workflow_examples_validate(runner):
    result = runner.invoke(main, ["validate"])
    assert result.exit_code == 0, result.output
