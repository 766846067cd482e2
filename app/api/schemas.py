"""Request and response schemas: validation at the edge, and the OpenAPI document."""
from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import ValidationError, fields, validate, validates, validates_schema

from ..scoring.conditions import SCORE_OPS, validate_where
from ..scoring.companies import ROLLUPS
from ..contact_filter_schema import PROFILE_ID, FilterDocumentSchema
from ..edge_fields import (
    JSON_VALUE_REF,
    AttributesField,
    JsonText,
    TAG_TEXT,
    StrictBoolean,
    WholeNumber,
    duration_field,
    regexp,
    where_json_schema,
    whole_number,
)
from ..scoring.durations import MAX_DURATION_MS, MAX_DURATION_TEXT
from ..interaction_schema import CUSTOM_TYPE, DND_TYPE, InteractionSchema, InteractionType
from ..scoring.interactions import CATALOG
from ..scoring.profiles import ENGAGEMENT, FIT, KINDS

def _unique_ids(ids: list[str]) -> None:
    if len(set(ids)) != len(ids):
        raise ValidationError("a list is named twice")


_LIST_ID = regexp(r"^[A-Za-z0-9_.-]{1,64}$", "a smart list id")
_ID = regexp(r"^[A-Za-z0-9_.-]{1,64}$", "letters, digits, '_', '.', '-' (at most 64)")


def _fits_64_bits(value) -> bool:
    """Every integer in a JSON value is within 64 bits: orjson, which stores it, refuses others."""
    if isinstance(value, bool):
        return True
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    if isinstance(value, dict):
        return all(_fits_64_bits(v) for v in value.values())
    if isinstance(value, list):
        return all(_fits_64_bits(v) for v in value)
    return True


#: The largest paging cursor (an offset) accepted: far beyond any list, and safe to add a page to.
MAX_CURSOR = 10**15


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class LimitSchema(Strict):
    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {"anyOf": [{"required": ["count"]}, {"required": ["once_per"]}],
                             "dependentRequired": {"window": ["count"]}}

    count = whole_number(1, 2**63 - 1)
    window = duration_field(MAX_DURATION_MS, MAX_DURATION_TEXT)
    once_per = fields.String(validate=validate.Length(min=1, max=200))

    @validates_schema
    def check(self, data, **_):
        if not data:
            raise ValidationError("give 'count' (with an optional 'window') and/or 'once_per'")
        if "window" in data and "count" not in data:
            raise ValidationError({"count": ["required with 'window'"]})


#: Decay periods: at least a day (a step is a write per contact), at most ten years.
DECAY_EVERY_MIN_MS = 86_400_000
DECAY_EVERY_MAX_MS = 3650 * 86_400_000


class DecaySchema(Strict):
    percent = WholeNumber(required=True, validate=validate.Range(min=1, max=100, error="a whole percent from 1 to 100"),
                             metadata={"description": "how much of what stands is taken each period (1-100)"})
    every = duration_field(DECAY_EVERY_MAX_MS, "3650d", min_ms=DECAY_EVERY_MIN_MS, min_text="1d", required=True,
                           metadata={"description": "the period, e.g. '30d' (1d to 3650d)"})


class RuleSchema(Strict):
    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {"not": {"required": ["decay", "expires_after"]}}

    id = fields.String(required=True, validate=_ID)
    on = InteractionType(metadata={"description": "the interaction type it scores (engagement profiles; a fit "
                                                  "profile's rules have none)"})
    points = whole_number(-1_000_000, 1_000_000, required=True)
    where = fields.Dict(keys=fields.String(), load_default=dict, metadata=where_json_schema())
    limit = fields.Nested(LimitSchema)
    expires_after = duration_field(MAX_DURATION_MS, MAX_DURATION_TEXT)
    decay = fields.Nested(DecaySchema, metadata={"description": "the points shrink by a percent each period"})
    group = fields.String(validate=_ID, metadata={"description": "the profile group whose cap these points count "
                                                                 "against (declared in the profile's 'groups')"})

    @validates_schema
    def decay_or_expiry(self, data, **_):
        if "decay" in data and "expires_after" in data:
            raise ValidationError({"decay": ["a rule cannot have both 'decay' and 'expires_after'"]})

    @validates("where")
    def check_where(self, value, **_):
        if not _fits_64_bits(value):
            raise ValidationError("integers must fit in 64 bits")
        errors = validate_where(value)
        if errors:
            raise ValidationError(errors)


