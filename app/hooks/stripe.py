"""Stripe webhooks: ``Stripe-Signature: t=...,v1=...`` (any ``v1`` may match), hex HMAC-SHA256 of
``"{t}." + raw body`` with the endpoint secret (``whsec_...``, used as is), within five minutes.

One payment sends several events (``payment_intent.succeeded``, ``charge.succeeded``,
``invoice.paid``); all of them are keyed on the underlying PaymentIntent (``payment:{pi}``) so the
payment counts once whichever arrive. Events that name only a ``customer`` get their contact from
the email an earlier event linked to that customer (``ContactStore.alias("stripe", cus_id)``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..interaction_schema import Moment
from . import signing
from .results import Alias, ParseResult, epoch_ms, interaction, is_mapping, require, require_object

NAME = "stripe"
SIGNATURE_HEADER = "Stripe-Signature"
#: Accepted clock difference between Stripe's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 300

SUCCEEDED = frozenset(
    {"payment_intent.succeeded", "charge.succeeded", "invoice.paid", "checkout.session.completed"}
)
FAILED = frozenset({"payment_intent.payment_failed", "charge.failed", "invoice.payment_failed"})
REFUNDED = frozenset({"charge.refunded"})
#: Events that only teach us a customer's email.
CUSTOMER = frozenset({"customer.created", "customer.updated"})


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    signing.verify_timestamped_hmac(
        raw, signing.header(headers, SIGNATURE_HEADER), secret, now, TOLERANCE_SECONDS
    )


def parse(payload: Any, source: str = NAME) -> ParseResult:
    event = require_object(payload, "_body")
    kind = require(event, "type", "_body")
    event_id = require(event, "id", "_body")
    obj = require_object(
        require(require_object(require(event, "data", "_body", structured=True), "data"), "object", "data",
                structured=True), "data.object"
    )
    result = ParseResult(source)
    customer = customer_id(obj)
    email = contact_email(obj)
    if customer and email:
        result.aliases.append(Alias(NAME, customer, email))
    if kind in CUSTOMER:
        result.skip(kind, event_id, "customer record: its email is remembered, nothing scored")
        return result
    if kind in SUCCEEDED:
        if kind == "checkout.session.completed" and (
            obj.get("payment_status") != "paid" or not obj.get("payment_intent")
        ):
            result.skip(
                kind, event_id, "checkout without a paid PaymentIntent: counted by its payment events"
            )
            return result
        if kind == "invoice.paid" and not obj.get("amount_paid"):
            result.skip(kind, event_id, "invoice paid with nothing charged")
            return result
        type_, id_ = "payment.succeeded", f"payment:{payment_id(kind, obj)}"
    elif kind in FAILED:
        charge = failed_charge(kind, obj)
        type_, id_ = "payment.failed", f"payment-failed:{charge}" if charge else str(event_id)
    elif kind in REFUNDED:
        type_, id_ = "payment.refunded", str(event_id)
    else:
        result.skip(kind, event_id, "event type not scored")
        return result
    properties = {
        "amount": amount(kind, obj),
        "currency": obj.get("currency"),
        "payment_intent": reference(obj.get("payment_intent"))
        or (obj.get("id") if kind.startswith("payment_intent") else None),
        "charge": obj.get("id") if kind.startswith("charge.") else reference(obj.get("charge")),
        "invoice": obj.get("id") if kind.startswith("invoice.") else reference(obj.get("invoice")),
        "customer": customer,
        "description": obj.get("description"),
        "reason": failure_reason(obj) if kind in FAILED else None,
        "stripe_event": event_id,
        "stripe_type": kind,
        "livemode": event.get("livemode"),
    }
    occurred_ms = epoch_ms(require(event, "created", "_body"), "created")
    if email or not customer:
        result.add_parts(id_, type_, email, occurred_ms, properties)
    else:
        result.add_with_alias(interaction(id_, type_, email, Moment.of(occurred_ms), properties), NAME, customer)
    return result


def reference(value: Any) -> str | None:
    """An id field that may be expanded into an object."""
    if type(value) is str:  # as Stripe sends it unless expanded: what the lines below answer for it
        return value or None
    if is_mapping(value):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def customer_id(obj: Mapping[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return reference(obj.get("id"))
    return reference(obj.get("customer"))


def contact_email(obj: Mapping[str, Any]) -> str | None:
    """The first of ``receipt_email``, ``billing_details.email``, ``customer_email``,
    ``customer_details.email``, an expanded customer's email (or a customer object's own), then the
    charge's: an expanded ``latest_charge`` or, in API versions before 2022-11-15, ``charges.data[]``
    (a PaymentIntent whose email sits only on its charge)."""
    for candidate in email_candidates(obj):
        if isinstance(candidate, str) and "@" in candidate:
            return candidate
    return None


def email_candidates(obj: Mapping[str, Any]) -> Iterator[Any]:
    """The places an email may be, in ``contact_email``'s order, each looked at only when the ones before gave
    none (a PaymentIntent's ``receipt_email`` is usually the first and the last looked at)."""
    if obj.get("object") == "customer":
        yield obj.get("email")
    yield obj.get("receipt_email")
    yield nested(obj, "billing_details", "email")
    yield obj.get("customer_email")
    yield nested(obj, "customer_details", "email")
    yield nested(obj, "customer", "email")
    for charge in charges_of(obj):
        yield nested(charge, "billing_details", "email")
        yield charge.get("receipt_email")


def charges_of(obj: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The charge objects a PaymentIntent carries: expanded ``latest_charge``, then ``charges.data``."""
    found = [obj["latest_charge"]] if is_mapping(obj.get("latest_charge")) else []
    listed = nested(obj, "charges", "data")
    if isinstance(listed, list):
        found += [charge for charge in listed if is_mapping(charge)]
    return found


def nested(obj: Mapping[str, Any], *path: str) -> Any:
    for name in path:
        if not is_mapping(obj):
            return None
        obj = obj.get(name)
    return obj


def payment_id(kind: str, obj: Mapping[str, Any]) -> str:
    """The PaymentIntent behind a success event, else the object's own id."""
    if kind == "payment_intent.succeeded":
        return str(require(obj, "id", "data.object"))
    intent = reference(obj.get("payment_intent"))
    if intent is None and kind == "invoice.paid":
        for item in nested(obj, "payments", "data") or []:
            intent = reference(nested(item, "payment", "payment_intent"))
            if intent:
                break
    return intent or str(require(obj, "id", "data.object"))


def failed_charge(kind: str, obj: Mapping[str, Any]) -> str | None:
    """The failed charge attempt, so the intent's and the charge's failure events count once."""
    if kind == "charge.failed":
        return reference(obj.get("id"))
    if kind == "payment_intent.payment_failed":
        return reference(nested(obj, "last_payment_error", "charge")) or reference(obj.get("latest_charge"))
    return reference(obj.get("charge"))


def amount(kind: str, obj: Mapping[str, Any]) -> Any:
    """In minor units (cents), as Stripe sends it."""
    if kind == "charge.refunded":
        return obj.get("amount_refunded")
    if kind.startswith("invoice."):
        return obj.get("amount_paid") if kind == "invoice.paid" else obj.get("amount_due")
    if kind == "checkout.session.completed":
        return obj.get("amount_total")
    if kind == "payment_intent.succeeded":
        return obj.get("amount_received") or obj.get("amount")
    return obj.get("amount")


def failure_reason(obj: Mapping[str, Any]) -> Any:
    return (
        nested(obj, "last_payment_error", "code")
        or obj.get("failure_code")
        or nested(obj, "last_finalization_error", "code")
    )
