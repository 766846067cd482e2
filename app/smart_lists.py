"""Smart lists: saved contact filters (named filter documents), stored as one hash of documents."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Any

from .contact_directory import (count_matches, filter_documents, missing_references, rendered_page,
                                require_profiles, run_filter)
from .contact_filter import ContactFilter
from .errors import Conflict, NotFound
from .membership import check_list_change, filter_of
from .services import Services
from .storage import queries
from .storage.queries import MAX_LIMIT, ContactQuery, FilterDocuments, PagePlan
from .storage.redis_tools import loads


def public_list(doc: dict[str, Any]) -> dict[str, Any]:
    """A list as the API shows it: id, name and the filter document."""
    return {"id": doc["id"], "name": doc["name"], "filter": filter_of(doc).to_document()}


def all_lists(services: Services) -> list[dict[str, Any]]:
    docs = services.smart_lists.all()
    return sorted((public_list(d) for d in docs), key=lambda d: (d["name"].lower(), d["id"]))


def get_list(services: Services, list_id: str) -> dict[str, Any]:
    doc = services.smart_lists.get(list_id)
    if doc is None:
        raise NotFound(f"No smart list {list_id!r}.")
    return public_list(doc)


def problem_of(services: Services, doc: dict[str, Any], docs: FilterDocuments | None = None) -> str | None:
    """Why a saved list cannot run now (it names a profile or a grade deleted since it was saved), or None.

    The stale references of a list are the profiles its conditions and ``order_by`` name, its grades and
    their profiles: tags, bands, cells and channels that match no one are not errors (they select no
    contact, or every contact). ``docs``: ``filter_documents``, if already read."""
    return _problem(services, filter_of(doc), docs)


def _problem(services: Services, flt: ContactFilter, docs: FilterDocuments | None) -> str | None:
    missing = missing_references(services, flt, docs)
    if not missing:
        return None
    return f"names {', '.join(missing)}, which no longer exist{'' if len(missing) > 1 else 's'}"


def runnable_filter(services: Services, doc: dict[str, Any],
                    docs: FilterDocuments | None = None, flt: ContactFilter | None = None) -> ContactFilter:
    """The filter of a saved list, or 409 when it cannot run (a profile or grade it names was deleted): the
    list exists, so not a 404; it has to be edited or deleted first. ``flt``: ``filter_of(doc)``, if made."""
    flt = flt if flt is not None else filter_of(doc)
    problem = _problem(services, flt, docs)
    if problem:
        raise Conflict(f"The smart list {doc['name']!r} {problem}: edit its filter or delete it.",
                       {"filter": [problem]})
    return flt


#: Most lists whose last page plan a process keeps (``_Planned``).
PLANNED_MAX = 256


@dataclass(frozen=True)
class _Planned:
    """What a list's page was made from last time in this process: the documents as stored, and what they
    planned (the script call, the live versions and the grades it was rendered with)."""

    stored: tuple[Any, ...]
    plan: PagePlan
    live: dict[str, Any]
    grades: Any


_planned: dict[tuple[str, str, int], _Planned] = {}


def list_members(services: Services, list_id: str, limit: int, cursor: int) -> dict[str, Any]:
    """A page of a list's members (``run_filter``): the list, the profiles and the grades read in one round
    trip; 404 without such a list, 409 when it cannot run.

    A list whose last page was one script call (a filter read straight off one index) is one round trip: the
    documents and the page its last documents planned are read together, and the page is kept if the documents
    are still the same text (what the page is made from depends on nothing else); otherwise it is planned again
    from the documents just read (one trip more)."""
    query = ContactQuery(services.scores, services.contacts, services.companies)
    key = (services.keys.smart_lists(), list_id, query.buckets)
    last = _planned.get(key)
    if last is not None and query.single_node and cursor + min(limit, MAX_LIMIT) <= queries.SCRIPT_PAGE_ROWS:
        planned = query.documents_and_page(list_id, last.plan, limit, cursor)
        try:
            if planned.page is not None and planned.stored == last.stored:  # its count read once rendered
                return rendered_page(services, planned.page, last.live, last.grades, planned.counted)
        finally:
            planned.close()
        docs = query.documents_of(planned.stored)
    else:
        docs = filter_documents(services, list_id)
    if docs.smart_list is None or docs.smart_list_text is None:
        _planned.pop(key, None)
        raise NotFound(f"No smart list {list_id!r}.")
    flt = runnable_filter(services, docs.smart_list, docs, _stored_filter(docs.smart_list_text))
    out = run_filter(services, flt, limit, cursor, docs, query)
    if query.plan is not None:
        if len(_planned) >= PLANNED_MAX:
            _planned.clear()
        _planned[key] = _Planned(docs.stored, query.plan, services.profiles.live(docs.profiles), docs.grades)
    else:
        _planned.pop(key, None)
    return out


@functools.lru_cache(maxsize=256)
def _stored_filter(text: str) -> ContactFilter:
    """``filter_of`` a stored list's document, by its text: validating it through the schema was ~10 % of a
    page's client CPU, and the same text always reads as the same (immutable) filter."""
    return filter_of(loads(text))


def with_count(services: Services, doc: dict[str, Any],
               docs: FilterDocuments | None = None) -> dict[str, Any]:
    """A list with its member count now; a list that cannot run has ``count`` None and its ``problem``.
    ``docs``: ``filter_documents``, read once for many lists."""
    flt = filter_of(doc)
    problem = _problem(services, flt, docs)
    if problem:
        return {**doc, "count": None, "problem": problem}
    return {**doc, "count": count_matches(services, flt, docs)}


def save_list(services: Services, name: str, flt: ContactFilter, list_id: str | None = None) -> dict[str, Any]:
    """Create (no id) or replace a list with a validated filter; a profile it names must exist (404).

    A list a profile includes or excludes keeps to tag and DND conditions (409); when its filter changes, a job
    decides again for every contact whether those profiles score it (app/membership.py)."""
    require_profiles(services, flt)
    old = services.smart_lists.get(list_id) if list_id else None
    using = check_list_change(services.profiles, list_id, flt) if list_id else []
    doc = {"id": list_id or uuid.uuid4().hex[:12], "name": name, "filter": flt.to_document()}
    services.smart_lists.put(doc)
    if using and old is not None and filter_of(old) != flt:
        services.enqueue.recheck_lists()
    return doc


def delete_list(services: Services, list_id: str) -> None:
    """Delete a list; one that a profile includes or excludes cannot be (409 naming the profiles)."""
    if services.smart_lists.get(list_id) is None:
        raise NotFound(f"No smart list {list_id!r}.")
    check_list_change(services.profiles, list_id, None)
    if not services.smart_lists.delete(list_id):
        raise NotFound(f"No smart list {list_id!r}.")
