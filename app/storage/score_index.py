"""The score index: contacts by score per profile version, and by the time of their next due
expiry, each split into buckets (a contact always lands in the same bucket of each).

The expiries are a compact ordered index per bucket (``ordered_index.py``; ``keys.expiry_index``), kept lazily:
a contact's new expiry is added, and the one it replaces (which the writer does not know) stays until it is due —
the ticker then finds it, brings the contact up to date (a tick that finds nothing due changes nothing) and removes
it by its time. Releases before kept a sorted set per bucket (``keys.expiries``): it is read beside the new index,
and removed from, until ``app/indexes.py:expiries_once`` has moved it.

The latest activity is a compact ordered index too, each contact at its time's hour, the exact time in its hash
(``activity.py``): on one Redis the drain writes both with the contact (``apply_batch.lua``), so these writes carry
only what else writes it (a backfill; a cluster, after the contact; a contact scored with nothing to write).

With these writes go the moves of new contacts' search terms into their compact index (``search_terms.py``): ingest
writes them beside it, and each scored batch has them moved in (one more script call per bucket); so do new contacts
of the registry (``registry.py``: one call for every bucket, on a single Redis; the ticker moves them on a cluster)."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from ..scoring.fold import FoldState
from ..scoring.profiles import version_field
from .activity import ACTIVITY_NONE_EXPLICIT, ActivityIndex
from .errors import gateway
from .ordered_index import OrderedIndex
from .redis_tools import Later, Sharding, load_script, loads, run_scripts
from .registry import ContactRegistry
from .score_base import ABSORB_PAGE, ScoreBase
from .search_terms import SearchTerms
from .timelines import StatesMoved, joined_state, split_contact

@dataclass(frozen=True)
class DueExpiry:
    """A contact with an expiry due, and the (bucket, time) entries of the compact index that said so: what
    ``forget_expiry`` removes, so an expiry written since at another time stays. Handed back by the caller rather
    than remembered by the index, so two readers (or threads) never forget each other's finds."""
    contact_id: str
    found: tuple[tuple[int, int], ...] = ()


