"""The rule builder (add or change one rule, from fields: no JSON, no rule ids shown) and the rule
list's ⋯ actions (duplicate, move up or down, delete). Each saves the draft at once, validated
by ``ProfileDraftSchema`` as ``PUT /v1/profiles/<id>`` would; "Save and publish" publishes too.
"""
from __future__ import annotations

import json
import uuid
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from marshmallow import ValidationError as SchemaError

from ..api.schemas import ProfileDraftSchema
from ..errors import NotFound
from ..evaluation import latest_suggestion
from ..scoring.profiles import FIT, rule_from_dict
from ..scoring.sentences import rule_sentence, where_words
from ..scoring.vocabulary import EVENT_GROUPS, EVENTS, OPERATOR_WORDS, UNITS, event_label
from ..services import get_services
from . import actions
from .blueprint import bp
from .profiles import profile_status, start_publish
from .rule_form import (
    DECAY_UNITS,
    OTHER_CUSTOM,
    ConditionRow,
    RuleForm,
    form_from_rule,
    group_words,
    merged_rule,
    parse_fit_rule_form,
    parse_rule_form,
    read_rule_form,
    rule_messages,
)

#: Condition rows the rule builder shows for a rule without conditions (one blank row to fill).
BLANK_CONDITION_ROWS = 1


