"""After a delivery verified and parsed: find the contacts of events known by a customer id, then ingest
the interactions with the delivery's replay token, aliases and skipped count (``ingest``: one round trip for a
single webhook on a single Redis).

This is the only part of the webhook path that touches the store, and it runs only once the
whole delivery was verified and parsed, so a rejected request leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from ..errors import SignatureError, ValidationError
from ..ingest import DeliveryWrites, IngestResult, ingest
from ..interaction_schema import InvalidInteraction, load_interaction
from ..scoring.interactions import normalize_email
from ..services import Services
from .results import ParseResult

log = logging.getLogger(__name__)

#: How long a claimed replay token is remembered, in seconds (longer than any timestamp tolerance).
REPLAY_TOKEN_TTL_SECONDS = 24 * 3600


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class DeliveryResult:
    accepted: int
    duplicates: int
    skipped: int

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "skipped": self.skipped}


class StaleSecret(Exception):
    """The provider secret the delivery was verified with is no longer the stored one: nothing was stored, and the
    delivery is to be verified again with the current secret."""


def deliver(services: Services, provider: str, result: ParseResult,
            secret_digest: str | None = None) -> DeliveryResult:
    """Store what the delivery says, with its replay token and aliases (in one round trip where ``ingest`` can),
    provided the stored provider secret is still the one with ``secret_digest`` (None: not checked; else
    StaleSecret); a replayed token is refused and nothing is stored."""
    if result.awaiting:
        resolve_awaiting(services, result)
    aliases = tuple((alias.kind, alias.value, normalize_email(alias.email)) for alias in result.aliases) \
        if result.aliases else ()  # most deliveries link no customer: no generator made for none
    outcome: IngestResult = ingest(services, result.interactions, DeliveryWrites(
        provider, result.replay_token, REPLAY_TOKEN_TTL_SECONDS, aliases, len(result.skipped), secret_digest))
    if outcome.stale_secret:
        raise StaleSecret(provider)
    if outcome.replayed:
        raise SignatureError("This signature was already used (replayed delivery).")
    if result.skipped:
        log_skipped(provider, result)
    return DeliveryResult(outcome.accepted, outcome.duplicates, len(result.skipped))


def resolve_awaiting(services: Services, result: ParseResult) -> None:
    """Give each interaction known only by a customer id the email that id was linked to."""
    known = {(a.kind, a.value): a.email for a in result.aliases}
    for item in result.awaiting:
        email = known.get((item.kind, item.value)) or services.contacts.alias(item.kind, item.value)
        if not email:
            result.skip(
                item.raw.get("type"),
                item.raw.get("id"),
                f"no contact: {item.kind} customer {item.value} has no known email yet",
            )
            continue
        try:
            result.interactions.append(
                load_interaction({**item.raw, "contact": {"email": email}}, source=result.source)
            )
        except InvalidInteraction as exc:
            raise ValidationError(
                "The event could not be converted; see errors.", {str(item.raw.get("id")): exc.errors}
            ) from exc
    result.awaiting.clear()


def log_skipped(provider: str, result: ParseResult) -> None:
    """Skipped events are logged with their reason (``ingest`` counted them in the stats hash)."""
    for skipped in result.skipped:
        log.info(
            "webhook event skipped",
            extra={"provider": provider, "event": skipped.event, "reason": skipped.reason},
        )
