"""GET /healthz (no key needed): Redis reachable, queue depth, scoring lag."""
from __future__ import annotations

import time

import redis
from flask import Blueprint

from ..services import get_services

bp = Blueprint("health", __name__)


@bp.route("/healthz", methods=["GET"])
def healthz():
    services = get_services()
    try:
        services.redis.ping()
        depths = services.store.partition_depths()
        oldest = services.store.oldest_pending_ms()
        queued = len(services.queue)
    except redis.RedisError as exc:
        return {"status": "unavailable", "redis": False, "error": type(exc).__name__}, 503
    lag = max(0.0, time.time() - oldest / 1000) if oldest else 0.0
    return {"status": "ok", "redis": True, "pending_interactions": sum(depths), "queued_jobs": queued,
            "scoring_lag_seconds": round(lag, 3)}
