"""The score store: every Redis read and write of contacts, timelines, profiles and indexes.

Key names come from ``keys.Keys``; Lua scripts live beside it in ``app/storage``, each saying what it
makes atomic. Callers get plain Python data back.
"""
from __future__ import annotations

import hashlib
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from importlib import resources
from typing import Any

import orjson

from ..keys import Keys
from ..scoring.interactions import Interaction


#: Seconds a partition's wake mark (a drain job is queued) lives, should the job be lost.
WAKE_TTL_S = 60
#: Contacts per call of the batch scripts (read_batch.lua, apply_batch.lua) on a single Redis (one on a cluster):
#: large enough to save most per-command overhead, small enough that one call blocks Redis
#: for only a few milliseconds.
SCRIPT_CONTACTS = 250


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def _script(name: str) -> str:
    return resources.files("app.storage").joinpath(name).read_text()


def get_many(redis: Any, keys: Sequence[str]) -> list[Any]:
    """GET of many keys in one round trip; unlike MGET, fine across Redis Cluster slots."""
    if not keys:
        return []
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.get(key)
    return pipe.execute()


def run_scripts(redis: Any, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
    """Many calls of one Lua script, pipelined; on a Redis Cluster, one pipeline per node
    (redis-py's cluster pipeline refuses scripts). Each call's keys share one slot."""
    if not calls:
        return []
    if len(calls) == 1:  # one EVALSHA: a pipeline would first send SCRIPT EXISTS, a second round trip
        keys, args = calls[0]
        return [script(keys=keys, args=args)]
    if not hasattr(redis, "get_node_from_key"):
        pipe = redis.pipeline(transaction=False)
        for keys, args in calls:
            script(keys=keys, args=args, client=pipe)
        return pipe.execute()
    by_node: dict[str, list[int]] = {}
    nodes: dict[str, Any] = {}
    for i, (keys, _args) in enumerate(calls):
        node = redis.get_node_from_key(keys[0])
        nodes[node.name] = node
        by_node.setdefault(node.name, []).append(i)
    results: list[Any] = [None] * len(calls)
    for name, indexes in by_node.items():
        pipe = nodes[name].redis_connection.pipeline(transaction=False)
        for i in indexes:
            script(keys=calls[i][0], args=calls[i][1], client=pipe)
        for i, value in zip(indexes, pipe.execute()):
            results[i] = value
    return results


#: A stored ledger entry is a JSON array of these fields, in this order, without a trailing null
#: ``note`` (about half the bytes of the same entry as an object with every field named).
LEDGER_FIELDS = ("at", "interaction_id", "source", "type", "rule_id", "points", "change", "score", "reason", "note")


def ledger_row(entry: Any) -> list[Any]:
    """The stored form of a ``LedgerEntry``."""
    row = [getattr(entry, name) for name in LEDGER_FIELDS]
    if row[-1] is None:
        row.pop()
    return row


def ledger_entry(stored: Any) -> dict[str, Any]:
    """A stored ledger entry as the API shows it (entries written as objects still read as they were)."""
    if isinstance(stored, dict):
        return stored
    return {name: stored[i] if i < len(stored) else None for i, name in enumerate(LEDGER_FIELDS)}


def timeline_value(record: Mapping[str, Any]) -> list[Any]:
    """The stored form of a timeline record under its field ``source:id``: ``[type, at, properties]``
    (the id and source are in the field name; empty properties are left out)."""
    value = [record["t"], record["at"]]
    if record["p"]:
        value.append(record["p"])
    return value


def timeline_record(key: str, stored: Any) -> dict[str, Any]:
    """A timeline record from its field and stored value (records written as objects read as they were)."""
    if isinstance(stored, dict):
        return stored
    source, _, id_ = key.partition(":")
    return {"id": id_, "src": source, "t": stored[0], "at": stored[1], "p": stored[2] if len(stored) > 2 else {}}


def contact_id_for(kind: str, value: str) -> str:
    """A deterministic id, so two requests creating the same contact at once agree on it."""
    return "c" + hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()[:20]


class Store:
    def __init__(self, redis: Any, keys: Keys, settings: dict[str, Any]):
        self.redis = redis
        self.keys = keys
        self.partitions = int(settings["PARTITIONS"])
        self.buckets = int(settings["INDEX_BUCKETS"])
        self.seen_seconds = int(settings["SEEN_SECONDS"])
        self.ledger_max = int(settings["LEDGER_MAX"])
        self._ingest = redis.register_script(_script("ingest.lua"))
        self._apply_batch = redis.register_script(_script("apply_batch.lua"))
        self._read_batch = redis.register_script(_script("read_batch.lua"))
        #: One Redis (not a cluster): a scoring batch's reads and writes go in a few script calls.
        self.single_node = not hasattr(redis, "get_node_from_key")

    # --- contacts -------------------------------------------------------------------------
    def partition_of(self, contact_id: str) -> int:
        return zlib.crc32(contact_id.encode()) % self.partitions

    def bucket_of(self, contact_id: str) -> int:
        """The contact's bucket in every global index."""
        return zlib.adler32(contact_id.encode()) % self.buckets

    def by_bucket(self, contact_ids: Iterable[str]) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for cid in contact_ids:
            out.setdefault(self.bucket_of(cid), []).append(cid)
        return out

    def resolve_contacts(self, interactions: Sequence[Interaction]) -> list[str]:
        """The contact id of each interaction, creating contacts (and linking identities) as needed.

        Email wins when an email and an external id point at different contacts.
        """
        idents = sorted({(k, v) for i in interactions for k, v in (("email", i.email), ("ext", i.external_id)) if v})
        known = dict(zip(idents, self._get_many([self.keys.identity(k, v) for k, v in idents])))
        now = time.time()
        wanted: dict[tuple[str, str], str] = {}
        result = []
        for interaction in interactions:
            email_key = ("email", interaction.email) if interaction.email else None
            ext_key = ("ext", interaction.external_id) if interaction.external_id else None
            contact_id = (
                (email_key and (known.get(email_key) or wanted.get(email_key)))
                or (ext_key and (known.get(ext_key) or wanted.get(ext_key)))
                or contact_id_for(*(email_key or ext_key))
            )
            for ident in (email_key, ext_key):
                if ident and not known.get(ident) and ident not in wanted:
                    wanted[ident] = contact_id
            result.append(contact_id)
        if wanted:
            pipe = self.redis.pipeline(transaction=False)
            for (kind, value), contact_id in wanted.items():
                pipe.set(self.keys.identity(kind, value), contact_id, nx=True)
            outcomes = pipe.execute()
            lost = [ident for ident, ok in zip(wanted, outcomes) if not ok]
            if lost:  # another request linked the identity first: use its contact
                winners = dict(zip(lost, self._get_many([self.keys.identity(k, v) for k, v in lost])))
                result = [self._winner(i, c, winners) for i, c in zip(interactions, result)]
                wanted = {ident: winners.get(ident, cid) for ident, cid in wanted.items()}
            pipe = self.redis.pipeline(transaction=False)
            for (kind, value), contact_id in wanted.items():
                field = "email" if kind == "email" else "external_id"
                pipe.hsetnx(self.keys.contact(contact_id), field, value)
                pipe.hsetnx(self.keys.contact(contact_id), "created_at", int(now * 1000))
                pipe.zadd(self.keys.contacts(self.bucket_of(contact_id)), {contact_id: now}, nx=True)
            pipe.execute()
        return result

    def _get_many(self, keys: Sequence[str]) -> list[str | None]:
        return get_many(self.redis, keys)

    @staticmethod
    def _winner(interaction: Interaction, contact_id: str, winners: dict) -> str:
        if interaction.email and ("email", interaction.email) in winners:
            return winners[("email", interaction.email)]
        if interaction.external_id and ("ext", interaction.external_id) in winners:
            return winners[("ext", interaction.external_id)]
        return contact_id

    def find_contact(self, email: str | None = None, external_id: str | None = None) -> str | None:
        if email:
            return self.redis.get(self.keys.identity("email", email))
        if external_id:
            return self.redis.get(self.keys.identity("ext", external_id))
        return None

    def contact_exists(self, contact_id: str) -> bool:
        return bool(self.redis.exists(self.keys.contact(contact_id)))

    def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        """The contact document with tags, DND and fold states, or None."""
        return self.get_contacts([contact_id])[0]

    def get_contacts(self, contact_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Several contacts in one round trip (a page of a filter), in order; None where missing."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.contact(contact_id))
            pipe.smembers(self.keys.tags(contact_id))
            pipe.hgetall(self.keys.states(contact_id))
        replies = pipe.execute()
        out: list[dict[str, Any] | None] = []
        for i, contact_id in enumerate(contact_ids):
            doc, tags, states = replies[3 * i:3 * i + 3]
            if not doc:
                out.append(None)
                continue
            dnd = {k[4:]: v == "1" for k, v in doc.items() if k.startswith("dnd:")}
            out.append({"id": contact_id, "email": doc.get("email"), "external_id": doc.get("external_id"),
                        "tags": sorted(tags), "dnd": dnd, "created_at": int(doc.get("created_at", 0)),
                        "states": {f: loads(v) for f, v in states.items() if f != "_rev"}})
        return out

    def contact_count(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.buckets):
            pipe.zcard(self.keys.contacts(bucket))
        return sum(pipe.execute())

    def contact_pages(self, size: int) -> Iterator[list[str]]:
        """Every contact id, a page at a time (bucket by bucket), for jobs that visit every contact."""
        for bucket in range(self.buckets):
            start = 0
            while True:
                page = self.redis.zrange(self.keys.contacts(bucket), start, start + size - 1)
                if not page:
                    break
                yield page
                start += len(page)

    def change_tags(self, contact_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        add, remove = list(add), list(remove)
        pipe = self.redis.pipeline(transaction=False)
        if add:
            pipe.sadd(self.keys.tags(contact_id), *add)
        if remove:
            pipe.srem(self.keys.tags(contact_id), *remove)
        bucket = self.bucket_of(contact_id)
        for tag in add:
            pipe.sadd(self.keys.tag_members(tag, bucket), contact_id)
        for tag in remove:
            pipe.srem(self.keys.tag_members(tag, bucket), contact_id)
        pipe.smembers(self.keys.tags(contact_id))
        return sorted(pipe.execute()[-1])

    def has_tags(self, contact_ids: Sequence[str], tag: str) -> list[bool]:
        found: dict[str, bool] = {}
        for bucket, ids in self.by_bucket(contact_ids).items():
            found.update(zip(ids, map(bool, self.redis.smismember(self.keys.tag_members(tag, bucket), ids))))
        return [found[cid] for cid in contact_ids]

    def remember_alias(self, kind: str, value: str, email: str) -> None:
        self.redis.set(self.keys.alias(kind, value), email)

    def alias(self, kind: str, value: str) -> str | None:
        return self.redis.get(self.keys.alias(kind, value))

    # --- ingest partitions ----------------------------------------------------------------
    def append(self, by_partition: dict[int, Sequence[tuple[str, str]]],
               wake_ttl_s: int = WAKE_TTL_S) -> dict[int, tuple[list[bool], bool]]:
        """Queue ``(idempotency key, payload)`` pairs into their partitions, in one round trip (per node).

        Per partition: True for each pair that was new, and whether a drain job must be queued
        (something was new and no wake mark was set; ingest.lua set it).
        """
        period = int(time.time()) // self.seen_seconds
        calls = []
        for partition, items in by_partition.items():
            args: list[Any] = [wake_ttl_s, 2 * self.seen_seconds]
            for key, payload in items:
                args += (key, payload)
            calls.append(([self.keys.stream(partition), self.keys.seen(partition, period),
                           self.keys.wake(partition), self.keys.seen(partition, period - 1)], args))
        replies = self.run_scripts(self._ingest, calls)
        return {partition: ([bool(x) for x in reply[:-1]], bool(reply[-1]))
                for partition, reply in zip(by_partition, replies)}

    def push_tick(self, partition: int, contact_id: str) -> None:
        """Ask the partition's worker to bring a contact up to date (due expiries)."""
        self.redis.xadd(self.keys.stream(partition), {"k": "", "d": dumps({"tick": contact_id})})

    def read_partition(self, partition: int, count: int) -> list[tuple[str, dict[str, Any]]]:
        entries = self.redis.xrange(self.keys.stream(partition), "-", "+", count=count)
        return [(entry_id, loads(fields["d"])) for entry_id, fields in entries]

    def remove_entries(self, partition: int, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            self.redis.xdel(self.keys.stream(partition), *entry_ids)

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

    def acquire_lease(self, partition: int, token: str, ttl_ms: int) -> bool:
        return bool(self.redis.set(self.keys.lease(partition), token, nx=True, px=ttl_ms))

    def renew_lease(self, partition: int, token: str, ttl_ms: int) -> bool:
        key = self.keys.lease(partition)
        if self.redis.get(key) != token:
            return False
        return bool(self.redis.pexpire(key, ttl_ms))

    def release_lease(self, partition: int, token: str) -> None:
        key = self.keys.lease(partition)
        if self.redis.get(key) == token:
            self.redis.delete(key)

    def lease_held(self, partition: int) -> bool:
        return bool(self.redis.exists(self.keys.lease(partition)))

    def mark_wake(self, partition: int, ttl_s: int = WAKE_TTL_S) -> bool:
        """True when no drain job was marked as queued for the partition (caller enqueues one)."""
        return bool(self.redis.set(self.keys.wake(partition), "1", nx=True, ex=ttl_s))

    def wake_age(self, partition: int, ttl_s: int = WAKE_TTL_S) -> float:
        """Seconds since the wake mark was set (0 when there is none)."""
        remaining = self.redis.ttl(self.keys.wake(partition))
        return 0.0 if remaining is None or remaining < 0 else float(ttl_s - remaining)

    def record_batch(self, size: int, seconds: float) -> None:
        """Counters of one scored batch, for health and metrics (fields named in ``app.metrics``)."""
        from ..metrics import batch_size_field

        pipe = self.redis.pipeline(transaction=False)
        pipe.hincrby(self.keys.stats(), "batches", 1)
        pipe.hincrby(self.keys.stats(), "scored_entries", size)
        pipe.hincrby(self.keys.stats(), batch_size_field(size), 1)
        pipe.hincrbyfloat(self.keys.stats(), "batch_seconds", round(seconds, 6))
        pipe.execute()

    def clear_wake(self, partition: int) -> None:
        self.redis.delete(self.keys.wake(partition))

    # --- scoring reads and writes ---------------------------------------------------------
    def read_for_scoring(self, batch: dict[str, list[str]]) -> dict[str, tuple[dict, list]]:
        """For each contact: its fold states (with ``_rev``) and which of ``keys`` its timeline has.

        read_batch.lua carries SCRIPT_CONTACTS contacts per call on one Redis, one on a cluster.
        """
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        contact_ids = list(batch)
        calls = []
        for start in range(0, len(contact_ids), per_call):
            chunk = contact_ids[start:start + per_call]
            keys = [key for cid in chunk for key in (self.keys.states(cid), self.keys.timeline(cid))]
            calls.append((keys, [dumps([batch[cid] for cid in chunk])]))
        out = {}
        replies = iter(reply for chunk in run_scripts(self.redis, self._read_batch, calls) for reply in chunk)
        for contact_id, (flat, present) in zip(contact_ids, replies):
            out[contact_id] = (dict(zip(flat[::2], flat[1::2])), present)
        return out

    def read_timelines(self, contact_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.timeline(contact_id))
        return {cid: [timeline_record(key, loads(v)) for key, v in fields.items()]
                for cid, fields in zip(contact_ids, pipe.execute())}

    def read_states(self, contact_ids: Sequence[str]) -> dict[str, dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.hgetall(self.keys.states(contact_id))
        return dict(zip(contact_ids, pipe.execute()))

    def apply_many(self, writes: Sequence[dict[str, Any]]) -> list[int]:
        """Write scored contacts with apply_batch.lua; 0 marks a contact that lost a race.

        On one Redis a call carries SCRIPT_CONTACTS contacts; on a cluster, one contact (its keys
        share one slot), pipelined per node.
        """
        per_call = SCRIPT_CONTACTS if self.single_node else 1
        calls = []
        for start in range(0, len(writes), per_call):
            keys: list[str] = []
            payloads = []
            for w in writes[start:start + per_call]:
                cid = w["contact_id"]
                keys += (self.keys.timeline(cid), self.keys.states(cid), self.keys.outbox(cid), self.keys.contact(cid))
                keys += [self.keys.ledger(cid, p, v) for p, v in w["ledger_keys"]]
                payloads.append({"rev": w["rev"], "n": len(w["ledger_keys"]), "timeline": w["timeline"] or {},
                                 "states": w["states"] or {}, "drop": w["drop"], "ledgers": w["ledgers"],
                                 "outbox": w["outbox"], "doc": w["doc"] or {}})
            calls.append((keys, [dumps({"ledger_max": self.ledger_max, "writes": payloads})]))
        return [int(x) for chunk in run_scripts(self.redis, self._apply_batch, calls) for x in chunk]

    def run_scripts(self, script: Any, calls: Sequence[tuple[list[str], list[Any]]]) -> list[Any]:
        return run_scripts(self.redis, script, calls)

    def update_indexes(self, scores: dict[tuple[str, int], dict[str, int | None]],
                       expiries: dict[str, int | None]) -> None:
        """Idempotent global index writes after contacts were written: scores and due expiries."""
        pipe = self.redis.pipeline(transaction=False)
        for (profile_id, version), members in scores.items():
            for bucket, ids in self.by_bucket(members).items():
                key = self.keys.score_index(profile_id, version, bucket)
                present = {cid: members[cid] for cid in ids if members[cid] is not None}
                absent = [cid for cid in ids if members[cid] is None]
                if present:
                    pipe.zadd(key, present)
                if absent:
                    pipe.zrem(key, *absent)
        for bucket, ids in self.by_bucket(expiries).items():
            due = {cid: expiries[cid] for cid in ids if expiries[cid] is not None}
            gone = [cid for cid in ids if expiries[cid] is None]
            if due:
                pipe.zadd(self.keys.expiries(bucket), due)
            if gone:
                pipe.zrem(self.keys.expiries(bucket), *gone)
        pipe.execute()

    def due_expiries(self, now_ms: int, count: int = 1000) -> list[str]:
        pipe = self.redis.pipeline(transaction=False)
        for bucket in range(self.buckets):
            pipe.zrangebyscore(self.keys.expiries(bucket), "-inf", now_ms, start=0, num=count)
        return [cid for ids in pipe.execute() for cid in ids]

    def forget_expiry(self, contact_id: str) -> None:
        self.redis.zrem(self.keys.expiries(self.bucket_of(contact_id)), contact_id)

    def score_indexes(self, profile_id: str, version: int) -> list[str]:
        return [self.keys.score_index(profile_id, version, b) for b in range(self.buckets)]

    def scores_of(self, profile_id: str, version: int) -> dict[str, int]:
        """Every contact's score in one version (for a publish that fires triggers)."""
        pipe = self.redis.pipeline(transaction=False)
        for key in self.score_indexes(profile_id, version):
            pipe.zrange(key, 0, -1, withscores=True)
        return {cid: int(score) for pairs in pipe.execute() for cid, score in pairs}

    def drop_score_index(self, profile_id: str, version: int) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key in self.score_indexes(profile_id, version):
            pipe.delete(key)
        pipe.execute()

    def ledger(self, contact_id: str, profile_id: str, version: int, start: int, count: int) -> list[dict]:
        raw = self.redis.lrange(self.keys.ledger(contact_id, profile_id, version), start, start + count - 1)
        return [ledger_entry(loads(x)) for x in raw]

    def drain_outbox(self, contact_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Read the pending outbox events of these contacts (removed by ``ack_outbox``)."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.lrange(self.keys.outbox(cid), 0, -1)
        return {cid: [loads(e) for e in events] for cid, events in zip(contact_ids, pipe.execute()) if events}

    def ack_outbox(self, counts: dict[str, int]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for cid, n in counts.items():
            pipe.ltrim(self.keys.outbox(cid), n, -1)
        pipe.execute()
