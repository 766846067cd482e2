"""A plain reference fold, written independently of app.scoring, for the property tests.

It reads the README's "Score semantics" literally: the timeline in ``(occurred_at, the text
source:id)`` order; each entry's matching rules in profile order, each change clipped so the
score never goes below 0; limits (count per half-open rolling window, once per value) counting
scoring matches; an expiring change reversed at ``occurred_at + duration`` through the same
floor, before the entries of that millisecond, when that moment is not after ``now``; manual
``set``/``add`` entries; ``all_channels`` true when every channel given is on.

Rules are given in their public JSON form (``{"id", "on", "points", "where", "limit",
"expires_after"}``); durations are parsed here, not by the app.
"""
from __future__ import annotations

import re

_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def duration_ms(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smhdw])", text).groups()
    return int(number) * _UNIT_MS[unit]


def all_channels(channels: dict[str, bool]) -> bool:
    """Every channel given is on (and at least one is given)."""
    return len(channels) > 0 and False not in channels.values()


def _limit_admits(rule: dict, at: int, props: dict, hits: dict, seen_values: dict) -> bool:
    """A rule's limits (count in a half-open window, once per a property's value) admit this match;
    an admitted match is remembered for the next ones."""
    limit = rule.get("limit", {})
    window = duration_ms(limit["window"]) if "window" in limit else None
    earlier = [t for t in hits.get(rule["id"], []) if window is None or at - window < t]
    value = props.get(limit["once_per"]) if "once_per" in limit else None
    if value is not None:  # a value is its text, as the README says: 1 and "1" are one value, 1 and 1.0 two
        value = str(value)
    if ("count" in limit and len(earlier) >= limit["count"]) or (
            value is not None and value in seen_values.get(rule["id"], set())):
        return False
    hits.setdefault(rule["id"], []).append(at)
    if value is not None:
        seen_values.setdefault(rule["id"], set()).add(value)
    return True


def _matches(rule: dict, type_: str, props: dict) -> bool:
    if rule["on"] != type_:
        return False
    for name, wanted in rule.get("where", {}).items():
        actual = all_channels(props.get("channels", {})) if name == "all_channels" else props.get(name)
        if actual != wanted:
            return False
    return True


def reference_fold(rules: list[dict], records: list[dict], now: int, profile: str = "p") -> tuple[int, list[tuple]]:
    """The score at ``now`` and the ledger as ``(at, reason, change, score)`` tuples."""
    timeline = sorted(records, key=lambda r: (r["at"], f'{r["src"]}:{r["id"]}'))
    score = 0
    ledger: list[tuple] = []
    hits: dict[str, list[int]] = {}
    seen_values: dict[str, set] = {}
    pending: list[tuple[int, str, str, int]] = []  # (at, key, rule id, change to reverse)

    def clip(points: int) -> int:
        return max(score + points, 0) - score

    def expire(before: int, inclusive: bool) -> None:
        nonlocal score
        pending.sort()
        while pending and (pending[0][0] <= before if inclusive else pending[0][0] < before):
            at, _key, _rule, change = pending.pop(0)
            applied = clip(-change)
            score += applied
            ledger.append((at, "expired", applied, score))

    for record in timeline:
        at, type_, props = record["at"], record["t"], record["p"]
        expire(at, inclusive=True)
        if type_ == "score.manual":
            if props.get("profile") != profile:
                continue
            change = max(props["set"], 0) - score if "set" in props else clip(props["add"])
            score += change
            ledger.append((at, "manual", change, score))
            continue
        for rule in rules:
            if not _matches(rule, type_, props):
                continue
            if not _limit_admits(rule, at, props, hits, seen_values):
                ledger.append((at, "limit", 0, score))
                continue
            change = clip(rule["points"])
            score += change
            ledger.append((at, "matched" if change == rule["points"] else "floor", change, score))
            if "expires_after" in rule and change != 0:
                pending.append((at + duration_ms(rule["expires_after"]), f'{record["src"]}:{record["id"]}',
                                rule["id"], change))
    expire(now, inclusive=True)
    return score, ledger


