"""``POST /hooks/...`` end to end: real signatures, real Redis, scores after the worker ran."""

from __future__ import annotations

import json
import time

import pytest

from .helpers import contact_by_email, publish_profile, score_of, settle
from .hook_builders import (
    DOCUMENTED_TYPE,
    documented_delivery,
    mailgun_body,
    mailgun_event,
    schemes,
    sign_stripe,
    sign_tally,
    stripe_charge,
    stripe_event,
    stripe_invoice,
    stripe_payment_intent,
    unknown_delivery,
    url,
)

PROVIDERS = [pytest.param(p, id=p) for p in DOCUMENTED_TYPE]
TOLERANCE = {"sendgrid": 300, "mailgun": 300, "calendly": 180, "stripe": 300, "standard": 300}


@pytest.fixture
def hook_schemes():
    return {s.provider: s for s in schemes()}


@pytest.fixture
def app(make_app, hook_schemes):
    return make_app(**{s.setting: s.config_value for s in hook_schemes.values()})


def post(client, scheme, payload, secret=None, timestamp=None, body=None, headers=None):
    signed_body, signed_headers = scheme.sign(
        payload,
        scheme.secret if secret is None else secret,
        int(time.time()) if timestamp is None else timestamp,
    )
    return client.post(
        url(scheme.provider),
        data=signed_body if body is None else body,
        headers={"Content-Type": "application/json", **signed_headers, **(headers or {})},
    )


def stored_keys(services):
    """Every key a request left behind, except the metrics counters (a refusal is counted, not stored)."""
    return [key for key in services.redis.keys("*") if key != services.keys.stats()]


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_valid_delivery_is_accepted_and_scored(client, services, hook_schemes, provider):
    publish_profile(
        client, services, "engagement", [{"id": "r", "on": DOCUMENTED_TYPE[provider], "points": 7}]
    )
    response = post(client, hook_schemes[provider], documented_delivery(provider, "Ann@Example.com"))
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "skipped": 0}
    settle(services)
    assert score_of(client, "ann@example.com", "engagement") == 7


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_redelivery_is_counted_once(client, services, hook_schemes, provider):
    publish_profile(
        client, services, "engagement", [{"id": "r", "on": DOCUMENTED_TYPE[provider], "points": 7}]
    )
    payload = documented_delivery(provider)
    first = post(client, hook_schemes[provider], payload)
    again = post(client, hook_schemes[provider], payload, timestamp=int(time.time()) - 1)  # signed anew
    assert first.get_json()["accepted"] == 1
    assert again.status_code == 202 and again.get_json() == {"accepted": 0, "duplicates": 1, "skipped": 0}
    settle(services)
    assert score_of(client, "ann@example.com", "engagement") == 7


def refusals():
    for s in schemes():
        yield pytest.param(s.provider, "wrong-secret", id=f"{s.provider}-wrong-secret")
        if s.provider != "postmark":  # Postmark signs nothing: its URL carries Basic credentials
            yield pytest.param(s.provider, "tampered", id=f"{s.provider}-tampered")
        for name in s.required_headers:
            yield pytest.param(s.provider, f"missing:{name}", id=f"{s.provider}-missing-{name}")
        if s.timestamped:
            yield pytest.param(s.provider, "stale", id=f"{s.provider}-stale")
            yield pytest.param(s.provider, "future", id=f"{s.provider}-future")


@pytest.mark.parametrize("provider,fault", list(refusals()))
def test_a_bad_signature_is_refused_and_nothing_is_stored(client, services, hook_schemes, provider, fault):
    scheme = hook_schemes[provider]
    payload = documented_delivery(provider)
    now = int(time.time())
    body, headers = scheme.sign(payload, scheme.secret, now)
    if fault == "wrong-secret":
        body, headers = scheme.sign(payload, scheme.wrong_secret, now)
    elif fault == "tampered" and provider == "mailgun":  # the signature covers timestamp and token
        signed = json.loads(body)
        signed["signature"]["timestamp"] = str(now - 1)
        body = json.dumps(signed).encode()
    elif fault == "tampered":
        body = body.replace(b"ann@example.com", b"eve@example.com")
    elif fault.startswith("missing:"):
        del headers[fault.partition(":")[2]]
    elif fault in ("stale", "future"):
        shift = TOLERANCE[provider] + 5
        body, headers = scheme.sign(payload, scheme.secret, now - shift if fault == "stale" else now + shift)
    response = client.post(url(provider), data=body, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 401, response.get_json()
    assert response.get_json()["code"] == 401
    assert stored_keys(services) == []


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.values[0] != "standard"])
def test_an_unknown_event_type_is_acknowledged(client, services, hook_schemes, provider):
    response = post(client, hook_schemes[provider], unknown_delivery(provider))
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["accepted"] == 0 and response.get_json()["skipped"] >= 1
    assert not any(":stream" in key for key in stored_keys(services))


def test_a_signed_body_that_is_not_json_is_a_400_and_stores_nothing(client, services, hook_schemes):
    body = b"{not json"
    response = client.post("/hooks/tally", data=body, headers=sign_tally(body, hook_schemes["tally"].secret))
    assert response.status_code == 400
    assert response.get_json()["message"] == "The body is not valid JSON."
    assert stored_keys(services) == []


