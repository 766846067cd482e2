"""Builders for signed provider webhook deliveries, and payloads shaped as each provider documents them.

Every ``sign_*`` function takes the body bytes, the secret and the signing time, and returns the
headers the provider would send, computed with the provider's own scheme (SendGrid with a real
P-256 key, Standard Webhooks with the official ``standardwebhooks`` signer).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from standardwebhooks.webhooks import Webhook

NOW = 1_750_000_000  # signing time of the pure tests, epoch seconds


def dumps(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":")).encode()


def _hmac(key: str, message: bytes) -> bytes:
    return hmac.new(key.encode(), message, hashlib.sha256).digest()


# --- signers ----------------------------------------------------------------------------------
def sendgrid_key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A fresh P-256 key pair; the public half as SendGrid shows it (base64 DER)."""
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_key, base64.b64encode(der).decode()


def sign_sendgrid(body: bytes, private_key: ec.EllipticCurvePrivateKey, timestamp: int) -> dict[str, str]:
    signature = private_key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": str(timestamp),
    }


def mailgun_body(event_data: dict[str, Any], key: str, timestamp: int, token: str = "t" * 50) -> bytes:
    """Mailgun signs ``timestamp + token`` and sends the signature inside the body."""
    signature = _hmac(key, f"{timestamp}{token}".encode()).hex()
    return dumps(
        {
            "signature": {"timestamp": str(timestamp), "token": token, "signature": signature},
            "event-data": event_data,
        }
    )


def postmark_headers(credentials: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(credentials.encode()).decode()}


def sign_calendly(body: bytes, key: str, timestamp: int) -> dict[str, str]:
    return {
        "Calendly-Webhook-Signature": f"t={timestamp},v1={_hmac(key, f'{timestamp}.'.encode() + body).hex()}"
    }


def sign_stripe(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    signature = _hmac(secret, f"{timestamp}.".encode() + body).hex()
    return {"Stripe-Signature": f"t={timestamp},v1={signature},v0=6ffbb59b2300aae63f272406069a9788598b792a"}


def sign_calcom(body: bytes, secret: str, timestamp: int = 0) -> dict[str, str]:
    return {"X-Cal-Signature-256": _hmac(secret, body).hex()}


def sign_typeform(body: bytes, secret: str, timestamp: int = 0) -> dict[str, str]:
    return {"Typeform-Signature": "sha256=" + base64.b64encode(_hmac(secret, body)).decode()}


def sign_tally(body: bytes, secret: str, timestamp: int = 0) -> dict[str, str]:
    return {"Tally-Signature": base64.b64encode(_hmac(secret, body)).decode()}


def sign_standard(body: bytes, secret: str, timestamp: int, msg_id: str = "msg_2xJq") -> dict[str, str]:
    moment = datetime.fromtimestamp(timestamp, tz=timezone.utc)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": Webhook(secret).sign(msg_id, moment, body.decode()),
    }


# --- one table: how to sign, and how to break, each provider's delivery --------------------------
@dataclass
class Scheme:
    """A provider's signing scheme, with a valid secret and the ways a delivery can be wrong."""

    provider: str
    setting: str
    secret: str
    wrong_secret: str
    #: (payload, secret, timestamp) -> (body, headers)
    sign: Callable[[Any, Any, int], tuple[bytes, dict[str, str]]]
    #: the secret as configured (SendGrid: the public key), when it differs from what signs
    configured: str = ""
    #: whether the scheme carries a timestamp (stale and future deliveries must fail)
    timestamped: bool = True
    #: headers whose absence must be refused
    required_headers: list[str] = field(default_factory=list)

    @property
    def config_value(self) -> str:
        return self.configured or self.secret


def _header_signer(signer: Callable[[bytes, Any, int], dict[str, str]]):
    def sign(payload: Any, secret: Any, timestamp: int) -> tuple[bytes, dict[str, str]]:
        body = dumps(payload)
        return body, signer(body, secret, timestamp)

    return sign


