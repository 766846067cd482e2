"""What a provider's ``parse`` returns, and the helpers every provider uses to build it.

``parse`` is pure: it turns one verified payload into core interactions plus the events it
skipped (with a reason). Anything that needs the store — a provider's customer id that only
an earlier event linked to an email, a replay token to claim — is *described* here and done
by the view after the whole delivery parsed, so a rejected request stores nothing.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import ValidationError
from ..interaction_schema import InvalidInteraction, Moment, load_interaction, plain_interaction
from ..scoring.interactions import (MAX_TIMESTAMP_MS, Interaction, check_timestamp_ms, format_timestamp,
                                   parse_timestamp_ms)


@dataclass(frozen=True)
class Skipped:
    """An event acknowledged but not scored: ``event`` names it (type and id), ``reason`` says why."""

    event: str
    reason: str


@dataclass(frozen=True)
class Alias:
    """A provider's own customer id known to belong to an email (``stripe``, ``cus_...``)."""

    kind: str
    value: str
    email: str


@dataclass(frozen=True)
class AwaitingContact:
    """A core-format interaction without a contact: its contact is whoever ``alias`` names."""

    raw: dict[str, Any]
    kind: str
    value: str


@dataclass
class ParseResult:
    source: str
    interactions: list[Interaction] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    awaiting: list[AwaitingContact] = field(default_factory=list)
    aliases: list[Alias] = field(default_factory=list)
    #: A one-time token the signature covers (Mailgun): the view refuses it the second time.
    replay_token: str | None = None

    def add(self, raw: dict[str, Any]) -> None:
        """Validate a core-format interaction; one without a usable contact is skipped, not refused."""
        try:
            self.interactions.append(load_interaction(raw, source=self.source))
        except InvalidInteraction as exc:
            if set(exc.errors) == {"contact"}:
                self.skip(raw.get("type", "?"), raw.get("id", "?"), "no usable contact (email) in the event")
                return
            raise ValidationError(
                "The event could not be converted; see errors.", {str(raw.get("id")): exc.errors}
            ) from exc

    def add_parts(self, id_: str, type_: str, email: Any, occurred_ms: int, properties: Mapping[str, Any]) -> None:
        """``add(interaction(id_, type_, email, Moment.of(occurred_ms), properties))``, the same interaction, skip
        or error, with the interaction built from its parts when it is plainly valid (``plain_interaction``):
        the dict and the timestamp's text are made only for the schema to judge one that is not."""
        built = plain_interaction(id_, type_, email, occurred_ms, properties, self.source)
        if built is None:
            self.add(interaction(id_, type_, email, Moment.of(occurred_ms), properties))
        else:
            self.interactions.append(built)

    def add_with_alias(self, raw: dict[str, Any], kind: str, value: str) -> None:
        """Queue an interaction whose contact is known only by a provider's customer id."""
        self.awaiting.append(AwaitingContact(raw, kind, value))

    def skip(self, event_type: Any, event_id: Any, reason: str) -> None:
        self.skipped.append(Skipped(f"{event_type} {event_id}", reason))


def interaction(
    id_: str, type_: str, email: Any, occurred_at: str, properties: Mapping[str, Any]
) -> dict[str, Any]:
    """A core-format interaction dict; ``None`` properties are left out."""
    contact = {"email": email.strip()} if isinstance(email, str) and email.strip() else {}
    return {
        "id": id_,
        "type": type_,
        "contact": contact,
        "occurred_at": occurred_at,
        "properties": {k: v for k, v in properties.items() if v is not None},
    }


#: The epoch seconds past the supported range's last (``MAX_TIMESTAMP_MS`` is a whole second).
_LAST_EPOCH_SECOND = MAX_TIMESTAMP_MS // 1000


def from_epoch_seconds(value: Any, where: str) -> str:
    """A provider's epoch seconds (int, float or digits) as RFC 3339 text (a ``Moment``: the interaction's check
    reads its milliseconds instead of parsing the text it was just made from)."""
    return Moment.of(epoch_ms(value, where))


def epoch_ms(value: Any, where: str) -> int:
    """A provider's epoch seconds (int, float or digits) as epoch milliseconds inside the supported range, or
    ValidationError naming ``where``: ``from_epoch_seconds`` without the text (``ParseResult.add_parts``)."""
    if type(value) is int and 0 <= value < _LAST_EPOCH_SECOND:  # most providers' form: what the lines below make
        return value * 1000
    try:
        seconds = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"{where} must be a number of seconds since the epoch.", {where: "not a timestamp"}
        ) from exc
    try:
        if isinstance(value, bool) or math.isnan(seconds):
            raise ValueError("not a number")
        return check_timestamp_ms(int(seconds * 1000))
    except (ValueError, OverflowError) as exc:
        raise ValidationError(
            f"{where} must be a number of seconds since the epoch.", {where: [f"not a timestamp: {exc}"]}
        ) from exc


def from_rfc3339(value: Any, where: str) -> str:
    """A provider's date-time text, checked (so a bad one is a 400 naming the field)."""
    try:
        return format_timestamp(parse_timestamp_ms(value))
    except ValueError as exc:
        raise ValidationError(f"{where} is not a date-time.", {where: str(exc)}) from exc


#: The other types JSON parses to, none of them a Mapping: ``is_mapping`` answers for them without asking the ABC.
_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), list})


def is_mapping(value: Any) -> bool:
    """``isinstance(value, Mapping)``, answered at once for what JSON parses to (a dict, or one of the types no
    Mapping is), by the ABC for anything else."""
    kind = type(value)
    return kind is dict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping))


#: JSON's single values as parsed (exact types): ``require`` answers for them without the general comparisons.
_SINGLE = frozenset({str, int, float, bool})


def require(mapping: Any, name: str, where: str, structured: bool = False) -> Any:
    """A field that must be present (non-empty) for the event to make sense.

    It must be a single value (text, number, boolean) unless ``structured``: an id or an event
    type that is a list or an object is refused here, not a crash where it is used.
    """
    if type(mapping) is not dict and not is_mapping(mapping):  # a dict: answered without the call
        raise ValidationError(f"{where} must be an object.", {where: "must be an object"})
    value = mapping.get(name)
    if type(value) in _SINGLE and (value or type(value) is not str):  # most fields: what the lines below answer
        return value
    if value is None or value == "" or value == [] or value == {}:
        raise ValidationError(f"{where}.{name} is required.", {f"{where}.{name}": "required"})
    if not structured and isinstance(value, (list, dict)):
        raise ValidationError(
            f"{where}.{name} must be a single value.", {f"{where}.{name}": "not a single value"}
        )
    return value


def require_object(value: Any, where: str) -> Mapping[str, Any]:
    if not is_mapping(value):
        raise ValidationError(f"{where} must be an object.", {where: "must be an object"})
    return value


def digest(value: Any) -> str:
    """A stable short id for an event that carries none: the same content gives the same id."""
    return hashlib.sha256(orjson.dumps(value, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]
