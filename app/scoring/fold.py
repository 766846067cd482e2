"""The fold: a contact's timeline, in order, to a score and a ledger that explains it.

The timeline holds interactions and manual changes, ordered by ``(at, key)``. Each entry
adds the points of the matching rules, never letting the score drop below 0. Limits are
checked in the same order. A rule with ``expires_after`` reverses, at ``at + duration``,
the change its interaction actually made (through the same floor); such expiries sit in
the timeline before any entry at the same millisecond, and only those due by ``now``
count. A rule with ``decay`` shrinks the change its interaction actually made by a percent
each period after it happened (``decay.py`` has the rounding): each step is an entry at
``at + k × every``, placed like an expiry, through the same floor. Expiries and decay steps
are the state's timed entries: the earliest (``next_expiry``) is when the worker's ticker must
bring the contact up to date.

Caps: a rule in a profile group may not lift the group's total above its ``max_points``, and
nothing lifts the score above the profile's ``max_score``; a capped entry applies what fits and
the ledger says which cap bit. A group's total moves by each change its rules' entries make
(matches, expiries, decay steps): upward by what was applied, downward by what was asked (so an
expiry or decay step that the floor clipped still frees the group's room).

``advance`` applies entries that come after everything already applied; ``fold`` is
``advance`` from the empty state. Incremental live scoring, replay and recompute all go
through ``advance``, so they agree by construction. An entry that sorts before the last
applied one (a late arrival) needs a ``fold`` of the whole timeline: ``is_late`` says when.
"""
from __future__ import annotations

import bisect
import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from .conditions import where_matches
from .decay import next_step, standing
from .fit import apply_attribute_changes, fit_steps, matching_rules
from .interactions import ATTRIBUTES_TYPE, MANUAL_ACTOR, MANUAL_TYPE
from .once_keys import KEY_LEN, once_key, shown_once
from .profiles import FIT, Group, Profile, Rule
from .records import LedgerEntry, TimelineRecord, code_or_name, type_code, type_name

__all__ = ["FoldState", "LedgerEntry", "advance", "advance_quietly", "checkpoint", "entry_key", "fold", "fold_across",
           "is_late", "resume", "rule_ids"]

# Within one millisecond, expiries come before interactions and manual changes.
_EXPIRY, _ENTRY = 0, 1


def entry_key(record: TimelineRecord) -> tuple[int, int, str]:
    """The sort key of a timeline record (interaction or manual change)."""
    return (record.at, _ENTRY, record.key)


#: No rule's index: ``to_json`` without a profile writes the ids as they are.
_NO_CODES: dict[str, int] = {}
#: Each profile's rule ids in order and their indexes (``_rule_codes``), keyed like ``_BY_TYPE``.
_RULE_CODES: dict[int, tuple[Profile, tuple[str, ...], dict[str, int]]] = {}


def _rule_codes(profile: Profile) -> tuple[tuple[str, ...], dict[str, int]]:
    """The profile's rule ids in order, and each one's index: a rule id's stored form in its version's states."""
    known = _RULE_CODES.get(id(profile))
    if known is not None and known[0] is profile:
        return known[1], known[2]
    ids = tuple(rule.id for rule in profile.rules)
    codes = {rule_id: i for i, rule_id in enumerate(ids)}
    if len(_RULE_CODES) >= _BY_TYPE_MAX:
        _RULE_CODES.clear()
    _RULE_CODES[id(profile)] = (profile, ids, codes)
    return ids, codes


def rule_ids(profile: Profile) -> tuple[str, ...]:
    """The profile's rule ids in order: a state of its version stores each as its index here."""
    return _rule_codes(profile)[0]


def _keys(values: list[str]) -> list[str]:
    """A state's ``once_per`` values as keys (``once_keys``): a state written before keys holds long values as they
    were; read as they are when none is long (the common case: no list made)."""
    for value in values:
        if len(value) > KEY_LEN:
            return [once_key(v) for v in values]
    return values


def _read_timed(stored: list[list[Any]], width: int, base: int, last_key: str,
                ids: tuple[str, ...] | None) -> list[list[Any]]:
    """Pending expiries (``E``, ``width`` 4: rule, ms after ``base``, change, type) or decay steps (``K``, 7: then
    step, percent, every), each with its interaction key after ``width`` unless it is ``last_key``, as the fold keeps
    them; a rule's index read with ``ids`` (kept as it is without them)."""
    out = []
    for t in stored:
        key = t[width] if len(t) > width else last_key
        rule_id = t[0]
        entry = [base + t[1], key, rule_id if ids is None or rule_id.__class__ is str else ids[rule_id], t[2],
                 key.partition(":")[2], type_name(t[3])]
        if width > 4:
            entry += t[4:width]
        out.append(entry)
    return out


