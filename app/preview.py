"""Preview: what a draft would score, computed from history without writing anything."""
from __future__ import annotations

from typing import Any

from .horizon import whole_timelines
from .scoring.kept_properties import reads_of
from .membership import Membership
from .scoring.fold import LedgerEntry, fold
from .scoring.histogram import histogram
from .scoring.profiles import Profile, profile_from_dict
from .scoring.vocabulary import vocabulary_of
from .services import Services

#: Contacts read per round trip; and how many contacts a preview looks at, at most.
PREVIEW_PAGE = 500
PREVIEW_MAX_CONTACTS = 100_000


def preview_draft(services: Services, doc: dict[str, Any]) -> dict[str, Any]:
    draft = profile_from_dict({"id": doc["id"], **doc["draft"]})
    reads = reads_of([draft])  # what the draft's rules read: a copy in Redis without it is read whole from the archive
    live = services.profiles.live().get(doc["id"])
    now = services.clock.now_ms()
    scores: dict[str, int] = {}
    current: dict[str, int | None] = {}
    seen: set[tuple[str, str]] = set()
    bites = {cap: [0, 0] for cap in _caps(draft)}  # cap -> [ledger entries it cut, contacts it cut]
    membership = Membership(services.smart_lists, services.contacts)
    gate = membership.gates({draft.id: draft}).get(draft.id)
    outside = 0  # contacts the draft's include/exclude lists leave out now: no score, not in the counts
    start = 0
    for page in services.contacts.contact_pages(PREVIEW_PAGE):
        if start >= PREVIEW_MAX_CONTACTS:
            break
        timelines = whole_timelines(services, page, reads)  # with what left Redis (hot horizon, trimmed copies)
        scored = services.timelines.read_scores(page, live.field) if live else {}
        facts = membership.facts(page, {draft.id: gate}) if gate is not None else {}
        for cid in page:
            seen.update(vocabulary_of(timelines[cid]))
            if gate is not None and not gate.admits(facts[cid]):
                outside += 1
                continue
            state, ledger = fold(draft, timelines[cid], now)
            scores[cid] = state.score
            _count_bites(ledger, bites)
            current[cid] = scored.get(cid)
        start += len(page)
    services.vocabulary.remember(seen)  # interactions stored before the drain learnt them are offered too
    values = sorted(scores.values())
    buckets = histogram(values, draft.bands)
    bands = {band.name: 0 for band in draft.bands}
    for value in values:
        name = draft.band_for(value)
        if name:
            bands[name] += 1
    movers = sorted(scores, key=lambda c: (-abs(scores[c] - (current[c] or 0)), c))[:20]
    return {
        "contacts": len(values),
        "outside": outside,
        "histogram": buckets,
        "bands": bands,
        "movers": [{"contact_id": c, "current": current[c], "draft": scores[c],
                    "change": scores[c] - (current[c] or 0)} for c in movers if scores[c] != current[c]],
        "caps": [{"cap": cap, "max": limit, "entries": bites[cap][0], "contacts": bites[cap][1]}
                 for cap, limit in _caps(draft).items()],
    }


def _caps(profile: Profile) -> dict[str, int]:
    """The draft's caps by the key the ledger names them with: ``group:<id>`` and ``max_score``."""
    caps = {f"group:{group.id}": group.max_points for group in profile.groups}
    if profile.max_score is not None:
        caps["max_score"] = profile.max_score
    return caps


def _count_bites(ledger: list[LedgerEntry], bites: dict[str, list[int]]) -> None:
    """Add one contact's capped entries to the counts: how often, and for how many contacts, each cap bit."""
    seen: set[str] = set()
    for entry in ledger:
        for cap in entry.capped_by:
            bites[cap][0] += 1
            seen.add(cap)
    for cap in seen:
        bites[cap][1] += 1