def reference_score(rules: list[dict], records: list[dict], now: int, profile: str = "p") -> int:
    return reference_fold(rules, records, now, profile)[0]


# --- scoring models: decay, groups and caps, reset ---------------------------------------------------------
#
# A second plain reference that also reads docs/scoring-models.md literally, for the models' property tests
# (tests/test_models_properties.py). Rules in their public JSON form, durations parsed here. Beyond the above:
# - decay (the rule's own, else its group's): a change c standing after k periods is c·(1 − percent/100)^k rounded to the nearest whole point,
#   halves toward zero (exact rational arithmetic here); each period whose standing value changes is a step
#   at occurred_at + k·every asking the difference, placed like an expiry;
# - caps: a group's total moves up by what its entries applied and down by what they asked; an entry asking
#   points may take at most max_points − total of them; nothing lifts the score above max_score;
# - manual {"reset": 0}: score 0, pending expiries and decay steps dropped, group totals emptied.
# Timed entries (expiries, decay steps) of one millisecond go by (interaction key, rule id).

from fractions import Fraction  # noqa: E402
import math  # noqa: E402

def decayed(change: int, percent: int, periods: int) -> int:
    """What stands of ``change`` after ``periods``: nearest whole point, a half rounded toward zero."""
    exact = abs(Fraction(change) * Fraction(100 - percent, 100) ** periods)
    whole = math.floor(exact)
    if exact - whole > Fraction(1, 2):
        whole += 1
    return whole if change >= 0 else -whole


def reference_models_fold(profile: dict, records: list[dict], now: int) -> tuple[int, list[tuple]]:
    """The score at ``now`` and the ledger as ``(at, reason, change, score)``; ``profile`` holds ``id``,
    ``rules`` and optionally ``groups`` and ``max_score``."""
    rules = profile["rules"]
    caps = {g["id"]: g["max_points"] for g in profile.get("groups", [])}
    group_decay = {g["id"]: g["decay"] for g in profile.get("groups", []) if "decay" in g}
    group_of = {r["id"]: r.get("group") for r in rules}
    max_score = profile.get("max_score")
    score = 0
    totals: dict[str, int] = {}
    ledger: list[tuple] = []
    hits: dict[str, list[int]] = {}
    seen_values: dict[str, set] = {}
    timed: list[tuple] = []  # (at, key, rule id, kind, points asked)

    def give(rule_id, asked: int) -> tuple[int, bool]:
        """Apply ``asked`` for a rule (None: manual): the change made, and whether a cap cut it."""
        nonlocal score
        group = group_of.get(rule_id)
        allowed, capped = asked, False
        if group is not None and asked > 0 and asked > caps[group] - totals.get(group, 0):
            allowed, capped = max(caps[group] - totals.get(group, 0), 0), True
        target = max(score + allowed, 0)
        if max_score is not None and allowed > 0 and target > max_score:
            target, capped = max(max_score, score), True
        change = target - score
        score = target
        if group is not None:
            totals[group] = totals.get(group, 0) + (change if asked > 0 else asked)
        return change, capped

    def run_timed(before: int) -> None:
        timed.sort()
        while timed and timed[0][0] <= before:
            at, _key, rule_id, kind, asked = timed.pop(0)
            change, _ = give(rule_id, asked)
            ledger.append((at, kind, change, score))

    for record in sorted(records, key=lambda r: (r["at"], f'{r["src"]}:{r["id"]}')):
        at, type_, props = record["at"], record["t"], record["p"]
        key = f'{record["src"]}:{record["id"]}'
        run_timed(at)
        if type_ == "score.manual":
            if props.get("profile") != profile["id"]:
                continue
            if "reset" in props:
                change, _ = give(None, -score)
                timed.clear()
                totals.clear()
            elif "set" in props:
                change, _ = give(None, max(props["set"], 0) - score)
            else:
                change, _ = give(None, props["add"])
            ledger.append((at, "manual", change, score))
            continue
        for rule in rules:
            if rule["on"] != type_ or any(props.get(k) != v for k, v in rule.get("where", {}).items()):
                continue
            if not _limit_admits(rule, at, props, hits, seen_values):
                ledger.append((at, "limit", 0, score))
                continue
            change, capped = give(rule["id"], rule["points"])
            reason = "matched" if change == rule["points"] else "capped" if capped else "floor"
            ledger.append((at, reason, change, score))
            if change and "expires_after" in rule:
                timed.append((at + duration_ms(rule["expires_after"]), key, rule["id"], "expired", -change))
            decay = rule.get("decay") or group_decay.get(rule.get("group"))
            if change and decay:
                percent, every = decay["percent"], duration_ms(decay["every"])
                period = 1
                while decayed(change, percent, period - 1) != 0:
                    step = decayed(change, percent, period) - decayed(change, percent, period - 1)
                    if step:
                        timed.append((at + period * every, key, rule["id"], "decay", step))
                    period += 1
    run_timed(now)
    return score, ledger


