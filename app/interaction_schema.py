"""The interaction document: one marshmallow schema that validates it and produces the domain type.

``InteractionSchema().load(raw)`` returns an :class:`app.scoring.interactions.Interaction` or raises
marshmallow's ValidationError naming each bad field. The API (``POST /v1/interactions``), every
webhook provider and the OpenAPI document use this schema, so there is one definition of a valid
interaction. The sender's source and the receiving time are given with :data:`LoadContext`.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, TypedDict

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate, validates_schema
from marshmallow.experimental.context import Context

from . import json_bodies
from .edge_fields import EMAIL_TEXT, ID_TEXT, AttributesField, JSON_VALUE_REF, SLUG_TEXT, TextOrInteger, matches, regexp
from .clock import now_ms
from .errors import ValidationError as BadRequest
from .scoring.interactions import (
    CATALOG,
    MAX_ID_LENGTH,
    RANGE_TEXT,
    Interaction,
    derive_properties,
    format_timestamp,
    is_known_type,
    normalize_email,
    parse_timestamp_ms,
)

#: Longest email address accepted.
MAX_EMAIL_LENGTH = 320
#: RFC 3339 ``date-time`` (``T`` or space between date and time, an offset or ``Z``), checked before
#: it is read, so that no other form Python happens to accept gets in.
RFC3339 = (r"^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
           r"(\.[0-9]{1,9})?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$")
#: Years of the supported range, as the OpenAPI document states them (the offset is checked by the server).
YEARS = r"^(19[7-9][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2})-"
CUSTOM_TYPE = r"^custom\.[A-Za-z0-9_.:-]{1,100}$"
DND_TYPE = "contact.dnd_updated"


class LoadOptions(TypedDict):
    source: str
    now: int


#: ``with LoadContext({"source": "crm", "now": now_ms()}): InteractionSchema().load(raw)``
LoadContext = Context[LoadOptions]


class Timestamp(fields.Field):
    """RFC 3339 text with an offset, inside the supported range, as epoch milliseconds."""

    def __init__(self, **kwargs: Any):
        kwargs["metadata"] = {"type": "string", "format": "date-time", "pattern": YEARS,
                              **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if not isinstance(value, str) or not re.fullmatch(RFC3339, value):
            raise ValidationError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-31T09:30:00Z")
        try:
            return parse_timestamp_ms(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc


class InteractionType(fields.String):
    def __init__(self, **kwargs: Any):
        kwargs["metadata"] = {"anyOf": [{"type": "string", "enum": list(CATALOG)},
                                        {"type": "string", "pattern": CUSTOM_TYPE}], **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not is_known_type(value):
            raise ValidationError("unknown interaction type; use one of the catalog or 'custom.<name>'")
        return value


class JSONObject(fields.Dict):
    """Free-form properties: any JSON object (integers within 64 bits, nesting within the door's limit)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, Mapping) or not all(isinstance(key, str) for key in value):
            raise ValidationError("must be an object")
        out = dict(value)
        try:
            json_bodies.check(out)
        except BadRequest as exc:
            raise ValidationError(exc.errors.get("_body") or exc.message) from exc
        return out


class ContactRefSchema(ma.Schema):
    """Who the interaction is about: an email, an external id (your system's), or both."""

    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {"anyOf": [{"required": ["email"]}, {"required": ["external_id"]}]}

    email = fields.String(validate=[regexp(EMAIL_TEXT, "not a valid email address"),
                                    validate.Length(max=MAX_EMAIL_LENGTH)])
    external_id = TextOrInteger(max_length=MAX_ID_LENGTH)

    @validates_schema
    def one_identity(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("email") is None and data.get("external_id") is None:
            raise ValidationError("needs 'email' or 'external_id'")


class InteractionSchema(ma.Schema):
    """One interaction: ``(source, id)`` is counted once however often it arrives."""

    class Meta:
        unknown = ma.RAISE

    id = TextOrInteger(max_length=MAX_ID_LENGTH, required=True,
                       metadata={"description": "idempotency key, unique within the source"})
    type = InteractionType(required=True)
    source = fields.String(validate=regexp(SLUG_TEXT, "letters, digits, '_', '.', '-' (at most 64)"),
                           metadata={"description": "namespace of the id (default 'api', or the webhook's)"})
    contact = fields.Nested(ContactRefSchema, required=True)
    occurred_at = Timestamp(metadata={"description": f"RFC 3339, {RANGE_TEXT} after the offset; default now"})
    properties = JSONObject(keys=fields.String(), allow_none=True, metadata={"additionalProperties": JSON_VALUE_REF})
    attributes = AttributesField(metadata={"description": "contact attributes this interaction sets at its "
                                                          "occurred_at (null removes one; the latest wins)"})

    @validates_schema
    def check_dnd(self, data: dict[str, Any], **_: Any) -> None:
        if data.get("type") != DND_TYPE:
            return
        channels = (data.get("properties") or {}).get("channels")
        if not isinstance(channels, Mapping) or not channels or not all(isinstance(v, bool)
                                                                        for v in channels.values()):
            raise ValidationError({"channels": ["required: an object of channel -> true/false"]}, "properties")

    @post_load
    def to_interaction(self, data: dict[str, Any], **_: Any) -> Interaction:
        options = LoadContext.get({"source": "api", "now": None})
        contact = data["contact"]
        email = contact.get("email")
        occurred_at = data.get("occurred_at")
        return Interaction(
            id=data["id"],
            source=data.get("source") or options["source"],
            type=data["type"],
            occurred_at=occurred_at if occurred_at is not None else (options["now"] or now_ms()),
            properties=derive_properties(data["type"], dict(data.get("properties") or {})),
            email=normalize_email(email) if email is not None else None,
            external_id=contact.get("external_id"),
            attributes=data.get("attributes") or None,
        )


class InvalidInteraction(ValueError):
    """An interaction failed validation; ``errors`` maps each bad field to what is wrong."""

    def __init__(self, errors: dict[str, Any]):
        super().__init__("invalid interaction")
        self.errors = errors


_SCHEMA = InteractionSchema()


# --- the common case, without marshmallow's machinery -------------------------------------------------
# ``fast_interaction`` reads an interaction that is plainly valid in a few dictionary look-ups and the
# schema's own patterns and functions; anything else — an error, or a form it does not read itself (an
# id sent as 5.0, a null) — makes it answer None, and the schema decides (and names the errors). So it
# can only accept what the schema accepts, and builds the same ``Interaction``:
# tests/test_interaction_fast_path.py compares the two over generated valid and invalid items.
#: The fields the fast path reads: an item with any other (``attributes``, say, or one added to the schema
#: later) goes to the schema, so a new field is never skipped here, at worst read more slowly.
FAST_FIELDS = frozenset({"id", "type", "source", "contact", "occurred_at", "properties"})
_CONTACT_FIELDS = frozenset({"email", "external_id"})
_ID = re.compile(ID_TEXT)
_EMAIL = re.compile(EMAIL_TEXT)
_SLUG = re.compile(SLUG_TEXT)
_RFC3339 = re.compile(RFC3339)


class Moment(str):
    """RFC 3339 text of a moment inside the supported range made from its epoch milliseconds (``format_timestamp``
    of ``ms``: a provider's timestamp, ``hooks.results.from_epoch_seconds``), which ``fast_interaction`` takes as
    they are instead of parsing the text again (it parses back to ``ms``: tests/test_interaction_fast_path.py).
    Anywhere else it is the text."""

    ms: int

    @classmethod
    def of(cls, ms: int) -> Moment:
        """The moment of ``ms``, already checked to be inside the supported range (``check_timestamp_ms``)."""
        moment = cls(format_timestamp(ms))
        moment.ms = ms
        return moment


def _fast_identifier(value: Any) -> str | None:
    """``TextOrInteger``'s reading of an id or external id, for text and plain integers."""
    kind = type(value)
    if kind is int:
        return str(value)
    if kind is str and len(value) <= MAX_ID_LENGTH and _ID.fullmatch(value):
        return value
    return None


def fast_interaction(raw: Any, source: str, now: int) -> Interaction | None:
    """The interaction of ``raw`` when it is plainly valid; None sends it to the schema."""
    if type(raw) is not dict or not FAST_FIELDS.issuperset(raw):
        return None
    identifier = _fast_identifier(raw.get("id"))
    type_ = raw.get("type")
    contact = raw.get("contact")
    if identifier is None or type(type_) is not str or not is_known_type(type_) or type(contact) is not dict \
            or not contact or not _CONTACT_FIELDS.issuperset(contact):
        return None
    email = external_id = None
    if "email" in contact:
        email = contact["email"]
        if type(email) is not str or len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
            return None
    if "external_id" in contact:
        external_id = _fast_identifier(contact["external_id"])
        if external_id is None:
            return None
    if "source" in raw:
        given = raw["source"]
        if type(given) is not str or not _SLUG.fullmatch(given):
            return None
        source = given or source
    occurred_at = now
    if "occurred_at" in raw:
        text = raw["occurred_at"]
        if type(text) is Moment:
            occurred_at = text.ms
        elif type(text) is not str or not _RFC3339.fullmatch(text):
            return None
        else:
            try:
                occurred_at = parse_timestamp_ms(text)
            except ValueError:
                return None
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    elif type(properties) is not dict or not all(type(key) is str for key in properties):
        return None
    else:
        try:
            json_bodies.check(properties)
        except BadRequest:
            return None
    if type_ == DND_TYPE:
        channels = properties.get("channels")
        if type(channels) is not dict or not channels or not all(type(v) is bool for v in channels.values()):
            return None
    return Interaction(id=identifier, source=source, type=type_, occurred_at=occurred_at,
                       properties=derive_properties(type_, dict(properties)),
                       email=normalize_email(email) if email is not None else None, external_id=external_id)


def plain_interaction(id_: Any, type_: Any, email: Any, occurred_ms: int, properties: Mapping[str, Any],
                      source: str) -> Interaction | None:
    """What ``fast_interaction`` makes of the core-format dict a provider builds from these parts
    (``hooks.results.interaction(id_, type_, email, Moment.of(occurred_ms), properties)``: the email trimmed as its
    contact, ``None`` properties left out), built from the parts without that dict and the moment's text; None
    when the fast path would not read that dict itself (the caller then builds it and ``load_interaction``
    decides, naming the errors). ``occurred_ms`` is inside the supported range (``check_timestamp_ms``).

    A webhook's parse made the dict, the text of its timestamp and the fast path's look-ups for every event:
    ~45k of the gunicorn worker's ~1.1 M instructions a Stripe webhook (docs/performance.md, "Row 2a: the Stripe
    parse builds its Interaction directly"). tests/test_interaction_fast_path.py compares the two over generated
    parts."""
    identifier = _fast_identifier(id_)
    if identifier is None or type(type_) is not str or type_ == DND_TYPE or not is_known_type(type_) \
            or not isinstance(email, str):
        return None
    email = email.strip()  # exact text whatever ``email`` was (str's methods answer a str)
    if not email or len(email) > MAX_EMAIL_LENGTH or not _EMAIL.fullmatch(email):
        return None
    kept = {}
    plain = True  # every value one that json_bodies.check passes without looking (text, a boolean, a 64-bit int)
    for name, value in properties.items():
        if value is None:
            continue
        if type(name) is not str:
            return None
        kept[name] = value
        kind = type(value)
        if kind is not str and kind is not bool and (kind is not int or not _INT_MIN <= value <= _INT_MAX):
            plain = False
    if not plain:
        try:
            json_bodies.check(kept)
        except BadRequest:
            return None
    return Interaction(identifier, source, type_, occurred_ms, derive_properties(type_, kept), normalize_email(email))


_INT_MIN, _INT_MAX = json_bodies.INT_MIN, json_bodies.INT_MAX


def load_interaction(raw: Any, *, source: str = "api", now: int | None = None) -> Interaction:
    """Validate one interaction object; raises InvalidInteraction with per-field errors."""
    now = now if now is not None else now_ms()
    fast = fast_interaction(raw, source, now)
    if fast is not None:
        return fast
    if not isinstance(raw, Mapping):
        raise InvalidInteraction({"_schema": ["an interaction must be a JSON object"]})
    with LoadContext({"source": source, "now": now}):
        try:
            return _SCHEMA.load(raw)
        except ValidationError as exc:
            messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
            raise InvalidInteraction(messages) from exc


def load_items(body: Any, limit: int, source: str = "api", *, source_from_url: bool = False) -> list[Interaction]:
    """The batch envelope, read in one place for the API, the CLI and the Standard Webhooks receiver: one
    interaction or ``{"interactions": [...]}`` (at least one, at most ``limit``); all valid, or BadRequest
    naming each bad item, so nothing is half-stored.

    ``source_from_url``: the source is the receiver's (a webhook URL's ``{source}``); an item may repeat it
    or leave it out, and one naming another source is a bad item.
    """
    if isinstance(body, Mapping) and set(body) == {"interactions"}:
        items, batched = body["interactions"], True
        if not isinstance(items, list):
            raise BadRequest("'interactions' must be a list.", {"interactions": ["must be a list"]})
        if not items:
            raise BadRequest("'interactions' is empty.", {"interactions": ["send at least one interaction"]})
    else:
        items, batched = [body], False
    if len(items) > limit:
        raise BadRequest(f"At most {limit} interactions per request.", {"interactions": [f"at most {limit}"]})
    now = now_ms()
    parsed, errors = [], {}
    for index, item in enumerate(items):
        if source_from_url and isinstance(item, Mapping) and item.get("source", source) != source:
            errors[index] = {"source": [f"must be {source!r}, the source in the URL, or left out"]}
            continue
        try:
            parsed.append(load_interaction(item, source=source, now=now))
        except InvalidInteraction as exc:
            errors[index] = exc.errors
    if errors:
        if not batched:
            raise BadRequest("The interaction is invalid; see errors.", errors[0])
        raise BadRequest(f"{len(errors)} of {len(items)} interactions are invalid; nothing was stored.",
                         {"interactions": errors})
    return parsed


def is_valid_email(value: Any) -> bool:
    return matches(EMAIL_TEXT, value) and len(value) <= MAX_EMAIL_LENGTH
