"""Each provider's ``verify`` as a pure function: what it accepts and every way it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import SignatureError
from app.hooks import registry, sendgrid, signing, standard

from .hook_builders import NOW, documented_delivery, schemes

#: The providers' published vectors, each with its source named (kept in the repository: tests/data/).
VECTORS = json.loads((Path(__file__).parent / "data" / "signature-vectors.json").read_text())
SCHEMES = {s.provider: s for s in schemes()}


def module(provider: str):
    return registry.STANDARD.module if provider == "standard" else registry.lookup(provider).module


def signed(provider: str, secret=None, timestamp: int = NOW):
    s = SCHEMES[provider]
    return s.sign(documented_delivery(provider), s.secret if secret is None else secret, timestamp)


def by_provider(predicate=lambda s: True):
    return [pytest.param(p, id=p) for p, s in SCHEMES.items() if predicate(s)]


@pytest.mark.parametrize("provider", by_provider())
def test_a_correctly_signed_delivery_verifies(provider):
    body, headers = signed(provider)
    module(provider).verify(body, headers, SCHEMES[provider].config_value, NOW)


@pytest.mark.parametrize("provider", by_provider())
def test_a_delivery_signed_with_another_secret_is_refused(provider):
    body, headers = signed(provider, secret=SCHEMES[provider].wrong_secret)
    with pytest.raises(SignatureError):
        module(provider).verify(body, headers, SCHEMES[provider].config_value, NOW)


@pytest.mark.parametrize("provider", by_provider(lambda s: s.provider not in {"postmark", "mailgun"}))
def test_a_tampered_body_is_refused(provider):
    body, headers = signed(provider)
    tampered = body.replace(b"ann@example.com", b"eve@example.com")
    assert tampered != body
    with pytest.raises(SignatureError):
        module(provider).verify(tampered, headers, SCHEMES[provider].config_value, NOW)


def test_a_tampered_mailgun_token_is_refused():
    body, headers = signed("mailgun")
    payload = json.loads(body)
    payload["signature"]["token"] = "x" * 50
    with pytest.raises(SignatureError):
        module("mailgun").verify(json.dumps(payload).encode(), headers, SCHEMES["mailgun"].secret, NOW)


@pytest.mark.parametrize(
    "provider,name",
    [
        pytest.param(s.provider, h, id=f"{s.provider}-{h}")
        for s in SCHEMES.values()
        for h in s.required_headers
    ],
)
def test_a_missing_header_is_refused(provider, name):
    body, headers = signed(provider)
    del headers[name]
    with pytest.raises(SignatureError, match="Missing"):
        module(provider).verify(body, headers, SCHEMES[provider].config_value, NOW)


def test_a_mailgun_body_without_its_signature_is_refused():
    body = json.dumps(documented_delivery("mailgun")).encode()
    with pytest.raises(SignatureError):
        module("mailgun").verify(body, {}, SCHEMES["mailgun"].secret, NOW)


TOLERANCES = {"sendgrid": 300, "mailgun": 300, "calendly": 180, "stripe": 300, "standard": 300}


@pytest.mark.parametrize("provider", by_provider(lambda s: s.timestamped))
@pytest.mark.parametrize("offset", [pytest.param(-1, id="stale"), pytest.param(+1, id="future")])
def test_a_timestamp_outside_the_tolerance_is_refused(provider, offset):
    tolerance = TOLERANCES[provider]
    body, headers = signed(provider, timestamp=NOW + offset * (tolerance + 1))
    with pytest.raises(SignatureError, match="too old|future"):
        module(provider).verify(body, headers, SCHEMES[provider].config_value, NOW)


@pytest.mark.parametrize("provider", by_provider(lambda s: s.timestamped))
@pytest.mark.parametrize("offset", [pytest.param(-1, id="oldest"), pytest.param(+1, id="newest")])
def test_a_timestamp_at_the_edge_of_the_tolerance_is_accepted(provider, offset):
    body, headers = signed(provider, timestamp=NOW + offset * TOLERANCES[provider])
    module(provider).verify(body, headers, SCHEMES[provider].config_value, NOW)


def test_header_names_are_case_insensitive():
    body, headers = signed("stripe")
    module("stripe").verify(body, {k.lower(): v for k, v in headers.items()}, SCHEMES["stripe"].secret, NOW)


def test_stripe_accepts_any_matching_v1_signature():
    body, headers = signed("stripe")
    t, v1 = signing.parse_timestamped_header(headers["Stripe-Signature"])
    headers["Stripe-Signature"] = f"t={t},v1={'0' * 64},v1={v1[0]}"
    module("stripe").verify(body, headers, SCHEMES["stripe"].secret, NOW)


def test_postmark_refuses_other_authorization_schemes():
    body, _ = signed("postmark")
    with pytest.raises(SignatureError):
        module("postmark").verify(
            body, {"Authorization": "Bearer hooks:s3cret-pass"}, SCHEMES["postmark"].secret, NOW
        )


def test_typeform_needs_the_sha256_prefix():
    body, headers = signed("typeform")
    headers["Typeform-Signature"] = headers["Typeform-Signature"].removeprefix("sha256=")
    with pytest.raises(SignatureError):
        module("typeform").verify(body, headers, SCHEMES["typeform"].secret, NOW)


# --- published vectors, checked at their own time ---------------------------------------------
SG = VECTORS["sendgrid_event_webhook"]


def sendgrid_vector_headers(signature: str) -> dict[str, str]:
    return {
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": SG["timestamp"],
    }


def test_the_published_sendgrid_vector_verifies_byte_for_byte():
    sendgrid.verify(
        SG["payload"].encode(),
        sendgrid_vector_headers(SG["signature"]),
        SG["public_key"],
        float(SG["timestamp"]),
    )


@pytest.mark.parametrize(
    "payload,signature,key",
    [
        pytest.param(SG["payload"], SG["bad_signature"], SG["public_key"], id="bad-signature"),
        pytest.param(SG["payload"], SG["signature"], SG["other_public_key"], id="other-key"),
        pytest.param(
            SG["payload"].rstrip("\r\n"), SG["signature"], SG["public_key"], id="without-trailing-crlf"
        ),
    ],
)
def test_the_published_sendgrid_vector_refuses_changes(payload, signature, key):
    with pytest.raises(SignatureError):
        sendgrid.verify(payload.encode(), sendgrid_vector_headers(signature), key, float(SG["timestamp"]))


def test_the_published_sendgrid_vector_is_stale_today():
    with pytest.raises(SignatureError, match="too old"):
        sendgrid.verify(
            SG["payload"].encode(),
            sendgrid_vector_headers(SG["signature"]),
            SG["public_key"],
            float(SG["timestamp"]) + 3600,
        )


SW = VECTORS["standard_webhooks"]


def standard_vector_headers(signature: str = SW["webhook_signature"]) -> dict[str, str]:
    return {
        "webhook-id": SW["webhook_id"],
        "webhook-timestamp": SW["webhook_timestamp"],
        "webhook-signature": signature,
    }


def test_the_published_standard_webhooks_vector_verifies_byte_for_byte():
    standard.verify(
        SW["payload"].encode(), standard_vector_headers(), SW["secret"], float(SW["webhook_timestamp"])
    )


def test_the_standard_webhooks_vector_verifies_among_several_signatures():
    headers = standard_vector_headers(f"v1,{'A' * 44} v2,xyz {SW['webhook_signature']}")
    standard.verify(SW["payload"].encode(), headers, SW["secret"], float(SW["webhook_timestamp"]))


@pytest.mark.parametrize(
    "payload,headers",
    [
        pytest.param('{"test": 2432232315}', standard_vector_headers(), id="tampered-body"),
        pytest.param(SW["payload"], {**standard_vector_headers(), "webhook-id": "msg_other"}, id="other-id"),
        pytest.param(
            SW["payload"], standard_vector_headers("v2," + SW["webhook_signature"][3:]), id="other-version"
        ),
    ],
)
def test_the_standard_webhooks_vector_refuses_changes(payload, headers):
    with pytest.raises(SignatureError):
        standard.verify(payload.encode(), headers, SW["secret"], float(SW["webhook_timestamp"]))


# --- any change to the signed bytes is refused ------------------------------------------------------
@pytest.mark.parametrize("provider", by_provider(lambda s: s.provider not in {"postmark", "mailgun"}))
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_changing_any_byte_of_the_body_is_refused(provider, data):
    body, headers = signed(provider)
    index = data.draw(st.integers(0, len(body) - 1), label="index")
    replacement = data.draw(st.integers(0, 255).filter(lambda b: b != body[index]), label="byte")
    changed = body[:index] + bytes([replacement]) + body[index + 1 :]
    with pytest.raises(SignatureError):
        module(provider).verify(changed, headers, SCHEMES[provider].config_value, NOW)


# --- Standard Webhooks: Svix's own header names ---------------------------------------------------
def _as_svix(headers: dict[str, str]) -> dict[str, str]:
    return {name.replace("webhook-", "svix-"): value for name, value in headers.items()}


def test_standard_accepts_svix_header_names():
    body, headers = signed("standard")
    standard.verify(body, _as_svix(headers), SCHEMES["standard"].config_value, NOW)


def test_standard_refuses_a_tampered_body_under_svix_header_names():
    body, headers = signed("standard")
    with pytest.raises(SignatureError):
        standard.verify(body + b" ", _as_svix(headers), SCHEMES["standard"].config_value, NOW)


@pytest.mark.parametrize("signature", ["v1", "v1,a,b", "v1,!!!notbase64", "", " "])
def test_standard_refuses_malformed_signature_lists_without_crashing(signature):
    body, headers = signed("standard")
    with pytest.raises(SignatureError):
        standard.verify(body, {**headers, "webhook-signature": signature}, SCHEMES["standard"].config_value, NOW)
