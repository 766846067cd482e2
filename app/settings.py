"""Settings: the one table of named defaults with their units, read once, when the app is made.

``configure(app, test_config)`` fills ``app.config`` the way Flask's documentation does it: the
defaults of ``DEFAULTS``, then the environment through Flask's own ``app.config.from_prefixed_env``
(``SCOREKEEPER_API_KEYS`` -> ``API_KEYS``; plus the conventional ``REDIS_URL``), then a test's overrides.
Nothing reads the environment anywhere else, and nothing reads settings at import time.

Every setting is listed in the README's table (``tests/test_readme.py`` checks). Provider settings
(``SCOREKEEPER_{PROVIDER}_...``) are named by the provider table (``app/hooks/registry.py``); the
prefixed environment brings them in with the rest.
"""
from __future__ import annotations

import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from flask import Flask

#: The environment's prefix: ``SCOREKEEPER_<NAME>`` sets ``<NAME>``.
PREFIX = "SCOREKEEPER"

#: name -> (default, description). Units are in the names or descriptions.
DEFAULTS: dict[str, tuple[Any, str]] = {
    "REDIS_URL": ("redis://localhost:6379/0", "Redis for queues and, unless STORE_URL is set, the score store"),
    "STORE_URL": ("", "Redis URL of the score store (may differ from REDIS_URL); empty: use REDIS_URL"),
    "API_KEYS": ("", "comma-separated API keys accepted as `Authorization: Bearer KEY` on /v1"),
    "KEY_PREFIX": ("sk", "prefix of every Redis key Scorekeeper writes"),
    "PARTITIONS": (8, "number of ingest partitions (streams); a contact always maps to one"),
    "INDEX_BUCKETS": (16, "buckets each global index (scores, contacts, tags, expiries) is split into; fixed once data exists"),
    "SEEN_SECONDS": (86400, "ingest remembers ids for one to two such periods, in seconds, to answer 'duplicates'; "
                            "later repeats are still scored once (the timeline keeps every id)"),
    "BATCH_SIZE": (1000, "interactions a worker takes from a partition per batch"),
    "MAX_BATCH_INTERACTIONS": (1000, "interactions accepted in one API request"),
    "MAX_BODY_BYTES": (1048576, "largest request body accepted, in bytes"),
    "LEASE_MS": (30000, "partition lease of a worker, in milliseconds (renewed every batch)"),
    "DRAIN_LINGER_MS": (10, "a drain that emptied its partition waits this long (ms) for what arrives next while no "
                            "workflow job (a run, a webhook attempt) waits in the queues, instead of a new drain job "
                            "taking it (drains queued for other partitions do not stop it); 0: it never waits"),
    "TICK_SECONDS": (1.0, "worker ticker period: expiries and stalled partitions are checked this often, in seconds"),
    "PROCESS_TTL_SECONDS": (30.0, "each process (web, worker, a command that moves data) announces itself in Redis "
                                  "for this long, renewed every third of it, withdrawn when it stops; one killed "
                                  "outright counts as live this long (layout migrations wait for it), in seconds"),
    "QUEUE": ("scorekeeper", "RQ queue name"),
    "WORKER_CLASS": ("simple", "`simple` (jobs in the worker process) or `fork` (a child per job)"),
    "LOG_LEVEL": ("INFO", "log level"),
    "SECRET_KEY": ("", "signs dashboard session cookies; empty: derived from API_KEYS (changing the keys signs everyone out)"),
    "LEDGER_MAX": (1000, "ledger entries an earlier release kept per contact and profile (newest first); "
                         "nothing stores a ledger now (app/ledger_history.py)"),
    "RUNS_RETENTION_DAYS": (30, "finished workflow runs are deleted this many days after they finished (0: kept)"),
    "DELIVERIES_RETENTION_DAYS": (30, "succeeded webhook deliveries are deleted this many days after they were "
                                      "created (0: kept)"),
    "DEAD_LETTERS_RETENTION_DAYS": (90, "dead-lettered webhook deliveries are deleted this many days after they "
                                        "gave up (0: kept)"),
    "NOTIFICATIONS_RETENTION_DAYS": (30, "inbox notifications are deleted this many days after they were sent "
                                         "(0: kept; at most 1,000 are kept in any case)"),
    "AUDIT_RETENTION_DAYS": (365, "audit trail entries are deleted this many days after they were written "
                                  "(0: kept; at most about a million are kept in any case)"),
    "JOBS_RETENTION_DAYS": (30, "records of finished publish jobs and of failed background jobs are deleted this "
                                "many days after they ended (0: kept)"),
    "SCORE_ABSORB_SECONDS": (3600, "how often a worker's ticker moves the score index's changes since into its "
                                   "compact base (one page per bucket a tick until none is left), in seconds"),
    "RETENTION_SWEEP_SECONDS": (3600, "how often a worker's ticker sweeps what is past its retention, in seconds"),
    "ARCHIVE_URL": ("sqlite:///var/archive.sqlite3", "where every interaction is kept for good, outside Redis "
                     "(docs/archive.md): `sqlite:///PATH` (embedded, no server; `sqlite:////ABS/PATH`) or "
                     "`postgresql://user@host:port/db`"),
    "SECRETS_KEY": ("", "comma-separated Fernet keys that encrypt provider secrets stored in Redis (the first "
                        "encrypts, each decrypts: rotation); empty: stored as given (docs/teams.md)"),
    "HOT_HISTORY": ("90d", "interactions older than this (a duration: `90d`, `12w`; `0` keeps all) leave Redis once "
                           "the archive holds them, with their ledger entries; never shorter than the longest live "
                           "rule window, expiry or decay period (docs/archive.md)"),
    "PUBLISH_STALL_SECONDS": (60.0, "a publish whose recompute made no progress this long has its lost jobs queued "
                                    "again by a worker's ticker (a part taken by a worker that died); 0: never"),
    "METRICS_TOKEN": ("", "bearer token for GET /metrics (any API key works too)"),
    "OUTBOUND_ALLOW": ("", "CIDR ranges outbound calls (webhooks, Slack) may reach although not public"),
    # Workflows (app/automation): docs/workflows.md says more.
    "WORKFLOWS_DIR": ("workflows", "workflow files loaded when the web server starts and by `scorekeeper workflows "
                                   "sync` (empty: none)"),
    "SMTP_URL": ("", "`smtp://[user:password@]host[:port]` (`smtps://` for TLS, `?starttls=1` to upgrade) for "
                     "email steps; empty: email steps fail with a clear error"),
    "SMTP_FROM": ("scorekeeper@localhost", "sender address of workflow emails"),
    "WEBHOOK_RETRY_SCHEDULE": ("5s,5m,30m,2h,5h,10h,10h", "delay ceiling before each webhook retry (ms, s, m, h, "
                                                         "d); its length is the number of retries; full jitter, "
                                                         "never sooner than Retry-After"),
    "WEBHOOK_TIMEOUT_SECONDS": (15.0, "connect and read timeout of one webhook attempt, in seconds"),
    "STEP_RETRY_SCHEDULE": ("30s,5m,30m", "delays before retrying a notify step that failed transiently (SMTP "
                                          "unavailable, Slack 429/5xx); same syntax as the webhook schedule"),
}
#: Settings whose empty value means "none" rather than "the default".
BLANK_MEANS_NONE = frozenset({"WORKFLOWS_DIR"})


