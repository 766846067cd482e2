"""The filter document at the edge: one schema validates it for ``/v1/contacts``, ``/v1/smart-lists``
and the dashboard's filter builder, and turns it into ``app.contact_filter.ContactFilter``."""
from __future__ import annotations

import math

import marshmallow as ma
from marshmallow import ValidationError, fields, post_load, validate, validates_schema

from .contact_filter import (
    ACTIVITY_OPS,
    COMPANY_OPS,
    DND_OPS,
    FIELDS,
    GRADE_OPS,
    TAG_OPS,
    Condition,
    ContactFilter,
    from_legacy,
)
from .edge_fields import COMPANY_ID_TEXT, FITS_64_BITS, SLUG_TEXT, StrictNumber, WholeNumber, regexp, whole_number
from .scoring.conditions import NUMERIC_OPS, SCORE_OPS
from .scoring.grades import CELLS

PROFILE_ID = regexp(SLUG_TEXT, "a profile id")
#: A page cursor: the ``next_cursor`` of the page before (an offset).
CURSOR_TEXT = r"^[0-9]{1,15}$"
#: Most conditions one filter may have.
MAX_CONDITIONS = 20
#: Longest "last activity" window, in days (a hundred years).
MAX_DAYS = 36_500

#: The attributes each kind of condition uses; any other is refused, so a document has one meaning.
USES = {
    "score": {"profile", "op", "value"},
    "band": {"profile", "band"},
    "tag": {"op", "tag"},
    "activity": {"op", "days"},
    "dnd": {"op", "channel"},
    "grade": {"grade", "op", "cell", "cells"},
    "company": {"op", "company"},
    "company_score": {"profile", "op", "value"},
}
OPS = {"score": SCORE_OPS, "tag": TAG_OPS, "activity": ACTIVITY_OPS, "dnd": DND_OPS, "grade": GRADE_OPS,
       "company": COMPANY_OPS, "company_score": SCORE_OPS}
DEFAULT_OPS = {"tag": "has", "dnd": "on", "grade": "eq", "company": "eq"}
#: The conditions on a score (their own or their company's): numeric operators need a ``value``.
SCORED = ("score", "company_score")

#: The attributes each kind of condition cannot do without (a score condition's ``value`` too, with a
#: numeric operator).
REQUIRED = {"score": ("profile", "op"), "band": ("profile", "band"), "tag": ("tag",), "activity": ("op", "days"),
            "dnd": ("channel",), "grade": ("grade",), "company": ("company",), "company_score": ("profile", "op")}
#: The score operators that take no value.
VALUELESS_OPS = tuple(op for op in SCORE_OPS if op not in NUMERIC_OPS)


def condition_shapes() -> list[dict]:
    """The JSON Schema of each kind of condition, from the tables the validator uses (``USES``,
    ``OPS``, ``REQUIRED``): which attributes it takes, which it needs, which operators. The
    attributes' own types and patterns are the fields' (the ``properties`` beside this ``oneOf``)."""

    def shape(kind: str, ops: tuple[str, ...] | None, required: tuple[str, ...], uses: set[str]) -> dict:
        properties: dict = {"field": {"const": kind}}
        if ops is not None:
            properties["op"] = {"enum": list(ops)}
        return {"properties": properties, "required": ["field", *required],
                "propertyNames": {"enum": ["field", *sorted(uses)]}}

    shapes = []
    for kind in FIELDS:
        if kind in SCORED:
            shapes.append(shape(kind, NUMERIC_OPS, (*REQUIRED[kind], "value"), USES[kind]))
            shapes.append(shape(kind, VALUELESS_OPS, REQUIRED[kind], USES[kind] - {"value"}))
        elif kind == "grade":  # eq/ne (the default) with one cell; in with a list of cells
            shapes.append(shape(kind, ("eq", "ne"), (*REQUIRED[kind], "cell"), USES[kind] - {"cells"}))
            shapes.append(shape(kind, ("in",), (*REQUIRED[kind], "op", "cells"), USES[kind] - {"cell"}))
        else:
            shapes.append(shape(kind, OPS.get(kind), REQUIRED[kind], USES[kind]))
    return shapes


class Strict(ma.Schema):
    class Meta:
        unknown = ma.RAISE