def _mailgun_sign(payload: Any, secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    token = hashlib.sha256(dumps(payload) + str(timestamp).encode()).hexdigest()[:50]
    return mailgun_body(payload["event-data"], secret, timestamp, token), {}


def _postmark_sign(payload: Any, secret: str, timestamp: int) -> tuple[bytes, dict[str, str]]:
    return dumps(payload), postmark_headers(secret)


def schemes() -> list[Scheme]:
    """Fresh schemes (SendGrid gets a new key pair each time)."""
    sg_private, sg_public = sendgrid_key_pair()
    other_private, _ = sendgrid_key_pair()
    return [
        Scheme(
            "sendgrid",
            "SENDGRID_PUBLIC_KEY",
            sg_private,
            other_private,
            _header_signer(sign_sendgrid),
            configured=sg_public,
            required_headers=[
                "X-Twilio-Email-Event-Webhook-Signature",
                "X-Twilio-Email-Event-Webhook-Timestamp",
            ],
        ),
        Scheme("mailgun", "MAILGUN_SIGNING_KEY", "key-mailgun-0123", "key-wrong", _mailgun_sign),
        Scheme(
            "postmark",
            "POSTMARK_BASIC_AUTH",
            "hooks:s3cret-pass",
            "hooks:wrong",
            _postmark_sign,
            timestamped=False,
            required_headers=["Authorization"],
        ),
        Scheme(
            "calendly",
            "CALENDLY_SIGNING_KEY",
            "calendly-signing-key",
            "wrong",
            _header_signer(sign_calendly),
            required_headers=["Calendly-Webhook-Signature"],
        ),
        Scheme(
            "calcom",
            "CALCOM_SECRET",
            "calcom-secret",
            "wrong",
            _header_signer(sign_calcom),
            timestamped=False,
            required_headers=["X-Cal-Signature-256"],
        ),
        Scheme(
            "typeform",
            "TYPEFORM_SECRET",
            "typeform-secret",
            "wrong",
            _header_signer(sign_typeform),
            timestamped=False,
            required_headers=["Typeform-Signature"],
        ),
        Scheme(
            "tally",
            "TALLY_SECRET",
            "tally-secret",
            "wrong",
            _header_signer(sign_tally),
            timestamped=False,
            required_headers=["Tally-Signature"],
        ),
        Scheme(
            "stripe",
            "STRIPE_SECRET",
            "whsec_stripe_test_secret",
            "whsec_wrong",
            _header_signer(sign_stripe),
            required_headers=["Stripe-Signature"],
        ),
        Scheme(
            "standard",
            "STANDARD_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "whsec_" + base64.b64encode(b"another-secret-of-some-length").decode(),
            _header_signer(sign_standard),
            required_headers=["webhook-id", "webhook-timestamp", "webhook-signature"],
        ),
    ]


def scheme(provider: str) -> Scheme:
    return next(s for s in schemes() if s.provider == provider)


def url(provider: str) -> str:
    return "/hooks/standard/crm" if provider == "standard" else f"/hooks/{provider}"


# --- payloads as the providers document them -------------------------------------------------------
def sendgrid_events(email: str = "example@test.com", **changes: Any) -> list[dict[str, Any]]:
    """From SendGrid's "Event Webhook reference": an open and a click (Apple MPP open flagged)."""
    return [
        {
            "email": email,
            "timestamp": 1513299569,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "open",
            "sg_machine_open": False,
            "category": "cat facts",
            "sg_event_id": "FOTFFO0ecsBE-zxFXfs6WA==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "useragent": "Mozilla/4.0 (compatible; MSIE 6.1; Windows XP)",
            "ip": "255.255.255.255",
            **changes,
        },
        {
            "email": email,
            "timestamp": 1513299569,
            "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
            "event": "click",
            "category": "cat facts",
            "sg_event_id": "kCAi1KttyQdEKHhdC-nuEA==",
            "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
            "useragent": "Mozilla/5.0",
            "ip": "255.255.255.255",
            "url": "http://www.sendgrid.com/",
            "url_offset": {"index": 0, "type": "html"},
        },
    ]


def mailgun_event(email: str = "alice@example.com", **changes: Any) -> dict[str, Any]:
    """Mailgun's documented ``opened`` event-data."""
    return {
        "event-data": {
            "id": "Ase7i2zsRYeDXztHGENqRA",
            "timestamp": 1521243339.873676,
            "log-level": "info",
            "event": "opened",
            "message": {"headers": {"message-id": "20130503182626.18666.16540@sandbox.mailgun.org"}},
            "recipient": email,
            "recipient-domain": "example.com",
            "tags": ["my_tag_1", "my_tag_2"],
            "campaigns": [],
            "ip": "50.56.129.169",
            "client-info": {
                "client-type": "browser",
                "client-os": "Linux",
                "device-type": "desktop",
                "client-name": "Chrome",
                "user-agent": "Mozilla/5.0",
            },
            "geolocation": {"country": "US", "region": "CA", "city": "San Francisco"},
            "user-variables": {"my_var_1": "Mailgun Variable #1"},
            **changes,
        }
    }


def postmark_open(email: str = "john@example.com", **changes: Any) -> dict[str, Any]:
    """Postmark's documented Open webhook."""
    return {
        "RecordType": "Open",
        "MessageStream": "outbound",
        "Metadata": {"example": "value"},
        "FirstOpen": True,
        "Recipient": email,
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "ReceivedAt": "2019-11-05T16:33:54.9070259Z",
        "Platform": "WebMail",
        "ReadSeconds": 5,
        "Tag": "welcome-email",
        "UserAgent": "Mozilla/5.0",
        "OS": {"Name": "OS X 10.7 Lion", "Family": "OS X 10", "Company": "Apple Computer, Inc."},
        "Client": {"Name": "Chrome 35.0.1916.153", "Family": "Chrome", "Company": "Google"},
        "Geo": {"IP": "188.2.95.4", "City": "Novi Sad", "Country": "Serbia"},
        **changes,
    }


def postmark_bounce(email: str = "john@example.com") -> dict[str, Any]:
    """Postmark's documented Bounce webhook."""
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": "HardBounce",
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "Invitation",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox not found).",
        "Details": "Test bounce details",
        "Email": email,
        "From": "sender@example.com",
        "BouncedAt": "2019-11-05T16:33:54.9070259Z",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Test subject",
        "Content": "<Full dump of bounce>",
    }


