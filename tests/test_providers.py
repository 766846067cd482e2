"""Provider secrets per workspace: set write-only with PUT /v1/providers/{provider}, seen only as "set, and
from where", removed with DELETE; the webhook receivers verify with the stored secret, else (workspace
default only) the environment's; audited, never logged, encrypted at rest when SECRETS_KEY is set."""
from __future__ import annotations

import logging
import time

import pytest
from cryptography.fernet import Fernet

from app import create_app
from app.errors import NotFound
from app.hooks.registry import PROVIDERS
from app.hooks.secrets import ALL_PROVIDERS, provider_secret, status
from app.logs import JsonFormatter
from app.services import get_services, in_workspace

from .dashboard_helpers import post
from .helpers import AUTH
from .hook_builders import documented_delivery, scheme, schemes, url

STRIPE = "whsec_stripe_stored_in_redis_0123"


def put_secret(client, provider: str, secret: str, headers=AUTH):
    return client.put(f"/v1/providers/{provider}", json={"secret": secret}, headers=headers)


def deliver(client, provider: str, secret: str):
    """A documented delivery of the provider, signed with ``secret``."""
    body, headers = scheme(provider).sign(documented_delivery(provider), secret, int(time.time()))
    return client.post(url(provider), data=body, headers=headers)


def everything_stored(services) -> str:
    return repr({key: services.redis.dump(key) for key in services.redis.keys("*")})


@pytest.mark.parametrize("provider", [s.provider for s in schemes()])
def test_a_stored_secret_verifies_the_providers_deliveries_without_any_environment_setting(client, provider):
    hook = scheme(provider)
    assert deliver(client, provider, hook.secret).status_code == 404  # neither stored nor in the environment
    assert put_secret(client, provider, hook.config_value).status_code == 200
    accepted = deliver(client, provider, hook.secret)
    assert accepted.status_code == 202, accepted.get_json()
    assert deliver(client, provider, hook.wrong_secret).status_code == 401


def test_the_api_says_only_whether_a_secret_is_set_and_where_it_comes_from(make_app):
    client = make_app(STRIPE_SECRET="whsec_from_the_environment").test_client()
    before = client.get("/v1/providers/stripe", headers=AUTH).get_json()
    assert (before["set"], before["source"], before["environment_setting"], before["webhook_path"]) == (
        True, "environment", "SCOREKEEPER_STRIPE_SECRET", "/hooks/stripe")
    stored = put_secret(client, "stripe", STRIPE).get_json()
    assert (stored["set"], stored["source"], stored["encrypted"]) == (True, "stored", False)
    assert stored["updated_by"].startswith("api:") and stored["updated_at"].endswith("Z")
    listed = client.get("/v1/providers", headers=AUTH).get_json()["items"]
    assert [item["provider"] for item in listed] == sorted(ALL_PROVIDERS)
    by_name = {item["provider"]: item for item in listed}
    assert by_name["stripe"]["source"] == "stored"
    assert (by_name["tally"]["set"], by_name["tally"]["source"]) == (False, None)
    everything = str(listed) + str(stored) + str(client.get("/v1/providers/stripe", headers=AUTH).get_json())
    assert STRIPE not in everything and "whsec_from_the_environment" not in everything


def test_the_stored_secret_wins_over_the_environment_and_removing_it_brings_the_environment_back(make_app):
    environment = "whsec_from_the_environment"
    client = make_app(STRIPE_SECRET=environment).test_client()
    assert deliver(client, "stripe", environment).status_code == 202
    put_secret(client, "stripe", STRIPE)
    assert deliver(client, "stripe", environment).status_code == 401
    assert deliver(client, "stripe", STRIPE).status_code == 202
    assert client.delete("/v1/providers/stripe", headers=AUTH).status_code == 204
    assert client.get("/v1/providers/stripe", headers=AUTH).get_json()["source"] == "environment"
    assert deliver(client, "stripe", environment).status_code == 202
    again = client.delete("/v1/providers/stripe", headers=AUTH)
    assert again.status_code == 404 and again.get_json()["code"] == 404


def test_removing_the_only_secret_closes_the_endpoint(client):
    put_secret(client, "tally", "tally-secret")
    assert deliver(client, "tally", "tally-secret").status_code == 202
    client.delete("/v1/providers/tally", headers=AUTH)
    assert deliver(client, "tally", "tally-secret").status_code == 404


def test_the_environment_is_the_default_of_workspace_default_only(make_app):
    app = make_app(STRIPE_SECRET="whsec_from_the_environment")
    with app.app_context():
        default = get_services()
        with in_workspace("acme"):
            acme = get_services()
        assert (default.workspace, acme.workspace) == ("default", "acme")
        stripe = PROVIDERS["stripe"]
        assert provider_secret(default, stripe) == "whsec_from_the_environment"
        with pytest.raises(NotFound):
            provider_secret(acme, stripe)
        assert (status(acme, "stripe")["source"], status(acme, "stripe")["webhook_path"]) == (None, "/w/acme/hooks/stripe")
        assert status(acme, "standard")["webhook_path"] == "/w/acme/hooks/standard/{source}"
        acme.provider_secrets.put("stripe", {"secret": STRIPE, "updated_at": 1, "updated_by": "test"})
        assert provider_secret(acme, stripe) == STRIPE
        assert provider_secret(default, stripe) == "whsec_from_the_environment"  # one workspace's is its own


def test_a_change_is_seen_by_every_process_at_once(make_app):
    one, two = make_app().test_client(), make_app().test_client()
    put_secret(one, "stripe", STRIPE)
    assert deliver(two, "stripe", STRIPE).status_code == 202
    one.delete("/v1/providers/stripe", headers=AUTH)
    assert deliver(two, "stripe", STRIPE).status_code == 404


