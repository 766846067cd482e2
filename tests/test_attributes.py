"""Contact attributes: set and removed by ``PATCH /v1/contacts/{id}`` and by the ``attributes`` an interaction
carries (at its ``occurred_at``, the latest of each attribute winning whatever the arrival order), validated at
the door, shown on the contact."""
from __future__ import annotations

import pytest

from app.scoring.interactions import format_timestamp

from .helpers import AUTH, contact_by_email, send, settle
from .dashboard_helpers import post


T0 = 1_700_000_000_000


def opened(id_, email, at, attributes=None, **extra):
    body = {"id": id_, "type": "email.opened", "contact": {"email": email}, "occurred_at": format_timestamp(at),
            **extra}
    if attributes is not None:
        body["attributes"] = attributes
    return body


def ann(client, services):
    send(client, opened("o1", "ann@example.com", T0))
    settle(services)
    return contact_by_email(client, "ann@example.com")["id"]


def patch(client, cid, attributes):
    return client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": attributes})


def test_a_patch_sets_and_null_removes_attributes_shown_at_once(client, services):
    cid = ann(client, services)
    assert contact_by_email(client, "ann@example.com")["attributes"] == {}
    resp = patch(client, cid, {"job_title": "VP", "company_size": 250, "paying": True, "score_hint": 1.5})
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["attributes"] == {"job_title": "VP", "company_size": 250, "paying": True,
                                             "score_hint": 1.5}
    resp = patch(client, cid, {"company_size": None, "country": "FR"})
    assert resp.get_json()["attributes"] == {"job_title": "VP", "paying": True, "score_hint": 1.5, "country": "FR"}
    assert client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["attributes"] == resp.get_json()["attributes"]


def test_removing_an_attribute_never_set_changes_nothing(client, services):
    cid = ann(client, services)
    assert patch(client, cid, {"plan": None}).get_json()["attributes"] == {}


def test_interaction_attributes_apply_at_occurred_at_so_a_late_older_change_does_not_win(client, services):
    send(client, opened("o1", "bo@example.com", T0 + 2000, {"plan": "pro", "country": "DE"}))
    settle(services)
    send(client, opened("o0", "bo@example.com", T0 + 1000, {"plan": "free", "seats": 3}))  # late, older
    settle(services)
    assert contact_by_email(client, "bo@example.com")["attributes"] == {"plan": "pro", "country": "DE", "seats": 3}
    send(client, opened("o2", "bo@example.com", T0 + 3000, {"country": None}))
    settle(services)
    assert contact_by_email(client, "bo@example.com")["attributes"] == {"plan": "pro", "seats": 3}


def test_a_duplicate_interaction_applies_its_attributes_once(client, services):
    send(client, opened("o1", "cy@example.com", T0 + 1000, {"plan": "free"}))
    send(client, opened("o2", "cy@example.com", T0 + 2000, {"plan": "pro"}))
    settle(services)
    result = send(client, opened("o1", "cy@example.com", T0 + 1000, {"plan": "free"}))
    settle(services)
    assert result["duplicates"] == 1
    assert contact_by_email(client, "cy@example.com")["attributes"] == {"plan": "pro"}


def test_a_patch_is_a_change_at_its_moment_later_than_older_interactions(client, services):
    cid = ann(client, services)
    patch(client, cid, {"plan": "enterprise"})
    send(client, opened("o9", "ann@example.com", T0 + 5000, {"plan": "free"}))  # long before the PATCH
    settle(services)
    assert contact_by_email(client, "ann@example.com")["attributes"] == {"plan": "enterprise"}


