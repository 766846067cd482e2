"""The ingest partitions: durable streams of accepted interactions, their idempotency sets, the
lease that lets one worker drain a partition, and the wake mark of its queued drain job.

``ingest.lua`` (beside this module) makes "remember the id, append the entry, set the wake
mark" atomic per partition (a drain job is queued when the mark was missing); ``ingest_one_trip.lua`` does that
and all the rest a request stores (its replay token, its contacts, its counters) in one call, for a request whose
interactions share a partition on a single Redis. ``drain_lease.lua`` takes, renews and lets go of a drain's lease
and the wake mark together, so what arrives while a drain holds the partition queues no job.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..clock import Clock
from ..keys import Keys
from .errors import gateway
from .redis_tools import RAW, Later, call_command, call_script, dumps, load_script, loads, on_cluster, run_scripts

#: Seconds a partition's wake mark (a drain job is queued) lives, should the job be lost.
WAKE_TTL_S = 60

#: Buckets a partition's idempotency keys of one period are spread over (``Keys.seen_bucket``). Each bucket is a
#: set of 64-bit integers, which Redis keeps as an intset (8 B a member) up to 512 members with its default
#: configuration: 128 buckets hold ~55k keys per partition and period (~450k a day with 8 partitions and
#: ``SEEN_SECONDS`` of a day) before a bucket overflows into a hash table set (~60 B a member, still correct).
#: Fixed: a key is looked for in the bucket this number gives it (docs/performance.md, "The seen buckets").
SEEN_BUCKETS = 128


def seen_entry(key: str) -> tuple[int, int]:
    """The bucket and the member an idempotency key is remembered by: 64 bits of its BLAKE2b hash as a signed
    integer (an intset member), and the bucket from other bits (its last two bytes). Two keys are taken for the
    same only when both agree: a chance of 2**-64 per pair in one bucket (docs/performance.md, "The seen
    buckets")."""
    digest = hashlib.blake2b(key.encode(), digest_size=10).digest()
    return int.from_bytes(digest[8:], "big") % SEEN_BUCKETS, int.from_bytes(digest[:8], "big", signed=True)


def entry_data(fields: Sequence[str]) -> str:
    """The ``d`` field of a stream entry's fields as Redis sends them (``[name, value, ...]``). Every writer puts
    ``k`` then ``d``, so a drain's read takes the fourth when it is ``d`` and asks this only otherwise."""
    return dict(zip(fields[::2], fields[1::2]))["d"]


#: A write ``ingest_one_trip.lua`` runs: command, key, arguments (``redis_tools.RecordedWrites``).
Write = tuple[str, str, list[Any]]


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class TripItem:
    """One interaction of a one-trip request: its idempotency key and stream payload, the stats fields it counts
    in when accepted and when a duplicate, and how its contact is resolved (``contacts.IdentityPlan``)."""

    key: str
    payload: Any
    accepted_field: str
    duplicate_field: str
    identity: Any


@dataclass
class TripExtras:
    """What a request stores beside its interactions, in the same call, and on what condition: the provider
    secret it was verified with (its field in the provider secrets hash and the digest of the document then
    read: ``provider_secrets.StoredSecret``) is still the stored one; a replay token to claim (its key and
    seconds); writes to make whatever happens (a provider's customer aliases); counters to add."""

    secret_field: str | None = None
    secret_digest: str = ""
    token_key: str | None = None
    token_ttl_s: int = 0
    writes: list[Write] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class TripOutcome:
    """``status``: ``ok`` (stored: ``flags`` True per accepted item, ``wake`` when a drain job must be queued),
    ``stale`` (the provider secret changed since it was read), ``replayed`` (the token was claimed before),
    ``moved`` (an identity names another contact than the one planned) or ``unplanned`` (an identity is new but
    its link writes were not planned): in those, nothing was written."""

    status: str
    flags: list[bool]
    wake: bool


def _planned(keys: "_KeyTable", writes: Sequence[Write] | None) -> list[list[Any]] | bool:
    """An identity's link writes as the script takes them; ``false`` when none were planned (the caller believes
    the identity linked: the script answers ``unplanned`` should it be new)."""
    return False if writes is None else keys.writes(writes)


class _KeyTable:
    """The KEYS of a script call: fixed ones first, then each other key once, named by its index (1-based)."""

    def __init__(self, fixed: Sequence[str], index: dict[str, int] | None = None):
        self.keys = list(fixed)
        self._index = {key: i + 1 for i, key in enumerate(self.keys)} if index is None else dict(index)

    def copy(self) -> _KeyTable:
        """A table that starts as this one does (the fixed keys of a period, kept: ``PartitionQueue._trip_keys``)."""
        return _KeyTable(self.keys, self._index)

    def index(self, key: str | None) -> int:
        if key is None:
            return 0
        if key not in self._index:
            self.keys.append(key)
            self._index[key] = len(self.keys)
        return self._index[key]

    def writes(self, writes: Sequence[Write]) -> list[list[Any]]:
        """Writes as the script takes them: ``[command, key index, arguments as text...]`` (a float as redis-py
        would send it)."""
        return [[command, self.index(key), *(repr(a) if isinstance(a, float) else str(a) for a in args)]
                for command, key, args in writes]


@gateway
class PartitionQueue:
    def __init__(self, redis: Any, keys: Keys, partitions: int, seen_seconds: int, clock: Clock):
        self.redis = redis
        self.keys = keys
        self.partitions = partitions
        self.seen_seconds = seen_seconds
        self.clock = clock  # which ingest period it is
        self._ingest = load_script(redis, "ingest.lua")
        self._one_trip = load_script(redis, "ingest_one_trip.lua")
        self._hold = load_script(redis, "drain_lease.lua")
        #: The key names ``accept`` sends, made once per ingest period (``_trip_keys``, ``_seen_keys``).
        self._period_keys: tuple[int, dict[int, _KeyTable], dict[tuple[int, int], tuple[str, str]]] = (-1, {}, {})

    @property
    def one_trip(self) -> bool:
        """Whether a request may be stored in one call (``accept``): on a single Redis, any keys may meet in a
        script; on a cluster one call reaches one slot, and a request's identity keys, contact and counters are
        in other slots than its partition, so the caller takes the multi-step path there."""
        return not on_cluster(self.redis)

    def append(self, by_partition: Mapping[int, Sequence[tuple[str, Any]]],
               wake_ttl_s: int = WAKE_TTL_S) -> dict[int, tuple[list[bool], bool]]:
        """Queue ``(idempotency key, entry)`` pairs into their partitions, in one round trip (per node).

        Per partition: True for each pair that was new, and whether a drain job must be queued
        (something was new and no wake mark was set; ingest.lua set it).
        """
        period = self.clock.now_ms() // 1000 // self.seen_seconds
        calls = []
        for partition, items in by_partition.items():
            keys = [self.keys.stream(partition), self.keys.seen(partition, period),
                    self.keys.wake(partition), self.keys.seen(partition, period - 1)]
            args: list[Any] = [wake_ttl_s, 2 * self.seen_seconds]
            for key, payload in items:
                bucket, member = seen_entry(key)
                keys += (self.keys.seen_bucket(partition, period, bucket),
                         self.keys.seen_bucket(partition, period - 1, bucket))
                args += (key, dumps(payload), member)
            calls.append((keys, args))
        replies = run_scripts(self.redis, self._ingest, calls)
        return {partition: ([bool(x) for x in reply[:-1]], bool(reply[-1]))
                for partition, reply in zip(by_partition, replies)}

    def accept(self, partition: int, items: Sequence[TripItem], extras: TripExtras,
               wake_ttl_s: int = WAKE_TTL_S) -> TripOutcome:
        """Store a request whose items all belong to ``partition`` in one round trip (``ingest_one_trip.lua``):
        check its provider secret is current, claim its token, resolve (or create) each item's contact, queue the
        new items, count, set the wake mark."""
        period = self.clock.now_ms() // 1000 // self.seen_seconds
        keys = self._trip_keys(partition, period, extras.token_key)
        plan = {"wake": wake_ttl_s, "seen": 2 * self.seen_seconds,
                "token": extras.token_ttl_s if extras.token_key else 0,
                "secret": extras.secret_field or "", "digest": extras.secret_digest,
                "always": keys.writes(extras.writes), "counts": [[name, n] for name, n in extras.counts.items()],
                "items": [[keys.index(item.identity.email_key), keys.index(item.identity.ext_key),
                           item.identity.contact_id, item.key, item.accepted_field, item.duplicate_field,
                           _planned(keys, item.identity.email_writes), _planned(keys, item.identity.ext_writes),
                           *self._seen_in(keys, partition, period, item.key),
                           keys.index(item.identity.derived_key), item.identity.email_keyed,
                           keys.index(item.identity.other_key), item.identity.other_id or ""]
                          for item in items]}
        args = [orjson.dumps(plan), *(orjson.dumps(item.payload) for item in items)]
        reply = call_script(self.redis, self._one_trip, keys.keys, args)
        if reply[0] != "ok":
            return TripOutcome(reply[0], [], False)
        return TripOutcome("ok", [bool(x) for x in reply[1:-1]], bool(reply[-1]))

    def _seen_in(self, keys: _KeyTable, partition: int, period: int, key: str) -> list[Any]:
        """Where ``ingest_one_trip.lua`` remembers an idempotency key: its bucket of this period and of the
        previous one (by index in KEYS) and its member, as text (the plan's JSON numbers are doubles in Lua)."""
        bucket, member = seen_entry(key)
        this, previous = self._seen_keys(partition, period, bucket)
        return [keys.index(this), keys.index(previous), str(member)]

    def _kept_keys(self, period: int) -> tuple[dict[int, _KeyTable], dict[tuple[int, int], tuple[str, str]]]:
        """This period's key names made so far (those of the period before are let go when it changes): a webhook
        made them again each time, ~25k instructions of its worker's ~1.1 M (docs/performance.md, "Row 2a
        (2026-12-04)"). At most the partitions' tables and ``SEEN_BUCKETS`` pairs a partition."""
        kept = self._period_keys
        if kept[0] != period:
            kept = self._period_keys = (period, {}, {})
        return kept[1], kept[2]

    def _trip_keys(self, partition: int, period: int, token_key: str | None) -> _KeyTable:
        """The fixed KEYS of ``ingest_one_trip.lua`` (its header), a new table each call; without a token its
        slot holds the wake mark's key again."""
        tables = self._kept_keys(period)[0]
        table = tables.get(partition)
        if table is None:
            table = tables[partition] = _KeyTable([
                self.keys.stream(partition), self.keys.seen(partition, period), self.keys.wake(partition),
                self.keys.seen(partition, period - 1), self.keys.stats(), self.keys.wake(partition),
                self.keys.provider_secrets()])
        if token_key is None:
            return table.copy()
        fixed = list(table.keys)
        fixed[5] = token_key
        return _KeyTable(fixed)

    def _seen_keys(self, partition: int, period: int, bucket: int) -> tuple[str, str]:
        """A seen bucket's key in this period and in the one before."""
        pairs = self._kept_keys(period)[1]
        pair = pairs.get((partition, bucket))
        if pair is None:
            pair = pairs[partition, bucket] = (self.keys.seen_bucket(partition, period, bucket),
                                               self.keys.seen_bucket(partition, period - 1, bucket))
        return pair

    def push_tick(self, partition: int, contact_id: str) -> None:
        """Ask the partition's worker to bring a contact up to date (due expiries)."""
        self.redis.xadd(self.keys.stream(partition), {"k": "", "d": dumps({"tick": contact_id})})

    def read_partition(self, partition: int, count: int, after: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` entries from the head of the stream, or from just after the entry ``after`` (a drain
        reads on while the entries of the batches it has scored wait for the archive before they are deleted)."""
        start = "-" if after is None else f"({after}"
        entries = self.redis.xrange(self.keys.stream(partition), start, "+", count=count)
        return [(entry_id, loads(fields["d"])) for entry_id, fields in entries]

    def read_partition_later(self, later: Later, partition: int, count: int,
                             after: str | None = None) -> Callable[[], list[tuple[str, dict[str, Any]]]]:
        """``read_partition`` sent now (on ``later``), its entries given when the function returned is called: a
        drain reads its next batch while it scores this one."""
        if not later.deferred:
            entries = self.read_partition(partition, count, after)
            return lambda: entries
        start = "-" if after is None else f"({after}"
        reply = later.send([("XRANGE", self.keys.stream(partition), start, "+", "COUNT", count)], {"XRANGE": RAW})
        # (read raw: redis-py's callback made a dict per entry, ~1 % of a drain's instructions)
        parse = orjson.loads  # (not ``loads``: a call less per entry)
        return lambda: [(entry_id, parse(fields[3] if len(fields) == 4 and fields[2] == "d" else entry_data(fields)))
                        for entry_id, fields in reply.result()[0]]

    def remove_entries(self, partition: int, entry_ids: Sequence[str]) -> None:
        """Delete these entries of the partition's stream (the archiver's, once their records are archived): one
        ``XDEL`` packed by hiredis (``call_command``; redis-py's packer cost the archiver ~0.5 us an id)."""
        if entry_ids:
            call_command(self.redis, "XDEL", self.keys.stream(partition), *entry_ids)

    def partition_depths(self) -> list[int]:
        pipe = self.redis.pipeline(transaction=False)
        for n in range(self.partitions):
            pipe.xlen(self.keys.stream(n))
        return pipe.execute()

    def oldest_pending_ms(self) -> int | None:
        """Age source for the scoring lag: the stream id time of the oldest unscored entry."""
        pipe = self.redis.pipeline(transaction=False)
        for n in range(self.partitions):
            pipe.xrange(self.keys.stream(n), "-", "+", count=1)
        oldest = [int(e[0][0].split("-")[0]) for e in pipe.execute() if e]
        return min(oldest) if oldest else None

    # --- a drain's hold on a partition: its lease and the wake mark together (drain_lease.lua) -----------------
    def _lease_call(self, what: str, partition: int, token: str, lease_ms: int = 0, wake_ttl_s: int = WAKE_TTL_S) -> int:
        keys = [self.keys.lease(partition), self.keys.wake(partition), self.keys.stream(partition)]
        return int(call_script(self.redis, self._hold, keys, [what, token, lease_ms, wake_ttl_s]))

    def take(self, partition: int, token: str, lease_ms: int, wake_ttl_s: int = WAKE_TTL_S) -> bool:
        """Take the partition's lease and make the wake mark the drain's (what arrives meanwhile queues no job:
        the drain reads on); False when another drain holds it (that one sees what waits). One round trip."""
        return bool(self._lease_call("take", partition, token, lease_ms, wake_ttl_s))

    def renew_lease(self, partition: int, token: str, ttl_ms: int, wake_ttl_s: int = WAKE_TTL_S) -> bool:
        """Keep the lease (and the drain's wake mark) while it is still this token's. One round trip."""
        return bool(self._lease_call("renew", partition, token, ttl_ms, wake_ttl_s))

    def let_go(self, partition: int, token: str, wake_ttl_s: int = WAKE_TTL_S) -> bool:
        """Let go of the lease and the wake mark, atomically with a last look at the stream; True when entries
        wait and no drain job is queued for them (the caller queues one: the mark says so already)."""
        return bool(self._lease_call("let_go", partition, token, 0, wake_ttl_s))

    def drop(self, partition: int, token: str) -> None:
        """Let go after an error: the lease and the drain's wake mark go, whatever waits is left to the ticker."""
        self._lease_call("drop", partition, token)

    def linger(self, partition: int, after: str, wait_ms: int, count: int) -> list[tuple[str, dict[str, Any]]]:
        """Up to ``count`` entries after the entry ``after``, waiting up to ``wait_ms`` for the first to arrive
        (``XREAD BLOCK``): a drain holding the partition takes what comes next instead of a new job."""
        reply = self.redis.xread({self.keys.stream(partition): after}, count=count, block=max(int(wait_ms), 1))
        if not reply:
            return []
        return [(entry_id, loads(fields["d"])) for entry_id, fields in reply[0][1]]

    def orphaned(self, partition: int) -> bool:
        """Whether a drain that no longer holds the lease left its mark (it died): nothing would queue a job."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(self.keys.lease(partition))
        pipe.get(self.keys.wake(partition))
        held, mark = pipe.execute()
        return not held and mark is not None and mark != "1"

    def hold_ticker(self, token: str, ttl_ms: int) -> bool:
        """Take or keep the ticker lease (one process runs the periodic duties); True while held."""
        key = self.keys.ticker()
        if self.redis.set(key, token, nx=True, px=ttl_ms) or self.redis.get(key) == token:
            self.redis.pexpire(key, ttl_ms)
            return True
        return False

    def lease_held(self, partition: int) -> bool:
        return bool(self.redis.exists(self.keys.lease(partition)))

    def mark_wake(self, partition: int, ttl_s: int = WAKE_TTL_S) -> bool:
        """True when no drain job was marked as queued for the partition (caller enqueues one)."""
        return bool(self.redis.set(self.keys.wake(partition), "1", nx=True, ex=ttl_s))

    def wake_age(self, partition: int, ttl_s: int = WAKE_TTL_S) -> float:
        """Seconds since the wake mark was set (0 when there is none)."""
        remaining = self.redis.ttl(self.keys.wake(partition))
        return 0.0 if remaining is None or remaining < 0 else float(ttl_s - remaining)

    def clear_wake(self, partition: int) -> None:
        self.redis.delete(self.keys.wake(partition))
