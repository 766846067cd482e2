"""The contacts filter builder's fields to a filter document and back.

Each condition is one row of four controls — what (``c-N-kind``), profile, operator and value —
so the form works as a plain GET form without scripts. A row whose "what" is blank is ignored,
and the page always offers one blank row to add a condition. The document is validated by
``FilterDocumentSchema``, the schema of ``/v1/contacts`` and ``/v1/smart-lists``, and its
messages land next to the row's controls.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError as SchemaError

from ..contact_filter_schema import MAX_CONDITIONS, FilterDocumentSchema
from ..contact_filter import ContactFilter, plain_number, from_legacy
from ..scoring.companies import company_id
from ..scoring.conditions import NUMERIC_OPS
from .forms import join_messages

#: The row's "what" menu: value -> words. Field and operator in one choice, except a score's operator.
KINDS = {
    "score": "Score",
    "band": "Band is",
    "tag_has": "Tagged",
    "tag_has_not": "Not tagged",
    "activity_within": "Active in the last N days",
    "activity_before": "No activity in the last N days",
    "dnd_on": "DND on for channel",
    "dnd_off": "DND off for channel",
    "company_eq": "Company is",
    "company_ne": "Company is not",
    "company_score": "Company score",
}
ROW_CONTROLS = ("kind", "profile", "op", "value")
#: Where a message about a document attribute is shown in the row.
ERROR_CONTROL = {"field": "kind", "op": "op", "profile": "profile", "value": "value", "band": "value", "company": "value",
                 "tag": "value", "days": "value", "channel": "value", "grade": "kind", "cell": "value",
                 "cells": "value"}
#: A grade's three conditions, as "what" choices ``grade:<id>:<op>`` (the value holds the cell, or cells
#: separated by commas for "is one of").
GRADE_KIND_WORDS = {"eq": "grade is", "ne": "grade is not", "in": "grade is one of"}


def kinds_with_grades(grades: Mapping[str, str]) -> dict[str, str]:
    """The "what" menu with three choices per grade (``grades``: id -> name)."""
    out = dict(KINDS)
    for gid, name in grades.items():
        for op, words in GRADE_KIND_WORDS.items():
            out[f"grade:{gid}:{op}"] = f"{name}: {words}"
    return out


@dataclass
class FilterForm:
    """The builder as typed (rows of text to show again), the filter it makes, and messages per control."""

    rows: list[dict[str, str]]
    order_by: str
    filter: ContactFilter | None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, **extra: Any) -> dict[str, Any]:
        """The filter's query-string arguments, for links to other pages of it."""
        args: dict[str, Any] = {"order_by": self.order_by}
        for i, row in enumerate(self.rows):
            for name in ROW_CONTROLS:
                if row[name]:
                    args[f"c-{i}-{name}"] = row[name]
        return {**args, **{k: v for k, v in extra.items() if v is not None}}


def rows_of(flt: ContactFilter) -> list[dict[str, str]]:
    """The builder's rows of a filter (a saved smart list, or the single-condition arguments)."""
    rows = []
    for cond in flt.conditions:
        if cond.field == "grade":
            cells = ", ".join(cond.cells or ()) if cond.op == "in" else cond.cell
            rows.append({"kind": f"grade:{cond.grade}:{cond.op}", "profile": "", "op": "", "value": cells or ""})
            continue
        kind = cond.field if cond.field in ("score", "band", "company_score") else f"{cond.field}_{cond.op}"
        value = {"score": cond.value, "band": cond.band, "tag": cond.tag, "activity": cond.days,
                 "dnd": cond.channel, "company": cond.company, "company_score": cond.value}[cond.field]
        scored = cond.field in ("score", "company_score")
        rows.append({"kind": kind, "profile": cond.profile or "", "op": (cond.op or "") if scored else "",
                     "value": "" if value is None else str(plain_number(value))})
    return rows


def _typed_rows(args: Mapping[str, str]) -> list[dict[str, str]]:
    """Rows ``c-N-*`` in order of N, without removed (``remove=N``) or blank ones."""
    numbers = sorted({int(k.split("-")[1]) for k in args if k.startswith("c-") and k.split("-")[1].isdigit()})
    removed = args.get("remove", "")
    rows = []
    for n in numbers[:MAX_CONDITIONS]:
        if str(n) == removed:
            continue
        row = {name: (args.get(f"c-{n}-{name}") or "").strip() for name in ROW_CONTROLS}
        if row["kind"]:
            rows.append(row)
    return rows


