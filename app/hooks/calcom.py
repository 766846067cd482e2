"""Cal.com webhooks: ``X-Cal-Signature-256`` is the hex HMAC-SHA256 of the raw body with the secret.

``{"triggerEvent", "createdAt", "payload": {...}}``. Bookings give one interaction per attendee
(keyed on trigger, booking ``uid`` and attendee), routing-form submissions one for the email answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import signing
from .results import ParseResult, digest, from_rfc3339, interaction, require, require_object

NAME = "calcom"
SIGNATURE_HEADER = "X-Cal-Signature-256"

BOOKING_TYPES = {
    "BOOKING_CREATED": "appointment.booked",
    "BOOKING_CANCELLED": "appointment.cancelled",
    "BOOKING_RESCHEDULED": "appointment.rescheduled",
}


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    signing.verify_body_hmac(raw, signing.header(headers, SIGNATURE_HEADER), secret, "hex")


def parse(payload: Any, source: str = NAME) -> ParseResult:
    body = require_object(payload, "_body")
    trigger = require(body, "triggerEvent", "_body")
    data = require_object(body.get("payload", body), "payload")
    occurred_at = from_rfc3339(require(body, "createdAt", "_body"), "createdAt")
    result = ParseResult(source)
    if trigger in BOOKING_TYPES:
        uid = require(data, "uid", "payload")
        properties = {
            "booking_uid": uid,
            "booking_id": data.get("bookingId"),
            "title": data.get("title"),
            "event_type": data.get("type"),
            "event_type_id": data.get("eventTypeId"),
            "start_time": data.get("startTime"),
            "end_time": data.get("endTime"),
            "status": data.get("status"),
            "rescheduled_from": data.get("rescheduleUid"),
            "reason": data.get("cancellationReason"),
        }
        for email in attendee_emails(data, result, trigger, uid):
            result.add(
                interaction(
                    f"{trigger}:{uid}:{email.lower()}", BOOKING_TYPES[trigger], email, occurred_at, properties
                )
            )
    elif trigger == "BOOKING_NO_SHOW_UPDATED":
        uid = data.get("bookingUid") or require(data, "uid", "payload")
        for attendee in data.get("attendees") or []:
            email = attendee.get("email") if isinstance(attendee, dict) else None
            if not isinstance(attendee, dict) or not attendee.get("noShow"):
                result.skip(trigger, f"{uid}:{email}", "attendee not marked as a no-show")
                continue
            result.add(
                interaction(
                    f"{trigger}:{uid}:{str(email).lower()}",
                    "appointment.no_show",
                    email,
                    occurred_at,
                    {"booking_uid": uid, "booking_id": data.get("bookingId")},
                )
            )
    elif trigger == "FORM_SUBMITTED":
        form_id = data.get("formId")
        email = form_email(data.get("responses"))
        result.add(
            interaction(
                f"{trigger}:{form_id}:{digest(body)}",
                "form.submitted",
                email,
                occurred_at,
                {"form_id": form_id, "form_name": data.get("formName")},
            )
        )
    else:
        result.skip(trigger, data.get("uid"), "trigger not scored")
    return result


def attendee_emails(data: Mapping[str, Any], result: ParseResult, trigger: str, uid: str) -> list[str]:
    attendees = data.get("attendees")
    if not isinstance(attendees, list):
        attendees = []
    emails = [a["email"] for a in attendees if isinstance(a, dict) and isinstance(a.get("email"), str) and a["email"]]
    if not emails:
        result.skip(trigger, uid, "no usable contact (attendee email) in the event")
    return emails


def form_email(responses: Any) -> str | None:
    """The routing form's email answer: a field named or labelled email with an address as value."""
    if not isinstance(responses, dict):
        return None
    for name, answer in responses.items():
        value = answer.get("value") if isinstance(answer, dict) else answer
        label = str(answer.get("label", "")) if isinstance(answer, dict) else ""
        if isinstance(value, str) and "@" in value and "email" in f"{name} {label}".lower():
            return value
    return None
