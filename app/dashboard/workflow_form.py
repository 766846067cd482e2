"""The workflow builder's fields to a workflow document and back.

The builder is one plain POST form: the trigger's controls (``t_*``), tag filters, and step rows
(``s-N-*``). Buttons carry an ``action``: ``save``, ``add`` (the step type chosen in ``new_step``),
``up:N`` / ``down:N`` / ``remove:N`` (reorder), ``test:N`` (send a webhook step a test delivery)
and ``preview`` (render notifications for a chosen contact). Every action re-renders what was
typed, so nothing is lost; only ``save`` stores, through ``load_workflow`` — the validation of
``PUT /v1/workflows/<id>`` — with its messages placed next to the controls they are about.

A company-score trigger (``company_score_changed``) has the score trigger's controls (profile, operator, value,
fire), read as the company's score in that profile. A grade trigger (``grade_changed``) is the grade (``t_grade``), "on every change" or "when the cell becomes one
of" (``t_grade_fire``) and the nine cells as boxes (``t_cell``, ticked ones); the order the cells were written
in (``t_cells``) and the stored trigger itself (``t_original``) ride along hidden: while the controls still mean
what it means, it is written back exactly as it was, so a round trip between *Advanced* and the builder changes
nothing.

An interaction trigger's ``where`` is rows of property → operator in words → value (``tw-N-*``, as in the
rule builder; ``add_where`` and ``remove_where:N`` change them); a step's ``when`` is "only if the
[profile] score [operator] [value], tagged [..], not tagged [..]" (``s-N-when_*``). A ``where`` the rows
cannot say exactly (written under *Advanced* or through the API) is kept as it is (``t_where``), shown
in words, so a round trip between the builder and *Advanced* loses nothing.
"""
from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError as SchemaError

from ..automation.config import MAX_STEPS, GradeTriggerSchema, flatten_errors, load_workflow
from ..scoring.conditions import NUMERIC_OPS
from ..scoring.grades import CELLS
from .condition_rows import ConditionRow, exact_rows, posted_rows, rows_where

STEP_TYPES = {"add_tag": "Add tag", "remove_tag": "Remove tag", "notify": "Send a notification",
              "webhook": "Send a webhook", "wait": "Wait", "adjust_score": "Adjust score",
              "reset_score": "Reset score (back to 0)"}
#: A step's "only if" controls (its ``when``).
WHEN_CONTROLS = ("when_profile", "when_op", "when_value", "when_tags_all", "when_tags_none")
STEP_CONTROLS = ("type", "tag", "channel", "to", "subject", "message", "url", "secret", "headers", "wait_n",
                 "wait_unit", "profile", "score_op", "points", "reason", *WHEN_CONTROLS)
TRIGGER_CONTROLS = ("trigger_type", "t_profile", "t_operator", "t_value", "t_fire", "t_on", "t_custom",
                    "t_grade", "t_grade_fire", "t_cell", "tags_all", "tags_none")
#: A schema attribute of a step -> the control its message is shown next to.
STEP_ERROR_CONTROL = {"tag": "tag", "channel": "channel", "to": "to", "subject": "subject", "message": "message",
                      "url": "url", "secret": "secret", "headers": "headers", "duration": "wait_n",
                      "profile": "profile", "add": "points", "set": "points", "reason": "reason", "type": "type",
                      "when": "when_op"}
TRIGGER_ERROR_CONTROL = {"profile": "t_profile", "operator": "t_operator", "value": "t_value", "fire": "t_fire",
                         "on": "t_on", "filters": "tags_all", "type": "trigger_type", "where": "tw",
                         "grade": "t_grade", "becomes": "t_cell"}
DEFAULT_MESSAGE = "{{ contact.email }} now has a {{ profile }} score of {{ score.new }}."


@dataclass
class WorkflowForm:
    """The builder as typed, the document it makes, and messages per control."""

    values: dict[str, str]
    steps: list[dict[str, str]]
    #: The interaction trigger's conditions, as rows (empty while a kept ``t_where`` stands for them).
    where_rows: list[ConditionRow] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    document: dict[str, Any] | None = None


def new_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def blank_step(kind: str) -> dict[str, str]:
    step = {name: "" for name in STEP_CONTROLS}
    step["type"] = kind
    if kind == "notify":
        step.update(channel="inbox", message=DEFAULT_MESSAGE)
    elif kind == "webhook":
        step["secret"] = new_secret()
    elif kind == "wait":
        step.update(wait_n="1", wait_unit="d")
    elif kind == "adjust_score":
        step.update(score_op="add", points="5", reason="workflow")
    elif kind == "reset_score":
        step.update(reason="workflow: fresh start")
    return step