def calendly_invitee_created(email: str = "test@example.com", **changes: Any) -> dict[str, Any]:
    """Calendly's documented ``invitee.created`` webhook (API v2)."""
    return {
        "created_at": "2020-11-23T17:51:19.000000Z",
        "created_by": "https://api.calendly.com/users/AAAAAAAAAAAAAAAA",
        "event": "invitee.created",
        "payload": {
            "cancel_url": "https://calendly.com/cancellations/AAAAAAAAAAAAAAAA",
            "created_at": "2020-11-23T17:51:18.327602Z",
            "email": email,
            "first_name": "John",
            "last_name": "Doe",
            "name": "John Doe",
            "new_invitee": None,
            "old_invitee": None,
            "questions_and_answers": [],
            "reschedule_url": "https://calendly.com/reschedulings/AAAAAAAAAAAAAAAA",
            "rescheduled": False,
            "status": "active",
            "text_reminder_number": None,
            "timezone": "America/New_York",
            "tracking": {
                "utm_campaign": None,
                "utm_source": None,
                "utm_medium": None,
                "utm_content": None,
                "utm_term": None,
                "salesforce_uuid": None,
            },
            "updated_at": "2020-11-23T17:51:18.341657Z",
            "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2/invitees/AAAAAAAAAAAAAAAA",
            "scheduled_event": {
                "uri": "https://api.calendly.com/scheduled_events/GBGBDCAADAEDCRZ2",
                "name": "15 Minute Meeting",
                "status": "active",
                "start_time": "2019-08-24T14:15:22.123456Z",
                "end_time": "2019-08-24T14:15:22.123456Z",
                "event_type": "https://api.calendly.com/event_types/GBGBDCAADAEDCRZ2",
            },
            "canceled": False,
            "no_show": None,
            "reconfirmation": None,
            "payment": None,
            **changes,
        },
    }