def _timed(stored: list[Any], width: int) -> list[Any]:
    """A pending expiry (``width`` 6) or decay step (9) as the fold keeps it, from either stored form: the
    compact one (no interaction id, interned type: one element fewer) or the full one."""
    if len(stored) == width:
        return list(stored)
    key = stored[1]
    return [stored[0], key, stored[2], stored[3], key.partition(":")[2], type_name(stored[4]), *stored[5:]]


@dataclass
class FoldState:
    """Everything needed to continue the fold: JSON-friendly, stored per contact and profile."""

    score: int = 0
    last: tuple[int, int, str] | None = None
    hits: dict[str, list[int]] = field(default_factory=dict)
    once: dict[str, list[str]] = field(default_factory=dict)
    # [expire_at, interaction key, rule id, change to reverse, interaction id, type], sorted
    pending: list[list[Any]] = field(default_factory=list)
    # [step_at, interaction key, rule id, change made, interaction id, type, step, percent, every_ms], sorted:
    # the next decay step of each change that still stands (step k falls at occurred_at + k × every)
    decaying: list[list[Any]] = field(default_factory=list)
    # group id -> the group's total (see the module's docstring)
    groups: dict[str, int] = field(default_factory=dict)
    # fit profiles only: the contact's attributes, and the ids of the rules they match (see ``fit.py``)
    attributes: dict[str, Any] = field(default_factory=dict)
    matched: list[str] = field(default_factory=list)
    # the contact is outside the profile's include/exclude lists: the fold goes on, the score is not shown
    # (set by the scorer, never by the fold; README, "Score semantics")
    outside: bool = False
    #: some rule ids are still their index in the profile's rules (``from_json`` without a profile; ``bind``)
    coded: bool = field(default=False, compare=False, repr=False)

    def to_json(self, profile: Profile | None = None) -> dict[str, Any]:
        """The stored form (``profile``: the version the state folds, whose rules' ids it interns): empty fields left
        out; ``l`` without its middle element when it is an interaction's (1, the common case); every rule id (in
        the hits ``T``, the once-per values ``O``, the pending expiries ``E``, the decay steps ``K``, a fit profile's
        matched rules ``F``) as the rule's index in ``profile.rules`` (a version never changes: the index means the
        same to every worker and reader, ever), or as it is without a profile or when not among its rules; the hit
        times as milliseconds before, the expiries' and decay steps' after, the last applied entry's time (a few
        digits instead of thirteen); each expiry and decay step without its interaction id (the end of its
        interaction key), with its type interned (``records.type_code``) and its interaction key last, left out
        when it is the last applied entry's (the common case: the last interaction made it). So a small state
        fits a Redis hash's compact encoding in as few pieces as can be (docs/performance.md, "(2026-12-05
        evening)"). ``from_json`` also reads the forms written by earlier releases (``H``, ``o``, ``f`` and ``P``,
        ``D``: rule ids as keys, the key second in each entry; ``h``: absolute times; ``p`` and ``d``: sorted lists
        with the rule id in each entry)."""
        # once per contact and version scored: loops, no comprehensions (each makes a function object)
        out: dict[str, Any] = {"s": self.score}
        if profile is None:
            code = _NO_CODES.get
        else:
            known = _RULE_CODES.get(id(profile))
            code = (known[2] if known is not None and known[0] is profile else _rule_codes(profile)[1]).get
        last = self.last
        if last:
            base, kind, last_key = last
            out["l"] = [base, last_key] if kind == _ENTRY else [base, kind, last_key]
        else:
            base, last_key = 0, None
        if self.hits:
            hits = out["T"] = []
            for rule_id, times in self.hits.items():
                entry = [code(rule_id, rule_id)]
                for at in times:
                    entry.append(base - at)
                hits.append(entry)
        if self.once:
            once = out["O"] = []
            for rule_id, values in self.once.items():
                entry = [code(rule_id, rule_id)]
                entry += values
                once.append(entry)
        if self.pending:
            pending = out["E"] = []
            for p in self.pending:
                rule_id, type_ = p[2], p[5]
                if p[1] == last_key:
                    pending.append([code(rule_id, rule_id), p[0] - base, p[3], code_or_name(type_, type_)])
                else:
                    pending.append([code(rule_id, rule_id), p[0] - base, p[3], code_or_name(type_, type_), p[1]])
        if self.decaying:
            steps = out["K"] = []
            for d in self.decaying:
                rule_id, type_ = d[2], d[5]
                entry = [code(rule_id, rule_id), d[0] - base, d[3], code_or_name(type_, type_), d[6], d[7], d[8]]
                if d[1] != last_key:
                    entry.append(d[1])
                steps.append(entry)
        if self.groups:
            out["g"] = self.groups
        if self.attributes:
            out["a"] = self.attributes
        if self.matched:
            out["F"] = [code(rule_id, rule_id) for rule_id in self.matched]
        if self.outside:
            out["x"] = 1
        return out

    def to_json_before(self, profile: Profile | None = None) -> dict[str, Any]:
        """The stored form of the release before the interned rule ids (workers ``sk-l9-``), which reads none of
        ``T``, ``O``, ``E``, ``K``, ``F``: rule ids as they are, keys of ``H``, ``o``, ``P``, ``D`` and in ``f``, each
        timed entry with its interaction key second, ``l`` whole. What this release writes until
        ``fold-states-interned`` is recorded (``TimelineStore.states_interned``): a process of it (a web process's
        manual change, say) writes while workers of the release before still fold (docs/durability.md). A state
        whose rule ids are still indexes (``coded``) is read with ``profile`` first."""
        state = self
        if self.coded:
            if profile is None:
                raise ValueError("a state read without its profile needs it to be written in the earlier form")
            state = self.copy()
            state.bind(profile)
        out: dict[str, Any] = {"s": state.score}
        base = state.last[0] if state.last else 0
        if state.last:
            out["l"] = list(state.last)
        if state.hits:
            out["H"] = {rule_id: [base - at for at in times] for rule_id, times in state.hits.items()}
        if state.once:
            out["o"] = state.once
        if state.pending:
            by_rule: dict[str, list[list[Any]]] = {}
            for p in state.pending:
                by_rule.setdefault(p[2], []).append([p[0] - base, p[1], p[3], type_code(p[5])])
            out["P"] = by_rule
        if state.decaying:
            steps: dict[str, list[list[Any]]] = {}
            for d in state.decaying:
                steps.setdefault(d[2], []).append([d[0] - base, d[1], d[3], type_code(d[5]), *d[6:]])
            out["D"] = steps
        if state.groups:
            out["g"] = state.groups
        if state.attributes:
            out["a"] = state.attributes
        if state.matched:
            out["f"] = state.matched
        if state.outside:
            out["x"] = 1
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any], profile: Profile | None = None) -> FoldState:
        """The state ``to_json`` stored, its rule ids read with ``profile`` (the version the state folds). Without
        it, a rule id stored as its index stays that index (``coded``): score, last entry, outside and the timed
        entries' times read as they are, and the fold reads the ids with its profile before it goes on (``bind``).
        The timed entries are stored in the fold's order, and read back in it."""
        # read once per contact and version in a drain: loops, no comprehensions or generators, sorts in place
        get = data.get
        stored = get("l")
        if stored:
            if len(stored) == 2:
                base, last_key = stored
                last: tuple[int, int, str] | None = (base, _ENTRY, last_key)
            else:
                last = tuple(stored)
                base, last_key = stored[0], stored[2]
        else:
            last, base, last_key = None, 0, ""
        if profile is None:
            ids = None
        else:
            known = _RULE_CODES.get(id(profile))
            ids = known[1] if known is not None and known[0] is profile else _rule_codes(profile)[0]
        new_form = False
        stored = get("T")
        if stored is not None:
            new_form = True
            hits = {}
            for t in stored:
                rule_id = t[0]
                times = []
                for ago in t[1:]:
                    times.append(base - ago)
                hits[rule_id if ids is None or rule_id.__class__ is str else ids[rule_id]] = times
        elif (stored := get("H")) is not None:
            hits = {rule_id: [base - ago for ago in times] for rule_id, times in stored.items()}
        else:
            hits = dict(get("h") or {})
        stored = get("O")
        if stored is not None:
            new_form = True
            once = {o[0] if ids is None or o[0].__class__ is str else ids[o[0]]: _keys(o[1:]) for o in stored}
        else:
            once = {rule_id: _keys(values) for rule_id, values in (get("o") or {}).items()}
        stored = get("E")
        if stored is not None:
            new_form = True
            pending = _read_timed(stored, 4, base, last_key, ids)
        elif (stored := get("P")) is not None:  # back in the fold's order: (expire_at, interaction key, rule id)
            pending = [[base + p[0], p[1], rule_id, p[2], p[1].partition(":")[2], type_name(p[3])]
                       for rule_id, entries in stored.items() for p in entries]
            pending.sort()
        else:
            pending = [_timed(p, 6) for p in get("p") or []]
        stored = get("K")
        if stored is not None:
            new_form = True
            decaying = _read_timed(stored, 7, base, last_key, ids)
        elif (stored := get("D")) is not None:  # likewise: (step_at, interaction key, rule id)
            decaying = [[base + d[0], d[1], rule_id, d[2], d[1].partition(":")[2], type_name(d[3]), *d[4:]]
                        for rule_id, entries in stored.items() for d in entries]
            decaying.sort()
        else:
            decaying = [_timed(d, 9) for d in get("d") or []]
        stored = get("F")
        if stored is not None:
            new_form = True
            matched = [rule_id if ids is None or rule_id.__class__ is str else ids[rule_id] for rule_id in stored]
        else:
            matched = list(get("f") or [])
        return cls(data["s"], last, hits, once, pending, decaying, dict(get("g") or {}), dict(get("a") or {}),
                   matched, bool(get("x")), new_form and ids is None)

    def bind(self, profile: Profile) -> None:
        """Read the rule ids stored as their index in ``profile.rules`` (``from_json`` without a profile). The timed
        entries keep their order: the fold's, by rule id among entries of one time and key, as they were written."""
        ids: Any = _rule_codes(profile)[0]  # (indexed by the stored ints the dicts' keys hold until now)
        self.coded = False
        if self.hits:
            self.hits = {rule_id if rule_id.__class__ is str else ids[rule_id]: times
                         for rule_id, times in self.hits.items()}
        if self.once:
            self.once = {rule_id if rule_id.__class__ is str else ids[rule_id]: values
                         for rule_id, values in self.once.items()}
        for timed in (self.pending, self.decaying):
            for entry in timed:
                if entry[2].__class__ is not str:
                    entry[2] = ids[entry[2]]
        if self.matched:
            self.matched = [rule_id if rule_id.__class__ is str else ids[rule_id] for rule_id in self.matched]

    def copy(self) -> FoldState:
        """A copy the fold can advance without changing this one: each container copied one level down (their
        items are numbers and strings), the attributes (any JSON) deeply. ``copy.deepcopy`` did the same through
        its generic memo walk, ~13 % of a recompute's CPU (docs/performance.md, row 4)."""
        return FoldState(score=self.score, last=self.last, hits={k: list(v) for k, v in self.hits.items()},
                         once={k: list(v) for k, v in self.once.items()}, pending=[list(p) for p in self.pending],
                         decaying=[list(d) for d in self.decaying], groups=dict(self.groups),
                         attributes=copy.deepcopy(self.attributes) if self.attributes else {},
                         matched=list(self.matched), outside=self.outside, coded=self.coded)

    def next_expiry(self) -> int | None:
        """When the earliest timed entry (expiry or decay step) falls: the ticker's schedule for the contact."""
        pending, decaying = self.pending, self.decaying  # (no list, no generator: once per contact scored)
        if not decaying:
            return pending[0][0] if pending else None
        if not pending:
            return decaying[0][0]
        return min(pending[0][0], decaying[0][0])