class BandSchema(Strict):
    name = fields.String(required=True, validate=validate.Length(min=1, max=64))
    min = whole_number(0, 2**63 - 1, required=True)


class GroupSchema(Strict):
    id = fields.String(required=True, validate=_ID)
    max_points = WholeNumber(required=True, validate=validate.Range(min=1, max=1_000_000_000),
                                metadata={"description": "the most the group's rules may give together"})
    decay = fields.Nested(DecaySchema, metadata={"description": "the decay of each of the group's rules that "
                                                                "has none of its own"})


#: What a fit profile's rule may not have: it scores attributes, not interactions (see app/scoring/fit.py).
_NOT_FOR_FIT = {
    "on": "a fit rule has no event: its conditions are over the contact's attributes",
    "limit": "a fit rule has no limit: it counts once while its conditions hold",
    "expires_after": "a fit rule never expires: it counts while its conditions hold",
    "decay": "a fit score never decays: it follows the contact's attributes",
    "group": "a fit profile has no groups (use max_score to cap it)",
}


class ProfileDraftSchema(Strict):
    class Meta:
        unknown = ma.RAISE
        # The rules of each kind, for the OpenAPI document (``rules_of_the_kind`` checks the same).
        json_schema_extra = {
            "if": {"required": ["kind"], "properties": {"kind": {"const": FIT}}},
            "then": {"not": {"required": ["groups"]}, "properties": {"rules": {"items": {
                "required": ["where"], "properties": {"where": {"minProperties": 1}},
                "not": {"anyOf": [{"required": [key]} for key in _NOT_FOR_FIT]}}}}},
            "else": {"properties": {"rules": {"items": {"required": ["on"]}}}},
        }

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(validate=validate.OneOf(KINDS), metadata={
        "description": "engagement (default): rules score interactions; fit: rules score the contact's attributes "
                       "(no events, limits, expiry, decay or groups)"})
    description = fields.String(load_default="", validate=validate.Length(max=2000))
    rules = fields.List(fields.Nested(RuleSchema), load_default=list, validate=validate.Length(max=500))
    bands = fields.List(fields.Nested(BandSchema), load_default=list, validate=validate.Length(max=20))
    groups = fields.List(fields.Nested(GroupSchema), validate=validate.Length(max=50),
                         metadata={"description": "caps on what groups of rules give together"})
    max_score = WholeNumber(validate=validate.Range(min=1, max=2**63 - 1),
                               metadata={"description": "the score never goes above it"})
    include = fields.List(fields.String(validate=_LIST_ID), validate=[validate.Length(max=20), _unique_ids],
                          metadata={"uniqueItems": True, "description": (
                              "smart list ids (existing: 404; of tag and DND conditions only: 409): when given, the "
                              "profile scores only contacts in one of these lists; the others have no score in it")})
    exclude = fields.List(fields.String(validate=_LIST_ID), validate=[validate.Length(max=20), _unique_ids],
                          metadata={"uniqueItems": True, "description": (
                              "smart list ids: contacts in one of these lists have no score in the profile (an "
                              "exclusion wins over an inclusion)")})
    company_rollup = fields.String(validate=validate.OneOf(ROLLUPS), metadata={
        "description": "roll the score up to companies: sum, average (of the scored contacts, whole points) or "
                       "max of the company's contacts' scores (docs/scoring-models.md, Company scores)"})

    @validates_schema
    def known_groups(self, data, **_):
        declared = [g["id"] for g in data.get("groups", [])]
        if len(set(declared)) != len(declared):
            raise ValidationError({"groups": ["group ids must be unique"]})
        unknown = {i: {"group": [f"unknown group {r['group']!r}: declare it in the profile's 'groups'"]}
                   for i, r in enumerate(data.get("rules", [])) if "group" in r and r["group"] not in declared}
        if unknown:
            raise ValidationError({"rules": unknown})
        decaying = {g["id"] for g in data.get("groups", []) if "decay" in g}
        both = {i: {"expires_after": [f"group {r['group']!r} decays: a rule cannot have both 'decay' and "
                                      f"'expires_after'"]}
                for i, r in enumerate(data.get("rules", []))
                if r.get("group") in decaying and "expires_after" in r and "decay" not in r}
        if both:
            raise ValidationError({"rules": both})

    @validates_schema
    def rules_of_the_kind(self, data, **_):
        if data.get("kind", ENGAGEMENT) == ENGAGEMENT:
            missing = {i: {"on": ["Missing data for required field."]}
                       for i, rule in enumerate(data.get("rules", [])) if "on" not in rule}
            if missing:
                raise ValidationError({"rules": missing})
            return
        errors: dict = {}
        for i, rule in enumerate(data.get("rules", [])):
            problems = {key: [message] for key, message in _NOT_FOR_FIT.items() if key in rule}
            if not rule.get("where"):
                problems["where"] = ["a fit rule needs at least one condition on an attribute"]
            if problems:
                errors[i] = problems
        if errors:
            raise ValidationError({"rules": errors})
        if "groups" in data:
            raise ValidationError({"groups": [_NOT_FOR_FIT["group"]]})

    @validates_schema
    def unique_ids(self, data, **_):
        ids = [r["id"] for r in data.get("rules", [])]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValidationError({"rules": [f"rule ids must be unique: {', '.join(dupes)}"]})
        names = [b["name"] for b in data.get("bands", [])]
        if len(set(names)) != len(names):
            raise ValidationError({"bands": ["band names must be unique"]})


