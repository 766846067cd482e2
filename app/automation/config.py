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
from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate, validates_schema
from marshmallow_oneofschema import OneOfSchema

from ..edge_fields import (
    HEADER_NAME,
    HEADER_VALUE,
    NOT_PRINTABLE,
    SPACES,
    TAG_TEXT,
    URL_TEXT,
    StrictBoolean,
    WholeNumber,
    duration_field,
    regexp,
    where_json_schema,
)
from ..interaction_schema import InteractionType
from ..outbound import check_url
from ..scoring.conditions import NUMERIC_OPS, SCORE_OPS, validate_where
from .templates import sandbox
from ..scoring.grades import CELLS
from .triggers import (
    FIRE_MODES,
    CompanyScoreTrigger,
    GradeTrigger,
    InteractionTrigger,
    ScoreTrigger,
    TagFilters,
    Workflow,
)

ID_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
#: Steps in one workflow, at most.
MAX_STEPS = 50
#: The longest ``wait`` step, in milliseconds (90 days).
MAX_WAIT_MS = 90 * 86_400_000
#: Headers a webhook step may not set: the signature headers and what HTTP itself owns.
RESERVED_HEADERS = frozenset({"webhook-id", "webhook-timestamp", "webhook-signature", "content-type",
                              "content-length", "host", "transfer-encoding", "connection"})
#: ``whsec_`` and the base64 (padded or not) of at least 24 bytes.
SECRET_TEXT = r"^whsec_([A-Za-z0-9+/]{4}){8,}([A-Za-z0-9+/]{2}(==)?|[A-Za-z0-9+/]{3}=?)?$"
#: The largest ``add`` or ``set`` of an adjust_score step (as for manual changes over the API).
MAX_ADJUST = 10_000_000
_ADDRESS = rf"[^@,{NOT_PRINTABLE}{SPACES}]+@[^@,{NOT_PRINTABLE}{SPACES}]+"
#: One or more email addresses, comma-separated (spaces around the commas allowed).
EMAIL_LIST = rf"^ *{_ADDRESS}( *, *{_ADDRESS})* *$"


def _describe(text: str) -> dict[str, Any]:
    return {"description": text}


class StrictSchema(Schema):
    class Meta:
        unknown = RAISE


class Tag(fields.String):
    def __init__(self, **kwargs: Any):
        super().__init__(validate=[regexp(TAG_TEXT, "a tag is 1-100 printable characters without commas, and no spaces at either end"),
                                   validate.Length(max=100)], **kwargs)


