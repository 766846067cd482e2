"""The health strip: Redis reachable, queue depth, scoring lag (what /healthz reports)."""
from __future__ import annotations

import time
from typing import Any


from ..services import Services
from ..storage.errors import StoreError

#: Scoring lag above which the strip warns, in seconds.
LAG_WARNING_SECONDS = 60.0


def health_summary(services: Services) -> dict[str, Any]:
    try:
        pending = sum(services.partitions.partition_depths())
        oldest = services.partitions.oldest_pending_ms()
        queued = services.jobs.depth()
    except StoreError as exc:
        return {"redis": False, "error": type(exc.__cause__ or exc).__name__, "pending": None, "queued": None, "lag": None,
                "ok": False}
    lag = max(0.0, time.time() - oldest / 1000) if oldest else 0.0
    return {"redis": True, "error": None, "pending": pending, "queued": queued, "lag": round(lag, 1),
            "ok": lag < LAG_WARNING_SECONDS}
