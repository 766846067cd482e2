"""What scoring tells the rest of the app: the events a contact's batch produced, and what the
listener (workflows) wants to hear about. Each event has one stored form (``to_json``) and one
reader (``event_from_json``): the outbox keeps them between the write and the dispatch.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .records import TimelineRecord


@dataclass(frozen=True, slots=True)
class Interest:
    """Profiles whose score changes, interaction types, grades whose cell changes, and profiles whose company
    scores change, that someone listens to."""

    profiles: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    grades: frozenset[str] = frozenset()
    companies: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.profiles or self.types or self.grades or self.companies)


NO_INTEREST = Interest()


@dataclass(frozen=True, slots=True)
class ScoreChanged:
    """A contact's live score in a profile changed from ``old`` (None: had none) to ``new``.

    ``change_id`` is the same for every replay of the same change, so listeners can be idempotent;
    ``depth`` counts the workflow score changes that led to it (a guard against loops).
    """

    contact_id: str
    profile: str
    version: int | None
    old: int | None
    new: int | None
    at: int
    change_id: str
    cause: Mapping[str, Any] = field(default_factory=dict)
    depth: int = 0

    kind = "score"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "contact_id": self.contact_id, "profile": self.profile, "version": self.version,
                "old": self.old, "new": self.new, "at": self.at, "cause": dict(self.cause),
                "change_id": self.change_id, "depth": self.depth}


@dataclass(frozen=True, slots=True)
class InteractionSeen:
    """A contact's new interaction (its timeline record)."""

    contact_id: str
    record: TimelineRecord
    change_id: str

    kind = "interaction"

    @property
    def type(self) -> str:
        return self.record.type

    @property
    def properties(self) -> Mapping[str, Any]:
        return self.record.properties

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "contact_id": self.contact_id, "record": self.record.to_json(),
                "change_id": self.change_id}


@dataclass(frozen=True, slots=True)
class GradeChanged:
    """A contact's cell in a grade changed from ``old`` (None: had none) to ``new`` (``A1`` … ``C3``), at
    ``at``, because of one of its two scores' changes (``change_id`` derives from that change's id, so a
    replay gives the same)."""

    contact_id: str
    grade: str
    old: str | None
    new: str | None
    at: int
    change_id: str
    depth: int = 0
    kind = "grade"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "contact_id": self.contact_id, "grade": self.grade, "old": self.old,
                "new": self.new, "at": self.at, "change_id": self.change_id, "depth": self.depth}


@dataclass(frozen=True, slots=True)
class CompanyScoreChanged:
    """A company's score in a profile's live version changed from ``old`` to ``new`` (None: none) because of
    one contact — its score changed, or it joined or left the company: ``contact_id`` is that contact, the
    one a workflow run acts on (docs/workflows.md)."""

    contact_id: str
    company: str
    profile: str
    version: int
    old: int | None
    new: int | None
    at: int
    change_id: str
    depth: int = 0
    kind = "company"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "contact_id": self.contact_id, "company": self.company, "profile": self.profile,
                "version": self.version, "old": self.old, "new": self.new, "at": self.at,
                "change_id": self.change_id, "depth": self.depth}


Event = ScoreChanged | InteractionSeen | GradeChanged | CompanyScoreChanged


def event_from_json(data: Mapping[str, Any]) -> Event:
    """An event from its stored form (the outbox keeps JSON)."""
    if data.get("kind") == "grade":
        return GradeChanged(contact_id=data["contact_id"], grade=data["grade"], old=data.get("old"),
                            new=data.get("new"), at=int(data.get("at") or 0), change_id=data["change_id"],
                            depth=int(data.get("depth") or 0))
    if data.get("kind") == "company":
        return CompanyScoreChanged(contact_id=data["contact_id"], company=data["company"], profile=data["profile"],
                                   version=int(data["version"]), old=data.get("old"), new=data.get("new"),
                                   at=int(data.get("at") or 0), change_id=data["change_id"],
                                   depth=int(data.get("depth") or 0))
    if data.get("kind") == "interaction":
        return InteractionSeen(contact_id=data["contact_id"], record=TimelineRecord.from_json(data["record"]),
                               change_id=data["change_id"])
    return ScoreChanged(contact_id=data["contact_id"], profile=data["profile"], version=data.get("version"),
                        old=data.get("old"), new=data.get("new"), at=int(data.get("at") or 0),
                        change_id=data["change_id"], cause=data.get("cause") or {}, depth=int(data.get("depth") or 0))
