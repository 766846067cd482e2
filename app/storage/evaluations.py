"""Evaluations of score profiles (app/evaluation.py): each one's record by job id, and each profile's
most recent ones.

A record expires with its job's status record (``JOBS_RETENTION_DAYS`` after it finished); the
per-profile list keeps the newest ``RECENT_MAX`` ids, and ids whose record expired read as gone.
"""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import dumps, get_many, loads

#: Evaluations remembered per profile.
RECENT_MAX = 20


@gateway
class EvaluationStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def create(self, profile_id: str, job_id: str, record: dict[str, Any]) -> None:
        """Store a new evaluation's record and put it first in its profile's list."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(self.keys.evaluation(job_id), dumps(record))
        pipe.lpush(self.keys.evaluations(profile_id), job_id)
        pipe.ltrim(self.keys.evaluations(profile_id), 0, RECENT_MAX - 1)
        pipe.execute()

    def save(self, job_id: str, record: dict[str, Any], expire_seconds: int | None = None) -> None:
        """Replace a record (with its reports, once done); with ``expire_seconds`` it goes that long after."""
        if expire_seconds:
            self.redis.set(self.keys.evaluation(job_id), dumps(record), ex=expire_seconds)
        else:
            self.redis.set(self.keys.evaluation(job_id), dumps(record))

    def get(self, job_id: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.evaluation(job_id))
        return loads(raw) if raw else None

    def recent(self, profile_id: str) -> list[dict[str, Any]]:
        """The profile's remembered evaluations, newest first (those expired left out)."""
        ids = self.redis.lrange(self.keys.evaluations(profile_id), 0, RECENT_MAX - 1)
        raws = get_many(self.redis, [self.keys.evaluation(job_id) for job_id in ids]) if ids else []
        return [loads(raw) for raw in raws if raw]

    def forget(self, profile_id: str) -> None:
        """Drop the profile's list (the profile is deleted; the records expire on their own)."""
        self.redis.delete(self.keys.evaluations(profile_id))
