"""Tally webhooks: ``Tally-Signature`` is the base64 HMAC-SHA256 of the raw body with the signing secret."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from . import signing
from .results import ParseResult, from_rfc3339, interaction, require, require_object

NAME = "tally"
SIGNATURE_HEADER = "Tally-Signature"


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    signing.verify_body_hmac(raw, signing.header(headers, SIGNATURE_HEADER), secret, "base64")


def parse(payload: Any, source: str = NAME) -> ParseResult:
    body = require_object(payload, "_body")
    kind = require(body, "eventType", "_body")
    event_id = require(body, "eventId", "_body")
    result = ParseResult(source)
    if kind != "FORM_RESPONSE":
        result.skip(kind, event_id, "event type not scored")
        return result
    data = require_object(require(body, "data", "_body", structured=True), "data")
    properties = {
        "form_id": data.get("formId"),
        "form_name": data.get("formName"),
        "response_id": data.get("responseId"),
        "submission_id": data.get("submissionId"),
    }
    occurred_at = from_rfc3339(data.get("createdAt") or require(body, "createdAt", "_body"), "createdAt")
    result.add(interaction(str(event_id), "form.submitted", respondent_email(data), occurred_at, properties))
    return result


def respondent_email(data: Mapping[str, Any]) -> str | None:
    """The value of the first field of type ``INPUT_EMAIL``."""
    for field in data.get("fields") or []:
        if (
            isinstance(field, dict)
            and field.get("type") == "INPUT_EMAIL"
            and isinstance(field.get("value"), str)
        ):
            return field["value"]
    return None
