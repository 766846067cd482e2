"""Rules and profile versions in plain words: the rule list, the version diff and the publish summary.

``rule_sentence`` turns any valid rule into one sentence that names its event, the sign of its
points, each condition, each limit and its expiry ("Email opened, not by a machine: +2, at most 5
a day, expires after 30 days"). ``describe_changes`` says what changed between two versions.
Pure functions: the dashboard, the API and the tests share them.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from .profiles import Band, Group, Profile, Rule
from .vocabulary import (
    OPERATOR_WORDS,
    duration_words,
    event_label,
    known_property,
    property_label,
    split_duration,
)

MINUS = "\u2212"


def format_value(value: Any) -> str:
    """A condition's value as written in a sentence: text quoted, numbers bare, true/false as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
    if isinstance(value, list):
        return ", ".join(format_value(v) for v in value) or "nothing"
    if value is None:
        return "empty"
    return json.dumps(str(value), ensure_ascii=False)  # quoted; a line break reads as \n


def points_words(points: int) -> str:
    """``+2``, ``−20`` (a real minus sign) or ``0``."""
    if points > 0:
        return f"+{points}"
    if points < 0:
        return f"{MINUS}{-points}"
    return "0"


def condition_words(type_: str, path: str, condition: Any) -> list[str]:
    """One phrase per comparison of a ``where`` entry (a bare value means "is")."""
    comparisons = condition.items() if isinstance(condition, Mapping) else [("eq", condition)]
    prop = known_property(type_, path)
    label = property_label(type_, path)
    phrases = []
    for op, expected in comparisons:
        if prop and prop.kind == "flag" and op in ("eq", "ne") and isinstance(expected, bool):
            truth = expected if op == "eq" else not expected
            phrases.append(prop.label if truth else (prop.no or f"not {prop.label}"))
        elif op == "exists":
            phrases.append(f"{label} {OPERATOR_WORDS['exists' if expected else 'not_exists']}")
        else:
            phrases.append(f"{label} {OPERATOR_WORDS.get(op, op)} {format_value(expected)}")
    return phrases


def where_words(type_: str, where: Mapping[str, Any]) -> str:
    """Every condition of a ``where`` in words, joined by commas (``amount at least 100, currency is "usd"``)."""
    return ", ".join(phrase for path, condition in where.items() for phrase in condition_words(type_, path, condition))


def attribute_conditions(rule: Rule) -> str:
    """A fit rule's conditions over attributes in words (``_`` read as a space): ``job title is "VP",
    company size at least 50``."""
    phrases: list[str] = []
    for path, condition in rule.where.items():
        label = path.replace("_", " ")
        phrases += [label + phrase[len(path):] for phrase in condition_words("", path, condition)]
    return ", ".join(phrases)


def limit_words(rule: Rule) -> list[str]:
    """``at most 5 a day``, ``at most 3 times per 2 weeks``, ``at most 2 times in all``, ``once per message``."""
    phrases = []
    if rule.limit_count is not None:
        times = "once" if rule.limit_count == 1 else f"{rule.limit_count}"
        if rule.limit_window:
            number, unit = split_duration(rule.limit_window)
            if unit and int(number) == 1:
                word = duration_words(rule.limit_window).split(" ", 1)[1]
                phrases.append(f"at most {times} {'an' if word == 'hour' else 'a'} {word}")
            else:
                plural = "" if rule.limit_count == 1 else " times"
                phrases.append(f"at most {times}{plural} per {duration_words(rule.limit_window)}")
        else:
            phrases.append(f"at most {times}{'' if rule.limit_count == 1 else ' times'} in all")
    if rule.once_per:
        phrases.append(f"once per {property_label(rule.on, rule.once_per)}")
    return phrases


def rule_sentence(rule: Rule, group: Group | None = None) -> str:
    """The rule as one sentence: event and conditions, then points, limits, expiry, decay and its group
    (with the group's cap when ``group`` is given; a decay the rule takes from its group says so)."""
    if not rule.on:  # a fit rule: conditions over the contact's attributes, and points
        return f"{attribute_conditions(rule)}: {points_words(rule.points)}"
    head = [event_label(rule.on)]
    for path, condition in rule.where.items():
        head += condition_words(rule.on, path, condition)
    tail = [points_words(rule.points), *limit_words(rule)]
    if rule.expires_after:
        tail.append(f"expires after {duration_words(rule.expires_after)}")
    if rule.decay_percent is not None and rule.decay_every:
        inherited = " (the group's decay)" if rule.decay_inherited else ""
        tail.append(f"loses {rule.decay_percent}% every {duration_words(rule.decay_every)}{inherited}")
    if rule.group:
        cap = f" (at most {group.max_points} together)" if group is not None and group.id == rule.group else ""
        tail.append(f"in group {rule.group}{cap}")
    return f"{', '.join(head)}: {', '.join(tail)}"


def profile_rule_sentences(profile: Profile) -> list[str]:
    """Each rule of the profile as its sentence, with its group's cap and decay."""
    return [rule_sentence(rule, profile.group_of(rule)) for rule in profile.rules]


