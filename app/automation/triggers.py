"""Workflows as objects, and the trigger matcher: pure Python, no Flask or Redis.

A score trigger holds an operator over the score (``eq ne gt gte lt lte empty not_empty``).
``on_enter`` fires when a change takes the condition from false to true; ``on_change``
on every change after which it holds. ``reentry: false`` lets a contact run a workflow at
most once ever (enforced when the run is claimed, by ``claim_run.lua``). Tag filters
(``tags_all``, ``tags_none``) must hold too.

The matcher is compiled into a ``TriggerIndex`` once per configuration change: a score
change looks up the workflows of its profile, an interaction those of its type.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..scoring.conditions import score_matches, where_matches
from ..scoring.events import CompanyScoreChanged, Event, GradeChanged, Interest, InteractionSeen, ScoreChanged

FIRE_MODES = ("on_enter", "on_change")


@dataclass(frozen=True, slots=True)
class TagFilters:
    """Tags the contact must all have, and tags it must have none of."""

    tags_all: tuple[str, ...] = ()
    tags_none: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.tags_all or self.tags_none)

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> TagFilters:
        """The filters of a trigger's ``filters`` or a step's ``when`` (``tags_all``, ``tags_none``)."""
        data = data or {}
        return cls(tuple(data.get("tags_all") or ()), tuple(data.get("tags_none") or ()))

    def passes(self, tags: Iterable[str]) -> bool:
        return self.refusal(tags) is None

    def refusal(self, tags: Iterable[str]) -> str | None:
        """Why a contact with these tags does not pass, in words; None when it does."""
        present = set(tags)
        missing = [t for t in self.tags_all if t not in present]
        if missing:
            return f"the contact is not tagged {', '.join(missing)}"
        unwanted = [t for t in self.tags_none if t in present]
        if unwanted:
            return f"the contact is tagged {', '.join(unwanted)}"
        return None


class ThresholdCrossing:
    """What a score trigger and a company-score trigger share: an operator and a value a score meets, and when a
    change fires (``on_enter``: from not meeting it to meeting it; ``on_change``: every change after which it
    holds). Methods only, so each trigger stays its own type for dispatch."""

    __slots__ = ()
    operator: str
    value: int | None
    fire: str

    def holds(self, score: int | None) -> bool:
        return score_matches(self.operator, score, self.value)

    def fires(self, old: int | None, new: int | None) -> bool:
        """Whether a change from ``old`` to ``new`` fires, before filters and reentry."""
        if not self.holds(new):
            return False
        return self.fire == "on_change" or not self.holds(old)


@dataclass(frozen=True, slots=True)
class ScoreTrigger(ThresholdCrossing):
    profile: str
    operator: str
    value: int | None = None
    fire: str = "on_enter"
    reentry: bool = False
    filters: TagFilters = field(default_factory=TagFilters)
    type: str = "score_changed"


@dataclass(frozen=True, slots=True)
class InteractionTrigger:
    on: str
    where: Mapping[str, Any] = field(default_factory=dict)
    reentry: bool = False
    filters: TagFilters = field(default_factory=TagFilters)
    type: str = "interaction"

    def fires(self, interaction_type: str, properties: Mapping[str, Any]) -> bool:
        return interaction_type == self.on and where_matches(self.where, properties)


@dataclass(frozen=True, slots=True)
class GradeTrigger:
    """A contact's cell in a grade changes: into one of ``becomes`` (from a cell outside them), or, without
    ``becomes``, any change (``changes``)."""

    grade: str
    becomes: tuple[str, ...] = ()
    reentry: bool = False
    filters: TagFilters = field(default_factory=TagFilters)
    type: str = "grade_changed"

    def fires(self, old: str | None, new: str | None) -> bool:
        if old == new:
            return False
        if not self.becomes:
            return True
        return new in self.becomes and old not in self.becomes


@dataclass(frozen=True, slots=True)
class CompanyScoreTrigger(ThresholdCrossing):
    """A company's score in a profile (which rolls up to companies) meets an operator, like ``ScoreTrigger``:
    ``on_enter`` when a change takes the company's score from not meeting it to meeting it, ``on_change`` on every
    change after which it holds. The run acts on the contact whose change moved the company's score (its score
    changed, or it joined or left the company); ``reentry`` and tag filters apply to that contact."""

    profile: str
    operator: str
    value: int | None = None
    fire: str = "on_enter"
    reentry: bool = False
    filters: TagFilters = field(default_factory=TagFilters)
    type: str = "company_score_changed"


Trigger = ScoreTrigger | InteractionTrigger | GradeTrigger | CompanyScoreTrigger


@dataclass(frozen=True, slots=True)
class Workflow:
    """A validated workflow. ``steps`` stay plain JSON: a run keeps a snapshot of them."""

    id: str
    name: str
    trigger: Trigger
    steps: tuple[dict[str, Any], ...]
    enabled: bool = True
    config: Mapping[str, Any] = field(default_factory=dict, compare=False)


def should_start(trigger: Trigger, tags: Iterable[str]) -> bool:
    """Whether a firing may start a run: its tag filters pass on the contact's tags now.

    Reentry is not decided here: ``claim_run.lua`` decides it atomically with claiming the run.
    """
    return trigger.filters.passes(tags)


def event_fires(workflow: Workflow, event: Event) -> bool:
    """Whether a scoring event (score change or interaction) fires this workflow's trigger."""
    trigger = workflow.trigger
    if isinstance(trigger, ScoreTrigger):
        return isinstance(event, ScoreChanged) and event.profile == trigger.profile and \
            trigger.fires(event.old, event.new)
    if isinstance(trigger, GradeTrigger):
        return isinstance(event, GradeChanged) and event.grade == trigger.grade and trigger.fires(event.old, event.new)
    if isinstance(trigger, CompanyScoreTrigger):
        return isinstance(event, CompanyScoreChanged) and event.profile == trigger.profile and \
            trigger.fires(event.old, event.new)
    return isinstance(event, InteractionSeen) and trigger.fires(event.type, event.properties)


@dataclass(frozen=True)
class TriggerIndex:
    """Enabled workflows by profile (score triggers), by interaction type, by grade and by profile (company-score
    triggers)."""

    by_profile: Mapping[str, tuple[Workflow, ...]]
    by_type: Mapping[str, tuple[Workflow, ...]]
    by_grade: Mapping[str, tuple[Workflow, ...]] = field(default_factory=dict)
    by_company_profile: Mapping[str, tuple[Workflow, ...]] = field(default_factory=dict)

    @classmethod
    def build(cls, workflows: Iterable[Workflow]) -> TriggerIndex:
        by_profile: dict[str, list[Workflow]] = {}
        by_type: dict[str, list[Workflow]] = {}
        by_grade: dict[str, list[Workflow]] = {}
        by_company: dict[str, list[Workflow]] = {}
        for workflow in sorted(workflows, key=lambda w: w.id):
            if not workflow.enabled:
                continue
            if isinstance(workflow.trigger, ScoreTrigger):
                by_profile.setdefault(workflow.trigger.profile, []).append(workflow)
            elif isinstance(workflow.trigger, GradeTrigger):
                by_grade.setdefault(workflow.trigger.grade, []).append(workflow)
            elif isinstance(workflow.trigger, CompanyScoreTrigger):
                by_company.setdefault(workflow.trigger.profile, []).append(workflow)
            else:
                by_type.setdefault(workflow.trigger.on, []).append(workflow)
        return cls({k: tuple(v) for k, v in by_profile.items()}, {k: tuple(v) for k, v in by_type.items()},
                   {k: tuple(v) for k, v in by_grade.items()}, {k: tuple(v) for k, v in by_company.items()})

    @property
    def interest(self) -> Interest:
        return Interest(frozenset(self.by_profile), frozenset(self.by_type), frozenset(self.by_grade),
                        frozenset(self.by_company_profile))

    def candidates(self, event: Event) -> Sequence[Workflow]:
        if isinstance(event, ScoreChanged):
            return self.by_profile.get(event.profile, ())
        if isinstance(event, GradeChanged):
            return self.by_grade.get(event.grade, ())
        if isinstance(event, CompanyScoreChanged):
            return self.by_company_profile.get(event.profile, ())
        return self.by_type.get(event.type, ())

    def fired(self, event: Event) -> list[Workflow]:
        """Workflows whose trigger this event fires (filters and reentry are checked later)."""
        return [w for w in self.candidates(event) if event_fires(w, event)]
