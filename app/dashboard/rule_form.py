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

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..scoring.vocabulary import CUSTOM_PREFIX, duration_words, split_duration
from .condition_rows import ConditionRow, exact_rows, posted_rows, rows_where
from .forms import join_messages

#: The event picker's value for "another custom event" (its name is typed in ``custom_name``).
OTHER_CUSTOM = "custom"
#: Units offered for a decay period (the schema allows 1 day to 10 years).
DECAY_UNITS: tuple[tuple[str, str], ...] = (("d", "day"), ("w", "week"))
#: Rule fields the builder shows; any other field of a stored rule is kept as it is when it is saved.
BUILDER_FIELDS = ("id", "on", "points", "where", "limit", "expires_after", "decay", "group")


@dataclass
class RuleForm:
    """What the builder shows: the fields as typed, messages per field, and the rule once valid."""

    event: str = "email.opened"
    custom_name: str = ""
    conditions: list[ConditionRow] = field(default_factory=list)
    #: A ``where`` that rows cannot say exactly (written through the API), kept as JSON and shown in words.
    kept_where: str = ""
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


def form_from_rule(rule: Mapping[str, Any]) -> RuleForm:
    """The builder's fields for a stored rule."""
    rows = exact_rows(rule.get("on") or "", rule.get("where"))
    limit = rule.get("limit") or {}
    every, unit = split_duration(limit.get("window"))
    expire, expire_unit = split_duration(rule.get("expires_after"))
    on = rule.get("on") or ""  # a fit rule has no event
    no_window = limit.get("count") is not None and not every
    decay = rule.get("decay") or {}
    decay_every, decay_unit = split_duration(decay.get("every"))
    return RuleForm(event=on, conditions=rows or [], kept_where=json.dumps(rule["where"]) if rows is None else "",
                    points=str(rule["points"]),
                    limit_count=str(limit.get("count") or ""), limit_every=every or "1",
                    limit_unit="" if no_window else (unit or "d"), once_per=limit.get("once_per") or "",
                    expire_after=expire, expire_unit=expire_unit or "d",
                    decay_percent=str(decay.get("percent") or ""), decay_every=decay_every or "30",
                    decay_unit=decay_unit or "d", group=rule.get("group") or "")


def read_rule_form(form: Mapping[str, str]) -> RuleForm:
    """The fields as posted (nothing validated yet)."""
    return RuleForm(
        event=form.get("on", "").strip(), custom_name=form.get("custom_name", "").strip(),
        conditions=posted_rows(form, "cond", "conditions_rows", form.get("remove_condition")),
        kept_where=form.get("kept_where", ""), points=form.get("points", "").strip(),
        limit_count=form.get("limit_count", "").strip(), limit_every=form.get("limit_every", "").strip(),
        limit_unit=form.get("limit_unit", "").strip(), once_per=form.get("once_per", "").strip(),
        expire_after=form.get("expire_after", "").strip(), expire_unit=form.get("expire_unit", "d").strip(),
        decay_percent=form.get("decay_percent", "").strip(), decay_every=form.get("decay_every", "30").strip(),
        decay_unit=form.get("decay_unit", "d").strip(), group=form.get("group", "").strip(),
        absent=frozenset(name for name in ("decay_percent", "group") if name not in form))


def _where(result: RuleForm) -> Any:
    if result.kept_where:
        try:
            return json.loads(result.kept_where)
        except json.JSONDecodeError:
            result.errors["conditions"] = "the kept conditions are not valid JSON any more: reload the rule"
            return {}
    return rows_where(result.type, result.conditions, result.errors, "cond")


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


def parse_fit_rule_form(form: Mapping[str, str], rule_id: str) -> RuleForm:
    """A fit profile's rule: conditions over the contact's attributes and points — no event, limit,
    expiry, decay or group (the schema refuses them for a fit profile)."""
    result = read_rule_form(form)
    result.event = ""
    where = _where(result)
    if not where and not result.errors:
        result.errors["conditions"] = "a fit rule needs at least one condition on an attribute"
    rule: dict[str, Any] = {"id": rule_id, "where": where}
    if not re.match(r"^[+-]?\d+$", result.points.replace("\u2212", "-")):
        result.errors["points"] = "a whole number of points, such as 5 or -10"
    else:
        rule["points"] = int(result.points.replace("\u2212", "-"))
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
