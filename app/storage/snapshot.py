"""Reading and writing a deployment's data whole, for backup and restore (app/backup.py owns the archive).

Only the sources of truth are read: documents (profiles and their versions, workflows, smart lists, runs,
deliveries, notifications and their read state, aliases, disabled endpoints), every contact's own keys, and the interactions still
waiting in the partitions. The global indexes (identities, the contact registry, tag members, score indexes,
due expiries, a workflow's run list, the delivery lists; search terms and latest activity, by app.indexes) are
derived from those and rebuilt on restore, so an
archive taken while the server runs never holds an index that disagrees with its contacts.

A contact is read consistently: all its keys (one cluster slot, ``{c:ID}``) in one transaction on a single
Redis, and on a cluster re-read until its fold-state revision ``_rev`` is the same before and after.
Values are kept as Redis holds them (strings), so a restore writes back exactly what was read.
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..keys import Keys
from ..scoring.fold import FoldState
from ..scoring.profiles import parse_version_field, version_field
from .contacts import EMAIL, EMAIL_BEFORE, ContactStore, compact_document, email_of, explicit_document
from .errors import InconsistentRead, gateway
from .profiles import ProfileStore
from .redis_tools import Sharding, get_many, loads, on_cluster
from .registry import created_of
from .score_index import ScoreIndex
from .activity import ACTIVITY_FIELD
from .timelines import PIECE_MARK, flat_pieces, hash_records, is_state_field, join_states, place_records, split_contact

#: Contacts read or written per round trip.
PAGE = 500
#: Reads per contact before its ledgers (see ``_queue_reads``).
READS = 7
#: Times a contact is re-read when it changed while being read, before giving up on consistency.
MAX_REREADS = 20


@dataclass
class ContactData:
    """One contact's own keys, as stored."""

    id: str
    doc: dict[str, str]
    tags: list[str] = field(default_factory=list)
    timeline: dict[str, str] = field(default_factory=dict)
    states: dict[str, str] = field(default_factory=dict)
    ledgers: dict[str, list[str]] = field(default_factory=dict)  # "PROFILE@VERSION" -> entries, newest first
    outbox: list[str] = field(default_factory=list)
    entered: list[str] = field(default_factory=list)
    #: The hot horizon's hash (``c``, ``a``, checkpoints), once older history left Redis.
    horizon: dict[str, str] = field(default_factory=dict)
    #: Records only the archive holds whole (they left the timeline, or its copy lacks properties: backup.py's
    #: ``with_history``), as ``TimelineRecord.to_json``, oldest first.
    archived: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "doc": self.doc, "tags": sorted(self.tags), "timeline": self.timeline,
               "states": self.states, "ledgers": self.ledgers, "outbox": self.outbox, "entered": sorted(self.entered)}
        if self.horizon:
            out["horizon"] = self.horizon
        if self.archived:
            out["archived"] = self.archived
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContactData:
        return cls(data["id"], dict(data["doc"]), list(data.get("tags") or []), dict(data.get("timeline") or {}),
                   dict(data.get("states") or {}), {k: list(v) for k, v in (data.get("ledgers") or {}).items()},
                   list(data.get("outbox") or []), list(data.get("entered") or []), dict(data.get("horizon") or {}),
                   list(data.get("archived") or []))


