"""Which properties of an interaction Redis keeps once the archive holds it (issue #17: "properties kept in Redis
only when a live rule reads them").

Every interaction reaches the archive whole (app/archiving.py). Once the archive holds it, its copy in the contact's
hot timeline is trimmed to the properties some rule of a live or building version reads of its type: each ``where``
path (and, for a dotted path, the object it starts in) and each ``once_per`` name — ``reads_of``. The names taken
away are written in the copy (``TimelineRecord.dropped``), so whoever folds a version that reads one of them (a
version published later, a draft's preview, an evaluation, the ledger of a version that came after) knows the hot copy
will not do and reads the archive's instead (``lacks``): the archive holds every trimmed copy's whole record,
because nothing is trimmed before the archive took it.

Kept whole, whatever the rules read: the records that are not a provider's interactions but change the contact
itself — attribute records (its company, fit attributes), DND changes (their channels) and manual score changes
(the profile, the amount, who made it) — which the scorer, the horizon's checkpoints and the fit score read.
What a trigger or a workflow step reads is the fresh interaction, never the stored copy; what the console shows
of an interaction (``words.activity``) is read from the archive when the copy lacks it (app/dashboard/contacts.py).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from .interactions import ATTRIBUTES_TYPE, MANUAL_TYPE
from .once_keys import KEY_LEN, once_key
from .profiles import Profile
from .records import TimelineRecord, make_record

__all__ = ["MIN_SAVED_BYTES", "WHOLE_TYPES", "PropertyReads", "RuleReads", "Trimmer", "every_type", "held_as_sent",
           "lacks", "reads_of", "refills", "trimmed", "trimmer_for"]

#: Types whose records Redis keeps whole: they change the contact itself (its attributes, its DND channels, a score
#: by hand) and are read by more than the rules (scorer.py's document and DND updates, horizon.py, fit.py).
WHOLE_TYPES = frozenset((ATTRIBUTES_TYPE, MANUAL_TYPE, "contact.dnd_updated"))

#: Interaction type -> the property names something reads of it.
PropertyReads = Mapping[str, frozenset[str]]
_NOTHING: frozenset[str] = frozenset()
_NO_KEYED: dict[str, frozenset[str]] = {}


class every_type(Mapping[str, frozenset[str]]):
    """The same names read of every type (``PropertyReads``): what the console shows of any interaction."""

    def __init__(self, names: Iterable[str]):
        self.names = frozenset(names)

    def __getitem__(self, type_: str) -> frozenset[str]:
        return self.names

    def __iter__(self):  # no type listed: every type is read alike
        return iter(())

    def __len__(self) -> int:
        return 0

    def get(self, type_: str, default: object = None) -> frozenset[str]:
        return self.names


def _where_names(where: Mapping[str, object]) -> set[str]:
    """The names a rule's conditions read: each ``where`` path, and for ``a.b`` also ``a`` (``conditions.lookup``
    reads the name ``a.b`` when there is one, else into the object ``a``)."""
    names: set[str] = set()
    for path in where:
        names.add(path)
        names.add(path.split(".", 1)[0])
    return names


class RuleReads(dict):
    """``PropertyReads`` that also says which names are read only as a ``once_per`` limit's value (``keyed``, by
    type): of those a copy may keep the value's key (``once_keys``) instead of the value, since that is all the
    limit compares. Any other ``PropertyReads`` (a plain mapping) reads every name whole."""

    keyed: dict[str, frozenset[str]]

    def __init__(self, names: dict[str, frozenset[str]], keyed: dict[str, frozenset[str]]):
        super().__init__(names)
        self.keyed = keyed


def reads_of(profiles: Iterable[Profile]) -> RuleReads:
    """What the rules of these profiles read, by the type each rule is on (fit rules, on no type, read the contact's
    attributes, which attribute records keep whole), with the names read only as ``once_per`` values apart."""
    whole: dict[str, set[str]] = {}
    once: dict[str, set[str]] = {}
    for profile in profiles:
        for rule in profile.rules:
            if rule.on:
                whole.setdefault(rule.on, set()).update(_where_names(rule.where))
                if rule.once_per:
                    once.setdefault(rule.on, set()).add(rule.once_per)
    names = {type_: frozenset(whole.get(type_, _NOTHING) | once.get(type_, _NOTHING)) for type_ in whole}
    keyed = {type_: frozenset(only) for type_, values in once.items() if (only := values - whole.get(type_, set()))}
    return RuleReads(names, keyed)


def _keyed_of(reads: PropertyReads) -> Mapping[str, frozenset[str]]:
    """The names ``reads`` reads only as ``once_per`` values, by type (none unless it is a ``RuleReads``)."""
    return reads.keyed if reads.__class__ is RuleReads else _NO_KEYED



#: Bytes a copy must save to be trimmed: the values it leaves out, at least. A trim rewrites the copy in Redis (a
#: listpack's bytes moved) and adds the names left out to it; for a few bytes (a short id, a flag) that costs more
#: CPU than the memory is worth (row 1 of docs/performance.md: the bench's opens leave out a 3-byte message id).
MIN_SAVED_BYTES = 16
_SMALL = frozenset((int, float, bool, type(None)))


def _size(value: object) -> int:
    """About how many bytes a property's value takes in a stored copy (its JSON, roughly)."""
    cls = value.__class__
    if cls is str:
        return len(value)  # type: ignore[arg-type]
    if cls in _SMALL:
        return 4
    return len(repr(value))


