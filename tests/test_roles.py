"""Every dashboard route checks the role it declares in app/dashboard/access.py: walked for each role."""
from __future__ import annotations

import re

import pytest

from app.dashboard.access import PUBLIC_ENDPOINTS, ROUTE_ROLES
from app.people import ROLES, create_user

from .dashboard_helpers import csrf_of

PASSWORD = "correct horse battery"
#: Pages an editor needs that a viewer does not see (forms that only make or change things).
EDITOR_PAGES = {"dashboard.new_profile", "dashboard.delete_profile", "dashboard.edit_workflow",
                "dashboard.new_workflow"}
ADMIN_ROUTES = {"dashboard.audit", "dashboard.members", "dashboard.invite_member", "dashboard.change_member_role",
                "dashboard.remove_member", "dashboard.keys", "dashboard.revoke_api_key", "dashboard.providers",
                "dashboard.set_provider_secret",
                "dashboard.remove_provider_secret"}


#: Every signed-in person manages their own account (two-step sign-in), whatever their role.
OWN_ACCOUNT = {"dashboard.account", "dashboard.start_totp", "dashboard.confirm_totp", "dashboard.turn_off_totp"}


def allowed(role: str, method: str, endpoint: str) -> bool:
    """Written out from the roles table of docs/teams.md, not derived from ROUTE_ROLES."""
    if role in ("admin", "owner") or endpoint in OWN_ACCOUNT or endpoint == "dashboard.switch_workspace":
        return True
    if endpoint in ADMIN_ROUTES:
        return False
    if role == "editor":
        return True
    return method == "GET" and endpoint not in EDITOR_PAGES


def dashboard_routes(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/dashboard") or rule.endpoint in PUBLIC_ENDPOINTS | {"dashboard.sign_out"}:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"x-\1", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, rule.endpoint


def sign_in_as(client, email: str):
    client.get("/dashboard/signin")
    response = client.post("/dashboard/signin", data={"email": email, "password": PASSWORD,
                                                      "csrf_token": csrf_of(client)})
    assert response.status_code == 302, response.get_data(as_text=True)


def test_every_dashboard_route_declares_its_role(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules() if rule.rule.startswith("/dashboard")}
    assert sorted(endpoints - set(ROUTE_ROLES) - PUBLIC_ENDPOINTS) == [], "declare it in app/dashboard/access.py"
    assert sorted(set(ROUTE_ROLES) - endpoints) == [], "the table names a route that does not exist"


@pytest.mark.parametrize("role", ROLES)
def test_every_dashboard_route_refuses_a_role_below_its_own(app, services, role):
    create_user(services, f"{role}@agency.com", PASSWORD, role, "test")
    client = app.test_client()
    sign_in_as(client, f"{role}@agency.com")
    checked = 0
    for method, path, endpoint in dashboard_routes(app):
        response = client.open(path, method=method, data={"csrf_token": csrf_of(client)})
        if allowed(role, method, endpoint):
            assert response.status_code != 403, (role, method, path)
            assert response.status_code != 302 or "/signin" not in response.headers["Location"], (role, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)
            assert f"Your role ({role}) cannot do this" in response.get_data(as_text=True)
        checked += 1
    assert checked > 50