def is_late(state: FoldState, records: Iterable[TimelineRecord]) -> bool:
    """Whether any record sorts at or before what the state has already applied."""
    last = state.last
    if last is None:
        return False
    for record in records:  # (a loop, each key made inline: asked of every contact in a drain)
        if (record.at, _ENTRY, record.key) <= last:
            return True
    return False


#: What one change did: the change applied, and the caps that bit as keys and as words.
_Applied = tuple[int, tuple[str, ...], tuple[str, ...]]
_NONE: tuple[str, ...] = ()


def _note(words: tuple[str, ...], before: str | None = None) -> str | None:
    """A ledger note: what happened (``before``), then the caps that bit."""
    if not words:
        return before
    return "; ".join((before, *words) if before else words)


def _apply_points(state: FoldState, profile: Profile, group: Group | None, asked: int) -> _Applied:
    """Add ``asked`` to the score through the group's cap, the floor and the profile's max_score."""
    if group is None and profile.max_score is None:  # the common case, kept fast: the floor alone
        change = max(state.score + asked, 0) - state.score
        state.score += change
        return change, _NONE, _NONE
    capped_by: list[str] = []
    words: list[str] = []
    let = asked
    if group is not None and asked > 0:
        room = max(group.max_points - state.groups.get(group.id, 0), 0)
        if asked > room:
            let = room
            capped_by.append(f"group:{group.id}")
            words.append(f"capped by group {group.id} at {group.max_points}")
    target = max(state.score + let, 0)
    if profile.max_score is not None and let > 0 and target > profile.max_score:
        target = max(profile.max_score, state.score)
        capped_by.append("max_score")
        words.append(f"capped by max_score at {profile.max_score}")
    change = target - state.score
    state.score = target
    if group is not None:
        state.groups[group.id] = state.groups.get(group.id, 0) + (change if asked > 0 else asked)
    return change, tuple(capped_by), tuple(words)


