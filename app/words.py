"""How the console says things to people: activities, durations, workflow triggers and steps, in words.

Pure (no Flask, no Redis), so every phrase is unit-tested. The dashboard shows these sentences;
the API keeps the raw documents.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .contact_filter import OP_WORDS
from .scoring.conditions import NUMERIC_OPS, score_matches
from .scoring.durations import parse_duration_ms
from .scoring.interactions import MANUAL_ACTOR, MANUAL_TYPE
from .scoring.sentences import where_words
from .scoring.vocabulary import EVENT_GROUPS, UNIT_WORDS, event_label  # noqa: F401  (EVENT_GROUPS: the pickers)

#: What a contact did, in the past tense, by interaction type (the ledger and timelines).
ACTIVITY = {
    "email.delivered": "Email delivered",
    "email.opened": "Opened email",
    "email.clicked": "Clicked a link in email",
    "email.bounced": "Email bounced",
    "email.unsubscribed": "Unsubscribed from email",
    "email.spam_reported": "Reported email as spam",
    "appointment.booked": "Booked appointment",
    "appointment.cancelled": "Cancelled appointment",
    "appointment.rescheduled": "Rescheduled appointment",
    "appointment.no_show": "Missed appointment",
    "form.submitted": "Submitted form",
    "payment.succeeded": "Payment succeeded",
    "payment.failed": "Payment failed",
    "payment.refunded": "Payment refunded",
    "contact.dnd_updated": "Do-not-disturb changed",
    MANUAL_TYPE: "Score changed by hand",
}
#: The property that best names what the activity was about, first found wins.
ACTIVITY_OBJECT = ("subject", "event_name", "title", "form_name", "form_id", "url", "message_id")
#: Every property ``activity`` may show: a copy of an interaction in Redis without one is read from the archive
#: (``ledger_history.shown_records``; Redis keeps only what the rules read: app/scoring/kept_properties.py).
SHOWN_PROPERTIES = frozenset((*ACTIVITY_OBJECT, "amount", "currency"))
#: Score operators as a sentence says them (the words of the contacts filter).
OPERATOR_WORDS = OP_WORDS


def event_name(type_: str) -> str:
    """``email.opened`` -> ``Opened email``; ``custom.demo_watched`` -> ``demo watched (custom)``."""
    if type_ in ACTIVITY:
        return ACTIVITY[type_]
    return event_label(type_)


def activity(type_: str, properties: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """What a ledger entry's interaction was: (``Opened email``, ``Spring sale``); the second part is the
    subject, form, link or message id when the interaction carried one."""
    props = properties or {}
    if type_ == MANUAL_TYPE:
        by = " by a workflow" if props.get("depth") else (f" by {props[MANUAL_ACTOR]}" if props.get(MANUAL_ACTOR) else "")
        if "reset" in props:
            return f"Score reset to 0{by}", props.get("reason")
        return (ACTIVITY[MANUAL_TYPE] if not by else f"Score changed{by}"), props.get("reason")
    if type_.startswith("payment.") and props.get("amount") is not None:
        return event_name(type_), f"{props['amount']} {props.get('currency') or ''}".strip()
    for name in ACTIVITY_OBJECT:
        value = props.get(name)
        if isinstance(value, (str, int)) and str(value):
            return event_name(type_), str(value)
    return event_name(type_), None


def duration_words(text: str) -> str:
    """``2d`` -> ``2 days``; ``90m`` -> ``90 minutes``."""
    parse_duration_ms(text)  # raises ValueError for what is not a duration
    number, unit = int(text.strip()[:-1].strip()), text.strip()[-1]
    return f"{number} {UNIT_WORDS[unit]}{'' if number == 1 else 's'}"


def condition_words(operator: str, value: Any) -> str:
    """``gte 50`` -> ``is at least 50``."""
    words = OPERATOR_WORDS.get(operator, operator)
    return f"{words} {value}" if operator in NUMERIC_OPS else words


def becomes(operator: str, value: Any) -> str:
    """The moment a condition comes to hold: ``becomes at least 50``, ``gets a score``."""
    if operator == "not_empty":
        return "gets a score"
    if operator == "ne":
        return f"becomes anything but {value}"
    return "becomes " + condition_words(operator, value).removeprefix("is ")


def _tags(filters: Mapping[str, Any] | None) -> str:
    filters = filters or {}
    parts = []
    if filters.get("tags_all"):
        parts.append("tagged " + " and ".join(filters["tags_all"]))
    if filters.get("tags_none"):
        parts.append("not tagged " + " or ".join(filters["tags_none"]))
    return ", only for contacts " + " and ".join(parts) if parts else ""


def trigger_sentence(trigger: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """What fires the workflow, in one sentence."""
    names = names or {}
    once = ("Each contact runs it once at most." if not trigger.get("reentry")
            else "A contact may run it again each time it fires.")
    if trigger.get("type") == "score_changed":
        profile = names.get(trigger.get("profile", ""), trigger.get("profile", ""))
        condition = condition_words(trigger.get("operator", ""), trigger.get("value"))
        if trigger.get("fire") == "on_change":
            when = f"Whenever a contact's {profile} score changes and {condition}"
        else:
            when = f"When a contact's {profile} score {becomes(trigger.get('operator', ''), trigger.get('value'))}"
        return f"{when}{_tags(trigger.get('filters'))}. {once}"
    if trigger.get("type") == "company_score_changed":
        profile = names.get(trigger.get("profile", ""), trigger.get("profile", ""))
        condition = condition_words(trigger.get("operator", ""), trigger.get("value"))
        if trigger.get("fire") == "on_change":
            when = f"Whenever a company's {profile} company score changes and {condition}"
        else:
            when = f"When a company's {profile} company score {becomes(trigger.get('operator', ''), trigger.get('value'))}"
        return f"{when}, for the contact whose change moved it{_tags(trigger.get('filters'))}. {once}"
    if trigger.get("type") == "grade_changed":
        grade = names.get(trigger.get("grade", ""), trigger.get("grade", ""))
        grade = grade[:-len(" grade")] if grade.lower().endswith(" grade") else grade  # "Lead grade" once
        wanted = trigger.get("becomes")
        cells = [wanted] if isinstance(wanted, str) else list(wanted or [])
        if not cells:
            when = f"Whenever a contact's {grade} grade changes"
        elif len(cells) == 1:
            when = f"When a contact's {grade} grade becomes {cells[0]}"
        else:
            when = f"When a contact's {grade} grade becomes one of {', '.join(cells)}"
        return f"{when}{_tags(trigger.get('filters'))}. {once}"
    if trigger.get("type") == "interaction":
        where = trigger.get("where") or {}
        detail = f" where {where_words(trigger.get('on', ''), where)}" if isinstance(where, Mapping) and where else ""
        return (f"When a contact's “{event_label(trigger.get('on', ''))}” interaction arrives{detail}"
                f"{_tags(trigger.get('filters'))}. {once}")
    return "Unknown trigger."


def trigger_warnings(trigger: Mapping[str, Any]) -> list[str]:
    """Traps a marketer would not see coming, in words."""
    if trigger.get("type") != "score_changed":
        return []
    op, value = trigger.get("operator", ""), trigger.get("value")
    condition = condition_words(op, value)
    out = []
    if op == "empty":
        out.append(f"“{condition}” fires for every contact when the profile is unpublished (every score becomes "
                   "empty then).")
    elif score_matches(op, 0, value):
        out.append(f"“{condition}” already holds for a score of 0, so it fires for every contact the first time "
                   "they are scored — and for all of them when the profile is first published.")
    if trigger.get("fire") == "on_change" and trigger.get("reentry"):
        out.append("It fires on every score change while the condition holds, and re-entry is allowed: one contact "
                   "may run it many times.")
    return out


def when_words(when: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """A step's condition: ``only if the Engagement score is at least 5 and tagged vip``; empty for none."""
    names = names or {}
    parts = []
    if when.get("operator"):
        profile = names.get(when.get("profile", ""), when.get("profile", ""))
        parts.append(f"the {profile} score {condition_words(when['operator'], when.get('value'))}")
    if when.get("tags_all"):
        parts.append("tagged " + " and ".join(when["tags_all"]))
    if when.get("tags_none"):
        parts.append("not tagged " + " or ".join(when["tags_none"]))
    return "only if " + " and ".join(parts) if parts else ""


