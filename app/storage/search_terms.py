"""Search terms: a contact's lowercased email, external id and name (``contacts.search_member``), found by a prefix.

Per contact bucket the terms are a compact ordered index (``ordered_index.py``; ``keys.search_index``), every term at
score 0, so a prefix is a lexicographic range of it (~35 B a term where a big sorted set's skiplist took ~146 B).
Beside it, under the same hash tag, a plain sorted set (``keys.search``): ingest writes a new contact's terms there
(its one-trip script runs recorded plain writes and cannot run the index's library), and the drain's index writes
move them in (``absorb_calls``, one call per bucket, sent with the expiries'); one script call reads both as one.
The sorted sets of releases before (``keys.search_before``, in other slots) are read too, first, until
``app/indexes.py:search_once`` has emptied them into the index (``move_before``: added, then removed, so a reader that
reads them before the index sees a term in one or both, never neither; a term is read once).
A term whose text derives its contact is stored without the contact id (``contacts.search_member``); the terms of
releases before, with it, are rewritten in place by ``app/indexes.py:search_short_once`` (``replace``), and read
either way.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from ..keys import Keys
from .ordered_index import OrderedIndex
from .redis_tools import Sharding, on_cluster

#: Terms moved from the plain sorted set into the index per script call (the drain's and the migration's pages).
ABSORB_PAGE = 1000


class SearchTerms:
    """The search terms of every contact bucket: the compact index and the sorted set beside it, read as one."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.ordered = OrderedIndex(redis)

    def find(self, low: bytes, high: bytes, limit: int) -> list[list[str]]:
        """Per bucket, its first ``limit`` terms within ``low`` and ``high`` (``ZRANGEBYLEX`` bounds), in order: the
        sorted set of releases before read first, then the index with the set beside it (one script call)."""
        buckets = range(self.sharding.buckets)
        calls = [self.ordered.lex_range_call(self.keys.search_index(b), low, high, 0, limit,
                                             beside=self.keys.search(b)) for b in buckets]
        if on_cluster(self.redis):  # the sets before, then the scripts (a cluster pipeline refuses scripts)
            pipe = self.redis.pipeline(transaction=False)
            for b in buckets:
                pipe.zrange(self.keys.search_before(b), low, high, bylex=True, offset=0, num=limit)
            before = pipe.execute()
            now = self.ordered.run(calls)
        else:  # one round trip, in that order
            replies = self._read_before_then_index(buckets, low, high, limit, calls)
            if any(isinstance(reply, NoScriptError) for reply in replies):  # Redis lost its scripts: load, again
                self.redis.script_load(self.ordered.script.script)
                replies = self._read_before_then_index(buckets, low, high, limit, calls)
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            before, now = replies[:len(buckets)], replies[len(buckets):]
        out = []
        for old, new in zip(before, now):
            terms = [_text(m) for m in new]
            if old:  # (str order is the UTF-8 bytes' order)
                terms = sorted(set(terms) | {_text(m) for m in old})[:limit]
            out.append(terms)
        return out

    def _read_before_then_index(self, buckets: range, low: bytes, high: bytes, limit: int,
                                calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """One pipeline: each bucket's set of releases before, then the scripts by their SHA alone (a pipeline given
        the script itself would first ask SCRIPT EXISTS, a round trip more for every search)."""
        pipe = self.redis.pipeline(transaction=False)
        for b in buckets:
            pipe.zrange(self.keys.search_before(b), low, high, bylex=True, offset=0, num=limit)
        for keys, args in calls:
            pipe.execute_command("EVALSHA", self.ordered.script.sha, len(keys), *keys, *args)
        return pipe.execute(raise_on_error=False)

    def add(self, terms: Mapping[str, Iterable[str]]) -> None:
        """Add each contact's terms (contact id -> terms), one call per bucket."""
        by_bucket: dict[int, list[tuple[int, str]]] = {}
        for cid, mine in terms.items():
            by_bucket.setdefault(self.sharding.bucket_of(cid), []).extend((0, term) for term in mine)
        self.ordered.run([self.ordered.add_call(self.keys.search_index(b), pairs) for b, pairs in by_bucket.items()])

    def remove(self, contact_id: str, terms: Sequence[str]) -> None:
        """Remove a contact's terms wherever they are: the sets first, then the index (a term the drain or the move
        put in meanwhile is then in the index, or the move takes it out again: ``move_before``)."""
        bucket = self.sharding.bucket_of(contact_id)
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrem(self.keys.search(bucket), *terms)
        pipe.zrem(self.keys.search_before(bucket), *terms)
        pipe.execute()
        self.ordered.remove(self.keys.search_index(bucket), [(0, term) for term in terms])

    def absorb_calls(self, buckets: Iterable[int], page: int = ABSORB_PAGE) -> list[tuple[list[str], list[Any]]]:
        """The calls (of ``self.ordered.script``) that move up to ``page`` terms of each bucket's sorted set in."""
        return [self.ordered.absorb_call(self.keys.search_index(b), self.keys.search(b), page) for b in buckets]

    def move_before(self, bucket: int, page: int = ABSORB_PAGE) -> int:
        """Move up to ``page`` terms of the bucket's sorted set of releases before into the index: added, then removed
        one by one, and a term someone removed meanwhile (a rename) taken out of the index again. How many were read
        (0: the set is empty)."""
        old = self.keys.search_before(bucket)
        terms = self.redis.zrange(old, 0, page - 1)
        if not terms:
            return 0
        base = self.keys.search_index(bucket)
        self.ordered.add(base, [(0, term) for term in terms])
        pipe = self.redis.pipeline(transaction=False)
        for term in terms:
            pipe.zrem(old, term)
        gone = [term for term, removed in zip(terms, pipe.execute()) if not removed]
        if gone:
            self.ordered.remove(base, [(0, term) for term in gone])
        return len(terms)

    def index_page(self, bucket: int, after: str | None, page: int) -> list[str]:
        """Up to ``page`` terms of the bucket's index (not the set beside it) after ``after`` (None: from the first)."""
        low = b"(" + after.encode() if after is not None else "-"
        return self.ordered.lex_range(self.keys.search_index(bucket), low, "+", 0, page)

    def replace(self, bucket: int, swaps: Sequence[tuple[str, str]]) -> int:
        """Each (held, new) term of the bucket's index replaced, atomically in one call (a term removed meanwhile,
        a rename, gets no replacement); how many were."""
        if not swaps:
            return 0
        return self.ordered.run([self.ordered.replace_call(self.keys.search_index(bucket),
                                                           [(0, held, new) for held, new in swaps])])[0]

    def absorb(self, bucket: int, page: int = ABSORB_PAGE) -> int:
        """Move up to ``page`` terms of the bucket's sorted set in; how many moved (0: it is empty)."""
        return self.ordered.absorb(self.keys.search_index(bucket), self.keys.search(bucket), page)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