def _group_of(profile: Profile, rule_id: str) -> Group | None:
    rule = profile.rule(rule_id) if profile.groups else None
    return profile.group_of(rule) if rule else None


class _Entered(list[LedgerEntry]):
    """A ledger whose entries nobody reads, only whether there are any (``advance_quietly``): the fold's commonest
    entries (a rule matched, or its limit reached) are noted as ``None`` instead of being made."""


#: Where the fold's internals put ledger entries: a list; an ``_Entered`` (only whether any entry was made); or None
#: when nobody reads them (a ``checkpoint``; making a ``LedgerEntry`` costs more than the fold's arithmetic).
_Ledger = list[LedgerEntry] | None


def _expire_due(state: FoldState, profile: Profile, until: tuple[int, int, str], ledger: _Ledger) -> None:
    """Apply every timed entry (expiry, decay step) that sorts before ``until``, in order.

    Timed entries of one millisecond go by (interaction key, rule id).
    """
    pending, decaying = state.pending, state.decaying
    while pending or decaying:
        expiry_first = not decaying or (bool(pending) and pending[0][:3] <= decaying[0][:3])
        head = pending[0] if expiry_first else decaying[0]
        if (head[0], _EXPIRY, head[1]) >= until:
            return
        if expiry_first:
            _expire(state, profile, pending.pop(0), ledger)
        else:
            _decay(state, profile, decaying.pop(0), ledger)


