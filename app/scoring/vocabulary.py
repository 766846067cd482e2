"""The words people see for interaction types, their properties and the condition operators.

Pure data and lookups, shared by the rule sentence, the version diff and the rule builder, so
that a rule reads the same everywhere. Types not listed here (``custom.<name>``) and properties
not listed (any seen in stored interactions) still get a readable fallback.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .records import TimelineRecord


@dataclass(frozen=True, slots=True)
class Property:
    """A property an interaction type carries: its name, a word for it, and what kind of value it holds.

    ``kind`` is ``text``, ``number`` or ``flag`` (true/false); the rule builder reads typed values with it.
    """

    name: str
    label: str
    kind: str = "text"
    #: For flags: the words when the flag is false (``label`` says it is true).
    no: str = ""


@dataclass(frozen=True, slots=True)
class EventType:
    type: str
    label: str
    properties: tuple[Property, ...] = ()


_MESSAGE = Property("message_id", "message")
_CATEGORY = Property("category", "category")
_TAG = Property("tag", "email tag")
_BOOKING = (Property("booking_uid", "booking"), Property("title", "title"), Property("event_type", "event type"),
            Property("status", "status"), Property("reason", "reason"))
_PAYMENT = (Property("amount", "amount", "number"), Property("currency", "currency"),
            Property("customer", "customer"), Property("invoice", "invoice"),
            Property("payment_intent", "payment"), Property("description", "description"),
            Property("livemode", "in live mode", "flag", "in test mode"))

#: The picker's groups, in the order shown, each with its types in order.
EVENT_GROUPS: tuple[tuple[str, tuple[EventType, ...]], ...] = (
    ("Email", (
        EventType("email.delivered", "Email delivered", (_MESSAGE, _CATEGORY, _TAG)),
        EventType("email.opened", "Email opened",
                  (_MESSAGE, Property("machine_open", "by a machine", "flag", "not by a machine"), _CATEGORY, _TAG)),
        EventType("email.clicked", "Email link clicked", (_MESSAGE, Property("url", "link"), _CATEGORY, _TAG)),
        EventType("email.bounced", "Email bounced",
                  (_MESSAGE, Property("bounce_type", "bounce type"), Property("blocked", "blocked", "flag", "not blocked"),
                   Property("reason", "reason"))),
        EventType("email.unsubscribed", "Unsubscribed from email", (_MESSAGE, Property("group_id", "group"))),
        EventType("email.spam_reported", "Email reported as spam", (_MESSAGE,)),
    )),
    ("Calendar", (
        EventType("appointment.booked", "Appointment booked", _BOOKING),
        EventType("appointment.cancelled", "Appointment cancelled", _BOOKING),
        EventType("appointment.rescheduled", "Appointment rescheduled", _BOOKING),
        EventType("appointment.no_show", "Appointment missed (no-show)", _BOOKING),
    )),
    ("Forms", (
        EventType("form.submitted", "Form submitted",
                  (Property("form_id", "form"), Property("form_name", "form name"),
                   Property("submission_id", "submission"))),
    )),
    ("Payments", (
        EventType("payment.succeeded", "Payment succeeded", _PAYMENT),
        EventType("payment.failed", "Payment failed", (*_PAYMENT, Property("reason", "reason"))),
        EventType("payment.refunded", "Payment refunded", _PAYMENT),
    )),
    ("Contact", (
        EventType("contact.dnd_updated", "DND changed",
                  (Property("all_channels", "on all channels", "flag", "not on all channels"),
                   Property("channels.email", "email DND on", "flag", "email DND off"),
                   Property("channels.sms", "SMS DND on", "flag", "SMS DND off"),
                   Property("channels.call", "call DND on", "flag", "call DND off"),
                   Property("channels.whatsapp", "WhatsApp DND on", "flag", "WhatsApp DND off"))),
    )),
)
EVENTS: dict[str, EventType] = {e.type: e for _, events in EVENT_GROUPS for e in events}
CUSTOM_PREFIX = "custom."

#: Condition operators in the order offered, with the words the builder and the sentences use.
OPERATOR_WORDS: dict[str, str] = {
    "eq": "is", "ne": "is not", "gt": "greater than", "gte": "at least", "lt": "less than", "lte": "at most",
    "in": "is one of", "exists": "exists", "not_exists": "does not exist",
}
#: Window and expiry units offered, largest first, with their one-letter duration suffix.
UNITS: tuple[tuple[str, str], ...] = (("w", "week"), ("d", "day"), ("h", "hour"), ("m", "minute"),
                                      ("s", "second"))
UNIT_WORDS = dict(UNITS)


def event_label(type_: str) -> str:
    """``Email opened`` for a catalogued type, ``Custom event "webinar.joined"`` for a custom one."""
    known = EVENTS.get(type_)
    if known:
        return known.label
    if type_.startswith(CUSTOM_PREFIX):
        return f'Custom event "{type_[len(CUSTOM_PREFIX):]}"'
    return type_


def known_property(type_: str, name: str) -> Property | None:
    event = EVENTS.get(type_)
    for prop in event.properties if event else ():
        if prop.name == name:
            return prop
    return None


def property_label(type_: str, name: str) -> str:
    """The word for a property of a type (``message`` for ``message_id``); unknown names read as written."""
    prop = known_property(type_, name)
    return prop.label if prop else name


def split_duration(text: str | None) -> tuple[str, str]:
    """``"30d"`` as ``("30", "d")``; empty parts for no duration (what the form's two fields hold)."""
    text = (text or "").strip()
    if text and text[-1] in UNIT_WORDS and text[:-1].strip().isdigit():
        return text[:-1].strip(), text[-1]
    return text, ""


def duration_words(text: str) -> str:
    """``"30d"`` as ``30 days``, ``"1d"`` as ``1 day``; text that is not a duration is returned as it is."""
    number, unit = split_duration(text)
    if not unit:
        return text
    word = UNIT_WORDS[unit]
    return f"{int(number)} {word}{'' if int(number) == 1 else 's'}"


#: Longest property name, and most names per interaction, the rule builder learns from stored interactions.
MAX_PATH_LENGTH = 64
MAX_PATHS_PER_INTERACTION = 40


def property_paths(properties: object) -> list[str]:
    """The names a rule can test in these properties: each key, and ``key.sub`` one level into objects."""
    if not isinstance(properties, dict):
        return []
    paths: list[str] = []
    for key, value in properties.items():
        if isinstance(value, dict):
            paths += [f"{key}.{sub}" for sub in value if isinstance(sub, str)]
        else:
            paths.append(str(key))
    return [p for p in paths if 0 < len(p) <= MAX_PATH_LENGTH][:MAX_PATHS_PER_INTERACTION]


def vocabulary_of(records: Iterable[TimelineRecord]) -> set[tuple[str, str]]:
    """The ``(type, property)`` pairs of these records (and each type with an empty name): what the
    rule builder offers once interactions of a type were stored."""
    pairs: set[tuple[str, str]] = set()
    for record in records:
        pairs.add((record.type, ""))
        pairs.update((record.type, path) for path in property_paths(record.properties))
    return pairs
