"""Changes to a contact made by people (API or dashboard) rather than by providers."""
from __future__ import annotations

import uuid
from typing import Any

from .ingest import ingest
from .scoring.interactions import Interaction, now_ms
from .services import Services


def set_dnd(services: Services, contact: dict[str, Any], channels: dict[str, bool]) -> None:
    """Switch DND channels: shown at once, and recorded as a ``contact.dnd_updated`` interaction
    so that rules can score it (the worker writes the same fields again when it scores it)."""
    if not channels:
        return
    interaction = Interaction(id=f"dnd-{uuid.uuid4().hex}", source="api", type="contact.dnd_updated",
                              occurred_at=now_ms(),
                              properties={"channels": channels, "all_channels": all(channels.values())},
                              email=contact["email"], external_id=contact["external_id"])
    ingest(services, [interaction])
    services.redis.hset(services.keys.contact(contact["id"]),
                        mapping={f"dnd:{ch}": "1" if on else "0" for ch, on in channels.items()})
