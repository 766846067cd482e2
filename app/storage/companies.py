"""Companies: which contacts each company has, and its score in each rolled-up profile version.

The contact document's ``company`` field is the truth of a contact's membership; everything else here is
an index kept beside it:

- per company (keys tagged with the company's bucket, ``{co:B}``): its roster of contacts, and per rolled-up
  version the contributions (contact -> score) with their sum; the bucket's registry of companies and its
  company-score index per version. ``company_member.lua`` changes them together, so a company's score is
  always the roll-up of the contributions it holds.

The roster scores each contact by its *contact* bucket + 1 (``roster_score``), so the company's members of one
contact bucket are one score range of it: contact filters read that range beside the bucket's other indexes
(``filter_bucket.lua``). Releases before kept a set per company and contact bucket for that (``company_members``,
about 76 B per contact) beside a roster whose contacts were all at 0; readers still take a 0 (its contact
bucket is then worked out from the id) until ``app/indexes.py:rosters_by_bucket`` rewrote them and dropped the
sets.

A roster is a plain sorted set while the company is small (at most ``plain_entries`` contacts: Redis keeps it a
listpack, ~27 B a contact), and a compact ordered index (``ordered_index.lua``) under the same name once it grew past
that, where one big sorted set would keep a skiplist node of ~130 B a contact (``roster.lua`` says what each holds;
docs/performance.md, "Row 5a (2026-12-04 late)"). Ingest's recorded writes cannot run the library: a new contact
is written to the plain set, its company marked in ``keys.roster_joins``, and the ticker (``tidy``) moves a marked
roster's plain set into its index when there is one or it grew past the size. Every reader reads the two as one.
An index is made only once ``ROSTER_INDEX_MIGRATION`` is recorded (``app/indexes.py:roster_index_once``, after the
workers of releases before stopped: they read and write the plain set alone).

A contact moves (``move``) when its email first makes a company or its ``company`` attribute changes; its
contribution follows each score change (``contribute``), one script call per contact: O(1) whatever the
company's size (``max`` reads the highest contribution off the sorted set).
"""
from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from ..scoring.companies import company_of
from ..scoring.profiles import version_field
from .errors import gateway
from .ordered_index import LEAF_ENTRIES, library_script
from .redis_tools import Sharding, loads, run_scripts
from .contacts import (COMPANY_NONE_EXPLICIT, EMAIL, EMAIL_BEFORE, EMAIL_FIELDS, email_of, read_company,
                       stored_company)
from .timelines import StatesMoved

#: The move of big rosters into compact ordered indexes (``app/indexes.py:roster_index_once``) in the migrations hash:
#: until it is recorded no roster becomes an index (workers of releases before read the plain set alone).
ROSTER_INDEX_MIGRATION = "company-rosters-compact-index"
#: How often a process that has not seen it recorded asks Redis again (seconds).
ROSTER_CHECK_S = 10.0
#: Contacts a script call of ``index_rosters`` moves into a roster's index at most: a roster that grew big under a
#: release before moves in pages, Redis answering others between them (~20 ms a page).
ROSTER_MOVE_PAGE = 1000
#: A roster's contacts at most in its plain sorted set before it becomes a compact index: Redis's default
#: ``zset-max-listpack-entries``, up to which the plain set is a listpack, as small as the index or smaller.
PLAIN_ROSTER_ENTRIES = 128


@dataclass(frozen=True)
class Rollup:
    """A published profile version that rolls up to companies, and how."""

    profile_id: str
    version: int
    how: str

    @property
    def field(self) -> str:
        return version_field(self.profile_id, self.version)


@dataclass(frozen=True)
class CompanyChange:
    """A company's score in a rolled-up version moved (``old``/``new`` None: none) because of one contact."""

    contact_id: str
    company: str
    rollup: Rollup
    old: int | None
    new: int | None


def _changes(call: tuple[list[str], list[Any]], reply: list[Any], rollups: Sequence[Rollup]) -> list[CompanyChange]:
    """The company-score changes one company_member.lua call made (its reply: 1, then before/after per version)."""
    _keys, args = call
    out = []
    for n, rollup in enumerate(rollups):
        old, new = reply[1 + 2 * n], reply[2 + 2 * n]
        old_value, new_value = (int(float(old)) if old != "" else None), (int(float(new)) if new != "" else None)
        if old_value != new_value:
            out.append(CompanyChange(args[2], args[1], rollup, old_value, new_value))
    return out


@dataclass(frozen=True)
class Move:
    """A contact changing company (either side None: it had none, or has none now)."""

    contact_id: str
    old: str | None
    new: str | None


