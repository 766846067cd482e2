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
    "must be unique": "rule ids, group ids and band names of one profile are unique (JSON Schema's uniqueItems "
                      "compares whole items, not one field of them)",
    "declare it in the profile's 'groups'": "a rule's group is one of the ids its profile declares in 'groups' "
                                            "(a relation between two values)",
    "decays: a rule cannot have both": "a rule of a decaying group cannot expire (it depends on the group's "
                                       "declaration elsewhere in the profile)",
    "template error": "a notify step's message and subject are Jinja2 templates that must parse",
}
#: The same for query parameters: OpenAPI parameters cannot depend on one another (bodies state their
#: dependencies with ``dependentRequired``/``dependentSchemas``, so these are not accepted for a body).
QUERY_RULES_BEYOND_OPENAPI = {
    "required with op": "GET /v1/contacts: op needs profile, a numeric op needs value",
    "not used with op": "GET /v1/contacts: value goes only with a numeric op",
    "not used without op": "GET /v1/contacts: value goes only with a numeric op",
    "not both": "GET /v1/contacts: the filter document or the single-condition parameters",
    "one way to find": "GET /v1/contacts: email, external_id, q and a filter are four ways to find contacts",
}


def messages(errors: Any) -> list[str]:
    if isinstance(errors, dict):
        return [m for value in errors.values() for m in messages(value)]
    if isinstance(errors, list):
        return [m for value in errors for m in messages(value)]
    return [str(errors)]


def refused_by_rules_beyond_json_schema(response: Any, case: Any) -> bool:
    if response.status_code != 400:
        return False
    try:
        found = messages(response.json().get("errors"))
    except ValueError:
        return False
    rules = list(RULES_BEYOND_JSON_SCHEMA)
    if case.method.upper() == "GET":
        rules += list(QUERY_RULES_BEYOND_OPENAPI)
    return bool(found) and all(any(rule in text for rule in rules) for text in found)


@schemathesis.check
def positive_data_acceptance_within_json_schema(ctx: Any, response: Any, case: Any) -> bool | None:
    """``positive_data_acceptance``, with the refusals above accepted."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except Failure:
        if refused_by_rules_beyond_json_schema(response, case):
            return None
        raise
