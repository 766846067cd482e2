"""Workflow tunables, each with its unit, and the retry-schedule syntax. The workflow settings
(``SMTP_URL``, ``WEBHOOK_RETRY_SCHEDULE``, ...) are in the one settings table, ``app/settings.py``,
read with ``app.settings.setting``.
"""
from __future__ import annotations

from typing import Any

from ..scoring.durations import parse_delay_seconds

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
