"""The scorekeeper command: imports with progress, a bad line named, configs validated."""
from __future__ import annotations

import json

import pytest

from app.cli import main

from .conftest import TEST_REDIS_URL
from .helpers import publish, score_of, settle


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


def test_a_line_that_is_not_json_is_named_by_its_file_line(runner, services, tmp_path):
    lines = tmp_path / "interactions.jsonl"
    good = json.dumps({"id": "1", "type": "email.opened", "contact": {"email": "c@x.io"}})
    lines.write_text(good + "\n\n" + '{"id": "2", "type": \n')
    result = runner.invoke(main, ["import-interactions", str(lines)])
    assert result.exit_code == 1
    assert f"{lines} line 3: not JSON: " in result.output and "column" not in result.output
    assert sum(services.partitions.partition_depths()) == 0


def test_blank_lines_do_not_shift_the_line_named_for_a_bad_interaction(runner, tmp_path):
    lines = tmp_path / "interactions.jsonl"
    good = json.dumps({"id": "1", "type": "email.opened", "contact": {"email": "c@x.io"}})
    bad = json.dumps({"id": "2", "type": "nope", "contact": {"email": "c@x.io"}})
    lines.write_text("\n".join([good, "", "", good, bad]) + "\n")
    result = runner.invoke(main, ["import-interactions", str(lines)])
    assert result.exit_code == 1
    assert f"{lines} line 5: " in result.output and "type" in result.output


def test_a_profile_file_that_is_not_json_is_named_by_its_line(runner, tmp_path):
    profiles = tmp_path / "profiles.json"
    profiles.write_text('[\n  {"id": "eng",\n   "name": }\n]\n')
    result = runner.invoke(main, ["import-profiles", str(profiles)])
    assert result.exit_code == 1
    assert f"{profiles} line 3: not JSON: " in result.output


@pytest.mark.parametrize("url, shown", [
    pytest.param("redis://:s3cret@db.example:6380/2", "redis://db.example:6380/2", id="password"),
    pytest.param("rediss://app:s3cret@db.example/0", "rediss://app@db.example/0", id="user-and-password"),
    pytest.param("redis://127.0.0.1:6379/4", "redis://127.0.0.1:6379/4", id="none"),
])
def test_the_redis_shown_never_includes_the_password(url, shown):
    from app.storage.connection import describe_url

    assert describe_url(url) == shown


def test_human_output_on_stdout_logs_on_stderr_not_at_info_by_default(tmp_path):
    """The real command in its own process: stdout holds exactly the human lines."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    files = tmp_path / "workflows"
    files.mkdir()
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "SCOREKEEPER_WORKFLOWS_DIR": str(files)}
    env.pop("SCOREKEEPER_LOG_LEVEL", None)
    scorekeeper = [sys.executable, "-c", "from app.cli import main; main()"]
    root = Path(__file__).resolve().parents[1]
    quiet = subprocess.run([*scorekeeper, "workflows", "sync"], env=env, cwd=root, capture_output=True,
                           text=True, timeout=60)
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.splitlines() == [f"Redis: {TEST_REDIS_URL}, key prefix 'sk'",
                                         f"no workflow files in {files}"]
    assert '"level": "INFO"' not in quiet.stderr
    verbose = subprocess.run([*scorekeeper, "-v", "workflows", "sync"], env=env, cwd=root, capture_output=True,
                             text=True, timeout=60)
    assert '"msg": "workflow files synced"' in verbose.stderr
    assert verbose.stdout == quiet.stdout
