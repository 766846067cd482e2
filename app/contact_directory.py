"""Contacts as people see them (API and dashboard): rendering, filtered pages, CSV export, and
changes made by people rather than providers."""
from __future__ import annotations

import csv
import io
import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import NotFound
from .grades import contact_grades
from .scoring.grades import Grade
from .ingest import ingest
from .contact_filter import ContactFilter
from .storage.queries import ContactQuery, FilterDocuments
from .scoring.profiles import Profile
from .scoring.interactions import ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, Interaction, derive_properties
from .scoring.records import TimelineRecord
from .scoring_service import recheck_lists, score_record
from .services import Services

#: Contacts read per page while exporting CSV.
EXPORT_PAGE = 500
#: A CSV cell starting with one of these would be a formula in a spreadsheet: it is quoted with '.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def render_contact(services: Services, contact: dict[str, Any], live: dict | None = None,
                   grades: Mapping[str, Grade] | None = None) -> dict[str, Any]:
    """The public form of a contact: live scores with their band, per profile, and its cell in each grade.

    Pass ``live`` (``services.profiles.live()``) and ``grades`` (``services.grades.all()``) when rendering
    many contacts, to read them once."""
    if live is None:
        live = services.profiles.live()
    if grades is None:
        grades = services.grades.all()
    scores = {}
    for pid, version in live.items():
        state = contact["states"].get(version.field)
        if state is not None:
            scores[pid] = {"score": state.score, "band": version.profile.band_for(state.score)}
    return {"id": contact["id"], "name": contact.get("name"), "email": contact["email"], "external_id": contact["external_id"],
            "tags": contact["tags"], "dnd": contact["dnd"], "attributes": contact.get("attributes", {}),
            "company": contact.get("company"),
            "scores": scores, "grades": contact_grades(grades, live, contact["states"])}


def live_versions(services: Services) -> dict[str, tuple[Profile, int]]:
    """Each published profile with its live version number, as ``ContactQuery`` wants them."""
    return {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}


def filter_documents(services: Services, list_id: str | None = None) -> FilterDocuments:
    """The profiles and grades a filter's run looks at and, with ``list_id``, the smart list: one round
    trip."""
    return ContactQuery(services.scores, services.contacts, services.companies).documents(list_id)


def missing_profiles(services: Services, flt: ContactFilter,
                     docs: FilterDocuments | None = None) -> list[str]:
    """The profiles a filter names that do not exist (published or not): a filter naming one cannot run.
    ``docs``: ``filter_documents``, if already read (likewise below)."""
    known = docs.profiles if docs is not None else services.profiles.all()
    return [pid for pid in flt.profiles if pid not in known]


def _grades(services: Services, docs: FilterDocuments | None) -> Mapping[str, Grade]:
    return docs.grades if docs is not None else services.grades.all()


def missing_references(services: Services, flt: ContactFilter,
                       docs: FilterDocuments | None = None) -> list[str]:
    """What a filter names that does not exist, in words (``grade 'g'``, ``profile 'p'``): a filter naming
    one cannot run. A grade's own profiles count as named by the filter."""
    grades = _grades(services, docs) if flt.grades else {}
    gone = [f"grade {gid!r}" for gid in flt.grades if gid not in grades]
    if not gone and grades:
        flt = flt.with_grades({gid: (g.fit_profile, g.engagement_profile) for gid, g in grades.items()})
    return gone + [f"profile {pid!r}" for pid in missing_profiles(services, flt, docs)]


def resolve_grades(services: Services, flt: ContactFilter,
                   docs: FilterDocuments | None = None) -> ContactFilter:
    """The filter with its grade conditions' profiles filled in; a grade it names must exist (404)."""
    if not flt.grades:
        return flt
    grades = _grades(services, docs)
    missing = [gid for gid in flt.grades if gid not in grades]
    if missing:
        raise NotFound(f"No grade {missing[0]!r}.", {"filter": [f"no grade {gid!r}" for gid in missing]})
    return flt.with_grades({gid: (g.fit_profile, g.engagement_profile) for gid, g in grades.items()})


def require_profiles(services: Services, flt: ContactFilter,
                     docs: FilterDocuments | None = None) -> ContactFilter:
    """Refuse a filter that names a profile or a grade that does not exist (404, as for any unknown profile);
    returns the filter ready to run (its grades' profiles filled in)."""
    flt = resolve_grades(services, flt, docs)
    missing = missing_profiles(services, flt, docs)
    if missing:
        raise NotFound(f"No profile {missing[0]!r}.", {"filter": [f"no profile {pid!r}" for pid in missing]})
    return flt


def run_filter(services: Services, flt: ContactFilter, limit: int, cursor: int,
               docs: FilterDocuments | None = None, query: ContactQuery | None = None) -> dict[str, Any]:
    """Filtered contacts, ordered (see ``app.storage.queries``), rendered; ``next_cursor`` as text (or None).

    A profile or grade the filter names must exist (published or not). ``docs``: ``filter_documents``, if
    already read (the profiles and grades are otherwise read here, once). ``query``: the ``ContactQuery`` to
    run it with (its ``plan`` then says how it answered)."""
    docs = docs if docs is not None else filter_documents(services)
    flt = require_profiles(services, flt, docs)
    return _page(services, flt, services.profiles.live(docs.profiles), limit, cursor, docs.grades, query)


def _page(services: Services, flt: ContactFilter, live: dict, limit: int, cursor: int,
          grades: Mapping[str, Grade], query: ContactQuery | None = None) -> dict[str, Any]:
    """One page of a filter over the live versions ``live`` (profiles not in it give empty scores)."""
    query = query or ContactQuery(services.scores, services.contacts, services.companies)
    page = query.run(flt, {pid: (v.profile, v.version) for pid, v in live.items()}, limit, cursor,
                     services.clock.now_ms(), [v.field for v in live.values()])
    return rendered_page(services, page, live, grades)


