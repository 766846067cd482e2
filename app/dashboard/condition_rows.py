"""Property conditions (a ``where`` object) as rows of *property → operator in words → value*, and back.

Shared by the rule builder's "Only when" and the workflow builder's interaction trigger. Values are read
with the kind of the property (number, yes/no, text); text in quotes stays text (``"42"``), "is one of"
takes commas. A ``where`` written elsewhere (the API, *Advanced* JSON) may hold what rows cannot say
exactly — a text with a comma inside "is one of", an object as a value, text in quotes of its own: such a
``where`` is shown in words and kept as it is (``exact_rows`` is None), never rewritten behind the user's
back.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..scoring.vocabulary import OPERATOR_WORDS, known_property

#: Operators that compare with a number.
NUMBER_OPS = ("gt", "gte", "lt", "lte")
#: Condition rows a form may claim (a bound on what a post can ask the server to render).
MAX_CONDITIONS = 20
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class ConditionRow:
    property: str = ""
    op: str = "eq"
    value: str = ""


def value_text(value: Any) -> str:
    """A condition's value as the value field shows it (read back by ``read_value`` to the same value)."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(value_text(v) for v in value)
    if isinstance(value, str) and (_NUMBER.match(value) or value.lower() in ("yes", "no", "true", "false")):
        return f'"{value}"'  # keeps text that looks like a number or a flag as text when saved again
    return "" if value is None else str(value)


def where_rows(where: Mapping[str, Any] | None) -> list[ConditionRow]:
    """One row per comparison of a ``where`` (a bare value is "is")."""
    rows = []
    for path, condition in (where or {}).items():
        comparisons = condition.items() if isinstance(condition, Mapping) else [("eq", condition)]
        for op, expected in comparisons:
            if op == "exists":
                rows.append(ConditionRow(path, "exists" if expected else "not_exists", ""))
            else:
                rows.append(ConditionRow(path, op, value_text(expected)))
    return rows


def read_value(type_: str, path: str, op: str, text: str) -> Any:
    """A condition's typed value; raises ValueError with what to write instead."""
    text = text.strip()
    if op in ("exists", "not_exists"):
        return op == "exists"
    if op == "in":
        items = [part.strip() for part in text.split(",") if part.strip()]
        if not items:
            raise ValueError("one or more values, separated by commas")
        return [read_value(type_, path, "eq", item) for item in items]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        if op in NUMBER_OPS:
            raise ValueError("a number")
        return text[1:-1]
    known = known_property(type_, path)
    kind = known.kind if known else None
    if op in NUMBER_OPS or kind == "number":
        if not _NUMBER.match(text):
            raise ValueError("a number")
        return float(text) if "." in text else int(text)
    flag = {"yes": True, "true": True, "no": False, "false": False}.get(text.lower())
    if kind == "flag":
        if flag is None:
            raise ValueError("yes or no")
        return flag
    if not text:
        raise ValueError("a value")
    if kind is None:
        if flag is not None:
            return flag
        if _NUMBER.match(text):
            return float(text) if "." in text else int(text)
    return text


def posted_rows(form: Mapping[str, str], prefix: str, count_field: str, remove: str | None = None
                ) -> list[ConditionRow]:
    """The rows as posted: ``count_field`` of them, fields ``<prefix>-N-property|op|value``; the row whose
    number is ``remove`` is left out."""
    try:
        count = min(int(form.get(count_field, "0")), MAX_CONDITIONS)
    except ValueError:
        count = 0
    return [ConditionRow(form.get(f"{prefix}-{i}-property", "").strip(), form.get(f"{prefix}-{i}-op", "eq"),
                         form.get(f"{prefix}-{i}-value", "").strip())
            for i in range(count) if remove is None or remove != str(i)]


def rows_where(type_: str, rows: list[ConditionRow], errors: dict[str, str], prefix: str) -> dict[str, Any]:
    """The ``where`` the rows make for interactions of ``type_``; each problem goes into ``errors`` under
    ``<prefix>-N-property|op|value``. Blank rows are ignored."""
    where: dict[str, Any] = {}
    for i, row in enumerate(rows):
        if not row.property and not row.value:
            continue  # a blank row is ignored, as blank rows are everywhere in the dashboard
        if not row.property:
            errors[f"{prefix}-{i}-property"] = "pick or type a property"
            continue
        if row.op not in OPERATOR_WORDS:
            errors[f"{prefix}-{i}-op"] = "pick an operator"
            continue
        try:
            value = read_value(type_, row.property, row.op, row.value)
        except ValueError as exc:
            errors[f"{prefix}-{i}-value"] = str(exc)
            continue
        op = "exists" if row.op in ("exists", "not_exists") else row.op
        existing = where.get(row.property)
        if existing is None:
            where[row.property] = value if op == "eq" else {op: value}
            continue
        existing = existing if isinstance(existing, dict) else {"eq": existing}
        if op in existing:
            errors[f"{prefix}-{i}-op"] = "this property has this operator in another row already"
            continue
        where[row.property] = {**existing, op: value}
    return where


def _explicit(where: Mapping[str, Any]) -> dict[str, Any]:
    """``where`` with every bare value written as ``{"eq": value}`` (the two mean the same)."""
    return {path: dict(c) if isinstance(c, Mapping) else {"eq": c} for path, c in where.items()}


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (``1 == 1.0 == True`` in Python, not in JSON)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def exact_rows(type_: str, where: Mapping[str, Any] | None) -> list[ConditionRow] | None:
    """The rows of ``where`` when they read back to the same conditions; None when they would not (the
    ``where`` is then kept as it is)."""
    rows = where_rows(where)
    errors: dict[str, str] = {}
    again = rows_where(type_, rows, errors, "check")
    return rows if not errors and _same(_explicit(again), _explicit(where or {})) else None
