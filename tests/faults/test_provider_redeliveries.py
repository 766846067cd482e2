"""Fault 4: providers deliver every event three times, in a shuffled order, with scoring in between.

Each copy is signed anew (as a provider's retry is); the scores and ledgers must equal the
reference fold of the distinct events, whatever the order and however often they came.
"""

from __future__ import annotations

import pytest

import random
import time
from typing import Any

from app.hooks import registry

from ..helpers import publish_profile, settle
from ..hook_builders import (
    calendly_invitee_created,
    mailgun_event,
    postmark_open,
    schemes,
    sendgrid_events,
    standard_interaction,
    stripe_event,
    stripe_payment_intent,
    tally_response,
    typeform_response,
    url,
)
from .load import assert_scored_exactly_once

#: On a private redis-server the test may kill, with short partition leases (tests/conftest.py).
pytestmark = pytest.mark.private_redis

COPIES, CONTACTS, EVENTS_PER_PROVIDER = 3, 4, 3
RULES = [
    {"id": "open", "on": "email.opened", "points": 2, "limit": {"count": 4}},
    {"id": "meeting", "on": "appointment.booked", "points": 15},
    {"id": "form", "on": "form.submitted", "points": 5},
    {"id": "paid", "on": "payment.succeeded", "points": 30},
    {"id": "webinar", "on": "custom.webinar_attended", "points": 8},
]
REFERENCE_RULES = RULES  # no windows or expiries: the API and reference formats agree


def _with(payload: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {**payload, **top}


def deliveries(email: str, k: int) -> list[tuple[str, Any]]:
    """Distinct events of one contact from every provider (ids and times vary per event)."""
    out: list[tuple[str, Any]] = []
    for j in range(EVENTS_PER_PROVIDER):
        n = f"{k}-{j}"
        out += [
            ("sendgrid", sendgrid_events(email, sg_event_id=f"sg-{n}", timestamp=1513299569 + j)[:1]),
            ("mailgun", mailgun_event(email, id=f"mg-{n}", timestamp=1521243339.5 + j)),
            ("postmark", postmark_open(email, ReceivedAt=f"2019-11-05T16:33:5{j}.9070259Z")),
            (
                "calendly",
                calendly_invitee_created(
                    email, uri=f"https://api.calendly.com/scheduled_events/E/invitees/{n}"
                ),
            ),
            ("typeform", _with(typeform_response(email), event_id=f"tf-{n}")),
            ("tally", _with(tally_response(email), eventId=f"tl-{n}")),
            (
                "stripe",
                stripe_event(
                    "payment_intent.succeeded",
                    stripe_payment_intent(email, pi=f"pi_{n}"),
                    event_id=f"evt_{n}",
                ),
            ),
            ("standard", standard_interaction(email, id_=f"std-{n}", occurred_at=f"2024-03-01T10:0{j}:00Z")),
        ]
    return out


def expected_records(provider: str, payload: Any) -> list[tuple[str, dict[str, Any]]]:
    """What the delivery means, from the provider's pure parser: (email, timeline record) pairs."""
    module = (registry.STANDARD if provider == "standard" else registry.PROVIDERS[provider]).module
    source = "crm" if provider == "standard" else provider
    return [(i.email, i.to_record().to_json()) for i in module.parse(payload, source).interactions]


def test_the_same_events_three_times_shuffled_score_like_the_reference(make_app):
    by_scheme = {s.provider: s for s in schemes()}
    app = make_app(**{s.setting: s.config_value for s in by_scheme.values()})
    client = app.test_client()
    rng = random.Random(4)
    events = [d for k in range(CONTACTS) for d in deliveries(f"p{k}@hooks.io", k)]
    expected: dict[str, list[dict[str, Any]]] = {}
    for provider, payload in events:
        for email, record in expected_records(provider, payload):
            expected.setdefault(email, []).append(record)
    assert sum(map(len, expected.values())) == len(events)  # one interaction per delivery
    copies = [(copy, provider, payload) for copy in range(COPIES) for provider, payload in events]
    rng.shuffle(copies)
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", RULES)
        now = int(time.time())
        for copy, provider, payload in copies:
            scheme = by_scheme[provider]
            body, headers = scheme.sign(payload, scheme.secret, now - copy)  # each retry is signed anew
            response = client.post(
                url(provider), data=body, headers={"Content-Type": "application/json", **headers}
            )
            assert response.status_code == 202, (provider, response.get_json())
            if rng.random() < 0.1:
                settle(services)  # scoring happens between deliveries: later copies arrive late
        settle(services)
        assert assert_scored_exactly_once(client, services, expected, REFERENCE_RULES) == CONTACTS
