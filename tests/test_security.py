"""Nobody let in: every /v1 route needs a key, keys compare in constant time, secrets stay out of
logs, bodies are bounded, templates are sandboxed."""

from __future__ import annotations

import hmac
import logging
import re
import time
import tracemalloc

import pytest

from app.auth import key_is_valid
from app.automation.templates import TemplateFailed, render
from app.logs import JsonFormatter

from .helpers import API_KEY, AUTH, publish_profile, send
from .hook_builders import documented_delivery, schemes, url


def placeholder(match: re.Match) -> str:
    """A path argument its converter accepts: a number, a contact id (``c`` + 20 hex), a company id (a
    domain), or a slug."""
    if match.group(0).startswith("<int:"):
        return "1"
    if match.group(0).startswith("<company:"):
        return "acme.com"
    if match.group(0).startswith("<contact:"):
        return "c" + "0" * 20
    return f"x-{match.group(1)}"


def v1_requests(app):
    """One request per (rule, method) under /v1, with placeholder path arguments."""
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", placeholder, rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param({}, id="no-key"),
        pytest.param({"Authorization": "Bearer wrong-key"}, id="wrong-key"),
        pytest.param({"Authorization": f"Bearer {API_KEY}x"}, id="key-with-suffix"),
        pytest.param({"Authorization": f"Bearer {API_KEY[:-1]}"}, id="key-prefix"),
        pytest.param({"Authorization": f"Basic {API_KEY}"}, id="other-scheme"),
        pytest.param({"Authorization": "Bearer "}, id="empty-key"),
    ],
)
def test_every_v1_route_refuses_a_request_without_a_valid_key(app, client, services, headers):
    requests = list(v1_requests(app))
    assert len(requests) > 20  # the walk found the API
    for method, path in requests:
        response = client.open(path, method=method, headers=headers, json={})
        assert response.status_code == 401, (method, path, response.status_code)
        assert response.get_json()["code"] == 401
    assert services.redis.keys("*") == []  # and nothing was written


def test_no_configured_keys_means_no_access(make_app):
    client = make_app(API_KEYS="").test_client()
    assert client.get("/v1/profiles", headers={"Authorization": "Bearer "}).status_code == 401
    assert client.get("/v1/profiles", headers=AUTH).status_code == 401


def test_keys_are_compared_in_constant_time_against_every_key(monkeypatch):
    compared = []
    real = hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr("app.auth.hmac.compare_digest", spy)
    assert key_is_valid("k1", ["k1", "k2", "k3"])  # no early exit on the first match
    assert len(compared) == 3
    compared.clear()
    assert not key_is_valid("nope", ["k1", "k2"])
    assert len(compared) == 2


SECRETS = {
    "API_KEYS": "sk-live-api-key-0123456789,second-api-key-abcdef",
    "STRIPE_SECRET": "whsec_stripe_very_secret_value",
    "TALLY_SECRET": "tally-secret-value-xyz",
    "MAILGUN_SIGNING_KEY": "key-mailgun-secret-987",
}


