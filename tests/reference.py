"""A plain reference fold, written independently of app.scoring.fold, for property tests.

The score is the running total of matching rules' points over the timeline in
``(occurred_at, source:id)`` order, never below 0; limits in the same order; an expiring
rule's applied change is reversed at ``at + duration`` (before entries of that
millisecond) when that moment is not after ``now``.
"""
from __future__ import annotations


def reference_score(rules: list[dict], records: list[dict], now: int) -> int:
    events = []  # (at, order, key, payload)
    for r in records:
        events.append((r["at"], 1, f'{r["src"]}:{r["id"]}', r))
    events.sort(key=lambda e: (e[0], e[1], e[2]))
    score = 0
    hits: dict[str, list[int]] = {}
    once: dict[str, set] = {}
    expiries: list[tuple[int, str, int]] = []

    def expire_until(limit_at: int, inclusive: bool) -> None:
        nonlocal score
        expiries.sort()
        while expiries and (expiries[0][0] <= limit_at if inclusive else expiries[0][0] < limit_at + 1):
            at, _key, change = expiries.pop(0)
            score = max(score - change, 0)

    for at, _order, key, r in events:
        expire_until(at, inclusive=True)
        if r["t"] == "score.manual":
            p = r["p"]
            if "set" in p:
                score = max(p["set"], 0)
            else:
                score = max(score + p["add"], 0)
            continue
        for rule in rules:
            if rule["on"] != r["t"]:
                continue
            if any(r["p"].get(k) != v for k, v in rule.get("where", {}).items()):
                continue
            limit = rule.get("limit", {})
            if "count" in limit:
                window = limit.get("window_ms")
                recent = [t for t in hits.get(rule["id"], []) if window is None or t > at - window]
                if len(recent) >= limit["count"]:
                    continue
                hits.setdefault(rule["id"], []).append(at)
            before = score
            score = max(score + rule["points"], 0)
            change = score - before
            if rule.get("expires_ms") and change:
                expiries.append((at + rule["expires_ms"], key, change))
    expire_until(now, inclusive=True)
    return score


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
import re  # noqa: E402

_MODEL_UNIT_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def _model_ms(text: str) -> int:
    number, unit = re.fullmatch(r"(\d+)([smhdw])", text).groups()
    return int(number) * _MODEL_UNIT_MS[unit]


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
            limit = rule.get("limit", {})
            window = _model_ms(limit["window"]) if "window" in limit else None
            earlier = [t for t in hits.get(rule["id"], []) if window is None or at - window < t]
            value = props.get(limit["once_per"]) if "once_per" in limit else None
            if ("count" in limit and len(earlier) >= limit["count"]) or (
                    value is not None and value in seen_values.get(rule["id"], set())):
                ledger.append((at, "limit", 0, score))
                continue
            hits.setdefault(rule["id"], []).append(at)
            if value is not None:
                seen_values.setdefault(rule["id"], set()).add(value)
            change, capped = give(rule["id"], rule["points"])
            reason = "matched" if change == rule["points"] else "capped" if capped else "floor"
            ledger.append((at, reason, change, score))
            if change and "expires_after" in rule:
                timed.append((at + _model_ms(rule["expires_after"]), key, rule["id"], "expired", -change))
            decay = rule.get("decay") or group_decay.get(rule.get("group"))
            if change and decay:
                percent, every = decay["percent"], _model_ms(decay["every"])
                period = 1
                while decayed(change, percent, period - 1) != 0:
                    step = decayed(change, percent, period) - decayed(change, percent, period - 1)
                    if step:
                        timed.append((at + period * every, key, rule["id"], "decay", step))
                    period += 1
    run_timed(now)
    return score, ledger
