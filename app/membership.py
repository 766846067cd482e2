"""A profile's include / exclude smart lists: which contacts it scores.

A profile with ``include`` scores only the contacts in one of those lists; with ``exclude``, none in one
of those. A contact outside has no score in the profile (out of its score index, no band, no grade, no
``score_changed``), while its fold goes on underneath: when it comes back in, its score is what the fold of
its whole timeline gives, as if it had never left — so scores stay exact and order-independent whatever
moment the membership was noticed at (README, "Score semantics"). Membership is decided by the lists'
tag and DND conditions only (``contact_filter.GATE_FIELDS``), on the contact's tags and DND as stored
when it is scored; a tag change re-decides it at once (``scoring_service.recheck_lists``).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from marshmallow import ValidationError as SchemaError

from .contact_filter import Condition, ContactFacts, ContactFilter, Gate, from_legacy, gate_problem
from .contact_filter_schema import LEGACY_FIELDS, load_filter
from .errors import Conflict, NotFound, ValidationError
from .scoring.profiles import Profile
from .storage.contacts import ContactStore
from .storage.profiles import ProfileStore
from .storage.smart_lists import SmartListStore

#: Most lists a profile may include or exclude (each).
MAX_LISTS = 20
#: A list that no longer exists (its deletion is refused while a profile names it), or whose filter could not
#: decide membership: it matches no one (a tag no one can have: tags are never empty).
NOBODY = ContactFilter((Condition("tag", op="has", tag=""),))


def filter_of(doc: Mapping[str, Any]) -> ContactFilter:
    """The filter of a stored list; lists saved with single-condition fields read as before."""
    if "filter" in doc:
        try:
            return load_filter(doc["filter"])
        except SchemaError as exc:
            raise ValidationError("The smart list's stored filter is invalid.", exc.messages) from exc
    return from_legacy({k: doc.get(k) for k in LEGACY_FIELDS})


class Membership:
    """What the scorer needs to decide membership: each gated profile's gate, and each contact's facts."""

    def __init__(self, lists: SmartListStore, contacts: ContactStore):
        self.lists = lists
        self.contacts = contacts

    def gates(self, profiles: Mapping[str, Profile]) -> dict[str, Gate]:
        """The gate of each profile (by the caller's key: a version field, since the live and the building
        version of one profile may name different lists) that has include or exclude lists; read once per
        scoring call."""
        gated = {key: p for key, p in profiles.items() if p.include or p.exclude}
        if not gated:
            return {}
        docs = {doc["id"]: doc for doc in self.lists.all()}

        def filters(ids: Sequence[str]) -> tuple[ContactFilter, ...]:
            out = []
            for list_id in ids:
                doc = docs.get(list_id)
                flt = filter_of(doc) if doc is not None else NOBODY
                out.append(NOBODY if gate_problem(flt) else flt)
            return tuple(out)

        return {key: Gate(filters(p.include), filters(p.exclude)) for key, p in gated.items()}

    def facts(self, contact_ids: Sequence[str], gates: Mapping[str, Gate] | None = None) -> dict[str, ContactFacts]:
        """Each contact's tags and DND as stored, one round trip each for the whole batch; with ``gates``, only
        what their conditions look at (no tags read when none names a tag; only the DND channels named)."""
        conditions = None if gates is None else [c for gate in gates.values() for flt in (*gate.include, *gate.exclude)
                                                 for c in flt.conditions]
        if conditions is None or any(c.field == "tag" for c in conditions):
            tags = self.contacts.tags_of(contact_ids)
        else:
            tags = {}
        if conditions is None:
            dnd = self.contacts.dnd_of(contact_ids)
        else:
            channels = sorted({c.channel for c in conditions if c.field == "dnd" and c.channel})
            dnd = self.contacts.dnd_channels_of(contact_ids, channels)
        return {cid: ContactFacts(tags=frozenset(tags.get(cid) or ()), dnd=dnd.get(cid) or {}) for cid in contact_ids}


def is_outside(membership: Membership, profile: Profile, contact_id: str) -> bool:
    """Whether the profile's include/exclude lists leave the contact out now."""
    gate = membership.gates({profile.id: profile}).get(profile.id)
    return gate is not None and not gate.admits(membership.facts([contact_id])[contact_id])


def outside_words(membership: Membership, profile: Profile, contact_id: str) -> str | None:
    """Why the profile's lists leave the contact out, in words (``in Customers``, ``in none of Leads``), or
    None when they do not (or the profile has none)."""
    if not (profile.include or profile.exclude):
        return None
    docs = {doc["id"]: doc for doc in membership.lists.all()}
    facts = membership.facts([contact_id])[contact_id]

    def name(list_id: str) -> str:
        return docs[list_id]["name"] if list_id in docs else list_id

    def member(list_id: str) -> bool:
        flt = filter_of(docs[list_id]) if list_id in docs else NOBODY
        return gate_problem(flt) is None and Gate(include=(flt,)).admits(facts)

    hit = next((list_id for list_id in profile.exclude if member(list_id)), None)
    if hit is not None:
        return f"in {name(hit)}"
    if profile.include and not any(member(list_id) for list_id in profile.include):
        return f"in none of {', '.join(name(list_id) for list_id in profile.include)}"
    return None


# --- checks at the edges -------------------------------------------------------------------------
def profiles_using(profiles: ProfileStore, list_id: str) -> list[str]:
    """The profiles whose draft, live or building version includes or excludes the list, by id."""
    using = []
    for pid, doc in sorted(profiles.all().items()):
        definitions = [doc.get("draft") or {}]
        definitions += [profiles.definition(pid, doc[k]) for k in ("live_version", "building_version") if doc.get(k)]
        if any(list_id in (d.get("include") or ()) or list_id in (d.get("exclude") or ()) for d in definitions):
            using.append(pid)
    return using


def check_profile_lists(lists: SmartListStore, draft: Mapping[str, Any]) -> None:
    """Refuse a draft whose include/exclude lists do not exist (404) or cannot decide membership (409), naming
    the field. A list both included and excluded is allowed: the exclusion wins."""
    missing: dict[str, list[str]] = {}
    unfit: dict[str, list[str]] = {}
    for name in ("include", "exclude"):
        for list_id in dict.fromkeys(draft.get(name) or ()):
            doc = lists.get(list_id)
            if doc is None:
                missing.setdefault(name, []).append(f"no smart list {list_id!r}")
                continue
            problem = gate_problem(filter_of(doc))
            if problem:
                unfit.setdefault(name, []).append(f"smart list {doc['name']!r}: {problem}")
    if missing:
        first = next(iter(missing.values()))[0]
        raise NotFound(f"The profile's lists must exist: {first}.", missing)
    if unfit:
        raise Conflict("The profile's include/exclude lists must use only tag and DND conditions.", unfit)


def check_list_change(profiles: ProfileStore, list_id: str, flt: ContactFilter | None) -> list[str]:
    """Refuse deleting (``flt`` None) a list a profile includes or excludes, or giving it a filter that cannot
    decide membership (409 naming the profiles); returns the profiles that use it."""
    using = profiles_using(profiles, list_id)
    if not using:
        return using
    names = ", ".join(repr(p) for p in using)
    if flt is None:
        raise Conflict(f"Smart list {list_id!r} is used by the include/exclude lists of profile(s) {names}: "
                       f"remove it there (and publish) before deleting it.", {"profiles": using})
    problem = gate_problem(flt)
    if problem:
        raise Conflict(f"Smart list {list_id!r} is used by the include/exclude lists of profile(s) {names}, and "
                       f"{problem}.", {"filter": [problem], "profiles": using})
    return using