def calcom_booking(email: str = "attendee@example.com", trigger: str = "BOOKING_CREATED") -> dict[str, Any]:
    """Cal.com's documented booking webhook."""
    return {
        "triggerEvent": trigger,
        "createdAt": "2023-05-24T09:30:00.538Z",
        "payload": {
            "type": "60min",
            "title": "60 min between Pro Example and John Doe",
            "description": "",
            "additionalNotes": "",
            "customInputs": {},
            "startTime": "2023-05-25T09:30:00Z",
            "endTime": "2023-05-25T10:30:00Z",
            "organizer": {
                "id": 5,
                "name": "Pro Example",
                "email": "pro@example.com",
                "timeZone": "Europe/London",
                "language": {"locale": "en"},
            },
            "responses": {
                "name": {"label": "your_name", "value": "John Doe"},
                "email": {"label": "email_address", "value": email},
            },
            "attendees": [
                {"email": email, "name": "John Doe", "timeZone": "Asia/Kolkata", "language": {"locale": "en"}}
            ],
            "location": "Calcom Video",
            "destinationCalendar": None,
            "hideCalendarNotes": False,
            "requiresConfirmation": None,
            "eventTypeId": 7,
            "seatsShowAttendees": True,
            "uid": "bFJeNb2uX8ANpT3JL5EfXw",
            "bookingId": 91,
            "status": "ACCEPTED",
            "metadata": {"videoCallUrl": "https://app.cal.com/video/bFJeNb2uX8ANpT3JL5EfXw"},
        },
    }


def typeform_response(email: str = "laura@example.com", **changes: Any) -> dict[str, Any]:
    """Typeform's documented ``form_response`` webhook (trimmed to a few answers)."""
    return {
        "event_id": "LtWXD3crgy",
        "event_type": "form_response",
        "form_response": {
            "form_id": "lT4Z3j",
            "token": "a3a12ec67a1365927098a606107fac15",
            "submitted_at": "2018-01-18T18:17:02Z",
            "landed_at": "2018-01-18T18:07:02Z",
            "calculated": {"score": 9},
            "variables": [{"key": "score", "type": "number", "number": 4}],
            "hidden": {"user_id": "abc123456"},
            "definition": {
                "id": "lT4Z3j",
                "title": "Webhooks example fields",
                "fields": [
                    {"id": "SMEUb7VJz92Q", "ref": "email_ref", "type": "email", "title": "What's your email?"}
                ],
            },
            "answers": [
                {"type": "text", "text": "Laura", "field": {"id": "DlXFaesGBpoF", "type": "short_text"}},
                {
                    "type": "email",
                    "email": email,
                    "field": {"id": "SMEUb7VJz92Q", "type": "email", "ref": "email_ref"},
                },
            ],
            **changes,
        },
    }


def tally_response(email: str = "alice@example.com", **changes: Any) -> dict[str, Any]:
    """Tally's documented ``FORM_RESPONSE`` webhook."""
    return {
        "eventId": "a4cb511e-d513-4fa5-baee-b815d718dfd1",
        "eventType": "FORM_RESPONSE",
        "createdAt": "2023-06-28T15:00:21.889Z",
        "data": {
            "responseId": "2wgx4n",
            "submissionId": "2wgx4n",
            "respondentId": "dwQKYm",
            "formId": "VwbNEw",
            "formName": "Webhook payload",
            "createdAt": "2023-06-28T15:00:21.000Z",
            "fields": [
                {"key": "question_mVGEg3", "label": "Name", "type": "INPUT_TEXT", "value": "Alice"},
                {"key": "question_nPpV8x", "label": "Email", "type": "INPUT_EMAIL", "value": email},
            ],
            **changes,
        },
    }


def stripe_event(
    type_: str, obj: dict[str, Any], event_id: str = "evt_1NG8Du2eZvKYlo2CUI79vXWy"
) -> dict[str, Any]:
    """Stripe's event envelope around ``data.object``."""
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2022-11-15",
        "created": 1686089970,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
    }


def stripe_payment_intent(
    email: str | None = "jenny.rosen@example.com",
    customer: str | None = None,
    pi: str = "pi_3MtwBwLkdIwHu7ix28a3tqPa",
) -> dict[str, Any]:
    """Stripe's documented PaymentIntent object, succeeded."""
    return {
        "id": pi,
        "object": "payment_intent",
        "amount": 2000,
        "amount_capturable": 0,
        "amount_received": 2000,
        "currency": "usd",
        "customer": customer,
        "description": None,
        "latest_charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "livemode": False,
        "metadata": {},
        "payment_method": "pm_1MtwBwLkdIwHu7ixl4OJ8oB1",
        "receipt_email": email,
        "status": "succeeded",
        "created": 1680800504,
    }