def rendered_page(services: Services, page: dict[str, Any], live: dict, grades: Mapping[str, Grade],
                  counted: Callable[[], dict[str, Any]] | None = None) -> dict[str, Any]:
    """A page of ``ContactQuery.run`` (with its ``contacts``, which become the rendered ones) as the API shows it.
    ``counted``: the page with its ``total`` and ``next_cursor``, called once its contacts are rendered (Redis counts
    meanwhile: ``PlannedPage.counted``)."""
    render = _page_renderer(live, grades)
    items = [render(contact) for contact in page["contacts"] if contact is not None]
    if counted is not None:
        page = counted()
    return {"items": items, "total": page["total"],
            "next_cursor": str(page["next_cursor"]) if page["next_cursor"] is not None else None}


def _page_renderer(live: dict, grades: Mapping[str, Grade]) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """``render_contact`` for the contacts of a page, with what every contact of the page shares looked up once: the
    live versions' fields, and each score's band (a page's scores are few: row 6's 50 contacts have a handful). A
    page's contact (``ContactQuery``'s, read for this page alone) is made the rendered contact in place: its keys are
    in ``render_contact``'s order, so it renders as the same JSON whether or not keys are sorted."""
    shown = [(pid, version.field, version.profile.band_for, {}) for pid, version in live.items()]

    def render(contact: dict[str, Any]) -> dict[str, Any]:
        states = contact.pop("states")
        del contact["created_at"]
        scores = {}
        for pid, field_, band_for, bands in shown:
            state = states.get(field_)
            if state is not None:
                score = state.score
                band = bands.get(score, bands)
                if band is bands:
                    band = bands[score] = band_for(score)
                scores[pid] = {"score": score, "band": band}
        contact["scores"] = scores
        contact["grades"] = contact_grades(grades, live, states) if grades else {}
        return contact

    return render


def count_matches(services: Services, flt: ContactFilter, docs: FilterDocuments | None = None) -> int:
    """How many contacts match a filter right now (a smart list's live count)."""
    docs = docs if docs is not None else filter_documents(services)
    flt = require_profiles(services, flt, docs)
    live = services.profiles.live(docs.profiles)
    return ContactQuery(services.scores, services.contacts, services.companies).count(
        flt, {pid: (v.profile, v.version) for pid, v in live.items()}, services.clock.now_ms())


def _csv_text(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_rows(services: Services, flt: ContactFilter) -> Iterator[str]:
    """CSV of every matching contact (id, email, external_id, score, band, tags), a page at a time.

    The filter is checked here, before the first row: call it (``next``) before the response starts,
    so a filter that cannot run is a clear 4xx rather than a broken download. The pages then read the
    live versions of that moment: a profile deleted or unpublished while the download runs gives empty
    scores for the rest of it, never an error in the middle of the file."""
    docs = filter_documents(services)
    flt = require_profiles(services, flt, docs)
    live = services.profiles.live(docs.profiles)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "external_id", "score", "band", "tags"])
    yield out.getvalue()
    out.seek(0)
    out.truncate()
    cursor: int | None = 0
    while cursor is not None:
        page = _page(services, flt, live, EXPORT_PAGE, cursor, docs.grades)
        for item in page["items"]:
            score = item["scores"].get(flt.sort_profile or "", {})
            writer.writerow([item["id"], _csv_text(item["email"]), _csv_text(item["external_id"]),
                             score.get("score", ""), _csv_text(score.get("band")), _csv_text(" ".join(item["tags"]))])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        cursor = int(page["next_cursor"]) if page["next_cursor"] else None


def csv_download(services: Services, flt: ContactFilter) -> Iterator[str]:
    """The body of a CSV download: ``csv_rows`` with its checks already done, so a filter that cannot
    run raises here, before the response (and its 200) starts."""
    rows = csv_rows(services, flt)
    return itertools.chain([next(rows)], rows)


def set_dnd(services: Services, contact: dict[str, Any], channels: dict[str, bool]) -> None:
    """Switch DND channels: shown at once, and recorded as a ``contact.dnd_updated`` interaction
    so that rules can score it (the worker writes the same fields again when it scores it)."""
    if not channels:
        return
    interaction = Interaction(id=f"dnd-{uuid.uuid4().hex}", source="api", type="contact.dnd_updated",
                              occurred_at=services.clock.now_ms(),
                              properties=derive_properties("contact.dnd_updated", {"channels": channels}),
                              email=contact["email"], external_id=contact["external_id"])
    ingest(services, [interaction])
    services.contacts.set_dnd(contact["id"], channels)
    recheck_lists(services, [contact["id"]])


def change_tags(services: Services, contact_id: str, add: list[str], remove: list[str]) -> list[str]:
    """Add and remove tags; the profiles whose include/exclude lists look at tags decide again, at once,
    whether they score the contact (app/membership.py). Returns the tags now."""
    tags = services.contacts.change_tags(contact_id, add, remove)
    recheck_lists(services, [contact_id])
    return tags


def set_attributes(services: Services, contact_id: str, changes: dict[str, Any]) -> None:
    """Set or remove (None) attributes: an attribute record in the contact's timeline at this moment, scored
    at once (fit scores and the contact's attributes are up to date when this returns)."""
    if not changes:
        return
    at = services.clock.now_ms()
    record = TimelineRecord(uuid.uuid4().hex, ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, at, dict(changes))
    score_record(services, contact_id, record, at)
