"""Standard Webhooks (standardwebhooks.com) for any system that sends core-format interactions.

``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64
HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``, key from the ``whsec_`` secret), within five
minutes. The signature is computed by the official ``standardwebhooks`` package. The body is one
interaction or ``{"interactions": [...]}`` in the core format; the URL's ``{source}`` is their source.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from standardwebhooks.webhooks import Webhook

from ..errors import SignatureError, ValidationError
from ..scoring.interactions import InvalidInteraction, parse_interaction
from . import signing
from .results import ParseResult

NAME = "standard"
#: Accepted clock difference between the sender's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 300
#: Most interactions accepted in one delivery.
MAX_INTERACTIONS = 1000


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    msg_id = signing.header(headers, "webhook-id")
    timestamp = signing.header(headers, "webhook-timestamp")
    signatures = signing.header(headers, "webhook-signature")
    seconds = signing.check_timestamp(timestamp, now, TOLERANCE_SECONDS)
    try:
        signer = Webhook(secret)
        data = raw.decode("utf-8")
    except (ValueError, binascii.Error) as exc:  # a bad secret, or a body that is not UTF-8
        raise SignatureError("The delivery cannot be verified.") from exc
    expected = signer.sign(msg_id, datetime.fromtimestamp(seconds, tz=timezone.utc), data).partition(",")[2]
    given = [sig for version, _, sig in (s.partition(",") for s in signatures.split()) if version == "v1"]
    signing.require_match(signing.decode_base64(expected) or b"", (signing.decode_base64(s) for s in given))


def parse(payload: Any, source: str = NAME) -> ParseResult:
    if isinstance(payload, dict) and set(payload) == {"interactions"}:
        items = payload["interactions"]
        if not isinstance(items, list):
            raise ValidationError("'interactions' must be a list.", {"interactions": "must be a list"})
    else:
        items = [payload]
    if len(items) > MAX_INTERACTIONS:
        raise ValidationError(
            f"At most {MAX_INTERACTIONS} interactions per delivery.",
            {"interactions": f"at most {MAX_INTERACTIONS}"},
        )
    result = ParseResult(source)
    errors: dict[int, Any] = {}
    for index, item in enumerate(items):
        if isinstance(item, dict) and item.get("source", source) != source:
            errors[index] = {"source": f"must be {source!r}, the source in the URL, or left out"}
            continue
        try:
            result.interactions.append(parse_interaction(item, source=source))
        except InvalidInteraction as exc:
            errors[index] = exc.errors
    if errors:
        raise ValidationError(
            f"{len(errors)} of {len(items)} interactions are invalid; nothing was stored.",
            {"interactions": errors},
        )
    return result
