"""The dashboard per workspace: roles per workspace, invitations per workspace, the switcher, and every page
acting in the session's workspace — walked over every dashboard route with another workspace's ids."""
from __future__ import annotations

import pytest

from app.people import create_user, invite
from app.services import DEFAULT_WORKSPACE

from .dashboard_helpers import csrf_of
from .helpers import AUTH
from .test_roles import PASSWORD, sign_in_as
from .test_workspaces import bearer, make_key, make_workspace, seed, services_of
from .workflow_helpers import FAST

pytestmark = pytest.mark.app_settings(**FAST)


def accept(client, token: str, password: str = PASSWORD):
    client.get(f"/dashboard/invite/{token}")
    return client.post(f"/dashboard/invite/{token}", data={"password": password, "confirm": password,
                                                          "csrf_token": csrf_of(client)})


@pytest.fixture
def seeded(app, client, receiver):
    make_workspace(client, "acme", "Acme Inc.")
    acme_key = make_key(client, "acme", "admin")
    with app.app_context():
        default = seed(client, AUTH, services_of(app, DEFAULT_WORKSPACE), receiver, "dee@default.io",
                       "engagement", "hot")
        acme = seed(client, bearer(acme_key), services_of(app, "acme"), receiver, "ann@acme.io", "acme-eng",
                    "acme-hot")
    return default, acme


def test_an_invitation_joins_its_workspace_and_every_page_acts_there(app, seeded):
    default, acme = seeded
    with app.app_context():
        token = invite(services_of(app, "acme"), None, "test", "ed@acme.io", "editor")
    member = app.test_client()
    assert accept(member, token).status_code == 303
    page = member.get("/dashboard/contacts").get_data(as_text=True)
    assert "ann@acme.io" in page and "dee@default.io" not in page
    assert 'name="workspace"' not in page  # one workspace: no switcher
    walked = 0
    ids = {**default, "rule_id": "click", "token": "x", "filename": "dashboard.css", "company": default["company_id"]}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/dashboard") or "GET" not in rule.methods or rule.endpoint in (
                "dashboard.static", "dashboard.sign_in", "dashboard.setup", "dashboard.accept_invite"):
            continue
        values = {name: ids[name] for name in rule.arguments}
        path = rule.build(values)[1]
        response = member.get(path)
        if rule.arguments:
            assert response.status_code in (403, 404), (path, response.status_code)
        else:
            assert response.status_code in (200, 302, 303, 403), (path, response.status_code)
            body = response.get_data(as_text=True)
            for kind in ("contact_id", "email", "run_id", "delivery_id", "list_id", "company"):
                assert ids[kind] not in body, (path, kind)
        walked += 1
    assert walked > 20
    # a switch to a workspace the member is not in is refused; the member list is acme's
    assert member.post("/dashboard/workspace", data={"workspace": "default",
                                                      "csrf_token": csrf_of(member)}).status_code == 404
    with app.app_context():
        create_user(services_of(app, DEFAULT_WORKSPACE), "own@default.io", PASSWORD, "admin", "test")
    assert "own@default.io" not in member.get("/dashboard/members").get_data(as_text=True)  # editor: 403 anyway


def test_a_member_of_two_workspaces_switches_between_them(app, seeded):
    default, acme = seeded
    with app.app_context():
        create_user(services_of(app, DEFAULT_WORKSPACE), "vi@agency.io", PASSWORD, "viewer", "test")
        token = invite(services_of(app, "acme"), None, "test", "vi@agency.io", "admin")
    joined = app.test_client()
    assert accept(joined, token, "not the password at all").status_code == 400  # an account proves itself
    assert accept(joined, token).status_code == 303
    client = app.test_client()
    sign_in_as(client, "vi@agency.io")
    page = client.get("/dashboard/contacts").get_data(as_text=True)
    assert "dee@default.io" in page and "ann@acme.io" not in page and 'name="workspace"' in page
    assert client.get("/dashboard/members").status_code == 403  # a viewer in default
    assert client.post("/dashboard/workspace", data={"workspace": "acme",
                                                     "csrf_token": csrf_of(client)}).status_code == 303
    page = client.get("/dashboard/contacts").get_data(as_text=True)
    assert "ann@acme.io" in page and "dee@default.io" not in page
    members = client.get("/dashboard/members")  # an admin in acme
    assert members.status_code == 200 and "vi@agency.io" in members.get_data(as_text=True)
    assert client.get(f"/dashboard/contacts/{default['contact_id']}").status_code == 404
    assert client.get(f"/dashboard/contacts/{acme['contact_id']}").status_code == 200


def test_the_shared_key_session_enters_every_workspace_as_an_owner(app, seeded, dash):
    default, acme = seeded
    page = dash.get("/dashboard/contacts").get_data(as_text=True)
    assert "dee@default.io" in page and 'value="acme"' in page
    dash.post("/dashboard/workspace", data={"workspace": "acme", "csrf_token": csrf_of(dash)})
    assert "ann@acme.io" in dash.get("/dashboard/contacts").get_data(as_text=True)
    assert dash.post("/dashboard/workspace", data={"workspace": "nope",
                                                   "csrf_token": csrf_of(dash)}).status_code == 404
