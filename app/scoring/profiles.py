"""Score profiles: rules and bands, as plain objects built by the API's schemas."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from .conditions import where_matches

#: Profile kinds: ``engagement`` scores what a contact does (interactions), ``fit`` who it is (its
#: attributes, see ``fit.py``).
ENGAGEMENT, FIT = "engagement", "fit"
KINDS = (ENGAGEMENT, FIT)


@dataclass(frozen=True, slots=True)
class Rule:
    """Points for each interaction of type ``on`` whose properties satisfy ``where``.

    ``limit_count`` scoring matches per ``limit_window_ms`` (rolling; None = ever),
    ``once_per`` a property whose each distinct value scores once, ``expires_after_ms``
    after which the change the interaction made is reversed; or ``decay_percent`` by which
    that change shrinks every ``decay_every_ms`` (see ``decay.py``); ``group`` the profile
    group whose cap the rule's points count against.
    """

    id: str
    on: str
    points: int
    where: dict[str, Any] = field(default_factory=dict)
    limit_count: int | None = None
    limit_window_ms: int | None = None
    once_per: str | None = None
    expires_after_ms: int | None = None
    decay_percent: int | None = None
    decay_every_ms: int | None = None
    group: str | None = None
    # Original texts, kept so the profile reads back as it was written.
    limit_window: str | None = None
    expires_after: str | None = None
    decay_every: str | None = None
    # True when the decay comes from the rule's group (it is not written back into the rule)
    decay_inherited: bool = False

    def matches(self, type_: str, properties: Mapping[str, Any]) -> bool:
        return type_ == self.on and where_matches(self.where, properties)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "on": self.on, "points": self.points, "where": self.where}
        if not self.on:  # a fit rule: conditions over attributes, no event
            del out["on"]
        limit: dict[str, Any] = {}
        if self.limit_count is not None:
            limit["count"] = self.limit_count
            if self.limit_window:
                limit["window"] = self.limit_window
        if self.once_per:
            limit["once_per"] = self.once_per
        if limit:
            out["limit"] = limit
        if self.expires_after:
            out["expires_after"] = self.expires_after
        if self.decay_percent is not None and not self.decay_inherited:
            out["decay"] = {"percent": self.decay_percent, "every": self.decay_every}
        if self.group:
            out["group"] = self.group
        return out


@dataclass(frozen=True, slots=True)
class Band:
    name: str
    min: int


@dataclass(frozen=True, slots=True)
class Group:
    """Rules whose points together may not stand above ``max_points`` (a cap, like HubSpot's group limit);
    with ``decay``, the decay of each of its rules that has none of its own."""

    id: str
    max_points: int
    decay_percent: int | None = None
    decay_every: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "max_points": self.max_points}
        if self.decay_percent is not None:
            out["decay"] = {"percent": self.decay_percent, "every": self.decay_every}
        return out


@dataclass(frozen=True, slots=True)
class Profile:
    """One version of a score profile: what the fold needs, plus names for people.

    ``groups`` cap what their rules give together; ``max_score`` caps the score itself.
    """

    id: str
    name: str
    rules: tuple[Rule, ...] = ()
    bands: tuple[Band, ...] = ()
    description: str = ""
    groups: tuple[Group, ...] = ()
    max_score: int | None = None
    #: ``engagement`` (points for interactions) or ``fit`` (points for attributes; see ``fit.py``)
    kind: str = ENGAGEMENT
    #: Smart list ids: the profile scores only contacts in one of ``include`` (when any) and in none of
    #: ``exclude``; the others have no score in it (README, "Score semantics"). The fold ignores them.
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    #: How the score rolls up to companies (``sum``, ``average`` or ``max``; see ``companies.py``), or None
    company_rollup: str | None = None

    def group_of(self, rule: Rule) -> Group | None:
        """The group the rule joins (None when none)."""
        if rule.group is None:
            return None
        return next((group for group in self.groups if group.id == rule.group), None)

    def rule(self, rule_id: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.id == rule_id), None)

    def band_for(self, score: int | None) -> str | None:
        """The band with the highest ``min`` not above the score (None when empty or below all)."""
        if score is None:
            return None
        best: Band | None = None
        for band in self.bands:
            if score >= band.min and (best is None or band.min >= best.min):
                best = band
        return best.name if best else None

    def rules_for(self, type_: str) -> list[Rule]:
        return [rule for rule in self.rules if rule.on == type_]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            **({"kind": self.kind} if self.kind != ENGAGEMENT else {}),
            "description": self.description,
            "rules": [rule.to_dict() for rule in self.rules],
            "bands": [asdict(band) for band in self.bands],
            **({"groups": [group.to_dict() for group in self.groups]} if self.groups else {}),
            **({"max_score": self.max_score} if self.max_score is not None else {}),
            **({"include": list(self.include)} if self.include else {}),
            **({"exclude": list(self.exclude)} if self.exclude else {}),
            **({"company_rollup": self.company_rollup} if self.company_rollup else {}),
        }


def rule_from_dict(raw: Mapping[str, Any], group_decay: Mapping[str, Any] | None = None) -> Rule:
    """Build a Rule from its stored (already validated) form; ``group_decay`` is its group's decay, which
    applies when the rule has none of its own."""
    from .durations import parse_duration_ms

    limit = raw.get("limit") or {}
    window = limit.get("window")
    expires = raw.get("expires_after")
    decay = raw.get("decay") or group_decay or {}
    return Rule(
        id=raw["id"], on=raw.get("on") or "", points=int(raw["points"]), where=dict(raw.get("where") or {}),
        limit_count=limit.get("count"), limit_window_ms=parse_duration_ms(window, bounded=False) if window else None,
        once_per=limit.get("once_per"), expires_after_ms=parse_duration_ms(expires, bounded=False) if expires else None,
        limit_window=window, expires_after=expires,
        decay_percent=int(decay["percent"]) if decay else None,
        decay_every_ms=parse_duration_ms(decay["every"]) if decay else None, decay_every=decay.get("every"),
        group=raw.get("group"), decay_inherited=bool(decay) and not raw.get("decay"),
    )


def profile_from_dict(data: Mapping[str, Any]) -> Profile:
    """Build a Profile from its stored (already validated) form."""
    group_decay = {g["id"]: g["decay"] for g in data.get("groups") or [] if g.get("decay")}
    rules = tuple(rule_from_dict(raw, group_decay.get(raw.get("group") or "")) for raw in data.get("rules", []))
    bands = tuple(Band(b["name"], int(b["min"])) for b in data.get("bands", []))
    groups = tuple(Group(g["id"], int(g["max_points"]), int(g["decay"]["percent"]) if g.get("decay") else None,
                         g["decay"]["every"] if g.get("decay") else None) for g in data.get("groups") or [])
    max_score = data.get("max_score")
    return Profile(id=data["id"], name=data.get("name") or data["id"], rules=rules, bands=bands,
                   description=data.get("description") or "", groups=groups,
                   max_score=int(max_score) if max_score is not None else None,
                   kind=data.get("kind") or ENGAGEMENT, include=tuple(data.get("include") or ()),
                   exclude=tuple(data.get("exclude") or ()), company_rollup=data.get("company_rollup") or None)


def version_field(profile_id: str, version: int) -> str:
    """``PROFILE@VERSION``: how one published version is named in key names, fold-state fields and change ids."""
    return f"{profile_id}@{version}"


def parse_version_field(field: str) -> tuple[str, int]:
    """``(profile_id, version)`` of a ``PROFILE@VERSION`` field (``version_field`` read back)."""
    profile_id, _, version = field.rpartition("@")
    return profile_id, int(version)
