"""The signature building blocks every provider shares, each written once.

Everything here works on raw bytes and compares in constant time. Verifiers raise
:class:`app.errors.SignatureError` and never say which part of a signature was close.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from werkzeug.datastructures import EnvironHeaders

from ..errors import SignatureError


def header(headers: Mapping[str, str], name: str) -> str:
    """A required header, looked up case-insensitively; missing or empty -> SignatureError."""
    if type(headers) is EnvironHeaders:  # a request's: one look-up in its environ (a repeated header is joined)
        value = headers.get(name)
        if value and value.strip():
            return value.strip()
        raise SignatureError(f"Missing the {name} header.")
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted and value and value.strip():
            return value.strip()
    raise SignatureError(f"Missing the {name} header.")


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    return hmac.new(key, message, hashlib.sha256).digest()


def decode_hex(text: str) -> bytes | None:
    try:
        return bytes.fromhex(text.strip())
    except ValueError:
        return None


def decode_base64(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None


def require_match(expected: bytes, candidates: Iterable[bytes | None]) -> None:
    """Accept when any candidate equals ``expected``; every candidate is compared in constant time."""
    matched = False
    for candidate in candidates:
        if candidate is not None and hmac.compare_digest(expected, candidate):
            matched = True
    if not matched:
        raise SignatureError("The signature does not match.")


def check_timestamp(value: str | int | float, now: float, tolerance_seconds: float) -> int:
    """The signed timestamp (epoch seconds); refused when off from ``now`` by more than the tolerance."""
    try:
        timestamp = int(str(value).strip())
    except ValueError as exc:
        raise SignatureError("The signature timestamp is not a number of seconds.") from exc
    if timestamp < now - tolerance_seconds:
        raise SignatureError("The signature timestamp is too old.")
    if timestamp > now + tolerance_seconds:
        raise SignatureError("The signature timestamp is in the future.")
    return timestamp


def parse_timestamped_header(value: str, scheme: str = "v1") -> tuple[str, list[str]]:
    """``t=1492774577,v1=5257a8...,v1=...`` (Stripe, Calendly) -> timestamp and ``scheme`` signatures."""
    timestamp = None
    signatures = []
    for part in value.split(","):
        name, _, item = part.strip().partition("=")
        if name == "t":
            timestamp = item
        elif name == scheme and item:
            signatures.append(item)
    if not timestamp or not signatures:
        raise SignatureError("The signature header has no timestamp or no signature.")
    return timestamp, signatures


def verify_timestamped_hmac(
    raw: bytes, signature_header: str, secret: str, now: float, tolerance_seconds: float
) -> None:
    """Stripe's and Calendly's scheme: hex HMAC-SHA256 of ``"{t}." + raw body``, any ``v1`` may match."""
    timestamp, signatures = parse_timestamped_header(signature_header)
    expected = hmac_sha256(secret.encode(), timestamp.encode() + b"." + raw)
    require_match(expected, (decode_hex(s) for s in signatures))
    check_timestamp(timestamp, now, tolerance_seconds)


def verify_body_hmac(raw: bytes, signature: str, secret: str, encoding: str) -> None:
    """HMAC-SHA256 of the raw body, sent as ``hex`` or ``base64`` (Cal.com, Typeform, Tally)."""
    decode = decode_hex if encoding == "hex" else decode_base64
    require_match(hmac_sha256(secret.encode(), raw), [decode(signature)])
