"""A reproducible interaction load, and the exactly-once check against the reference fold.

The check reads every contact's live score and ledger and compares them with
``tests/reference.py``: the score must be the reference score, and the ledger must hold
exactly one entry per (interaction, matching rule) — none missing, none twice — in
timeline order, each entry's score following from the one before.
"""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

from app import ledger_history
from app.scoring.interactions import format_timestamp, parse_timestamp_ms

from ..helpers import AUTH
from ..reference import reference_score

PROFILE = "eng"
HOUR = 3_600_000
T0 = 1_700_000_000_000
RULES = [
    {"id": "open", "on": "email.opened", "points": 2},
    {"id": "click", "on": "email.clicked", "points": 5, "limit": {"count": 3, "window": "1h"}},
    {"id": "paid", "on": "payment.succeeded", "points": 20, "where": {"plan": "pro"}},
    {"id": "bounce", "on": "email.bounced", "points": -7},
    {"id": "form", "on": "form.submitted", "points": 3},
]
REFERENCE_RULES = RULES  # the reference fold reads rules in their public form
TYPES = [
    "email.opened",
    "email.clicked",
    "payment.succeeded",
    "email.bounced",
    "form.submitted",
    "custom.page_viewed",
]


def make_load(count: int, contacts: int, seed: int = 6) -> list[dict[str, Any]]:
    """``count`` interactions over ``contacts`` contacts, with times in random order (late arrivals)."""
    rng = random.Random(seed)
    return [
        {
            "id": f"i{n}",
            "type": rng.choice(TYPES),
            "contact": {"email": f"c{rng.randrange(contacts)}@load.io"},
            "occurred_at": format_timestamp(T0 + rng.randrange(48 * HOUR)),
            "properties": {"plan": rng.choice(["pro", "free"])},
        }
        for n in range(count)
    ]


def batches(items: list[dict[str, Any]], size: int) -> list[list[dict[str, Any]]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def post_batch(client, batch: list[dict[str, Any]]):
    return client.post("/v1/interactions", json={"interactions": batch}, headers=AUTH)


def _matching_rules(record: dict[str, Any], rules: list[dict[str, Any]]) -> list[str]:
    return [
        r["id"]
        for r in rules
        if r["on"] == record["t"] and all(record["p"].get(k) == v for k, v in r.get("where", {}).items())
    ]


def records_by_email(items: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """API-format interactions as timeline records, per contact email."""
    out: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        out.setdefault(item["contact"]["email"], []).append(
            {
                "id": item["id"],
                "src": "api",
                "t": item["type"],
                "at": parse_timestamp_ms(item["occurred_at"]),
                "p": item["properties"],
            }
        )
    return out


def assert_scored_exactly_once(
    client,
    services,
    accepted: dict[str, list[dict[str, Any]]],
    rules: list[dict[str, Any]] = REFERENCE_RULES,
    profile: str = PROFILE,
) -> int:
    """Every accepted record (per email) is in its contact's score and ledger exactly once.

    Returns the number of contacts checked.
    """
    assert not any(services.partitions.partition_depths()), "unscored interactions left in the streams"
    live = client.get(f"/v1/profiles/{profile}", headers=AUTH).get_json()["version"]
    problems = []
    for email, records in sorted(accepted.items()):
        cid = services.contacts.find_contact(email=email)
        contact = services.contacts.get_contact(cid)
        expected = reference_score(rules, records, now=T0 + 10**12)
        state = contact["states"].get(f"{profile}@{live}")
        score = state.score if state else None
        # the whole ledger, oldest first: the workers' ticker moves the hot horizon past these old interactions,
        # so its older part is read back from the archive, as the API reads it
        ledger = list(reversed(ledger_history.page(services, cid, services.profiles.live()[profile], 10_000).items))
        want = Counter((r["src"], r["id"], rule) for r in records for rule in _matching_rules(r, rules))
        got = Counter((e["source"], e["interaction_id"], e["rule_id"]) for e in ledger)
        running, chained = 0, True
        for entry in ledger:
            running += entry["change"]
            chained &= entry["score"] == running
        order = [(e["at"], e["source"], e["interaction_id"]) for e in ledger]
        if score != expected or got != want or not chained or order != sorted(order):
            problems.append(
                {
                    "email": email,
                    "score": score,
                    "expected": expected,
                    "missing": want - got,
                    "twice": got - want,
                    "chained": chained,
                    "ordered": order == sorted(order),
                }
            )
    assert not problems, f"{len(problems)} contacts differ from the reference, first: {problems[:3]}"
    return len(accepted)