class ConditionSchema(Strict):
    """One condition; the document states each kind's shape exactly (``condition_shapes``)."""

    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {"oneOf": condition_shapes()}

    field = fields.String(required=True, validate=validate.OneOf(FIELDS),
                          metadata={"description": "score, band, tag, activity, dnd, grade, company or company_score"})
    op = fields.String(metadata={"description": "score and company_score: eq ne gt gte lt lte empty not_empty; tag: "
                                                "has has_not; activity: within before; dnd: on off; grade: eq ne in; "
                                                "company: eq ne"})
    profile = fields.String(validate=PROFILE_ID,
                            metadata={"description": "score, band and company_score: the profile id"})
    value = StrictNumber(allow_nan=False, validate=FITS_64_BITS,
                         metadata={"description": "score and company_score with a numeric operator"})
    company = fields.String(validate=regexp(COMPANY_ID_TEXT, "a company id (acme.com, acme-inc)"),
                            metadata={"description": "company: the company id"})
    band = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "band: its name"})
    tag = fields.String(validate=validate.Length(min=1, max=100), metadata={"description": "tag: the tag"})
    days = WholeNumber(validate=validate.Range(min=0, max=MAX_DAYS),
                          metadata={"description": "activity: the window in days"})
    channel = fields.String(validate=regexp(r"^[a-z_]{1,32}$", "a channel name such as email"),
                            metadata={"description": "dnd: the channel"})
    grade = fields.String(validate=PROFILE_ID, metadata={"description": "grade: the grade id"})
    cell = fields.String(validate=validate.OneOf(CELLS), metadata={"description": "grade with eq/ne: A1 … C3"})
    cells = fields.List(fields.String(validate=validate.OneOf(CELLS)), validate=validate.Length(min=1, max=9),
                        metadata={"description": "grade with in: the cells (A1 … C3)"})

    @validates_schema
    def fits_its_field(self, data, **_):
        """Each kind of condition has its required attributes and no others."""
        kind = data.get("field")
        if kind not in USES:
            return
        errors: dict[str, list[str]] = {}
        for name in sorted(set(data) - {"field"} - USES[kind]):
            errors[name] = [f"not used by a {kind} condition"]
        op = data.get("op", DEFAULT_OPS.get(kind))
        if kind in OPS and op not in OPS[kind]:
            errors["op"] = [f"one of {', '.join(OPS[kind])}"]
        required = [name for name in REQUIRED[kind] if name != "op"]
        if kind == "grade":
            required.append("cells" if op == "in" else "cell")
            unused = "cell" if op == "in" else "cells"
            if unused in data:
                errors.setdefault(unused, [f"not used with op={op}"])
        if kind in SCORED and op in NUMERIC_OPS:
            required.append("value")
        for name in required:
            if data.get(name) is None:
                errors.setdefault(name, ["required" + (f" with op={op}" if name == "value" else "")])
        if kind in SCORED and op not in NUMERIC_OPS and "value" in data:
            errors.setdefault("value", [f"not used with op={op}"])
        if errors:
            raise ValidationError(errors)

    @post_load
    def make(self, data, **_) -> Condition:
        kind = data["field"]
        op = data.get("op", DEFAULT_OPS.get(kind))
        value = data.get("value")
        if value is not None and not math.isfinite(value):
            raise ValidationError({"value": ["a finite number"]})
        cells = data.get("cells")
        return Condition(kind, op=op, profile=data.get("profile"), value=value, band=data.get("band"),
                         tag=data.get("tag"), days=data.get("days"), channel=data.get("channel"),
                         grade=data.get("grade"), cell=data.get("cell"),
                         cells=tuple(dict.fromkeys(cells)) if cells is not None else None, company=data.get("company"))


class FilterDocumentSchema(Strict):
    """Conditions joined by AND; ``order_by`` names the profile whose score orders the contacts."""

    conditions = fields.List(fields.Nested(ConditionSchema), load_default=list,
                             validate=validate.Length(max=MAX_CONDITIONS))
    order_by = fields.String(validate=PROFILE_ID,
                             metadata={"description": "profile whose score orders the result (default: the first "
                                                      "score or band condition's; else newest contacts first)"})

    @post_load
    def make(self, data, **_) -> ContactFilter:
        return ContactFilter(tuple(data["conditions"]), order_by=data.get("order_by"))


