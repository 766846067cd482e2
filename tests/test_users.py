"""Users: the first owner (CLI or first-run page), signing in with email and password beside the shared key,
invitations that work once, removing a member, resetting a password, and actors by email (throttling:
test_signin_throttle.py; the second factor: test_totp.py)."""
from __future__ import annotations

import pytest

from app.cli import main
from app.people import INVITE_TTL_SECONDS, create_first_owner, create_user

from .dashboard_helpers import csrf_of, post, sign_in
from .helpers import AUTH, publish_profile, put_profile, send, settle

PASSWORD = "correct horse battery"
OPEN = {"id": "open", "on": "email.opened", "points": 5}


def sign_in_as(client, email: str, password: str = PASSWORD):
    client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"email": email, "password": password,
                                                  "csrf_token": csrf_of(client)})


def is_signed_in(client) -> bool:
    return client.get("/dashboard/contacts").status_code == 200


def test_the_cli_makes_the_first_owner_who_signs_in_and_is_the_actor_of_changes(runner, app, client, services):
    refused = runner.invoke(main, ["users", "create", "--email", "ana@agency.com", "--role", "editor",
                                   "--password-stdin"], input=PASSWORD + "\n")
    assert refused.exit_code != 0 and "first user must be an owner" in refused.output
    made = runner.invoke(main, ["users", "create", "--email", "Ana@Agency.com", "--role", "owner",
                                "--password-stdin"], input=PASSWORD + "\n")
    assert made.exit_code == 0, made.output
    assert "created ana@agency.com (owner)" in made.output
    dash = app.test_client()
    assert sign_in_as(dash, "ana@agency.com").status_code == 302
    put_profile(client, "engagement", [OPEN])
    assert post(dash, "/dashboard/profiles/engagement/publish").status_code in (302, 303)
    settle(services)
    versions = client.get("/v1/profiles/engagement/versions", headers=AUTH).get_json()["items"]
    assert versions[0]["actor"] == "ana@agency.com"
    audit = client.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [(e["actor"], e["action"]) for e in audit[:2]] == [("ana@agency.com", "profile.publish"),
                                                              ("cli", "member.create")]


