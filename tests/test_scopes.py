"""Scoped API keys: made once and stored hashed, listed without secrets, revoked everywhere at once,
and every /v1 route refusing a key without the scope the route declares in app/api/access.py."""
from __future__ import annotations

import re

import pytest

from app.api.access import ROUTE_SCOPES
from app.auth import SCOPES, hash_key, scopes_allow

from .clock import ManualClock
from .helpers import API_KEY, AUTH, put_profile
from .test_security import placeholder

#: Blueprints of administration: keys, provider secrets, the audit trail, workspaces and the live processes.
ADMIN_ROUTES = ("keys.", "audit.", "providers.", "workspaces.", "processes.")
#: Routes of instance admins only (the environment's keys): no stored key opens them, admin or not.
INSTANCE_ROUTES = ("workspaces.", "processes.")
#: What each scope may do, written out (not derived from the table) so a wrong table fails here.
ALLOWED = {
    "ingest": lambda method, endpoint: endpoint == "interactions.post_interactions",
    "read": lambda method, endpoint: (method == "GET" and not endpoint.startswith(ADMIN_ROUTES))
    or endpoint == "contacts.search_contacts",
    "write": lambda method, endpoint: not endpoint.startswith(ADMIN_ROUTES),
    "admin": lambda method, endpoint: not endpoint.startswith(INSTANCE_ROUTES),
}


