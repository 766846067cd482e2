"""Finding contacts: a filter (``app.contact_filter``) run over the bucketed indexes.

Ordered by the sort profile's score, highest first (contacts without a score last), then contact
id; with no sort profile, newest contact first. Every index is split into buckets.

Two shapes are answered from the indexes alone, a page at a time: no condition at all (the
contact registry), and score and band conditions all on the profile that orders the result (their
score ranges intersected: "score at least 20 and band warm" is one range of the score index). A page is
then the merge of the buckets' own first ``offset + limit`` entries, and the count is the sum of the buckets'
counts: on a single Redis both in one call of ``index_page.lua``, which returns the page alone (up
to ``SCRIPT_PAGE_ROWS`` deep); on a cluster, or deeper, two pipelined round trips and the merge in Python.

Every other filter is computed inside Redis on a single Redis
(``filter_bucket.lua``, one call per bucket, pipelined), reading the indexes in place: each
condition is a set — a score range of its profile's score index (band: the band's ranges), a
tag's members, a range of the activity index, a channel's DND set; a grade: its two profiles'
score indexes and a check of the cell their scores make; a company: its roster's share of the bucket; a
company score: the rosters of every company whose score is in the range, read off the company-score
index first (up to ``MAX_COMPANIES`` companies) — that the matches are all in or all
out of ("not tagged", "score is empty", "DND off", "company is not"). The script counts from the smallest
"in" set (or takes small "out of" sets away from it) and pages by walking the order key from the
top or by sorting the smallest set's matches, whichever reads fewer members; the page is the
merge of the buckets' first ``offset + limit``.

On a Redis Cluster (a bucket's indexes are in different slots there, so a script cannot read
them together), and for a grade condition whose profiles were not filled in, filters walk one
driving index in chunks — the first score or band range, else a tag's members, else the
recent-activity range, else the contact registry — read the facts every condition needs for each
chunk in one round trip, and keep the contacts for which ``contact_filter.matches`` holds: the
same function the property tests evaluate by brute force.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, NamedTuple

import orjson

from redis.exceptions import ConnectionError as ConnectionError_, ResponseError as ResponseError_
from redis.exceptions import TimeoutError as TimeoutError_

from ..contact_filter import Condition, ContactFacts, ContactFilter, activity_cutoff, band_ranges, matches
from ..scoring.grades import CELLS, Grade, level
from ..scoring.profiles import Profile, version_field
from .errors import gateway
from .companies import CompanyIndex, Rollup
from .contacts import (COMPANY_NONE_EXPLICIT, EMAIL, EMAIL_BEFORE, EMAIL_FIELDS, email_of, shown_company,
                       implies_company, read_company, read_contacts_pipelined)
from .ordered_index import OrderedIndex, library_script
from .redis_tools import call_script, dumps, load_script, loads, on_cluster, run_scripts
from .registry import CREATED, CREATED_BEFORE, created_ms, created_of
from .activity import ACTIVITY_NONE_EXPLICIT
from .timelines import ACTIVITY_FIELD, PIECE_MARK, RECORDS_LIBRARY, is_state_field, joined_state

#: Largest page a query returns.
MAX_LIMIT = 500
#: Index entries read per round trip when a filter must walk an index.
SCAN_CHUNK = 1000
#: Deepest row (cursor + limit) of a page that index_page.lua merges inside Redis; a deeper page merges its
#: buckets' first cursor + limit entries each in Python (in Redis, that merge would hold the server).
SCRIPT_PAGE_ROWS = 1000
#: Most companies a company-score condition may match for filter_bucket.lua to read their members; beyond,
#: the filter walks (each contact's company and its score read per chunk).
MAX_COMPANIES = 200

Range = tuple[str, str]  # (max, min) for ZRANGE ... BYSCORE REV


def _score_ranges(op: str | None, value: float | None) -> list[Range] | None:
    """(max, min) score ranges, highest first; None for ``empty`` (not in the index by definition)."""
    if op == "empty":
        return None
    if op is None or op == "not_empty":
        return [("+inf", "-inf")]
    v = repr(value)
    return {
        "eq": [(v, v)],
        "ne": [("+inf", f"({v}"), (f"({v}", "-inf")],
        "gt": [("+inf", f"({v}")],
        "gte": [("+inf", v)],
        "lt": [(f"({v}", "-inf")],
        "lte": [(v, "-inf")],
    }[op]


def condition_ranges(cond: Condition, live: Mapping[str, Profile]) -> list[Range] | None:
    """The score-index ranges that hold exactly the contacts meeting a score or band condition of a
    published profile; None when the condition cannot be read off the index."""
    profile = live.get(cond.profile or "")
    if profile is None:
        return None
    if cond.field == "score":
        return _score_ranges(cond.op, cond.value)
    if cond.field == "band":
        spans = band_ranges(profile, cond.band or "")
        return [("+inf" if high is None else f"({high}", str(low)) for low, high in reversed(spans)]
    return None


#: A score interval: (low, low excluded, high, high excluded); the bounds may be infinite.
Interval = tuple[float, bool, float, bool]
INF = float("inf")


def _intervals(ranges: list[Range]) -> list[Interval]:
    def bound(text: str) -> tuple[float, bool]:
        if text in ("+inf", "-inf"):
            return float(text), False
        return (float(text[1:]), True) if text.startswith("(") else (float(text), False)
    out = []
    for high, low in ranges:
        (lo, lo_open), (hi, hi_open) = bound(low), bound(high)
        out.append((lo, lo_open, hi, hi_open))
    return out


def _intersect(a: Interval, b: Interval) -> Interval | None:
    lo, lo_open = max((a[0], a[1]), (b[0], b[1]))  # the higher low; at a tie, the excluding one
    hi, hi_open = min((a[2], not a[3]), (b[2], not b[3]))  # the lower high; at a tie, the excluding one
    hi_open = not hi_open
    if lo > hi or (lo == hi and (lo_open or hi_open)):
        return None
    return lo, lo_open, hi, hi_open


def _as_ranges(intervals: list[Interval]) -> list[Range]:
    def text(value: float, excluded: bool) -> str:
        if value in (INF, -INF):
            return "+inf" if value > 0 else "-inf"
        return f"({value!r}" if excluded else repr(value)
    ordered = sorted(intervals, key=lambda i: (i[2], i[0]), reverse=True)
    return [(text(hi, hi_open), text(lo, lo_open)) for lo, lo_open, hi, hi_open in ordered]


def combined_ranges(conditions: tuple[Condition, ...], live: Mapping[str, Profile]) -> list[Range] | None:
    """The score-index ranges of one profile that hold exactly the contacts meeting every condition, when
    all of them are score or band conditions on that profile that the index can answer; else None."""
    profiles = {c.profile for c in conditions}
    if not conditions or len(profiles) != 1:
        return None
    current: list[Interval] | None = None
    for cond in conditions:
        ranges = condition_ranges(cond, live)
        if ranges is None:
            return None
        mine = _intervals(ranges)
        current = mine if current is None else [
            both for a in current for b in mine if (both := _intersect(a, b)) is not None]
    return _as_ranges(current or [])


def _lua_ranges(ranges: list[Range]) -> list[dict[str, Any]]:
    """Score ranges as filter_bucket.lua reads them: ``min``/``max`` for ZRANGE ... BYSCORE, and the
    bounds as numbers (absent: infinite) with whether each is excluded, to test one score."""
    out = []
    for lo, lo_open, hi, hi_open in _intervals(ranges):
        entry: dict[str, Any] = {"min": f"({lo!r}" if lo_open else ("-inf" if lo == -INF else repr(lo)),
                                 "max": f"({hi!r}" if hi_open else ("+inf" if hi == INF else repr(hi)),
                                 "lox": lo_open, "hix": hi_open}
        if lo != -INF:
            entry["lo"] = lo
        if hi != INF:
            entry["hi"] = hi
        out.append(entry)
    return out


def _level_ranges(profile: Profile) -> list[list[dict[str, Any]]]:
    """The score ranges of each grade level (0 best … 2 worst) of a profile, as filter_bucket.lua reads
    them: ``grades.level`` only changes at a band's ``min``."""
    mins = sorted({band.min for band in profile.bands})
    levels: list[list[Range]] = [[], [], []]
    levels[2].append((f"({mins[0]}" if mins else "+inf", "-inf"))  # below every band
    for i, low in enumerate(mins):
        high = f"({mins[i + 1]}" if i + 1 < len(mins) else "+inf"
        levels[level(profile, low) or 0].append((high, str(low)))
    return [_lua_ranges(ranges) for ranges in levels]