class TemplateText(fields.String):
    """A Jinja2 template (sandboxed); its syntax is checked when the config is loaded."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            sandbox().parse(text)
        except TemplateSyntaxError as error:
            raise ValidationError(f"template error on line {error.lineno}: {error.message}") from error
        return text


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


def _score_condition(required: bool) -> dict[str, Any]:
    """The operator/value/profile rules of ``_check_score_condition``, as JSON Schema."""
    by_operator = {"if": {"required": ["operator"], "properties": {"operator": {"enum": list(NUMERIC_OPS)}}},
                   "then": {"required": ["value"], "properties": {"value": {"type": "integer"}}},
                   "else": {"properties": {"value": {"type": "null"}}}}
    if required:
        return {"allOf": [by_operator]}
    return {"if": {"required": ["operator"]}, "then": {"required": ["profile"], "allOf": [by_operator]},
            "else": {"properties": {"value": False, "profile": False}}}


class ScoreTriggerSchema(StrictSchema):
    class Meta:
        unknown = RAISE
        json_schema_extra = _score_condition(required=True)

    type = fields.String(required=True, validate=validate.Equal("score_changed"))
    profile = fields.String(required=True, validate=regexp(ID_PATTERN),
                            metadata=_describe("the score profile whose live score is watched"))
    operator = fields.String(required=True, validate=validate.OneOf(SCORE_OPS))
    value = WholeNumber(allow_none=True, validate=validate.Range(min=-(2**63), max=2**63 - 1),
                        metadata=_describe("for eq ne gt gte lt lte"))
    fire = fields.String(load_default="on_enter", validate=validate.OneOf(FIRE_MODES),
                         metadata=_describe("on_enter: when the condition becomes true; "
                                            "on_change: on every change after which it holds"))
    reentry = StrictBoolean(load_default=False, metadata=_describe("false: a contact runs it at most once ever"))
    filters = fields.Nested(TagFiltersSchema, load_default=dict)

    @validates_schema
    def _value_matches_operator(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_score_condition(data, required=True)


class CompanyScoreTriggerSchema(ScoreTriggerSchema):
    """A company's score in a profile that rolls up to companies; the run acts on the contact whose change moved
    it (docs/workflows.md)."""

    type = fields.String(required=True, validate=validate.Equal("company_score_changed"))
    profile = fields.String(required=True, validate=regexp(ID_PATTERN), metadata=_describe(
        "the score profile whose live company score is watched (it must roll up to companies)"))
    fire = fields.String(load_default="on_enter", validate=validate.OneOf(FIRE_MODES),
                         metadata=_describe("on_enter: when a company's score comes to meet the condition; "
                                            "on_change: on every change of a company's score after which it holds"))
    reentry = StrictBoolean(load_default=False, metadata=_describe(
        "false: a contact runs it at most once ever (the contact whose change moved the company)"))


class InteractionTriggerSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.Equal("interaction"))
    on = InteractionType(required=True, metadata=_describe("interaction type, e.g. form.submitted"))
    where = fields.Dict(keys=fields.String(), load_default=dict,
                        metadata={**where_json_schema(), **_describe("property conditions, as in score rules")})
    reentry = StrictBoolean(load_default=False, metadata=_describe("false: a contact runs it at most once ever"))
    filters = fields.Nested(TagFiltersSchema, load_default=dict)

    @validates_schema(skip_on_field_errors=False)
    def _known_type_and_where(self, data: dict[str, Any], **kwargs: Any) -> None:
        errors: dict[str, Any] = {}
        problems = validate_where(data.get("where", {}))
        if problems:
            errors["where"] = {path: [problem] for path, problem in problems.items()}
        if errors:
            raise ValidationError(errors)


class Cells(fields.Field):
    """One cell (``"A1"``) or a list of them, read as a tuple."""

    def __init__(self, **kwargs: Any):
        one = {"type": "string", "enum": list(CELLS)}
        kwargs["metadata"] = {"anyOf": [one, {"type": "array", "items": one, "minItems": 1, "maxItems": 9}],
                              **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> tuple[str, ...]:
        cells = [value] if isinstance(value, str) else value
        if not isinstance(cells, list) or not 1 <= len(cells) <= 9 or \
                not all(isinstance(c, str) and c in CELLS for c in cells):
            raise ValidationError(f"a cell or a list of cells: {', '.join(CELLS)}")
        return tuple(dict.fromkeys(cells))


class GradeTriggerSchema(StrictSchema):
    type = fields.String(required=True, validate=validate.Equal("grade_changed"))
    grade = fields.String(required=True, validate=regexp(ID_PATTERN),
                          metadata=_describe("the grade whose cell is watched"))
    becomes = Cells(metadata=_describe("fire when the cell becomes this one (or one of these, from a cell "
                                       "outside them); without it, on every change of cell"))
    reentry = StrictBoolean(load_default=False, metadata=_describe("false: a contact runs it at most once ever"))
    filters = fields.Nested(TagFiltersSchema, load_default=dict)


class WhenSchema(StrictSchema):
    """A step runs only when this holds at that moment (score and tags are read fresh)."""

    class Meta:
        unknown = RAISE
        json_schema_extra = _score_condition(required=False)

    profile = fields.String(validate=regexp(ID_PATTERN))
    operator = fields.String(validate=validate.OneOf(SCORE_OPS))
    value = WholeNumber(allow_none=True, validate=validate.Range(min=-(2**63), max=2**63 - 1))
    tags_all = fields.List(Tag(), load_default=list)
    tags_none = fields.List(Tag(), load_default=list)

    @validates_schema
    def _value_matches_operator(self, data: dict[str, Any], **kwargs: Any) -> None:
        _check_score_condition(data, required=False)


class StepSchema(StrictSchema):
    type = fields.String(required=True)
    name = fields.String(validate=validate.Length(1, 200), metadata=_describe("shown in runs"))
    when = fields.Nested(WhenSchema, metadata=_describe("skip the step unless this holds"))


class AddTagStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("add_tag"))
    tag = Tag(required=True)


class RemoveTagStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("remove_tag"))
    tag = Tag(required=True)


class AdjustScoreStepSchema(StepSchema):
    class Meta:
        unknown = RAISE
        json_schema_extra = {"oneOf": [{"required": ["add"]}, {"required": ["set"]}]}

    type = fields.String(required=True, validate=validate.Equal("adjust_score"))
    profile = fields.String(required=True, validate=regexp(ID_PATTERN))
    add = WholeNumber(validate=validate.Range(min=-MAX_ADJUST, max=MAX_ADJUST),
                      metadata=_describe("points to add (negative to take away)"))
    set = WholeNumber(validate=validate.Range(min=0, max=MAX_ADJUST), metadata=_describe("the new score"))
    reason = fields.String(load_default="workflow", validate=validate.Length(1, 200))

    @validates_schema
    def _add_or_set(self, data: dict[str, Any], **kwargs: Any) -> None:
        if ("add" in data) == ("set" in data):
            raise ValidationError("give exactly one of 'add' and 'set'", "add")


class ResetScoreStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("reset_score"))
    profile = fields.String(required=True, validate=regexp(ID_PATTERN))
    reason = fields.String(required=True, validate=validate.Length(1, 200),
                           metadata=_describe("why, kept in the ledger"))


class NotifyStepSchema(StepSchema):
    class Meta:
        unknown = RAISE
        json_schema_extra = {"allOf": [
            {"if": {"properties": {"channel": {"const": "email"}}, "required": ["channel"]},
             "then": {"required": ["to"], "properties": {"to": {"type": "string", "pattern": EMAIL_LIST}}}},
            {"if": {"properties": {"channel": {"const": "slack"}}, "required": ["channel"]},
             "then": {"required": ["to"], "properties": {"to": {"type": "string", "pattern": URL_TEXT}}}}]}

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
            if not isinstance(to, str) or not re.fullmatch(EMAIL_LIST, to):
                raise ValidationError("email needs one or more addresses (comma-separated)", "to")
        elif channel == "slack":
            problem = _url_problem(to) if to else "slack needs the incoming-webhook URL"
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


def _url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a destination: the SSRF guard's first check, then the documented pattern."""
    problem = check_url(url)
    if problem is None and not re.fullmatch(URL_TEXT, url):
        problem = "must be an http(s) URL: a host name or [IPv6 address], an optional port, visible ASCII"
    return problem


