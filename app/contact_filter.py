"""The contact filter: conditions joined by AND, one document shared by the API, smart lists and the dashboard.

A filter document looks like::

    {"conditions": [
        {"field": "score", "profile": "engagement", "op": "gte", "value": 20},
        {"field": "band", "profile": "engagement", "band": "warm"},
        {"field": "tag", "op": "has_not", "tag": "customer"},
        {"field": "activity", "op": "within", "days": 30},
        {"field": "dnd", "channel": "email", "op": "on"},
        {"field": "company", "company": "acme.com"},
        {"field": "company_score", "profile": "engagement", "op": "gte", "value": 100}],
     "order_by": "engagement"}

Pure: no Flask and no Redis. ``app.contact_filter_schema`` validates documents into these objects,
``app.storage.queries`` runs them over the indexes, and ``matches`` is the meaning both must agree with
(the property tests compare the two over generated filters).
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .scoring.conditions import NUMERIC_OPS, score_matches
from .scoring.grades import cell as grade_cell, cell_matches
from .scoring.profiles import Profile

FIELDS = ("score", "band", "tag", "activity", "dnd", "grade", "company", "company_score")
GRADE_OPS = ("eq", "ne", "in")
COMPANY_OPS = ("eq", "ne")
TAG_OPS = ("has", "has_not")
ACTIVITY_OPS = ("within", "before")
DND_OPS = ("on", "off")
DAY_MS = 86_400_000

#: Operators in words, as the dashboard's menus and summaries show them.
OP_WORDS = {"eq": "is", "ne": "is not", "gt": "is greater than", "gte": "is at least", "lt": "is less than",
            "lte": "is at most", "empty": "is empty", "not_empty": "is not empty"}


@dataclass(frozen=True)
class Condition:
    """One condition; which attributes matter depends on ``field``:

    * ``score``: ``profile``, ``op`` (the eight score operators), ``value`` (numeric operators only);
    * ``band``: ``profile``, ``band`` (the band's name in the live version);
    * ``tag``: ``op`` (``has`` / ``has_not``), ``tag``;
    * ``activity``: ``op`` (``within`` / ``before``), ``days`` — the latest interaction was within
      the last N days, or longer ago than that (a contact with no interaction matches neither);
    * ``dnd``: ``channel``, ``op`` (``on`` / ``off``);
    * ``grade``: ``grade`` (its id), ``op`` (``eq`` / ``ne`` with ``cell``, ``in`` with ``cells``) — the
      contact's cell (``A1`` … ``C3``); a contact without a cell matches none. ``grade_profiles`` (its fit
      and engagement profile) is filled in when the filter runs (``with_grades``), never saved.
    """

    field: str
    op: str | None = None
    profile: str | None = None
    value: float | None = None
    band: str | None = None
    tag: str | None = None
    days: int | None = None
    channel: str | None = None
    grade: str | None = None
    cell: str | None = None
    cells: tuple[str, ...] | None = None
    grade_profiles: tuple[str, str] | None = None
    company: str | None = None

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"field": self.field}
        for name in ("grade", "company", "profile", "op", "value", "band", "tag", "days", "channel", "cell"):
            value = getattr(self, name)
            if value is not None:
                doc[name] = plain_number(value)
        if self.cells is not None:
            doc["cells"] = list(self.cells)
        return doc

    @property
    def profiles(self) -> tuple[str, ...]:
        if self.field == "grade":
            return self.grade_profiles or ()
        return (self.profile,) if self.field in ("score", "band", "company_score") and self.profile else ()


@dataclass(frozen=True)
class ContactFilter:
    """Conditions joined by AND, and the profile whose score orders the result (highest first).

    Without ``order_by`` the first score or band condition's profile orders it; with neither,
    the newest contacts come first."""

    conditions: tuple[Condition, ...] = ()
    order_by: str | None = None

    @property
    def sort_profile(self) -> str | None:
        if self.order_by:
            return self.order_by
        return next((c.profile for c in self.conditions if c.field in ("score", "band")), None)

    @property
    def profiles(self) -> tuple[str, ...]:
        """Every profile the filter names, in order, once each."""
        out: dict[str, None] = {}
        for cond in self.conditions:
            for pid in cond.profiles:
                out[pid] = None
        if self.order_by:
            out[self.order_by] = None
        return tuple(out)

    @property
    def grades(self) -> tuple[str, ...]:
        """Every grade the filter names, once each."""
        return tuple(dict.fromkeys(c.grade for c in self.conditions if c.field == "grade" and c.grade))

    def with_grades(self, grades: Mapping[str, tuple[str, str]]) -> ContactFilter:
        """The filter with each grade condition's profiles (fit, engagement) filled in from ``grades``
        (KeyError for a grade it does not hold)."""
        conditions = tuple(replace(c, grade_profiles=tuple(grades[c.grade or ""]))  # type: ignore[arg-type]
                           if c.field == "grade" else c for c in self.conditions)
        return replace(self, conditions=conditions)

    def to_document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"conditions": [c.to_document() for c in self.conditions]}
        if self.order_by:
            doc["order_by"] = self.order_by
        return doc


def plain_number(value: Any) -> Any:
    """``20`` rather than ``20.0``."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def from_legacy(args: Mapping[str, Any]) -> ContactFilter:
    """The filter of the single-condition query parameters (``profile``, ``op``, ``value``, ``tag``,
    ``without_tag``) that ``GET /v1/contacts`` and saved smart lists used before filter documents:
    ``profile`` alone means "has a score in the profile"."""
    conditions: list[Condition] = []
    profile = args.get("profile") or None
    if profile:
        op = args.get("op") or "not_empty"
        value = args.get("value") if op in NUMERIC_OPS else None
        conditions.append(Condition("score", op=op, profile=profile,
                                    value=float(value) if value is not None else None))
    if args.get("tag"):
        conditions.append(Condition("tag", op="has", tag=args["tag"]))
    if args.get("without_tag"):
        conditions.append(Condition("tag", op="has_not", tag=args["without_tag"]))
    return ContactFilter(tuple(conditions), order_by=profile)


# --- what a filter means ---------------------------------------------------------------------
@dataclass(frozen=True)
class ContactFacts:
    """What a filter looks at in one contact: live score per profile, tags, DND, latest interaction, its
    company and that company's score per profile."""

    scores: Mapping[str, int | None] = field(default_factory=dict)
    tags: frozenset[str] = frozenset()
    dnd: Mapping[str, bool] = field(default_factory=dict)
    last_activity: int | None = None
    company: str | None = None
    company_scores: Mapping[str, int | None] = field(default_factory=dict)


def band_ranges(profile: Profile, band: str) -> list[tuple[int, int | None]]:
    """The score ranges ``[low, high)`` (``high`` None: no upper end) in which ``profile.band_for``
    answers ``band``: the band function only changes at a band's ``min``."""
    mins = sorted({b.min for b in profile.bands})
    out = []
    for i, low in enumerate(mins):
        if profile.band_for(low) == band:
            out.append((low, mins[i + 1] if i + 1 < len(mins) else None))
    return out


def condition_matches(cond: Condition, facts: ContactFacts, live: Mapping[str, Profile], now_ms: int) -> bool:
    """Whether one contact meets one condition; ``live`` holds the published profiles (a profile that
    is not published gives every contact an empty score)."""
    if cond.field == "score":
        return score_matches(cond.op or "not_empty", facts.scores.get(cond.profile or ""), cond.value)
    if cond.field == "band":
        profile = live.get(cond.profile or "")
        score = facts.scores.get(cond.profile or "")
        return profile is not None and score is not None and profile.band_for(score) == cond.band
    if cond.field == "tag":
        return (cond.tag in facts.tags) == (cond.op != "has_not")
    if cond.field == "activity":
        if facts.last_activity is None:
            return False
        cutoff = activity_cutoff(cond, now_ms)
        return facts.last_activity >= cutoff if cond.op == "within" else facts.last_activity < cutoff
    if cond.field == "dnd":
        return facts.dnd.get(cond.channel or "", False) == (cond.op != "off")
    if cond.field == "grade":
        fit_id, engagement_id = cond.grade_profiles or ("", "")
        fit, engagement = live.get(fit_id), live.get(engagement_id)
        if fit is None or engagement is None:
            return False
        actual = grade_cell(fit, engagement, facts.scores.get(fit_id), facts.scores.get(engagement_id))
        wanted = cond.cells if cond.op == "in" else (cond.cell,)
        return cell_matches(cond.op or "eq", actual, [c for c in wanted or () if c])
    if cond.field == "company":
        return (facts.company is not None and facts.company == cond.company) == (cond.op != "ne")
    if cond.field == "company_score":
        return score_matches(cond.op or "not_empty", facts.company_scores.get(cond.profile or ""), cond.value)
    raise ValueError(f"unknown condition field {cond.field!r}")


