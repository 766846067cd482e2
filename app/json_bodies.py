"""JSON request bodies at the door: parsed once, and refused whole before any view logic runs.

Every JSON body on ``/v1/*`` and ``/hooks/*`` goes through :func:`loads`, which refuses, with a
400 whose ``errors`` is an object:

- text that is not JSON (including the ``NaN``/``Infinity`` literals and numbers that overflow a
  double, which are not JSON);
- nesting deeper than :data:`MAX_DEPTH` objects/arrays (the root counts as level 1);
- numbers outside signed 64 bits (-2**63 .. 2**63-1): an integer that large could not be stored as
  given and would otherwise turn into a float silently; a float that large is refused alike, so the
  rule is one range for every number (as the OpenAPI document states it).

``/v1`` bodies must also say they are JSON (``Content-Type: application/json`` or ``+json``):
anything else is a 415 that says so. Webhook bodies are parsed whatever their content type, after
their signature verified (providers sign the bytes, not the header).
"""
from __future__ import annotations

import json
from typing import Any

import orjson
from flask import Flask, request
from flask.json.provider import DefaultJSONProvider

from .errors import UnsupportedMediaType, ValidationError

#: Deepest nesting of objects and arrays accepted in a body (the root object or array is level 1).
MAX_DEPTH = 32
#: Integers in bodies must fit in a signed 64-bit integer.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def loads(raw: bytes | str) -> Any:
    """The JSON value of ``raw``, or ValidationError naming what is wrong (``errors["_body"]``)."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("The body is not valid JSON.", {"_body": [str(exc)]}) from exc
    if check(value) == "recheck":
        _refuse_integer_literals(raw)
    return value


def check(value: Any) -> str | None:
    """Refuse deep nesting and numbers beyond 64 bits; ``"recheck"`` when the text must be read again.

    orjson reads an integer literal beyond 64 bits as a float: beyond 2**63 in magnitude that float is
    refused like any number that large, and the one value it can round to inside the range (-2**63) is
    read again from the text to tell an integer literal from a float.

    A first walk only looks (it runs on every body, so it builds no paths); a body it finds fault with is
    walked again by ``_check_naming`` to name where.
    """
    verdict = _walk(value) if isinstance(value, (dict, list)) else _check_scalar_or_subclass(value)
    return _check_naming(value) if verdict == "refuse" else verdict


def _walk(value: Any) -> str | None:
    """``check``'s first walk: ``"refuse"``, ``"recheck"`` or None. JSON as parsed is made of exact dicts, lists,
    text, integers, floats, booleans and nulls, looked at by their exact type first; anything else (a subclass)
    is looked at as ``isinstance`` sees it."""
    verdict = None
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            return "refuse"
        for child in (item.values() if isinstance(item, dict) else item):
            kind = type(child)
            if kind is str or child is None or kind is bool:
                continue
            if kind is int:
                if not INT_MIN <= child <= INT_MAX:
                    return "refuse"
            elif kind is dict or kind is list:
                stack.append((child, depth + 1))
            elif kind is float:
                if not INT_MIN <= child < 2**63:
                    return "refuse"
                if child == INT_MIN:
                    verdict = "recheck"
            elif isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
            else:
                scalar = _check_scalar_or_subclass(child)
                if scalar == "refuse":
                    return "refuse"
                verdict = scalar or verdict
    return verdict


def _check_scalar_or_subclass(item: Any) -> str | None:
    """A value that is not a container, as the walk judges it: ``"refuse"``, ``"recheck"`` or None."""
    if isinstance(item, float):
        if not INT_MIN <= item < 2**63:
            return "refuse"
        return "recheck" if item == INT_MIN else None
    if isinstance(item, int) and not INT_MIN <= item <= INT_MAX:  # bool is within range
        return "refuse"
    return None


def _check_naming(value: Any) -> str | None:
    """``check``'s walk, naming the path of what it refuses."""
    verdict = None
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        item, depth, path = stack.pop()
        if isinstance(item, dict):
            children = item.items()
        elif isinstance(item, list):
            children = enumerate(item)  # type: ignore[assignment]
        else:
            if isinstance(item, int) and not isinstance(item, bool) and not INT_MIN <= item <= INT_MAX:
                _too_big(path)
            if isinstance(item, float):
                if not INT_MIN <= item < 2**63:
                    _too_big(path)
                if item == INT_MIN:
                    verdict = "recheck"
            continue
        if depth > MAX_DEPTH:
            raise ValidationError(
                f"The body is nested deeper than {MAX_DEPTH} levels.",
                {"_body": [f"nesting deeper than {MAX_DEPTH} levels at {path or '(root)'}"]},
            )
        for key, child in children:
            stack.append((child, depth + 1, f"{path}.{key}" if path else str(key)))
    return verdict


def _too_big(path: str) -> None:
    raise ValidationError(
        "A number in the body does not fit in 64 bits.",
        {"_body": [f"{path or '(root)'}: numbers must be between {INT_MIN} and {INT_MAX}"]},
    )


def _refuse_integer_literals(raw: bytes | str) -> None:
    """Re-read with the standard library, which keeps integer literals apart from floats."""

    def parse_int(text: str) -> int:
        number = int(text)
        if not INT_MIN <= number <= INT_MAX:
            _too_big("")
        return number

    json.loads(raw, parse_int=parse_int)


class JSONProvider(DefaultJSONProvider):
    """``request.get_json()`` (and so every schema that reads the body) goes through :func:`loads`."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s)


def is_json_mimetype(mimetype: str) -> bool:
    return mimetype == "application/json" or (mimetype.startswith("application/") and mimetype.endswith("+json"))


def require_json_body() -> None:
    """A ``before_request`` hook of the /v1 blueprints: a body is JSON, said so, and passes :func:`loads`.

    It runs before the view (and after the API-key check), so a refused body reaches no route logic.
    The parsed value is cached by Flask, so views and schemas read it without parsing again.
    """
    if request.method not in _BODY_METHODS or not request.get_data(cache=True):
        return
    if not is_json_mimetype(request.mimetype):
        given = request.mimetype or "none"
        raise UnsupportedMediaType(
            f"Send the body as JSON with 'Content-Type: application/json' (got {given}).",
            {"Content-Type": [f"expected application/json, got {given}"]},
        )
    request.get_json()


def init_app(app: Flask) -> None:
    app.json = JSONProvider(app)
