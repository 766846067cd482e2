"""Documents generated from the marshmallow schemas with apispec: the OpenAPI document and the
workflow file's JSON Schema. No hand-written converter: apispec's MarshmallowPlugin (with the
one-of extension for ``OneOfSchema``) converts every field and validator.

A schema may add JSON Schema keywords that no field can state (``anyOf`` over required fields,
say) with ``class Meta: json_schema_extra = {...}``.
"""
from __future__ import annotations

from typing import Any

from apispec import APISpec, BasePlugin
from apispec_oneofschema import MarshmallowPlugin as OneOfMarshmallowPlugin
from marshmallow import Schema, fields, validate


class SchemaExtras(BasePlugin):
    """Merges a schema's ``Meta.json_schema_extra`` into its component."""

    def schema_helper(self, name: str, definition: dict[str, Any], **kwargs: Any) -> dict[str, Any] | None:
        schema = kwargs.get("schema")
        if schema is None:
            return None
        cls = schema if isinstance(schema, type) else type(schema)
        extra = getattr(getattr(cls, "Meta", None), "json_schema_extra", None)
        return dict(extra) if extra else None


def dict_keys_and_size(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """A Dict field's key rules (``propertyNames``) and size (``minProperties``/``maxProperties``)."""
    if not isinstance(field, fields.Dict):
        return {}
    out: dict[str, Any] = {}
    keys = field.key_field
    for validator in (keys.validators if keys is not None else ()):
        if isinstance(validator, validate.Regexp):
            out.setdefault("propertyNames", {})["pattern"] = validator.regex.pattern
    for validator in field.validators:
        if isinstance(validator, validate.Length):
            if validator.min is not None:
                out["minProperties"] = validator.min
            if validator.max is not None:
                out["maxProperties"] = validator.max
    return out


#: Where ``json_text_schema`` leaves a JSON-text parameter's document schema for ``JsonTextParameters``.
JSON_TEXT_KEY = "x-json-text-schema"


def json_text_schema(self: Any, field: fields.Field, **kwargs: Any) -> dict[str, Any]:
    """A ``JsonText`` field's document schema (a reference), for ``JsonTextParameters`` to move."""
    from .edge_fields import JsonText

    if not isinstance(field, JsonText):
        return {}
    return {JSON_TEXT_KEY: self.resolve_nested_schema(field.document_schema)}


class JsonTextParameters(BasePlugin):
    """A parameter whose value is a JSON document is ``content: {application/json: {schema}}`` (OpenAPI's
    way to say "serialize this value as JSON"), not a string of any text."""

    def operation_helper(self, path: str | None = None, operations: dict | None = None, **kwargs: Any) -> None:
        for operation in (operations or {}).values():
            for parameter in operation.get("parameters", []) if isinstance(operation, dict) else ():
                schema = parameter.get("schema") if isinstance(parameter, dict) else None
                if isinstance(schema, dict) and JSON_TEXT_KEY in schema:
                    document = schema.pop(JSON_TEXT_KEY)
                    if "description" in schema:
                        parameter.setdefault("description", schema["description"])
                    del parameter["schema"]
                    parameter["content"] = {"application/json": {"schema": document}}


def add_converters(spec: APISpec, converter: Any) -> None:
    """Teach a MarshmallowPlugin's converter what apispec leaves out, and add the shared components
    (called before any schema is converted)."""
    from .edge_fields import JSON_VALUE

    converter.add_attribute_function(dict_keys_and_size)
    converter.add_attribute_function(json_text_schema)
    spec.components.schema("JsonValue", JSON_VALUE)


def spec_plugins() -> dict[str, Any]:
    """The ``spec_kwargs`` flask-smorest's Api is built with."""
    return {"marshmallow_plugin": OneOfMarshmallowPlugin(), "extra_plugins": [SchemaExtras(), JsonTextParameters()]}


def json_schema_of(schema: type[Schema], *, title: str, id_: str) -> dict[str, Any]:
    """A JSON Schema (2020-12) document of ``schema``, its nested schemas under ``$defs``."""
    plugin = OneOfMarshmallowPlugin()
    spec = APISpec(title, "1", "3.1.0", plugins=[plugin, SchemaExtras()])
    add_converters(spec, plugin.converter)
    name = schema.__name__.removesuffix("Schema")
    spec.components.schema(name, schema=schema)
    defs = spec.to_dict()["components"]["schemas"]
    root = defs.pop(name)
    document = {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": id_, "title": title,
                **root, "$defs": defs}
    return _as_json_schema(document)


def _as_json_schema(value: Any) -> Any:
    """OpenAPI's component references as ``$defs`` references; OpenAPI-only keywords dropped."""
    if isinstance(value, dict):
        return {key: (item.replace("#/components/schemas/", "#/$defs/") if key == "$ref" else _as_json_schema(item))
                for key, item in value.items() if key != "discriminator"}
    if isinstance(value, list):
        return [_as_json_schema(item) for item in value]
    return value
