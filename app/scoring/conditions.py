"""Comparison operators, shared by rule conditions, score filters and workflow triggers.

Score operators (``eq ne gt gte lt lte empty not_empty``) treat ``None`` as the empty
score: the six numeric operators are false on it, ``empty`` is true only for it.
"""
from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

NUMERIC_OPS = ("eq", "ne", "gt", "gte", "lt", "lte")
SCORE_OPS = NUMERIC_OPS + ("empty", "not_empty")
WHERE_OPS = NUMERIC_OPS + ("in", "exists")

_COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}


def score_matches(op: str, score: int | None, value: float | None = None) -> bool:
    """Whether a (possibly empty) score satisfies ``op value``."""
    if op == "empty":
        return score is None
    if op == "not_empty":
        return score is not None
    if score is None or value is None:
        return False
    return _COMPARE[op](score, value)


def _compare(op: str, actual: Any, expected: Any) -> bool:
    """One ``where`` comparison; values of incomparable types simply don't match."""
    if op == "exists":
        return (actual is not None) == bool(expected)
    if op == "in":
        return actual is not None and actual in expected
    if actual is None:
        return op == "ne" and expected is not None
    if op in ("eq", "ne"):
        return _COMPARE[op](actual, expected)
    try:
        return bool(_COMPARE[op](actual, expected))
    except TypeError:
        return False


def lookup(properties: Mapping[str, Any], path: str) -> Any:
    """A property by name; dotted names reach into nested objects (``utm.source``)."""
    if path in properties:
        return properties[path]
    value: Any = properties
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


#: Condition values that are bare values, never operator objects: ``where_matches`` tells them from a ``Mapping``
#: by their class alone (``isinstance`` against the ``Mapping`` ABC costs a call into ``ABCMeta``).
_BARE = frozenset((str, int, float, bool, list, type(None)))


def where_matches(where: Mapping[str, Any], properties: Mapping[str, Any]) -> bool:
    """All conditions of a ``where`` hold: a bare value means equals, an object holds operators.

    Asked of every interaction a rule with a ``where`` sees in a drain: a loop rather than ``all()`` over a
    generator, the property looked up directly when it is there, and the class of the condition tested before
    the ``Mapping`` ABC (together ~0.7 µs less a call; docs/performance.md, "Row 1 (2026-12-04 night)")."""
    for path, condition in where.items():
        actual = properties[path] if path in properties else lookup(properties, path)
        cls = condition.__class__
        if cls is dict or (cls not in _BARE and isinstance(condition, Mapping)):
            for op, expected in condition.items():
                if not _compare(op, actual, expected):
                    return False
        elif actual != condition:
            return False
    return True


def validate_where(where: Any) -> dict[str, str]:
    """Field errors of a ``where`` object (empty when valid)."""
    errors: dict[str, str] = {}
    if not isinstance(where, Mapping):
        return {"where": "must be an object of property conditions"}
    for path, condition in where.items():
        if not isinstance(condition, Mapping):
            continue
        if not condition:
            errors[path] = "an operator object needs at least one operator"
        for op, expected in condition.items():
            if op not in WHERE_OPS:
                errors[path] = f"unknown operator {op!r}; use one of {', '.join(WHERE_OPS)}"
            elif op == "in" and not isinstance(expected, list):
                errors[path] = "'in' takes a list"
            elif op == "exists" and not isinstance(expected, bool):
                errors[path] = "'exists' takes true or false"
    return errors
