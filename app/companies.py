"""Companies as the product offers them: contacts grouped by company (``app.scoring.companies`` says which), and
each rolled-up profile's company score, listed, shown with each contact's contribution, filtered and
triggering workflows (docs/scoring-models.md, "Company scores").

The scores are kept by the scorer as contacts' scores change (``Scorer._follow_companies``); this module
reads them and places contacts whose email was linked late (or, in the index backfill, every contact).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import NotFound, ValidationError
from .services import Services
from .storage.companies import Rollup
from .storage.profiles import ActiveVersion


def rollups_of(versions: Sequence[ActiveVersion]) -> list[Rollup]:
    return [Rollup(v.profile.id, v.version, v.profile.company_rollup) for v in versions if v.profile.company_rollup]


def live_rollups(services: Services) -> dict[str, Rollup]:
    """Each published profile that rolls up to companies, by profile id, at its live version."""
    return {r.profile_id: r for r in rollups_of(list(services.profiles.live().values()))}


def place(services: Services, contact_ids: Sequence[str], check_rosters: bool = False) -> int:
    """Put contacts in the company their email and ``company`` attribute make, if they are not there yet
    (bringing their scores); returns how many moved. ``check_rosters``: see ``CompanyIndex.placements``."""
    moves = services.companies.placements(contact_ids, check_rosters)
    services.companies.move(moves, rollups_of(services.profiles.active()))
    return len(moves)


def sort_rollup(services: Services, profile_id: str | None) -> Rollup | None:
    """The live roll-up a list is sorted by; a profile that does not roll up to companies is a 400 (404 when
    there is no such profile)."""
    if profile_id is None:
        return None
    rollup = live_rollups(services).get(profile_id)
    if rollup is None:
        if services.profiles.get(profile_id) is None:
            raise NotFound(f"No profile {profile_id!r}.")
        raise ValidationError("This profile has no company scores.", {
            "profile": f"profile {profile_id!r} does not roll up to companies in its live version"})
    return rollup


def company_page(services: Services, limit: int, cursor: int, profile_id: str | None = None) -> dict[str, Any]:
    """A page of companies with their contact count and score in every rolled-up profile; sorted by
    ``profile_id``'s company score (highest first, unscored last) or else by id."""
    rollup = sort_rollup(services, profile_id)
    rows, total = services.companies.page(limit, cursor, rollup)
    ids = [cid for cid, _score in rows]
    rollups = live_rollups(services)
    sizes = services.companies.sizes(ids)
    scores = {pid: services.companies.scores(r, ids) for pid, r in rollups.items()}
    items = [{"id": cid, "contacts": sizes[cid],
              "scores": {pid: {"score": scores[pid][cid], "rollup": r.how}
                         for pid, r in rollups.items() if scores[pid][cid] is not None}} for cid in ids]
    nxt = cursor + len(items)
    return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}


def contribution(how: str, score: int, scored: int, highest: int) -> float:
    """What one contact's score adds to its company's: the score itself in a ``sum``, its share of the
    ``average`` (score / ``scored`` contacts, two decimals), and in a ``max`` the score when it is the
    ``highest`` (every contact holding it), else 0."""
    if how == "average":
        return round(score / scored, 2) if scored else 0
    if how == "max":
        return score if score == highest else 0
    return score


def company_detail(services: Services, company: str, limit: int = 100, cursor: int = 0) -> dict[str, Any]:
    """One company: a page of its contacts (by id), and per rolled-up profile its score and the ``limit`` highest
    contacts' contributions."""
    if not services.companies.exists(company):
        raise NotFound(f"No company {company!r}.")
    size = services.companies.sizes([company])[company]
    # (a cursor at or past the end: each roster score's first cursor + limit would be all of it, read for nothing)
    roster = services.companies.roster(company, cursor, limit) if cursor < size else []
    profiles: dict[str, Any] = {}
    for pid, rollup in live_rollups(services).items():
        held, scored = services.companies.contributions(company, rollup, limit)
        highest = held[0][1] if held else 0
        profiles[pid] = {
            "rollup": rollup.how, "score": services.companies.scores(rollup, [company])[company],
            "scored_contacts": scored,
            "contributions": [{"contact_id": cid, "score": s, "contribution": contribution(rollup.how, s, scored, highest)}
                              for cid, s in held]}
    nxt = cursor + len(roster)
    return {"id": company, "contacts": size, "contact_ids": roster,
            "next_cursor": nxt if nxt < size else None, "profiles": profiles}