def _check_url(url: str) -> bool:
    problem = _url_problem(url)
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
    url = fields.String(required=True, validate=_check_url, metadata={"pattern": URL_TEXT})
    secret = fields.String(required=True, validate=[regexp(SECRET_TEXT, "a secret is 'whsec_' and the base64 of "
                                                                        "at least 24 random bytes"), _check_secret],
                           metadata=_describe("Standard Webhooks secret, whsec_ + base64"))
    headers = fields.Dict(keys=fields.String(validate=regexp(HEADER_NAME, "not an HTTP header name")),
                          values=fields.String(validate=[regexp(HEADER_VALUE, "not a valid HTTP header value: "
                                                                "visible ASCII and inner spaces only (no CR, LF "
                                                                "or other control characters)"),
                                                         validate.Length(max=1000)]),
                          load_default=dict, validate=_check_headers,
                          metadata=_describe("extra request headers; checked when the workflow is saved"))


class WaitStepSchema(StepSchema):
    type = fields.String(required=True, validate=validate.Equal("wait"))
    duration = duration_field(MAX_WAIT_MS, "90d", required=True, metadata=_describe("e.g. 30m, 1h, 2d"))


class ByType(OneOfSchema):
    """An object whose ``type`` picks its schema (a trigger or a step); an unknown type names the choices."""

    type_field_remove = False

    def _load(self, data: Any, **kwargs: Any) -> Any:
        if not isinstance(data, Mapping):
            raise ValidationError({"_schema": ["must be an object"]})
        return super()._load(data, **kwargs)

    def get_data_type(self, data: Any) -> Any:
        kind = data.get(self.type_field)
        if kind is not None and (not isinstance(kind, str) or kind not in self.type_schemas):
            raise ValidationError({"type": [f"must be one of: {', '.join(self.type_schemas)}"]})
        return kind