def never_matches(cond: Condition, live: Mapping[str, Profile]) -> bool:
    """A score or band condition on a profile that is not published: no one has a score in it; likewise a
    company-score condition on a profile that is not published or does not roll up to companies."""
    if cond.field == "band":
        return cond.profile not in live
    if cond.field == "company_score":
        profile = live.get(cond.profile or "")
        return (profile is None or not profile.company_rollup) and cond.op != "empty"
    return cond.field == "score" and cond.profile not in live and cond.op != "empty"


def rollup_of(profile: Profile | None, version: int) -> Rollup | None:
    if profile is None or not profile.company_rollup:
        return None
    return Rollup(profile.id, version, profile.company_rollup)


@dataclass(frozen=True)
class FilterDocuments:
    """What running a filter reads besides the indexes (``ContactQuery.documents``, one round trip): every
    profile document (``ProfileStore.all``), every grade (``GradeStore.all``) and, when asked for, a smart
    list's document (None if there is no such list)."""

    profiles: dict[str, dict[str, Any]]
    grades: dict[str, Grade]
    smart_list: dict[str, Any] | None = None
    #: The smart list's document as stored (JSON text), or None: what it reads as never changes, so a reader
    #: may keep what it made of it by this text.
    smart_list_text: str | None = None
    #: Everything read as stored (the profiles hash, the grades hash, the list's text): what was made of these
    #: documents may be kept by it (``PagePlan``).
    stored: tuple[Any, ...] = ()


@dataclass(frozen=True)
class PagePlan:
    """How ``ContactQuery.run`` answered a page with one call of index_page.lua and nothing else (a filter read
    straight off one index, on a single Redis): the same documents always plan the same call, whatever the page."""

    indexes: tuple[str, ...]
    ranges: tuple[Range, ...]
    scored: bool
    fields: tuple[str, ...]


class Shown(NamedTuple):
    """What a page shows of a contact's fold state: its score (``ContactQuery.shown_contacts``)."""

    score: int


