"""Stripe's parse builds each scored ``Interaction`` from its parts (``ParseResult.add_parts``) instead of the
core-format dict, its timestamp's text and ``load_interaction`` (the generic path every provider had): the same
interactions, skips, waiting events, aliases and 400s for every event type Stripe's module maps, over generated
events — documented ones with one field (sometimes two) drawn from each class of odd or hostile value.
"""
from __future__ import annotations

from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import ValidationError
from app.hooks import results, stripe
from app.scoring.interactions import MAX_TIMESTAMP_MS

from .hook_builders import stripe_charge, stripe_event, stripe_invoice, stripe_payment_intent
from .hostile import forbidden_char, huge_integers, scalars, too_deep, with_forbidden_char

MAPPED = sorted(stripe.SUCCEEDED | stripe.FAILED | stripe.REFUNDED | stripe.CUSTOMER)

json_leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18) | st.text(max_size=6)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6)
stripe_ids = st.from_regex(r"(pi|ch|in|cus|evt)_[A-Za-z0-9]{1,24}", fullmatch=True)
#: An id field: Stripe's text, expanded into an object, or odd and hostile values.
ids = st.one_of(stripe_ids, stripe_ids.map(lambda i: {"id": i, "object": "x"}), st.one_of(
    stripe_ids.flatmap(with_forbidden_char), st.just(""), st.just("   "), st.text(min_size=250, max_size=260),
    stripe_ids.map(lambda i: {"id": i + "\n"})), st.sampled_from([None, 5, True, [], {}]), st.integers(0, 2**63 - 1))
#: An email field: an address (trimmed and lower-cased on the way), or anything else.
emails = st.one_of(st.emails(), st.emails().map(lambda e: f"  {e.upper()} "), st.emails().flatmap(with_forbidden_char),
                   st.sampled_from(["a@b@c", "@", "a b@c.d", "no-at-sign", "", "x" * 320 + "@example.com", None, 5]),
                   st.builds(lambda c: f"a{c}@b.example", forbidden_char))
#: When the event was created, in epoch seconds: plain, odd but readable, and out of range.
created = st.one_of(st.integers(0, MAX_TIMESTAMP_MS // 1000 - 1), st.sampled_from([0, MAX_TIMESTAMP_MS // 1000 - 1]),
                    st.integers(1_600_000_000, 1_900_000_000).map(str), st.floats(0, 4e9, allow_nan=False),
                    st.sampled_from([-1, MAX_TIMESTAMP_MS // 1000, 10**13, True, None, "", "soon", 1.5e300, [1]]))
#: Free fields copied into the interaction's properties: JSON values, and what the body door refuses (a parse
#: called directly still must agree on them).
free = st.one_of(json_values, huge_integers, too_deep(), scalars)

#: Each field of ``data.object`` a mapping reads, with the values it is drawn from when spoiled.
OBJECT_FIELDS = {
    "id": ids, "object": st.sampled_from(["payment_intent", "charge", "invoice", "customer", "checkout.session"]),
    "amount": free, "amount_received": free, "amount_refunded": free, "amount_paid": free, "amount_due": free,
    "amount_total": free, "currency": free, "description": free, "failure_code": free,
    "payment_intent": ids, "charge": ids, "invoice": ids, "latest_charge": ids | st.builds(
        lambda email: {"id": "ch_1", "billing_details": {"email": email}}, emails),
    "customer": ids | st.builds(lambda i, email: {"id": i, "email": email}, stripe_ids, emails),
    "receipt_email": emails, "customer_email": emails, "email": emails,
    "billing_details": st.builds(lambda email: {"email": email}, emails) | scalars,
    "customer_details": st.builds(lambda email: {"email": email}, emails) | scalars,
    "last_payment_error": st.fixed_dictionaries({}, optional={"code": free, "charge": ids}) | scalars,
    "payment_status": st.sampled_from(["paid", "unpaid", None]),
    "payments": st.builds(lambda i: {"data": [{"payment": {"payment_intent": i}}]}, ids) | scalars,
}
#: The fields that make an interaction's id or contact, drawn more often.
IDS_AND_EMAILS = ["id", "payment_intent", "charge", "latest_charge", "receipt_email", "customer_email"]
#: Each field of the envelope a mapping reads.
EVENT_FIELDS = {"id": ids, "created": created, "livemode": free, "type": st.sampled_from(MAPPED + ["payout.paid"])}


def documented(kind: str, email: str | None, customer: str | None) -> dict:
    """The documented object behind an event type (tests/hook_builders.py)."""
    if kind.startswith("invoice."):
        return {**stripe_invoice(), "customer_email": email, "customer": customer}
    if kind.startswith("charge."):
        return stripe_charge(email, customer, status="failed" if kind in stripe.FAILED else "succeeded")
    if kind.startswith("customer."):
        return {"id": customer or "cus_1", "object": "customer", "email": email}
    if kind == "checkout.session.completed":
        return {"id": "cs_1", "object": "checkout.session", "payment_status": "paid", "payment_intent": "pi_1",
                "amount_total": 2000, "currency": "usd", "customer_details": {"email": email}, "customer": customer}
    return stripe_payment_intent(email, customer)


@st.composite
def events(draw) -> dict:
    """A documented event of a mapped type, with one or two of its object's or envelope's fields (sometimes none)
    drawn from their odd and hostile values instead."""
    kind = draw(st.sampled_from(MAPPED))
    obj = documented(kind, draw(st.emails() | st.just(None)), draw(st.none() | stripe_ids))
    event = stripe_event(kind, obj, draw(stripe_ids))
    event["created"] = draw(st.integers(1_600_000_000, 1_900_000_000))
    for _ in range(draw(st.sampled_from([0, 1, 1, 2, 3]))):
        if draw(st.integers(0, 3)) == 0:
            name = draw(st.sampled_from(sorted(EVENT_FIELDS)))
            event[name] = draw(EVENT_FIELDS[name])
        else:
            name = draw(st.sampled_from(sorted(OBJECT_FIELDS)) | st.sampled_from(IDS_AND_EMAILS))
            obj[name] = draw(OBJECT_FIELDS[name])
    return event


def outcome(payload: dict) -> tuple:
    """All that ``stripe.parse`` says of an event: its result's parts, or the 400 it raises."""
    try:
        result = stripe.parse(payload)
    except ValidationError as exc:
        return ("refused", exc.message, exc.errors)
    return (result.source, result.interactions, result.skipped, result.awaiting, result.aliases, result.replay_token)


def generic_outcome(payload: dict) -> tuple:
    """The same, every interaction going through the core-format dict and ``load_interaction`` as before."""
    with mock.patch.object(results, "plain_interaction", return_value=None):
        return outcome(payload)


@settings(max_examples=1500, deadline=None)
@given(events())
def test_every_mapped_event_parses_as_the_generic_path_parses_it(event):
    assert outcome(event) == generic_outcome(event)


@pytest.mark.parametrize("kind", [k for k in MAPPED if k not in stripe.CUSTOMER])
def test_a_documented_event_is_built_directly(kind):
    """The documented events take the direct build (no core-format dict made), and score the same."""
    event = stripe_event(kind, documented(kind, "Jenny.Rosen@example.com", None))
    with mock.patch.object(results, "interaction", wraps=results.interaction) as made:
        direct = outcome(event)
    assert made.call_count == 0
    [scored] = direct[1]
    assert scored.email == "jenny.rosen@example.com" and direct == generic_outcome(event)