@pytest.mark.parametrize("method, path, body, status", [
    pytest.param("PUT", "/v1/providers/nope", {"secret": "x"}, 404, id="unknown-provider"),
    pytest.param("GET", "/v1/providers/nope", None, 404, id="unknown-provider-get"),
    pytest.param("DELETE", "/v1/providers/nope", None, 404, id="unknown-provider-delete"),
    pytest.param("PUT", "/v1/providers/stripe", {"secret": ""}, 400, id="empty"),
    pytest.param("PUT", "/v1/providers/stripe", {"secret": "   "}, 400, id="only-spaces"),
    pytest.param("PUT", "/v1/providers/stripe", {"secret": "x" * 4097}, 400, id="too-long"),
    pytest.param("PUT", "/v1/providers/stripe", {"secret": 5}, 400, id="not-a-string"),
    pytest.param("PUT", "/v1/providers/stripe", {}, 400, id="missing"),
    pytest.param("PUT", "/v1/providers/stripe", {"secret": "x", "source": "env"}, 400, id="unknown-field"),
])
def test_bad_requests_are_clear_errors_and_store_nothing(client, services, method, path, body, status):
    response = client.open(path, method=method, json=body, headers=AUTH)
    assert response.status_code == status
    error = response.get_json()
    assert error["code"] == status and isinstance(error["errors"], dict) and error["message"]
    assert services.provider_secrets.all() == {}


def test_setting_and_removing_are_audited_without_the_secret(client):
    put_secret(client, "stripe", STRIPE)
    client.delete("/v1/providers/stripe", headers=AUTH)
    trail = client.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [(e["action"], e["target"]) for e in trail[:2]] == [("provider.remove", "provider:stripe"),
                                                               ("provider.set", "provider:stripe")]
    assert STRIPE not in str(trail)


def test_provider_secrets_never_reach_the_logs(make_app, caplog):
    client = make_app(STRIPE_SECRET="whsec_from_the_environment_too").test_client()
    with caplog.at_level(logging.DEBUG):
        put_secret(client, "stripe", STRIPE)
        put_secret(client, "tally", "t" * 5000)  # refused: too long
        client.get("/v1/providers", headers=AUTH)
        deliver(client, "stripe", STRIPE)  # accepted
        deliver(client, "stripe", "whsec_wrong")  # refused
        client.delete("/v1/providers/stripe", headers=AUTH)
        deliver(client, "stripe", "whsec_from_the_environment_too")
    text = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "provider secret set" in text and "provider secret removed" in text  # logged, and searched
    for secret in (STRIPE, "t" * 5000, "whsec_from_the_environment_too"):
        assert secret not in text


def test_with_secrets_key_a_stored_secret_is_encrypted_at_rest_and_keys_rotate(make_app):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    app = make_app(SECRETS_KEY=old)
    client = app.test_client()
    stored = put_secret(client, "stripe", STRIPE).get_json()
    assert stored["encrypted"] is True
    with app.app_context():
        assert STRIPE not in everything_stored(app.extensions["scorekeeper"])
    assert deliver(client, "stripe", STRIPE).status_code == 202
    rotated = make_app(SECRETS_KEY=f"{new},{old}").test_client()  # the new key encrypts, the old still decrypts
    assert deliver(rotated, "stripe", STRIPE).status_code == 202
    put_secret(rotated, "tally", "tally-secret")
    assert deliver(make_app(SECRETS_KEY=new).test_client(), "tally", "tally-secret").status_code == 202


def test_a_secret_whose_key_is_gone_is_a_clear_503_not_a_silent_404(make_app):
    put_secret(make_app(SECRETS_KEY=Fernet.generate_key().decode()).test_client(), "stripe", STRIPE)
    for secrets_key in ("", Fernet.generate_key().decode()):
        client = make_app(SECRETS_KEY=secrets_key).test_client()
        refused = deliver(client, "stripe", STRIPE)
        assert refused.status_code == 503 and "SECRETS_KEY" in refused.get_json()["message"]
        assert client.get("/v1/providers/stripe", headers=AUTH).get_json()["encrypted"] is True


def test_a_secrets_key_that_is_not_a_fernet_key_stops_the_start_without_echoing_it(base_settings):
    with pytest.raises(ValueError) as refused:
        create_app({**base_settings, "SECRETS_KEY": "not-a-fernet-key-but-secret"})
    assert "SECRETS_KEY" in str(refused.value) and "not-a-fernet-key-but-secret" not in str(refused.value)


def test_the_dashboard_page_sets_and_removes_a_secret_and_never_shows_it(dash, client, services):
    page = dash.get("/dashboard/providers").get_data(as_text=True)
    assert "not set" in page and "http://localhost/hooks/stripe" in page
    assert post(dash, "/dashboard/providers/stripe", {"secret": STRIPE}).status_code == 303
    shown = dash.get("/dashboard/providers").get_data(as_text=True)
    assert "set here" in shown and STRIPE not in shown
    assert deliver(client, "stripe", STRIPE).status_code == 202
    refused = post(dash, "/dashboard/providers/tally", {"secret": "  "})
    assert refused.status_code == 400 and "1 to 4096 characters" in refused.get_data(as_text=True)
    assert post(dash, "/dashboard/providers/nope", {"secret": "x"}).status_code == 404
    assert post(dash, "/dashboard/providers/stripe/remove").status_code == 303
    assert deliver(client, "stripe", STRIPE).status_code == 404
    trail = client.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [e["action"] for e in trail[:2]] == ["provider.remove", "provider.set"]
    assert trail[0]["actor"] == "dashboard"