def step_sentence(step: Mapping[str, Any], names: Mapping[str, str] | None = None) -> str:
    """One step in words: ``Add the tag “hot-lead”``, ``Wait 2 days``; its condition follows
    (``…, only if tagged vip``)."""
    what = _step_words(step, names or {})
    when = step.get("when")
    condition = when_words(when, names) if isinstance(when, Mapping) else ""
    return f"{what}, {condition}" if condition else what


def _step_words(step: Mapping[str, Any], names: Mapping[str, str]) -> str:
    kind = step.get("type")
    if kind == "add_tag":
        return f"Add the tag “{step.get('tag')}”"
    if kind == "remove_tag":
        return f"Remove the tag “{step.get('tag')}”"
    if kind == "notify":
        where = {"inbox": "in the dashboard inbox", "email": f"by email to {step.get('to')}",
                 "slack": "in Slack"}.get(step.get("channel", ""), step.get("channel"))
        return f"Notify {where}"
    if kind == "webhook":
        return f"Send a signed webhook to {step.get('url')}"
    if kind == "wait":
        try:
            return f"Wait {duration_words(step.get('duration', ''))}"
        except (ValueError, KeyError):
            return f"Wait {step.get('duration')}"
    if kind == "reset_score":
        profile = names.get(step.get("profile", ""), step.get("profile", ""))
        return f"Reset the {profile} score to 0 (a fresh start)"
    if kind == "adjust_score":
        profile = names.get(step.get("profile", ""), step.get("profile", ""))
        if "set" in step:
            return f"Set the {profile} score to {step['set']}"
        points = int(step.get("add") or 0)
        return f"{'Add' if points >= 0 else 'Take away'} {abs(points)} point{'' if abs(points) == 1 else 's'} " \
               f"{'to' if points >= 0 else 'from'} the {profile} score"
    return str(kind)