def _expire(state: FoldState, profile: Profile, item: list[Any], ledger: _Ledger) -> None:
    """Reverse the change an interaction made, through the floor (and the caps, for a negative change)."""
    expire_at, key, rule_id, change, interaction_id, type_ = item
    applied, capped_by, words = _apply_points(state, profile, _group_of(profile, rule_id), -change)
    state.last = (expire_at, _EXPIRY, key)
    if ledger is not None:
        ledger.append(LedgerEntry(expire_at, interaction_id, key.split(":", 1)[0], type_, rule_id,
                                  -change, applied, state.score, "expired", _note(words), capped_by))


def _decay(state: FoldState, profile: Profile, item: list[Any], ledger: _Ledger) -> None:
    """One decay step of a change: from what stood before step k to what stands after, through the floor.

    The steps follow the change the interaction made, whatever the floor did to earlier steps,
    just as an expiry reverses that change whatever happened since.
    """
    step_at, key, rule_id, change, interaction_id, type_, step, percent, every_ms = item
    before, after = standing(change, percent, step - 1), standing(change, percent, step)
    applied, capped_by, words = _apply_points(state, profile, _group_of(profile, rule_id), after - before)
    state.last = (step_at, _EXPIRY, key)
    if ledger is not None:
        ledger.append(LedgerEntry(step_at, interaction_id, key.split(":", 1)[0], type_, rule_id, after - before,
                                  applied, state.score, "decay",
                                  _note(words, f"decay step {step} ({percent}% a period): {before} → {after} points"),
                                  capped_by))
    _schedule_decay(state, step_at - step * every_ms, key, rule_id, change, interaction_id, type_, step,
                    percent, every_ms)


def _schedule_decay(state: FoldState, at: int, key: str, rule_id: str, change: int, interaction_id: str,
                    type_: str, steps_done: int, percent: int, every_ms: int) -> None:
    """Queue the next step that changes what stands of ``change`` (none once it is 0)."""
    step = next_step(change, percent, steps_done)
    if step is not None:
        bisect.insort(state.decaying, [at + step * every_ms, key, rule_id, change, interaction_id, type_, step,
                                       percent, every_ms])


def _limit_reason(rule: Rule, state: FoldState, at: int, properties: Mapping[str, Any]) -> str | None:
    """Why this match may not score (None when it may)."""
    if rule.limit_count is not None:
        times = state.hits.get(rule.id, [])
        if rule.limit_window_ms is not None:
            times = [t for t in times if t > at - rule.limit_window_ms]
            state.hits[rule.id] = times
        if len(times) >= rule.limit_count:
            return _count_reason(rule)
    if rule.once_per:
        value = properties.get(rule.once_per)
        if value is not None:
            key = once_key(str(value))
            if key in state.once.get(rule.id, ()):
                return _once_reason(rule, key)
    return None


def _once_reason(rule: Rule, key: str) -> str:
    """Why a match may not score: its ``once_per`` value scored before (the value named only when it is short: a
    trimmed copy holds a long one's key alone, and a ledger reads the same from a copy as from the whole record)."""
    shown = shown_once(key)
    return f"limit: once per {rule.once_per} ({shown})" if shown is not None else \
        f"limit: once per {rule.once_per} (a value scored before)"


