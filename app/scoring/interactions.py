"""Interactions: the catalog of types, the supported time range, and the stored form.

Validation at the edge is ``app.interaction_schema.InteractionSchema``, which produces ``Interaction``.

An interaction is identified by ``(source, id)``: the same pair is counted once however
often it arrives. Its place in a contact's timeline is ``(occurred_at, key)``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from .records import TimelineRecord, _slot_setters

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
#: The property of a manual change naming who made it (a user's email or a key): the ledger says "changed by".
MANUAL_ACTOR = "by"
#: The type of attribute records: a change of a contact's attributes (``p``: name -> value, None removes),
#: made by ``PATCH /v1/contacts/{id}`` or carried by an interaction (see ``Interaction.attribute_record``).
ATTRIBUTES_TYPE = "contact.attributes"
#: The source of attribute records (their key is ``attributes:<id>``).
ATTRIBUTES_SOURCE = "attributes"
#: The types that are no activity of the contact: its latest activity (the index "active in the last N days" reads)
#: is the time of its latest record of any other type, as the drain writes it and the backfill makes it again.
NOT_ACTIVITY_TYPES = frozenset((MANUAL_TYPE, ATTRIBUTES_TYPE))

_CUSTOM = re.compile(r"^custom\.[A-Za-z0-9_.:-]{1,100}$")
MAX_ID_LENGTH = 256
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # UTC's, without a zone: ``format_timestamp``'s arithmetic
_FIRST_MS = (datetime(1, 1, 1, tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)
_LAST_MS = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc) - _EPOCH) // timedelta(milliseconds=1)


#: ``Interaction``'s ``properties`` when none are given: a new empty dict for each (the field's default).
_NEW_DICT: Any = object()


@dataclass(frozen=True, slots=True, init=False)
class Interaction:
    """A validated interaction, ready to be stored and scored."""

    id: str
    source: str
    type: str
    occurred_at: int  # milliseconds since the epoch, UTC
    properties: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    external_id: str | None = None
    #: Contact attributes this interaction sets at ``occurred_at`` (None removes one); None when it sets none.
    attributes: dict[str, Any] | None = None

    def __init__(self, id: str, source: str, type: str, occurred_at: int, properties: dict[str, Any] = _NEW_DICT,
                 email: str | None = None, external_id: str | None = None,
                 attributes: dict[str, Any] | None = None) -> None:
        # The generated __init__'s, with each field set through its slot (as TimelineRecord's: ``_slot_setters``):
        # half the cost, and every webhook and API request makes one (docs/performance.md, "Row 2a (2026-12-04)")
        set_id, set_source, set_type, set_occurred_at, set_properties, set_email, set_external_id, set_attributes = \
            _INTERACTION_SET
        set_id(self, id)
        set_source(self, source)
        set_type(self, type)
        set_occurred_at(self, occurred_at)
        set_properties(self, {} if properties is _NEW_DICT else properties)
        set_email(self, email)
        set_external_id(self, external_id)
        set_attributes(self, attributes)

    @property
    def key(self) -> str:
        """The idempotency key: the id namespaced by its source."""
        return f"{self.source}:{self.id}"

    def to_record(self) -> TimelineRecord:
        """The entry kept in a contact's timeline."""
        return TimelineRecord(self.id, self.source, self.type, self.occurred_at, self.properties)

    def attribute_record(self) -> TimelineRecord | None:
        """The attribute record of the attributes it carries (None when none): its own timeline entry, keyed
        ``attributes:<source>:<id>`` so that the interaction's duplicates make no second one."""
        if not self.attributes:
            return None
        return TimelineRecord(self.key, ATTRIBUTES_SOURCE, ATTRIBUTES_TYPE, self.occurred_at, dict(self.attributes))


_INTERACTION_SET = _slot_setters(Interaction, ("id", "source", "type", "occurred_at", "properties", "email",
                                               "external_id", "attributes"))


def is_known_type(type_: Any) -> bool:
    return isinstance(type_, str) and (type_ in CATALOG or bool(_CUSTOM.fullmatch(type_)))


def normalize_email(email: str) -> str:
    """Trimmed and lower-cased: the identity of an email contact."""
    return email.strip().lower()


#: The supported range of ``occurred_at`` (after applying the offset), in epoch milliseconds:
#: from 1970-01-01T00:00:00Z up to, not including, 9900-01-01T00:00:00Z. The margin before the year
#: 10000 leaves room for the longest duration (``MAX_DURATION_MS``) added to any timestamp.
MIN_TIMESTAMP_MS = 0
MAX_TIMESTAMP_MS = int((datetime(9900, 1, 1, tzinfo=timezone.utc) - _EPOCH).total_seconds() * 1000)
RANGE_TEXT = "between 1970-01-01T00:00:00Z and 9899-12-31T23:59:59.999Z"


def parse_timestamp_ms(value: Any) -> int:
    """RFC 3339 text (with an offset or Z) to epoch milliseconds, within the supported range."""
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
    # an aware difference is a timedelta (±999,999,999 days), so even an offset that takes the moment
    # outside years 1..9999 subtracts without overflow; the range check below refuses it
    return check_timestamp_ms((parsed - _EPOCH) // timedelta(milliseconds=1))


def check_timestamp_ms(ms: int) -> int:
    """``ms`` when it is inside the supported range, else ValueError saying the range."""
    if not MIN_TIMESTAMP_MS <= ms < MAX_TIMESTAMP_MS:
        raise ValueError(f"must be {RANGE_TEXT}")
    return ms


def format_timestamp(ms: int) -> str:
    """Epoch milliseconds as RFC 3339 UTC text with milliseconds.

    Never fails: a value stored before the range was checked, beyond what a date can show (years
    1..9999), is shown as the nearest date that can be (history stays readable).
    """
    ms = min(max(int(ms), _FIRST_MS), _LAST_MS)
    # A naive datetime and %-formatting: the same fields as an aware one's f-string with format specs, at ~⅖ of
    # the CPU (every webhook's timestamp is made here: docs/performance.md, "Row 2a (2026-12-04)").
    moment = _NAIVE_EPOCH + timedelta(0, 0, 0, ms)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ" % (moment.year, moment.month, moment.day, moment.hour,
                                                    moment.minute, moment.second, moment.microsecond // 1000)


def derive_properties(type_: str, properties: dict[str, Any]) -> dict[str, Any]:
    """Properties computed from others so that rules can use them (``all_channels``)."""
    if type_ == "contact.dnd_updated":
        channels = properties.get("channels") or {}
        properties = {**properties, "all_channels": bool(channels) and all(channels.values())}
    return properties
