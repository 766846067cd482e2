"""Accepting interactions: resolve contacts, write durably, wake a worker. Nothing slow.

Once ``ingest`` returns, every accepted interaction is in its partition's Redis stream
and will be scored even if every worker dies and restarts.

Two paths store the same things. A request whose interactions all belong to one partition (a single webhook,
a small API request) is stored in **one round trip** on a single Redis: ``ingest_one_trip.lua`` claims the
delivery's replay token, resolves each contact from its identity keys (creating and linking it when new), queues
the new interactions and counts them, atomically (``PartitionQueue.accept``). Every other request — a batch over
several partitions, a score store on a Redis Cluster (where one script reaches one slot), or an interaction whose
identities name another contact than the one its email makes (an email linked to a contact first known by its
external id) — takes the steps one after another: claim the token, write the aliases, resolve the contacts
(``ContactStore.resolve_contacts``), append per partition (``ingest.lua``), count.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from . import metrics
from .companies import place
from .scoring.interactions import Interaction
from .scoring.records import record_json
from .services import Services
from .storage.contacts import IdentityPlan
from .storage.partitions import TripExtras, TripItem

log = logging.getLogger(__name__)

#: The most interactions a request may have to be stored in one script call: a bigger one (all in one
#: partition only when there are few partitions) takes the steps, so one call never holds Redis for long.
ONE_TRIP_MAX = 100


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class IngestResult:
    accepted: int
    duplicates: int
    #: The delivery's replay token was claimed before: nothing was stored.
    replayed: bool = False
    #: The provider secret the delivery was verified with is no longer the stored one: nothing was stored.
    stale_secret: bool = False

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates}


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class DeliveryWrites:
    """What a webhook delivery stores beside its interactions, with them (``app/hooks/intake.py``): its one-time
    replay token (claimed for ``token_ttl_s`` seconds; refused when claimed before), the provider customer ids it
    linked to emails (``(kind, value, email)``), how many of its events were skipped (counted); and the digest of
    the stored provider secret document it was verified with (``provider_secrets.StoredSecret``; None: not
    checked), which must still be the stored one."""

    provider: str
    replay_token: str | None = None
    token_ttl_s: int = 0
    aliases: Sequence[tuple[str, str, str]] = field(default_factory=tuple)
    skipped: int = 0
    secret_digest: str | None = None


def ingest(services: Services, interactions: Sequence[Interaction],
           delivery: DeliveryWrites | None = None) -> IngestResult:
    """Store already-validated interactions (all or, on a store error, an exception), and what ``delivery``
    adds; ``replayed`` (and nothing stored) when the delivery's token was claimed before."""
    if not interactions and (delivery is None or not (delivery.replay_token or delivery.aliases or delivery.skipped
                                                      or delivery.secret_digest is not None)):
        return IngestResult(0, 0)
    if services.partitions.one_trip and len(interactions) <= ONE_TRIP_MAX:
        contact_ids = [services.contacts.default_contact_id(i) for i in interactions]
        partitions = {services.sharding.partition_of(contact_id) for contact_id in contact_ids}
        if len(partitions) <= 1:
            result = _in_one_trip(services, interactions, delivery, min(partitions, default=0), contact_ids)
            if result is not None:
                return result
    return _in_steps(services, interactions, delivery)


def _in_one_trip(services: Services, interactions: Sequence[Interaction], delivery: DeliveryWrites | None,
                 partition: int, contact_ids: Sequence[str]) -> IngestResult | None:
    """One script call (two when an identity this process saw linked is new after all); None when an identity
    names another contact (nothing was written: take the steps). ``contact_ids``: each interaction's
    ``ContactStore.default_contact_id``."""
    now = time.time()
    plans = services.contacts.plan_identities(interactions, now, contact_ids=contact_ids)
    fields = _counter_fields(services, interactions)
    payloads = [_payload(i, plan.contact_id) for i, plan in zip(interactions, plans)]
    extras = _extras(services, delivery)
    outcome = services.partitions.accept(partition, _items(interactions, plans, fields, payloads), extras)
    if outcome.status == "unplanned":  # e.g. the contact was erased since: plan every identity's writes
        plans = services.contacts.plan_identities(interactions, now, remembered=False, contact_ids=contact_ids)
        outcome = services.partitions.accept(partition, _items(interactions, plans, fields, payloads), extras)
    if outcome.status == "ok":
        services.contacts.remember_linked(plans)
    if outcome.status == "moved":
        return None
    if outcome.status == "replayed":
        return IngestResult(0, 0, replayed=True)
    if outcome.status == "stale":
        return IngestResult(0, 0, stale_secret=True)
    if outcome.wake:  # the script marked the partition: queue its drain job
        services.enqueue.drain_partition(partition)
    accepted = sum(outcome.flags)
    return IngestResult(accepted, len(interactions) - accepted)


