"""Workflow configs: marshmallow schemas (validation at the edge), the JSON Schema made from
them, and ``validate`` for files (the CLI) and documents (the API).

Unknown keys are errors. A config becomes a ``triggers.Workflow`` in ``post_load``.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from jinja2 import TemplateSyntaxError
from marshmallow import RAISE, Schema, ValidationError, fields, missing, post_load, validate, validates_schema

from ..outbound import check_url
from ..scoring.conditions import NUMERIC_OPS, SCORE_OPS, validate_where
from ..scoring.durations import parse_duration_ms
from ..scoring.interactions import is_known_type
from .templates import sandbox
from .triggers import FIRE_MODES, InteractionTrigger, ScoreTrigger, TagFilters, Workflow

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: A tag: 1-100 characters, no commas, no spaces at either end (spaces inside are fine: "big spender").
TAG_PATTERN = r"^(?=.{1,100}$)[^,\s](?:[^,]*[^,\s])?$"
#: Steps in one workflow, at most.
MAX_STEPS = 50
#: The longest ``wait`` step, in milliseconds (90 days).
MAX_WAIT_MS = 90 * 86_400_000
#: Headers a webhook step may not set: the signature headers and what HTTP itself owns.
RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                              "content-length", "host", "transfer-encoding", "connection"})
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")


def _describe(text: str) -> dict[str, Any]:
    return {"description": text}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class Tag(fields.String):
    def __init__(self, **kwargs: Any):
        super().__init__(validate=validate.Regexp(TAG_PATTERN, error="a tag is 1-100 characters without commas, "
                                                                       "and no spaces at either end"), **kwargs)


class TemplateText(fields.String):
    """A Jinja2 template (sandboxed); its syntax is checked when the config is loaded."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            sandbox().parse(text)
        except TemplateSyntaxError as error:
            raise ValidationError(f"template error on line {error.lineno}: {error.message}") from error
        return text


class ByType(fields.Field):
    """An object whose ``type`` picks its schema (a trigger or a step)."""

    def __init__(self, schemas: Mapping[str, type[Schema]], **kwargs: Any):
        super().__init__(**kwargs)
        self.schemas = dict(schemas)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise ValidationError("must be an object")
        kind = value.get("type")
        if kind not in self.schemas:
            raise ValidationError({"type": [f"must be one of: {', '.join(self.schemas)}"]})
        return self.schemas[kind]().load(value)


class TagFiltersSchema(StrictSchema):
    tags_all = fields.List(Tag(), load_default=list, metadata=_describe("the contact has every one of these tags"))
    tags_none = fields.List(Tag(), load_default=list, metadata=_describe("the contact has none of these tags"))


def _check_score_condition(data: Mapping[str, Any], required: bool) -> None:
    op = data.get("operator")
    if op is None:
        if required:
            raise ValidationError("Missing data for required field.", "operator")
        if "value" in data or "profile" in data:
            raise ValidationError("a score condition needs an operator", "operator")
        return
    if "profile" not in data:
        raise ValidationError("a score condition needs a profile", "profile")
    if op in NUMERIC_OPS and data.get("value") is None:
        raise ValidationError(f"{op!r} needs a numeric value", "value")
    if op not in NUMERIC_OPS and data.get("value") is not None:
        raise ValidationError(f"{op!r} takes no value", "value")


class ScoreTriggerSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.Equal("score_changed"))
    profile = fields.String(required=True, validate=validate.Regexp(ID_PATTERN),
                            metadata=_describe("the score profile whose live score is watched"))
    operator = fields.String(required=True, validate=validate.OneOf(SCORE_OPS))
    value = fields.Integer(strict=True, allow_none=True, metadata=_describe("for eq ne gt gte lt lte"))
    fire = fields.String(load_default="on_enter", validate=validate.OneOf(FIRE_MODES),
                         metadata=_describe("on_enter: when the condition becomes true; "
                                            "on_change: on every change after which it holds"))
    reentry = fields.Boolean(load_default=False, metadata=_describe("false: a contact runs it at most once ever"))
    filters = fields.Nested(TagFiltersSchema, load_default=dict)

    @validates_schema
    def _value_matches_operator(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_score_condition(data, required=True)


class InteractionTriggerSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.Equal("interaction"))
    on = fields.String(required=True, metadata=_describe("interaction type, e.g. form.submitted"))
    where = fields.Dict(keys=fields.String(), load_default=dict,
                        metadata=_describe("property conditions, as in score rules"))
    reentry = fields.Boolean(load_default=False, metadata=_describe("false: a contact runs it at most once ever"))
    filters = fields.Nested(TagFiltersSchema, load_default=dict)

    @validates_schema
    def _known_type_and_where(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, Any] = {}
        if not is_known_type(data.get("on")):
            errors["on"] = ["unknown interaction type; use a catalog type or custom.NAME"]
        problems = validate_where(data.get("where", {}))
        if problems:
            errors["where"] = {path: [problem] for path, problem in problems.items()}
        if errors:
            raise ValidationError(errors)


class WhenSchema(StrictSchema):
    """A step runs only when this holds at that moment (score and tags are read fresh)."""

    profile = fields.String(validate=validate.Regexp(ID_PATTERN))
    operator = fields.String(validate=validate.OneOf(SCORE_OPS))
    value = fields.Integer(strict=True, allow_none=True)
    tags_all = fields.List(Tag(), load_default=list)
    tags_none = fields.List(Tag(), load_default=list)

    @validates_schema
    def _value_matches_operator(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_score_condition(data, required=False)


class StepSchema(StrictSchema):
    type = fields.String(required=True)
    name = fields.String(validate=validate.Length(1, 200), metadata=_describe("shown in runs"))
    when = fields.Nested(WhenSchema, metadata=_describe("skip the step unless this holds"))


class TagStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.OneOf(("add_tag", "remove_tag")))
    tag = Tag(required=True)


class AdjustScoreStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("adjust_score"))
    profile = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    add = fields.Integer(strict=True, metadata=_describe("points to add (negative to take away)"))
    set = fields.Integer(strict=True, validate=validate.Range(min=0), metadata=_describe("the new score"))
    reason = fields.String(load_default="workflow", validate=validate.Length(1, 200))

    @validates_schema
    def _add_or_set(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("add" in data) == ("set" in data):
            raise ValidationError("give exactly one of 'add' and 'set'", "add")


class ResetScoreStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("reset_score"))
    profile = fields.String(required=True, validate=validate.Regexp(ID_PATTERN))
    reason = fields.String(required=True, validate=validate.Length(1, 200),
                           metadata=_describe("why, kept in the ledger"))


class NotifyStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("notify"))
    channel = fields.String(required=True, validate=validate.OneOf(("email", "slack", "inbox")))
    to = fields.String(metadata=_describe("email: addresses (comma-separated); slack: incoming-webhook URL; "
                                          "inbox: optional audience label"))
    subject = TemplateText(metadata=_describe("email subject template"))
    message = TemplateText(required=True, validate=validate.Length(1, 10_000),
                           metadata=_describe("Jinja2 template over contact, score, profile, workflow, run"))

    @validates_schema
    def _recipient(self, data: dict[str, Any], **kwargs: Any) -> None:
        channel, to = data.get("channel"), data.get("to")
        if channel == "email":
            addresses = [a.strip() for a in (to or "").split(",") if a.strip()]
            if not addresses or not all(_EMAIL.match(a) for a in addresses):
                raise ValidationError("email needs one or more addresses", "to")
        elif channel == "slack":
            problem = check_url(to or "") if to else "slack needs the incoming-webhook URL"
            if problem:
                raise ValidationError(problem, "to")


