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
