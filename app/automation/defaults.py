"""Workflow settings and tunables: each named default with its unit.

Settings are read from the app config without the ``SCOREKEEPER_`` prefix
(``SCOREKEEPER_SMTP_URL`` is ``SMTP_URL``); every one is listed in docs/workflows.md.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..scoring.durations import parse_delay_seconds

#: Setting ``WORKFLOWS_DIR``: directory of workflow JSON files, loaded when the web server starts and by
#: ``scorekeeper workflows sync`` ("" = none).
DEFAULT_WORKFLOWS_DIR = "workflows"
#: Setting ``SMTP_URL``: ``smtp://[user:password@]host[:port]`` (``smtps://`` for TLS,
#: ``?starttls=1`` to upgrade); empty: email steps fail with a clear error.
DEFAULT_SMTP_URL = ""
#: Setting ``SMTP_FROM``: sender address of workflow emails.
DEFAULT_SMTP_FROM = "scorekeeper@localhost"
#: Setting ``WEBHOOK_RETRY_SCHEDULE``: delay before each retry of a webhook (units ms, s, m, h, d);
#: its length is the number of retries after the first attempt. Each delay is "full jitter":
#: a random time between 0 and the listed delay, but never sooner than a ``Retry-After``.
DEFAULT_WEBHOOK_RETRY_SCHEDULE = "5s,5m,30m,2h,5h,10h,10h"
#: Setting ``WEBHOOK_TIMEOUT_SECONDS``: connect and read timeout of one webhook attempt, in seconds.
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 15.0
#: Setting ``STEP_RETRY_SCHEDULE``: delays before retrying a notify step that failed transiently
#: (SMTP unavailable, Slack 429/5xx); same syntax as the webhook schedule.
DEFAULT_STEP_RETRY_SCHEDULE = "30s,5m,30m"

#: A workflow-caused score change may cause another, at most this deep; deeper stops the run.
MAX_CHAIN_DEPTH = 5
#: Longest ``Retry-After`` honoured, in seconds (a larger value is capped to this).
RETRY_AFTER_MAX_SECONDS = 86_400
#: Characters of a webhook response body kept with each attempt.
RESPONSE_EXCERPT_CHARS = 500
#: RQ timeout of one run job (all steps up to the next wait), in seconds.
RUN_JOB_TIMEOUT_SECONDS = 600
#: How long RQ keeps finished run and delivery job results, in seconds.
JOB_RESULT_TTL_SECONDS = 3600

_DEFAULTS = {
    "WORKFLOWS_DIR": DEFAULT_WORKFLOWS_DIR,
    "SMTP_URL": DEFAULT_SMTP_URL,
    "SMTP_FROM": DEFAULT_SMTP_FROM,
    "WEBHOOK_RETRY_SCHEDULE": DEFAULT_WEBHOOK_RETRY_SCHEDULE,
    "WEBHOOK_TIMEOUT_SECONDS": DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
    "STEP_RETRY_SCHEDULE": DEFAULT_STEP_RETRY_SCHEDULE,
}


def setting(settings: Mapping[str, Any], name: str) -> Any:
    """A workflow setting from the app config, or its default."""
    value = settings.get(name)
    return _DEFAULTS[name] if value is None or value == "" and name != "WORKFLOWS_DIR" else value


def parse_schedule(text: str | list[Any]) -> list[float]:
    """``"5s,5m,2h"`` (or a list of such, or of seconds) to seconds; raises ValueError naming a bad item."""
    items = text.split(",") if isinstance(text, str) else list(text)
    out = []
    for item in items:
        if isinstance(item, (int, float)):
            out.append(float(item))
            continue
        if not str(item).strip():
            continue
        out.append(parse_delay_seconds(str(item)))
    return out