def _count_reason(rule: Rule) -> str:
    """Why a match may not score: its rule's count reached."""
    window = f" per {rule.limit_window}" if rule.limit_window else ""
    return f"limit: {rule.limit_count}{window} reached"


def _record_hit(rule: Rule, state: FoldState, at: int, properties: Mapping[str, Any]) -> None:
    if rule.limit_count is not None:
        state.hits.setdefault(rule.id, []).append(at)
    if rule.once_per and properties.get(rule.once_per) is not None:
        state.once.setdefault(rule.id, []).append(once_key(str(properties[rule.once_per])))


def _apply_manual(state: FoldState, profile: Profile, record: TimelineRecord, ledger: _Ledger) -> None:
    """A manual change (by hand or by a workflow): ``set``, ``add`` or ``reset`` (to 0, a fresh start)."""
    props = record.properties
    if props.get("profile") != profile.id:
        return
    if "reset" in props:
        asked = 0
        applied, capped_by, words = _apply_points(state, profile, None, -state.score)
        # a fresh start: what was earned before stops counting, so nothing of it expires, decays or fills a group
        state.pending.clear()
        state.decaying.clear()
        state.groups.clear()
        note = "reset"
    elif "set" in props:
        asked = int(props["set"])
        applied, capped_by, words = _apply_points(state, profile, None, max(asked, 0) - state.score)
        note = f"set to {asked}"
    else:
        asked = int(props["add"])
        applied, capped_by, words = _apply_points(state, profile, None, asked)
        note = f"add {asked}"
    if ledger is None:
        return
    reason = props.get("reason") or ""
    said = f"{note}: {reason}" if reason else note
    if props.get(MANUAL_ACTOR):
        said = f"{said} (changed by {props[MANUAL_ACTOR]})"
    ledger.append(LedgerEntry(record.at, record.id, record.source, record.type, None, asked, applied,
                              state.score, "manual", _note(words, said), capped_by))


def _apply_interaction(state: FoldState, profile: Profile, record: TimelineRecord, key: str,
                       rules: Sequence[Rule], ledger: _Ledger) -> None:
    """The rules of the record's type (``rules``: those of ``profile`` with ``on`` its type, in profile order)."""
    at, type_, props, id_ = record.at, record.type, record.properties, record.id
    noted = ledger.__class__ is _Entered  # entries nobody reads: only that there are some
    uncapped = profile.max_score is None
    for rule in rules:
        if rule.where and not where_matches(rule.where, props):
            continue
        count = rule.limit_count
        if count is not None and not rule.once_per:  # ``_limit_reason`` and ``_record_hit`` inline: a call each less
            hits = state.hits
            times = hits.get(rule.id)
            if rule.limit_window_ms is not None:
                since = at - rule.limit_window_ms
                kept: list[int] = []  # (a loop: a comprehension is a call more)
                if times:
                    for t in times:
                        if t > since:
                            kept.append(t)
                times = hits[rule.id] = kept
            if (0 if times is None else len(times)) >= count:
                if noted:
                    ledger.append(None)  # type: ignore[union-attr, arg-type]
                elif ledger is not None:
                    ledger.append(LedgerEntry(at, id_, record.source, type_, rule.id, rule.points, 0, state.score,
                                              "limit", _count_reason(rule)))
                continue
            if times is None:
                hits[rule.id] = [at]
            else:
                times.append(at)
        elif count is None and rule.once_per:  # likewise
            value = props.get(rule.once_per)
            if value is not None:
                seen = state.once.get(rule.id)
                text = str(value)
                if len(text) > KEY_LEN:  # (``once_key`` inline for the short text: a call less)
                    text = once_key(text)
                if seen is None:
                    state.once[rule.id] = [text]
                elif text in seen:
                    if noted:
                        ledger.append(None)  # type: ignore[union-attr, arg-type]
                    elif ledger is not None:
                        ledger.append(LedgerEntry(at, id_, record.source, type_, rule.id, rule.points, 0, state.score,
                                                  "limit", _once_reason(rule, text)))
                    continue
                else:
                    seen.append(text)
        elif count is not None or rule.once_per:  # both (a rule without limits asks neither function)
            limited = _limit_reason(rule, state, at, props)
            if limited:
                if noted:
                    ledger.append(None)  # type: ignore[union-attr, arg-type]
                elif ledger is not None:
                    ledger.append(LedgerEntry(at, id_, record.source, type_, rule.id, rule.points, 0, state.score,
                                              "limit", limited))
                continue
            _record_hit(rule, state, at, props)
        if uncapped and not rule.group:  # ``_apply_points``' common case inline: the floor alone
            change = max(state.score + rule.points, 0) - state.score
            state.score += change
            capped_by = words = _NONE
        else:
            group = profile.group_of(rule) if rule.group else None
            change, capped_by, words = _apply_points(state, profile, group, rule.points)
        if noted:
            ledger.append(None)  # type: ignore[union-attr, arg-type]
        elif ledger is not None:
            reason = "matched" if change == rule.points else "capped" if capped_by else "floor"
            ledger.append(LedgerEntry(at, id_, record.source, type_, rule.id, rule.points, change,
                                      state.score, reason, _note(words), capped_by))
        if rule.expires_after_ms and change:
            bisect.insort(state.pending, [at + rule.expires_after_ms, key, rule.id, change, id_, type_])
        if rule.decay_percent and rule.decay_every_ms and change:
            _schedule_decay(state, at, key, rule.id, change, id_, type_, 0, rule.decay_percent,
                            rule.decay_every_ms)


