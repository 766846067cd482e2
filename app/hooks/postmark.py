"""Postmark webhooks. Postmark does not sign them: the URL carries HTTP Basic credentials.

The secret is ``user:password``; paste ``https://user:password@host/hooks/postmark`` in Postmark.
One JSON object per delivery, told apart by ``RecordType``. Only Bounce and SpamComplaint carry
an ``ID``; the other records get a stable id from the message, recipient and their own time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SignatureError
from . import signing
from .results import ParseResult, from_rfc3339, interaction, require, require_object

NAME = "postmark"
#: Bounce types after which Postmark stops sending to the address.
PERMANENT_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated", "Blocked"})


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    value = signing.header(headers, "Authorization")
    scheme, _, encoded = value.partition(" ")
    credentials = signing.decode_base64(encoded) if scheme.lower() == "basic" else None
    if credentials is None:
        raise SignatureError("Postmark deliveries need HTTP Basic credentials.")
    signing.require_match(secret.encode(), [credentials])


def parse(payload: Any, source: str = NAME) -> ParseResult:
    record = require_object(payload, "_body")
    kind = require(record, "RecordType", "_body")
    message_id = record.get("MessageID")
    recipient = record.get("Recipient") or record.get("Email")
    result = ParseResult(source)
    base = {"message_id": message_id, "tag": record.get("Tag") or None, "stream": record.get("MessageStream")}
    if kind == "Open":
        at = require(record, "ReceivedAt", "_body")
        event_id = f"open:{require(record, 'MessageID', '_body')}:{recipient}:{at}"
        result.add(
            interaction(
                event_id,
                "email.opened",
                recipient,
                from_rfc3339(at, "ReceivedAt"),
                {**base, "first_open": record.get("FirstOpen")},
            )
        )
    elif kind == "Click":
        at = require(record, "ReceivedAt", "_body")
        link = record.get("OriginalLink")
        event_id = f"click:{require(record, 'MessageID', '_body')}:{recipient}:{at}:{link}"
        result.add(
            interaction(
                event_id, "email.clicked", recipient, from_rfc3339(at, "ReceivedAt"), {**base, "url": link}
            )
        )
    elif kind == "Delivery":
        at = require(record, "DeliveredAt", "_body")
        event_id = f"delivery:{require(record, 'MessageID', '_body')}:{recipient}"
        result.add(interaction(event_id, "email.delivered", recipient, from_rfc3339(at, "DeliveredAt"), base))
    elif kind == "Bounce":
        bounce_type = record.get("Type")
        result.add(
            interaction(
                f"bounce:{require(record, 'ID', '_body')}",
                "email.bounced",
                recipient,
                from_rfc3339(require(record, "BouncedAt", "_body"), "BouncedAt"),
                {
                    **base,
                    "bounce_type": bounce_type,
                    "reason": record.get("Description"),
                    "permanent": bounce_type in PERMANENT_BOUNCES or bool(record.get("Inactive")),
                },
            )
        )
    elif kind == "SpamComplaint":
        result.add(
            interaction(
                f"spam:{require(record, 'ID', '_body')}",
                "email.spam_reported",
                recipient,
                from_rfc3339(require(record, "BouncedAt", "_body"), "BouncedAt"),
                base,
            )
        )
    elif kind == "SubscriptionChange":
        at = require(record, "ChangedAt", "_body")
        event_id = f"subscription:{record.get('MessageID')}:{recipient}:{at}"
        if not record.get("SuppressSending"):
            result.skip(kind, event_id, "suppression lifted: not scored")
        else:
            result.add(
                interaction(
                    event_id,
                    "email.unsubscribed",
                    recipient,
                    from_rfc3339(at, "ChangedAt"),
                    {**base, "reason": record.get("SuppressionReason"), "origin": record.get("Origin")},
                )
            )
    else:
        result.skip(kind, message_id, "record type not scored")
    return result