def event_groups(current: str, seen: dict[str, set[str]]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's groups: the catalog, then custom events seen in stored interactions (and the
    rule's own), then "another custom event"."""
    custom = sorted({t for t in seen if t.startswith("custom.")} | ({current} if current.startswith("custom.")
                                                                      else set()))
    groups = [(name, [(e.type, e.label) for e in events]) for name, events in EVENT_GROUPS]
    groups.append(("Custom", [(t, event_label(t)) for t in custom] + [(OTHER_CUSTOM, "Another custom event…")]))
    return groups


def event_properties(types: list[str], seen: dict[str, set[str]]) -> dict[str, list[tuple[str, str]]]:
    """Per type: ``(name, label)`` of the properties it carries, then any others seen in stored ones."""
    out = {}
    for type_ in types:
        known = [(p.name, p.label) for p in EVENTS[type_].properties] if type_ in EVENTS else []
        names = {name for name, _ in known}
        out[type_] = known + [(name, name) for name in sorted(seen.get(type_, ())) if name not in names]
    return out


def render_rule(profile_id: str, doc: dict[str, Any], form: RuleForm, rule_id: str | None, status: int = 200,
                unsaved: bool = False):
    seen = get_services().vocabulary.all()
    groups = event_groups(form.type if form.event == OTHER_CUSTOM else form.event, seen)
    types = [t for _, items in groups for t, _ in items if t != OTHER_CUSTOM]
    conditions = form.conditions + [ConditionRow() for _ in range(max(BLANK_CONDITION_ROWS - len(form.conditions),
                                                                      0))]
    fit = is_fit(doc)
    if fit:  # attribute names the profile's rules use, offered in the property field
        properties = {"attributes": [(name, name.replace("_", " ")) for name in sorted(
            {path for rule in doc["draft"].get("rules", []) for path in rule.get("where") or {}})]}
    else:
        properties = event_properties(types, seen)
    return render_template(
        "dashboard/rule_edit.html", doc=doc, profile_id=profile_id, form=form, rule_id=rule_id, fit=fit,
        groups=groups, properties=properties, operators=OPERATOR_WORDS, units=UNITS,
        conditions=conditions, errors=form.errors, status=profile_status(doc),
        unsaved=unsaved or status != 200, decay_units=DECAY_UNITS,
        groups_offered=[(g["id"], group_words(g)) for g in doc["draft"].get("groups") or []],
        kept_words=kept_where_words(form),
        suggestion=latest_suggestion(get_services(), profile_id, rule_id) if rule_id and not fit else None,
    ), status


def is_fit(doc: dict[str, Any]) -> bool:
    """A fit profile's rules score attributes: no event, limit, expiry, decay or group."""
    return doc["draft"].get("kind") == FIT


def kept_where_words(form: RuleForm) -> str:
    """The conditions kept as they are (rows could not say them exactly), in words."""
    if not form.kept_where:
        return ""
    try:
        return where_words(form.type, json.loads(form.kept_where))
    except (ValueError, AttributeError):
        return form.kept_where


def find_rule(doc: dict[str, Any], rule_id: str) -> int:
    for index, rule in enumerate(doc["draft"].get("rules", [])):
        if rule["id"] == rule_id:
            return index
    raise NotFound("That rule is not in the draft any more (it was deleted or the profile was rolled back).")


def save_rules(profile_id: str, doc: dict[str, Any], rules: list[dict[str, Any]]) -> dict[str, str]:
    """Validate the draft with these rules as ``PUT /v1/profiles/<id>`` would, and save it.
    Returns the messages of the rule that failed (nothing is saved then)."""
    draft = {k: v for k, v in doc["draft"].items() if k != "id"}
    try:
        loaded = ProfileDraftSchema().load({**draft, "rules": rules})
    except SchemaError as exc:
        problems = exc.messages.get("rules") if isinstance(exc.messages, dict) else None
        if isinstance(problems, dict):
            return {k: v for messages in problems.values() if isinstance(messages, dict)
                    for k, v in rule_messages(messages).items()}
        return {"_form": str(exc.messages)}
    get_services().profiles.put_draft({"id": profile_id, **loaded})
    return {}


def new_rule_id(doc: dict[str, Any]) -> str:
    """A rule id nobody sees: short, random, unique in the draft."""
    taken = {rule["id"] for rule in doc["draft"].get("rules", [])}
    while True:
        candidate = f"r-{uuid.uuid4().hex[:8]}"
        if candidate not in taken:
            return candidate


@bp.route("/profiles/<profile_id>/rules/new", methods=["GET", "POST"])
@bp.route("/profiles/<profile_id>/rules/<rule_id>", methods=["GET", "POST"])
def edit_rule(profile_id: str, rule_id: str | None = None):
    """Add or change one rule: saved to the draft ("Save rule") or saved and published at once."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    index = find_rule(doc, rule_id) if rule_id else None
    if request.method == "GET":
        form = form_from_rule(doc["draft"]["rules"][index]) if index is not None else RuleForm()
        return render_rule(profile_id, doc, form, rule_id)
    if "add_condition" in request.form or "remove_condition" in request.form or "change_event" in request.form:
        form = read_rule_form(request.form)
        if "add_condition" in request.form:
            form.conditions.append(ConditionRow())
        return render_rule(profile_id, doc, form, rule_id, unsaved=True)
    if is_fit(doc):
        form = parse_fit_rule_form(request.form, rule_id or new_rule_id(doc))
    else:
        form = parse_rule_form(request.form, rule_id or new_rule_id(doc), doc["draft"].get("groups") or [])
    if form.rule is None:
        return render_rule(profile_id, doc, form, rule_id, status=400)
    rules = list(doc["draft"].get("rules", []))
    form.rule = merged_rule(rules[index] if index is not None else None, form)
    if index is None:
        rules.append(form.rule)
    else:
        rules[index] = form.rule
    form.errors.update(save_rules(profile_id, doc, rules))
    if form.errors:
        form.rule = None
        return render_rule(profile_id, doc, form, rule_id, status=400)
    if "publish" in request.form:
        return start_publish(profile_id)
    flash(f"Rule saved to the draft: {rule_sentence(rule_from_dict(form.rule))}. Publish to apply it.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>/rules/<rule_id>/<action>", methods=["POST"])
def change_rule(profile_id: str, rule_id: str, action: str):
    """The ⋯ menu: duplicate, move up, move down, delete (each saved to the draft at once)."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    index = find_rule(doc, rule_id)
    rules = list(doc["draft"]["rules"])
    sentence = rule_sentence(rule_from_dict(rules[index]))
    if action == "duplicate":
        rules.insert(index + 1, {**rules[index], "id": new_rule_id(doc)})
        message = f"Rule duplicated: {sentence}. Edit the copy below the original."
    elif action in ("up", "down"):
        other = index - 1 if action == "up" else index + 1
        if 0 <= other < len(rules):
            rules[index], rules[other] = rules[other], rules[index]
        message = f"Rule moved {action}: {sentence}."
    elif action == "delete":
        rules.pop(index)
        message = f"Rule deleted from the draft: {sentence}. Publish to apply it."
    else:
        raise NotFound(f"No rule action {action!r}.")
    problems = save_rules(profile_id, doc, rules)
    flash(message if not problems else "; ".join(problems.values()), "error" if problems else "message")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id, _anchor="rules"), 303)