def test_a_manual_score_change_in_the_dashboard_names_the_user_in_the_ledger(app, client, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    publish_profile(client, services, "engagement", [OPEN])
    send(client, {"id": "o1", "type": "email.opened", "contact": {"email": "lee@example.com"}})
    settle(services)
    cid = client.get("/v1/contacts", query_string={"email": "lee@example.com"}, headers=AUTH).get_json()["items"][0]["id"]
    dash = app.test_client()
    sign_in_as(dash, "ana@agency.com")
    response = post(dash, f"/dashboard/contacts/{cid}/score",
                    {"profile": "engagement", "op": "set", "value": "40", "reason": "demo booked"})
    assert response.status_code == 303
    ledger = client.get(f"/v1/contacts/{cid}/scores/engagement/history", headers=AUTH).get_json()["items"]
    assert ledger[0]["note"] == "set to 40: demo booked (changed by ana@agency.com)"


def test_a_wrong_password_and_an_unknown_account_are_refused_alike(app, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    wrong, unknown = sign_in_as(app.test_client(), "ana@agency.com", "not the password"), \
        sign_in_as(app.test_client(), "bo@agency.com", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert "That email and password do not match." in wrong.get_data(as_text=True)
    assert "That email and password do not match." in unknown.get_data(as_text=True)


def test_the_shared_key_still_signs_in_beside_users_and_acts_as_an_owner(app, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    dash = app.test_client()
    assert sign_in(dash).status_code == 302
    assert dash.get("/dashboard/members").status_code == 200


def test_the_first_run_page_works_only_while_no_user_exists(make_app):
    app = make_app(API_KEYS="", SECRET_KEY="")  # a new deployment with users only
    client = app.test_client()
    page = client.get("/dashboard/setup")
    assert page.status_code == 200
    bad = client.post("/dashboard/setup", data={"email": "ana@agency.com", "password": "short", "confirm": "short",
                                                "csrf_token": csrf_of(client)})
    assert bad.status_code == 400 and "12 to 200 characters" in bad.get_data(as_text=True)
    made = client.post("/dashboard/setup", data={"email": "ana@agency.com", "password": PASSWORD,
                                                 "confirm": PASSWORD, "csrf_token": csrf_of(client)})
    assert made.status_code == 303 and is_signed_in(client)
    assert client.get("/dashboard/setup").status_code == 404
    assert app.test_client().get("/dashboard/setup").status_code == 404
    assert app.secret_key and app.extensions["scorekeeper"].users.session_secret() == app.secret_key


def test_on_a_deployment_with_server_keys_the_first_run_page_needs_the_key(app):
    stranger = app.test_client()
    response = stranger.get("/dashboard/setup")
    assert response.status_code == 303 and "/dashboard/signin" in response.headers["Location"]
    admin = app.test_client()
    sign_in(admin)
    assert admin.get("/dashboard/setup").status_code == 200


def test_an_invitation_link_works_once_and_expires(app, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    owner = app.test_client()
    sign_in_as(owner, "ana@agency.com")
    page = post(owner, "/dashboard/members/invite", {"email": "bo@agency.com", "role": "editor"})
    assert page.status_code == 200
    link = page.get_data(as_text=True).split('class="invite-link url">')[1].split("<")[0]
    path = link[link.index("/dashboard/invite/"):]
    token_keys = services.users.redis.keys("*:invite:*")
    assert len(token_keys) == 1 and path.rsplit("/", 1)[1] not in token_keys[0]  # only its hash is stored
    assert 0 < services.users.redis.ttl(token_keys[0]) <= INVITE_TTL_SECONDS
    newcomer = app.test_client()
    assert "bo@agency.com" in newcomer.get(path).get_data(as_text=True)
    joined = newcomer.post(path, data={"password": PASSWORD, "confirm": PASSWORD, "csrf_token": csrf_of(newcomer)})
    assert joined.status_code == 303 and is_signed_in(newcomer)
    assert newcomer.get("/dashboard/members").status_code == 403  # an editor
    assert app.test_client().get(path).status_code == 404
    assert services.users.redis.keys("*:invite:*") == []  # used up


def test_a_removed_member_is_signed_out_at_the_next_request(app, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    create_user(services, "bo@agency.com", PASSWORD, "editor", "test")
    owner, member = app.test_client(), app.test_client()
    sign_in_as(owner, "ana@agency.com")
    sign_in_as(member, "bo@agency.com")
    assert is_signed_in(member)
    assert post(owner, "/dashboard/members/bo@agency.com/remove").status_code == 303
    assert not is_signed_in(member)
    assert sign_in_as(app.test_client(), "bo@agency.com").status_code == 401


def test_a_password_reset_from_the_cli_ends_the_sessions_and_the_new_password_works(runner, app, services):
    create_first_owner(services, "ana@agency.com", PASSWORD, "test")
    session = app.test_client()
    sign_in_as(session, "ana@agency.com")
    result = runner.invoke(main, ["users", "reset-password", "--email", "ana@agency.com", "--password-stdin"],
                           input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    assert not is_signed_in(session)
    assert sign_in_as(app.test_client(), "ana@agency.com").status_code == 401
    assert sign_in_as(app.test_client(), "ana@agency.com", "a brand new passphrase").status_code == 302


@pytest.mark.parametrize("acting_role, target_role, action, expected", [
    pytest.param("admin", "owner", "remove", 403, id="admin-cannot-remove-an-owner"),
    pytest.param("admin", "editor", "make-owner", 403, id="admin-cannot-make-an-owner"),
    pytest.param("owner", "owner", "remove-self-last-owner", 409, id="last-owner-stays"),
    pytest.param("admin", "editor", "remove", 303, id="admin-removes-an-editor"),
])
def test_who_may_change_which_member(app, services, acting_role, target_role, action, expected):
    create_first_owner(services, "owner@agency.com", PASSWORD, "test")
    if acting_role != "owner":
        create_user(services, "acting@agency.com", PASSWORD, acting_role, "test")
    acting = "owner@agency.com" if acting_role == "owner" else "acting@agency.com"
    target = "owner@agency.com" if target_role == "owner" else "target@agency.com"
    if target_role != "owner":
        create_user(services, target, PASSWORD, target_role, "test")
    client = app.test_client()
    sign_in_as(client, acting)
    if action == "make-owner":
        response = post(client, f"/dashboard/members/{target}/role", {"role": "owner"})
    else:
        response = post(client, f"/dashboard/members/{target}/remove")
    assert response.status_code == expected