def _coerce(value: str, default: Any) -> Any:
    """Environment values are strings; give them the type of their default."""
    if isinstance(default, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(value)
    if isinstance(default, float):
        return float(value)
    return value


def configure(app: Flask, test_config: Mapping[str, Any] | None = None) -> None:
    """Defaults, then the prefixed environment, then ``test_config``: called once, by ``create_app``."""
    app.config.from_mapping({name: default for name, (default, _doc) in DEFAULTS.items()})
    # Values stay the environment's text (``loads=str``, not Flask's default JSON reading, which would turn
    # an API key "123" into a number); each is then given the type of its default.
    app.config.from_prefixed_env(PREFIX, loads=str)
    if "REDIS_URL" in os.environ:  # the conventional name wins over SCOREKEEPER_REDIS_URL
        app.config["REDIS_URL"] = os.environ["REDIS_URL"]
    type_settings(app.config)
    if test_config:
        app.config.from_mapping(test_config)


def type_settings(config: MutableMapping[str, Any]) -> None:
    """Each setting of the table as the type of its default; an empty value is the default, except where
    empty means none (``BLANK_MEANS_NONE``). A value that is not of its type stops the start, naming it."""
    for name, (default, _doc) in DEFAULTS.items():
        value = config.get(name)
        if not isinstance(value, str):
            continue
        if value == "" and name not in BLANK_MEANS_NONE:
            config[name] = default
            continue
        if isinstance(default, str):
            continue
        try:
            config[name] = _coerce(value, default)
        except ValueError as exc:
            raise ValueError(f"{PREFIX}_{name}={value!r} is not of type {type(default).__name__}") from exc


def setting(settings: Mapping[str, Any], name: str) -> Any:
    """A setting from the app config; unset or empty (test overrides, a config built by hand) is its
    default, except where empty means none (``BLANK_MEANS_NONE``)."""
    value = settings.get(name)
    if value is None or (value == "" and name not in BLANK_MEANS_NONE):
        return DEFAULTS[name][0]
    return value


def api_keys(settings: Mapping[str, Any]) -> list[str]:
    """The accepted API keys, as a list, from the comma-separated setting."""
    raw = settings.get("API_KEYS") or ""
    if isinstance(raw, (list, tuple)):
        return [str(k) for k in raw if k]
    return [k.strip() for k in str(raw).split(",") if k.strip()]