@gateway
class ContactQuery:
    """Runs a filter over the bucketed indexes and merges the buckets' answers."""

    def __init__(self, index: Any, contacts: Any, companies: CompanyIndex | None = None):
        self.index = index
        self.contacts = contacts
        #: The company index: company and company-score conditions read it (without it, none may be used).
        self.companies = companies
        self.redis = index.redis
        self.keys = index.keys
        self.buckets = index.buckets
        #: One Redis (not a cluster): a bucket's indexes can be intersected by one script.
        self.single_node = not on_cluster(self.redis)
        #: Tests only: "walk", "collect" or "check" makes filter_bucket.lua take that way whatever it costs.
        self.force: str | None = None
        #: How the last ``run`` answered its page, if by one script call and nothing else (``PagePlan``).
        self.plan: PagePlan | None = None

    @cached_property
    def _filter_bucket(self) -> Any:
        # the registry may be a compact ordered index, a company's roster one too (roster.lua)
        return library_script(self.redis, "filter_bucket.lua", "roster.lua", "created.lua", "score_reads.lua",
                              "latest_activity.lua", "contact_ids.lua")

    @cached_property
    def _index_page(self) -> Any:
        return library_script(self.redis, "index_page.lua", RECORDS_LIBRARY, "score_reads.lua")

    @cached_property
    def _read_contacts(self) -> Any:
        return load_script(self.redis, "read_contacts.lua", RECORDS_LIBRARY)

    def shown_contacts(self, contact_ids: Sequence[str], fields: Sequence[str]) -> list[dict[str, Any] | None]:
        """Contacts as a page shows them, in one round trip, in order (None where missing): what
        ``ContactStore.get_contacts`` returns, except ``states``: only ``fields`` (``PROFILE@VERSION``, the live
        versions'), each a ``Shown`` score, and none where the state is marked ``outside``. A page needs no more
        of a fold state than its score: parsing 50 whole ``FoldState`` s was ~30 % of a page's client CPU."""
        if not contact_ids:
            return []
        keys = self.contacts.page_keys(contact_ids)
        stride = len(keys) // len(contact_ids)
        if self.single_node:
            replies = call_script(self.redis, self._read_contacts, keys, [stride])
        else:
            flat = read_contacts_pipelined(self.redis, keys, stride)
            replies = [flat[i:i + stride] for i in range(0, len(flat), stride)]
        compact = self.contacts.company_compact_now
        return [_shown_contact(cid, reply, fields, compact) for cid, reply in zip(contact_ids, replies)]

    def documents(self, list_id: str | None = None) -> FilterDocuments:
        """The profile documents, the grades and (with ``list_id``) a smart list's document, in one round
        trip."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(self.keys.profiles())
        pipe.hgetall(self.keys.grades())
        if list_id is not None:
            pipe.hget(self.keys.smart_lists(), list_id)
        replies = pipe.execute()
        return self.documents_of(tuple(replies) if list_id is not None else (*replies, None))

    @staticmethod
    def documents_of(stored: tuple[Any, ...]) -> FilterDocuments:
        """``FilterDocuments`` of what ``documents`` reads (profiles hash, grades hash, the list's text or None)."""
        profiles, grades, saved = stored
        return FilterDocuments(
            profiles={pid: loads(doc) for pid, doc in profiles.items()},
            grades={gid: Grade.from_dict(loads(doc)) for gid, doc in sorted(grades.items())},
            smart_list=loads(saved) if saved else None, smart_list_text=saved or None, stored=stored)

    def documents_and_page(self, list_id: str, plan: PagePlan, limit: int, cursor: int) -> PlannedPage:
        """``documents(list_id)`` as stored and, in the same round trip, the page ``plan`` answers (``page`` None when
        the script could not run: the server lost it, say): a smart-list page planned from the documents of the
        request before, kept only if the documents read here are those (``app/smart_lists.py``).

        A plan of one score range asks for the page's count in a script call of its own, sent behind the page's in
        the same write and read only by ``PlannedPage.counted``: Redis counts (16 ZCOUNTs, a quarter of its time for
        row 6's page) while the caller renders the page. Redis runs the commands one connection sent in one write
        one after the other, so in practice nothing runs between the page and its count; on a cluster (not this
        path) the two are apart anyway. The caller must ``close`` it (the connection goes back to the pool then)."""
        limit = max(1, min(limit, MAX_LIMIT))
        made = self._page_commands(list_id, plan, limit, cursor)
        commands, apart = made.commands, made.apart
        pool = getattr(self.redis, "connection_pool", None)
        if pool is None or getattr(self.redis, "connection", None) is not None:  # the client's own way
            return self._documents_and_page_pipelined(commands, cursor, plan)
        connection = pool.get_connection()
        planned = PlannedPage(pool, connection, len(commands) - 4, cursor)
        try:
            connection.send_packed_command(made.packed(connection))
            replies = [planned.read() for _ in range(4)]
        except (ConnectionError_, TimeoutError_):  # the client's own way: it reconnects and retries
            planned.close()
            return self._documents_and_page_pipelined(commands, cursor, plan)
        except BaseException:
            planned.close()
            raise
        *stored, reply = replies
        for item in stored:
            if isinstance(item, Exception):
                planned.close()
                raise item
        planned.stored = (_as_dict(stored[0]), _as_dict(stored[1]), stored[2])
        if not isinstance(reply, Exception):
            planned.page = self._page_of(reply, cursor, plan.scored, plan.fields, self.contacts.company_compact_now)
        if not apart or planned.page is None:
            planned.close()
        return planned

    def _page_commands(self, list_id: str, plan: PagePlan, limit: int, cursor: int) -> PageCommands:
        """``documents_and_page``'s commands, made once for what they are made of (the same every page of a list at
        the same place: ~130 arguments, whose making and packing was ~10 % of a page's client CPU)."""
        parts = tuple(self._contact_key_parts())
        made_of = (self.keys.profiles(), self.keys.grades(), self.keys.smart_lists(), list_id, plan, limit, cursor,
                   self._index_page.sha, parts)
        made = _page_commands.get(made_of)
        if made is not None:
            return made
        apart = len(plan.ranges) == 1
        keys = self._page_keys(list(plan.indexes), plan.scored)
        page_args = self._page_args(limit, cursor, list(plan.ranges), plan.fields, counted=not apart,
                                    scored=plan.scored)
        commands: list[tuple[Any, ...]] = [
            ("HGETALL", self.keys.profiles()), ("HGETALL", self.keys.grades()), ("HGET", self.keys.smart_lists(), list_id),
            ("EVALSHA", self._index_page.sha, len(keys), *keys, *page_args)]
        if apart:
            commands.append(("EVALSHA", self._index_page.sha, len(keys), *keys,
                             *self._page_args(0, 0, list(plan.ranges), None, scored=plan.scored)))
        if len(_page_commands) >= PAGE_COMMANDS_MAX:
            _page_commands.clear()
        made = _page_commands[made_of] = PageCommands(commands, apart)
        return made

    def _documents_and_page_pipelined(self, commands: list[tuple[Any, ...]], cursor: int,
                                      plan: PagePlan) -> PlannedPage:
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
        *stored, reply = replies[:4]
        for item in stored:
            if isinstance(item, Exception):
                raise item
        planned = PlannedPage(None, None, 0, cursor)
        planned.stored = (_as_dict(stored[0]), _as_dict(stored[1]), stored[2])
        if not any(isinstance(r, Exception) for r in replies[3:]):
            planned.page = self._page_of(reply, cursor, plan.scored, plan.fields, self.contacts.company_compact_now)
            if len(replies) > 4:
                planned.page.update(_counted(planned.page, replies[4][0], cursor))
        return planned

    def run(self, flt: ContactFilter, live: Mapping[str, tuple[Profile, int]], limit: int, cursor: int,
            now_ms: int, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """A page of ``(contact id, score in the sort profile or None)`` and the total count.

        ``live`` maps each published profile id to its profile and live version. With ``fields``, the page's
        contacts too, as ``shown_contacts`` reads them (``contacts``, in the order of ``items``): a page read
        straight off one index on a single Redis reads them in the same script call (2 round trips a smart-list
        page, not 3)."""
        self.plan = None
        page = self._run(flt, live, limit, cursor, now_ms, fields)
        if fields is not None and "contacts" not in page:
            page["contacts"] = self.shown_contacts([cid for cid, _score in page["items"]], fields)
        return page

    def _run(self, flt: ContactFilter, live: Mapping[str, tuple[Profile, int]], limit: int, cursor: int,
             now_ms: int, fields: Sequence[str] | None) -> dict[str, Any]:
        limit = max(1, min(limit, MAX_LIMIT))
        profiles = {pid: profile for pid, (profile, _version) in live.items()}
        indexes = {pid: self.index.score_indexes(pid, version) for pid, (_profile, version) in live.items()}
        sort = flt.sort_profile if flt.sort_profile in live else None
        if any(never_matches(c, profiles) for c in flt.conditions):
            return {"items": [], "total": 0, "next_cursor": None}
        if not flt.conditions and sort is None:
            if self.contacts.registry.moved():
                return self._newest(limit, cursor)
            registry = [self.keys.contacts(b) for b in range(self.buckets)]
            page = self._plain(registry, [("+inf", "-inf")], limit, cursor, False, fields)
            self.plan = None  # the old sets are moved (registry_once) and emptied: a plan kept on them would read
            return page  # an empty list from then on (app/smart_lists.py keeps a plan while the documents stay)
        if flt.conditions and sort is not None and all(c.profile == sort for c in flt.conditions):
            ranges = combined_ranges(flt.conditions, profiles)
            if ranges is not None:  # score and band conditions of the sort profile: one set of ranges
                return self._plain(indexes[sort], ranges, limit, cursor, True, fields)
        if not flt.conditions and sort is not None:
            scored = self._ranged(indexes[sort], [("+inf", "-inf")], limit, cursor, fields=fields)
            if len(scored["items"]) == limit:  # the page holds only scored contacts: they come first
                total, nxt = self.contacts.contact_count(), cursor + limit
                return {**scored, "total": total, "next_cursor": nxt if nxt < total else None}
        versions = {pid: version for pid, (_profile, version) in live.items()}
        planned = self._planned(flt, profiles, indexes, sort, cursor + limit, now_ms, versions, skip=cursor)
        if planned is not None:
            rows, total = planned
            items = rows[cursor:cursor + limit]
            nxt = cursor + len(items)
            return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}
        return self._page(self._walk(flt, profiles, indexes, sort, now_ms, versions), limit, cursor)

    def _company_sets(self, flt: ContactFilter, profiles: Mapping[str, Profile],
                      versions: Mapping[str, int]) -> dict[int, tuple[list[str], bool]] | None:
        """For each company-score condition (by position): the companies whose members match, and whether the
        matches are those *outside* them (``empty``: no company score); None when a condition matches more
        than ``MAX_COMPANIES`` companies (the filter then walks)."""
        out: dict[int, tuple[list[str], bool]] = {}
        for i, cond in enumerate(flt.conditions):
            if cond.field != "company_score":
                continue
            rollup = rollup_of(profiles.get(cond.profile or ""), versions.get(cond.profile or "", 0))
            ranges = _score_ranges(cond.op, cond.value)
            if rollup is None or self.companies is None:  # nobody has a company score (never_matches did "not empty")
                out[i] = ([], True)
                continue
            found = self.companies.matching(rollup, ranges if ranges is not None else [("+inf", "-inf")])
            if len(found) > MAX_COMPANIES:
                return None
            out[i] = (found, ranges is None)
        return out

    # --- computed inside Redis ----------------------------------------------------------------
    def _sources(self, flt: ContactFilter, profiles: Mapping[str, Profile], indexes: Mapping[str, list[str]],
                 sort: str | None, bucket: int, now_ms: int,
                 company_sets: Mapping[int, tuple[list[str], bool]] | None = None) -> list[tuple[str, dict[str, Any]]] | None:
        """Each condition as ``(key, how filter_bucket.lua reads it)``; None when a condition has none (a grade
        whose profiles were not filled in). A grade condition is its two profiles' score indexes (a cell needs
        both scores) and a check of the cell each contact's two scores make."""
        out: list[tuple[str, dict[str, Any]]] = []
        walk = False
        for position, cond in enumerate(flt.conditions):
            if cond.field == "company":
                if self.companies is None:
                    return None
                out.append((self.companies.roster_key(cond.company or ""),
                            {"roster": True, "neg": cond.op == "ne", "company": cond.company or "",
                             "implies": implies_company(cond.company or "")}))
                continue
            if cond.field == "company_score":
                if company_sets is None or position not in company_sets:
                    return None
                companies, outside = company_sets[position]
                if not companies:
                    if not outside:  # no company's score is in the range: no match
                        out.append(("", {"set": False, "neg": False, "ranges": []}))
                    continue  # outside no company at all: every contact
                members = [self.companies.roster_key(c) for c in companies]  # type: ignore[union-attr]
                out.append((members[0], {"roster": True, "neg": outside, "any": members, "names": companies,
                                         "implies": [implies_company(c) for c in companies]}))
                continue
            if cond.field in ("score", "band"):
                if cond.profile not in profiles:  # "empty" of an unpublished profile: everyone (never_matches did the rest)
                    continue
                index = indexes[cond.profile or ""][bucket]
                if cond.field == "score" and cond.op in (None, "not_empty", "empty"):
                    out.append((index, {"set": False, "neg": cond.op == "empty"}))
                    continue
                ranges = condition_ranges(cond, profiles) or []
                how: dict[str, Any] = {"set": False, "neg": False, "ranges": _lua_ranges(ranges)}
                if cond.profile == sort and not walk:  # a range of the order key: the page walks just it
                    how["walk"] = walk = True
                out.append((index, how))
            elif cond.field == "tag":
                out.append((self.keys.tag_members(cond.tag or "", bucket), {"set": True, "neg": cond.op == "has_not"}))
            elif cond.field == "activity":
                cutoff = activity_cutoff(cond, now_ms)
                ranges = [("+inf", str(cutoff))] if cond.op == "within" else [(f"({cutoff}", "-inf")]
                out.append((self.keys.activity(bucket), {"set": False, "neg": False, "ranges": _lua_ranges(ranges),
                                                         "index": self.keys.activity_index(bucket)}))
            elif cond.field == "dnd":
                out.append((self.keys.dnd(cond.channel or "", bucket), {"set": True, "neg": cond.op == "off"}))
            elif cond.field == "grade" and cond.grade_profiles:
                fit_id, engagement_id = cond.grade_profiles
                if fit_id not in profiles or engagement_id not in profiles:  # no cell for anyone
                    out.append(("", {"set": False, "neg": False, "ranges": []}))
                    continue
                fit, engagement = indexes[fit_id][bucket], indexes[engagement_id][bucket]
                # a cell needs both scores: the two indexes are sets every match is in (and a driver)
                out += [(fit, {"set": False, "neg": False}), (engagement, {"set": False, "neg": False})]
                wanted = cond.cells if cond.op == "in" else (cond.cell,)
                cells = [c for c in CELLS if (c in (wanted or ())) != (cond.op == "ne")]
                out.append((fit, {"set": False, "neg": False, "second": engagement,
                                  "letters": _level_ranges(profiles[fit_id]),
                                  "numbers": _level_ranges(profiles[engagement_id]),
                                  "cells": {f"{CELLS.index(c) // 3}:{CELLS.index(c) % 3}": True for c in cells}}))
            else:
                return None
        return out

    def _planned(self, flt: ContactFilter, profiles: Mapping[str, Profile], indexes: Mapping[str, list[str]],
                 sort: str | None, rows: int, now_ms: int, versions: Mapping[str, int] | None = None,
                 skip: int = 0) -> tuple[list[tuple[str, int | None]], int] | None:
        """The first ``rows`` matches in page order and the count, computed inside Redis, one script call
        per bucket (``rows`` 0: only the count); None when the filter cannot be (see the module's doc).

        A page that will ``skip`` its first matches (a cursor) is counted first, one call per bucket with no
        rows: at or past the count, no row is read (each bucket's first ``rows`` would be all its matches, read
        and sent for nothing: any caller can send a cursor of 10**15); inside it, the page's calls are given
        each bucket's count, so the script does not count again (a deep page costs one round trip more, not
        a second count)."""
        if not self.single_node:
            return None
        company_sets = self._company_sets(flt, profiles, versions or {})
        if company_sets is None:
            return None
        plans: list[tuple[list[str], dict[str, Any]]] = []
        registry = self.contacts.registry
        compact = registry.moved()
        parts = self._contact_key_parts()
        before = {"before": parts[4:6]} if len(parts) == 6 else {}
        for bucket in range(self.buckets):
            sources = self._sources(flt, profiles, indexes, sort, bucket, now_ms, company_sets)
            if sources is None:
                return None
            if any(how.get("ranges") == [] or how.get("cells") == {} for _key, how in sources):  # a band no
                return [], 0  # score falls in, a grade condition no cell meets
            listed = self.keys.registry_index(bucket) if compact else self.keys.contacts(bucket)
            keys = [listed, indexes[sort][bucket] if sort else listed]
            conds = []
            for key, how in sources:
                keys.append(key)
                entry = {**how, "key": len(keys)}  # KEYS[n] counts from 1 in Lua
                if "any" in how:  # a company score: the members of any of these companies
                    entry["any"] = [len(keys)]
                    for extra in how["any"][1:]:
                        keys.append(extra)
                        entry["any"].append(len(keys))
                if "second" in how:  # a grade: the engagement profile's index beside the fit profile's
                    keys.append(entry.pop("second"))
                    entry["key2"] = len(keys)
                if "index" in how:  # latest activity: its compact index beside the sorted set of releases before
                    keys.append(how["index"])
                    entry["index"] = len(keys)
                conds.append(entry)
            plans.append((keys, {"conds": conds, "n": rows, "sorted": sort is not None, "force": self.force,
                                 "place": bucket + 1, "buckets": self.buckets,
                                 "contact": list(self.keys.contact_parts()),
                                 "companies": [self.keys.migrations(), COMPANY_NONE_EXPLICIT],
                                 "scores": self._score_keys(versions or {}, bucket), **before,
                                 **({"granule": self.index.activity.granule,
                                     "derive": [self.keys.migrations(), ACTIVITY_NONE_EXPLICIT]}
                                    if any("index" in c for c in conds) else {}),
                                 **({"registry": list(self.keys.contact_parts())} if compact else {})}))
        if compact and (sort is None or all(c.get("neg") or "cells" in c for c in conds)):  # it reads the
            # registry (the order, or no condition drives): its new contacts are moved into its index first
            registry.absorb_all()
        counts: list[int] | None = None
        if skip and rows:  # counted first: a cursor at or past the count reads no row
            counted = run_scripts(self.redis, self._filter_bucket,
                                  [(keys, [dumps({**plan, "n": 0})]) for keys, plan in plans])
            counts = [int(count) for count, _rows in counted]
            if skip >= sum(counts):
                return [], sum(counts)
        replies = run_scripts(self.redis, self._filter_bucket, [
            (keys, [dumps(plan if counts is None else {**plan, "count": count})])
            for (keys, plan), count in zip(plans, counts or [0] * len(plans))])
        total = sum(int(count) for count, _rows in replies)
        if not rows:
            return [], total
        found = [(flat[i], int(flat[i + 1]), float(flat[i + 2]))
                 for _count, flat in replies for i in range(0, len(flat), 3)]
        if sort is None:  # newest contact first; one the registry lacks counts as created at 0
            merged = sorted(((cid, created) for cid, _in, created in found), key=lambda r: (r[1], r[0]), reverse=True)
            return [(cid, None) for cid, _created in merged[:rows]], total
        found.sort(key=lambda r: (r[1], r[2], r[0]), reverse=True)
        return [(cid, int(score) if scored else None) for cid, scored, score in found[:rows]], total

    def _score_keys(self, versions: Mapping[str, int], bucket: int) -> dict[str, list[str]]:
        """Each live version's score index in the bucket as filter_bucket.lua's plan names it: its hot set -> its
        stale set, its base and the fold states' field (``score_reads.lua``)."""
        out = {}
        for pid, version in versions.items():
            hot, stale, base = self.index.base.bucket_keys(pid, version, bucket)
            out[hot] = [stale, base, version_field(pid, version)]
        return out

    def count(self, flt: ContactFilter, live: Mapping[str, tuple[Profile, int]], now_ms: int) -> int:
        """How many contacts match (a smart list's tab). Counted off one index, without reading members,
        when every condition reads the same index: score and band conditions of one profile, recent
        activity, or one tag; otherwise by filter_bucket.lua (no page); on a cluster, the total of
        ``run``."""
        profiles = {pid: profile for pid, (profile, _version) in live.items()}
        if any(never_matches(c, profiles) for c in flt.conditions):
            return 0
        if not flt.conditions:
            return self.contacts.contact_count()
        fields = {c.field for c in flt.conditions}
        profile = flt.conditions[0].profile
        if fields <= {"score", "band"} and profile is not None and profile in live:
            ranges = combined_ranges(flt.conditions, profiles)
            if ranges is not None:
                return self._count([self.keys.score_index(profile, live[profile][1], b) for b in range(self.buckets)],
                                   ranges)
        if fields == {"activity"} and all(c.op == "within" for c in flt.conditions):
            return self.index.activity.count(max(activity_cutoff(c, now_ms) for c in flt.conditions), None)
        if len(flt.conditions) == 1 and fields == {"tag"} and flt.conditions[0].op == "has":
            pipe = self.redis.pipeline(transaction=False)
            for bucket in range(self.buckets):
                pipe.scard(self.keys.tag_members(flt.conditions[0].tag or "", bucket))
            return sum(pipe.execute())
        indexes = {pid: self.index.score_indexes(pid, version) for pid, (_profile, version) in live.items()}
        planned = self._planned(flt, profiles, indexes, None, 0, now_ms,
                                {pid: version for pid, (_profile, version) in live.items()})
        if planned is not None:
            return planned[1]
        return int(self.run(flt, live, 1, 0, now_ms)["total"])

    def _count(self, indexes: list[str], ranges: list[Range]) -> int:
        """How many of a score index's buckets are in the ranges (hot, stale and base as one: ``score_reads.lua``)."""
        return sum(self._range_counts(indexes, ranges, True))

    def _range_counts(self, indexes: list[str], ranges: list[Range], scored: bool) -> list[int]:
        """Each (range, bucket)'s count, ranges first: a score index's (``scored``) as ``score_base.lua`` counts,
        a plain sorted set's by ``ZCOUNT``."""
        if scored:
            base = self.index.base
            calls = [base.count_range_call(index, low, high) for high, low in ranges for index in indexes]
            return [int(n) for n in run_scripts(self.redis, base.script, calls)]
        pipe = self.redis.pipeline(transaction=False)
        for high, low in ranges:
            for index in indexes:
                pipe.zcount(index, low, high)
        return pipe.execute()

    # --- pages read straight off the indexes --------------------------------------------------
    @staticmethod
    def _ordered(rows: list[tuple[str, float]], scored: bool) -> list[tuple[str, int | None]]:
        """Highest score first, then contact id (descending), as ZRANGE ... REV orders one key."""
        ordered = sorted(rows, key=lambda r: (r[1], r[0]), reverse=True)
        return [(cid, int(score) if scored else None) for cid, score in ordered]

    def _newest(self, limit: int, cursor: int) -> dict[str, Any]:
        """Every contact, newest first (then id descending), once the registry is a compact index: each bucket's
        first ``cursor + limit`` and its count, merged (one script call per bucket). A cursor at or past the end
        is answered from the counts alone: each bucket's first ``cursor + limit`` would be all of it, read for
        nothing (any caller can send a cursor of 10**12)."""
        if cursor:
            total = self.contacts.registry.count()
            if cursor >= total:
                return {"items": [], "total": total, "next_cursor": None}
        counts, tops = self.contacts.registry.newest_with_counts(cursor + limit)
        merged = sorted((row for rows in tops for row in rows), key=lambda r: (r[1], r[0]), reverse=True)
        items: list[tuple[str, int | None]] = [(cid, None) for cid, _at in merged[cursor:cursor + limit]]
        total, nxt = sum(counts), cursor + len(items)
        return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}

    def _plain(self, indexes: list[str], ranges: list[Range], limit: int, cursor: int, scored: bool,
               fields: Sequence[str] | None) -> dict[str, Any]:
        """``_ranged`` for a page that is nothing else: when one script call answered it, ``plan`` says which."""
        page = self._ranged(indexes, ranges, limit, cursor, scored, fields)
        if fields is not None and self.single_node and cursor + limit <= SCRIPT_PAGE_ROWS:
            self.plan = PagePlan(tuple(indexes), tuple(ranges), scored, tuple(fields))
        return page

    def _ranged(self, indexes: list[str], ranges: list[Range], limit: int, cursor: int,
                scored: bool = True, fields: Sequence[str] | None = None) -> dict[str, Any]:
        if self.single_node and cursor + limit <= SCRIPT_PAGE_ROWS:  # one call: the script merges and counts
            return self._scripted_page(indexes, ranges, limit, cursor, scored, fields)
        flat = self._range_counts(indexes, ranges, scored)
        counts = [sum(flat[i * len(indexes):(i + 1) * len(indexes)]) for i in range(len(ranges))]
        items: list[tuple[str, int | None]] = []
        offset = cursor
        for (high, low), count in zip(ranges, counts):
            if offset >= count:
                offset -= count
                continue
            need = limit - len(items)
            # the page lies within the first offset+need of every bucket
            if scored:
                base = self.index.base
                replies = run_scripts(self.redis, base.script,
                                      [base.rev_range_text_call(index, high, low, 0, offset + need) for index in indexes])
                read = [[(cid, float(s)) for cid, s in OrderedIndex.pairs(reply)] for reply in replies]
            else:
                pipe = self.redis.pipeline(transaction=False)
                for index in indexes:
                    pipe.zrange(index, high, low, byscore=True, desc=True, offset=0, num=offset + need, withscores=True)
                read = pipe.execute()
            merged = self._ordered([row for rows in read for row in rows], scored)
            items += merged[offset:offset + need]
            offset = 0
            if len(items) >= limit:
                break
        total = sum(counts)
        nxt = cursor + len(items)
        return {"items": items, "total": total, "next_cursor": nxt if nxt < total else None}

    def _scripted_page(self, indexes: list[str], ranges: list[Range], limit: int, cursor: int,
                       scored: bool, fields: Sequence[str] | None = None) -> dict[str, Any]:
        """``_ranged`` in one call of index_page.lua: the page alone comes back, merged inside Redis; with
        ``fields``, its contacts too (``contacts``, as ``shown_contacts`` reads them)."""
        reply = call_script(self.redis, self._index_page, self._page_keys(indexes, scored),
                            self._page_args(limit, cursor, ranges, fields, scored=scored))
        return self._page_of(reply, cursor, scored, fields, self.contacts.company_compact_now)

    def _page_keys(self, indexes: list[str], scored: bool) -> list[str]:
        """index_page.lua's keys: a score index's buckets each with its stale set and base (``score_reads.lua``)."""
        if not scored:
            return indexes
        return [k for hot in indexes for k in (hot, self.keys.score_stale_of(hot), self.keys.score_base_of(hot))]

    def _page_args(self, limit: int, cursor: int, ranges: list[Range], fields: Sequence[str] | None,
                   counted: bool = True, scored: bool = False) -> list[Any]:
        parts = self._contact_key_parts() if fields is not None else []
        return [cursor, limit, 1 if counted else 0, 3 if scored else 1, len(parts), *parts,
                *(bound for rng in ranges for bound in rng)]

    @staticmethod
    def _page_of(reply: Any, cursor: int, scored: bool, fields: Sequence[str] | None,
                 compact: Callable[[], bool] | None = None) -> dict[str, Any]:
        """A page from index_page.lua's reply (``total`` -1 and ``next_cursor`` None when it was not counted: see
        ``_counted``); ``compact``: with ``fields``, ``ContactStore.company_compact_now``. With ``fields``, the page's
        contacts follow its members in the reply, each the same number of replies (``stride``)."""
        if not isinstance(reply, list):  # with its contacts: one JSON text (index_page.lua; an empty list as {})
            total, flat, contacts = orjson.loads(reply)
            reply = [total, flat or [], contacts or []]
        total, flat, *read = reply
        items = [(flat[i], int(float(flat[i + 1])) if scored else None) for i in range(0, len(flat), 2)]
        page = {"items": items, **_counted(items, total, cursor)}
        if fields is not None:
            pieces = [(field, f"{field}{PIECE_MARK}1") for field in fields]
            compact = compact or _not_compact
            flat, stride = read[0], len(read[0]) // len(items) if items else 0
            page["contacts"] = [_shown(cid, flat[i * stride:i * stride + stride], pieces, compact)
                                for i, (cid, _score) in enumerate(items)]
        return page

    def _contact_key_parts(self) -> list[str]:
        """The names of what a page reads of each contact (``ContactStore.page_keys``) as the text before and after
        its id (index_page.lua makes them for the ids of its page)."""
        return self.contacts.page_key_parts()

    @staticmethod
    def _page(matched: list[tuple[str, int | None]], limit: int, cursor: int) -> dict[str, Any]:
        items = matched[cursor:cursor + limit]
        nxt = cursor + len(items)
        return {"items": items, "total": len(matched), "next_cursor": nxt if nxt < len(matched) else None}

    # --- walking a driving index --------------------------------------------------------------
    def _walk(self, flt: ContactFilter, profiles: Mapping[str, Profile], indexes: Mapping[str, list[str]],
              sort: str | None, now_ms: int, versions: Mapping[str, int]) -> list[tuple[str, int | None]]:
        """Every matching contact, ordered, with its score in the sort profile."""
        rows: list[tuple[tuple, str, int | None]] = []
        for bucket in range(self.buckets):
            for ids in self._candidates(flt, profiles, indexes, bucket, now_ms):
                facts, order = self._facts(flt, profiles, indexes, sort, bucket, ids, versions)
                for cid, fact, key in zip(ids, facts, order):
                    if matches(flt, fact, profiles, now_ms):
                        score = fact.scores.get(sort) if sort else None
                        rows.append((key, cid, score))
        rows.sort(key=lambda r: (r[0], r[1]), reverse=True)
        return [(cid, score) for _key, cid, score in rows]

    def _candidates(self, flt: ContactFilter, profiles: Mapping[str, Profile], indexes: Mapping[str, list[str]],
                    bucket: int, now_ms: int) -> Iterator[list[str]]:
        """Chunks of the bucket's contacts that may match: a superset of the matches, from one index."""
        for cond in flt.conditions:
            ranges = condition_ranges(cond, profiles)
            if ranges is not None:
                index = indexes[cond.profile or ""][bucket]
                for high, low in ranges:
                    yield from self._zchunks(index, high, low)
                return
        for cond in flt.conditions:
            if cond.field == "tag" and cond.op == "has":
                members = sorted(self.redis.smembers(self.keys.tag_members(cond.tag or "", bucket)))
                for start in range(0, len(members), SCAN_CHUNK):
                    yield members[start:start + SCAN_CHUNK]
                return
        for cond in flt.conditions:
            if cond.field == "company" and cond.op == "eq" and self.companies is not None:
                members = self.companies.bucket_members(cond.company or "", bucket)
                for start in range(0, len(members), SCAN_CHUNK):
                    yield members[start:start + SCAN_CHUNK]
                return
        for cond in flt.conditions:
            if cond.field == "activity" and cond.op == "within":
                members = self.index.activity.members(bucket, activity_cutoff(cond, now_ms), None)
                for start in range(0, len(members), SCAN_CHUNK):
                    yield members[start:start + SCAN_CHUNK]
                return
        start = 0
        while ids := self.contacts.registry.page(bucket, start, SCAN_CHUNK):
            yield ids
            start += len(ids)

    def _zchunks(self, key: str, high: str, low: str) -> Iterator[list[str]]:
        """A score index's bucket's members in a range, highest first, a chunk at a time (hot, stale and base as
        one)."""
        base = self.index.base
        offset = 0
        while True:
            reply = run_scripts(self.redis, base.script, [base.rev_range_text_call(key, high, low, offset, SCAN_CHUNK)])
            ids = [cid for cid, _score in OrderedIndex.pairs(reply[0])]
            if not ids:
                return
            yield ids
            offset += len(ids)

    def _facts(self, flt: ContactFilter, profiles: Mapping[str, Profile], indexes: Mapping[str, list[str]],
               sort: str | None, bucket: int, ids: list[str],
               versions: Mapping[str, int] | None = None) -> tuple[list[ContactFacts], list[tuple]]:
        """What the filter's conditions look at, for a chunk of one bucket's contacts, in one round trip;
        and each contact's sort key."""
        named = [pid for pid in dict.fromkeys([*flt.profiles, *([sort] if sort else [])]) if pid in profiles]
        tags = sorted({c.tag for c in flt.conditions if c.field == "tag" and c.tag})
        channels = sorted({c.channel for c in flt.conditions if c.field == "dnd" and c.channel})
        wants_activity = any(c.field == "activity" for c in flt.conditions)
        # each contact's scores as the score index holds them (its fold state's, checked: ``member_scores``)
        held = self.index.member_scores([(pid, (versions or {})[pid]) for pid in named], ids) if named else {}
        pipe = self.redis.pipeline(transaction=False)
        for tag in tags:
            pipe.smismember(self.keys.tag_members(tag, bucket), ids)
        if wants_activity:  # each contact's time: its hash's field, or the sorted set of releases before
            pipe.zmscore(self.keys.activity(bucket), ids)
            for cid in ids:
                pipe.hget(self.keys.contact(cid), ACTIVITY_FIELD)
        read_created = self.contacts.registry.queue_created(pipe, bucket, ids) if sort is None else None
        for cid in ids if channels else ():
            pipe.hmget(self.keys.contact(cid), [f"dnd:{ch}" for ch in channels])
        wants_company = any(c.field in ("company", "company_score") for c in flt.conditions)
        for cid in ids if wants_company else ():
            pipe.hmget(self.keys.contact(cid), ["company", *EMAIL_FIELDS])
        replies = iter(pipe.execute())
        scores = {pid: [held[cid][(pid, (versions or {})[pid])] for cid in ids] for pid in named}
        has = {tag: next(replies) for tag in tags}
        activity: list[Any] = [None] * len(ids)
        if wants_activity:
            before = next(replies)
            held = self.index.activity.resolve(ids, [next(replies) for _ in ids])
            activity = [max((int(float(t)) for t in (old, at) if t is not None), default=None)
                        for old, at in zip(before, held)]
        created = read_created(replies) if read_created is not None else None
        dnd = [next(replies) for _ in ids] if channels else [[] for _ in ids]
        compact = self.contacts.company_compact_now
        companies: list[str | None] = ([read_company(cid, dict(zip(("company", *EMAIL_FIELDS), next(replies))),
                                                     compact)
                                        for cid in ids] if wants_company else [None] * len(ids))
        company_scores = self._company_scores(flt, profiles, versions or {}, companies)
        facts: list[ContactFacts] = []
        order: list[tuple[Any, ...]] = []
        for i in range(len(ids)):
            mine: dict[str, int | None] = {pid: None if scores[pid][i] is None else int(scores[pid][i])
                                           for pid in named}
            facts.append(ContactFacts(
                scores=mine, tags=frozenset(tag for tag in tags if has[tag][i]),
                dnd={ch: flag == "1" for ch, flag in zip(channels, dnd[i])},
                last_activity=int(activity[i]) if activity[i] is not None else None, company=companies[i],
                company_scores={pid: found.get(companies[i] or "") for pid, found in company_scores.items()}))
            if sort is None:
                order.append((created[i] or 0.0,))  # type: ignore[index]
            else:
                order.append((mine[sort] is not None, mine[sort] or 0))
        return facts, order

    def _company_scores(self, flt: ContactFilter, profiles: Mapping[str, Profile], versions: Mapping[str, int],
                        companies: list[str | None]) -> dict[str, dict[str, int]]:
        """Per profile of a company-score condition that rolls up: the score of each of these companies that
        has one."""
        rollups = [r for pid in dict.fromkeys(c.profile for c in flt.conditions if c.field == "company_score")
                   if (r := rollup_of(profiles.get(pid or ""), versions.get(pid or "", 0))) is not None]
        named = sorted({c for c in companies if c})
        if not rollups or not named or self.companies is None:
            return {}
        out = {}
        for rollup in rollups:
            out[rollup.profile_id] = {c: s for c, s in self.companies.scores(rollup, named).items() if s is not None}
        return out


