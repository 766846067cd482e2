"""Typeform webhooks: ``Typeform-Signature: sha256=`` + base64 HMAC-SHA256 of the raw body."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import SignatureError
from . import signing
from .results import ParseResult, from_rfc3339, interaction, require, require_object

NAME = "typeform"
SIGNATURE_HEADER = "Typeform-Signature"
PREFIX = "sha256="


def verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None:
    value = signing.header(headers, SIGNATURE_HEADER)
    if not value.startswith(PREFIX):
        raise SignatureError("The Typeform signature must start with 'sha256='.")
    signing.verify_body_hmac(raw, value[len(PREFIX) :], secret, "base64")


def parse(payload: Any, source: str = NAME) -> ParseResult:
    body = require_object(payload, "_body")
    kind = require(body, "event_type", "_body")
    event_id = require(body, "event_id", "_body")
    result = ParseResult(source)
    if kind != "form_response":
        result.skip(kind, event_id, "event type not scored")
        return result
    response = require_object(require(body, "form_response", "_body", structured=True), "form_response")
    definition = response.get("definition") if isinstance(response.get("definition"), dict) else {}
    calculated = response.get("calculated") if isinstance(response.get("calculated"), dict) else {}
    properties = {
        "form_id": require(response, "form_id", "form_response"),
        "form_title": definition.get("title"),
        "response_token": response.get("token"),
        "score": calculated.get("score"),
    }
    occurred_at = from_rfc3339(
        require(response, "submitted_at", "form_response"), "form_response.submitted_at"
    )
    result.add(
        interaction(str(event_id), "form.submitted", respondent_email(response), occurred_at, properties)
    )
    return result


def respondent_email(response: Mapping[str, Any]) -> str | None:
    """The first answer of type ``email``, else a hidden field ``email``."""
    for answer in response.get("answers") or []:
        if isinstance(answer, dict) and answer.get("type") == "email" and answer.get("email"):
            return answer["email"]
    hidden = response.get("hidden")
    if isinstance(hidden, dict) and isinstance(hidden.get("email"), str):
        return hidden["email"]
    return None
