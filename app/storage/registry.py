"""The contact registry: every contact id per contact bucket, ordered by creation time (pages, counts, the walks).

Per bucket a compact ordered index (``ordered_index.py``; ``keys.registry_index``), each contact at its contact hash's
``created_at`` (ms): ~35-40 B a contact where the big sorted set of releases before (``keys.contacts``, creation time
in seconds) took ~130 B as skiplist nodes. Beside it, under the same hash tag, a plain sorted set (``keys.registry``)
where a new contact is written when it is linked (``new_contact``: ingest's one-trip script runs recorded plain
writes and cannot run the library). Every read moves that set in first, at each contact's *canonical* score, its
``created_at``: a contact linked again later (a second identity, the loser of two requests that made it at once) is
written beside again at a later time, and the canonical score finds it where the index holds it, so it is never there
twice. A read moves ``move_page`` entries a script call (``registry_ops.lua``), the last call answering it: a call
that may leave entries beside answers MORE, never from the index alone, and the read calls again (100,000 waiting
held a private Redis 1.7-3.4 s in one call; a page of 1,000 ~10-60 ms). A read between another's pages moves the next
page itself, so every read is exact, and Redis answers others between pages. The drain moves the set in too
(``absorb_call``), so a read seldom has anything to move. On a cluster the caller reads a page of what lies beside and
those contacts' ``created_at`` first, and the call moves in only what it read: an entry written beside since waits for
the next call (a contact linked again meanwhile would otherwise go in at its later time, a second entry).

Data of releases before: until ``app/indexes.py:registry_once`` has copied the old sets into the index and recorded
it (``REGISTRY_MIGRATION``), readers read the old sets alone, exactly as before, and writers write both; from the
record on, the index (and the set beside it); ``sweep_before`` then empties the old sets (the ticker, once every
process has seen the record: ``SWEEP_AFTER_MS``), moving in what a process of a release before wrote there since.
Order: (creation ms, id) where the old sets ordered by the creation time as a float of seconds, then id: two contacts
of one bucket made within the same millisecond by different requests read by id once moved (docs/performance.md,
"Row 5a (2026-12-04)").
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from redis.exceptions import NoScriptError

from ..keys import Keys
from .ordered_index import LEAF_ENTRIES, OrderedIndex, library_script
from .redis_tools import Sharding, load_script, on_cluster, run_scripts
from .timelines import StatesMoved

#: The copy of the old sets into the index (``app/indexes.py:registry_once``) in the migrations hash.
REGISTRY_MIGRATION = "registry-compact-index"
#: How often a process that has not seen the copy recorded asks Redis again (seconds).
REGISTRY_CHECK_S = 10.0
#: The old sets are emptied this long after the copy was recorded (ms): every process reads the index by then.
SWEEP_AFTER_MS = 60_000
#: Entries moved in per script call (the drain's calls, the sweep's pages, a read's pages).
ABSORB_PAGE = 1000
#: registry_ops.lua's answer to a read that moved a page and left entries beside: call again.
MORE = "MORE"
#: A contact hash's creation time (ms), the registry's order: its short field, written once ``CREATED_SHORT`` is
#: recorded (``app/contact_layout.py:created_once``), and the long one releases before wrote (and this release
#: until then). Every reader reads both (``created_of``; ``registry_ops.lua``, ``filter_bucket.lua``, by
#: ``created.lua``).
CREATED = "c"
CREATED_BEFORE = "created_at"
#: A creation time field is the text ``str()`` gives of a whole number of ms within the registry index's scores
#: (``ordered_index.lua``: at most 2^52 either way), as every link writes it; any other text ("5.0", "1e3", " 5",
#: "+5", "007", "abc", "") is corrupt and read as no creation time at all, by Python (``created_of``) and Lua
#: (``created.lua``) alike: such a contact's place in the registry is the time it was written with, and it lists as
#: made at 0 (docs/durability.md, 2026-12-06).
CREATED_BOUND = 2**52
#: The migrations hash's record of ``created_once``: no contact hash holds ``CREATED_BEFORE`` any more but what a
#: process that had not yet seen the record wrote since (read the same way).
CREATED_SHORT = "created-short"


class RegistryMoved(StatesMoved):
    """Whether ``REGISTRY_MIGRATION`` is recorded (asked at most every ``REGISTRY_CHECK_S``; remembered once true).
    A deployment without any old set (a new one) records it at once: it has nothing to move."""

    def __init__(self, redis: Any, keys: Keys, buckets: int):
        super().__init__(redis, keys, REGISTRY_MIGRATION, REGISTRY_CHECK_S)
        self.buckets = buckets

    def _recorded(self) -> bool:
        return super()._recorded() or self._nothing_before()

    def _nothing_before(self) -> bool:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.buckets):
            pipe.exists(self.keys.contacts(bucket))
        if any(pipe.execute()):
            return False
        self.redis.hsetnx(self.keys.migrations(), REGISTRY_MIGRATION, int(time.time() * 1000))
        return True


class ContactRegistry:
    """Every contact per bucket by creation time: the old sets until the move is recorded, then the index."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, leaf_entries: int = LEAF_ENTRIES):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.leaf_entries = leaf_entries
        #: Entries a read moves in per script call (tests make it small).
        self.move_page = ABSORB_PAGE
        self.single_node = not on_cluster(redis)
        self.script = library_script(redis, "registry_ops.lua", "created.lua")
        self.moved = RegistryMoved(redis, keys, sharding.buckets)
        self._parts = list(keys.contact_parts())
        self._ordered = OrderedIndex(redis, leaf_entries)  # the library's plain adds (the move's copy)
        self._old_page = load_script(redis, "backfill_page.lua")  # the old sets' walk

    # --- writes -------------------------------------------------------------------------------------------------
    def new_contact(self, pipe: Any, contact_id: str, now: float, created_ms: int | None = None) -> None:
        """Queue (into ``pipe``, which may record) the registry's writes for a contact linked at ``now`` (seconds),
        whose contact hash gets ``created_at`` = ``created_ms`` (default ``int(now * 1000)``) unless it has one:
        beside the index, and into the old set until the move is recorded (readers read it alone until then)."""
        bucket = self.sharding.bucket_of(contact_id)
        pipe.zadd(self.keys.registry(bucket), {contact_id: int(now * 1000) if created_ms is None else created_ms},
                  nx=True)
        if not self.moved():
            pipe.zadd(self.keys.contacts(bucket), {contact_id: now}, nx=True)

    def absorb_call(self, buckets: Sequence[int], page: int = ABSORB_PAGE) -> tuple[list[str], list[Any]]:
        """A call of ``self.script`` that moves up to ``page`` entries of each bucket's set beside into its index, on
        a single Redis (the script reads each contact's ``created_at``): the drain's, one for every bucket."""
        keys = [key for b in buckets for key in (self.keys.registry_index(b), self.keys.registry(b))]
        return keys, ["absorb", self.leaf_entries, page, "h", *self._parts]

    def absorb_all(self) -> int:
        """Everything beside every bucket's index moved in, on a single Redis, ``move_page`` entries of each bucket a
        call (one call for every bucket: a filter that reads the registry whole); how many moved. A call that moved
        less than a page in all left no bucket anything."""
        moved = 0
        while True:
            call = self.absorb_call(range(self.sharding.buckets), self.move_page)
            n = run_scripts(self.redis, self.script, [call])[0]
            moved += n
            if n < self.move_page:
                return moved

    def tidy(self) -> int:
        """What the ticker does: move what lies beside each index in on a cluster (its drain does not), and empty
        the old sets once their time came (``sweep_before``); how many entries moved."""
        moved = 0
        if self.moved() and not self.single_node:  # (on one Redis the drain's calls and every read move them)
            pending = list(range(self.sharding.buckets))
            while pending:  # a page a call: a bucket whose call moved a whole page is called again
                replies = self._run_once(pending, "absorb")
                moved += sum(replies)
                pending = [b for b, n in zip(pending, replies) if n >= self.move_page]
        return moved + self.sweep_before()

    # --- reads --------------------------------------------------------------------------------------------------
    def count(self) -> int:
        """How many contacts."""
        if not self.moved():
            pipe = self.redis.pipeline(transaction=False)
            for bucket in range(self.sharding.buckets):
                pipe.zcard(self.keys.contacts(bucket))
            return sum(pipe.execute())
        return sum(self._run(range(self.sharding.buckets), "count"))

    def page(self, bucket: int, start: int, size: int) -> list[str]:
        """Up to ``size`` contact ids of one bucket from rank ``start`` on, oldest first (a negative ``start``
        counts from the newest, as ``ZRANGE`` does)."""
        if not self.moved():
            return self.redis.zrange(self.keys.contacts(bucket), start, start + size - 1)
        if start < 0:  # the index reads by offset from the oldest: one count more
            start = max(int(self._run([bucket], "count")[0]) + start, 0)
        return _ids(self._run([bucket], "range", start, size)[0])

    def pages(self, size: int) -> Iterator[list[str]]:
        """Every contact id, a page at a time, bucket by bucket."""
        for bucket in range(self.sharding.buckets):
            start = 0
            while page := self.page(bucket, start, size):
                yield page
                start += len(page)

    def newest(self, rows: int) -> list[list[tuple[str, int]]]:
        """Per bucket (once moved) its ``rows`` newest contacts as (id, created_at), newest first, then id
        descending."""
        return self.newest_with_counts(rows)[1]

    def newest_with_counts(self, rows: int) -> tuple[list[int], list[list[tuple[str, int]]]]:
        """``newest``, and how many contacts each bucket holds, in the same calls."""
        replies = self._run(range(self.sharding.buckets), "top", rows)
        return [int(n) for n, _flat in replies], [[(cid, int(at)) for cid, at in _pairs(flat)] for _n, flat in replies]

    def queue_created(self, pipe: Any, bucket: int, contact_ids: Sequence[str]) -> Callable[[Iterator[Any]], list]:
        """Queue into ``pipe`` the reads of each contact's place in the registry's order, in ms (before the move, the
        old set's time in seconds times 1,000: the same order; after, its ``created_at``), None when unregistered;
        the function returned takes them from the pipeline's replies, in order."""
        if not self.moved():
            pipe.zmscore(self.keys.contacts(bucket), contact_ids)
            return lambda replies: [None if s is None else s * 1000 for s in next(replies)]
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), CREATED, CREATED_BEFORE)
        return lambda replies: [None if at is None else float(at)
                                for at in (created_of(next(replies)) for _ in contact_ids)]

    def after(self, bucket: int, score: str, contact_id: str, size: int) -> list[tuple[str, str]]:
        """Up to ``size`` ``(id, score)`` of the bucket after the contact a walk visited last (``score`` as this
        gave it; both '' at the bucket's start), oldest first. Before the move, ``backfill_page.lua`` on the old set
        (a contact gone since: from the first of its score); after, the index strictly after that (score, id), the
        score written ``ms:N`` (a contact gone or made again since changes nothing). A walk begun on the old set goes
        on from its contact's ``created_at`` (without one, its old time in ms)."""
        if not self.moved():
            reply = self._old_page(keys=[self.keys.contacts(bucket)], args=[score, contact_id, size])
            return [(reply[i], str(reply[i + 1])) for i in range(0, len(reply), 2)]
        at = self._walk_place(contact_id, score) if contact_id else None
        reply = self._run([bucket], "after", "" if at is None else at, contact_id, size)[0]
        return [(_text(reply[i]), f"ms:{_text(reply[i + 1])}") for i in range(0, len(reply), 2)]

    def passed(self, bucket: int, score: str, contact_id: str) -> int:
        """How many contacts of the bucket a walk at (``score``, ``contact_id``) has visited."""
        if not self.moved():
            old = self.keys.contacts(bucket)
            rank = self.redis.zrank(old, contact_id)
            return rank + 1 if rank is not None else self.redis.zcount(old, "-inf", f"({score}")
        at = self._walk_place(contact_id, score)
        return 0 if at is None else self._run([bucket], "passed", at, contact_id)[0]

    def bucket_sizes(self, buckets: Sequence[int]) -> list[int]:
        """How many contacts each of these buckets holds."""
        if not self.moved():
            pipe = self.redis.pipeline(transaction=False)
            for bucket in buckets:
                pipe.zcard(self.keys.contacts(bucket))
            return pipe.execute()
        return self._run(buckets, "count")

    # --- the move of releases before's sets ---------------------------------------------------------------------
    def copy_before(self, bucket: int, start: int, page: int = ABSORB_PAGE) -> int:
        """Copy the old set's entries from rank ``start`` (up to ``page``) into the index at their canonical
        scores (``created_at``; a contact without one at its old time in ms); how many were read."""
        old = self.redis.zrange(self.keys.contacts(bucket), start, start + page - 1, withscores=True)
        self._put(bucket, old)
        return len(old)

    def sweep_before(self, page: int = ABSORB_PAGE) -> int:
        """Move up to ``page`` entries of each old set into the index and remove them from it (once the copy was
        recorded ``SWEEP_AFTER_MS`` ago: before, a process may still read them); how many moved."""
        recorded = self.redis.hget(self.keys.migrations(), REGISTRY_MIGRATION)
        if recorded is None or int(recorded) + SWEEP_AFTER_MS > int(time.time() * 1000):
            return 0
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.sharding.buckets):
            pipe.zrange(self.keys.contacts(bucket), 0, page - 1, withscores=True)
        moved = 0
        for bucket, old in enumerate(pipe.execute()):
            if old:
                self._put(bucket, old)
                self.redis.zrem(self.keys.contacts(bucket), *(cid for cid, _s in old))
                moved += len(old)
        return moved

    def _put(self, bucket: int, old: Sequence[tuple[str, float]]) -> None:
        if not old:
            return
        pipe = self.redis.pipeline(transaction=False)
        for cid, _s in old:
            pipe.hmget(self.keys.contact(cid), CREATED, CREATED_BEFORE)
        pairs = [(_or(created_of(at), math.floor(s * 1000)), cid) for (cid, s), at in zip(old, pipe.execute())]
        args: list[Any] = ["add", self.leaf_entries]
        for score, cid in pairs:
            args += (score, cid)
        self._ordered.run([([self.keys.registry_index(bucket)], args)])

    # --- calls --------------------------------------------------------------------------------------------------
    def _call(self, bucket: int, op: str, page: int, canon: list[Any], *args: Any) -> tuple[list[str], list[Any]]:
        return ([self.keys.registry_index(bucket), self.keys.registry(bucket)],
                [op, self.leaf_entries, page, *canon, *args])

    def _run(self, buckets: Sequence[int], op: str, *args: Any) -> list[Any]:
        """``op``'s answer per bucket, once what lies beside its index is moved in: one call per bucket, and again
        for a bucket whose call moved a page and answered MORE (a page a call, Redis answering others between)."""
        answers: dict[int, Any] = {}
        pending = list(buckets)
        while pending:
            replies = self._run_once(pending, op, *args)
            answers.update((b, reply) for b, reply in zip(pending, replies) if not _more(reply))
            pending = [b for b, reply in zip(pending, replies) if _more(reply)]
        return [answers[b] for b in buckets]

    def _run_once(self, buckets: Sequence[int], op: str, *args: Any) -> list[Any]:
        """One call per bucket that moves up to ``move_page`` entries beside the index in first, then answers ``op``
        (MORE when entries may wait beside still). On a cluster the contacts' ``created_at`` is read first, for the
        page beside (a round trip, two when there is any)."""
        buckets = list(buckets)
        page = self.move_page
        if self.single_node:
            canon: dict[int, list[Any]] = {b: ["h", *self._parts] for b in buckets}
        else:
            pipe = self.redis.pipeline(transaction=False)
            for b in buckets:
                pipe.zrange(self.keys.registry(b), 0, page - 1)
            beside = dict(zip(buckets, pipe.execute()))
            waiting = [cid for b in buckets for cid in beside[b]]
            created: dict[str, Any] = {}
            if waiting:
                pipe = self.redis.pipeline(transaction=False)
                for cid in waiting:
                    pipe.hmget(self.keys.contact(cid), CREATED, CREATED_BEFORE)
                created = dict(zip(waiting, (created_of(both) for both in pipe.execute())))
            canon = {b: ["p", len(beside[b]), *(x for cid in beside[b] for x in (cid, "" if created[cid] is None
                                                                                  else created[cid]))]
                     for b in buckets}
        calls = [self._call(b, op, page, canon[b], *args) for b in buckets]
        if not self.single_node or len(calls) == 1:
            return run_scripts(self.redis, self.script, calls)
        return self._by_sha(calls)

    def _by_sha(self, calls: list[tuple[list[str], list[Any]]]) -> list[Any]:
        """The calls in one pipeline by the script's SHA alone (a pipeline given the script would first ask SCRIPT
        EXISTS: a round trip more); loaded and sent again when Redis lost it."""
        for attempt in (1, 2):
            pipe = self.redis.pipeline(transaction=False)
            for keys, args in calls:
                pipe.execute_command("EVALSHA", self.script.sha, len(keys), *keys, *args)
            replies = pipe.execute(raise_on_error=False)
            if attempt == 1 and any(isinstance(reply, NoScriptError) for reply in replies):
                self.redis.script_load(self.script.script)
                continue
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            return replies
        raise AssertionError("unreachable")

    def _created_of(self, contact_id: str) -> int | None:
        return created_of(self.redis.hmget(self.keys.contact(contact_id), CREATED, CREATED_BEFORE))

    def _walk_place(self, contact_id: str, score: str) -> int | None:
        """Where a walk stands in the index: the score it was given (``ms:N``), else (a walk begun on the old set)
        its contact's ``created_at``, else its old time in ms."""
        if score.startswith("ms:"):
            return int(score[3:])
        at = self._created_of(contact_id)
        if at is not None:
            return at
        try:
            return math.floor(float(score) * 1000)
        except ValueError:
            return None