def _counted(items: Any, total: int, cursor: int) -> dict[str, Any]:
    """A page's ``total`` and ``next_cursor`` (None past the last match) for its ``items`` (or a page holding them)."""
    shown = len(items["items"] if isinstance(items, dict) else items)
    nxt = cursor + shown
    return {"total": total, "next_cursor": nxt if nxt < total else None}


class PageCommands:
    """The commands of a smart-list page (``ContactQuery.documents_and_page``) and, once packed for a connection,
    their bytes."""

    def __init__(self, commands: list[tuple[Any, ...]], apart: bool):
        self.commands = commands
        #: Whether the page's count is a script call of its own, behind the page's.
        self.apart = apart
        self._packed: dict[tuple[str, str], list[bytes]] = {}

    def packed(self, connection: Any) -> list[bytes]:
        """The commands as ``connection.pack_commands`` packs them (by its encoding: the same bytes for every
        connection that encodes alike)."""
        encoder = connection.encoder
        how = (encoder.encoding, encoder.encoding_errors)
        found = self._packed.get(how)
        if found is None:
            found = self._packed[how] = connection.pack_commands(self.commands)
        return found


#: ``PageCommands`` by what they were made of (``ContactQuery._page_commands``), at most ``PAGE_COMMANDS_MAX``
#: (then made anew: a page's place, ``cursor``, is a part of what they are made of).
_page_commands: dict[tuple[Any, ...], PageCommands] = {}
PAGE_COMMANDS_MAX = 256