@gateway
class ScoreIndex:
    """Contacts by score per profile version, and by the time of their next due expiry, both bucketed."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.ordered = OrderedIndex(redis)
        self.activity = ActivityIndex(redis, keys, sharding, self.ordered,
                                      none_explicit=StatesMoved(redis, keys, ACTIVITY_NONE_EXPLICIT))
        self.search = SearchTerms(redis, keys, sharding)
        self._absorb_all = self.search.absorb_calls(range(sharding.buckets))
        self.registry = ContactRegistry(redis, keys, sharding)
        self._absorb_registry = [self.registry.absorb_call(range(sharding.buckets))] if self.registry.single_node else []
        self._drop_moved = load_script(redis, "drop_moved_expiries.lua")
        self.base = ScoreBase(redis, keys)

    @property
    def buckets(self) -> int:
        return self.sharding.buckets

    def update_indexes(self, scores: dict[tuple[str, int], dict[str, int | None]],
                       expiries: dict[str, int | None], activity: Mapping[str, int] | None = None,
                       dnd: Mapping[str, Mapping[str, bool]] | None = None,
                       held: Mapping[tuple[str, int], Mapping[str, int | None]] | None = None,
                       repairs: Mapping[str, Mapping[str, set[int]]] | None = None,
                       pending: Mapping[str, str] | None = None) -> None:
        """Global index writes after contacts were written: scores (``held``: per version, the score each
        contact's fold state held before, which the index holds; absent: none — a store the base has nothing of,
        a restore), due expiries, the time of the latest interaction (which only moves forward, so a late arrival
        cannot move it back) and DND per channel (``dnd``: contact -> channel -> on, as just written to the
        contact document). On a cluster, ``repairs``: contact -> per version field the scores the index may still
        hold it at (its pending key's, ``score_base.py``), its writes made as repairs; ``pending``: contact -> its
        pending key's value, deleted once the score writes were made (unless a later batch set it anew)."""
        commands = self._index_commands(expiries, activity, dnd)
        calls = self._expiry_calls(expiries) + self._search_calls(expiries, activity)
        pipe = self.redis.pipeline(transaction=False)
        for command in commands:
            pipe.execute_command(*command)
        if commands:
            pipe.execute()
        repairing = self._repair_calls(scores, repairs) if repairs else []
        run_scripts(self.redis, self.base.writer, self._score_calls(scores, held, repairs))
        run_scripts(self.redis, self.base.script, repairing)
        if pending:
            run_scripts(self.redis, self.base.unpend,
                        [([self.keys.score_pending(cid)], [value]) for cid, value in pending.items()])
        run_scripts(self.redis, self.ordered.script, calls)
        run_scripts(self.redis, self.registry.script, self._search_calls(expiries, activity) and self._absorb_registry)
        self.activity.raise_to(activity or {})

    def update_indexes_later(self, later: Later, scores: dict[tuple[str, int], dict[str, int | None]],
                             expiries: dict[str, int | None], activity: Mapping[str, int] | None = None,
                             dnd: Mapping[str, Mapping[str, bool]] | None = None,
                             held: Mapping[tuple[str, int], Mapping[str, int | None]] | None = None,
                             repairs: Mapping[str, Mapping[str, set[int]]] | None = None,
                             pending: Mapping[str, str] | None = None) -> Callable[[], Any]:
        """``update_indexes`` sent now on ``later`` (at once on a cluster); the function returned reads the
        replies, raising a failed write's error."""
        if not later.deferred:  # (a cluster: the repairs and pending keys are there only)
            self.update_indexes(scores, expiries, activity, dnd, held, repairs, pending)
            return lambda: None
        commands = self._index_commands(expiries, activity, dnd)
        sent = later.send(commands) if commands else None
        scored = later.send_scripts(self.base.writer, self._score_calls(scores, held))
        added = later.send_scripts(self.ordered.script,
                                   self._expiry_calls(expiries) + self._search_calls(expiries, activity))
        registered = later.send_scripts(self.registry.script,
                                        self._search_calls(expiries, activity) and self._absorb_registry)
        raised = self.activity.raise_later(later, activity or {})

        def result() -> Any:
            written = sent.result() if sent is not None else []
            scored.result()
            registered.result()
            return written, added.result(), raised.result()
        return result

    def _index_commands(self, expiries: dict[str, int | None], activity: Mapping[str, int] | None,
                        dnd: Mapping[str, Mapping[str, bool]] | None) -> list[tuple[Any, ...]]:
        commands: list[tuple[Any, ...]] = []
        for cid, channels in (dnd or {}).items():
            bucket = self.sharding.bucket_of(cid)
            for channel, on in channels.items():
                commands.append(("SADD" if on else "SREM", self.keys.dnd(channel, bucket), cid))
        return commands

    def _score_calls(self, scores: Mapping[tuple[str, int], Mapping[str, int | None]],
                     held: Mapping[tuple[str, int], Mapping[str, int | None]] | None,
                     repairs: Mapping[str, Mapping[str, set[int]]] | None = None) -> list[tuple[list[str], list[Any]]]:
        """One ``score_write.lua`` write per version and bucket with contacts whose score moved (those being
        repaired left to ``_repair_calls``)."""
        calls = []
        for (profile_id, version), members in scores.items():
            before = held.get((profile_id, version), {}) if held is not None else {}
            ids_of = self.sharding.by_bucket([cid for cid in members if not repairs or cid not in repairs])
            for bucket, ids in ids_of.items():
                calls.append(self.base.write_call(profile_id, version, bucket, ids, members, before))
        return calls

    def _repair_calls(self, scores: Mapping[tuple[str, int], Mapping[str, int | None]],
                      repairs: Mapping[str, Mapping[str, set[int]]]) -> list[tuple[list[str], list[Any]]]:
        """One ``score_base.lua repair`` per version and bucket with contacts being repaired (``update_indexes``):
        every version they are in ``scores`` of."""
        calls = []
        for (profile_id, version), members in scores.items():
            field = version_field(profile_id, version)
            mine = [cid for cid in members if cid in repairs]
            for bucket, ids in self.sharding.by_bucket(mine).items():
                calls.append(self.base.repair_call(profile_id, version, bucket, ids, members,
                                                   {cid: repairs[cid].get(field, set()) for cid in ids}))
        return calls

    def _expiry_calls(self, expiries: dict[str, int | None]) -> list[tuple[list[str], list[Any]]]:
        """One call of the compact index per bucket with new expiries (a contact without one adds nothing: the
        expiry it had, if any, stays until due)."""
        due = {cid: at for cid, at in expiries.items() if at is not None}
        calls = []
        for bucket, ids in self.sharding.by_bucket(due).items():
            args: list[Any] = ["add", self.ordered.leaf_entries]  # (times from the fold: integers, checked by the script)
            for cid in ids:
                args += (due[cid], cid)
            calls.append(([self.keys.expiry_index(bucket)], args))
        return calls

    def _search_calls(self, expiries: Mapping[str, Any], activity: Mapping[str, int] | None) -> list[tuple[list[str], list[Any]]]:
        """Every bucket has its new contacts' search terms moved into the compact index (ingest wrote them beside
        it) when a batch was scored: one call per bucket, each reading one empty key when there were none — cheaper
        than finding the buckets of a batch's contacts (an adler32 each)."""
        if not expiries and not activity:
            return []
        return self._absorb_all

    def last_activity(self, contact_ids: Sequence[str]) -> list[int | None]:
        """The latest interaction time of each contact (ms), as the activity index holds it."""
        return self.activity.latest(contact_ids)

    def due_expiries(self, now_ms: int, count: int = 1000) -> list[DueExpiry]:
        """Contacts with an expiry due by ``now_ms`` (at most ``count`` per bucket from each of the compact index
        and the sorted set of releases before), each once, with the compact index's entries found for it."""
        buckets = range(self.sharding.buckets)
        pipe = self.redis.pipeline(transaction=False)
        for bucket in buckets:
            pipe.zrangebyscore(self.keys.expiries(bucket), "-inf", now_ms, start=0, num=count)
        old = pipe.execute()
        new = run_scripts(self.redis, self.ordered.script,
                          [self.ordered.range_call(self.keys.expiry_index(b), high=now_ms, count=count) for b in buckets])
        found: dict[str, list[tuple[int, int]]] = {}
        for bucket, reply in zip(buckets, new):
            for cid, at in self.ordered.pairs(reply):
                found.setdefault(cid, []).append((bucket, at))
        for ids in old:
            for cid in ids:
                found.setdefault(cid, [])
        return [DueExpiry(cid, tuple(entries)) for cid, entries in found.items()]

    def forget_expiry(self, due: DueExpiry) -> None:
        """The contact's due expiries that ``due_expiries`` found leave the index (the ticker has queued its
        tick); an expiry written since, at another time, stays."""
        bucket = self.sharding.bucket_of(due.contact_id)
        self.redis.zrem(self.keys.expiries(bucket), due.contact_id)
        if due.found:
            self.ordered.remove(self.keys.expiry_index(bucket), [(at, due.contact_id) for _b, at in due.found])

    def old_expiries_page(self, bucket: int, page: int) -> int:
        """Move up to ``page`` entries of the bucket's sorted set of releases before into the compact index; each
        leaves the old set only if it still has the time that was moved (``drop_moved_expiries.lua``). Returns
        how many were moved (0: the set is empty)."""
        old = self.keys.expiries(bucket)
        entries = self.redis.zrange(old, 0, page - 1, withscores=True)
        if not entries:
            return 0
        pairs = [(int(at), cid) for cid, at in entries]
        self.ordered.add(self.keys.expiry_index(bucket), pairs)
        self._drop_moved(keys=[old], args=[x for at, cid in pairs for x in (at, cid)])
        return len(pairs)

    def absorb_step(self, versions: Sequence[tuple[str, int]], now_ms: int, period_ms: int,
                    page: int = ABSORB_PAGE) -> int | None:
        """The ticker's share of the absorb (``score_base.py``): when one is due, a page of every bucket of each
        version moved into its base (one call per bucket, pipelined); once a step finds every bucket done, the
        next is due ``period_ms`` later. Returns the entries moved, or None when none was due."""
        due = self.redis.get(self.keys.score_absorb_due())
        if due is not None and now_ms < int(due):
            return None
        steps = self._pass_steps(versions, page)
        calls = [self.base.absorb_call(pid, version, b, page) for pid, version in versions for b in range(self.buckets)]
        moved = [int(n) for n in run_scripts(self.redis, self.base.script, calls)]
        if all(n < page for n in moved) or steps <= 1:
            self.redis.set(self.keys.score_absorb_due(), now_ms + period_ms)
            self.redis.delete(self.keys.score_absorb_steps())
        else:
            self.redis.set(self.keys.score_absorb_steps(), steps - 1)
        return sum(moved)

    def _pass_steps(self, versions: Sequence[tuple[str, int]], page: int) -> int:
        """The steps left to the running pass; a pass starting gets the steps its largest hot set holds at its start
        (at least one). A pass that followed the writes made while it runs would never end under a drain writing
        more than a page a bucket a tick: each entry would be moved into the base seconds after its write, and the
        contact's next write would find the base holding it (a stale entry and a second ``ZADD`` for every write,
        not once a period: row 1 full paid ~25 % more Redis CPU for it, docs/performance.md "Row 1 (2026-12-06,
        second session): the full size's Redis CPU"). What is written meanwhile waits, hot, for the next pass."""
        held = self.redis.get(self.keys.score_absorb_steps())
        if held is not None:
            return int(held)
        pipe = self.redis.pipeline(transaction=False)
        for pid, version in versions:
            for b in range(self.buckets):
                pipe.zcard(self.keys.score_index(pid, version, b))
        largest = max((int(n) for n in pipe.execute()), default=0)
        return max(1, -(-largest // page))

    def member_scores(self, versions: Sequence[tuple[str, int]],
                      contact_ids: Sequence[str]) -> dict[str, dict[tuple[str, int], int | None]]:
        """Each contact's score in each version as the index holds it (what a ``ZMSCORE`` of the one sorted set of
        releases before answered): the hot set's, else the base's entry at the score its fold state holds, when the
        base holds it there live (``score_base.lua scores``): two round trips, the states then one call a version
        and bucket."""
        out: dict[str, dict[tuple[str, int], int | None]] = {cid: {} for cid in contact_ids}
        if not contact_ids or not versions:
            return out
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hgetall(self.keys.contact(cid))
            pipe.hgetall(self.keys.states_before(cid))
        replies = pipe.execute()
        states = [split_contact(replies[2 * i], replies[2 * i + 1])[1] for i in range(len(contact_ids))]
        groups = list(self.sharding.by_bucket(contact_ids).items())
        calls = []
        for pid, version in versions:
            field = version_field(pid, version)
            held = {}
            for cid, stored in zip(contact_ids, states):
                text = joined_state(stored, field)
                held[cid] = FoldState.from_json(loads(text)).score if text else None
            calls += [self.base.scores_call(pid, version, bucket, ids, held) for bucket, ids in groups]
        replies = iter(run_scripts(self.redis, self.base.script, calls))
        for v in versions:
            for _bucket, ids in groups:
                for cid, score in zip(ids, next(replies)):
                    out[cid][v] = int(score) if score != "" else None
        return out

    def score_indexes(self, profile_id: str, version: int) -> list[str]:
        return [self.keys.score_index(profile_id, version, b) for b in range(self.sharding.buckets)]

    def scores_of(self, profile_id: str, version: int) -> dict[str, int]:
        """Every contact's score in one version (for a publish that fires triggers)."""
        calls = [self.base.rev_range_call(profile_id, version, b) for b in range(self.buckets)]
        return {cid: score for reply in run_scripts(self.redis, self.base.script, calls)
                for cid, score in OrderedIndex.pairs(reply)}

    def count(self, profile_id: str, version: int) -> int:
        """How many contacts have a score in one version."""
        calls = [self.base.count_call(profile_id, version, b) for b in range(self.buckets)]
        return sum(int(n) for n in run_scripts(self.redis, self.base.script, calls))

    def drop_score_index(self, profile_id: str, version: int) -> None:
        self.base.drop(profile_id, version, self.buckets)
