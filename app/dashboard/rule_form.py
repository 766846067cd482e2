"""The rule builder's fields to a rule document and back: no JSON is typed anywhere.

The form is plain HTML (it works without scripts): the event from a grouped list (or a custom
name), condition rows of property, operator in words and value, points, "at most N times per
M units", "only once per <property>", "points expire after N units" or "points shrink by P % every N
days" (one or the other: the engine refuses both, and the form says so), and the profile group
the rule's points count toward. Values are read with the kind of the property (number, yes/no,
text); text in quotes stays text.

A field the post does not carry at all (a page rendered before the field existed) keeps what the
rule had: only a field that was shown and cleared removes a setting.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..scoring.vocabulary import CUSTOM_PREFIX, OPERATOR_WORDS, duration_words, known_property, split_duration
from .forms import join_messages

#: The event picker's value for "another custom event" (its name is typed in ``custom_name``).
OTHER_CUSTOM = "custom"
#: Operators that compare with a number.
NUMBER_OPS = ("gt", "gte", "lt", "lte")
#: Condition rows a form may claim (a bound on what a post can ask the server to render).
MAX_CONDITIONS = 20
#: Units offered for a decay period (the schema allows 1 day to 10 years).
DECAY_UNITS: tuple[tuple[str, str], ...] = (("d", "day"), ("w", "week"))
#: Rule fields the builder shows; any other field of a stored rule is kept as it is when it is saved.
BUILDER_FIELDS = ("id", "on", "points", "where", "limit", "expires_after", "decay", "group")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@dataclass
class ConditionRow:
    property: str = ""
    op: str = "eq"
    value: str = ""


@dataclass
class RuleForm:
    """What the builder shows: the fields as typed, messages per field, and the rule once valid."""

    event: str = "email.opened"
    custom_name: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)
    points: str = "1"
    limit_count: str = ""
    limit_every: str = "1"
    limit_unit: str = "d"
    once_per: str = ""
    expire_after: str = ""
    expire_unit: str = "d"
    decay_percent: str = ""
    decay_every: str = "30"
    decay_unit: str = "d"
    group: str = ""
    #: Builder fields absent from the post (kept from the stored rule when it is saved).
    absent: frozenset[str] = frozenset()
    errors: dict[str, str] = field(default_factory=dict)
    rule: dict[str, Any] | None = None

    @property
    def type(self) -> str:
        """The interaction type picked (a custom name gets its ``custom.`` prefix)."""
        if self.event == OTHER_CUSTOM:
            name = self.custom_name.strip()
            return name if name.startswith(CUSTOM_PREFIX) else f"{CUSTOM_PREFIX}{name}"
        return self.event


def _value_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_value_text(v) for v in value)
    if isinstance(value, str) and (_NUMBER.match(value) or value.lower() in ("yes", "no", "true", "false")):
        return f'"{value}"'  # keeps text that looks like a number or a flag as text when saved again
    return "" if value is None else str(value)


def form_from_rule(rule: Mapping[str, Any]) -> RuleForm:
    """The builder's fields for a stored rule."""
    rows = []
    for path, condition in (rule.get("where") or {}).items():
        comparisons = condition.items() if isinstance(condition, Mapping) else [("eq", condition)]
        for op, expected in comparisons:
            if op == "exists":
                rows.append(ConditionRow(path, "exists" if expected else "not_exists", ""))
            else:
                rows.append(ConditionRow(path, op, _value_text(expected)))
    limit = rule.get("limit") or {}
    every, unit = split_duration(limit.get("window"))
    expire, expire_unit = split_duration(rule.get("expires_after"))
    on = rule["on"]
    no_window = limit.get("count") is not None and not every
    decay = rule.get("decay") or {}
    decay_every, decay_unit = split_duration(decay.get("every"))
    return RuleForm(event=on, conditions=rows, points=str(rule["points"]),
                    limit_count=str(limit.get("count") or ""), limit_every=every or "1",
                    limit_unit="" if no_window else (unit or "d"), once_per=limit.get("once_per") or "",
                    expire_after=expire, expire_unit=expire_unit or "d",
                    decay_percent=str(decay.get("percent") or ""), decay_every=decay_every or "30",
                    decay_unit=decay_unit or "d", group=rule.get("group") or "")


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


