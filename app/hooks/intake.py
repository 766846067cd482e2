"""After a delivery verified and parsed: claim its replay token, link aliases, resolve, ingest.

This is the only part of the webhook path that touches the store, and it runs only once the
whole delivery was verified and parsed, so a rejected request leaves nothing behind.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from .. import metrics
from ..errors import SignatureError, ValidationError
from ..ingest import IngestResult, ingest
from ..interaction_schema import InvalidInteraction, load_interaction
from ..scoring.interactions import normalize_email
from ..services import Services
from .results import ParseResult

log = logging.getLogger(__name__)

#: How long a claimed replay token is remembered, in seconds (longer than any timestamp tolerance).
REPLAY_TOKEN_TTL_SECONDS = 24 * 3600


@dataclass(frozen=True)
class DeliveryResult:
    accepted: int
    duplicates: int
    skipped: int

    def to_json(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "skipped": self.skipped}


def deliver(services: Services, provider: str, result: ParseResult) -> DeliveryResult:
    """Store what the delivery says; a replayed token is refused, and released again on failure."""
    claimed = claim_replay_token(services, provider, result.replay_token)
    try:
        remember_aliases(services, result)
        resolve_awaiting(services, result)
        outcome: IngestResult = ingest(services, result.interactions)
    except BaseException:
        if claimed:
            services.throttles.release_token(provider, result.replay_token)
        raise
    record_skipped(services, provider, result)
    return DeliveryResult(outcome.accepted, outcome.duplicates, len(result.skipped))


def claim_replay_token(services: Services, provider: str, token: str | None) -> bool:
    """Claim the delivery's one-time token (True if it had one); a token seen before is a replay."""
    if token is None:
        return False
    if not services.throttles.claim_token(provider, token, REPLAY_TOKEN_TTL_SECONDS):
        raise SignatureError("This signature was already used (replayed delivery).")
    return True


def remember_aliases(services: Services, result: ParseResult) -> None:
    for alias in result.aliases:
        services.contacts.remember_alias(alias.kind, alias.value, normalize_email(alias.email))


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


def record_skipped(services: Services, provider: str, result: ParseResult) -> None:
    """Skipped events are logged with their reason and counted in the stats hash."""
    if not result.skipped:
        return
    for skipped in result.skipped:
        log.info(
            "webhook event skipped",
            extra={"provider": provider, "event": skipped.event, "reason": skipped.reason},
        )
    metrics.count_skipped(services, provider, len(result.skipped))
