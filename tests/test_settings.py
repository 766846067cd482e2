"""Settings: the table's defaults, then the SCOREKEEPER_ environment (Flask's from_prefixed_env), then a
test's overrides; each setting typed like its default (pure: no Redis)."""
from __future__ import annotations

import os

import pytest
from flask import Flask

from app.settings import DEFAULTS, configure


def configured(monkeypatch, env: dict[str, str], test_config=None):
    for name in [n for n in os.environ if n.startswith("SCOREKEEPER_") or n == "REDIS_URL"]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = Flask(__name__)
    configure(app, test_config)
    return app.config


def test_without_environment_every_setting_is_its_default(monkeypatch):
    config = configured(monkeypatch, {})
    assert {name: config[name] for name in DEFAULTS} == {name: default for name, (default, _) in DEFAULTS.items()}


@pytest.mark.parametrize("env, name, expected", [
    pytest.param({"SCOREKEEPER_PARTITIONS": "12"}, "PARTITIONS", 12, id="int"),
    pytest.param({"SCOREKEEPER_TICK_SECONDS": "2"}, "TICK_SECONDS", 2.0, id="float-from-a-whole-number"),
    pytest.param({"SCOREKEEPER_API_KEYS": "123"}, "API_KEYS", "123", id="text-that-looks-like-a-number"),
    pytest.param({"SCOREKEEPER_SECRET_KEY": "[1, 2]"}, "SECRET_KEY", "[1, 2]", id="text-that-looks-like-json"),
    pytest.param({"SCOREKEEPER_LEDGER_MAX": ""}, "LEDGER_MAX", 1000, id="empty-is-the-default"),
    pytest.param({"SCOREKEEPER_KEY_PREFIX": ""}, "KEY_PREFIX", "sk", id="empty-text-is-the-default"),
    pytest.param({"SCOREKEEPER_WORKFLOWS_DIR": ""}, "WORKFLOWS_DIR", "", id="empty-means-none-where-it-says-so"),
    pytest.param({"SCOREKEEPER_REDIS_URL": "redis://a:1/0"}, "REDIS_URL", "redis://a:1/0", id="prefixed-redis-url"),
    pytest.param({"SCOREKEEPER_REDIS_URL": "redis://a:1/0", "REDIS_URL": "redis://b:2/0"}, "REDIS_URL",
                 "redis://b:2/0", id="conventional-redis-url-wins"),
    pytest.param({"SCOREKEEPER_STRIPE_SECRET": "whsec_x"}, "STRIPE_SECRET", "whsec_x", id="provider-setting"),
])
def test_the_environment_overrides_a_default_typed_like_it(monkeypatch, env, name, expected):
    value = configured(monkeypatch, env)[name]
    assert value == expected and type(value) is type(expected)


def test_a_tests_overrides_come_last(monkeypatch):
    config = configured(monkeypatch, {"SCOREKEEPER_PARTITIONS": "12"}, {"PARTITIONS": 3})
    assert config["PARTITIONS"] == 3


def test_a_value_not_of_its_type_stops_the_start_naming_it(monkeypatch):
    with pytest.raises(ValueError, match="SCOREKEEPER_PARTITIONS='eight' is not of type int"):
        configured(monkeypatch, {"SCOREKEEPER_PARTITIONS": "eight"})