def _condition(row: dict[str, str], i: int, errors: dict[str, str]) -> dict[str, Any]:
    """One row as a condition document; numbers that are not numbers are noted in ``errors``."""
    kind, value = row["kind"], row["value"]
    if kind in ("score", "company_score"):
        doc: dict[str, Any] = {"field": kind, "profile": row["profile"] or None, "op": row["op"] or None}
        if doc["op"] in NUMERIC_OPS or (value and doc["op"] is None):
            try:
                doc["value"] = float(value) if value else None
            except ValueError:
                errors[f"c-{i}-value"] = "a number"
    elif kind == "band":
        doc = {"field": "band", "profile": row["profile"] or None, "band": value or None}
    elif kind in ("tag_has", "tag_has_not"):
        doc = {"field": "tag", "op": kind[4:], "tag": value or None}
    elif kind in ("activity_within", "activity_before"):
        doc = {"field": "activity", "op": kind[9:]}
        try:
            doc["days"] = int(value) if value else None
        except ValueError:
            errors[f"c-{i}-value"] = "a whole number of days"
    elif kind in ("dnd_on", "dnd_off"):
        doc = {"field": "dnd", "op": kind[4:], "channel": value or None}
    elif kind in ("company_eq", "company_ne"):  # the id as the company page shows it (a name is read as its id)
        doc = {"field": "company", "op": kind[8:], "company": company_id(value) or value or None}
    elif kind.startswith("grade:") and kind.count(":") == 2:
        _, grade, op = kind.split(":")
        doc = {"field": "grade", "grade": grade, "op": op}
        cells = [c.strip().upper() for c in value.split(",") if c.strip()]
        if op == "in":
            doc["cells"] = cells or None
        else:
            doc["cell"] = cells[0] if len(cells) == 1 else (value or None)
    else:
        errors[f"c-{i}-kind"] = "choose what to filter on"
        return {"field": kind}
    return {k: v for k, v in doc.items() if v is not None}


def parse_filter_form(args: Mapping[str, str], default_order: str | None) -> FilterForm:
    """The builder's state from query arguments; the single-condition arguments of older links are
    read too. No ``order_by`` argument means the default profile."""
    legacy = {k: args.get(k) for k in ("profile", "op", "value", "tag", "without_tag") if args.get(k)}
    order_by = args.get("order_by")
    if legacy and not any(k.startswith("c-") for k in args):
        try:
            rows = rows_of(from_legacy(legacy))
        except ValueError:
            rows = [{"kind": "score", "profile": legacy.get("profile", ""), "op": legacy.get("op", ""),
                     "value": legacy.get("value", "")}]
        order_by = legacy.get("profile", order_by)
    else:
        rows = _typed_rows(args)
    order = (order_by if order_by is not None else default_order) or ""
    errors: dict[str, str] = {}
    doc: dict[str, Any] = {"conditions": [_condition(row, i, errors) for i, row in enumerate(rows)]}
    if order:
        doc["order_by"] = order
    flt = None
    try:
        flt = FilterDocumentSchema().load(doc)
    except SchemaError as exc:
        errors.update({k: v for k, v in field_messages(exc.messages).items() if k not in errors})
    return FilterForm(rows=rows, order_by=order, filter=None if errors else flt, errors=errors)


def field_messages(messages: Mapping[Any, Any]) -> dict[str, str]:
    """The schema's messages as ``control id -> message`` (``c-0-value``, ``order_by``, ``_form``)."""
    out: dict[str, str] = {}
    for key, value in messages.items():
        if key == "conditions" and isinstance(value, Mapping):
            for index, problems in value.items():
                if isinstance(index, int) and isinstance(problems, Mapping):
                    for name, text in problems.items():
                        out.setdefault(f"c-{index}-{ERROR_CONTROL.get(name, 'kind')}", join_messages(text))
                else:
                    out["_form"] = join_messages(problems)
        elif key == "order_by":
            out["order_by"] = join_messages(value)
        else:
            out["_form"] = join_messages(value)
    return out


def blank_row() -> dict[str, str]:
    return {name: "" for name in ROW_CONTROLS}

