"""Benchmark data: the 10-rule profile, interactions spread over contacts, and fast loading.

Interactions are generated in time order over all contacts (a campaign's events interleave),
so a scoring batch of 1,000 touches ~1,000 different contacts: the hard case for batching.
Loading goes through ``app.ingest.ingest`` in-process (same code path as the API, no HTTP).
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

from app.scoring.interactions import Interaction
from app.clock import now_ms

PROFILE_ID = "engagement"
#: The 10 rules: every kind of condition, limit and expiry the fold knows.
RULES: list[dict[str, Any]] = [
    {"id": "open", "on": "email.opened", "points": 1, "where": {"machine_open": {"ne": True}},
     "limit": {"count": 5, "window": "1d"}},
    {"id": "click", "on": "email.clicked", "points": 3, "limit": {"once_per": "message_id"}},
    {"id": "click-recent", "on": "email.clicked", "points": 2, "expires_after": "7d"},
    {"id": "form", "on": "form.submitted", "points": 10},
    {"id": "booked", "on": "appointment.booked", "points": 25},
    {"id": "cancelled", "on": "appointment.cancelled", "points": -10},
    {"id": "paid", "on": "payment.succeeded", "points": 50, "where": {"plan": {"in": ["pro", "team"]}}},
    {"id": "unsub", "on": "email.unsubscribed", "points": -20},
    {"id": "bounce", "on": "email.bounced", "points": -5},
    {"id": "page", "on": "custom.page_view", "points": 1, "where": {"path": {"exists": True}},
     "limit": {"count": 20, "window": "1d"}},
]
BANDS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "hot", "min": 50}]
#: (type, weight): the mix of a typical email-heavy account.
MIX = [("email.opened", 35), ("email.clicked", 20), ("email.delivered", 20), ("custom.page_view", 15),
       ("form.submitted", 4), ("appointment.booked", 2), ("appointment.cancelled", 1),
       ("payment.succeeded", 1), ("email.bounced", 1), ("email.unsubscribed", 1)]
SOURCE = "bench"
MINUTE_MS = 60_000


#: The smart list a profile excludes when the bench runs with ``--profile-lists``.
CUSTOMERS_LIST = {"id": "customers", "name": "Customers",
                  "filter": {"conditions": [{"field": "tag", "op": "has", "tag": "customer"}]}}


def profile_draft() -> dict[str, Any]:
    return {"name": "Engagement", "rules": RULES, "bands": BANDS}


def email_of(contact: int, run: str = "") -> str:
    return f"u{contact}{run}@bench.example"


def properties_for(type_: str, rng: random.Random, seq: int) -> dict[str, Any]:
    if type_ == "email.opened":
        return {"message_id": f"m{seq % 50}", "machine_open": rng.random() < 0.2}
    if type_ == "email.clicked":
        return {"message_id": f"m{seq % 50}"}
    if type_ == "custom.page_view":
        return {"path": f"/p/{seq % 7}"}
    if type_ == "payment.succeeded":
        return {"plan": rng.choice(["free", "pro", "team"]), "amount": 4900}
    return {}


def provider_properties_for(type_: str, rng: random.Random, seq: int) -> dict[str, Any]:
    """``properties_for``'s, with what the providers' parsers keep besides (app/hooks/): SendGrid's message id and
    category on every email event and a click's URL (sendgrid.py), a Stripe payment's ids, currency, description
    and event (stripe.py). Row 5c: what a stored interaction costs when its properties are a provider's, not the
    few short values the rules read."""
    properties = properties_for(type_, rng, seq)
    if type_.startswith("email."):
        properties["message_id"] = f"14c5d75ce93.dfd.64b469.filter0001.{seq % 50:05d}.5515E0B88.0"
        properties["category"] = ["newsletter"]
    if type_ == "email.clicked":
        properties["url"] = f"https://example.com/pricing?utm_source=newsletter&utm_campaign=dec-{seq % 7}"
    if type_ == "payment.succeeded":
        properties.update(currency="usd", payment_intent=f"pi_3MtwBwLkdIwHu7ix28a3tqP{seq % 10}",
                          charge=f"ch_3MtwBwLkdIwHu7ix28a3tqP{seq % 10}", customer=f"cus_NffrFeUfNV2Hi{seq % 10}",
                          stripe_event=f"evt_1NG8Du2eZvKYlo2CUI79vXW{seq % 10}",
                          stripe_type="payment_intent.succeeded", livemode=False, description="Subscription update")
    return properties


def interactions(contacts: int, total: int, seed: int = 5, run: str = "", start_ms: int | None = None,
                 properties: Callable[[str, random.Random, int], dict[str, Any]] = properties_for,
                 ) -> Iterator[Interaction]:
    """``total`` interactions over ``contacts`` contacts, in time order (contacts interleaved); ``properties``
    makes each one's properties (the bench's few short values, or ``provider_properties_for``)."""
    rng = random.Random(seed)
    types = [t for t, w in MIX for _ in range(w)]
    per_contact = max(1, total // contacts)
    start = (now_ms() - 2 * 24 * 3600 * 1000) if start_ms is None else start_ms
    produced = 0
    for round_ in range(per_contact + 1):
        for contact in range(contacts):
            if produced >= total:
                return
            type_ = rng.choice(types)
            yield Interaction(id=f"e{contact}-{round_}", source=SOURCE, type=type_,
                              occurred_at=start + round_ * MINUTE_MS + contact % MINUTE_MS,
                              properties=properties(type_, rng, round_), email=email_of(contact, run))
            produced += 1


def chunks(items: Iterator[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def load(services: Any, items: Iterator[Interaction], chunk: int = 1000, progress=None) -> int:
    """Ingest through ``app.ingest.ingest`` (pipelined; no HTTP); returns the number accepted."""
    from app.ingest import ingest

    accepted = 0
    for batch in chunks(items, chunk):
        accepted += ingest(services, batch).accepted
        if progress:
            progress(accepted)
    return accepted
