"""Field rules shared by every schema at the edge, each written once as a pattern.

Each rule is a regular expression written so that Python's ``re`` and the JSON Schema (ECMA-262)
engines read it the same way: the validator uses it, and the OpenAPI document publishes the same
text, so what the document calls valid is exactly what is accepted.
"""
from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields, validate

#: Characters never accepted in identities (emails, external ids), ids and tags: C0 controls and DEL,
#: C1 controls, and the invisible format characters that make two different texts look the same
#: (soft hyphen, zero-width characters, bidirectional controls, line/paragraph separators, BOM,
#: interlinear annotation marks) and the two noncharacters U+FFFE and U+FFFF.
NOT_PRINTABLE = (r"\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e"
                 r"\u2060-\u206f\ufeff\ufff9-\ufffb\ufffe\uffff")
#: Space characters other than the plain space (for emails, which hold no spaces at all).
SPACES = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"

#: Printable text with at least one character other than a space (ids, external ids).
ID_TEXT = rf"^ *[^{NOT_PRINTABLE} ][^{NOT_PRINTABLE}]*$"
#: Printable text without commas, no space at either end (spaces inside are fine: "big spender").
TAG_TEXT = rf"^[^,{NOT_PRINTABLE}{SPACES}]([^,{NOT_PRINTABLE}]*[^,{NOT_PRINTABLE}{SPACES}])?$"
#: ``local@domain``, printable, without spaces (surrounding plain spaces are trimmed).
EMAIL_TEXT = rf"^ *[^@{NOT_PRINTABLE}{SPACES}]+@[^@{NOT_PRINTABLE}{SPACES}]+ *$"
#: A contact's id, as the store makes them (``storage/contacts.py: contact_id_for``): ``c`` and 20 hex digits, or a
#: short one, ``c`` and 12 base64url characters.
CONTACT_ID_TEXT = r"^c(?:[0-9a-f]{20}|[0-9A-Za-z_-]{12})$"
#: A company id (app/scoring/companies.py): a lower-case domain (acme.com) or words joined by - (acme-inc).
COMPANY_ID_TEXT = r"^[a-z0-9][a-z0-9.-]{0,299}$"
#: Identifiers of profiles, rules, workflows, sources.
SLUG_TEXT = r"^[A-Za-z0-9_.-]{1,64}$"


class FullRegexp(validate.Regexp):
    """``validate.Regexp`` that matches the whole value: Python's ``$`` also matches before a final
    newline, so ``re.match`` would let ``"abc\n"`` through a ``^...$`` pattern (and a header through)."""

    def __call__(self, value: Any) -> Any:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def regexp(pattern: str, error: str = "String does not match expected pattern.") -> validate.Regexp:
    """A marshmallow validator for ``pattern`` (apispec publishes it as the field's ``pattern``)."""
    return FullRegexp(re.compile(pattern), error=error)


def matches(pattern: str, value: Any) -> bool:
    """Whether all of ``value`` matches ``pattern``."""
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


class TextOrInteger(fields.Field):
    """An identifier sent as text or as a whole number (kept as text): ids and external ids."""

    def __init__(self, *, max_length: int, **kwargs: Any):
        self.max_length = max_length
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {
            "anyOf": [{"type": "string", "minLength": 1, "maxLength": max_length, "pattern": ID_TEXT},
                      {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1}],
            **kwargs["metadata"],
        }
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        number = as_whole(value)
        if number is not None:
            return str(number)
        if not isinstance(value, str):
            raise ValidationError("must be text or a whole number")
        if len(value) > self.max_length:
            raise ValidationError(f"at most {self.max_length} characters")
        if not matches(ID_TEXT, value):
            raise ValidationError("must be printable text that is not blank (no control characters)")
        return value


def as_whole(value: Any) -> int | None:
    """``value`` as an int when JSON calls it an integer (``5``, ``5.0``); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


class WholeNumber(fields.Integer):
    """A whole number as JSON Schema's ``integer`` means it: 5 and 5.0 are 5; 1.5, "5" and true are errors."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        number = as_whole(value)
        if number is None:
            raise ValidationError("Not a valid integer.")
        return number