#: Each profile's rules by interaction type (``_rules_by_type``), keyed by the profile's id() and holding the
#: profile itself, so an id is never reused while its entry lives; emptied when it grows past ``_BY_TYPE_MAX``.
_BY_TYPE: dict[int, tuple[Profile, dict[str, tuple[Rule, ...]]]] = {}
_BY_TYPE_MAX = 256


def _rules_by_type(profile: Profile) -> dict[str, tuple[Rule, ...]]:
    """The profile's rules grouped by ``on``, each group in profile order: a record looks only at its type's rules
    (most of a profile's rules are for other types)."""
    known = _BY_TYPE.get(id(profile))
    if known is not None and known[0] is profile:
        return known[1]
    grouped: dict[str, list[Rule]] = {}
    for rule in profile.rules:
        grouped.setdefault(rule.on, []).append(rule)
    by_type = {type_: tuple(rules) for type_, rules in grouped.items()}
    if len(_BY_TYPE) >= _BY_TYPE_MAX:
        _BY_TYPE.clear()
    _BY_TYPE[id(profile)] = (profile, by_type)
    return by_type


#: A record with its ``entry_key``, as the fold walks them.
_Keyed = list[tuple[tuple[int, int, str], TimelineRecord]]


def _in_order(records: Iterable[TimelineRecord]) -> _Keyed:
    """The records with their ``entry_key``, in timeline order (each key made once; a live batch brings one record
    a contact most often: nothing to sort)."""
    keyed = [((record.at, _ENTRY, record.key), record) for record in records]  # entry_key's, without a call each
    if len(keyed) > 1:
        keyed.sort(key=_ENTRY_KEY)
    return keyed


#: The sort key of ``_in_order``'s pairs (made once, not per call).
_ENTRY_KEY = itemgetter(0)


def advance(state: FoldState, profile: Profile, records: Iterable[TimelineRecord], now: int) -> list[LedgerEntry]:
    """Apply ``records`` (all after ``state.last``) and the expiries due by ``now``, in order.

    Mutates ``state``; returns the ledger entries produced, oldest first.
    """
    ledger: list[LedgerEntry] = []
    _advance(state, profile, _in_order(records), now, ledger)
    return ledger


def advance_quietly(state: FoldState, profile: Profile, records: Iterable[TimelineRecord], now: int) -> bool:
    """``advance``, for a caller that needs only whether it made any ledger entry (live scoring that no workflow
    trigger or grade watches: the ledger is not stored, only an earlier release's stored list is dropped when it
    changes); the commonest entries are not made at all."""
    ledger = _Entered()
    if records.__class__ is list and len(records) == 1:  # a drain's commonest: one record, nothing to sort
        record = records[0]
        _advance(state, profile, [((record.at, _ENTRY, record.key), record)], now, ledger)
    else:
        _advance(state, profile, _in_order(records), now, ledger)
    return bool(ledger)


def _advance(state: FoldState, profile: Profile, keyed: _Keyed, now: int, ledger: _Ledger) -> None:
    """``advance`` over records already in order with their keys, its ledger entries into ``ledger`` (None: made
    by nobody)."""
    if state.coded:  # read without its profile: the rule ids are read now
        state.bind(profile)
    if profile.kind == FIT:
        _advance_fit(state, profile, keyed, ledger)
        return
    known = _BY_TYPE.get(id(profile))  # (``_rules_by_type``'s look-up inline: a call less per contact advanced)
    by_type = known[1] if known is not None and known[0] is profile else _rules_by_type(profile)
    for key, record in keyed:
        # ``_expire_due`` called only when a timed entry may be due: each list's first entry is its earliest, and
        # one later than the record's time sorts after it (a call less per record in the common case)
        pending, decaying = state.pending, state.decaying
        if (pending and pending[0][0] <= key[0]) or (decaying and decaying[0][0] <= key[0]):
            _expire_due(state, profile, key, ledger)
        type_ = record.type
        if type_ == MANUAL_TYPE:
            _apply_manual(state, profile, record, ledger)
        elif type_ != ATTRIBUTES_TYPE:
            rules = by_type.get(type_)
            if rules:
                _apply_interaction(state, profile, record, key[2], rules, ledger)
        state.last = key
    pending, decaying = state.pending, state.decaying
    if (pending and pending[0][0] <= now) or (decaying and decaying[0][0] <= now):
        _expire_due(state, profile, (now, _ENTRY, ""), ledger)


