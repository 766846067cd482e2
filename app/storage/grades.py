"""Grades: which fit profile and which engagement profile make each grade, one JSON document per grade in
one hash (the cells themselves are computed from the live scores, never stored)."""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from ..scoring.grades import Grade
from .errors import gateway
from .redis_tools import DocumentHash


@gateway
class GradeStore:
    def __init__(self, redis: Any, keys: Keys):
        self.docs = DocumentHash(redis, keys.grades())

    def all(self) -> dict[str, Grade]:
        return {gid: Grade.from_dict(doc) for gid, doc in sorted(self.docs.all().items())}

    def get(self, grade_id: str) -> Grade | None:
        doc = self.docs.get(grade_id)
        return Grade.from_dict(doc) if doc else None

    def put(self, grade: Grade) -> None:
        self.docs.put(grade.id, grade.to_dict())

    def delete(self, grade_id: str) -> bool:
        return self.docs.delete(grade_id)
