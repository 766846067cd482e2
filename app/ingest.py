"""Accepting interactions: resolve contacts, write durably, wake a worker. Nothing slow.

Once ``ingest`` returns, every accepted interaction is in its partition's Redis stream
and will be scored even if every worker dies and restarts.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from . import metrics
from .companies import place
from .scoring.interactions import Interaction
from .services import Services

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates}


def ingest(services: Services, interactions: Sequence[Interaction]) -> IngestResult:
    """Store already-validated interactions (all or, on a store error, an exception)."""
    if not interactions:
        return IngestResult(0, 0)
    relinked: list[str] = []
    contact_ids = services.contacts.resolve_contacts(interactions, relinked)
    if relinked:  # an email linked to a contact known by its external id: it may make its company now
        place(services, relinked)
    by_partition: dict[int, list[tuple[str, dict]]] = {}
    members: dict[int, list[Interaction]] = {}
    for interaction, contact_id in zip(interactions, contact_ids):
        payload = {"c": contact_id, "r": interaction.to_record().to_json()}
        if (attributes := interaction.attribute_record()) is not None:
            payload["a"] = attributes.to_json()  # the attributes it carries: their own record, scored with it
        partition = services.sharding.partition_of(contact_id)
        by_partition.setdefault(partition, []).append((interaction.key, payload))
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


def wake_partition(services: Services, partition: int, force: bool = False) -> None:
    """Make sure a drain job for the partition is queued (at most one at a time)."""
    if services.partitions.mark_wake(partition) or force:
        services.enqueue.drain_partition(partition)