def blank_form(first_profile: str | None) -> WorkflowForm:
    values = {"name": "", "description": "", "enabled": "", "trigger_type": "score_changed",
              "t_profile": first_profile or "", "t_operator": "gte", "t_value": "50", "t_fire": "on_enter",
              "t_reentry": "", "t_on": "form.submitted", "t_custom": "", "t_where": "", "tags_all": "", "tags_none": "",
              "t_grade": "", "t_grade_fire": "change", "t_cells": "", "t_original": ""}
    return WorkflowForm(values=values, steps=[])


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def form_from_config(config: Mapping[str, Any]) -> WorkflowForm:
    """The builder's controls for a stored workflow."""
    trigger = config.get("trigger") or {}
    filters = trigger.get("filters") or {}
    form = blank_form(trigger.get("profile"))
    on = trigger.get("on", "form.submitted")
    form.values.update({
        "name": config.get("name", ""), "description": config.get("description", ""),
        "enabled": "on" if config.get("enabled", True) else "", "trigger_type": trigger.get("type", "score_changed"),
        "t_operator": trigger.get("operator", "gte"), "t_value": _text(trigger.get("value")),
        "t_fire": trigger.get("fire", "on_enter"), "t_reentry": "on" if trigger.get("reentry") else "",
        "t_on": "custom" if on.startswith("custom.") else on, "t_custom": on[7:] if on.startswith("custom.") else "",
        "tags_all": ", ".join(filters.get("tags_all") or ()), "tags_none": ", ".join(filters.get("tags_none") or ()),
    })
    if trigger.get("type") == "grade_changed":
        becomes = trigger.get("becomes")
        cells = [becomes] if isinstance(becomes, str) else list(becomes or [])
        form.values.update(t_grade=_text(trigger.get("grade")), t_grade_fire="becomes" if cells else "change",
                           t_cells=",".join(str(c) for c in cells), t_original=json.dumps(trigger))
    if trigger.get("type") == "interaction" and trigger.get("where"):
        rows = exact_rows(on, trigger["where"])
        if rows is None:
            form.values["t_where"] = json.dumps(trigger["where"])
        else:
            form.where_rows = rows
    for step in config.get("steps") or []:
        row = blank_step(step["type"])
        row.update({k: _text(step.get(k)) for k in ("tag", "channel", "to", "subject", "message", "url", "secret",
                                                       "profile", "reason") if step.get(k) is not None})
        if step.get("name"):
            row["name"] = step["name"]
        when = step.get("when") or {}
        row.update(when_profile=when.get("profile") or "", when_op=when.get("operator") or "",
                   when_value=_text(when.get("value")), when_tags_all=", ".join(when.get("tags_all") or ()),
                   when_tags_none=", ".join(when.get("tags_none") or ()))
        if step["type"] == "webhook":
            row["headers"] = "\n".join(f"{k}: {v}" for k, v in (step.get("headers") or {}).items())
        if step["type"] == "wait":
            match = re.match(r"^\s*(\d+)\s*([smhdw])\s*$", step.get("duration", ""))
            row["wait_n"], row["wait_unit"] = (match.group(1), match.group(2)) if match else ("", "d")
        if step["type"] == "adjust_score":
            row["score_op"] = "set" if "set" in step else "add"
            row["points"] = _text(step.get("set", step.get("add")))
        form.steps.append(row)
    return form