@pytest.mark.parametrize("attributes,field,message", [
    pytest.param({"job": {"title": "VP"}}, "job", "flat", id="nested-object"),
    pytest.param({"tags": ["a", "b"]}, "tags", "flat", id="list"),
    pytest.param({"title": "V\u0000P"}, "title", "control characters", id="control-character"),
    pytest.param({"title": "x" * 501}, "title", "at most 500", id="too-long"),
    pytest.param({"job title": "VP"}, "job title", "attribute name", id="name-with-space"),
    pytest.param({"1st": "x"}, "1st", "attribute name", id="name-starting-with-digit"),
])
def test_an_invalid_attribute_is_a_400_naming_it_and_nothing_is_stored(client, services, attributes, field,
                                                                        message):
    cid = ann(client, services)
    resp = patch(client, cid, {"ok": "yes", **attributes})
    assert resp.status_code == 400, resp.get_json()
    body = resp.get_json()
    assert message in str(body["errors"]["attributes"][field])
    assert contact_by_email(client, "ann@example.com")["attributes"] == {}
    resp = client.post("/v1/interactions", headers=AUTH,
                       json=opened("x1", "ann@example.com", T0, {"ok": "yes", **attributes}))
    assert resp.status_code == 400 and field in resp.get_json()["errors"]["attributes"]


@pytest.mark.parametrize("size", [pytest.param(2**63, id="beyond"), pytest.param(-(2**63) - 1, id="below")])
def test_an_attribute_beyond_int64_is_a_400_at_the_door(client, services, size):
    cid = ann(client, services)
    resp = patch(client, cid, {"size": size})
    assert resp.status_code == 400 and "64 bits" in resp.get_json()["message"]
    assert contact_by_email(client, "ann@example.com")["attributes"] == {}


def test_more_than_a_hundred_attributes_at_once_is_a_400(client, services):
    cid = ann(client, services)
    resp = patch(client, cid, {f"a{i}": i for i in range(101)})
    assert resp.status_code == 400 and "at most 100" in str(resp.get_json()["errors"]["attributes"])


def test_int64_bounds_are_accepted(client, services):
    cid = ann(client, services)
    resp = patch(client, cid, {"big": 2**63 - 1, "small": -(2**63)})
    assert resp.status_code == 200 and resp.get_json()["attributes"] == {"big": 2**63 - 1, "small": -(2**63)}


def test_a_patch_of_an_unknown_contact_is_a_404(client):
    assert patch(client, "c" + "0" * 20, {"plan": "pro"}).status_code == 404


def test_attribute_changes_are_not_activity(client, services):
    cid = ann(client, services)
    patch(client, cid, {"plan": "pro"})
    send(client, opened("o5", "ann@example.com", T0 - 5000, {"seats": 2}))  # carried: activity is the interaction's
    settle(services)
    assert services.scores.last_activity([cid]) == [T0]


# --- dashboard ----------------------------------------------------------------------------------

@pytest.mark.parametrize("typed,stored", [
    pytest.param("VP", "VP", id="text"), pytest.param("250", 250, id="whole-number"),
    pytest.param("2.5", 2.5, id="number"), pytest.param("true", True, id="true"),
    pytest.param('"42"', "42", id="quoted-digits-stay-text"), pytest.param("inf", "inf", id="not-finite-is-text"),
])
def test_the_contact_page_sets_an_attribute_typed_as_written(client, services, dash, typed, stored):
    cid = ann(client, services)
    resp = post(dash, f"/dashboard/contacts/{cid}/attributes", {"name": "x", "value": typed})
    assert resp.status_code == 303
    assert contact_by_email(client, "ann@example.com")["attributes"] == {"x": stored}
    page = dash.get(f"/dashboard/contacts/{cid}").get_data(as_text=True)
    assert 'data-testid="attr-x"' in page


def test_the_contact_page_removes_an_attribute_with_an_empty_value_and_refuses_a_bad_name(client, services, dash):
    cid = ann(client, services)
    patch(client, cid, {"plan": "pro"})
    assert post(dash, f"/dashboard/contacts/{cid}/attributes", {"name": "plan", "value": ""}).status_code == 303
    assert contact_by_email(client, "ann@example.com")["attributes"] == {}
    resp = post(dash, f"/dashboard/contacts/{cid}/attributes", {"name": "job title", "value": "VP"})
    assert resp.status_code == 400 and "attribute name" in resp.get_data(as_text=True)
    assert contact_by_email(client, "ann@example.com")["attributes"] == {}
