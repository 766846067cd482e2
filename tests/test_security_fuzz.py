"""Hypothesis fuzzing of every provider's webhook: mutated real-shaped payloads, validly signed.

Whatever the payload, the answer is 2xx or 4xx — never 5xx — and a refused delivery stores
nothing (it may only be counted in the metrics hash).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .hook_builders import DOCUMENTED_TYPE, documented_delivery, schemes, unknown_delivery, url

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document (the root included)."""
    out = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += paths(child, (*prefix, index))
    return out


def mutate(document: Any, path: tuple, action: str, replacement: Any) -> Any:
    """A copy of ``document`` with the value at ``path`` replaced, deleted or retyped."""
    if not path:
        return replacement
    import copy

    doc = copy.deepcopy(document)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "stringify":
        parent[last] = str(parent[last])
    else:
        parent[last] = replacement
    return doc


@st.composite
def mutated(draw, base: Any) -> Any:
    doc = base
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(doc)))
        doc = mutate(doc, path, draw(st.sampled_from(["replace", "delete", "stringify"])), draw(json_values))
    return doc


PROVIDERS = [pytest.param(p, id=p) for p in DOCUMENTED_TYPE]


@pytest.fixture
def hook_app(make_app):
    by_scheme = {s.provider: s for s in schemes()}
    return make_app(**{s.setting: s.config_value for s in by_scheme.values()}), by_scheme


@pytest.mark.parametrize("provider", PROVIDERS)
def test_mutated_deliveries_are_answered_2xx_or_4xx_and_refusals_store_nothing(hook_app, provider):
    app, by_scheme = hook_app
    client = app.test_client()
    scheme = by_scheme[provider]
    bases = [documented_delivery(provider)] + ([unknown_delivery(provider)] if provider != "standard" else [])
    redis = app.extensions["scorekeeper"].redis
    counters = app.extensions["scorekeeper"].keys.stats()

    payloads = st.sampled_from(bases).flatmap(mutated)
    if provider == "mailgun":  # the signature sits beside the event data: mutate the event data only
        payloads = (
            st.sampled_from([b["event-data"] for b in bases])
            .flatmap(mutated)
            .map(lambda event: {"event-data": event})
        )

    @given(payload=payloads)
    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def check(payload):
        redis.flushdb()
        body, headers = scheme.sign(payload, scheme.secret, int(time.time()))
        response = client.post(
            url(provider), data=body, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code in (202, 400, 401, 413), (response.status_code, response.get_json())
        if response.status_code != 202:
            assert set(redis.keys("*")) <= {counters}, response.get_json()

    check()