def caps_words(profile: Profile) -> list[str]:
    """The profile's caps, one line each: ``Group email: at most 30 points together, loses 25% every
    30 days``, ``The score never exceeds 100``."""
    lines = []
    for group in profile.groups:
        decay = _decay_words(group.decay_percent, group.decay_every)
        lines.append(f"Group {group.id}: at most {group.max_points} points together{', ' + decay if decay else ''}")
    if profile.max_score is not None:
        lines.append(f"The score never exceeds {profile.max_score}")
    return lines


def band_words(band: Band) -> str:
    return f"{band.name} from {band.min}"


def describe_changes(old: Profile, new: Profile) -> list[str]:
    """What changed from ``old`` to ``new``, one line each: rules added, removed, changed or reordered,
    bands added, removed or moved, the name and the description; ``["No changes"]`` when equal."""
    lines: list[str] = []
    if old.name != new.name:
        lines.append(f'Renamed from "{old.name}" to "{new.name}"')
    if old.description != new.description:
        lines.append("Description changed")
    if old.kind != new.kind:
        lines.append(f"Kind changed from {old.kind} to {new.kind}")
    lines += _rule_changes(old.rules, new.rules)
    lines += _band_changes(old.bands, new.bands)
    lines += _cap_changes(old, new)
    lines += _list_changes(old, new)
    return lines or ["No changes"]


def _list_changes(old: Profile, new: Profile) -> list[str]:
    """Include and exclude lists added or removed (by smart list id)."""
    words = {("include", True): "Scores only contacts in list {} (include)",
             ("include", False): "No longer limited to list {}",
             ("exclude", True): "No longer scores contacts in list {} (exclude)",
             ("exclude", False): "Scores contacts in list {} again (no longer excluded)"}
    lines = []
    for side in ("include", "exclude"):
        before, after = getattr(old, side), getattr(new, side)
        lines += [words[(side, False)].format(lid) for lid in before if lid not in after]
        lines += [words[(side, True)].format(lid) for lid in after if lid not in before]
    return lines


def _rule_changes(old: Sequence[Rule], new: Sequence[Rule]) -> list[str]:
    before = {r.id: r for r in old}
    after = {r.id: r for r in new}
    lines = [f"Removed rule: {rule_sentence(r)}" for r in old if r.id not in after]
    for rule in new:
        previous = before.get(rule.id)
        if previous is None:
            lines.append(f"Added rule: {rule_sentence(rule)}")
        elif previous != rule:
            was, now = rule_sentence(previous), rule_sentence(rule)
            lines.append(f"Changed rule: {was} \u2192 {now}" if was != now else f"Changed rule: {now}")
    kept_before = [r.id for r in old if r.id in after]
    kept_after = [r.id for r in new if r.id in before]
    if kept_before != kept_after:
        lines.append("Rules reordered")
    return lines


def _band_changes(old: Sequence[Band], new: Sequence[Band]) -> list[str]:
    before = {b.name: b for b in old}
    after = {b.name: b for b in new}
    lines = [f"Removed band {band_words(b)}" for b in old if b.name not in after]
    for band in new:
        previous = before.get(band.name)
        if previous is None:
            lines.append(f"Added band {band_words(band)}")
        elif previous.min != band.min:
            lines.append(f"Band {band.name} now starts at {band.min} (was {previous.min})")
    return lines


def _cap_changes(old: Profile, new: Profile) -> list[str]:
    """Groups added, removed or re-capped, and the maximum score set, changed or removed."""
    before = {g.id: g.max_points for g in old.groups}
    after = {g.id: g.max_points for g in new.groups}
    lines = [f"Removed group {gid} (at most {cap})" for gid, cap in before.items() if gid not in after]
    for group in new.groups:
        gid, cap = group.id, group.max_points
        if gid not in before:
            words = _decay_words(group.decay_percent, group.decay_every)
            lines.append(f"Added group {gid}: at most {cap}{', ' + words if words else ''}")
        elif before[gid] != cap:
            lines.append(f"Group {gid} now at most {cap} (was {before[gid]})")
    decay_before = {g.id: _decay_words(g.decay_percent, g.decay_every) for g in old.groups}
    for group in new.groups:
        words = _decay_words(group.decay_percent, group.decay_every)
        if group.id in decay_before and decay_before[group.id] != words:
            lines.append(f"Group {group.id} now {words or 'does not decay'}")
    if old.max_score != new.max_score:
        if new.max_score is None:
            lines.append(f"No maximum score (was {old.max_score})")
        else:
            was = f" (was {old.max_score})" if old.max_score is not None else ""
            lines.append(f"Maximum score {new.max_score}{was}")
    if old.company_rollup != new.company_rollup:
        was = f" (was {old.company_rollup})" if old.company_rollup else ""
        lines.append(f"Company score: {new.company_rollup} of its contacts' scores{was}" if new.company_rollup
                     else f"No company score (was {old.company_rollup})")
    return lines


def _decay_words(percent: int | None, every: str | None) -> str:
    return f"loses {percent}% every {duration_words(every)}" if percent is not None and every else ""