@gateway
class PlannedPage:
    """What ``ContactQuery.documents_and_page`` read: the documents as stored (``stored``), the page or None, and —
    when the page's count was asked for apart — the connection its reply waits on, read by ``counted`` and given
    back to the pool by ``close`` (which reads what is left, or drops a connection that failed)."""

    def __init__(self, pool: Any, connection: Any, unread: int, cursor: int):
        self.stored: tuple[Any, ...] = ()
        self.page: dict[str, Any] | None = None
        self._pool = pool
        self._connection = connection
        self._unread = unread  # replies after the page's still to read
        self._cursor = cursor

    def read(self) -> Any:
        """The next reply on the connection (a Redis error reply as the exception, not raised)."""
        return _reply(self._connection)

    def counted(self) -> dict[str, Any]:
        """The page with its ``total`` and ``next_cursor``: the count's reply read now, if it was asked for apart."""
        assert self.page is not None
        if self._unread:
            try:
                reply = self.read()
            except BaseException:
                self.close()
                raise
            self._unread = 0
            if isinstance(reply, Exception):
                self.close()
                raise reply
            self.page.update(_counted(self.page, reply[0], self._cursor))
        return self.page

    def close(self) -> None:
        """Give the connection back (idempotent): a reply still unread is read first; a connection that fails
        to answer is dropped."""
        connection, self._connection = self._connection, None
        if connection is None:
            return
        try:
            for _ in range(self._unread):
                _reply(connection)
        except BaseException:
            connection.disconnect()
            raise
        finally:
            self._unread = 0
            self._pool.release(connection)