@gateway
class SnapshotGateway:
    """Whole-deployment reads (export) and writes (import into an empty deployment)."""

    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, contacts: ContactStore, scores: ScoreIndex):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        self.contacts_store = contacts
        self.scores = scores
        #: One Redis (not a cluster): a page of contacts is read in one transaction.
        self.single_node = not on_cluster(redis)

    # --- export ------------------------------------------------------------------------------
    def is_empty(self) -> bool:
        """Whether no key of this workspace's prefix exists (other workspaces' keys, ``PREFIX:w:ID:...``, are not
        this one's; nor are the live processes' announcements, ``Keys.processes``: a restore's own, a web
        process's)."""
        others, processes = f"{self.keys.prefix}:w:", self.keys.processes()
        return next((key for key in self.redis.scan_iter(match=f"{self.keys.prefix}:*", count=1000)
                     if not key.startswith(others) and not key.startswith(processes)), None) is None

    def contact_count(self) -> int:
        return self.contacts_store.contact_count()

    def contacts(self) -> Iterator[list[ContactData]]:
        """Every contact, a page at a time, each read consistently."""
        for page in self.contacts_store.contact_pages(PAGE):
            yield self._read_page(page) if self.single_node else [self.read_contact(cid) for cid in page]

    def _read_page(self, ids: Sequence[str]) -> list[ContactData]:
        """A page of contacts in one transaction; read again if a fold-state version came or went meanwhile."""
        fields = self._state_fields(ids)
        for _ in range(MAX_REREADS):
            pipe = self.redis.pipeline(transaction=True)
            for cid in ids:
                self._queue_reads(pipe, cid, fields[cid])
            replies = pipe.execute()
            out, offset, stale = [], 0, False
            for cid in ids:
                size = READS + len(fields[cid])
                contact = self._assemble(cid, fields[cid], replies[offset:offset + size], self.company_compact)
                offset += size
                now = [f for f in contact.states if f != "_rev" and PIECE_MARK not in f]
                if set(now) != set(fields[cid]):
                    stale, fields[cid] = True, now
                out.append(contact)
            if not stale:
                return out
        raise InconsistentRead(f"contacts {list(ids)[:3]}... kept changing while they were read")

    def read_contact(self, cid: str) -> ContactData:
        """One contact, read until nothing changed while it was read (a cluster has no multi-slot MULTI)."""
        for _ in range(MAX_REREADS):
            fields = self._state_fields([cid])[cid]
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.keys.contact(cid), "_rev")  # a write that moved records out of the hash moved it
            self._queue_reads(pipe, cid, fields)
            pipe.hget(self.keys.states_before(cid), "_rev")
            pipe.hget(self.keys.contact(cid), "_rev")
            rev_first, *replies, rev_before, rev_now = pipe.execute()
            rev_after = rev_before if rev_before is not None else rev_now
            contact = self._assemble(cid, fields, replies, self.company_compact)
            if contact.states.get("_rev") == rev_after and rev_first == rev_now and \
                    {f for f in contact.states if PIECE_MARK not in f} - {"_rev"} == set(fields):
                return contact
        raise InconsistentRead(f"contact {cid} kept changing while it was read")

    def _state_fields(self, ids: Sequence[str]) -> dict[str, list[str]]:
        pipe = self.redis.pipeline(transaction=False)
        for cid in ids:
            pipe.hkeys(self.keys.contact(cid))
            pipe.hkeys(self.keys.states_before(cid))
        replies = pipe.execute()
        return {cid: [f for f in (replies[2 * i + 1] or replies[2 * i])
                      if f != "_rev" and PIECE_MARK not in f and is_state_field(f)]
                for i, cid in enumerate(ids)}

    def _queue_reads(self, pipe: Any, cid: str, fields: Sequence[str]) -> None:
        pipe.hgetall(self.keys.timeline(cid))  # before the contact's hash, which a record only moves into
        pipe.hgetall(self.keys.contact(cid))  # (TimelineStore.stored_timelines: else a move between is in neither)
        pipe.smembers(self.keys.tags(cid))
        pipe.hgetall(self.keys.states_before(cid))  # the states while it exists, else those of the contact's hash
        pipe.lrange(self.keys.outbox(cid), 0, -1)
        pipe.smembers(self.keys.workflow_entered(cid))
        pipe.hgetall(self.keys.horizon(cid))
        for vfield in fields:
            profile_id, version = parse_version_field(vfield)
            pipe.lrange(self.keys.ledger(cid, profile_id, version), 0, -1)

    def company_compact(self) -> bool:
        return self.contacts_store.company_compact_now()

    @staticmethod
    def _assemble(cid: str, fields: Sequence[str], replies: Sequence[Any], compact: Any) -> ContactData:
        """A contact as a backup holds it: its document as releases before stored it (``explicit_document``)."""
        timeline, stored, tags, before, outbox, entered, horizon, *ledgers = replies[:READS + len(fields)]
        doc, states = split_contact(stored, before)
        doc = explicit_document(cid, doc, compact)
        timeline = {**hash_records(stored), **timeline}  # the records of its hash, and of its timeline hash
        return ContactData(cid, doc, list(tags), timeline, states,
                           {f: entries for f, entries in zip(fields, ledgers, strict=True) if entries},
                           list(outbox), list(entered), horizon)

    def documents(self) -> dict[str, Any]:
        """Profiles (with every stored version; the deleted ones' last version numbers), workflows, smart lists,
        grades, API keys (their hashes) and last uses, users (their password hashes), provider secrets (as stored:
        encrypted when SECRETS_KEY is set), aliases, disabled endpoints."""
        profiles = self.redis.hgetall(self.keys.profiles())
        version_keys = [(pid, v) for pid, raw in profiles.items()
                        for v in ProfileStore.version_numbers(loads(raw))]
        versions = get_many(self.redis, [self.keys.profile_version(p, v) for p, v in version_keys])
        aliases = {}
        alias_keys = list(self.redis.scan_iter(match=f"{self.keys.prefix}:alias:*", count=1000))
        for key, value in zip(alias_keys, get_many(self.redis, alias_keys), strict=True):
            if value is not None:
                aliases[key[len(f"{self.keys.prefix}:alias:"):]] = value
        return {
            "profiles": profiles,
            "profile_versions": {version_field(p, v): raw for (p, v), raw in zip(version_keys, versions, strict=True) if raw},
            "profile_seq": self.redis.get(self.keys.profile_seq()),
            "deleted_profiles": self.redis.hgetall(self.keys.deleted_profiles()),
            "workflows": self.redis.hgetall(self.keys.workflows()),
            "smart_lists": self.redis.hgetall(self.keys.smart_lists()),
            "grades": self.redis.hgetall(self.keys.grades()),
            "api_keys": self.redis.hgetall(self.keys.api_keys()),
            "api_keys_used": self.redis.hgetall(self.keys.api_keys_used()),
            "users": self.redis.hgetall(self.keys.users()),
            "provider_secrets": self.redis.hgetall(self.keys.provider_secrets()),
            "aliases": aliases,
            "disabled_endpoints": self.redis.hgetall(self.keys.disabled_endpoints()),
            "inbox": {"unread": self.redis.get(self.keys.notifications_unread()),
                      "read_before": self.redis.get(self.keys.notifications_read_before()),
                      "read": sorted(self.redis.smembers(self.keys.notifications_read()))},
        }

    def runs(self) -> Iterator[list[str]]:
        """Every workflow run document, a page at a time."""
        for index_key in self.redis.scan_iter(match=self.keys.workflow_runs("*"), count=1000):
            start = 0
            while ids := self.redis.zrange(index_key, start, start + PAGE - 1):
                yield [raw for raw in get_many(self.redis, [self.keys.run(i) for i in ids]) if raw]
                start += len(ids)

    def deliveries(self) -> Iterator[list[str]]:
        """Every webhook delivery document (dead letters included), a page at a time."""
        start = 0
        while ids := self.redis.zrange(self.keys.deliveries(), start, start + PAGE - 1):
            yield [raw for raw in get_many(self.redis, [self.keys.delivery(i) for i in ids]) if raw]
            start += len(ids)

    def audit(self) -> Iterator[list[list[str]]]:
        """The audit trail, oldest first, a page of ``[id, entry JSON]`` at a time."""
        after = "-"
        while entries := self.redis.xrange(self.keys.audit(), after, "+", count=PAGE):
            yield [[entry_id, fields["e"]] for entry_id, fields in entries]
            after = f"({entries[-1][0]}"

    def notifications(self) -> list[str]:
        """The inbox, newest first."""
        return self.redis.lrange(self.keys.notifications(), 0, -1)

    def pending(self) -> Iterator[list[dict[str, str]]]:
        """Interactions accepted but not scored yet (each ``{"k": key, "d": payload}``), per partition."""
        for partition in range(self.sharding.partitions):
            entries = self.redis.xrange(self.keys.stream(partition), "-", "+")
            items = [dict(fields) for _id, fields in entries if "tick" not in loads(fields["d"])]
            if items:
                yield items

    # --- import ------------------------------------------------------------------------------
    def write_documents(self, docs: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for key, mapping in ((self.keys.profiles(), docs["profiles"]), (self.keys.workflows(), docs["workflows"]),
                             (self.keys.smart_lists(), docs["smart_lists"]), (self.keys.grades(), docs.get("grades")),
                             (self.keys.api_keys(), docs.get("api_keys")),
                             (self.keys.api_keys_used(), docs.get("api_keys_used")),
                             (self.keys.users(), docs.get("users")),
                             (self.keys.deleted_profiles(), docs.get("deleted_profiles")),
                             (self.keys.provider_secrets(), docs.get("provider_secrets")),
                             (self.keys.disabled_endpoints(), docs["disabled_endpoints"])):
            if mapping:
                pipe.hset(key, mapping=mapping)
        for vfield, raw in docs["profile_versions"].items():
            profile_id, version = parse_version_field(vfield)
            pipe.set(self.keys.profile_version(profile_id, version), raw)
        if docs.get("profile_seq") is not None:
            pipe.set(self.keys.profile_seq(), docs["profile_seq"])
        for name, email in docs["aliases"].items():
            kind, _, value = name.partition(":")
            pipe.set(self.keys.alias(kind, value), email)
        inbox = docs.get("inbox") or {}  # archives made before the inbox had a read state have none
        for key, value in ((self.keys.notifications_unread(), inbox.get("unread")),
                           (self.keys.notifications_read_before(), inbox.get("read_before"))):
            if value is not None:
                pipe.set(key, value)
        if inbox.get("read"):
            pipe.sadd(self.keys.notifications_read(), *inbox["read"])
        pipe.execute()
        if docs["workflows"]:
            self.redis.set(self.keys.workflows_rev(), uuid.uuid4().hex)

    def write_contacts(self, contacts: Sequence[ContactData], active: set[str]) -> None:
        """Write contacts' own keys, then rebuild what indexes them (identities, registry, tags, scores of the
        ``active`` versions "PROFILE@VERSION", due expiries)."""
        pipe = self.redis.pipeline(transaction=False)
        scores: dict[tuple[str, int], dict[str, int | None]] = {}
        expiries: dict[str, int | None] = {}
        for contact in contacts:
            cid = contact.id
            # the document, the fold states and the timeline share the contact's hash, each state in pieces short
            # enough for its compact encoding (an archive of a release before may hold one whole), the records that
            # do not fit in the contact's timeline hash (place_records), as the scorer writes them
            doc = compact_document(cid, contact.doc, self.contacts_store.company_compact(),
                                   self.contacts_store.created_short(), self.contacts_store.email_short())
            own = {**doc, **flat_pieces(join_states(contact.states))}
            if any(f != "_rev" for f in contact.states):  # no activity until the backfill raises it from the
                own[ACTIVITY_FIELD] = ""  # timeline: not what the states derive (storage/activity.py)
            records, apart = place_records(len(own), contact.timeline)
            if own or records:
                pipe.hset(self.keys.contact(cid), mapping={**own, **records})
            if contact.tags:
                pipe.sadd(self.keys.tags(cid), *contact.tags)
            if apart:
                pipe.hset(self.keys.timeline(cid), mapping=apart)
            for vfield, entries in contact.ledgers.items():
                profile_id, version = parse_version_field(vfield)
                pipe.rpush(self.keys.ledger(cid, profile_id, version), *entries)
            if contact.outbox:
                pipe.rpush(self.keys.outbox(cid), *contact.outbox)
            if contact.entered:
                pipe.sadd(self.keys.workflow_entered(cid), *contact.entered)
            if contact.horizon:
                pipe.hset(self.keys.horizon(cid), mapping=contact.horizon)
            # --- derived: identities, the registry, tag members
            email = email_of(cid, contact.doc.get(EMAIL), contact.doc.get(EMAIL_BEFORE))
            for kind, value in (("email", email), ("ext", contact.doc.get("external_id"))):
                if value:
                    pipe.set(self.keys.identity(kind, value), cid)
            bucket = self.sharding.bucket_of(cid)
            created_ms = created_of(contact.doc) or 0
            self.contacts_store.registry.new_contact(pipe, cid, created_ms / 1000, created_ms)
            for tag in contact.tags:
                pipe.sadd(self.keys.tag_members(tag, bucket), cid)
            # --- derived: score indexes and the next due expiry, from the fold states
            next_expiry = None
            for vfield, raw in join_states(contact.states).items():
                if vfield == "_rev" or vfield not in active:
                    continue
                state = FoldState.from_json(loads(raw))
                profile_id, version = parse_version_field(vfield)
                scores.setdefault((profile_id, version), {})[cid] = state.score
                due = state.next_expiry()
                if due is not None and (next_expiry is None or due < next_expiry):
                    next_expiry = due
            if next_expiry is not None:
                expiries[cid] = next_expiry
        pipe.execute()
        self.scores.update_indexes(scores, expiries)

    def write_runs(self, runs: Sequence[str]) -> None:
        """Run documents, with their workflow's run list and their claims (a replayed change starts none)."""
        pipe = self.redis.pipeline(transaction=False)
        for raw in runs:
            run = loads(raw)
            pipe.set(self.keys.run(run["id"]), raw)
            pipe.zadd(self.keys.workflow_runs(run["workflow"]["id"]), {run["id"]: run["created_at"]})
            pipe.set(self.keys.run_claim(run["contact_id"], run["id"]), run["workflow"]["id"])
        pipe.execute()

    def write_deliveries(self, deliveries: Sequence[str]) -> None:
        pipe = self.redis.pipeline(transaction=False)
        for raw in deliveries:
            delivery = loads(raw)
            pipe.set(self.keys.delivery(delivery["id"]), raw)
            pipe.zadd(self.keys.deliveries(), {delivery["id"]: delivery["created_at"]})
            if delivery.get("status") == "dead":
                pipe.zadd(self.keys.dead_letters(), {delivery["id"]: delivery["updated_at"]})
        pipe.execute()

    def write_audit(self, entries: Sequence[Sequence[str]]) -> None:
        """Append audit entries with their original ids (oldest first, as ``audit`` reads them)."""
        pipe = self.redis.pipeline(transaction=False)
        for entry_id, raw in entries:
            pipe.xadd(self.keys.audit(), {"e": raw}, id=entry_id)
        pipe.execute()

    def write_notifications(self, newest_first: Sequence[str]) -> None:
        if newest_first:
            self.redis.rpush(self.keys.notifications(), *newest_first)

    def write_pending(self, items: Sequence[dict[str, str]]) -> None:
        """Queue interactions again into their contact's partition (scored by the next drain; a repeat of one
        already in a timeline is recognised there)."""
        pipe = self.redis.pipeline(transaction=False)
        for item in items:
            partition = self.sharding.partition_of(loads(item["d"])["c"])
            pipe.xadd(self.keys.stream(partition), {"k": item["k"], "d": item["d"]})
        pipe.execute()
