"""GET /healthz (no key needed): Redis reachable, queue depth, scoring lag."""
from __future__ import annotations

import time

from flask import Blueprint

from ..services import get_services
from ..storage.errors import StoreError

bp = Blueprint("health", __name__)


@bp.route("/healthz", methods=["GET"])
def healthz():
    services = get_services()
    try:
        depths = services.partitions.partition_depths()
        oldest = services.partitions.oldest_pending_ms()
        queued = services.jobs.depth()
    except StoreError as exc:
        return {"status": "unavailable", "redis": False, "error": type(exc.__cause__ or exc).__name__}, 503
    lag = max(0.0, time.time() - oldest / 1000) if oldest else 0.0
    return {"status": "ok", "redis": True, "pending_interactions": sum(depths), "queued_jobs": queued,
            "scoring_lag_seconds": round(lag, 3)}