class TriggerSchema(ByType):
    type_schemas = {"score_changed": ScoreTriggerSchema, "interaction": InteractionTriggerSchema,
                    "grade_changed": GradeTriggerSchema, "company_score_changed": CompanyScoreTriggerSchema}


class StepByTypeSchema(ByType):
    type_schemas = {"add_tag": AddTagStepSchema, "remove_tag": RemoveTagStepSchema,
                    "adjust_score": AdjustScoreStepSchema, "reset_score": ResetScoreStepSchema,
                    "notify": NotifyStepSchema,
                    "webhook": WebhookStepSchema, "wait": WaitStepSchema}


TRIGGER_SCHEMAS = TriggerSchema.type_schemas
STEP_SCHEMAS = StepByTypeSchema.type_schemas


def _filters(data: Mapping[str, Any] | None) -> TagFilters:
    return TagFilters.from_json(data)


class WorkflowSchema(StrictSchema):
    schema_ref = fields.String(data_key="$schema", metadata=_describe("editor hint, ignored"))
    id = fields.String(required=True, validate=regexp(ID_PATTERN, "1-64 of A-Z a-z 0-9 _ . -"))
    name = fields.String(required=True, validate=validate.Length(1, 200))
    description = fields.String(validate=validate.Length(max=2000))
    enabled = StrictBoolean(load_default=True)
    trigger = fields.Nested(TriggerSchema, required=True)
    steps = fields.List(fields.Nested(StepByTypeSchema), required=True, validate=validate.Length(1, MAX_STEPS))

    @post_load
    def _to_workflow(self, data: dict[str, Any], **kwargs: Any) -> Workflow:
        data.pop("schema_ref", None)
        trig = dict(data["trigger"])
        trig["filters"] = {"tags_all": list(_filters(trig.get("filters")).tags_all),
                           "tags_none": list(_filters(trig.get("filters")).tags_none)}
        data["trigger"] = trig
        trigger: ScoreTrigger | InteractionTrigger | GradeTrigger | CompanyScoreTrigger
        if trig["type"] == "grade_changed":
            if "becomes" in trig:
                trig["becomes"] = list(trig["becomes"]) if len(trig["becomes"]) > 1 else trig["becomes"][0]
            becomes = trig.get("becomes")
            trigger = GradeTrigger(trig["grade"], tuple([becomes] if isinstance(becomes, str) else becomes or ()),
                                   trig["reentry"], _filters(trig["filters"]))
        elif trig["type"] == "score_changed":
            trigger = ScoreTrigger(trig["profile"], trig["operator"], trig.get("value"), trig["fire"],
                                   trig["reentry"], _filters(trig["filters"]))
        elif trig["type"] == "company_score_changed":
            trigger = CompanyScoreTrigger(trig["profile"], trig["operator"], trig.get("value"), trig["fire"],
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


def validate_file(path: str | Path) -> list[str]:
    """Problems of a workflow file, each line prefixed with the file name (for the CLI)."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as error:
        return [f"{path}: cannot read: {error}"]
    except json.JSONDecodeError as error:
        return [f"{path}: invalid JSON at line {error.lineno} column {error.colno}: {error.msg}"]
    problems = validate_document(doc)
    if not problems and isinstance(doc, Mapping) and path.stem != doc.get("id"):
        problems = [f"id: {doc.get('id')!r} differs from the file name; name the file {doc.get('id')}.json"]
    return [f"{path}: {p}" for p in problems]


# --- JSON Schema, generated from the schemas above by apispec ----------------------------------
def write_json_schema(path: str | Path) -> None:
    """Write the generated JSON Schema (``scorekeeper workflows schema PATH``)."""
    Path(path).write_text(json.dumps(json_schema(), indent=2) + "\n", encoding="utf-8")


def json_schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a workflow file, made from ``WorkflowSchema``."""
    from ..openapi import json_schema_of

    return json_schema_of(WorkflowSchema, title="Scorekeeper workflow",
                          id_="https://scorekeeper.dev/schemas/workflow.schema.json")