def load_filter(document: object) -> ContactFilter:
    """A validated filter from a document (raises marshmallow's ``ValidationError``)."""
    if not isinstance(document, dict):
        raise ValidationError({"filter": ["a JSON object with conditions"]})
    return FilterDocumentSchema().load(document)


LEGACY_FIELDS = ("profile", "op", "value", "tag", "without_tag")
#: How the single-condition fields depend on each other, in JSON Schema: ``op`` needs ``profile``; a
#: numeric ``op`` needs ``value``; ``value`` goes only with a numeric ``op``. ``complete`` below checks it.
LEGACY_DEPENDENCIES = {
    "dependentRequired": {"op": ["profile"]},
    "dependentSchemas": {"value": {"required": ["op"], "properties": {"op": {"enum": list(NUMERIC_OPS)}}},
                         "op": {"anyOf": [{"properties": {"op": {"enum": list(VALUELESS_OPS)}}},
                                          {"required": ["value"]}]}},
}


class LegacyFilterSchema(ma.Schema):
    """The single-condition fields that came before filter documents (still accepted)."""

    profile = fields.String(validate=PROFILE_ID)
    op = fields.String(validate=validate.OneOf(SCORE_OPS))
    value = StrictNumber(allow_nan=False, validate=FITS_64_BITS)
    tag = fields.String(validate=validate.Length(min=1, max=100))
    without_tag = fields.String(validate=validate.Length(min=1, max=100))

    @validates_schema
    def complete(self, data, **_):
        """The dependencies of ``LEGACY_DEPENDENCIES``: nothing given is ignored without a word."""
        op = data.get("op")
        if op and not data.get("profile"):
            raise ValidationError({"profile": ["required with op"]})
        if op in NUMERIC_OPS and data.get("value") is None:
            raise ValidationError({"value": [f"required with op={op}"]})
        if "value" in data and op not in NUMERIC_OPS:
            raise ValidationError({"value": [f"not used with op={op}" if op else "not used without op"]})


def legacy_filter(args: dict) -> ContactFilter:
    """The filter of validated legacy fields."""
    return from_legacy({k: args.get(k) for k in LEGACY_FIELDS})


class SmartListSchema(LegacyFilterSchema):
    """A smart list: a name and a filter document (or, as before, the single-condition fields)."""

    class Meta:
        unknown = ma.RAISE
        json_schema_extra = {**LEGACY_DEPENDENCIES, "dependentSchemas": {
            **LEGACY_DEPENDENCIES["dependentSchemas"],
            "filter": {"not": {"anyOf": [{"required": [name]} for name in LEGACY_FIELDS]}}}}

    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    filter = fields.Nested(FilterDocumentSchema)

    @validates_schema
    def one_form(self, data, **_):
        legacy = [k for k in LEGACY_FIELDS if k in data]
        if "filter" in data and legacy:
            raise ValidationError({name: ["give the filter document or the single-condition fields, not both"]
                                   for name in legacy})

    @post_load
    def make(self, data, **_) -> dict:
        flt = data.get("filter") or legacy_filter(data)
        return {"name": data["name"], "filter": flt}


class SmartListOutSchema(ma.Schema):
    id = fields.String()
    name = fields.String()
    filter = fields.Dict(metadata={"description": "the filter document"})
    count = fields.Integer(allow_none=True, metadata={"description": "members right now (in lists of smart lists); "
                                                                    "null when the list cannot run"})
    problem = fields.String(metadata={"description": "why the list cannot run now (it names a profile deleted "
                                                     "since it was saved); only then"})


class SmartListPageSchema(ma.Schema):
    """``GET /v1/smart-lists``."""

    items = fields.List(fields.Nested(SmartListOutSchema))


class FilterQuerySchema(Strict):
    """``POST /v1/contacts/search``: a filter document and the page wanted."""

    filter = fields.Nested(FilterDocumentSchema, load_default=lambda: ContactFilter())
    limit = whole_number(1, 500, load_default=50)
    cursor = fields.String(validate=regexp(CURSOR_TEXT, "use next_cursor from the previous page"),
                           metadata={"description": "next_cursor of the previous page"})