def _advance_fit(state: FoldState, profile: Profile, keyed: _Keyed, ledger: _Ledger) -> None:
    """A fit profile's fold: attribute records change the attributes, and the rules are evaluated at the
    contact's first record and at each attribute record (``fit.py``). Nothing else scores, nothing is timed."""
    for key, record in keyed:
        is_change = record.type == ATTRIBUTES_TYPE
        if is_change:
            state.attributes = apply_attribute_changes(state.attributes, record.properties)
        if is_change or state.last is None:
            matched = matching_rules(profile, state.attributes)
            for step in fit_steps(profile, state.matched, matched):
                if ledger is not None:
                    ledger.append(LedgerEntry(record.at, record.id, record.source, record.type, step.rule_id,
                                              step.points, step.change, step.score, "fit", step.note))
                state.score = step.score
            state.matched = matched
        state.last = key


def fold(profile: Profile, records: Iterable[TimelineRecord], now: int) -> tuple[FoldState, list[LedgerEntry]]:
    """The whole timeline from the empty state: the reference every other path must equal."""
    state = FoldState()
    ledger = advance(state, profile, records, now)
    return state, ledger


def checkpoint(profile: Profile, start: FoldState | None, records: Iterable[TimelineRecord],
               horizon: int) -> FoldState:
    """The fold state at ``horizon`` (ms): ``start`` (the checkpoint at an earlier horizon, or the empty state)
    advanced by the records that happened before ``horizon`` (later ones are left out) and by every timed entry
    (expiry, decay step) that falls before it. ``start`` is not changed. No ledger is made (nobody reads it).

    Everything the fold does is in time order and only the final expiries depend on ``now``, so the events
    before the horizon all come before the events at or after it: ``resume`` from this state over the records
    at or after ``horizon`` gives exactly ``fold`` over all of them (docs/archive.md, "The hot horizon").
    """
    state = start.copy() if start is not None else FoldState()
    _advance(state, profile, _in_order(r for r in records if r.at < horizon), horizon - 1, None)
    return state


def resume(profile: Profile, at_horizon: FoldState, records: Iterable[TimelineRecord], horizon: int,
           now: int) -> tuple[FoldState, list[LedgerEntry]]:
    """The fold from a ``checkpoint`` at ``horizon``: the records at or after it (earlier ones are already in
    the checkpoint and are left out), to ``now``. Returns the state and the ledger entries from the horizon on.
    ``at_horizon`` is not changed."""
    state = at_horizon.copy()
    ledger = advance(state, profile, [r for r in records if r.at >= horizon], now)
    return state, ledger


def fold_across(profile: Profile, records: Iterable[TimelineRecord], horizon: int,
                now: int) -> tuple[FoldState, FoldState, list[LedgerEntry]]:
    """``checkpoint`` from the empty state and ``resume`` from it in one pass over the whole history (a refold from
    the archive): returns the fold state at ``horizon``, the state at ``now`` and the ledger entries from the
    horizon on, exactly as the two would, sorting the records once and making no ledger entry before the horizon.
    When nothing falls at or after the horizon by ``now`` (no record, no timed entry: a publish over history that
    all left Redis) the two states are one object, not copied; a caller that changes one (the scorer's
    ``outside``) copies it first."""
    keyed = _in_order(records)
    cut = len(keyed)
    for i, (key, _record) in enumerate(keyed):  # the records before the horizon come first (keys start with ``at``)
        if key[0] >= horizon:
            cut = i
            break
    at_horizon = FoldState()
    _advance(at_horizon, profile, keyed[:cut], horizon - 1, None)
    due = at_horizon.next_expiry()
    if cut == len(keyed) and (due is None or due > now):
        return at_horizon, at_horizon, []
    state = at_horizon.copy()
    ledger: list[LedgerEntry] = []
    _advance(state, profile, keyed[cut:], now, ledger)
    return at_horizon, state, ledger