# --- fit profiles --------------------------------------------------------------------------------------

def reference_attributes(records: list[dict]) -> dict:
    """A contact's attributes: its attribute records (type ``contact.attributes``) in (at, "source:id") order,
    each value setting its attribute and each null removing it."""
    attributes: dict = {}
    changes = [r for r in records if r["t"] == "contact.attributes"]
    for record in sorted(changes, key=lambda r: (r["at"], f'{r["src"]}:{r["id"]}')):
        for name, value in record["p"].items():
            if value is None:
                attributes.pop(name, None)
            else:
                attributes[name] = value
    return attributes


def _holds(op: str, actual, expected) -> bool:
    if op == "exists":
        return (actual is not None) is expected
    if op == "in":
        return actual is not None and actual in expected
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if actual is None or isinstance(actual, str) != isinstance(expected, str):
        return False
    return {"gt": actual > expected, "gte": actual >= expected, "lt": actual < expected,
            "lte": actual <= expected}[op]


def reference_fit_score(profile: dict, records: list[dict]) -> int | None:
    """A fit profile's score read literally from docs/scoring-models.md: None without any record; else the
    points of every rule whose conditions (a bare value: equals; or an object of operators, all holding) the
    contact's attributes satisfy, summed, then at least 0 and at most ``max_score``."""
    if not records:
        return None
    attributes = reference_attributes(records)
    total = 0
    for rule in profile["rules"]:
        conditions = rule["where"].items()
        if all(all(_holds(op, attributes.get(name), value) for op, value in wanted.items())
               if isinstance(wanted, dict) else attributes.get(name) == wanted for name, wanted in conditions):
            total += rule["points"]
    total = max(total, 0)
    return min(total, profile["max_score"]) if profile.get("max_score") is not None else total


# --- grades --------------------------------------------------------------------------------------------

def reference_level(bands: list[dict], score: int | None) -> int | None:
    """1 (best) … 3 from docs/scoring-models.md, "Grades": the top band 1, the lowest band 3 with three bands or
    more (2 with two, 1 with one), bands between 2, below every band 3; None for no score."""
    if score is None:
        return None
    mins = sorted({b["min"] for b in bands})
    position = sum(1 for m in mins if m <= score)  # 0: below every band; len(mins): the top band
    if position == 0:
        return 3
    if position == len(mins):
        return 1
    if position == 1 and len(mins) >= 3:
        return 3
    return 2


def reference_cell(fit_bands: list[dict], engagement_bands: list[dict], fit: int | None,
                   engagement: int | None) -> str | None:
    letter, number = reference_level(fit_bands, fit), reference_level(engagement_bands, engagement)
    if letter is None or number is None:
        return None
    return "ABC"[letter - 1] + str(number)