def test_a_signed_but_malformed_event_is_a_400_and_stores_nothing(client, services, hook_schemes):
    response = post(client, hook_schemes["stripe"], {"id": "evt_1", "type": "charge.succeeded", "data": {}})
    assert response.status_code == 400
    assert stored_keys(services) == []


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/hooks/nope", id="unknown-provider"),
        pytest.param("/hooks/standard", id="standard-without-source"),
    ],
)
def test_an_unknown_provider_is_404(client, path):
    assert client.post(path, data=b"[]").status_code == 404


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_provider_without_its_secret_is_404(make_app, provider):
    client = make_app().test_client()
    response = client.post(url(provider), data=b"{}")
    assert response.status_code == 404 and response.get_json()["code"] == 404


@pytest.mark.parametrize("provider", [p for p in PROVIDERS if p.values[0] != "sendgrid"])
def test_a_body_over_one_mebibyte_is_413(client, services, provider):
    response = client.post(url(provider), data=b"x" * (1024 * 1024 + 1))
    assert response.status_code == 413 and response.get_json()["code"] == 413
    assert stored_keys(services) == []


def test_sendgrid_accepts_bodies_up_to_five_mebibytes(client):
    assert (
        client.post("/hooks/sendgrid", data=b" " * (2 * 1024 * 1024)).status_code == 401
    )  # read, then unsigned
    assert client.post("/hooks/sendgrid", data=b" " * (5 * 1024 * 1024 + 1)).status_code == 413


def test_the_body_limit_is_configurable(make_app, hook_schemes):
    client = make_app(TALLY_SECRET="tally-secret", TALLY_MAX_BODY_BYTES="100").test_client()
    assert client.post("/hooks/tally", data=b"x" * 101).status_code == 413
    assert client.post("/hooks/tally", data=b"x" * 100).status_code == 401


# --- Mailgun replay ------------------------------------------------------------------------------
def test_mailgun_refuses_a_replayed_token_even_with_other_event_data(client, services, hook_schemes):
    key, now = hook_schemes["mailgun"].secret, int(time.time())
    first = mailgun_body(mailgun_event()["event-data"], key, now, token="a" * 50)
    assert client.post("/hooks/mailgun", data=first).status_code == 202
    forged = mailgun_body(
        mailgun_event(id="forged", recipient="eve@example.com")["event-data"], key, now, token="a" * 50
    )
    response = client.post("/hooks/mailgun", data=forged)
    assert response.status_code == 401 and "replayed" in response.get_json()["message"]
    assert contact_by_email(client, "eve@example.com") is None


# --- Stripe --------------------------------------------------------------------------------------
def test_stripe_counts_one_payment_once_whichever_events_arrive(client, services, hook_schemes):
    publish_profile(client, services, "buyers", [{"id": "paid", "on": "payment.succeeded", "points": 50}])
    scheme = hook_schemes["stripe"]
    pi = "pi_3MtwBwLkdIwHu7ix28a3tqPa"
    events = [
        stripe_event("charge.succeeded", stripe_charge(), "evt_charge"),
        stripe_event("payment_intent.succeeded", stripe_payment_intent(), "evt_intent"),
        stripe_event("invoice.paid", stripe_invoice(pi), "evt_inv"),
    ]
    results = [post(client, scheme, event).get_json() for event in events]
    assert [r["accepted"] for r in results] == [1, 0, 0]
    settle(services)
    assert score_of(client, "jenny.rosen@example.com", "buyers") == 50


def test_stripe_finds_the_contact_of_a_customer_seen_before(client, services, hook_schemes):
    publish_profile(client, services, "buyers", [{"id": "refund", "on": "payment.refunded", "points": 3}])
    scheme = hook_schemes["stripe"]
    paid = stripe_event(
        "payment_intent.succeeded", stripe_payment_intent(customer="cus_NffrFeUfNV2Hib"), "evt_1"
    )
    assert post(client, scheme, paid).get_json()["accepted"] == 1
    refunded = stripe_charge(email=None, customer="cus_NffrFeUfNV2Hib")
    refunded.update(amount_refunded=2000, refunded=True)
    response = post(client, scheme, stripe_event("charge.refunded", refunded, "evt_2"))
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "skipped": 0}
    settle(services)
    assert score_of(client, "jenny.rosen@example.com", "buyers") == 3


def test_stripe_event_of_an_unknown_customer_is_acknowledged_and_skipped(client, services, hook_schemes):
    charge = stripe_charge(email=None, customer="cus_unknown")
    response = post(client, hook_schemes["stripe"], stripe_event("charge.succeeded", charge))
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 0, "duplicates": 0, "skipped": 1}
    assert services.redis.hget(services.keys.stats(), "hooks|stripe|skipped") == "1"


def test_a_stripe_signature_made_for_another_body_is_refused(client, services, hook_schemes):
    secret = hook_schemes["stripe"].secret
    body = json.dumps(stripe_event("payment_intent.succeeded", stripe_payment_intent())).encode()
    headers = sign_stripe(b"{}", secret, int(time.time()))
    assert client.post("/hooks/stripe", data=body, headers=headers).status_code == 401
    assert stored_keys(services) == []