def _step_rows(data: Mapping[str, str]) -> list[dict[str, Any]]:
    try:
        count = min(int(data.get("step_rows", "0")), MAX_STEPS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        row: dict[str, Any] = {name: (data.get(f"s-{i}-{name}") or "").strip() for name in STEP_CONTROLS}
        row["message"] = (data.get(f"s-{i}-message") or "").strip("\n")
        if data.get(f"s-{i}-name"):
            row["name"] = data[f"s-{i}-name"]
        if data.get(f"s-{i}-when") and not any(f"s-{i}-{name}" in data for name in WHEN_CONTROLS):
            row["when"] = data[f"s-{i}-when"]  # a page from before the "only if" controls
        if row["type"] in STEP_TYPES:
            rows.append(row)
    return rows


def _headers(text: str) -> dict[str, str] | None:
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep:
            return None
        out[name.strip()] = value.strip()
    return out


def _number(text: str) -> int | str:
    try:
        return int(text)
    except ValueError:
        return text  # the schema says what is wrong with it


def step_document(row: Mapping[str, Any], i: int, errors: dict[str, str]) -> dict[str, Any]:
    """One step row as a step document (what the schema will judge)."""
    kind = row["type"]
    doc: dict[str, Any] = {"type": kind}
    if row.get("name"):
        doc["name"] = row["name"]
    if kind in ("add_tag", "remove_tag"):
        doc["tag"] = row["tag"]
    elif kind == "notify":
        doc.update(channel=row["channel"], message=row["message"])
        if row["to"]:
            doc["to"] = row["to"]
        if row["subject"]:
            doc["subject"] = row["subject"]
    elif kind == "webhook":
        doc.update(url=row["url"], secret=row["secret"])
        headers = _headers(row["headers"])
        if headers is None:
            errors[f"s-{i}-headers"] = "one header a line, as Name: value"
        else:
            doc["headers"] = headers
    elif kind == "wait":
        doc["duration"] = f"{row['wait_n']}{row['wait_unit']}"
    elif kind == "adjust_score":
        doc.update(profile=row["profile"], reason=row["reason"] or "workflow")
        doc["set" if row["score_op"] == "set" else "add"] = _number(row["points"])
    elif kind == "reset_score":
        doc.update(profile=row["profile"], reason=row["reason"])
    when = when_document(row)
    if when:
        doc["when"] = when
    elif row.get("when"):
        doc["when"] = _json_or_text(row["when"])
    return doc


def when_document(row: Mapping[str, Any]) -> dict[str, Any]:
    """A step's "only if" controls as its ``when`` (empty when none is set)."""
    when: dict[str, Any] = {}
    op = row.get("when_op") or ""
    if op:
        when.update(profile=row.get("when_profile") or "", operator=op)
        if op in NUMERIC_OPS or row.get("when_value"):
            when["value"] = _number(row.get("when_value") or "") if row.get("when_value") else None
    for name in ("tags_all", "tags_none"):
        tags = _tags(row.get(f"when_{name}") or "")
        if tags:
            when[name] = tags
    return when


def _json_or_text(text: str) -> Any:
    """A kept JSON value (step conditions, interaction conditions); text that is not JSON goes to the
    schema as it is, which then says what is wrong with it."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _tags(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def interaction_type(values: Mapping[str, str]) -> str:
    """The interaction the trigger listens to (a custom name gets its ``custom.`` prefix)."""
    return f"custom.{values['t_custom']}" if values["t_on"] == "custom" else values["t_on"]


def trigger_document(values: Mapping[str, str], where_rows: list[ConditionRow] | None = None,
                     errors: dict[str, str] | None = None) -> dict[str, Any]:
    """The trigger the controls make; problems of the condition rows go into ``errors``."""
    filters = {"tags_all": _tags(values["tags_all"]), "tags_none": _tags(values["tags_none"])}
    reentry = values.get("t_reentry") == "on"
    if values["trigger_type"] == "interaction":
        on = interaction_type(values)
        doc = {"type": "interaction", "on": on, "reentry": reentry, "filters": filters}
        if values.get("t_where"):
            doc["where"] = _json_or_text(values["t_where"])
        else:
            where = rows_where(on, where_rows or [], {} if errors is None else errors, "tw")
            if where:
                doc["where"] = where
        return doc
    if values["trigger_type"] == "grade_changed":
        return grade_trigger_document(values, filters, reentry)
    # a company-score trigger has the score trigger's controls, over the company's score in the profile
    kind = "company_score_changed" if values["trigger_type"] == "company_score_changed" else "score_changed"
    doc = {"type": kind, "profile": values["t_profile"], "operator": values["t_operator"],
           "fire": values["t_fire"] or "on_enter", "reentry": reentry, "filters": filters}
    if values["t_value"] != "":
        doc["value"] = _number(values["t_value"])
    return doc


def grade_trigger_document(values: Mapping[str, str], filters: dict[str, list[str]], reentry: bool) -> dict[str, Any]:
    """A grade trigger: ``becomes`` one cell as text and several as a list, ``reentry`` and ``filters`` only when
    set; or the stored trigger (``t_original``) exactly as it was written, while it means the same."""
    doc: dict[str, Any] = {"type": "grade_changed", "grade": values["t_grade"]}
    if values.get("t_grade_fire") == "becomes":
        cells = _tags(values.get("t_cells") or "")
        doc["becomes"] = cells if len(cells) != 1 else cells[0]
    if reentry:
        doc["reentry"] = True
    if filters["tags_all"] or filters["tags_none"]:
        doc["filters"] = {k: v for k, v in filters.items() if v}
    original = _json_or_text(values.get("t_original") or "")
    if isinstance(original, dict) and _same_grade_trigger(original, doc):
        return original
    return doc


def _same_grade_trigger(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two grade triggers mean the same (both valid, equal once read)."""
    schema = GradeTriggerSchema()
    try:
        return bool(schema.load(a) == schema.load(b))
    except SchemaError:
        return False


def posted_cells(data: Mapping[str, str], written: str) -> str:
    """The ticked cells (``t_cell`` boxes), in the order they were written (``written``), new ones after in
    the grid's order."""
    ticked = set(data.getlist("t_cell")) if hasattr(data, "getlist") else set(_tags(data.get("t_cell", "")))
    before = [c for c in _tags(written) if c in ticked]
    return ",".join([*before, *(c for c in CELLS if c in ticked and c not in before)])


def parse_workflow_form(data: Mapping[str, str], workflow_id: str) -> WorkflowForm:
    """Read the builder (steps reordered, added or removed as its ``action`` asks) and validate it."""
    defaults = blank_form(None).values
    values = {name: (data.get(name) or "").strip() for name in defaults}
    values["description"] = (data.get("description") or "").strip()
    if "t_grade_fire" in data:  # the grade controls were on the page: the ticked boxes are the cells
        values["t_cells"] = posted_cells(data, values["t_cells"])
    action = data.get("action", "")
    verb, _, arg = action.partition(":")
    if verb == "clear_where":
        values["t_where"] = ""  # the user removed the kept conditions, to build new ones in rows
    rows = posted_rows(data, "tw", "tw_rows", arg if verb == "remove_where" else None)
    if verb == "add_where":
        rows.append(ConditionRow())
    form = WorkflowForm(values=values, steps=_step_rows(data), where_rows=rows)
    if verb == "add" and data.get("new_step") in STEP_TYPES and len(form.steps) < MAX_STEPS:
        form.steps.append(blank_step(data["new_step"]))
    elif verb in ("up", "down", "remove") and arg.isdigit() and int(arg) < len(form.steps):
        i = int(arg)
        if verb == "remove":
            form.steps.pop(i)
        else:
            j = i - 1 if verb == "up" else i + 1
            if 0 <= j < len(form.steps):
                form.steps[i], form.steps[j] = form.steps[j], form.steps[i]
    errors: dict[str, str] = {}
    doc = {"id": workflow_id, "name": values["name"], "enabled": values["enabled"] == "on",
           "trigger": trigger_document(values, rows, errors), "steps": [step_document(r, i, errors) for i, r in enumerate(form.steps)]}
    if values["description"]:
        doc["description"] = values["description"]
    try:
        load_workflow(doc)
    except SchemaError as exc:
        for name, message in control_messages(exc.messages).items():
            errors.setdefault(name, message)
    form.errors = errors
    form.document = None if errors else doc
    return form


def control_messages(messages: Mapping[str, Any]) -> dict[str, str]:
    """The schema's messages as ``control -> message``."""
    out: dict[str, str] = {}
    for key, value in messages.items():
        if key == "steps" and isinstance(value, Mapping):
            for index, problems in value.items():
                if isinstance(index, int) and isinstance(problems, Mapping):
                    for name, text in problems.items():
                        control = STEP_ERROR_CONTROL.get(name, "type")
                        out.setdefault(f"s-{index}-{control}", "; ".join(flatten_errors(text, name)).split(": ", 1)[-1]
                                       if not isinstance(text, list) else " ".join(map(str, text)))
                else:
                    out["steps"] = " ".join(flatten_errors(problems))
        elif key == "steps":
            out["steps"] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        elif key == "trigger" and isinstance(value, Mapping):
            for name, text in value.items():
                out.setdefault(TRIGGER_ERROR_CONTROL.get(name, "trigger_type"),
                               " ".join(line.split(": ", 1)[-1] for line in flatten_errors(text)))
        elif key in ("name", "description"):
            out[key] = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        else:
            out["_form"] = "; ".join(flatten_errors({key: value}))
    return out


def new_workflow_id(name: str, taken: set[str]) -> str:
    """An id from the name (``Hot lead`` -> ``hot-lead``), made unique with a number."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:56] or "workflow"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate
