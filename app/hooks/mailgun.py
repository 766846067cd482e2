"""Mailgun webhooks: the signature travels in the JSON body, beside ``event-data``.

``{"signature": {"timestamp", "token", "signature"}, "event-data": {...}}``; the signature is
the hex HMAC-SHA256 of ``timestamp + token`` with the webhook signing key (a subaccount's
``parent-signature`` with the same key is accepted too). It does not cover ``event-data``, so
the token is single-use: the view refuses a token it has seen (``ParseResult.replay_token``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from ..errors import SignatureError
from . import signing
from .results import ParseResult, from_epoch_seconds, interaction, require, require_object

NAME = "mailgun"
#: Accepted clock difference between Mailgun's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 300

TYPES = {
    "delivered": "email.delivered",
    "opened": "email.opened",
    "clicked": "email.clicked",
    "failed": "email.bounced",  # only with severity "permanent"
    "unsubscribed": "email.unsubscribed",
    "complained": "email.spam_reported",
}


def signature_block(raw: bytes) -> Mapping[str, Any]:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise SignatureError("No Mailgun signature: the body is not JSON.") from exc
    block = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(block, dict):
        raise SignatureError("No Mailgun signature in the body.")
    return block


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    block = signature_block(raw)
    timestamp, token = block.get("timestamp"), block.get("token")
    if not isinstance(token, str) or not token or timestamp is None or not block.get("signature"):
        raise SignatureError("The Mailgun signature needs timestamp, token and signature.")
    expected = signing.hmac_sha256(secret.encode(), f"{timestamp}{token}".encode())
    candidates = [block.get("signature"), block.get("parent-signature")]
    signing.require_match(expected, (signing.decode_hex(c) for c in candidates if isinstance(c, str)))
    signing.check_timestamp(timestamp, now, TOLERANCE_SECONDS)


def parse(payload: Any, source: str = NAME) -> ParseResult:
    body = require_object(payload, "_body")
    event = require_object(require(body, "event-data", "_body", structured=True), "event-data")
    signature = body.get("signature") if isinstance(body.get("signature"), dict) else {}
    result = ParseResult(source, replay_token=signature.get("token"))  # present once verify() passed
    kind = require(event, "event", "event-data")
    event_id = require(event, "id", "event-data")
    type_ = TYPES.get(kind)
    if type_ is None:
        result.skip(kind, event_id, "event type not scored")
        return result
    if kind == "failed" and event.get("severity") != "permanent":
        result.skip(kind, event_id, "temporary failure: Mailgun retries it")
        return result
    message = event.get("message") if isinstance(event.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    status = event.get("delivery-status") if isinstance(event.get("delivery-status"), dict) else {}
    properties = {
        "message_id": headers.get("message-id"),
        "tags": event.get("tags") or None,
        "url": event.get("url") if kind == "clicked" else None,
        "reason": event.get("reason") if kind == "failed" else None,
        "status": status.get("code") if kind == "failed" else None,
    }
    occurred_at = from_epoch_seconds(require(event, "timestamp", "event-data"), "event-data.timestamp")
    result.add(interaction(str(event_id), type_, event.get("recipient"), occurred_at, properties))
    return result
