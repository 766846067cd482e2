"""The compact ordered index: a sorted set that stays in Redis's compact encoding at any size.

A big sorted set (more than ``zset-max-listpack-entries``, 128 by default, a server setting) keeps every entry
as a skiplist node, ~120-146 B; in the compact *listpack* encoding an entry takes ~35 B. An ordered index
bucket is therefore kept as range-partitioned *leaves* of at most ``LEAF_ENTRIES`` entries each, with a
directory of the leaves by the lowest (score, member) each covers, all under the bucket's hash tag
(``ordered_index.lua`` says what each key holds; docs/performance.md, "Row 5a (2026-12-03 afternoon)").

Inserts find their leaf (split when full), removals find it by the score the entry was added with, range
reads walk the leaves in order, counts read the two edge leaves and the sizes of those between (``BASE:z``). The
Lua library is written once and prepended to each script that uses it (``library_script``); ``OrderedIndex`` runs its operations from Python, one call per bucket.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .redis_tools import registered_script, run_scripts

#: Entries per leaf at most (a leaf is split when an insert takes it past this, so it never holds more than one
#: more): below Redis's default zset-max-listpack-entries (128), as a sorted set never goes back to the compact
#: encoding once it grew past it.
LEAF_ENTRIES = 120
#: Scores are integers of at most this magnitude (the library's sortable encoding).
SCORE_LIMIT = 2 ** 52


def library_script(redis: Any, name: str, *libraries: str) -> Any:
    """A Lua script of this package with the ordered index's library (``ordered_index.lua``) before it, and after
    that the ``libraries`` that build on it (``roster.lua``)."""
    return registered_script(redis, ("ordered_index.lua", *libraries, name))


def check_member(member: str) -> str:
    """A member as the index takes it: any non-empty text (the directory escapes its NUL bytes)."""
    if not member:
        raise ValueError("an ordered index member is non-empty")
    return member


def _bound(value: float) -> str:
    if value == float("-inf"):
        return "-inf"
    if value == float("inf"):
        return "+inf"
    return str(int(value))


class OrderedIndex:
    """The operations of ``ordered_index_ops.lua`` on buckets named by their base key (the bucket's hash tag)."""

    def __init__(self, redis: Any, leaf_entries: int = LEAF_ENTRIES):
        self.redis = redis
        self.leaf_entries = leaf_entries
        self.script = library_script(redis, "ordered_index_ops.lua")

    # --- calls, for a caller that sends them itself (``run_scripts``, ``Later.send_scripts``) -------------------
    def add_call(self, base: str, pairs: Iterable[tuple[int, str]],
                 forward: bool = False) -> tuple[list[str], list[Any]]:
        """Each (score, member) added; ``forward``: a member the leaf holds at a higher score stays there (a leaf
        holds a member once: a plain add at another score moves it, which a writer racing another must not do
        backwards)."""
        args: list[Any] = ["add-forward" if forward else "add", self.leaf_entries]
        for score, member in pairs:
            args += (_score(score), check_member(member))
        return [base], args

    def remove_call(self, base: str, pairs: Iterable[tuple[int, str]]) -> tuple[list[str], list[Any]]:
        args: list[Any] = ["remove"]
        for score, member in pairs:
            args += (_score(score), member)
        return [base], args

    def replace_call(self, base: str, swaps: Iterable[tuple[int, str, str]]) -> tuple[list[str], list[Any]]:
        """Each (score, held, new): ``held`` at that score replaced by ``new`` at once (none where ``held`` is gone)."""
        args: list[Any] = ["replace", self.leaf_entries]
        for score, held, new in swaps:
            args += (_score(score), held, check_member(new))
        return [base], args

    def move_call(self, base: str, moves: Iterable[tuple[int, int, str]]) -> tuple[list[str], list[Any]]:
        """Each (held, new, member): the member's entry at exactly ``held`` moves to ``new`` (``oi_move``: in place
        when one leaf covers both)."""
        args: list[Any] = ["move", self.leaf_entries]
        for held, new, member in moves:
            args += (_score(held), _score(new), check_member(member))
        return [base], args

    @staticmethod
    def range_call(base: str, low: float = float("-inf"), high: float = float("inf"), offset: int = 0,
                   count: int = -1) -> tuple[list[str], list[Any]]:
        return [base], ["range", _bound(low), _bound(high), offset, count]

    @staticmethod
    def rev_range_call(base: str, high: float = float("inf"), low: float = float("-inf"), offset: int = 0,
                       count: int = -1) -> tuple[list[str], list[Any]]:
        """As ``range_call`` from the highest entry down (score, then member, descending: ``ZRANGE ... REV``)."""
        return [base], ["revrange", _bound(high), _bound(low), offset, count]

    @staticmethod
    def lex_range_call(base: str, low: str | bytes = "-", high: str | bytes = "+", offset: int = 0, count: int = -1,
                       score: int = 0, beside: str | None = None) -> tuple[list[str], list[Any]]:
        """Members at ``score`` within ``low`` and ``high`` as ``ZRANGEBYLEX`` takes them (``[x``, ``(x``, ``-``,
        ``+``), in member order: for an index whose entries all have that one score (search terms). With
        ``beside``, a plain sorted set in the same slot whose entries are moving in (``absorb_call``): the two read
        as one."""
        return [base] + ([beside] if beside else []), ["lexrange", _score(score), low, high, offset, count]

    def absorb_call(self, base: str, source: str, page: int) -> tuple[list[str], list[Any]]:
        """The first ``page`` entries of the sorted set ``source`` (in the same slot: for entries a writer that
        cannot run the library put there, and for sorted sets of releases before) moved into the index, atomically;
        the reply is how many moved (0: ``source`` is empty)."""
        return [base, source], ["absorb", self.leaf_entries, page]

    @staticmethod
    def count_call(base: str, low: float = float("-inf"), high: float = float("inf")) -> tuple[list[str], list[Any]]:
        return [base], ["count", _bound(low), _bound(high)]

    def write_sizes(self, bases: Sequence[str], at_once: int) -> int:
        """Every one of these indexes' leaf sizes written anew (``sizes_call``), ``at_once`` script calls a round trip;
        returns how many entries they hold."""
        return sum(sum(self.run([self.sizes_call(base) for base in bases[start:start + at_once]]))
                   for start in range(0, len(bases), at_once))

    @staticmethod
    def sizes_call(base: str) -> tuple[list[str], list[Any]]:
        """The bucket's leaf sizes (``BASE:z``) written anew from its leaves, for an index a release before wrote
        (``oi_size_all``; counts read them from then on); the reply is how many entries it holds."""
        return [base], ["sizes"]

    @staticmethod
    def pairs(reply: Sequence[Any]) -> list[tuple[str, int]]:
        """A range reply as (member, score) pairs."""
        return [(_text(reply[i]), int(float(reply[i + 1]))) for i in range(0, len(reply), 2)]

    # --- at once ------------------------------------------------------------------------------------------------
    def run(self, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        return run_scripts(self.redis, self.script, calls)

    def add(self, base: str, pairs: Iterable[tuple[int, str]]) -> int:
        return self.run([self.add_call(base, pairs)])[0]

    def remove(self, base: str, pairs: Iterable[tuple[int, str]]) -> int:
        return self.run([self.remove_call(base, pairs)])[0]

    def move(self, base: str, moves: Iterable[tuple[int, int, str]]) -> int:
        return self.run([self.move_call(base, moves)])[0]

    def range(self, base: str, low: float = float("-inf"), high: float = float("inf"), offset: int = 0,
              count: int = -1) -> list[tuple[str, int]]:
        return self.pairs(self.run([self.range_call(base, low, high, offset, count)])[0])

    def rev_range(self, base: str, high: float = float("inf"), low: float = float("-inf"), offset: int = 0,
                  count: int = -1) -> list[tuple[str, int]]:
        return self.pairs(self.run([self.rev_range_call(base, high, low, offset, count)])[0])

    def lex_range(self, base: str, low: str | bytes = "-", high: str | bytes = "+", offset: int = 0,
                  count: int = -1, score: int = 0, beside: str | None = None) -> list[str]:
        return [_text(m) for m in self.run([self.lex_range_call(base, low, high, offset, count, score, beside)])[0]]

    def absorb(self, base: str, source: str, page: int) -> int:
        return self.run([self.absorb_call(base, source, page)])[0]

    def sizes(self, base: str) -> int:
        return self.run([self.sizes_call(base)])[0]

    def count(self, base: str, low: float = float("-inf"), high: float = float("inf")) -> int:
        return self.run([self.count_call(base, low, high)])[0]


def _score(score: int) -> int:
    if not -SCORE_LIMIT <= score <= SCORE_LIMIT or score != int(score):
        raise ValueError(f"an ordered index score is an integer within 2^52: {score!r}")
    return int(score)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