#: The counter fields (accepted, duplicate) of ``(source, type)`` pairs whose fields are theirs for good — a type
#: other than ``custom.*`` (a custom type's label depends on which custom types Redis admitted) — kept per process,
#: at most ``FIELDS_REMEMBERED`` (sources are the senders' names: the rest are computed each time).
_FIELDS: dict[tuple[str, str], tuple[str, str]] = {}
FIELDS_REMEMBERED = 1000


def _counter_fields(services: Services, interactions: Sequence[Interaction]) -> list[tuple[str, str]]:
    """``metrics.interaction_fields`` of the interactions, from ``_FIELDS`` when all are there."""
    kinds = [(i.source, i.type) for i in interactions]
    try:
        return [_FIELDS[kind] for kind in kinds]
    except KeyError:
        pass
    fields = metrics.interaction_fields(services, kinds)
    for kind, pair in zip(kinds, fields):
        if len(_FIELDS) < FIELDS_REMEMBERED and not kind[1].startswith("custom."):
            _FIELDS[kind] = pair
    return fields


def _items(interactions: Sequence[Interaction], plans: Sequence[IdentityPlan], fields: Sequence[tuple[str, str]],
           payloads: Sequence[dict]) -> list[TripItem]:
    return [TripItem(i.key, payload, accepted, duplicate, plan)
            for i, plan, (accepted, duplicate), payload in zip(interactions, plans, fields, payloads)]


def _extras(services: Services, delivery: DeliveryWrites | None) -> TripExtras:
    if delivery is None:
        return TripExtras()
    return TripExtras(
        secret_field=delivery.provider if delivery.secret_digest is not None else None,
        secret_digest=delivery.secret_digest or "",
        token_key=services.throttles.token_key(delivery.provider, delivery.replay_token)
        if delivery.replay_token is not None else None,
        token_ttl_s=delivery.token_ttl_s,
        writes=[services.contacts.alias_write(kind, value, email) for kind, value, email in delivery.aliases]
        if delivery.aliases else [],
        counts={metrics.skipped_field(delivery.provider): delivery.skipped} if delivery.skipped else {})


def _in_steps(services: Services, interactions: Sequence[Interaction],
              delivery: DeliveryWrites | None) -> IngestResult:
    """The multi-step path: the secret's check, the token, the aliases, the contacts, the streams, the counters,
    one after another (a claimed token is given back when storing fails)."""
    if delivery is not None and delivery.secret_digest is not None and \
            not services.provider_secrets.still_stored(delivery.provider, delivery.secret_digest):
        return IngestResult(0, 0, stale_secret=True)
    token = delivery.replay_token if delivery is not None else None
    if token is not None and not services.throttles.claim_token(delivery.provider, token, delivery.token_ttl_s):
        return IngestResult(0, 0, replayed=True)
    try:
        for kind, value, email in delivery.aliases if delivery is not None else ():
            services.contacts.remember_alias(kind, value, email)
        result = _append(services, interactions)
    except BaseException:
        if token is not None:
            services.throttles.release_token(delivery.provider, token)  # type: ignore[union-attr]
        raise
    if delivery is not None and delivery.skipped:
        metrics.count_skipped(services, delivery.provider, delivery.skipped)
    return result


def _append(services: Services, interactions: Sequence[Interaction]) -> IngestResult:
    if not interactions:
        return IngestResult(0, 0)
    relinked: list[str] = []
    contact_ids = services.contacts.resolve_contacts(interactions, relinked)
    if relinked:  # an email linked to a contact known by its external id: it may make its company now
        place(services, relinked)
    by_partition: dict[int, list[tuple[str, dict]]] = {}
    members: dict[int, list[Interaction]] = {}
    for interaction, contact_id in zip(interactions, contact_ids):
        partition = services.sharding.partition_of(contact_id)
        by_partition.setdefault(partition, []).append((interaction.key, _payload(interaction, contact_id)))
        members.setdefault(partition, []).append(interaction)
    accepted = 0
    outcomes: list[tuple[str, str, str]] = []
    for partition, (flags, wake) in services.partitions.append(by_partition).items():
        accepted += sum(flags)
        if wake:  # ingest.lua marked the partition: queue its drain job
            services.enqueue.drain_partition(partition)
        outcomes += [("accepted" if flag else "duplicate", i.source, i.type)
                     for flag, i in zip(flags, members[partition])]
    metrics.count_interactions(services, outcomes)
    return IngestResult(accepted, len(interactions) - accepted)


def _payload(interaction: Interaction, contact_id: str) -> dict:
    """The stream entry of an interaction: its contact, its record, and the attributes it carries (their own
    record, scored with it)."""
    payload = {"c": contact_id, "r": record_json(interaction.id, interaction.source, interaction.type,
                                                  interaction.occurred_at, interaction.properties)}
    if (attributes := interaction.attribute_record()) is not None:
        payload["a"] = attributes.to_json()
    return payload


def wake_partition(services: Services, partition: int, force: bool = False) -> None:
    """Make sure a drain job for the partition is queued (at most one at a time)."""
    if services.partitions.mark_wake(partition) or force:
        services.enqueue.drain_partition(partition)