def trimmed(record: TimelineRecord, reads: PropertyReads) -> TimelineRecord | None:
    """The copy of ``record`` Redis keeps once the archive holds it: only the properties ``reads`` names for its type,
    the others' names in ``dropped``. None when it would lose nothing (a type kept whole, or every property read), or
    save less than ``MIN_SAVED_BYTES``: then the copy stays whole."""
    return Trimmer(reads)(record)


#: Shapes a ``Trimmer`` remembers before it starts again (a drain's records come in a few dozen).
SHAPES_MAX = 4096


class Trimmer:
    """``trimmed`` for one ``reads``, remembering for each type and sequence of property names what it keeps: a
    drain's archiver asks it of every record it archives, and records come in few shapes (the same provider's
    events carry the same names). Gives what ``trimmed`` gives (tests/test_kept_properties.py)."""

    def __init__(self, reads: PropertyReads):
        self.reads = reads
        self._shapes: dict[tuple[str, ...], tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]] | None] = {}

    def __call__(self, record: TimelineRecord) -> TimelineRecord | None:
        properties = record.properties
        if not properties:
            return None
        shape = (record.type, *properties)
        if shape in self._shapes:
            plan = self._shapes[shape]
        else:
            plan = self._plan(record.type, properties)
            if len(self._shapes) >= SHAPES_MAX:
                self._shapes.clear()
            self._shapes[shape] = plan
        if plan is None:
            return None
        kept, dropped, keyed = plan
        saved = 0
        for name in dropped:
            saved += _size(properties[name])
        long: list[tuple[str, str]] | None = None
        for name in keyed:  # a value read only by a ``once_per`` limit: its key, when shorter (then "dropped" too)
            value = properties[name]
            if value is not None:
                text = str(value)
                if len(text) > KEY_LEN:
                    saved += len(text) - KEY_LEN
                    if long is None:
                        long = []
                    long.append((name, text))
        if saved < MIN_SAVED_BYTES:
            return None
        out = {name: properties[name] for name in kept}
        if long is not None:
            for name, text in long:
                out[name] = once_key(text)
                dropped += (name,)
        return make_record(record.id, record.source, record.type, record.at, out,
                           record.dropped + dropped if record.dropped else dropped)

    def _plan(self, type_: str, properties: Mapping[str, object]) -> tuple[tuple[str, ...], tuple[str, ...],
                                                                           tuple[str, ...]] | None:
        """The names kept, the names left out, and the kept names of which a key may do (read only as ``once_per``
        values) of a record of this type and these names; None: it keeps all, whole."""
        if type_ in WHOLE_TYPES:
            return None
        names = self.reads.get(type_, _NOTHING)
        kept = tuple(name for name in properties if name in names)
        keyed = tuple(name for name in kept if name in _keyed_of(self.reads).get(type_, _NOTHING))
        if len(kept) == len(properties) and not keyed:
            return None
        return kept, tuple(name for name in properties if name not in names), keyed


_trimmers: dict[int, Trimmer] = {}


def trimmer_for(reads: PropertyReads) -> Trimmer:
    """The ``Trimmer`` of these reads, kept while they are the same object (a drain's scorer hands the same one batch
    after batch while the versions stay: ``Scorer.reads``), so it remembers the shapes of the records it saw."""
    trim = _trimmers.get(id(reads))
    if trim is None or trim.reads is not reads:
        if len(_trimmers) > 16:
            _trimmers.clear()
        trim = _trimmers[id(reads)] = Trimmer(reads)
    return trim


def lacks(records: Sequence[TimelineRecord], reads: PropertyReads) -> bool:
    """Whether any of these copies lacks a property ``reads`` names for its type: then the archive's records must be
    read instead (they are whole, and it holds every copy that lacks anything). A copy holding only the key of a
    value (``once_keys``) lacks it unless ``reads`` reads it only as a ``once_per`` value (``RuleReads.keyed``)."""
    keyed_of = _keyed_of(reads)
    for record in records:
        dropped = record.dropped
        if dropped:
            names = reads.get(record.type)
            if names and not names.isdisjoint(dropped):
                keyed = keyed_of.get(record.type)
                if keyed is None:
                    return True
                properties = record.properties
                for name in dropped:
                    if name in names and (name not in keyed or name not in properties):
                        return True
    return False


def held_as_sent(record: TimelineRecord) -> Mapping[str, object]:
    """The properties a copy holds as they were sent: a name it lists among those it lacks while holding it holds only
    the value's key (``once_keys``), which is no value to show (the console, while the archive cannot say more)."""
    dropped = record.dropped
    if not dropped:
        return record.properties
    return {name: value for name, value in record.properties.items() if name not in dropped}


def refills(copies: Sequence[TimelineRecord], whole: Sequence[TimelineRecord],
            trim: Trimmer) -> list[tuple[TimelineRecord, TimelineRecord]]:
    """The copies that lack a property ``trim.reads`` names (a version published since they were trimmed reads it),
    each beside the copy to keep instead, made from its whole record in ``whole`` (the archive's): trimmed to what is
    read now, or whole. Once written, a fold of that version reads them from Redis again, not from the archive."""
    if not lacks(copies, trim.reads):
        return []
    by_key = {record.key: record for record in whole}
    out = []
    for copy in copies:
        if copy.dropped and lacks([copy], trim.reads):
            record = by_key.get(copy.key)
            if record is not None and not record.dropped:
                out.append((copy, trim(record) or record))
    return out
