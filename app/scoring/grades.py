"""Grades: a fit profile and an engagement profile combined into a cell, ``A1`` … ``C3``.

The fit score gives the letter (``A`` best, ``C`` worst) and the engagement score the number (``1`` best,
``3`` worst), each from its profile's bands, taken as three levels:

* the highest band is level 1 (``A`` / ``1``);
* the lowest band is level 3 (``C`` / ``3``) when the profile has three bands or more, level 2 when it has
  two, and level 1 when it has only one (it is then also the highest);
* every band in between is level 2;
* a score below every band (or a profile without bands) is level 3.

Bands are ranked by their ``min`` (as ``Profile.band_for`` picks them), so a profile's band *names* do not
matter. A contact without a score in either profile has no grade (None).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .profiles import Profile

LETTERS = ("A", "B", "C")
NUMBERS = ("1", "2", "3")
#: Every cell, best first.
CELLS = tuple(letter + number for letter in LETTERS for number in NUMBERS)


@dataclass(frozen=True, slots=True)
class Grade:
    """A grade's definition: the fit profile that gives the letter and the engagement profile that gives
    the number."""

    id: str
    name: str
    fit_profile: str
    engagement_profile: str

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "fit_profile": self.fit_profile,
                "engagement_profile": self.engagement_profile}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> Grade:
        return cls(data["id"], data.get("name") or data["id"], data["fit_profile"], data["engagement_profile"])


def level(profile: Profile, score: int | None) -> int | None:
    """The level (0 best … 2 worst) of a score in a profile's bands; None for no score."""
    if score is None:
        return None
    mins = sorted({band.min for band in profile.bands})
    reached = [m for m in mins if score >= m]
    if not reached:
        return 2
    rank = len(reached) - 1  # 0: the lowest band
    if rank == len(mins) - 1:
        return 0
    if rank == 0 and len(mins) >= 3:
        return 2
    return 1


def cell(fit: Profile, engagement: Profile, fit_score: int | None, engagement_score: int | None) -> str | None:
    """The grade cell of two scores (``A1`` … ``C3``); None when either is missing."""
    letter, number = level(fit, fit_score), level(engagement, engagement_score)
    if letter is None or number is None:
        return None
    return LETTERS[letter] + NUMBERS[number]


@dataclass(frozen=True, slots=True)
class GradeStep:
    """The cell moved from ``old`` to ``new`` at ``at``; ``cause`` names the score step that moved it (the
    caller's token, e.g. the score change's id)."""

    old: str | None
    new: str | None
    at: int
    cause: str


#: One score change of a profile: (at, score after it, the caller's token for it).
ScoreStep = tuple[int, int, str]


def grade_steps(fit: Profile, engagement: Profile, fit_old: int | None, engagement_old: int | None,
                fit_steps: Sequence[ScoreStep], engagement_steps: Sequence[ScoreStep]) -> list[GradeStep]:
    """The cells a contact passes through as its two scores change: ``*_steps`` are each profile's score
    changes, oldest first. They are merged in time order (a fit step before an engagement step of the same
    millisecond; each profile's own steps keep their order), and every step after which the cell differs
    from the one before is a ``GradeStep``."""
    merged = sorted([(at, 0, i, score, token) for i, (at, score, token) in enumerate(fit_steps)]
                    + [(at, 1, i, score, token) for i, (at, score, token) in enumerate(engagement_steps)])
    scores = [fit_old, engagement_old]
    current = cell(fit, engagement, fit_old, engagement_old)
    out: list[GradeStep] = []
    for at, which, _i, score, token in merged:
        scores[which] = score
        now = cell(fit, engagement, scores[0], scores[1])
        if now != current:
            out.append(GradeStep(current, now, at, token))
            current = now
    return out


def cell_matches(op: str, actual: str | None, cells: Sequence[str]) -> bool:
    """A grade condition: ``eq``/``in`` the cell is one of ``cells``; ``ne`` it is none of them. A contact
    without a grade matches none (as an empty score matches no numeric condition)."""
    if actual is None:
        return False
    return (actual not in cells) if op == "ne" else (actual in cells)
