"""The API keys page (admin): a key made with a name and scopes is shown once with a copy button and a
warning, listed afterwards without its secret and with when it was last used, and revoked (after a
confirmation) so that every process refuses it at once."""
from __future__ import annotations

import re

import pytest

from .clock import ManualClock
from .dashboard_helpers import post, sign_in, text
from .helpers import AUTH

KEY = re.compile(r"skk_[A-Za-z0-9]+_[0-9a-f]{64}")


def made_key(page: str) -> str:
    found = KEY.findall(page)
    assert len(found) == 1, "the new key is on the page exactly once"
    return found[0]


def test_a_key_made_on_the_page_is_shown_once_works_with_its_scopes_and_shows_its_last_use(make_app):
    clock = ManualClock(1_800_000_000_000)
    app = make_app(CLOCK=clock)
    dash, api = app.test_client(), app.test_client()
    sign_in(dash)
    shown = post(dash, "/dashboard/keys", {"name": "zapier", "scopes": ["read", "ingest"]})
    assert shown.status_code == 200
    page = text(shown)
    key = made_key(page)
    assert "it is not shown again" in page and 'data-copy="new-key"' in page
    bearer = {"Authorization": f"Bearer {key}"}
    assert api.get("/v1/profiles", headers=bearer).status_code == 200
    assert api.post("/v1/keys", json={"name": "x", "scopes": ["read"]}, headers=bearer).status_code == 403
    listed = text(dash.get("/dashboard/keys"))
    assert KEY.search(listed) is None and "zapier" in listed and "ingest, read" in listed
    assert "2027-01-15 08:00" in listed  # last used, from GET /v1/profiles above
    items = api.get("/v1/keys", headers=AUTH).get_json()["items"]
    assert [(k["name"], k["scopes"], k["last_used_at"], k["created_by"]) for k in items] == [
        ("zapier", ["ingest", "read"], "2027-01-15T08:00:00.000Z", "dashboard")]


@pytest.mark.parametrize("form, field, message", [
    pytest.param({"name": "zapier"}, "scopes", "choose at least one scope", id="no-scope"),
    pytest.param({"name": "  ", "scopes": ["read"]}, "name", "1 to 100 characters", id="blank-name"),
    pytest.param({"name": "x" * 101, "scopes": ["read"]}, "name", "1 to 100 characters", id="long-name"),
    pytest.param({"name": "zapier", "scopes": ["root"]}, "scopes", "unknown: root", id="unknown-scope"),
])
def test_a_bad_key_form_says_what_to_fix_keeps_what_was_typed_and_makes_nothing(dash, client, form, field, message):
    refused = post(dash, "/dashboard/keys", form)
    assert refused.status_code == 400
    page = text(refused)
    assert message in page and f'id="{field}-error"' in page and KEY.search(page) is None
    if form["name"].strip() and len(form["name"]) <= 100:
        assert f'value="{form["name"]}"' in page
    assert client.get("/v1/keys", headers=AUTH).get_json()["items"] == []


def test_a_key_revoked_on_the_page_is_refused_at_once_by_another_process(make_app):
    one, two = make_app(), make_app()  # two apps on one Redis: what two processes see
    dash, other = one.test_client(), two.test_client()
    sign_in(dash)
    key = made_key(text(post(dash, "/dashboard/keys", {"name": "ci", "scopes": ["write"]})))
    bearer = {"Authorization": f"Bearer {key}"}
    assert other.get("/v1/profiles", headers=bearer).status_code == 200
    key_id = key.split("_")[1]
    page = text(dash.get("/dashboard/keys"))
    assert "Revoke the key ci?" in page  # the form asks first (data-confirm)
    assert post(dash, f"/dashboard/keys/{key_id}/revoke").status_code == 303
    refused = other.get("/v1/profiles", headers=bearer)
    assert refused.status_code == 401
    assert "No stored keys yet." in text(dash.get("/dashboard/keys"))
    assert post(dash, f"/dashboard/keys/{key_id}/revoke").status_code == 404
    trail = other.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [(e["action"], e["actor"]) for e in trail[:2]] == [("key.revoke", "dashboard"), ("key.create", "dashboard")]


def test_the_same_key_form_sent_twice_makes_one_key(dash, client):
    page = text(dash.get("/dashboard/keys"))
    once = re.search(r'name="once" value="([^"]+)"', page).group(1)
    refused = post(dash, "/dashboard/keys", {"name": "zapier", "once": once})  # no scope: nothing made
    assert refused.status_code == 400
    made = post(dash, "/dashboard/keys", {"name": "zapier", "scopes": ["read"], "once": once})
    assert made.status_code == 200 and KEY.search(text(made))  # the corrected form goes through
    again = post(dash, "/dashboard/keys", {"name": "zapier", "scopes": ["read"], "once": once})  # a reload
    assert again.status_code == 409 and "This form was sent already" in text(again) and not KEY.search(text(again))
    assert len(client.get("/v1/keys", headers=AUTH).get_json()["items"]) == 1