def _more(reply: Any) -> bool:
    """Whether a call answered MORE (entries may wait beside still): a status reply, never another answer's shape."""
    return reply == MORE or reply == MORE.encode()


def created_of(stored: Any) -> int | None:
    """A contact's creation time (ms) from its hash's ``CREATED`` and ``CREATED_BEFORE`` (a mapping, as a document,
    or the two values in that order, as ``HMGET`` gives them): the earlier where both are there — each is written
    with ``HSETNX``, so the earlier is the one its first link wrote (a contact linked again by a process that had not
    seen ``CREATED_SHORT`` gets the long field beside the short one, and the converse) — None where neither is."""
    if isinstance(stored, dict):
        short, long = stored.get(CREATED), stored.get(CREATED_BEFORE)
    else:
        short, long = stored
    if long is None or short is None:  # one field (read for every contact of a page)
        return None if short is None and long is None else created_ms(long if short is None else short)
    short, long = created_ms(short), created_ms(long)
    if short is None:
        return long
    return short if long is None or short <= long else long


def created_ms(text: Any) -> int | None:
    """One creation time field's ms (its text, as the store's clients decode it), None when it is corrupt
    (``CREATED_BOUND``; ``created.lua``'s ``cr_ms``)."""
    try:
        at = int(text)
    except (TypeError, ValueError):
        return None
    return at if str(at) == text and -CREATED_BOUND <= at <= CREATED_BOUND else None


def _or(at: int | None, fallback: int) -> int:
    """A contact's creation time as the index's score, else ``fallback``."""
    return fallback if at is None else at


def _ids(reply: Sequence[Any]) -> list[str]:
    return [_text(reply[i]) for i in range(0, len(reply), 2)]


def _pairs(reply: Sequence[Any]) -> list[tuple[str, float]]:
    return [(_text(reply[i]), float(reply[i + 1])) for i in range(0, len(reply), 2)]


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else value
