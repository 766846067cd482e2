"""Schemathesis against /openapi.json, in-process: no 5xx anywhere, and responses match their schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .helpers import AUTH

#: Generated requests per operation (each operation is one Hypothesis run).
EXAMPLES = 50
#: What the API promises: no 5xx; only documented status codes, content types, headers and bodies.
#: (Whether schema-valid data is always accepted is not checked: the documented request bodies are
#: looser than the validators — a rule's ``on`` must be a known type, for instance.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_every_operation_answers_generated_requests_within_its_schema(app, services):
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    failures = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        # Each operation starts from an empty store, so one operation's requests do not create what
        # another's find.
        services.redis.flushdb()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def check(case):
            case.call_and_validate(headers=dict(AUTH), checks=CHECKS)

        try:
            check()
        except BaseExceptionGroup as exc:  # collect every operation's failures, report them together
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