def _reply(connection: Any) -> Any:
    """A connection's next reply; a Redis error reply as the exception, not raised (the replies after it stay in step)."""
    try:
        return connection.read_response()
    except ResponseError_ as error:
        return error


def _as_dict(reply: Any) -> dict[str, str]:
    """A hash as HGETALL gives it: a dict from a client's pipeline, field, value, ... from a script."""
    if isinstance(reply, dict):
        return reply
    fields = iter(reply)
    return dict(zip(fields, fields))


def _not_compact() -> bool:
    return False


def _shown_contact(contact_id: str, replies: Sequence[Any], fields: Sequence[str],
                   compact: Callable[[], bool]) -> dict[str, Any] | None:
    """One contact of ``ContactQuery.shown_contacts`` from its replies (its hash: document and fold states;
    tags; until the move was recorded, the states hash of releases before, which holds the states while it exists), read as
    ``ContactStore.get_contacts`` reads them. Only the document's fields and ``fields`` are read from the hash."""
    return _shown(contact_id, replies, [(field, f"{field}{PIECE_MARK}1") for field in fields], compact)


def _shown(contact_id: str, replies: Sequence[Any], fields: Sequence[tuple[str, str]],
           compact: Callable[[], bool]) -> dict[str, Any] | None:
    """``_shown_contact`` with each field beside the name of its second piece (``joined_state``), made once a page:
    50 a page, so what ``joined_state``, ``_as_dict`` and ``loads`` do is done inline here."""
    doc_reply = replies[0]
    if isinstance(doc_reply, dict):
        doc = doc_reply
    else:
        pairs = iter(doc_reply)
        doc = dict(zip(pairs, pairs))
    get = doc.get
    short, long = get(CREATED), get(CREATED_BEFORE)  # its creation time
    if short is None and long is None and not any(not is_state_field(f) for f in doc):
        return None
    if short is None or long is None:  # one field (50 a page: inline, the usual text decided without a call)
        one = long if short is None else short
        created = int(one) if one is not None and one.isdigit() and one.isascii() and one[0] != "0" \
            and len(one) < 16 else created_ms(one) or 0  # (a corrupt one as none: CREATED_BOUND)
    else:
        created = created_of((short, long)) or 0
    dnd = {}
    for name, value in doc.items():
        if name.startswith("dnd:"):
            dnd[name[4:]] = value == "1"
    states = (_as_dict(replies[2]) if len(replies) > 2 else None) or doc
    shown = {}
    for field, second in fields:
        raw = states.get(field)
        if raw is not None:
            state = orjson.loads(joined_state(states, field) or raw if second in states else raw)
            if not state.get("x"):  # FoldState.outside: no score shown
                shown[field] = Shown(state["s"])
    short, long = get(EMAIL), get(EMAIL_BEFORE)  # its email (email_of's rule, the one-field case inline)
    email = long if short is None else short if long is None else email_of(contact_id, short, long)
    company = shown_company(contact_id, get("company"), email, compact)  # (read_company's rule, the email read above)
    attributes = get("attributes")
    # (in render_contact's order: app/contact_directory.py renders a page's contacts in place)
    return {"id": contact_id, "name": get("name"), "email": email, "external_id": get("external_id"),
            "tags": sorted(replies[1]), "dnd": dnd, "attributes": orjson.loads(attributes) if attributes else {},
            "company": company, "created_at": created, "states": shown}