def stripe_invoice(pi: str = "pi_3MtwBwLkdIwHu7ix28a3tqPa", newer_api: bool = False) -> dict[str, Any]:
    """A paid Stripe Invoice; ``newer_api`` names its PaymentIntent under ``payments`` (API 2025+)."""
    invoice: dict[str, Any] = {"id": "in_1", "object": "invoice", "amount_paid": 2000, "currency": "usd",
                               "customer_email": "jenny.rosen@example.com"}
    if newer_api:
        invoice["payments"] = {"data": [{"payment": {"type": "payment_intent", "payment_intent": pi}}]}
    else:
        invoice["payment_intent"] = pi
    return invoice


def stripe_charge(
    email: str | None = "jenny.rosen@example.com",
    customer: str | None = None,
    pi: str = "pi_3MtwBwLkdIwHu7ix28a3tqPa",
    status: str = "succeeded",
) -> dict[str, Any]:
    """Stripe's documented Charge object."""
    return {
        "id": "ch_3MtwBwLkdIwHu7ix28a3tqPa",
        "object": "charge",
        "amount": 2000,
        "amount_captured": 2000,
        "amount_refunded": 0,
        "billing_details": {"address": None, "email": email, "name": "Jenny Rosen", "phone": None},
        "currency": "usd",
        "customer": customer,
        "paid": status == "succeeded",
        "payment_intent": pi,
        "receipt_email": None,
        "refunded": False,
        "status": status,
        "failure_code": "card_declined" if status == "failed" else None,
        "created": 1680800504,
    }


def standard_interaction(
    email: str = "ann@example.com", id_: str = "evt-1", **changes: Any
) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "custom.webinar_attended",
        "contact": {"email": email},
        "occurred_at": "2024-03-01T10:00:00Z",
        "properties": {"webinar": "pricing"},
        **changes,
    }


def documented_delivery(provider: str, email: str = "ann@example.com") -> Any:
    """For each provider, a documented payload that scores one interaction of the contact ``email``."""
    return {
        "sendgrid": sendgrid_events(email)[:1],
        "mailgun": mailgun_event(email),
        "postmark": postmark_open(email),
        "calendly": calendly_invitee_created(email),
        "calcom": calcom_booking(email),
        "typeform": typeform_response(email),
        "tally": tally_response(email),
        "stripe": stripe_event("payment_intent.succeeded", stripe_payment_intent(email)),
        "standard": standard_interaction(email),
    }[provider]


#: The core type each documented delivery scores.
DOCUMENTED_TYPE = {
    "sendgrid": "email.opened",
    "mailgun": "email.opened",
    "postmark": "email.opened",
    "calendly": "appointment.booked",
    "calcom": "appointment.booked",
    "typeform": "form.submitted",
    "tally": "form.submitted",
    "stripe": "payment.succeeded",
    "standard": "custom.webinar_attended",
}


def unknown_delivery(provider: str) -> Any:
    """A valid delivery of an event type Scorekeeper does not score."""
    return {
        "sendgrid": [
            {
                "email": "a@example.com",
                "timestamp": 1513299569,
                "event": "processed",
                "sg_event_id": "rWVYmVk90MjZJ9iohOBa3w==",
                "sg_message_id": "14c5d75ce93.dfd.64b469",
            }
        ],
        "mailgun": mailgun_event(event="accepted"),
        "postmark": {"RecordType": "Inbound", "MessageID": "abc"},
        "calendly": {
            "event": "routing_form_submission.created",
            "created_at": "2020-11-23T17:51:19.000000Z",
            "payload": {"uri": "https://api.calendly.com/routing_form_submissions/AAAA"},
        },
        "calcom": {
            "triggerEvent": "MEETING_ENDED",
            "createdAt": "2023-05-24T09:30:00.538Z",
            "payload": {"uid": "bFJeNb2uX8ANpT3JL5EfXw"},
        },
        "typeform": {"event_id": "01HXYZ", "event_type": "form_partial_response", "form_response": {}},
        "tally": {
            "eventId": "b1",
            "eventType": "FORM_PARTIAL_RESPONSE",
            "createdAt": "2023-06-28T15:00:21.889Z",
            "data": {},
        },
        "stripe": stripe_event("customer.subscription.updated", {"id": "sub_1", "object": "subscription"}),
    }[provider]
