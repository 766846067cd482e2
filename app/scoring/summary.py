"""What a publish did to the scores: contacts scored, scores changed, and moves between bands.

Computed by the publish job from the live version's scores and the new version's, before the
switch, and kept with the version so the dashboard and the API can show it later.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .profiles import Profile

#: The word for "not in any band" in a band move.
NO_BAND = "no band"


@dataclass(frozen=True, slots=True)
class BandMove:
    """``count`` contacts were in band ``before`` (under the old version) and are in ``after`` now."""

    before: str
    after: str
    count: int

    def words(self) -> str:
        return f"{self.before} \u2192 {self.after}: {self.count}"


@dataclass(frozen=True, slots=True)
class PublishSummary:
    """``scored``: contacts with a score in the new version; ``changed``: contacts whose score is not
    what it was (a score appearing or disappearing counts); ``moves``: band changes, largest first."""

    scored: int
    changed: int
    moves: tuple[BandMove, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"contacts_scored": self.scored, "contacts_changed": self.changed,
                "band_moves": [{"from": m.before, "to": m.after, "count": m.count} for m in self.moves]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PublishSummary:
        return cls(int(data.get("contacts_scored", 0)), int(data.get("contacts_changed", 0)),
                   tuple(BandMove(m["from"], m["to"], int(m["count"])) for m in data.get("band_moves", [])))


def summarize(old_scores: Mapping[str, int], new_scores: Mapping[str, int], old: Profile | None,
              new: Profile) -> PublishSummary:
    """Compare the scores per contact before (under ``old``, None when nothing was live) and after."""
    # each contact's (score before, score after): far fewer distinct pairs than contacts, each banded once
    pairs = Counter((old_scores.get(contact), new_scores.get(contact))
                    for contact in old_scores.keys() | new_scores.keys())
    changed = 0
    moves: Counter[tuple[str, str]] = Counter()
    for (before, after), count in pairs.items():
        if before != after:
            changed += count
        band_before = (old.band_for(before) if old else None) or NO_BAND
        band_after = new.band_for(after) or NO_BAND
        if band_before != band_after:
            moves[(band_before, band_after)] += count
    ordered = sorted(moves.items(), key=lambda item: (-item[1], item[0]))
    return PublishSummary(len(new_scores), changed, tuple(BandMove(a, b, n) for (a, b), n in ordered))