class PublishSchema(Strict):
    fire_triggers = StrictBoolean(load_default=False)


class RollbackSchema(Strict):
    version = whole_number(1, 2**63 - 1, required=True,
                           metadata={"description": "the earlier version whose rules are published again"})


class BandMoveSchema(ma.Schema):
    from_ = fields.String(data_key="from", attribute="from", metadata={"description": "band before ('no band')"})
    to = fields.String(metadata={"description": "band after ('no band')"})
    count = fields.Integer()


class PublishSummarySchema(ma.Schema):
    contacts_scored = fields.Integer(metadata={"description": "contacts with a score in this version"})
    contacts_changed = fields.Integer(metadata={"description": "contacts whose score is not what it was"})
    band_moves = fields.List(fields.Nested(BandMoveSchema), metadata={"description": "largest first"})


class VersionSchema(ma.Schema):
    version = fields.Integer()
    live = fields.Boolean()
    actor = fields.String(metadata={"description": "who published it: 'api:<8 hex of the key's SHA-256>', "
                                                   "'dashboard', 'system' or 'unknown'"})
    published_at = fields.String(allow_none=True, metadata={"description": "RFC 3339, when it was asked for"})
    live_at = fields.String(allow_none=True, metadata={"description": "RFC 3339, when it went live"})
    kind = fields.String(metadata={"description": "publish or rollback"})
    restored_from = fields.Integer(allow_none=True, metadata={"description": "for a rollback: the version restored"})
    error = fields.String(allow_none=True, metadata={"description": "why its publish failed"})
    summary = fields.Nested(PublishSummarySchema, allow_none=True,
                            metadata={"description": "what the publish did to the scores (once live)"})
    changes = fields.List(fields.String(), metadata={"description": "what changed from the version before "
                                                                    "(or from ?against=N), in words"})


class VersionDetailSchema(VersionSchema):
    definition = fields.Dict(metadata={"description": "the version's name, description, rules and bands"})


class VersionListSchema(ma.Schema):
    items = fields.List(fields.Nested(VersionSchema), metadata={"description": "newest first"})


class VersionArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    against = fields.Integer(validate=validate.Range(min=1),
                             metadata={"description": "compare with this version (default: the one before)"})


class ProfileSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    description = fields.String()
    kind = fields.String(metadata={"description": "engagement or fit", "enum": list(KINDS)})
    status = fields.String(metadata={"description": "draft (never published) or published"})
    version = fields.Integer(allow_none=True, metadata={"description": "live version"})
    building_version = fields.Integer(allow_none=True)
    draft_changed = fields.Boolean()
    rules = fields.List(fields.Dict())
    bands = fields.List(fields.Dict())
    groups = fields.List(fields.Dict(), metadata={"description": "only when the draft declares groups"})
    max_score = fields.Integer(metadata={"description": "only when the draft sets one"})
    include = fields.List(fields.String(), metadata={"description": "only when the draft includes lists"})
    exclude = fields.List(fields.String(), metadata={"description": "only when the draft excludes lists"})
    company_rollup = fields.String(metadata={"description": "only when the draft rolls up to companies",
                                             "enum": list(ROLLUPS)})
    live = fields.Dict(allow_none=True)


class JobSchema(ma.Schema):
    id = fields.String()
    kind = fields.String()
    status = fields.String(metadata={"description": "queued, running, finished or failed"})
    progress = fields.Float()
    profile = fields.String(allow_none=True)
    version = fields.Integer(allow_none=True)
    error = fields.String(allow_none=True)
    total = fields.Integer()
    done = fields.Integer()
    requeued = fields.Integer(metadata={"description": "present once the publish stalled: how often its lost jobs "
                                                       "(parts whose worker died) were queued again"})
    requeued_parts = fields.String(metadata={"description": "the parts queued again the last time, comma-separated "
                                                            "(`publish`: the publish job itself)"})
    requeued_at = fields.Integer(metadata={"description": "when they were, in milliseconds since the epoch"})


class JobEnvelope(ma.Schema):
    job = fields.Nested(JobSchema)


class DndPropertiesSchema(ma.Schema):
    """Documents ``contact.dnd_updated``: ``channels`` (channel -> DND on) and any other properties."""

    class Meta:
        unknown = ma.INCLUDE
        json_schema_extra = {"additionalProperties": JSON_VALUE_REF}

    channels = fields.Dict(keys=fields.String(), values=fields.Boolean(), required=True,
                           validate=validate.Length(min=1))


class DndInteractionSchema(InteractionSchema):
    """Documents the one type with required properties; validation is InteractionSchema's."""

    type = fields.String(required=True, validate=validate.Equal(DND_TYPE))
    properties = fields.Nested(DndPropertiesSchema, required=True)


class OtherInteractionSchema(InteractionSchema):
    """Documents every other type; validation is InteractionSchema's."""

    type = fields.String(required=True, metadata={"anyOf": [
        {"type": "string", "enum": [t for t in CATALOG if t != DND_TYPE]},
        {"type": "string", "pattern": CUSTOM_TYPE}]})


def interaction_body() -> dict:
    """The body of POST /v1/interactions: one interaction, or a batch of them (read by ``interaction_schema.load_items``)."""
    one = {"oneOf": [OtherInteractionSchema, DndInteractionSchema]}
    batch = {"type": "object", "additionalProperties": False, "required": ["interactions"],
             "properties": {"interactions": {
                 "type": "array", "minItems": 1, "maxItems": 1000, "items": one,
                 "description": "at most MAX_BATCH_INTERACTIONS (default 1000) per request"}}}
    return {"oneOf": [OtherInteractionSchema, DndInteractionSchema, batch]}


class ItemsSchema(ma.Schema):
    """A list response: ``{"items": [...]}``."""

    items = fields.List(fields.Dict())


class ContactPageSchema(ItemsSchema):
    """A page of contacts; ``next_cursor`` is passed back as ``cursor`` for the next page."""

    total = fields.Integer()
    next_cursor = fields.String(allow_none=True)


class CursorPageSchema(ItemsSchema):
    next_cursor = fields.Integer(allow_none=True)


class ContactSchema(ma.Schema):
    id = fields.String()
    name = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    external_id = fields.String(allow_none=True)
    company = fields.String(allow_none=True, metadata={
        "description": "the company id: its company attribute's, else its email's domain unless free-mail "
                       "(GET /v1/companies/{id})"})
    tags = fields.List(fields.String())
    dnd = fields.Dict(keys=fields.String(), values=fields.Boolean())
    attributes = fields.Dict(keys=fields.String(), metadata={"description": "the contact's attributes: name -> "
                                                                           "text, number or true/false"})
    scores = fields.Dict(metadata={"description": "profile id -> {score, band}; absent when empty"})
    grades = fields.Dict(keys=fields.String(), values=fields.String(), metadata={
        "description": "grade id -> cell (A1 … C3); absent when either of its profiles has no score"})