def whole_number(low: int, high: int, **kwargs: Any) -> fields.Integer:
    """A whole-number field within ``low``..``high`` (points, counts, score changes)."""
    return WholeNumber(validate=validate.Range(min=low, max=high), **kwargs)


class JsonText(fields.String):
    """A query parameter that carries a JSON document as text (``?filter={...}``); the view parses it
    with ``document_schema``. The OpenAPI document describes it as ``content: application/json``
    with that schema (``app.openapi``), so clients send the document, not any text."""

    def __init__(self, document_schema: type, **kwargs: Any):
        self.document_schema = document_schema
        super().__init__(**kwargs)


class StrictBoolean(fields.Boolean):
    """``true`` or ``false`` only: 1, "yes" and "true" (text) are errors, not guesses."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


#: The numbers the door lets through (``app.json_bodies``): within signed 64 bits.
FITS_64_BITS = validate.Range(min=-(2**63), max=2**63 - 1)


class StrictNumber(fields.Float):
    """A JSON number (not text, not a boolean), finite; an integer stays an int."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        if isinstance(value, int):
            return value  # kept exact: a float could round past a 64-bit bound
        return super()._deserialize(value, attr, data, **kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> Any:
        """Whole numbers stay whole (the documented bounds of ``FITS_64_BITS`` are exact integers)."""
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


#: An HTTP header name (RFC 9110 token), at most 64 characters.
HEADER_NAME = r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}$"
#: An HTTP header value: visible ASCII and inner spaces or tabs; no CR, LF or other controls, no
#: leading or trailing whitespace (RFC 9110 field-value, without obsolete text).
HEADER_VALUE = r"^([!-~]([ \t!-~]*[!-~])?)?$"


#: Any JSON value as the door accepts it: numbers within signed 64 bits, nested values alike.
JSON_VALUE_REF = {"$ref": "#/components/schemas/JsonValue"}
JSON_VALUE = {"anyOf": [{"type": ["string", "boolean", "null"]},
                        {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
                        {"type": "array", "items": JSON_VALUE_REF},
                        {"type": "object", "additionalProperties": JSON_VALUE_REF}],
              "description": "any JSON value; numbers within signed 64 bits"}


def where_json_schema() -> dict[str, Any]:
    """The documented shape of a ``where`` (rules, interaction triggers): property -> value or operators."""
    from .scoring.conditions import NUMERIC_OPS

    operators: dict[str, Any] = {op: JSON_VALUE_REF for op in NUMERIC_OPS}
    operators.update({"in": {"type": "array", "items": JSON_VALUE_REF}, "exists": {"type": "boolean"}})
    return {"type": "object", "additionalProperties": {"anyOf": [
        {"type": ["string", "boolean", "null"]},
        {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1},
        {"type": "array", "items": JSON_VALUE_REF},
        {"type": "object", "minProperties": 1, "additionalProperties": False, "properties": operators}]}}


#: An outbound URL as the SSRF guard's first check takes it: http(s), a host name (or an IPv4 address),
#: a port within 1..65535, and visible ASCII after it; no user:password (use headers), no IPv6 literal.
URL_TEXT = (r"^https?://[A-Za-z0-9][A-Za-z0-9.-]*"
            r"(:([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
            r"([/?#][!-~]*)?$")


def numbers_between(low: int, high: int) -> str:
    """A regular expression (no anchors) of the decimal numbers ``low``..``high`` (``low`` at least 1),
    written without leading zeros."""
    parts = []
    for length in range(len(str(low)), len(str(high)) + 1):
        first, last = max(low, 10 ** (length - 1)), min(high, 10**length - 1)
        if first <= last:
            parts.extend(_same_length(str(first), str(last)))
    return "(" + "|".join(parts) + ")"


def _digits(low: str, high: str) -> str:
    return low if low == high else f"[{low}-{high}]"


def _same_length(low: str, high: str) -> list[str]:
    """Patterns of the numbers from ``low`` to ``high``, both written with the same number of digits."""
    if low == high:
        return [low]
    rest = len(low) - 1
    if low[1:] == "0" * rest and high[1:] == "9" * rest:
        return [_digits(low[0], high[0]) + (f"[0-9]{{{rest}}}" if rest else "")]
    if low[0] == high[0]:
        return [low[0] + part for part in _same_length(low[1:], high[1:])]
    parts = [low[0] + part for part in _same_length(low[1:], "9" * rest)]
    if int(high[0]) - int(low[0]) > 1:
        parts.append(_digits(str(int(low[0]) + 1), str(int(high[0]) - 1)) + f"[0-9]{{{rest}}}")
    parts.extend(high[0] + part for part in _same_length("0" * rest, high[1:]))
    return parts


def duration_text(max_ms: int, min_ms: int = 1000) -> str:
    """The durations ``<int><unit>`` from ``min_ms`` (one second unless said) up to ``max_ms``, as a
    pattern (spaces allowed around, leading zeros allowed)."""
    from .scoring.durations import DURATION_UNITS, UNIT_MS

    units = []
    for unit in DURATION_UNITS:
        low, high = max(1, -(-min_ms // UNIT_MS[unit])), max_ms // UNIT_MS[unit]
        if low <= high:
            units.append(f"0*{numbers_between(low, high)} *{unit}")
    return rf"^ *({'|'.join(units)}) *$"


def duration_field(max_ms: int, max_text: str, *, min_ms: int = 1000, min_text: str = "1s",
                   **kwargs: Any) -> fields.String:
    """A duration (``30d``) from ``min_ms`` to ``max_ms``: the pattern states exactly what is accepted."""
    bounds = f"of at most {max_text}" if min_ms == 1000 else f"between {min_text} and {max_text}"
    return fields.String(validate=regexp(duration_text(max_ms, min_ms),
                                         f"not a duration {bounds}: use an integer and s, m, h, d or w, "
                                         f"e.g. 30m, 2h, 30d"),
                         **kwargs)


#: A contact attribute's name: a letter, then letters, digits and '_' (64 at most): a plain word that
#: rules, filters and the dashboard can all use as it is.
ATTRIBUTE_NAME = r"^[A-Za-z][A-Za-z0-9_]{0,63}$"
#: The most attributes one change (a PATCH, an interaction) may set or remove.
MAX_ATTRIBUTE_CHANGES = 100
#: The longest attribute text, in characters.
MAX_ATTRIBUTE_TEXT = 500
ATTRIBUTE_TEXT = rf"^[^{NOT_PRINTABLE}]*$"


def attribute_error(value: Any) -> str | None:
    """Why ``value`` cannot be an attribute value (None when it can): a flat JSON scalar, numbers within
    signed 64 bits, printable text of at most ``MAX_ATTRIBUTE_TEXT`` characters; null removes."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return None if -(2**63) <= value <= 2**63 - 1 else "numbers must fit in signed 64 bits"
    if isinstance(value, str):
        if len(value) > MAX_ATTRIBUTE_TEXT:
            return f"at most {MAX_ATTRIBUTE_TEXT} characters"
        return None if matches(ATTRIBUTE_TEXT, value) else "no control characters"
    return "must be text, a number, true/false, or null (to remove it): attributes are flat"


class AttributesField(fields.Dict):
    """Contact attributes to set (or remove, with null): ``{"job_title": "VP", "company_size": 250}``."""

    def __init__(self, **kwargs: Any):
        kwargs.setdefault("metadata", {})
        kwargs["metadata"] = {
            "type": "object", "maxProperties": MAX_ATTRIBUTE_CHANGES,
            "additionalProperties": False,
            "patternProperties": {ATTRIBUTE_NAME: {"anyOf": [
                {"type": "string", "maxLength": MAX_ATTRIBUTE_TEXT, "pattern": ATTRIBUTE_TEXT},
                {"type": ["boolean", "null"]},
                {"type": "number", "minimum": -(2**63), "maximum": 2**63 - 1}]}},
            **kwargs["metadata"],
        }
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise ValidationError("must be an object of attribute name -> value")
        if len(value) > MAX_ATTRIBUTE_CHANGES:
            raise ValidationError(f"at most {MAX_ATTRIBUTE_CHANGES} attributes at once")
        errors: dict[str, list[str]] = {}
        for name, item in value.items():
            if not matches(ATTRIBUTE_NAME, name):
                errors[str(name)] = ["an attribute name is a letter, then letters, digits or '_' (64 at most)"]
            elif (problem := attribute_error(item)) is not None:
                errors[name] = [problem]
        if errors:
            raise ValidationError(errors)
        return dict(value)