def _check_secret(secret: str) -> bool:
    if not secret.startswith("whsec_"):
        raise ValidationError("a secret starts with 'whsec_' followed by base64")
    try:
        raw = base64.b64decode(secret[len("whsec_"):] + "==", validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValidationError("the part after 'whsec_' must be base64") from error
    if len(raw) < 24:
        raise ValidationError("a secret needs at least 24 random bytes")
    return True


def _check_url(url: str) -> bool:
    problem = check_url(url)
    if problem:
        raise ValidationError(problem)
    return True


def _check_headers(headers: Mapping[str, str]) -> bool:
    bad = sorted(h for h in headers if h.lower() in RESERVED_HEADERS)
    if bad:
        raise ValidationError(f"these headers are set by Scorekeeper: {', '.join(bad)}")
    return True


class WebhookStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("webhook"))
    url = fields.String(required=True, validate=_check_url)
    secret = fields.String(required=True, validate=_check_secret,
                           metadata=_describe("Standard Webhooks secret, whsec_ + base64"))
    headers = fields.Dict(keys=fields.String(validate=validate.Regexp(r"^[A-Za-z0-9-]{1,64}$")),
                          values=fields.String(validate=validate.Length(max=1000)),
                          load_default=dict, validate=_check_headers)


def _check_duration(text: str) -> bool:
    try:
        ms = parse_duration_ms(text)
    except ValueError as error:
        raise ValidationError(str(error)) from error
    if ms > MAX_WAIT_MS:
        raise ValidationError("a wait is at most 90d")
    return True


class WaitStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("wait"))
    duration = fields.String(required=True, validate=_check_duration, metadata=_describe("e.g. 30m, 1h, 2d"))


TRIGGER_SCHEMAS: dict[str, type[Schema]] = {"score_changed": ScoreTriggerSchema,
                                             "interaction": InteractionTriggerSchema}
STEP_SCHEMAS: dict[str, type[Schema]] = {
    "add_tag": TagStepSchema, "remove_tag": TagStepSchema, "adjust_score": AdjustScoreStepSchema,
    "reset_score": ResetScoreStepSchema,
    "notify": NotifyStepSchema, "webhook": WebhookStepSchema, "wait": WaitStepSchema,
}


def _filters(data: Mapping[str, Any] | None) -> TagFilters:
    data = data or {}
    return TagFilters(tuple(data.get("tags_all") or ()), tuple(data.get("tags_none") or ()))


class WorkflowSchema(StrictSchema):
    schema_ref = fields.String(data_key="$schema", metadata=_describe("editor hint, ignored"))
    id = fields.String(required=True, validate=validate.Regexp(ID_PATTERN, error="1-64 of A-Z a-z 0-9 _ . -"))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(validate=validate.Length(max=2000))
    enabled = fields.Boolean(load_default=True)
    trigger = ByType(TRIGGER_SCHEMAS, required=True)
    steps = fields.List(ByType(STEP_SCHEMAS), required=True, validate=validate.Length(1, MAX_STEPS))

    @post_load
    def _to_workflow(self, data: dict[str, Any], **kwargs: Any) -> Workflow:
        data.pop("schema_ref", None)
        trig = dict(data["trigger"])
        trig["filters"] = {"tags_all": list(_filters(trig.get("filters")).tags_all),
                           "tags_none": list(_filters(trig.get("filters")).tags_none)}
        data["trigger"] = trig
        trigger: ScoreTrigger | InteractionTrigger
        if trig["type"] == "score_changed":
            trigger = ScoreTrigger(trig["profile"], trig["operator"], trig.get("value"), trig["fire"],
                                   trig["reentry"], _filters(trig["filters"]))
        else:
            trigger = InteractionTrigger(trig["on"], trig["where"], trig["reentry"], _filters(trig["filters"]))
        return Workflow(data["id"], data["name"], trigger, tuple(data["steps"]), data["enabled"], data)


def load_workflow(doc: Any) -> Workflow:
    """A workflow from its JSON document; raises marshmallow's ValidationError (``messages`` per field)."""
    if not isinstance(doc, Mapping):
        raise ValidationError({"_schema": ["a workflow is a JSON object"]})
    return WorkflowSchema().load(doc)