def _conditions(form: Mapping[str, str]) -> list[ConditionRow]:
    try:
        count = min(int(form.get("conditions_rows", "0")), MAX_CONDITIONS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        if form.get("remove_condition") == str(i):
            continue
        row = ConditionRow(form.get(f"cond-{i}-property", "").strip(), form.get(f"cond-{i}-op", "eq"),
                           form.get(f"cond-{i}-value", "").strip())
        rows.append(row)
    return rows


def read_rule_form(form: Mapping[str, str]) -> RuleForm:
    """The fields as posted (nothing validated yet)."""
    return RuleForm(
        event=form.get("on", "").strip(), custom_name=form.get("custom_name", "").strip(),
        conditions=_conditions(form), points=form.get("points", "").strip(),
        limit_count=form.get("limit_count", "").strip(), limit_every=form.get("limit_every", "").strip(),
        limit_unit=form.get("limit_unit", "").strip(), once_per=form.get("once_per", "").strip(),
        expire_after=form.get("expire_after", "").strip(), expire_unit=form.get("expire_unit", "d").strip(),
        decay_percent=form.get("decay_percent", "").strip(), decay_every=form.get("decay_every", "30").strip(),
        decay_unit=form.get("decay_unit", "d").strip(), group=form.get("group", "").strip(),
        absent=frozenset(name for name in ("decay_percent", "group") if name not in form))


def _where(result: RuleForm) -> dict[str, Any]:
    where: dict[str, Any] = {}
    for i, row in enumerate(result.conditions):
        if not row.property and not row.value:
            continue  # a blank row is ignored, as blank rows are everywhere in the dashboard
        if not row.property:
            result.errors[f"cond-{i}-property"] = "pick or type a property"
            continue
        if row.op not in OPERATOR_WORDS:
            result.errors[f"cond-{i}-op"] = "pick an operator"
            continue
        try:
            value = read_value(result.type, row.property, row.op, row.value)
        except ValueError as exc:
            result.errors[f"cond-{i}-value"] = str(exc)
            continue
        op = "exists" if row.op in ("exists", "not_exists") else row.op
        existing = where.get(row.property)
        if existing is None:
            where[row.property] = value if op == "eq" else {op: value}
            continue
        existing = existing if isinstance(existing, dict) else {"eq": existing}
        if op in existing:
            result.errors[f"cond-{i}-op"] = "this property has this operator in another row already"
            continue
        where[row.property] = {**existing, op: value}
    return where


def _duration(number: str, unit: str, name: str, result: RuleForm) -> str | None:
    if not number.isdigit() or int(number) < 1:
        result.errors[name] = "a whole number, 1 or more"
        return None
    if unit not in ("s", "m", "h", "d", "w"):
        result.errors[name] = "pick a unit"
        return None
    return f"{int(number)}{unit}"


def group_words(group: Mapping[str, Any]) -> str:
    """A group as the builder offers it: ``email — at most 30 points, shrink by 25% every 30 days``."""
    words = f"{group['id']} \u2014 at most {group['max_points']} points"
    decay = group.get("decay")
    if decay:
        words += f", shrink by {decay['percent']}% every {duration_words(decay['every'])}"
    return words


def _decay(result: RuleForm) -> dict[str, Any] | None:
    if not result.decay_percent.isdigit() or not 1 <= int(result.decay_percent) <= 100:
        result.errors["decay_percent"] = "a whole percent from 1 to 100"
        return None
    if not result.decay_every.isdigit() or int(result.decay_every) < 1:
        result.errors["decay_every"] = "a whole number, 1 or more"
        return None
    if result.decay_unit not in dict(DECAY_UNITS):
        result.errors["decay_every"] = "pick days or weeks"
        return None
    return {"percent": int(result.decay_percent), "every": f"{int(result.decay_every)}{result.decay_unit}"}


def parse_rule_form(form: Mapping[str, str], rule_id: str,
                    groups: Sequence[Mapping[str, Any]] = ()) -> RuleForm:
    """Read and check the builder's fields against the profile's ``groups``; ``rule`` is the rule
    document when they are valid (the profile's schema checks it once more with the whole draft)."""
    result = read_rule_form(form)
    if result.event == OTHER_CUSTOM and not result.custom_name:
        result.errors["custom_name"] = "name the custom event (letters, digits, _ . : -)"
    elif not result.event:
        result.errors["on"] = "pick the event that scores"
    rule: dict[str, Any] = {"id": rule_id, "on": result.type, "where": _where(result)}
    if not re.match(r"^[+-]?\d+$", result.points.replace("\u2212", "-")):
        result.errors["points"] = "a whole number of points, such as 5 or -10"
    else:
        rule["points"] = int(result.points.replace("\u2212", "-"))
    limit: dict[str, Any] = {}
    if result.limit_count:
        if not result.limit_count.isdigit() or int(result.limit_count) < 1:
            result.errors["limit_count"] = "a whole number, 1 or more"
        else:
            limit["count"] = int(result.limit_count)
            if result.limit_unit:
                window = _duration(result.limit_every or "1", result.limit_unit, "limit_every", result)
                if window:
                    limit["window"] = window
    if result.once_per:
        limit["once_per"] = result.once_per
    if limit:
        rule["limit"] = limit
    if result.expire_after:
        expiry = _duration(result.expire_after, result.expire_unit, "expire_after", result)
        if expiry:
            rule["expires_after"] = expiry
    if result.decay_percent:
        if result.expire_after:
            result.errors["decay_percent"] = ("points either expire or shrink over time, not both: clear the "
                                              "expiry or the shrinking")
        else:
            decay = _decay(result)
            if decay:
                rule["decay"] = decay
    if result.group:
        chosen = next((g for g in groups if g["id"] == result.group), None)
        if chosen is None:
            result.errors["group"] = "that group is not in the profile any more: pick another"
        else:
            rule["group"] = result.group
            if chosen.get("decay") and result.expire_after and not result.decay_percent:
                result.errors["expire_after"] = (f"points of group {result.group} shrink by "
                                                 f"{chosen['decay']['percent']}% every "
                                                 f"{duration_words(chosen['decay']['every'])}, so they cannot "
                                                 "also expire: clear the expiry or pick another group")
    if not result.errors:
        result.rule = rule
    return result


#: Schema field of a rule -> the builder field its message is shown next to.
SCHEMA_FIELDS = {"on": "on", "points": "points", "where": "conditions", "expires_after": "expire_after",
                 "decay": "decay_percent", "group": "group", "id": "_form"}
LIMIT_FIELDS = {"count": "limit_count", "window": "limit_every", "once_per": "once_per", "_schema": "limit_count"}


def rule_messages(messages: Mapping[str, Any]) -> dict[str, str]:
    """marshmallow's messages about one rule as builder field -> message."""
    out: dict[str, str] = {}
    for name, text in messages.items():
        if name == "limit" and isinstance(text, Mapping):
            for sub, subtext in text.items():
                out[LIMIT_FIELDS.get(sub, "limit_count")] = join_messages(subtext)
        elif name == "on":
            out["custom_name"] = join_messages(text)  # catalog types are always valid: it is a custom name
        else:
            out[SCHEMA_FIELDS.get(name, "_form")] = join_messages(text)
    return out



def merged_rule(stored: Mapping[str, Any] | None, form: RuleForm) -> dict[str, Any]:
    """The rule to save: the builder's document, plus what the stored rule has that the builder does not
    show (fields of other features) or that the post did not carry (``absent``)."""
    assert form.rule is not None
    if stored is None:
        return dict(form.rule)
    kept = {k: v for k, v in stored.items() if k not in BUILDER_FIELDS}
    if "decay_percent" in form.absent and "decay" in stored and "expires_after" not in form.rule:
        kept["decay"] = stored["decay"]
    if "group" in form.absent and "group" in stored:
        kept["group"] = stored["group"]
    return {**kept, **form.rule}