def activity_cutoff(cond: Condition, now_ms: int) -> int:
    """The moment N days ago, in ms: "within" is at or after it, "before" is strictly before it."""
    return now_ms - int(cond.days or 0) * DAY_MS


def matches(flt: ContactFilter, facts: ContactFacts, live: Mapping[str, Profile], now_ms: int) -> bool:
    """Whether one contact meets every condition of the filter."""
    return all(condition_matches(c, facts, live, now_ms) for c in flt.conditions)


# --- a profile's include / exclude lists -------------------------------------------------------
#: The condition fields a profile's include or exclude list may use: what a contact *is marked as*
#: (tags, DND), never a score, band or grade (a profile's score would then depend on scores, maybe its
#: own) nor activity (which changes with time alone, with nothing to re-check membership at).
GATE_FIELDS = ("tag", "dnd")


def gate_problem(flt: ContactFilter) -> str | None:
    """Why a filter cannot decide whether a profile scores a contact (None when it can)."""
    bad = [describe_condition(c) for c in flt.conditions if c.field not in GATE_FIELDS]
    if bad:
        return (f"its condition{'s' if len(bad) > 1 else ''} {', '.join(repr(b) for b in bad)} "
                f"cannot decide who a profile scores (only tag and DND conditions can)")
    return None


@dataclass(frozen=True)
class Gate:
    """Who a profile scores: contacts in any ``include`` list (every contact when there is none) and in no
    ``exclude`` list. The lists use only tag and DND conditions (``GATE_FIELDS``), so ``live`` and the
    clock never matter."""

    include: tuple[ContactFilter, ...] = ()
    exclude: tuple[ContactFilter, ...] = ()

    def admits(self, facts: ContactFacts) -> bool:
        if self.include and not any(matches(f, facts, {}, 0) for f in self.include):
            return False
        return not any(matches(f, facts, {}, 0) for f in self.exclude)


# --- what a filter says ----------------------------------------------------------------------
def describe_condition(cond: Condition, names: Mapping[str, str] | None = None) -> str:
    """One condition in words: ``Engagement score is at least 20``, ``tagged vip``."""
    names = names or {}
    profile = names.get(cond.profile or "", cond.profile or "")
    if cond.field == "score":
        words = f"{profile} score {OP_WORDS.get(cond.op or '', cond.op)}"
        return words + (f" {plain_number(cond.value)}" if cond.op in NUMERIC_OPS else "")
    if cond.field == "band":
        return f"{profile} band is {cond.band}"
    if cond.field == "tag":
        return f"{'not ' if cond.op == 'has_not' else ''}tagged {cond.tag}"
    if cond.field == "activity":
        days = f"{cond.days} day{'' if cond.days == 1 else 's'}"
        return f"active in the last {days}" if cond.op == "within" else f"no activity in the last {days}"
    if cond.field == "dnd":
        return f"DND {'off' if cond.op == 'off' else 'on'} for {cond.channel}"
    if cond.field == "grade":
        if cond.op == "in":
            return f"grade {cond.grade} is one of {', '.join(cond.cells or ())}"
        return f"grade {cond.grade} {'is not' if cond.op == 'ne' else 'is'} {cond.cell}"
    if cond.field == "company":
        return f"company {'is not' if cond.op == 'ne' else 'is'} {cond.company}"
    if cond.field == "company_score":
        words = f"{profile} company score {OP_WORDS.get(cond.op or '', cond.op)}"
        return words + (f" {plain_number(cond.value)}" if cond.op in NUMERIC_OPS else "")
    return cond.field


def describe(flt: ContactFilter, names: Mapping[str, str] | None = None) -> str:
    """The whole filter in words, conditions joined by "and"; ``all contacts`` when there is none."""
    return " and ".join(describe_condition(c, names) for c in flt.conditions) or "all contacts"