def roster_score(sharding: Sharding, contact_id: str) -> int:
    """A contact's score in its company's roster: its contact bucket + 1 (0 is the form of a release before,
    which did not say)."""
    return sharding.bucket_of(contact_id) + 1


@gateway
class CompanyIndex:
    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, index: Any, leaf_entries: int = LEAF_ENTRIES,
                 plain_entries: int = PLAIN_ROSTER_ENTRIES):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        #: The score index (``ScoreIndex``): a contact joining a company brings its current scores.
        self.index = index
        #: A roster index leaf's entries at most; the plain roster's before it becomes an index.
        self.leaf_entries = leaf_entries
        self.plain_entries = plain_entries
        #: Whether rosters may become indexes (``ROSTER_INDEX_MIGRATION`` recorded).
        self.moved = StatesMoved(redis, keys, ROSTER_INDEX_MIGRATION, ROSTER_CHECK_S)
        #: Whether a contact hash without ``company`` is in the company its email implies (``read_company``).
        self.company_compact = StatesMoved(redis, keys, COMPANY_NONE_EXPLICIT)
        self._member = library_script(redis, "company_member.lua", "roster.lua")
        self._roster = library_script(redis, "roster_ops.lua", "roster.lua")

    def bucket_of(self, company: str) -> int:
        return self.sharding.bucket_of(company)

    # --- membership -------------------------------------------------------------------------------
    def companies_of(self, contact_ids: Sequence[str]) -> dict[str, str | None]:
        """Each contact's company, as its document says (``read_company``)."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), ["company", *EMAIL_FIELDS])
        return {cid: read_company(cid, dict(zip(("company", *EMAIL_FIELDS), read)), self.compact_now)
                for cid, read in zip(contact_ids, pipe.execute())}

    def compact_now(self) -> bool:
        """``company_compact`` asked of Redis unless known true: for a document read before (``read_company``)."""
        return self.company_compact(recheck=True)

    def placements(self, contact_ids: Sequence[str], check_rosters: bool = False) -> list[Move]:
        """The contacts whose company (from their email and ``company`` attribute) is not the one their
        document holds: the moves that would set them right. With ``check_rosters`` (the backfill, after a
        restore brought documents back without the company indexes), also a contact missing from the roster
        of the company its document holds: it joins it again."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), [*EMAIL_FIELDS, "attributes", "company"])
        moves = []
        held_right = []
        for cid, (short, long, attributes, stored) in zip(contact_ids, pipe.execute()):
            email = email_of(cid, short, long)
            if email is None and attributes is None and stored is None:
                continue  # no such contact
            held = read_company(cid, {"company": stored, EMAIL: short, EMAIL_BEFORE: long}, self.compact_now)
            wanted = company_of(email, loads(attributes) if attributes else None)
            if wanted != held:
                moves.append(Move(cid, held, wanted))
            elif held and check_rosters:
                held_right.append((cid, held))
        if held_right:
            calls = [self._roster_call(held, "holds", roster_score(self.sharding, cid), cid) for cid, held in held_right]
            moves += [Move(cid, None, held) for (cid, held), member in
                      zip(held_right, run_scripts(self.redis, self._roster, calls)) if not member]
        return moves

    def move(self, moves: Sequence[Move], rollups: Sequence[Rollup]) -> list[CompanyChange]:
        """Move contacts between companies: the document first (so a concurrent ``contribute`` that finds the
        contact gone from the old roster reads the new company), then out of the old company's roster and
        every rolled-up version, then into the new one with the scores the score index holds now. Returns the
        company-score changes it made."""
        if not moves:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for m in moves:  # (a contact's email never changes once it implies a company: read apart)
            pipe.hmget(self.keys.contact(m.contact_id), EMAIL_FIELDS)
        compact = self.company_compact()
        for m, (short, long) in zip(moves, pipe.execute()):
            field = stored_company(m.contact_id, email_of(m.contact_id, short, long), m.new, compact)
            if field is not None:
                pipe.hset(self.keys.contact(m.contact_id), "company", field)
            else:
                pipe.hdel(self.keys.contact(m.contact_id), "company")
        pipe.execute()
        now = int(time.time() * 1000)
        leaving = [self._call("leave", m.old or "", m.contact_id, now, {r: None for r in rollups})
                   for m in moves if m.old]
        changes = [c for call, reply in zip(leaving, run_scripts(self.redis, self._member, leaving))
                   for c in _changes(call, reply, rollups)]
        joining = [m for m in moves if m.new]
        scores = self.scores_of([m.contact_id for m in joining], rollups)
        calls = [self._call("join", m.new or "", m.contact_id, now, {r: scores[m.contact_id].get(r) for r in rollups})
                 for m in joining]
        changes += [c for call, reply in zip(calls, run_scripts(self.redis, self._member, calls))
                    for c in _changes(call, reply, rollups)]
        return changes

    def join_new(self, pipe: Any, contact_id: str, company: str, now_ms: int, said: bool = True) -> None:
        """Queue (into ``pipe``) a brand-new contact's joining: it has no score yet, so its company's score does
        not move and no script is needed (``contribute`` adds its scores as they come). It goes to the roster's plain
        set, and its company is marked for the ticker (``tidy``), which moves a big roster's plain set into its index.
        ``said``: its document gets the ``company`` field (not when its email implies it: ``stored_company``)."""
        bucket = self.bucket_of(company)
        if said:
            pipe.hsetnx(self.keys.contact(contact_id), "company", company)
        pipe.zadd(self.keys.company_roster(company, bucket), {contact_id: roster_score(self.sharding, contact_id)})
        pipe.zadd(self.keys.companies(bucket), {company: now_ms}, nx=True)
        pipe.sadd(self.keys.roster_joins(bucket), company)

    def tidy(self) -> int:
        """What the ticker does: each company bucket's marked rosters (``roster_joins``) have their plain set moved
        into their index when there is one, or when it grew past ``plain_entries`` (once rosters may become indexes);
        one script call per company bucket. Returns the contacts moved."""
        if not self.moved():
            return 0
        calls = [([self.keys.roster_joins(b)], ["tidy-joined", self.leaf_entries, self.sharding.buckets,
                                                 self.plain_entries, *self._parts_of(b)])
                 for b in range(self.sharding.buckets)]
        return sum(run_scripts(self.redis, self._roster, calls))

    def index_rosters(self, companies_at_once: int = 100, page: int = ROSTER_MOVE_PAGE) -> int:
        """Every roster grown past ``plain_entries`` moved into a compact index, and every index given what lies in
        its plain set (``app/indexes.py:roster_index_once``), ``companies_at_once`` script calls to a round trip,
        each moving at most ``page`` contacts (a roster not done is called again). Idempotent and online: each page
        moves in one atomic call, and readers read a roster's plain set and index as one between pages. Returns the
        contacts moved."""
        moved = 0
        for bucket in range(self.sharding.buckets):
            companies = self.redis.zrange(self.keys.companies(bucket), 0, -1)
            for start in range(0, len(companies), companies_at_once):
                pending = companies[start:start + companies_at_once]
                while pending:
                    calls = [self._roster_call(company, "tidy", self.plain_entries, page) for company in pending]
                    replies = run_scripts(self.redis, self._roster, calls)
                    moved += sum(replies)
                    pending = [company for company, n in zip(pending, replies) if n == page]
        return moved

    def _parts_of(self, bucket: int) -> list[str]:
        """The text before and after a company in the name of its roster, in the company bucket ``bucket``."""
        return self.keys.company_roster("\0", bucket).split("\0")

    def _roster_call(self, company: str, op: str, *args: Any) -> tuple[list[str], list[Any]]:
        return ([self.keys.company_roster(company, self.bucket_of(company))],
                [op, self.leaf_entries, self.sharding.buckets, *args])

    def place_rosters(self, page: int = 1000, companies_at_once: int = 100) -> int:
        """Rewrite every roster's contacts at 0 (a release before's) with their contact bucket + 1 and drop that
        release's per-bucket member sets; returns the contacts rewritten. Online: ``ZADD XX`` brings back no
        contact that left meanwhile, and a joining contact is written with its bucket anyway.

        Companies go ``companies_at_once`` to a round trip (a read of each roster's next contacts at 0, then
        their rewrite with the old sets' deletes), not one trip each: an upgrade with 100,000 companies
        would otherwise wait on 200,000 round trips before the worker starts."""
        rewritten = 0
        for bucket in range(self.sharding.buckets):
            companies = self.redis.zrange(self.keys.companies(bucket), 0, -1)
            for start in range(0, len(companies), companies_at_once):
                chunk = companies[start:start + companies_at_once]
                rewritten += self._place_chunk(chunk, bucket, page)
        return rewritten

    def _place_chunk(self, companies: Sequence[Any], bucket: int, page: int) -> int:
        """``place_rosters`` for some companies of one company bucket, in two round trips a page of contacts.
        Each pass reads the contacts still at 0 and moves them off it, so a roster drops out when none are left
        (a contact removed meanwhile is no longer at 0 either: ``XX`` does not bring it back)."""
        rewritten = 0
        pending = [self.keys.company_roster(company, bucket) for company in companies]
        members = [self.keys.company_members(company, contact_bucket)  # one key a command: fine on a cluster
                   for company in companies for contact_bucket in range(self.sharding.buckets)]
        while pending or members:
            pipe = self.redis.pipeline(transaction=False)
            for key in pending:
                pipe.zrange(key, 0, 0, byscore=True, offset=0, num=page)
            olds = pipe.execute() if pending else []
            pipe = self.redis.pipeline(transaction=False)
            moving = [(key, old) for key, old in zip(pending, olds) if old]
            for key, old in moving:
                pipe.zadd(key, {cid: roster_score(self.sharding, cid) for cid in old}, xx=True, ch=True)
            for key in members:
                pipe.delete(key)
            replies = pipe.execute()
            rewritten += sum(replies[:len(moving)])
            pending, members = [key for key, _old in moving], []
        return rewritten

    # --- scores -----------------------------------------------------------------------------------
    def scores_of(self, contact_ids: Sequence[str], rollups: Sequence[Rollup]) -> dict[str, dict[Rollup, int | None]]:
        """Each contact's score in each rolled-up version, from the score index."""
        out: dict[str, dict[Rollup, int | None]] = {cid: {} for cid in contact_ids}
        if not contact_ids or not rollups:
            return out
        index = self.index
        if index is None:  # (a roster's own tests make none) the index read as every reader reads it
            from .score_index import ScoreIndex
            index = ScoreIndex(self.redis, self.keys, self.sharding)
        held = index.member_scores([(r.profile_id, r.version) for r in rollups], contact_ids)
        for cid in contact_ids:
            for rollup in rollups:
                out[cid][rollup] = held[cid][(rollup.profile_id, rollup.version)]
        return out

    def contribute(self, scores: Mapping[str, Mapping[Rollup, int | None]]) -> list[CompanyChange]:
        """New scores of contacts in rolled-up versions: each moves its company's contributions and score.
        Returns the company-score changes made.

        A contact found outside its company's roster moved meanwhile: its new company is read once more
        (the move itself brings the scores the index holds, so nothing is lost either way)."""
        pending = {cid: s for cid, s in scores.items() if s}
        changes: list[CompanyChange] = []
        for _attempt in range(2):
            if not pending:
                break
            companies = self.companies_of(list(pending))
            now = int(time.time() * 1000)
            ids = [cid for cid in pending if companies[cid]]
            calls = [self._call("score", companies[cid] or "", cid, now, pending[cid]) for cid in ids]
            replies = run_scripts(self.redis, self._member, calls)
            for cid, call, reply in zip(ids, calls, replies):
                changes += _changes(call, reply, list(pending[cid])) if int(reply[0]) else []
            pending = {cid: pending[cid] for cid, reply in zip(ids, replies) if not int(reply[0])}
        return changes

    def _call(self, op: str, company: str, contact_id: str, now: int,
              scores: Mapping[Rollup, int | None]) -> tuple[list[str], list[Any]]:
        bucket = self.bucket_of(company)
        keys = [self.keys.company_roster(company, bucket), self.keys.companies(bucket)]
        args: list[Any] = [op, company, contact_id, now, roster_score(self.sharding, contact_id), self.leaf_entries,
                           self.sharding.buckets, self.plain_entries if self.moved() else 0]
        for rollup, score in scores.items():
            keys += [self.keys.company_contributions(company, bucket, rollup.profile_id, rollup.version),
                     self.keys.company_sums(rollup.profile_id, rollup.version, bucket),
                     self.keys.company_index(rollup.profile_id, rollup.version, bucket)]
            args += [rollup.how, "" if score is None else int(score)]
        return keys, args

    def drop_version(self, profile_id: str, version: int) -> None:
        """Forget a version's company scores (it was retired)."""
        for bucket in range(self.sharding.buckets):
            pipe = self.redis.pipeline(transaction=False)
            for company in self.redis.zrange(self.keys.companies(bucket), 0, -1):
                pipe.delete(self.keys.company_contributions(company, bucket, profile_id, version))
            pipe.delete(self.keys.company_sums(profile_id, version, bucket))  # one key a command: fine on a cluster
            pipe.delete(self.keys.company_index(profile_id, version, bucket))
            pipe.execute()

    # --- reading ----------------------------------------------------------------------------------
    def count(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.sharding.buckets):
            pipe.zcard(self.keys.companies(bucket))
        return sum(pipe.execute())

    def exists(self, company: str) -> bool:
        return self.redis.zscore(self.keys.companies(self.bucket_of(company)), company) is not None

    def page(self, limit: int, cursor: int, rollup: Rollup | None = None) -> tuple[list[tuple[str, int | None]], int]:
        """A page of company ids with their score in ``rollup`` — highest first (then id, descending, as the
        index orders ties), companies without a score after them, by id — or, without a rollup, by id; and
        how many companies there are. Each bucket answers its first ``cursor + limit``, merged here; a cursor at or
        past the count reads none (each bucket's first ``cursor + limit`` would be every company, read for nothing)."""
        want = cursor + limit
        total = self.count()
        if cursor >= total:
            return [], total
        if rollup is None:
            return [(c, None) for c in self._by_id()[cursor:want]], total
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.sharding.buckets):
            pipe.zrange(self.keys.company_index(rollup.profile_id, rollup.version, bucket), 0, want - 1,
                        desc=True, withscores=True)
        found = sorted(((c, int(score)) for pairs in pipe.execute() for c, score in pairs),
                       key=lambda r: (r[1], r[0]), reverse=True)
        rows: list[tuple[str, int | None]] = list(found[:want])
        if len(rows) < want:  # every scored company is in ``found``: the rest follow, by id
            scored = {c for c, _score in found}
            rows += [(c, None) for c in self._by_id() if c not in scored][:want - len(rows)]
        return rows[cursor:want], total

    def _by_id(self) -> list[str]:
        """Every company id, in id order (the registries read whole: companies are few next to contacts)."""
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.sharding.buckets):
            pipe.zrange(self.keys.companies(bucket), 0, -1)
        return sorted(c for ids in pipe.execute() for c in ids)

    def scores(self, rollup: Rollup, companies: Sequence[str]) -> dict[str, int | None]:
        """Companies' scores in one rolled-up version."""
        pipe = self.redis.pipeline(transaction=False)
        for company in companies:
            pipe.zscore(self.keys.company_index(rollup.profile_id, rollup.version, self.bucket_of(company)), company)
        return {c: int(s) if s is not None else None for c, s in zip(companies, pipe.execute())}

    def sizes(self, companies: Sequence[str]) -> dict[str, int]:
        """How many contacts each company has (its plain set and its index as one)."""
        calls = [self._roster_call(company, "count") for company in companies]
        return dict(zip(companies, run_scripts(self.redis, self._roster, calls)))

    def roster(self, company: str, offset: int = 0, limit: int = 100) -> list[str]:
        """A page of the company's contacts, by id: the merge of each roster score's first ``offset + limit`` in
        each structure (a score's contacts are by id in both), each contact once."""
        found = run_scripts(self.redis, self._roster, [self._roster_call(company, "page", offset + limit)])[0]
        return sorted(set(found))[offset:offset + limit]

    def bucket_members(self, company: str, contact_bucket: int) -> list[str]:
        """The company's contacts of one contact bucket, by id (the filters' walk on a cluster)."""
        call = self._roster_call(company, "bucket", contact_bucket + 1)
        return sorted(run_scripts(self.redis, self._roster, [call])[0])

    def roster_key(self, company: str) -> str:
        return self.keys.company_roster(company, self.bucket_of(company))

    def roster_keys(self) -> list[str]:
        """Every company's roster key, bucket by bucket (``app/indexes.py:sizes_once``)."""
        return [self.roster_key(company) for bucket in range(self.sharding.buckets)
                for company in self.redis.zrange(self.keys.companies(bucket), 0, -1)]

    def contributions(self, company: str, rollup: Rollup, limit: int = 100) -> tuple[list[tuple[str, int]], int]:
        """The company's ``limit`` highest contacts' scores in one rolled-up version (then by id, descending, as
        the sorted set orders ties), and how many contacts it rolls up."""
        key = self.keys.company_contributions(company, self.bucket_of(company), rollup.profile_id, rollup.version)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(key, 0, limit - 1, desc=True, withscores=True)
        pipe.zcard(key)
        rows, total = pipe.execute()
        return [(cid, int(score)) for cid, score in rows], total

    def matching(self, rollup: Rollup, ranges: Iterable[tuple[str, str]]) -> list[str]:
        """The companies whose score in ``rollup`` lies in any of the ``(max, min)`` ranges."""
        pipe = self.redis.pipeline(transaction=False)
        for high, low in ranges:
            for bucket in range(self.sharding.buckets):
                pipe.zrange(self.keys.company_index(rollup.profile_id, rollup.version, bucket), high, low,
                            byscore=True, desc=True)
        return sorted({c for ids in pipe.execute() for c in ids})
