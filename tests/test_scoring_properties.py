"""Property: any interaction sequence, delivered in any order with any duplicates and in any
batches, ends at the score of the plain reference fold — live, and after a publish recompute."""
from __future__ import annotations

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.scoring.interactions import format_timestamp

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, publish, publish_profile, score_of, send, settle
from .reference import reference_score

T0 = 1_700_000_000_000
HOUR = 3_600_000
RULES = [
    {"id": "open", "on": "email.opened", "points": 3},
    {"id": "click", "on": "email.clicked", "points": 7, "expires_after": "2h"},
    {"id": "click-cap", "on": "email.clicked", "points": 1, "limit": {"count": 2, "window": "3h"}},
    {"id": "unsub", "on": "email.unsubscribed", "points": -15},
    {"id": "paid", "on": "payment.succeeded", "points": 20, "where": {"plan": "pro"}},
]
REFERENCE_RULES = [
    {"id": "open", "on": "email.opened", "points": 3},
    {"id": "click", "on": "email.clicked", "points": 7, "expires_ms": 2 * HOUR},
    {"id": "click-cap", "on": "email.clicked", "points": 1, "limit": {"count": 2, "window_ms": 3 * HOUR}},
    {"id": "unsub", "on": "email.unsubscribed", "points": -15},
    {"id": "paid", "on": "payment.succeeded", "points": 20, "where": {"plan": "pro"}},
]
TYPES = ["email.opened", "email.clicked", "email.unsubscribed", "payment.succeeded", "form.submitted"]
EMAILS = ["a@x.io", "b@x.io"]

event = st.tuples(st.sampled_from(TYPES), st.integers(0, 12 * HOUR), st.sampled_from(EMAILS),
                  st.sampled_from(["pro", "free"]))


@st.composite
def deliveries(draw):
    events = draw(st.lists(event, min_size=1, max_size=25))
    records = [{"id": f"e{i}", "type": t, "at": T0 + at, "email": email, "plan": plan}
               for i, (t, at, email, plan) in enumerate(events)]
    sent = records + draw(st.lists(st.sampled_from(records), max_size=8))  # duplicates
    order = draw(st.permutations(sent))
    cuts = sorted(draw(st.lists(st.integers(0, len(order)), max_size=4)))
    batches, start = [], 0
    for cut in cuts + [len(order)]:
        if cut > start:
            batches.append(order[start:cut])
            start = cut
    return records, batches


def as_interaction(r):
    return {"id": r["id"], "type": r["type"], "contact": {"email": r["email"]},
            "occurred_at": format_timestamp(r["at"]), "properties": {"plan": r["plan"]}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries())
def test_any_delivery_order_with_duplicates_scores_like_the_reference(delivery):
    records, batches = delivery
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    app = create_app({"TESTING": True, "REDIS_URL": TEST_REDIS_URL, "API_KEYS": AUTH["Authorization"][7:],
                      "PARTITIONS": 2, "WORKFLOWS_DIR": ""})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", RULES)
        for batch in batches:
            send(client, *[as_interaction(r) for r in batch])
            settle(services)
        for email in EMAILS:
            mine = [{"id": r["id"], "src": "api", "t": r["type"], "at": r["at"], "p": {"plan": r["plan"]}}
                    for r in records if r["email"] == email]
            expected = reference_score(REFERENCE_RULES, mine, now=T0 + 10**12) if mine else None
            assert score_of(client, email, "eng") == expected
        live = {email: score_of(client, email, "eng") for email in EMAILS}
        publish(client, services, "eng")  # recompute from history: same scores
        assert {email: score_of(client, email, "eng") for email in EMAILS} == live
