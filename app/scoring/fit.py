"""Fit scores: points for who a contact is (its attributes), not for what it did.

A contact's attributes (job title, company size, country, plan: flat JSON scalars) change through
attribute records in its timeline (``ATTRIBUTES_TYPE``: a ``PATCH /v1/contacts/{id}`` or the
``attributes`` an interaction carries, at its ``occurred_at``). Records apply in timeline order,
so the latest change of each attribute wins, however late it arrived; ``null`` removes one.

A fit profile's rules are conditions over the attributes (the ``where`` of engagement rules) with
points. The fit score is the sum of the points of the rules that match the current attributes,
never below 0 and never above the profile's ``max_score``: a function of the attributes alone, so
it never decays and has no limits or expiry. The fold (``fold.py``) evaluates it at the contact's
first record and at every attribute record; ``fit_steps`` says which rules started or stopped
matching, each a ledger entry ("job title is "VP": +10").
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .conditions import where_matches
from .interactions import ATTRIBUTES_TYPE
from .profiles import FIT, Profile
from .records import TimelineRecord
from .sentences import attribute_conditions, points_words

__all__ = ["FitStep", "apply_attribute_changes", "attributes_at", "clamp", "fit_score", "fit_steps",
           "matching_rules"]


def apply_attribute_changes(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``current`` with ``changes`` applied: a value sets the attribute, ``None`` removes it."""
    merged = dict(current)
    for name, value in changes.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    return merged


def attributes_at(records: Iterable[TimelineRecord]) -> dict[str, Any]:
    """A contact's attributes after these timeline records, applied in timeline order (``at``, then key)."""
    attributes: dict[str, Any] = {}
    changes = [r for r in records if r.type == ATTRIBUTES_TYPE]
    for record in sorted(changes, key=lambda r: (r.at, r.key)):
        attributes = apply_attribute_changes(attributes, record.properties)
    return attributes


def matching_rules(profile: Profile, attributes: Mapping[str, Any]) -> list[str]:
    """The ids of the rules whose conditions the attributes satisfy, in rule order."""
    return [rule.id for rule in profile.rules if where_matches(rule.where, attributes)]


def clamp(profile: Profile, total: int) -> int:
    """A sum of points as a score: at least 0, at most the profile's ``max_score``."""
    score = max(total, 0)
    return min(score, profile.max_score) if profile.max_score is not None else score


def fit_score(profile: Profile, attributes: Mapping[str, Any]) -> int:
    """The fit score of these attributes: the clamped sum of the matching rules' points."""
    matched = set(matching_rules(profile, attributes))
    return clamp(profile, sum(rule.points for rule in profile.rules if rule.id in matched))


@dataclass(frozen=True, slots=True)
class FitStep:
    """One rule that started (``points`` its points) or stopped (minus them) matching: ``change`` is what
    the score moved through the floor and ``max_score``, ``score`` the score after it."""

    rule_id: str
    points: int
    change: int
    score: int
    note: str


def fit_steps(profile: Profile, matched_before: Sequence[str], matched_after: Sequence[str]) -> list[FitStep]:
    """The ledger of one evaluation, in rule order: each rule whose match changed, with the score after it.

    The score after each step is the clamped running sum of the matching rules' points, so the last
    step leaves exactly ``clamp(sum of matched_after)``; a step the floor or the cap swallowed has a
    change of 0 (and still explains why the rule no longer counts).
    """
    before, after = set(matched_before), set(matched_after)
    total = sum(rule.points for rule in profile.rules if rule.id in before)
    score = clamp(profile, total)
    steps: list[FitStep] = []
    for rule in profile.rules:
        was, now = rule.id in before, rule.id in after
        if was == now:
            continue
        points = rule.points if now else -rule.points
        total += points
        new_score = clamp(profile, total)
        words = attribute_conditions(rule)
        note = f"{words}: {points_words(points)}" if now else f"no longer {words}: {points_words(points)}"
        if profile.max_score is not None and total > profile.max_score and new_score - score != points:
            note += f"; capped by max_score at {profile.max_score}"
        steps.append(FitStep(rule.id, points, new_score - score, new_score, note))
        score = new_score
    return steps


def is_fit(profile: Profile) -> bool:
    return profile.kind == FIT
