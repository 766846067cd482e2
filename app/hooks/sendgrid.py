"""SendGrid Event Webhook (Twilio SendGrid), signed with ECDSA P-256.

Signature: base64 DER ECDSA/SHA-256 over ``timestamp + raw body`` in
``X-Twilio-Email-Event-Webhook-Signature``, the timestamp in ``...-Timestamp``; the secret
is the verification key SendGrid shows (base64 DER public key). The body is a JSON array of events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ..errors import SignatureError, ValidationError
from . import signing
from .results import ParseResult, from_epoch_seconds, interaction, require

NAME = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
#: Accepted clock difference between SendGrid's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 300

#: SendGrid event -> core type. ``bounce`` covers ``type: blocked`` too (flagged ``blocked``).
TYPES = {
    "delivered": "email.delivered",
    "open": "email.opened",
    "click": "email.clicked",
    "bounce": "email.bounced",
    "unsubscribe": "email.unsubscribed",
    "group_unsubscribe": "email.unsubscribed",
    "spamreport": "email.spam_reported",
}


def load_public_key(secret: str) -> ec.EllipticCurvePublicKey:
    key_bytes = signing.decode_base64(secret)
    try:
        key = load_der_public_key(key_bytes or b"")
    except ValueError as exc:
        raise SignatureError(
            "The configured SendGrid verification key is not a base64 DER public key."
        ) from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise SignatureError("The configured SendGrid verification key is not an ECDSA key.")
    return key


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    signature = signing.decode_base64(signing.header(headers, SIGNATURE_HEADER))
    timestamp = signing.header(headers, TIMESTAMP_HEADER)
    if signature is None:
        raise SignatureError("The signature is not base64.")
    try:
        load_public_key(secret).verify(signature, timestamp.encode() + raw, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise SignatureError("The signature does not match.") from exc
    signing.check_timestamp(timestamp, now, TOLERANCE_SECONDS)


def parse(payload: Any, source: str = NAME) -> ParseResult:
    if not isinstance(payload, list):
        raise ValidationError("A SendGrid delivery is a JSON array of events.", {"_body": "must be an array"})
    result = ParseResult(source)
    for index, event in enumerate(payload):
        where = f"[{index}]"
        kind = require(event, "event", where)
        event_id = require(event, "sg_event_id", where)
        type_ = TYPES.get(kind)
        if type_ is None:
            result.skip(kind, event_id, "event type not scored")
            continue
        properties: dict[str, Any] = {
            "message_id": event.get("sg_message_id"),
            "category": event.get("category"),
        }
        if kind == "open":
            properties["machine_open"] = bool(event.get("sg_machine_open", False))
        elif kind == "click":
            properties["url"] = event.get("url")
        elif kind == "bounce":
            properties["bounce_type"] = event.get("type") or "bounce"
            properties["blocked"] = event.get("type") == "blocked"
            properties["reason"] = event.get("reason")
            properties["status"] = event.get("status")
            properties["classification"] = event.get("bounce_classification")
        elif kind == "group_unsubscribe":
            properties["group_id"] = event.get("asm_group_id")
        occurred_at = from_epoch_seconds(require(event, "timestamp", where), f"{where}.timestamp")
        result.add(interaction(str(event_id), type_, event.get("email"), occurred_at, properties))
    return result
