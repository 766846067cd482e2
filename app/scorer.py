"""Scoring contacts: read their state, run the fold, write the result atomically.

One path serves the worker's batches, manual score changes, expiry ticks and the publish
recompute. Each contact is written by ``apply_batch.lua`` only if nothing changed it since it was
read (an optimistic lock on ``_rev``); a contact that lost a race is read and scored again.
Score-index and expiry-index writes follow, idempotently.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from .contact_filter import ContactFacts, Gate
from .membership import Membership
from .scoring.companies import COMPANY_ATTRIBUTE
from .scoring.events import NO_INTEREST, CompanyScoreChanged, GradeChanged, InteractionSeen, Interest, ScoreChanged
from .scoring.fit import apply_attribute_changes, attributes_at
from .scoring.fold import (FoldState, LedgerEntry, advance, advance_quietly, fold, fold_across, is_late, resume,
                           rule_ids)
from .scoring.grades import Grade, ScoreStep, grade_steps
from .scoring.interactions import ATTRIBUTES_TYPE, DND_EMAIL_TYPES, MANUAL_TYPE, NOT_ACTIVITY_TYPES
from .scoring.kept_properties import PropertyReads, lacks, reads_of, refills, trimmer_for
from .scoring.profiles import Profile, version_field
from .scoring.records import ContactWrite, LedgerWrite, TimelineRecord, encode_record, make_write, record_text
from .archive import Archive
from .storage.activity import entry_at, kept_activity
from .storage.companies import CompanyIndex, Rollup
from .storage.grades import GradeStore
from .storage.profiles import ActiveVersion, ProfileStore
from .storage.redis_tools import Later, dumps, loads
from .storage.score_base import pending_candidates, pending_text
from .storage.score_index import ScoreIndex
from .storage.timelines import SCRIPT_CONTACTS, Horizon, TimelineStore, horizon_fields

log = logging.getLogger(__name__)

#: How often a contact that keeps losing write races is retried before giving up the batch.
MAX_ATTEMPTS = 20

#: A batch's reads (``TimelineStore.read_for_scoring``), given when called.
Reads = Callable[[], dict[str, tuple[dict, list, int | None]]]


class Overlap:
    """What a drain overlaps with a batch's scoring (app/scoring_service.py): told when the first round's first
    chunk of writes is sent (``first_sent``, once) and when its last is (``all_sent``); keeps the index writes
    sent but not confirmed yet (``indexed``: each gives its replies, raising a failed write's error), which the
    drain reads before it lets the batch's stream entries go."""

    def __init__(self) -> None:
        self.indexed: list[Callable[[], Any]] = []

    def first_sent(self) -> None:
        pass

    def all_sent(self) -> None:
        pass

    def confirm(self) -> None:
        """Read the replies of the index writes sent so far (raising a failed one's error)."""
        for replies in self.indexed:
            replies()
        self.indexed.clear()

@dataclass(slots=True, init=False)
class ContactResult:
    """What scoring one contact did, per version field (``profile@version``)."""

    scores: dict[str, int | None]
    #: The score each version field had before (None: none), for the company roll-ups.
    before: dict[str, int | None]
    changed: bool
    next_expiry: int | None
    derived_before: int | bool

    def __init__(self, scores: dict[str, int | None] | None = None, before: dict[str, int | None] | None = None,
                 changed: bool = False, next_expiry: int | None = None) -> None:
        # one per contact scored: without the generated __init__'s default factories
        self.scores = {} if scores is None else scores
        self.before = {} if before is None else before
        self.changed = changed
        self.next_expiry = next_expiry
        #: what every state read derives (the time of the record each applied last: storage/activity.py, entry_at),
        #: False for none: sent to apply_batch.lua as a write's [13], so it reads and parses no state it replaces
        self.derived_before = False


#: Fold states a scorer keeps decoded between batches (``DecodedStates``): about 1.5 KB each with its text, so a
#: drain's scorer holds at most ~30 MB of them (a partition of row 1 has 12,500 contacts).
DECODED_STATES_MAX = 20_000


class DecodedStates:
    """The fold states this scorer wrote, kept decoded under their stored text, so that a contact scored again in a
    later batch of the same drain is not decoded again. In row 1 a contact comes back about every twelfth batch of
    its partition, and a drain takes up to 100 batches: decoding its state (``loads`` + ``FoldState.from_json``,
    ~3.5 µs) was ~8 % of the drain's CPU (docs/performance.md, "Row 1 (2026-12-03 evening)").

    Exact by construction: a state is kept only under the text it encodes to, and that text decodes to an equal
    state with the same order inside (the round trip; Hypothesis: tests/test_fold_properties.py), so a state read
    back as the same text is the state kept, whoever wrote it. ``take`` hands a state out once (the fold advances
    it in place), so no two folds share one. At ``limit`` states it starts again empty."""

    __slots__ = ("_states", "limit")

    def __init__(self, limit: int = DECODED_STATES_MAX) -> None:
        self._states: dict[str, tuple[FoldState, Profile]] = {}
        self.limit = limit

    def take(self, text: str, profile: Profile) -> FoldState:
        """The state ``text`` stores in ``profile``'s version: the one kept under it (no longer kept) when it was
        kept for a version of the same rules (a rule's index in them is its id's stored form), else decoded."""
        kept = self._states.pop(text, None)
        if kept is not None and (kept[1] is profile or rule_ids(kept[1]) == rule_ids(profile)):
            return kept[0]
        return FoldState.from_json(loads(text), profile)

    def keep(self, text: str, state: FoldState, profile: Profile) -> None:
        """Keep ``state``, which ``text`` encodes (``dumps(state.to_json(profile))``), for ``take``; the caller no
        longer changes it. A timed entry whose interaction id is not the end of its key (a source with ``:``) would
        not come back the same from the text: such a state is not kept."""
        for timed in (state.pending, state.decaying):
            for entry in timed:
                if entry[1].partition(":")[2] != entry[4]:
                    return
        states = self._states
        if len(states) >= self.limit:
            states.clear()
        states[text] = (state, profile)


#: ``dumps`` without its call (``storage.redis_tools.dumps`` is this, decoded): once per contact scored and record
#: written.
_json = orjson.dumps

#: The types that are no activity of the contact (the latest-activity index).
_NOT_ACTIVITY = NOT_ACTIVITY_TYPES

#: The types that set a contact's DND fields (``_dnd_updates``).
_DND_TYPES = frozenset(DND_EMAIL_TYPES) | {"contact.dnd_updated"}

#: The types that change a contact's document: its DND fields (``_dnd_updates``) or its attributes.
_DOC_TYPES = _DND_TYPES | {ATTRIBUTES_TYPE}


def _has_type(records: Sequence[TimelineRecord], type_: str) -> bool:
    """Whether any of the records is of this type (a loop: ``any()`` over a generator costs a contact ~0.5 µs
    more, asked of every contact scored)."""
    for record in records:
        if record.type == type_:
            return True
    return False


def _record_keys(batch: Mapping[str, Sequence[TimelineRecord]]) -> dict[str, list[str]]:
    """Each contact's record keys (what read_batch.lua looks up)."""
    return record_keys_apart(batch, ())[0]


def record_keys_apart(batch: Mapping[str, Sequence[TimelineRecord]],
                      held: Container[str]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """``_record_keys`` of the contacts not in ``held`` and of those in it, in one pass (a drain's next batch, read
    ahead in two parts: ``Scorer.read_ahead``): a loop, no comprehension called per contact."""
    apart: dict[str, list[str]] = {}
    shared: dict[str, list[str]] = {}
    for cid, records in batch.items():
        out = shared if cid in held else apart
        if len(records) == 1:
            out[cid] = [records[0].key]
        else:
            keys = out[cid] = []
            for record in records:
                keys.append(record.key)
    return apart, shared


def _places_company(fresh: Mapping[str, Sequence[TimelineRecord]]) -> bool:
    """Whether any of these records sets a contact's company attribute (a loop: ``any()`` over a generator made a
    step of it per record of a batch)."""
    for records in fresh.values():
        for record in records:
            if record.type == ATTRIBUTES_TYPE and COMPANY_ATTRIBUTE in record.properties:
                return True
    return False


def _dnd_updates(records: Sequence[TimelineRecord]) -> dict[str, str]:
    """Contact-document DND fields set by these interactions, in timeline order."""
    doc: dict[str, str] = {}
    for record in records:  # (a loop: any() over a generator costs a contact ~0.5 µs more)
        if record.type in _DND_TYPES:
            break
    else:  # the common case: nothing to sort
        return doc
    for record in sorted(records, key=lambda r: (r.at, r.key)):
        if record.type in DND_EMAIL_TYPES:
            doc["dnd:email"] = "1"
        elif record.type == "contact.dnd_updated":
            for channel, on in (record.properties.get("channels") or {}).items():
                doc[f"dnd:{channel}"] = "1" if on else "0"
    return doc


def _score_steps(old: int | None, ledger: Sequence[LedgerEntry], full: bool, new: int) -> list[tuple[int | None, int, LedgerEntry | None]]:
    """The score changes a workflow trigger sees: one per applied change, or one for a recompute."""
    if full:
        return [(old, new, None)] if old != new else []
    steps: list[tuple[int | None, int, LedgerEntry | None]] = []
    current = old
    if current is None:
        steps.append((None, 0, None))
        current = 0
    for entry in ledger:
        if entry.change:
            steps.append((current, entry.score, entry))
            current = entry.score
    return steps


@dataclass
class History:
    """What a refold of one contact reads: its hot timeline, and once older history left Redis, its horizon
    with the checkpoints at it, plus (when a checkpoint will not do) the whole history from the archive."""

    timeline: list[TimelineRecord]
    horizon: Horizon | None = None
    archived: list[TimelineRecord] | None = None

    def records(self) -> list[TimelineRecord]:
        """Every record this history holds, once each (the archive's and the timeline's copies are the same)."""
        if self.archived is None:
            return self.timeline
        if not self.timeline:  # all of it left Redis (the archive holds each record once)
            return self.archived
        merged = {r.key: r for r in self.archived}
        for record in self.timeline:
            merged.setdefault(record.key, record)
        return list(merged.values())

    def attributes(self, fresh: Sequence[TimelineRecord]) -> dict[str, Any]:
        """The contact's attributes after its whole timeline and ``fresh``."""
        if self.horizon is None or self.archived is not None:
            return attributes_at([*self.records(), *fresh])
        at = self.horizon.at
        later = [r for r in [*self.timeline, *fresh] if r.at >= at and r.type == ATTRIBUTES_TYPE]
        attributes = dict(self.horizon.attributes)
        for record in sorted(later, key=lambda r: (r.at, r.key)):
            attributes = apply_attribute_changes(attributes, record.properties)
        return attributes


class Scorer:
    def __init__(self, timelines: TimelineStore, index: ScoreIndex, profiles: ProfileStore,
                 grades: GradeStore | None = None, membership: Membership | None = None,
                 companies: CompanyIndex | None = None, archive: Archive | None = None, workspace: str = "default"):
        self.timelines = timelines
        self.index = index
        self.profiles = profiles
        self.grades = grades
        #: Where history older than the hot horizon is read from (app/archive/; None: no contact has one).
        self.archive = archive
        self.workspace = workspace
        self.membership = membership
        #: The gates of the versions with include/exclude lists (by version field), read once per ``score`` call.
        self._gates: dict[str, Gate] = {}
        self.companies = companies
        #: Every active version that rolls up to companies (live and building), read once per ``score`` call;
        #: the live ones, and the profiles whose company-score changes are listened to.
        self._rollups: list[Rollup] = []
        self._live_rollups: set[Rollup] = set()
        self._company_interest: frozenset[str] = frozenset()
        #: The grades whose cell changes are listened to, read once per ``score`` call, and their profiles.
        self._watched: dict[str, Grade] = {}
        self._graded: set[str] = set()
        #: The fold states this scorer wrote, decoded, for the contacts it scores again (a drain's next batches).
        self._decoded = DecodedStates()
        #: whether states are written with their rule ids interned (``fold-states-interned`` seen: ``_versions``),
        #: else in the form the workers of the release before read
        self._interned = False
        #: What the rules of the active versions read, by type (``kept_properties.reads_of``): a drain's archiver
        #: trims its records' copies in Redis to it. Made again only when the versions change (``_reads_for``).
        self.reads: PropertyReads = {}
        self._reads_made: dict[tuple[int, ...], tuple[tuple[Profile, ...], PropertyReads]] = {}
        #: The ``LedgerWrite`` of each version field written so far, advanced ([False]) and refolded ([True])
        #: (``_ledger_write``).
        self._ledger_writes: tuple[dict[str, LedgerWrite], dict[str, LedgerWrite]] = ({}, {})

    def score(self, batch: Mapping[str, Sequence[Mapping[str, Any]]], now: int, interest: Interest = NO_INTEREST,
              versions: Sequence[ActiveVersion] | None = None, full: bool = False, *, later: Later | None = None,
              reads: Reads | None = None, overlap: Overlap | None = None) -> dict[str, ContactResult]:
        """Add ``batch`` (contact id -> new timeline records) and bring every contact up to ``now``.

        Events the ``interest`` asks for go to each contact's outbox in the same write.
        ``versions`` defaults to every active profile version; ``full`` forces a fold of the
        whole timeline (the publish recompute).

        A drain overlaps its Redis waits with its own work: ``later`` is the drain's ``Later`` (else the call
        makes its own), on which each chunk of writes is sent as soon as it is computed and read once every chunk
        is; ``reads`` is this batch's ``read_ahead``, sent before; ``overlap`` (the drain's) is told when the first
        round's first and last writes are sent, and keeps the index writes sent but not yet confirmed.
        """
        if later is None:
            with self.timelines.later() as own:
                return self._score(batch, now, interest, versions, full, own, reads, overlap)
        return self._score(batch, now, interest, versions, full, later, reads, overlap)

    def _score(self, batch: Mapping[str, Sequence[Mapping[str, Any]]], now: int, interest: Interest,
               given: Sequence[ActiveVersion] | None, full: bool, later: Later, reads: Reads | None,
               overlap: Overlap | None) -> dict[str, ContactResult]:
        pending = dict(batch)  # (the records as given: nothing below changes a contact's sequence)
        if reads is None:  # the states before the versions (``_versions``)
            reads = self.timelines.read_for_scoring(_record_keys(pending))
        versions, keep = self._versions(given)
        self._company_interest = interest.companies
        self._watched = {gid: grade for gid, grade in self.grades.all().items() if gid in interest.grades} \
            if interest.grades and self.grades is not None else {}
        self._graded = {p for g in self._watched.values() for p in (g.fit_profile, g.engagement_profile)}
        results: dict[str, ContactResult] = {}
        for attempt in range(MAX_ATTEMPTS):
            if not pending:
                break
            if attempt:  # the contacts that lost a race: their states read again, then the versions as they are now
                reads = self.timelines.read_for_scoring(_record_keys(pending))
                versions, keep = self._versions(given)
            lost = self._score_once(pending, now, versions, full, interest, keep, results, later, reads, overlap)
            pending = {cid: pending[cid] for cid in lost}
        if pending:
            raise RuntimeError(f"{len(pending)} contacts kept changing while being scored")
        # the buckets' bound on their oldest record, after the writes (app/horizon.py: the trim pass skips a bucket
        # with nothing older than the horizon); from the records given, written or not (a batch scored again after
        # a failure lowers it again)
        ats = [r.at for records in batch.values() for r in records]  # (a list: min() over a generator costs more)
        if ats:
            oldest = min(ats)
            lowered = self.timelines.lower_oldest(oldest, later)
            if overlap is not None:  # read with the index writes, before the batch's entries are let go
                overlap.indexed.append(lowered)
            else:
                lowered()
        return results

    def _versions(self, given: Sequence[ActiveVersion] | None) -> tuple[list[ActiveVersion], set[str]]:
        """The versions a round scores into (``given``, else every active one: live and building) and the version
        fields whose states it keeps (the active ones and ``given``), read now; the gates and roll-ups that follow
        from them are set.

        Read after the round's states (a drain's sent ahead, before its batch starts; else read at once just before),
        so a publish whose recompute wrote a state the round read is known to it: a state of a version it does not
        know is one it drops. A round's write that a publish's writes came before loses its race (``_rev``), and
        the round that scores it again reads its states, then the versions, again: read once per batch, a publish
        landing between the two rounds had its new version's state deleted, or the retired version's written
        back, until the contact's next interaction (docs/durability.md, "The drain's retry and a publish"). A profile
        deleted meanwhile is not active (``ProfileStore.active``), and a ``given`` version of it (a publish part's) is
        not scored into either: its deletion's retirement drops its states, which a round after it must not write
        back; nor one its profile no longer names (its publish failed: ``publish._fail`` queued its retirement)."""
        self._interned = self.timelines.states_interned()
        docs = self.profiles.all()
        keep = {version_field(pid, doc[k]) for pid, doc in docs.items() for k in ("live_version", "building_version") if doc.get(k)}
        active = list(self.profiles.active(docs))
        versions = list(active if given is None else [v for v in given if v.field in keep])
        keep |= {v.field for v in versions}
        self._gates = self.membership.gates({v.field: v.profile for v in versions}) \
            if self.membership is not None else {}
        self._rollups = [Rollup(v.profile.id, v.version, v.profile.company_rollup)
                         for v in active if v.profile.company_rollup] if self.companies is not None else []
        self._live_rollups = {r for r, v in zip(self._rollups, [v for v in active if v.profile.company_rollup])
                              if v.live}
        self.reads = self._reads_for(active)
        return versions, keep

    def _reads_for(self, versions: Sequence[ActiveVersion]) -> PropertyReads:
        """``reads_of`` these versions' profiles, made once per set of profiles (the store keeps each version's
        ``Profile`` while it is active: the same objects batch after batch)."""
        profiles = tuple(v.profile for v in versions)
        key = tuple(id(p) for p in profiles)
        made = self._reads_made.get(key)
        if made is None or any(a is not b for a, b in zip(made[0], profiles)):
            if len(self._reads_made) > 64:
                self._reads_made.clear()
            made = self._reads_made[key] = (profiles, reads_of(profiles))
        return made[1]

    def read_ahead(self, keys: dict[str, list[str]], later: Later) -> Reads:
        """Send the reads ``score`` starts a batch with (read_batch.lua) on ``later``, to be passed as its
        ``reads``: of the contacts of ``keys``, each contact's record keys (``record_keys_apart``)."""
        return self.timelines.read_for_scoring(keys, later)

    def _score_once(self, pending: dict[str, list], now: int, versions: Sequence[ActiveVersion], full: bool,
                    interest: Interest, keep: set[str], results: dict[str, ContactResult], later: Later,
                    ahead: Reads, overlap: Overlap | None = None) -> list[str]:
        """One read-compute-write round, of the states ``ahead`` read (``_versions``); returns the contacts that lost
        a race."""
        reads = ahead()
        fresh: dict[str, list] = {}
        states: dict[str, dict[str, str]] = {}
        horizons: dict[str, int | None] = {}
        needs_timeline: list[str] = []
        refold: set[str] = set()  # contacts whose whole timeline is folded again (the others advance)
        parsed: dict[str, dict[str, FoldState]] = {}  # fold states read, parsed once per round
        has_history: dict[str, bool] = {}
        for cid, records in pending.items():
            raw_states, existing, horizons[cid] = reads[cid]
            states[cid] = raw_states
            present = existing if isinstance(existing, list) else []
            if len(records) == 1 and len(present) == 1:  # the commonest case in a drain: one record a contact
                fresh[cid] = [records[0]] if present[0] is None else []
            else:
                unique: dict[str, TimelineRecord] = {}
                for record, stored in zip(records, present):
                    if stored is None:
                        unique.setdefault(record.key, record)
                fresh[cid] = list(unique.values())
            has_history[cid] = bool(raw_states) or (not isinstance(existing, list) and bool(existing)) or \
                present.count(None) < len(present)  # some record is stored already
        self._drop_archived(fresh, horizons)
        for cid in pending:
            raw_states = states[cid]
            horizon = horizons[cid]
            # A record older than the horizon belongs in the checkpoint: the contact is folded again from the archive.
            before_horizon = horizon is not None and any(r.at < horizon for r in fresh[cid])
            # An attribute change needs the whole timeline too: the contact's attributes are the latest
            # of each in timeline order, whatever order the changes arrived in.
            if full or before_horizon or (has_history[cid] and self._must_fold(raw_states, versions, fresh[cid],
                                                                               parsed.setdefault(cid, {}))):
                needs_timeline.append(cid)
                refold.add(cid)
            elif has_history[cid] and _has_type(fresh[cid], ATTRIBUTES_TYPE):
                needs_timeline.append(cid)
        # a contact whose timeline does not exist (read_batch.lua's EXISTS, asked when no records came) has none to read
        no_timeline = {cid for cid in needs_timeline if not pending[cid] and reads[cid][1] == 0}
        timelines = self._histories(needs_timeline, horizons, fresh, versions, refold, no_timeline, full) \
            if needs_timeline else {}
        facts = self.membership.facts(list(pending), self._gates) if self._gates and self.membership is not None \
            else {}

        # Each chunk of writes is sent as soon as it is computed, and Redis runs it while the next is computed.
        chunk: list[ContactWrite] = []
        sent: list[Callable[[], list[int]]] = []
        outcome = []
        # The latest activity of each contact, of every record given, stored before or not (a batch scored again
        # after a write cut short puts it right). On one Redis it is written with the contact (apply_batch.lua:
        # `la` and, when its hour changed, the index entry), else by the index writes after.
        with_write = self.timelines.single_node
        bucket_of = self.index.sharding.bucket_of
        # (one Redis) a bucket and a score go to apply_batch.lua as text: a number it hands to redis.call or joins
        # to a name is written by `%.17g` there, ~1-2k instructions of redis-server each
        bucket_text = [str(b) for b in range(self.index.sharding.buckets)]
        active: dict[str, tuple[int, str]] = {}
        kept: dict[str, int | bool] = {}  # what the states a write keeps derive (storage/activity.py)
        derived: dict[str, int | bool] = {}  # what every state read derives (ContactResult.derived_before)
        activity: dict[str, int] = {}
        # The score index (storage/score_base.py) can no more be repaired by writing every contact again (only a
        # contact whose score moved is written, with the score it held). On one Redis its writes go with the
        # contact's (apply_batch.lua); on a cluster the contact's pending key, set with it, keeps the scores the
        # index may still hold until the index write was made, and a read that finds it repairs.
        scored: dict[str, Any] = {}
        pending_read = getattr(reads, "pending", {})
        repairs: dict[str, dict[str, set[int]]] = {}
        for cid in pending:
            write, result = self._compute(cid, states[cid], fresh[cid], timelines.get(cid), now, versions,
                                          interest, keep, parsed.get(cid, {}), cid in refold, facts.get(cid))
            if write is not None:
                bucket = bucket_text[bucket_of(cid)] if with_write else ""  # (once: the index's and activity's)
                moves: list[Any] = []
                for v in versions:
                    new, old = result.scores.get(v.field), result.before.get(v.field)
                    if new == old:
                        continue
                    if with_write:
                        moves += (v.field, "" if new is None else str(new), "" if old is None else str(old))
                    else:
                        moves += (v.field, "" if new is None else new, "" if old is None else old)
                if with_write:
                    if moves:
                        scored[cid] = [bucket, *moves]
                elif moves or cid in pending_read:
                    cands = pending_candidates(pending_read[cid]) if cid in pending_read else {}
                    for j in range(0, len(moves), 3):
                        if moves[j + 2] != "":
                            cands.setdefault(moves[j], set()).add(moves[j + 2])
                    scored[cid] = pending_text(cands)
            latest = None  # (a loop: a generator for max() cost a contact ~1 µs)
            for r in pending[cid]:
                if r.type not in _NOT_ACTIVITY and (latest is None or r.at > latest):
                    latest = r.at
            if write is not None:
                if latest is not None and with_write:
                    active[cid] = (latest, bucket)
                derived[cid] = result.derived_before
                if len(states[cid]) > len(write.states) + 1 or write.drop:  # (a state read and not written, with
                    kept[cid] = kept_activity(states[cid], write.states, write.drop)  # `_rev`: most often none)
                chunk.append(write)
                if len(chunk) == SCRIPT_CONTACTS:
                    sent.append(self.timelines.apply_many(chunk, later, active, scored, kept, derived))
                    chunk = []
                    if overlap is not None and len(sent) == 1:
                        overlap.first_sent()
            outcome.append((cid, write, result, latest))
        if chunk:
            sent.append(self.timelines.apply_many(chunk, later, active, scored, kept, derived))
        if overlap is not None:
            overlap.first_sent()  # (once: a no-op when a full chunk already called it)
            overlap.all_sent()
        applied = iter([rev for replies in sent for rev in replies()])
        lost, expiries, dnd = [], {}, {}
        # the score index hears of the contacts whose score moved, with the score each held (score_base.py)
        index_scores: dict[tuple[str, int], dict[str, int | None]] = {}
        index_held: dict[tuple[str, int], dict[str, int | None]] = {}
        indexed = [(index_scores.setdefault((v.profile.id, v.version), {}),
                    index_held.setdefault((v.profile.id, v.version), {}), v.field) for v in versions]
        unpend: dict[str, str] = {}
        for cid, write, result, latest in outcome:
            rev = next(applied) if write is not None else None
            if rev == 0:
                lost.append(cid)
                continue
            if not with_write and (cid in pending_read or (rev is not None and cid in scored)):
                # (a cluster) the pending key goes once the index write was made; one read there means the last
                # write may not have been: repaired, at every score the index may still hold the contact at
                unpend[cid] = f"{rev}|{scored[cid]}" if rev is not None and cid in scored else pending_read[cid]
                if cid in pending_read:
                    repairs[cid] = pending_candidates(unpend[cid])
                    for v in versions:  # every version it has: a lost write may be of any of them
                        score = result.scores.get(v.field)
                        index_scores[(v.profile.id, v.version)][cid] = score
                        index_held[(v.profile.id, v.version)].setdefault(cid, result.before.get(v.field))
            results[cid] = result
            if write is not None and write.doc:  # the DND index follows the document's dnd:CHANNEL fields just written
                channels = {name[4:]: value == "1" for name, value in write.doc.items() if name.startswith("dnd:")}
                if channels:
                    dnd[cid] = channels
            if latest is not None and (write is None or not with_write):  # (else written with the contact)
                activity[cid] = latest
            if with_write and cid in scored:
                pass  # (written with the contact)
            else:
                for members, held, vfield in indexed:
                    new, old = result.scores.get(vfield), result.before.get(vfield)
                    if new != old:
                        members[cid] = new
                        held[cid] = old
            expiries[cid] = result.next_expiry
        # Companies read the score index: the index writes go first, at once, when companies have work.
        companies = self.companies is not None and (
            any(v.profile.company_rollup for v in versions) or _places_company(fresh))
        if overlap is None or companies:
            self.index.update_indexes(index_scores, expiries, activity, dnd, index_held, repairs, unpend)
        else:
            overlap.indexed.append(self.index.update_indexes_later(later, index_scores, expiries, activity, dnd,
                                                                   index_held, repairs, unpend))
        if companies:
            gone = set(lost)
            self._follow_companies([(cid, results[cid], fresh[cid]) for cid, _w, _r, _l in outcome if cid not in gone],
                                   versions, now)
        return lost

    def _follow_companies(self, scored: Sequence[tuple[str, ContactResult, list]],
                          versions: Sequence[ActiveVersion], now: int) -> None:
        """Companies follow their contacts, after the score index: a contact whose ``company`` attribute changed
        moves (bringing its scores), and each changed score in a rolled-up version moves its company's score —
        one read and one script call per such contact, nothing for the others. A change of a live company
        score that a workflow listens to goes to the outbox of the contact that made it."""
        assert self.companies is not None
        placed = [cid for cid, _result, records in scored
                  if any(r.type == ATTRIBUTES_TYPE and COMPANY_ATTRIBUTE in r.properties for r in records)]
        moves = self.companies.placements(placed) if placed else []
        changes = self.companies.move(moves, self._rollups) if moves else []
        rolled = [(Rollup(v.profile.id, v.version, v.profile.company_rollup), v.field)
                  for v in versions if v.profile.company_rollup]
        moved = {m.contact_id for m in moves}
        scores = {}
        for cid, result, _records in scored:
            mine = {rollup: result.scores.get(f) for rollup, f in rolled
                    if result.scores.get(f) != result.before.get(f)}
            if mine and cid not in moved:
                scores[cid] = mine
        if scores:
            changes += self.companies.contribute(scores)
        watched = [c for c in changes if c.rollup in self._live_rollups and c.rollup.profile_id in self._company_interest]
        if watched:
            depth = {cid: max((int(r.properties.get("depth", 0)) for r in records if r.type == MANUAL_TYPE), default=0)
                     for cid, _result, records in scored}
            outbox: dict[str, list[str]] = {}
            for c in watched:
                event = CompanyScoreChanged(
                    c.contact_id, c.company, c.rollup.profile_id, c.rollup.version, c.old, c.new, now,
                    f"company:{c.company}:{c.rollup.field}:{c.contact_id}:{c.old}:{c.new}:{now}", depth.get(c.contact_id, 0))
                outbox.setdefault(c.contact_id, []).append(dumps(event.to_json()))
            self.timelines.append_outbox(outbox)

    def _drop_archived(self, fresh: dict[str, list], horizons: Mapping[str, int | None]) -> None:
        """Leave out the records of contacts with a horizon that the archive already holds: repeats of
        interactions that left Redis (the timeline no longer shows them), which change nothing."""
        asked = [(cid, r.source, r.id) for cid, records in fresh.items() if horizons[cid] is not None
                 for r in records]
        if not asked or self.archive is None:
            return
        held = self.archive.held_keys(asked, self.workspace)
        if held:
            for cid in {key[0] for key in held}:
                fresh[cid] = [r for r in fresh[cid] if (cid, r.source, r.id) not in held]

    def _histories(self, contact_ids: list[str], horizons: Mapping[str, int | None], fresh: Mapping[str, list],
                   versions: Sequence[ActiveVersion], refold: set[str], no_timeline: set[str] = frozenset(),
                   full: bool = False) -> dict[str, History]:
        """The histories of these contacts: the hot timeline (none read for ``no_timeline``), the horizon with its
        checkpoints, and the archive's history of each refold that a checkpoint cannot serve (a record before the
        horizon, or a version with no checkpoint: a new version). A ``full`` refold (the publish recompute) folds
        every contact with a horizon from the archive, checkpoint or not, and reads no checkpoint: its horizon is
        the one read_batch.lua read (a trim pass moving it since changes ``_rev``, so the write loses its race)."""
        hot = [cid for cid in contact_ids if cid not in no_timeline]
        timelines = self.timelines.read_timelines(hot) if hot else {}
        beyond = [cid for cid in contact_ids if horizons[cid] is not None]
        if full:
            found: Mapping[str, Horizon | None] = {cid: Horizon(horizons[cid]) for cid in beyond if cid in refold}
        else:
            found = self.timelines.read_horizons(beyond) if beyond else {}
        out = {cid: History(timelines.get(cid, []), found.get(cid)) for cid in contact_ids}
        from_archive = []
        for cid in beyond:
            horizon = out[cid].horizon
            if horizon is None:  # moved or dropped since read_batch: the write will lose its race and read again
                continue
            if cid in refold and (full or any(r.at < horizon.at for r in fresh[cid])
                                  or any(v.field not in horizon.checkpoints for v in versions)):
                from_archive.append(cid)
        # A refold whose versions read a property some hot copy lacks (kept_properties: a version reading a name no
        # rule read when the copy was trimmed) folds the archive's whole records, which it holds for every such copy.
        reads: PropertyReads | None = None
        taken = set(from_archive)
        for cid in contact_ids:
            if cid in refold and cid not in taken and (horizons[cid] is None or out[cid].horizon is not None):
                if reads is None:
                    reads = self._reads_for(versions)
                if lacks(out[cid].timeline, reads):
                    from_archive.append(cid)
        if from_archive:
            if self.archive is None:
                raise RuntimeError("contacts with a hot horizon need the archive to be folded again")
            archived = self.archive.histories(from_archive, workspace=self.workspace)
            for cid in from_archive:
                out[cid].archived = archived.get(cid, [])
            self._refill(out, from_archive)
        return out

    def _refill(self, histories: Mapping[str, History], contact_ids: Sequence[str]) -> None:
        """Write again, from the archive's whole records just read, the hot copies that lack what the active versions
        read now (a version published since they were trimmed): its later folds of these contacts then read Redis,
        not the archive (``kept_properties.refills``; each copy replaced only where it is still stored as read)."""
        trim = trimmer_for(self.reads)
        listed = self.timelines.once_keyed()  # (as the archiver lists them: records.PROPERTY_CODES_READ_BEFORE)
        items = []
        for cid in contact_ids:
            history = histories[cid]
            found = refills(history.timeline, history.archived or (), trim) if history.timeline else []
            if found:
                item = [cid]
                for copy, again in found:
                    text = record_text(again, listed)
                    # the copy as it may be stored: the names it lacks listed by code or by name (before the record,
                    # or by a release before); where both read the same, once. The one that matches is replaced
                    for stored in {record_text(copy, True), record_text(copy, False)}:
                        item += (copy.key, stored, text)
                items.append(item)
        if items:
            self.timelines.trim_records(items)

    def _must_fold(self, raw_states: Mapping[str, str], versions: Sequence[ActiveVersion], fresh: Sequence,
                   parsed: dict[str, FoldState]) -> bool:
        """A fold of the whole timeline is needed for a version with no state yet, or a late record.

        Keeps each state it parses in ``parsed`` (by version field) for ``_compute``.
        """
        for version in versions:
            raw = raw_states.get(version.field)
            if raw is None:
                return True
            state = parsed[version.field] = self._decoded.take(raw, version.profile)
            if is_late(state, fresh):
                return True
        return False

    def _compute(self, cid: str, raw_states: Mapping[str, str], fresh: list, history: History | None, now: int,
                 versions: Sequence[ActiveVersion], interest: Interest, keep: set[str],
                 parsed: Mapping[str, FoldState] | None = None, refold: bool | None = None,
                 facts: ContactFacts | None = None):
        """Score one contact; its ``history`` (when read) is folded again whole when ``refold`` (the default
        when a history is given), else only read for the contact's attributes. ``facts`` (tags and DND as stored)
        decide the include/exclude lists of the gated profiles: a contact outside keeps its fold state, marked
        ``outside``, and has no score (app/membership.py).

        A contact with a hot horizon folds again from its checkpoints and the records from the horizon on; with
        the archive's history (``history.archived``) it makes new checkpoints at the same horizon."""
        if refold is None:
            refold = history is not None
        interned = self._interned
        horizon = history.horizon if history is not None else None
        timeline = history.records() if history is not None else None
        whole = [*timeline, *fresh] if timeline is not None else fresh
        #: the checkpoints a refold from the archive made, encoded as the states are (``horizon_fields``' form)
        new_checkpoints: dict[str, str] = {}
        result = ContactResult()
        states_out: dict[str, str] = {}
        ledgers: list[LedgerWrite] = []
        outbox: list[str] = []
        next_expiry: int | None = None
        trigger_profiles, trigger_types = interest.profiles, interest.types
        by_key: dict[str, TimelineRecord] | None = None  # made when an event needs a ledger entry's cause
        graded = self._graded
        score_steps: dict[str, tuple[ActiveVersion, int | None, list[ScoreStep], int]] = {}
        # DND as the lists see it: as stored, then as this batch changes it
        for record in whole:  # (a loop, no call: most contacts have no record that changes their document)
            if record.type in _DOC_TYPES:
                dnd_doc, changes_attributes = _dnd_updates(whole), _has_type(fresh, ATTRIBUTES_TYPE)
                break
        else:
            dnd_doc, changes_attributes = {}, False
        if facts is not None and dnd_doc:
            facts = ContactFacts(tags=facts.tags, dnd={**facts.dnd, **{k[4:]: v == "1" for k, v in dnd_doc.items()}})
        parsed = parsed or {}
        stored = 0  # the versions with a state stored
        before_at: int | None = None
        for version in versions:
            vfield = version.field
            raw = raw_states.get(vfield)
            if raw is not None:
                stored += 1
            old_state = parsed.get(vfield) or (self._decoded.take(raw, version.profile) if raw else None)
            if old_state is not None:  # its entry_at, from the decoded `l` (kind 1: a record; 0: a timed entry)
                last = old_state.last
                if last and last[1] == 1 and (before_at is None or last[0] > before_at):
                    before_at = last[0]
            # coming back in (from outside the profile's lists): one change from no score to the score
            reentered = bool(old_state and old_state.outside)
            old_score = old_state.score if old_state and not reentered else None
            at_horizon: FoldState | None = None
            # a workflow trigger or a grade reads this version's ledger entries; else only whether there are any
            watched = version.live and (version.profile.id in trigger_profiles or version.profile.id in graded)
            ledger: list[LedgerEntry] = []
            if refold and history is not None and timeline is not None:
                if horizon is None:
                    state, ledger = fold(version.profile, whole, now)
                elif history.archived is not None:  # the whole history: the new checkpoint and the state, one pass
                    at_horizon, state, ledger = fold_across(version.profile, whole, horizon.at, now)
                    new_checkpoints[vfield] = dumps(at_horizon.to_json(version.profile) if interned
                                                    else at_horizon.to_json_before(version.profile))
                else:
                    state, ledger = resume(version.profile, horizon.checkpoints[vfield], whole, horizon.at, now)
                full_fold = True
                entered = bool(ledger)
            else:
                state = old_state or FoldState()
                if watched:
                    ledger = advance(state, version.profile, fresh, now)
                    entered = bool(ledger)
                else:
                    entered = advance_quietly(state, version.profile, fresh, now)
                full_fold = False
            gate = self._gates.get(vfield)
            outside = gate is not None and not gate.admits(facts or ContactFacts())
            if state is at_horizon and not outside:  # the checkpoint itself (``fold_across``): encoded already
                new_json = new_checkpoints[vfield]
            else:
                if state is at_horizon:
                    state = state.copy()
                state.outside = outside
                new_json = _json(state.to_json(version.profile) if interned
                                 else state.to_json_before(version.profile)).decode()  # (``dumps``, without its call)
                # read back as this text in a later batch: not decoded again
                self._decoded.keep(new_json, state, version.profile)
            result.scores[vfield] = None if state.outside else state.score
            result.before[vfield] = old_score
            if new_json != raw:
                states_out[vfield] = new_json
            if entered or (full_fold and raw is not None):
                # the ledger is not stored: it is the fold of the timeline, made again on read (app/ledger_history.py)
                made = self._ledger_writes[full_fold].get(vfield)  # (``_ledger_write``'s look-up inline: a call less)
                ledgers.append(made if made is not None else self._ledger_write(version, full_fold))
            expiry = state.next_expiry()
            if expiry is not None and (next_expiry is None or expiry < next_expiry):
                next_expiry = expiry
            if watched and not state.outside:
                steps: list[ScoreStep] = []
                deepest = 0
                if by_key is None:
                    by_key = {r.key: r for r in fresh}
                for old, new, entry in _score_steps(old_score, ledger, full_fold or reentered, state.score):
                    cause = by_key.get(f"{entry.source}:{entry.interaction_id}") if entry else None
                    depth = int(cause.properties.get("depth", 0)) if cause else 0
                    event = self._score_event(cid, version, old, new, entry, now, depth)
                    if version.profile.id in trigger_profiles:
                        outbox.append(dumps(event.to_json()))
                    # a first score stands from the contact's first record on, before its entries
                    steps.append((event.at if entry or old is not None else min((r.at for r in fresh), default=now),
                                  new, event.change_id))
                    deepest = max(deepest, depth)
                score_steps[version.profile.id] = (version, old_score, steps, deepest)
        if len(raw_states) - ("_rev" in raw_states) > stored:  # states of no version scored (rare): from the text
            fields = {version.field for version in versions}
            for f, value in raw_states.items():
                if f != "_rev" and f not in fields and (at := entry_at(value)) is not None \
                        and (before_at is None or at > before_at):
                    before_at = at
        result.derived_before = False if before_at is None else before_at
        for gid, grade in self._watched.items():
            fit, engagement = score_steps.get(grade.fit_profile), score_steps.get(grade.engagement_profile)
            if fit is None or engagement is None:
                continue
            for step in grade_steps(fit[0].profile, engagement[0].profile, fit[1], engagement[1], fit[2],
                                    engagement[2]):
                outbox.append(dumps(GradeChanged(cid, gid, step.old, step.new, step.at, f"grade:{gid}:{step.cause}",
                                                 max(fit[3], engagement[3])).to_json()))
        if trigger_types:
            for record in fresh:
                if record.type in trigger_types:
                    outbox.append(dumps(InteractionSeen(cid, record, f"ix:{record.key}").to_json()))
        # states of versions no longer kept; none when the stored fields are ``_rev`` and the versions' own (the
        # common case: no list made)
        drop = [] if len(raw_states) == stored + ("_rev" in raw_states) else \
            [f for f in raw_states if f != "_rev" and f not in keep]
        result.next_expiry = next_expiry
        # A refold has the whole timeline: DND then follows occurred_at even for late arrivals (the records
        # before a horizon set their fields when they were scored; a later record sets a field again).
        doc = dnd_doc
        if changes_attributes:
            doc["attributes"] = dumps(history.attributes(fresh) if history is not None else attributes_at(fresh))
        horizon_out: dict[str, str] = {}
        if new_checkpoints and horizon is not None:
            at = horizon.at
            horizon_out = {**horizon_fields(at, attributes_at(r for r in whole if r.at < at), {}), **new_checkpoints}
        if not (fresh or states_out or ledgers or outbox or drop or doc or horizon_out):
            return None, result
        result.changed = True
        if len(fresh) == 1:  # the commonest case in a drain: no comprehension called, nor ``dumps``
            record = fresh[0]
            encoded = {record.key: _json(encode_record(record)).decode()}
        else:
            encoded = {r.key: record_text(r) for r in fresh}
        write = make_write(cid, raw_states.get("_rev", ""), encoded, states_out, drop, ledgers, outbox, doc,
                           horizon_out)  # (by position: one per contact)
        return write, result

    def _ledger_write(self, version: ActiveVersion, replace: bool) -> LedgerWrite:
        """The ``LedgerWrite`` of a version (immutable, its entries empty): one made per version and kind, not one
        per contact written (~1 us each)."""
        made = self._ledger_writes[replace].get(version.field)
        if made is None:
            made = self._ledger_writes[replace][version.field] = LedgerWrite(version.profile.id, version.version,
                                                                             replace, ())
        return made

    @staticmethod
    def _score_event(cid: str, version: ActiveVersion, old: int | None, new: int, entry: LedgerEntry | None,
                     now: int, depth: int) -> ScoreChanged:
        cause = entry.to_json() if entry else {"reason": "recompute" if old is not None else "first_score"}
        if entry:
            change_id = f"{version.field}:{entry.source}:{entry.interaction_id}:{entry.rule_id}:{entry.reason}:{entry.at}"
        else:
            change_id = f"{version.field}:{'first' if old is None else 'recompute'}:{old}:{new}:{now}"
        return ScoreChanged(contact_id=cid, profile=version.profile.id, version=version.version, old=old, new=new,
                            at=entry.at if entry else now, change_id=change_id, cause=cause, depth=depth)