def make_key(client, *scopes: str, name: str = "script") -> dict:
    response = client.post("/v1/keys", json={"name": name, "scopes": list(scopes)}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bearer(key: dict) -> dict:
    return {"Authorization": f"Bearer {key['key']}"}


def v1_endpoints(app) -> dict[str, str]:
    """Endpoint -> method of every /v1 route."""
    return {rule.endpoint: method for rule in app.url_map.iter_rules() if rule.rule.startswith("/v1")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_v1_route_declares_its_scope_and_the_table_names_no_missing_route(app):
    endpoints = v1_endpoints(app)
    assert len(endpoints) > 30
    assert sorted(set(endpoints) - set(ROUTE_SCOPES)) == [], "declare the scope in app/api/access.py"
    assert sorted(set(ROUTE_SCOPES) - set(endpoints)) == [], "the table names a route that does not exist"
    assert set(ROUTE_SCOPES.values()) <= set(SCOPES)


@pytest.mark.parametrize("scope", SCOPES)
def test_every_route_refuses_a_key_without_its_scope_and_admits_one_with_it(app, client, scope):
    key = make_key(client, scope)
    checked = 0
    for method, path, endpoint in v1_routes(app):
        response = client.open(path, method=method, headers=bearer(key), json={})
        allowed = ALLOWED[scope](method, endpoint)
        if allowed:
            assert response.status_code not in (401, 403), (scope, method, path, response.get_json())
        else:
            assert response.status_code == 403, (scope, method, path, response.status_code)
            body = response.get_json()
            assert body["code"] == 403 and body["status"] == "Forbidden" and scope in body["message"]
        checked += 1
    assert checked > 30


def v1_routes(app):
    """``(method, path, endpoint)`` of every /v1 route, with placeholder path arguments."""
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1"):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", placeholder, rule.rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, path, rule.endpoint


@pytest.mark.parametrize("held, needed, allowed", [
    pytest.param(("write",), "read", True, id="write-reads"),
    pytest.param(("write",), "ingest", True, id="write-ingests"),
    pytest.param(("write",), "admin", False, id="write-is-not-admin"),
    pytest.param(("read", "ingest"), "write", False, id="read-and-ingest-do-not-write"),
    pytest.param(("ingest",), "read", False, id="ingest-does-not-read"),
    pytest.param((), "read", False, id="no-scopes"),
])
def test_scope_implication(held, needed, allowed):
    assert scopes_allow(frozenset(held), needed) is allowed


def test_a_key_is_shown_once_and_stored_only_as_its_hash(client, services):
    key = make_key(client, "read", "ingest", name="zapier")
    assert set(key) >= {"id", "key", "name", "scopes", "workspace"}
    assert (key["name"], key["scopes"], key["workspace"]) == ("zapier", ["ingest", "read"], "default")
    stored = {k: services.redis.dump(k) for k in services.redis.keys("*")}
    assert key["key"] not in repr(stored)
    assert hash_key(key["key"]) in repr(services.api_keys.get(key["id"]))
    listed = client.get("/v1/keys", headers=AUTH).get_json()["items"]
    assert [item["id"] for item in listed] == [key["id"]]
    assert "key" not in listed[0] and "hash" not in listed[0] and key["key"] not in str(listed)


@pytest.mark.parametrize("body", [
    pytest.param({"name": "x", "scopes": ["superuser"]}, id="unknown-scope"),
    pytest.param({"name": "x", "scopes": []}, id="no-scope"),
    pytest.param({"name": "", "scopes": ["read"]}, id="empty-name"),
    pytest.param({"scopes": ["read"]}, id="no-name"),
    pytest.param({"name": "x", "scopes": ["read"], "owner": "me"}, id="unknown-field"),
])
def test_a_bad_key_request_is_a_400_and_makes_no_key(client, services, body):
    response = client.post("/v1/keys", json=body, headers=AUTH)
    assert response.status_code == 400 and isinstance(response.get_json()["errors"], dict)
    assert services.api_keys.all() == []


def test_a_revoked_key_is_refused_at_once_by_every_process(make_app):
    one, two = make_app(), make_app()  # two apps: two sets of services, as two processes have
    first, second = one.test_client(), two.test_client()
    key = make_key(first, "read")
    assert second.get("/v1/profiles", headers=bearer(key)).status_code == 200
    assert first.delete(f"/v1/keys/{key['id']}", headers=AUTH).status_code == 204
    refused = second.get("/v1/profiles", headers=bearer(key))
    assert refused.status_code == 401 and refused.get_json()["code"] == 401
    assert first.delete(f"/v1/keys/{key['id']}", headers=AUTH).status_code == 404
    assert first.get("/v1/keys", headers=AUTH).get_json()["items"] == []


@pytest.mark.parametrize("tamper", [
    pytest.param(lambda k: k[:-1] + ("0" if k[-1] != "0" else "1"), id="secret-changed"),
    pytest.param(lambda k: k + "0", id="longer"),
    pytest.param(lambda k: k.replace("skk_", "sk_"), id="prefix-changed"),
    pytest.param(lambda k: k.rsplit("_", 1)[0], id="id-only"),
])
def test_a_key_that_is_not_exactly_a_stored_one_is_a_401(client, tamper):
    key = make_key(client, "admin")
    response = client.get("/v1/profiles", headers={"Authorization": f"Bearer {tamper(key['key'])}"})
    assert response.status_code == 401


def test_last_used_is_written_at_most_once_a_minute_per_key_and_process(make_app):
    clock = ManualClock(1_800_000_000_000)
    app = make_app(CLOCK=clock)
    client = app.test_client()
    key = make_key(client, "read")

    def last_used():
        return client.get("/v1/keys", headers=AUTH).get_json()["items"][0]["last_used_at"]

    assert last_used() is None
    client.get("/v1/profiles", headers=bearer(key))
    first = last_used()
    assert first == "2027-01-15T08:00:00.000Z"
    clock.advance(59_000)
    client.get("/v1/profiles", headers=bearer(key))
    assert last_used() == first  # within the minute: no write
    clock.advance(1_000)
    client.get("/v1/profiles", headers=bearer(key))
    assert last_used() == "2027-01-15T08:01:00.000Z"


def test_changes_made_with_a_stored_key_name_it_and_environment_keys_keep_their_actor(client, services):
    key = make_key(client, "write", name="deploy-bot")
    put_profile(client, "engagement", [{"id": "open", "on": "email.opened", "points": 5}], [])
    response = client.post("/v1/profiles/engagement/publish", headers=bearer(key))
    assert response.status_code == 202, response.get_json()
    versions = client.get("/v1/profiles/engagement/versions", headers=AUTH).get_json()["items"]
    assert versions[0]["actor"] == f"key:deploy-bot ({key['id']})"
    assert key["key"] not in str(versions)
    made = make_key(client, "read")
    assert made["created_by"].startswith("api:") and API_KEY not in made["created_by"]


def test_a_write_key_cannot_make_keys_and_an_admin_key_can(client):
    writer = make_key(client, "write")
    assert client.post("/v1/keys", json={"name": "x", "scopes": ["admin"]}, headers=bearer(writer)).status_code == 403
    admin = make_key(client, "admin", name="ops")
    made = client.post("/v1/keys", json={"name": "y", "scopes": ["read"]}, headers=bearer(admin))
    assert made.status_code == 201 and made.get_json()["created_by"] == f"key:ops ({admin['id']})"