def flatten_errors(messages: Any, path: str = "") -> list[str]:
    """marshmallow's nested messages as ``field.path: problem`` lines (``steps[1].url: ...``)."""
    if isinstance(messages, Mapping):
        out = []
        for key, value in messages.items():
            if key == "_schema":
                sub = path
            elif isinstance(key, int):
                sub = f"{path}[{key}]"
            else:
                sub = f"{path}.{key}" if path else str(key)
            out += flatten_errors(value, sub)
        return out
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        return [f"{path or '(workflow)'}: {m}" for m in messages]
    if isinstance(messages, list):
        return [line for m in messages for line in flatten_errors(m, path)]
    return [f"{path or '(workflow)'}: {messages}"]


def validate_document(doc: Any) -> list[str]:
    """Problems of a workflow document as ``field: problem`` lines (empty when valid)."""
    try:
        load_workflow(doc)
    except ValidationError as error:
        return flatten_errors(error.messages)
    return []


# --- JSON Schema, generated from the schemas above ----------------------------------------------
def _field_schema(field: fields.Field) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(field, ByType):
        out = {"oneOf": [_schema_object(s, const_type=name) for name, s in field.schemas.items()
                         if name != "remove_tag"]}
    elif isinstance(field, fields.Nested):
        nested = field.nested if isinstance(field.nested, type) else type(field.nested)
        out = _schema_object(nested)  # type: ignore[arg-type]
    elif isinstance(field, fields.List):
        out = {"type": "array", "items": _field_schema(field.inner)}
    elif isinstance(field, fields.Dict):
        out = {"type": "object"}
        if field.value_field is not None:
            out["additionalProperties"] = _field_schema(field.value_field)
    elif isinstance(field, fields.Boolean):
        out = {"type": "boolean"}
    elif isinstance(field, fields.Integer):
        out = {"type": "integer"}
    elif isinstance(field, fields.Number):
        out = {"type": "number"}
    elif isinstance(field, fields.String):
        out = {"type": "string"}
    else:
        out = {}
    if getattr(field, "allow_none", False) and "type" in out:
        out["type"] = [out["type"], "null"]
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            out["enum"] = list(validator.choices)
        elif isinstance(validator, validate.Equal):
            out["const"] = validator.comparable
        elif isinstance(validator, validate.Regexp):
            out["pattern"] = validator.regex.pattern
        elif isinstance(validator, validate.Range):
            if validator.min is not None:
                out["minimum"] = validator.min
            if validator.max is not None:
                out["maximum"] = validator.max
        elif isinstance(validator, validate.Length):
            low, high = ("minItems", "maxItems") if out.get("type") == "array" else ("minLength", "maxLength")
            if validator.min is not None:
                out[low] = validator.min
            if validator.max is not None:
                out[high] = validator.max
    if field.metadata.get("description"):
        out["description"] = field.metadata["description"]
    if field.load_default is not missing and field.load_default is not None and not callable(field.load_default):
        out["default"] = field.load_default
    return out


def _schema_object(schema_cls: type[Schema], const_type: str | None = None) -> dict[str, Any]:
    schema = schema_cls()
    properties: dict[str, Any] = {}
    required = []
    for name, field in schema.fields.items():
        key = field.data_key or name
        properties[key] = _field_schema(field)
        if field.required:
            required.append(key)
    if const_type is not None and "type" in properties:
        properties["type"] = {"const": const_type} if "enum" not in properties["type"] else properties["type"]
    out: dict[str, Any] = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = required
    if schema_cls.__doc__ and not schema_cls.__doc__.startswith("Schema"):
        out["description"] = " ".join(schema_cls.__doc__.split())
    return out


def write_json_schema(path: str | Path) -> None:
    """Write the generated JSON Schema (``scorekeeper workflows schema PATH``)."""
    Path(path).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a workflow file, made from ``WorkflowSchema``."""
    out = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "$id": "https://scorekeeper.dev/schemas/workflow.schema.json",
           "title": "Scorekeeper workflow"}
    out.update(_schema_object(WorkflowSchema))
    out.pop("description", None)
    return out

