"""Interactions: the catalog of types, validation at the edge, and the stored form.

An interaction is identified by ``(source, id)``: the same pair is counted once however
often it arrives. Its place in a contact's timeline is ``(occurred_at, key)``.
"""
from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

CATALOG = (
    "email.delivered",
    "email.opened",
    "email.clicked",
    "email.bounced",
    "email.unsubscribed",
    "email.spam_reported",
    "appointment.booked",
    "appointment.cancelled",
    "appointment.rescheduled",
    "appointment.no_show",
    "form.submitted",
    "payment.succeeded",
    "payment.failed",
    "payment.refunded",
    "contact.dnd_updated",
)
#: Types that also switch the contact's email DND on.
DND_EMAIL_TYPES = frozenset({"email.unsubscribed", "email.spam_reported"})
#: The type under which manual score changes are kept in the timeline.
MANUAL_TYPE = "score.manual"

_CUSTOM = re.compile(r"^custom\.[A-Za-z0-9_.:-]{1,100}$")
_SOURCE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_FIELDS = {"id", "type", "contact", "occurred_at", "properties", "source"}
MAX_ID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class Interaction:
    """A validated interaction, ready to be stored and scored."""

    id: str
    source: str
    type: str
    occurred_at: int  # milliseconds since the epoch, UTC
    properties: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    external_id: str | None = None

    @property
    def key(self) -> str:
        """The idempotency key: the id namespaced by its source."""
        return f"{self.source}:{self.id}"

    def to_record(self) -> dict[str, Any]:
        """The compact form kept in a contact's timeline."""
        return {"id": self.id, "src": self.source, "t": self.type, "at": self.occurred_at, "p": self.properties}


def record_key(record: Mapping[str, Any]) -> str:
    """``source:id``: a timeline record's field in the timeline, and its idempotency key."""
    return f'{record["src"]}:{record["id"]}'


def is_known_type(type_: Any) -> bool:
    return isinstance(type_, str) and (type_ in CATALOG or bool(_CUSTOM.match(type_)))


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased: the identity of an email contact."""
    return email.strip().lower()


def now_ms() -> int:
    return int(time.time() * 1000)


def parse_timestamp_ms(value: Any) -> int:
    """RFC 3339 text (with an offset or Z) to epoch milliseconds."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    text = value.strip()
    if text.endswith(("z", "Z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise ValueError(f"not an RFC 3339 date-time: {value!r}") from exc
    if parsed.tzinfo is None:
        raise ValueError("needs a time zone offset (e.g. 'Z' or '+02:00')")
    return int(parsed.timestamp() * 1000)


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC text with milliseconds."""
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def derive_properties(type_: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Properties computed from others so that rules can use them (``all_channels``)."""
    if type_ == "contact.dnd_updated":
        channels = properties.get("channels") or {}
        properties = {**properties, "all_channels": bool(channels) and all(channels.values())}
    return properties


def _check_contact(contact: Any, errors: dict[str, Any]) -> tuple[str | None, str | None]:
    if not isinstance(contact, Mapping):
        errors["contact"] = "required: an object with 'email' and/or 'external_id'"
        return None, None
    unknown = set(contact) - {"email", "external_id"}
    if unknown:
        errors["contact"] = {name: "Unknown field." for name in sorted(unknown)}
        return None, None
    email = contact.get("email")
    external_id = contact.get("external_id")
    if email is not None:
        if not isinstance(email, str) or not _EMAIL.match(email.strip()) or len(email) > 320:
            errors["contact"] = {"email": "not a valid email address"}
            return None, None
        email = normalize_email(email)
    if external_id is not None:
        if not isinstance(external_id, (str, int)) or isinstance(external_id, bool) or str(external_id) == "":
            errors["contact"] = {"external_id": "must be a non-empty string"}
            return None, None
        external_id = str(external_id)
        if len(external_id) > MAX_ID_LENGTH:
            errors["contact"] = {"external_id": f"at most {MAX_ID_LENGTH} characters"}
            return None, None
    if email is None and external_id is None:
        errors["contact"] = "needs 'email' or 'external_id'"
    return email, external_id


def parse_interaction(raw: Any, *, source: str = "api", now: int | None = None) -> Interaction:
    """Validate one interaction object; raises InvalidInteraction with per-field errors."""
    if not isinstance(raw, Mapping):
        raise InvalidInteraction({"_schema": "an interaction must be a JSON object"})
    errors: dict[str, Any] = {}
    for name in sorted(set(raw) - _FIELDS):
        errors[name] = "Unknown field."
    id_ = raw.get("id")
    if isinstance(id_, int) and not isinstance(id_, bool):
        id_ = str(id_)
    if not isinstance(id_, str) or not id_.strip():
        errors["id"] = "required: a non-empty string (the idempotency key)"
    elif len(id_) > MAX_ID_LENGTH:
        errors["id"] = f"at most {MAX_ID_LENGTH} characters"
    src = raw.get("source", source)
    if not isinstance(src, str) or not _SOURCE.match(src):
        errors["source"] = "letters, digits, '_', '.', '-' (at most 64)"
    type_ = raw.get("type")
    if not is_known_type(type_):
        errors["type"] = "unknown interaction type; use one of the catalog or 'custom.<name>'"
    email, external_id = _check_contact(raw.get("contact"), errors)
    occurred_at = now if now is not None else now_ms()
    if raw.get("occurred_at") is not None:
        try:
            occurred_at = parse_timestamp_ms(raw["occurred_at"])
        except ValueError as exc:
            errors["occurred_at"] = str(exc)
    properties = raw.get("properties", {})
    if properties is None:
        properties = {}
    if not isinstance(properties, Mapping):
        errors["properties"] = "must be an object"
    elif type_ == "contact.dnd_updated":
        channels = properties.get("channels")
        if not isinstance(channels, Mapping) or not channels or not all(
            isinstance(v, bool) for v in channels.values()
        ):
            errors["properties"] = {"channels": "required: an object of channel -> true/false"}
    if errors:
        raise InvalidInteraction(errors)
    assert isinstance(id_, str) and isinstance(type_, str)  # checked above
    return Interaction(
        id=id_,
        source=src,
        type=type_,
        occurred_at=occurred_at,
        properties=derive_properties(type_, dict(properties)),
        email=email,
        external_id=external_id,
    )


class InvalidInteraction(ValueError):
    """An interaction failed validation; ``errors`` maps each bad field to what is wrong."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__("invalid interaction")
        self.errors = errors
