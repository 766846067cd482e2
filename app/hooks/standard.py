"""Standard Webhooks (standardwebhooks.com) for any system that sends core-format interactions.

``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` + base64
HMAC-SHA256 of ``"{id}.{timestamp}.{body}"``, key from the ``whsec_`` secret), within five
minutes; Svix's default names ``svix-id``, ``svix-timestamp``, ``svix-signature`` are accepted too.
Verification is the official ``standardwebhooks`` package's ``Webhook.verify``. The body is one
interaction or ``{"interactions": [...]}`` in the core format; the URL's ``{source}`` is their source.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from ..errors import SignatureError
from ..interaction_schema import load_items
from . import signing
from .results import ParseResult

NAME = "standard"
#: Accepted clock difference between the sender's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 300
#: Most interactions accepted in one delivery.
MAX_INTERACTIONS = 1000


#: The three signed headers; Svix sends them as ``svix-*`` by default (``webhook-*`` is its white-label option).
HEADER_PARTS = ("id", "timestamp", "signature")


class _Verifier(Webhook):
    """The official verifier, reading the time window against the caller's clock (``now``)."""

    def __init__(self, secret: str, now: float):
        super().__init__(secret)
        self._now = now

    def _Webhook__verify_timestamp(self, timestamp_header: str) -> datetime:  # the library's private hook
        seconds = signing.check_timestamp(timestamp_header, self._now, TOLERANCE_SECONDS)
        return datetime.fromtimestamp(seconds, tz=timezone.utc)


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    """``Webhook.verify`` over the raw bytes, with ``webhook-*`` or ``svix-*`` headers."""
    signed = {f"webhook-{part}": signed_header(headers, part) for part in HEADER_PARTS}
    try:
        _Verifier(secret, now).verify(raw, signed, json_parse=False)
    except WebhookVerificationError as exc:
        raise SignatureError("The signature does not match.") from exc
    except (ValueError, binascii.Error) as exc:  # a malformed signature list, a bad secret, a body not UTF-8
        raise SignatureError("The delivery cannot be verified.") from exc


def signed_header(headers: Mapping[str, str], part: str) -> str:
    """``webhook-{part}``, else Svix's ``svix-{part}``; missing both is a SignatureError."""
    for prefix in ("webhook", "svix"):
        try:
            return signing.header(headers, f"{prefix}-{part}")
        except SignatureError:
            continue
    raise SignatureError(f"Missing the webhook-{part} header (or svix-{part}).")


def parse(payload: Any, source: str = NAME) -> ParseResult:
    """The body in the core format, read by the API's own envelope reader under the URL's source."""
    result = ParseResult(source)
    result.interactions.extend(load_items(payload, MAX_INTERACTIONS, source, source_from_url=True))
    return result
