"""Evaluation: does a score predict conversion? Pure arithmetic over contacts' timelines.

The method (docs/scoring-models.md, "Scores that prove themselves", says why each choice):

- **The period** ``[start, end)`` and an **outcome** interaction type (``payment.succeeded`` by default).
- **Who counts**: every contact with at least one interaction before ``start`` (the population),
  except contacts with an outcome interaction before ``start`` (already converted: their score
  mostly reflects the conversion itself). Contacts without history before ``start`` cannot have
  had a score then and are left out too. Both exclusions are counted in the report.
- **The score** of each contact is its score *as of* ``start``: the fold of its timeline before
  ``start`` (interactions and manual changes), with the expiries and decay steps due by then. So a
  score is judged only on what was known before the outcome could happen.
- **Converted**: an outcome interaction at or after ``start`` and before ``end``.
- **Base rate**: conversions / population. **Lift** of a group: its conversion rate / the base rate.
- **Bands**: each contact in the band its score-at-start falls in (``no band`` below them all).
- **Deciles** by rank, highest scores first: a contact's decile is ``1 + ⌊10 × above / N⌋`` where
  ``above`` counts contacts with a strictly higher score, so tied scores share a decile (a decile can
  be empty, or hold more than a tenth); ``cumulative_share`` is the share of all conversions in this
  decile and the ones above it (the gain curve).
- **Rule lift**: a contact *matched* a rule when at least one of its interactions before ``start``
  met the rule's ``on`` and ``where`` (counted even when a limit kept it from scoring); for a fit
  profile, when its attributes met the rule's conditions at ``start``. The rule's
  lift is the conversion rate of contacts who matched / that of contacts who did not.
- **Suggested points**: the log odds ratio of converting, matched vs. not, with 0.5 added to each cell
  (Haldane–Anscombe, so no cell is 0), scaled so that the strongest rule gets the largest absolute
  points among the profile's current rules, rounded half away from zero. A rule suggests nothing
  without enough evidence (``Evidence``): too few contacts matched, too few did not, or too few
  conversions in the population. ``significant`` says whether the 95 % interval of the log odds
  ratio excludes 0.

Everything here is deterministic and exact up to the floats of rates; the report's JSON rounds
rates, lifts and log odds to six decimals.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .fold import fold
from .interactions import MANUAL_TYPE
from .profiles import FIT, Profile
from .records import TimelineRecord

#: The interaction type that marks a conversion when a request names none.
DEFAULT_OUTCOME = "payment.succeeded"
#: How many score deciles the report has.
DECILES = 10
#: The band row of contacts whose score is below every band (or when the profile has no bands).
NO_BAND = "no band"
#: z for a two-sided 95 % interval.
_Z95 = 1.959963984540054
#: The largest points a suggestion may carry (a rule's points are within ±1,000,000).
MAX_POINTS = 1_000_000


@dataclass(frozen=True, slots=True)
class Period:
    """``[start, end)`` in epoch milliseconds, and the interaction type that marks conversion."""

    start: int
    end: int
    outcome: str = DEFAULT_OUTCOME


@dataclass(frozen=True, slots=True)
class Evidence:
    """The least evidence a suggestion needs: contacts who matched the rule, contacts who did not, and
    conversions in the population."""

    matched: int = 30
    unmatched: int = 30
    conversions: int = 10


@dataclass(frozen=True, slots=True)
class ContactHistory:
    """One contact's timeline cut at the period's start: what came before, and whether it converted."""

    before: tuple[TimelineRecord, ...]
    converted: bool


#: Why a contact is not part of the population.
CONVERTED_BEFORE, NO_HISTORY = "converted_before", "no_history"


def cut(records: Iterable[TimelineRecord], period: Period) -> ContactHistory | str:
    """The contact's history before ``start`` and its outcome in the period, or why it is left out
    (``CONVERTED_BEFORE``, ``NO_HISTORY``)."""
    before: list[TimelineRecord] = []
    interacted = converted = False
    for record in records:
        at, type_ = record.at, record.type
        if at < period.start:
            if type_ == period.outcome:
                return CONVERTED_BEFORE
            before.append(record)
            interacted = interacted or type_ != MANUAL_TYPE
        elif at < period.end and type_ == period.outcome:
            converted = True
    if not interacted:
        return NO_HISTORY
    return ContactHistory(tuple(before), converted)


@dataclass(frozen=True, slots=True)
class ContactEvidence:
    """What one contact tells the report about one profile."""

    score: int
    matched: frozenset[str]
    converted: bool


def score_at_start(profile: Profile, history: ContactHistory, period: Period) -> ContactEvidence:
    """The contact's score as of the period's start, and the rules its earlier interactions met."""
    state, ledger = fold(profile, history.before, period.start)
    if profile.kind == FIT:  # a fit rule is matched when the contact's attributes meet it at the start
        return ContactEvidence(state.score, frozenset(state.matched), history.converted)
    # every entry naming a rule comes from an interaction that met it (a match, capped, floored or limited),
    # or from the expiry or decay of such a match: the rule ids of the ledger are the rules matched
    matched = frozenset(entry.rule_id for entry in ledger if entry.rule_id is not None)
    return ContactEvidence(state.score, matched, history.converted)


# --- the report ---------------------------------------------------------------------------------
def _rate(conversions: int, contacts: int) -> float | None:
    return conversions / contacts if contacts else None


def _lift(rate: float | None, base: float | None) -> float | None:
    return rate / base if rate is not None and base else None


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


@dataclass(frozen=True, slots=True)
class Cohort:
    """Contacts of one band, decile or side of a rule, and how many of them converted."""

    contacts: int
    conversions: int
    base_rate: float | None

    @property
    def rate(self) -> float | None:
        return _rate(self.conversions, self.contacts)

    @property
    def lift(self) -> float | None:
        """This group's conversion rate against the population's."""
        return _lift(self.rate, self.base_rate)

    def to_json(self) -> dict[str, Any]:
        return {"contacts": self.contacts, "conversions": self.conversions, "rate": _r(self.rate),
                "lift": _r(self.lift)}


@dataclass(frozen=True, slots=True)
class BandRow:
    band: str
    min: int | None
    group: Cohort

    def to_json(self) -> dict[str, Any]:
        return {"band": self.band, "min": self.min, **self.group.to_json()}


@dataclass(frozen=True, slots=True)
class DecileRow:
    decile: int
    min_score: int | None
    max_score: int | None
    group: Cohort
    cumulative_share: float | None

    def to_json(self) -> dict[str, Any]:
        return {"decile": self.decile, "min_score": self.min_score, "max_score": self.max_score,
                **self.group.to_json(), "cumulative_share": _r(self.cumulative_share)}


@dataclass(frozen=True, slots=True)
class Suggestion:
    """Suggested points for a rule (None with ``reason`` when the evidence is too thin)."""

    points: int | None
    log_odds_ratio: float | None = None
    interval: tuple[float, float] | None = None
    significant: bool = False
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"points": self.points, "log_odds_ratio": _r(self.log_odds_ratio),
                "interval": [_r(x) for x in self.interval] if self.interval else None,
                "significant": self.significant, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule_id: str
    points: int
    matched: Cohort
    unmatched: Cohort
    suggestion: Suggestion

    @property
    def lift(self) -> float | None:
        """Conversion rate of contacts who matched the rule / of those who did not."""
        return _lift(self.matched.rate, self.unmatched.rate)

    def to_json(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "points": self.points, "matched": self.matched.to_json(),
                "unmatched": self.unmatched.to_json(), "lift": _r(self.lift),
                "suggestion": self.suggestion.to_json()}


@dataclass(frozen=True, slots=True)
class Report:
    """The evaluation of one profile over one period."""

    contacts: int
    conversions: int
    excluded: Mapping[str, int]
    bands: tuple[BandRow, ...]
    deciles: tuple[DecileRow, ...]
    rules: tuple[RuleRow, ...]

    @property
    def base_rate(self) -> float | None:
        return _rate(self.conversions, self.contacts)

    def to_json(self) -> dict[str, Any]:
        return {"contacts": self.contacts, "conversions": self.conversions, "base_rate": _r(self.base_rate),
                "excluded": dict(self.excluded), "bands": [b.to_json() for b in self.bands],
                "deciles": [d.to_json() for d in self.deciles], "rules": [r.to_json() for r in self.rules]}


@dataclass
class Tally:
    """The running counts of one profile's evaluation: fed contact by contact, turned into a ``Report``."""

    profile: Profile
    #: score -> [contacts, conversions]
    scores: dict[int, list[int]] = field(default_factory=dict)
    #: rule id -> [contacts who matched, of whom converted]
    rules: dict[str, list[int]] = field(default_factory=dict)

    def add(self, evidence: ContactEvidence) -> None:
        counts = self.scores.get(evidence.score)
        if counts is None:
            counts = self.scores[evidence.score] = [0, 0]
        counts[0] += 1
        counts[1] += evidence.converted
        for rule_id in evidence.matched:
            matched = self.rules.get(rule_id)
            if matched is None:
                matched = self.rules[rule_id] = [0, 0]
            matched[0] += 1
            matched[1] += evidence.converted

    def report(self, excluded: Mapping[str, int], evidence: Evidence = Evidence()) -> Report:
        contacts = sum(n for n, _ in self.scores.values())
        conversions = sum(c for _, c in self.scores.values())
        base = _rate(conversions, contacts)
        return Report(contacts, conversions, dict(excluded), self._bands(base), self._deciles(contacts, conversions,
                                                                                              base),
                      self._rules(contacts, conversions, base, evidence))

    def _bands(self, base: float | None) -> tuple[BandRow, ...]:
        counts: dict[str, list[int]] = {band.name: [0, 0] for band in self.profile.bands}
        for score, (n, c) in self.scores.items():
            name = self.profile.band_for(score) or NO_BAND
            row = counts.setdefault(name, [0, 0])
            row[0] += n
            row[1] += c
        rows = [BandRow(band.name, band.min, Cohort(counts[band.name][0], counts[band.name][1], base))
                for band in sorted(self.profile.bands, key=lambda b: b.min)]
        if NO_BAND in counts and counts[NO_BAND][0]:
            rows.insert(0, BandRow(NO_BAND, None, Cohort(counts[NO_BAND][0], counts[NO_BAND][1], base)))
        return tuple(rows)

    def _deciles(self, contacts: int, conversions: int, base: float | None) -> tuple[DecileRow, ...]:
        rows: list[list[Any]] = [[None, None, 0, 0] for _ in range(DECILES)]  # min, max, contacts, conversions
        above = 0
        for score in sorted(self.scores, reverse=True):
            n, c = self.scores[score]
            row = rows[DECILES * above // contacts]
            row[0] = score
            row[1] = score if row[1] is None else row[1]
            row[2] += n
            row[3] += c
            above += n
        out: list[DecileRow] = []
        captured = 0
        for i, (low, high, n, c) in enumerate(rows):
            captured += c
            out.append(DecileRow(i + 1, low, high, Cohort(n, c, base),
                                 captured / conversions if conversions and n else None))
        return tuple(out)

    def _rules(self, contacts: int, conversions: int, base: float | None,
               evidence: Evidence) -> tuple[RuleRow, ...]:
        rows = []
        for rule in self.profile.rules:
            n1, c1 = self.rules.get(rule.id, (0, 0))
            matched = Cohort(n1, c1, base)
            unmatched = Cohort(contacts - n1, conversions - c1, base)
            rows.append((rule, matched, unmatched, _log_odds(matched, unmatched, conversions, evidence)))
        strongest = max((abs(lor) for *_, lor in rows if isinstance(lor, float)), default=0.0)
        widest = max((abs(rule.points) for rule in self.profile.rules), default=0) or 1
        return tuple(RuleRow(rule.id, rule.points, matched, unmatched, _suggest(matched, unmatched, lor, strongest,
                                                                                 widest))
                     for rule, matched, unmatched, lor in rows)


def _log_odds(matched: Cohort, unmatched: Cohort, conversions: int, evidence: Evidence) -> float | str:
    """The (Haldane–Anscombe corrected) log odds ratio, or why there is too little evidence for one."""
    if matched.contacts < evidence.matched:
        return f"matched by {matched.contacts} contacts (needs {evidence.matched})"
    if unmatched.contacts < evidence.unmatched:
        return f"not matched by {unmatched.contacts} contacts (needs {evidence.unmatched})"
    if conversions < evidence.conversions:
        return f"{conversions} conversions in the period (needs {evidence.conversions})"
    a, b = matched.conversions + 0.5, matched.contacts - matched.conversions + 0.5
    c, d = unmatched.conversions + 0.5, unmatched.contacts - unmatched.conversions + 0.5
    return math.log(a * d / (b * c))


def _suggest(matched: Cohort, unmatched: Cohort, lor: float | str, strongest: float, widest: int) -> Suggestion:
    if isinstance(lor, str):
        return Suggestion(None, reason=lor)
    se = math.sqrt(sum(1 / x for x in (matched.conversions + 0.5, matched.contacts - matched.conversions + 0.5,
                                       unmatched.conversions + 0.5,
                                       unmatched.contacts - unmatched.conversions + 0.5)))
    low, high = lor - _Z95 * se, lor + _Z95 * se
    scaled = lor * widest / strongest if strongest else 0.0
    points = int(math.floor(abs(scaled) + 0.5)) * (1 if scaled >= 0 else -1)
    points = max(-MAX_POINTS, min(MAX_POINTS, points))
    return Suggestion(points, lor, (low, high), low > 0 or high < 0)


def evaluate(profiles: Mapping[str, Profile], timelines: Iterable[Iterable[TimelineRecord]], period: Period,
             evidence: Evidence = Evidence()) -> dict[str, Report]:
    """Reports for several profiles (by any name: ``live``, ``draft``) over the same timelines, each read once."""
    tallies = {name: Tally(profile) for name, profile in profiles.items()}
    excluded = {CONVERTED_BEFORE: 0, NO_HISTORY: 0}
    for records in timelines:
        add_contact(tallies, excluded, records, period)
    return {name: tally.report(excluded, evidence) for name, tally in tallies.items()}


def add_contact(tallies: Mapping[str, Tally], excluded: dict[str, int], records: Iterable[TimelineRecord],
                period: Period) -> None:
    """Feed one contact's timeline to every tally (or count why it is left out)."""
    history = cut(records, period)
    if isinstance(history, str):
        excluded[history] += 1
        return
    for tally in tallies.values():
        tally.add(score_at_start(tally.profile, history, period))