def test_secrets_and_keys_never_reach_the_logs(make_app, caplog):
    app = make_app(**SECRETS)
    client = app.test_client()
    good = {"Authorization": "Bearer sk-live-api-key-0123456789"}
    with caplog.at_level(logging.DEBUG):
        client.get("/v1/profiles", headers={"Authorization": "Bearer sk-live-api-key-0123456789-wrong"})
        client.get("/v1/profiles", headers=good)
        client.post("/v1/interactions", data=b"{bad json", headers=good)
        for provider in ("stripe", "tally", "mailgun"):
            scheme = next(s for s in schemes() if s.provider == provider)
            body, headers = scheme.sign(
                documented_delivery(provider), SECRETS[scheme.setting], int(time.time())
            )
            client.post(url(provider), data=body, headers=headers)  # accepted
            client.post(url(provider), data=body + b" ", headers=headers)  # refused
            client.post(url(provider), data=b"[" * 5000, headers=headers)  # refused
    formatter = JsonFormatter()
    text = "\n".join(formatter.format(record) for record in caplog.records)
    assert caplog.records  # something was logged, and searched
    for value in (v for setting in SECRETS.values() for v in setting.split(",")):
        assert value not in text


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 200_000 + b"]" * 200_000, id="deeply-nested-list"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, id="deeply-nested-object"),
        pytest.param(
            b'{"interactions": [' + b",".join([b'{"id":"x"}'] * 90_000) + b"]}", id="too-many-items"
        ),
    ],
)
def test_deep_or_huge_json_is_a_400_without_exhausting_memory(make_app, body):
    client = make_app(MAX_BODY_BYTES=4 * 1024 * 1024).test_client()
    tracemalloc.start()
    try:
        response = client.post(
            "/v1/interactions", data=body, headers={**AUTH, "Content-Type": "application/json"}
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert response.status_code == 400
    assert peak < 50 * len(body) + 10_000_000  # bounded by the body, not by its depth or item count


def test_a_body_over_the_limit_is_413_before_it_is_read(make_app):
    client = make_app(MAX_BODY_BYTES=1000).test_client()
    response = client.post("/v1/interactions", data=b"x" * 1001, headers=AUTH)
    assert response.status_code == 413 and response.get_json()["code"] == 413


def test_a_thousand_interactions_are_accepted_and_one_more_is_refused(client, services):
    items = [{"id": f"i{n}", "type": "email.opened", "contact": {"email": "a@b.io"}} for n in range(1001)]
    assert send(client, *items[:1000])["accepted"] == 1000
    response = client.post("/v1/interactions", json={"interactions": items}, headers=AUTH)
    assert response.status_code == 400 and "1000" in response.get_json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"rules": [{"id": "r", "on": "email.opened", "points": 1, "where": {"n": 2**70}}]}, id="where"
        ),
        pytest.param(
            {"rules": [{"id": "r", "on": "email.opened", "points": 1, "limit": {"count": 2**64}}]}, id="limit"
        ),
        pytest.param({"bands": [{"name": "hot", "min": 2**63}]}, id="band"),
    ],
)
def test_integers_beyond_64_bits_are_a_400_not_a_500(client, services, body):
    response = client.put("/v1/profiles/big", json={"name": "Big", **body}, headers=AUTH)
    assert response.status_code == 400, response.get_json()
    assert services.redis.keys("*") == []


@pytest.mark.parametrize(
    "template",
    [
        pytest.param("{{ ''.__class__ }}", id="dunder-class"),
        pytest.param("{{ ''|attr('__class__') }}", id="attr-filter"),
        pytest.param("{{ ''['__class__'] }}", id="subscript"),
        pytest.param("{{ cycler.__init__.__globals__ }}", id="globals-of-a-global"),
        pytest.param("{{ self._TemplateReference__context }}", id="template-context"),
        pytest.param("{{ '{0.__class__}'.format('') }}", id="str-format"),
        pytest.param("{{ contact.__class__.__mro__ }}", id="mro-of-context"),
        pytest.param("{{ lipsum.__globals__['os'] }}", id="lipsum-globals"),
        pytest.param("{{ range.__self__ }}", id="builtin-self"),
    ],
)
def test_templates_cannot_reach_python_internals(template):
    with pytest.raises(TemplateFailed):
        render(template, {"contact": {"email": "a@b.io"}})


def test_a_template_renders_plain_values():
    assert (
        render("{{ contact.email }} {{ score.new }}", {"contact": {"email": "a@b.io"}, "score": {"new": 3}})
        == "a@b.io 3"
    )


def test_a_webhook_secret_is_never_in_an_api_response(make_app):
    app = make_app(**{**SECRETS, "API_KEYS": f"{SECRETS['API_KEYS']},{API_KEY}"})
    client = app.test_client()
    good = {"Authorization": "Bearer sk-live-api-key-0123456789"}
    with app.app_context():
        publish_profile(
            client, app.extensions["scorekeeper"], "eng", [{"id": "r", "on": "email.opened", "points": 1}]
        )
    for path in ("/openapi.json", "/healthz", "/v1/profiles"):
        text = client.get(path, headers=good).get_data(as_text=True)
        assert not any(v in text for setting in SECRETS.values() for v in setting.split(","))
