"""Calendly webhook subscriptions (API v2).

``Calendly-Webhook-Signature: t=...,v1=...``: hex HMAC-SHA256 of ``"{t}." + raw body`` with the
subscription's signing key, within three minutes. A reschedule sends ``invitee.canceled`` (with
``rescheduled: true``) for the old invitee and ``invitee.created`` (with ``old_invitee``) for the new one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import signing
from .results import ParseResult, from_rfc3339, interaction, require, require_object

NAME = "calendly"
SIGNATURE_HEADER = "Calendly-Webhook-Signature"
#: Accepted clock difference between Calendly's signing time and ours, in seconds (each way).
TOLERANCE_SECONDS = 180


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    signing.verify_timestamped_hmac(
        raw, signing.header(headers, SIGNATURE_HEADER), secret, now, TOLERANCE_SECONDS
    )


def parse(payload: Any, source: str = NAME) -> ParseResult:
    body = require_object(payload, "_body")
    kind = require(body, "event", "_body")
    invitee = require_object(require(body, "payload", "_body", structured=True), "payload")
    result = ParseResult(source)
    uri = invitee.get("uri")
    if kind == "invitee.created":
        type_ = "appointment.rescheduled" if invitee.get("old_invitee") else "appointment.booked"
    elif kind == "invitee.canceled":
        type_ = "appointment.cancelled"
        if invitee.get("rescheduled"):
            result.skip(kind, uri, "cancelled by a reschedule: counted as appointment.rescheduled")
            return result
    elif kind == "invitee_no_show.created":
        type_ = "appointment.no_show"
    else:
        result.skip(kind, uri, "event type not scored")
        return result
    require(invitee, "uri", "payload")
    scheduled = invitee.get("scheduled_event") if isinstance(invitee.get("scheduled_event"), dict) else {}
    cancellation = invitee.get("cancellation") if isinstance(invitee.get("cancellation"), dict) else {}
    tracking = invitee.get("tracking") if isinstance(invitee.get("tracking"), dict) else {}
    properties = {
        "invitee": uri,
        "event": scheduled.get("uri") or invitee.get("event"),
        "event_name": scheduled.get("name"),
        "event_type": scheduled.get("event_type"),
        "start_time": scheduled.get("start_time"),
        "end_time": scheduled.get("end_time"),
        "old_invitee": invitee.get("old_invitee"),
        "canceled_by": cancellation.get("canceler_type") if cancellation else None,
        "reason": cancellation.get("reason") if cancellation else None,
        "utm_source": tracking.get("utm_source"),
        "utm_campaign": tracking.get("utm_campaign"),
    }
    occurred_at = from_rfc3339(
        body.get("created_at") or require(invitee, "updated_at", "payload"), "created_at"
    )
    result.add(interaction(f"{kind}:{uri}", type_, invitee.get("email"), occurred_at, properties))
    return result