class CapBitesSchema(ma.Schema):
    cap = fields.String(metadata={"description": "'group:<id>' or 'max_score'"})
    max = fields.Integer(metadata={"description": "the cap's value"})
    entries = fields.Integer(metadata={"description": "ledger entries the cap cut (in part or whole)"})
    contacts = fields.Integer(metadata={"description": "contacts with at least one such entry"})


class PreviewSchema(ma.Schema):
    contacts = fields.Integer(metadata={"description": "contacts the draft would score"})
    outside = fields.Integer(metadata={"description": "contacts the draft's include/exclude lists leave out now "
                                                      "(no score; not in the counts)"})
    histogram = fields.List(fields.Dict())
    bands = fields.Dict(keys=fields.String(), values=fields.Integer())
    movers = fields.List(fields.Dict())
    caps = fields.List(fields.Nested(CapBitesSchema), metadata={"description": "how often each of the draft's "
                                                                              "caps bites, over history"})


class IngestResultSchema(ma.Schema):
    accepted = fields.Integer()
    duplicates = fields.Integer()


class ScoreChangeSchema(Strict):
    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {"oneOf": [{"required": ["set"]}, {"required": ["add"]}, {"required": ["reset"]}]}

    set = whole_number(0, 10_000_000)
    add = whole_number(-10_000_000, 10_000_000)
    reset = StrictBoolean(validate=validate.Equal(True, error="only true"),
                          metadata={"enum": [True], "description": "true: back to 0 as a fresh start (pending "
                                    "expiries and decay of earlier points are dropped, groups start empty)"})
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))

    @validates_schema
    def one_op(self, data, **_):
        if sum(op in data for op in ("set", "add", "reset")) != 1:
            raise ValidationError("give exactly one of 'set', 'add' or 'reset'")


class ScoreResultSchema(ma.Schema):
    contact_id = fields.String()
    profile = fields.String()
    score = fields.Integer()
    band = fields.String(allow_none=True)


def _tag() -> fields.String:
    return fields.String(validate=[regexp(TAG_TEXT, "a tag is printable text without spaces or commas"),
                                   validate.Length(max=100)])


class TagsPatchSchema(Strict):
    add = fields.List(_tag(), load_default=list)
    remove = fields.List(_tag(), load_default=list)


class ContactPatchSchema(Strict):
    name = fields.String(allow_none=True, validate=validate.Length(max=200),
                         metadata={"description": "the person's name (found by search as you type); null clears it"})
    tags = fields.Nested(TagsPatchSchema)
    dnd = fields.Dict(keys=fields.String(validate=regexp(r"^[a-z_]{1,32}$", "a channel is 1-32 of a-z and _")),
                      values=StrictBoolean())
    attributes = AttributesField(metadata={"description": "attributes to set (job title, company size, ...); null "
                                                          "removes one; fit profiles score them at once"})


class FilterArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    email = fields.String()
    external_id = fields.String()
    profile = fields.String(validate=PROFILE_ID)
    op = fields.String(validate=validate.OneOf(SCORE_OPS))
    value = fields.Float(allow_nan=False)
    tag = fields.String(validate=validate.Length(min=1, max=100))
    without_tag = fields.String(validate=validate.Length(min=1, max=100))
    filter = JsonText(FilterDocumentSchema,
                      metadata={"description": "a filter document as JSON (see POST /v1/contacts/search); "
                                               "replaces profile, op, value, tag and without_tag"})
    q = fields.String(validate=validate.Length(min=1, max=200),
                      metadata={"description": "find contacts whose email, name or external id starts with this"})
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    cursor = fields.String(validate=regexp(r"^[0-9]{1,15}$", "use next_cursor from the previous page"))


class HistoryArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE

    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_CURSOR))
    before = fields.String(load_default=None, validate=validate.Length(min=1, max=2000),
                           metadata={"description": "next_before of the previous page: the entries older than "
                                                    "the last one it showed (stable while new entries arrive)"})


class HistoryPageSchema(CursorPageSchema):
    next_before = fields.String(allow_none=True)


def is_valid_id(value: str) -> bool:
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", value))
