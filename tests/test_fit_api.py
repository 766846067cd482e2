"""Fit profiles over HTTP and through the worker: validated at the door, published and recomputed like an
engagement profile, scored at once by a PATCH of attributes and in time order by interactions' attributes,
explained in the ledger, filtered, previewed and triggering workflows."""
from __future__ import annotations

import pytest

from app.scoring.interactions import format_timestamp

from .helpers import AUTH, contact_by_email, publish, put_profile, send, settle
from .workflow_helpers import FAST, put_workflow, runs_of, workflow


T0 = 1_700_000_000_000
RULES = [{"id": "vp", "points": 10, "where": {"job_title": "VP"}},
         {"id": "big", "points": 15, "where": {"company_size": {"gte": 200}}},
         {"id": "student", "points": -20, "where": {"plan": "student"}}]
BANDS = [{"name": "C", "min": 0}, {"name": "B", "min": 10}, {"name": "A", "min": 25}]


def publish_fit(client, services, rules=RULES, **extra):
    put_profile(client, "fit", rules, BANDS, kind="fit", **extra)
    publish(client, services, "fit")


def opened(id_, email, at, attributes=None):
    body = {"id": id_, "type": "email.opened", "contact": {"email": email}, "occurred_at": format_timestamp(at)}
    if attributes is not None:
        body["attributes"] = attributes
    return body


def new_contact(client, services, email="ann@example.com"):
    send(client, opened(f"first-{email}", email, T0))
    settle(services)
    return contact_by_email(client, email)["id"]


def patch(client, cid, attributes):
    resp = client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": attributes})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def history(client, cid, profile="fit"):
    return client.get(f"/v1/contacts/{cid}/scores/{profile}/history", headers=AUTH).get_json()["items"]


# --- validation -----------------------------------------------------------------------------------

@pytest.mark.parametrize("extra,field,message", [
    pytest.param({"on": "email.opened"}, "on", "no event", id="event"),
    pytest.param({"limit": {"count": 1}}, "limit", "no limit", id="limit"),
    pytest.param({"limit": {"once_per": "x"}}, "limit", "no limit", id="once-per"),
    pytest.param({"expires_after": "30d"}, "expires_after", "never expires", id="expiry"),
    pytest.param({"decay": {"percent": 50, "every": "30d"}}, "decay", "never decays", id="decay"),
    pytest.param({"group": "g"}, "group", "no groups", id="group"),
    pytest.param({"where": {}}, "where", "at least one condition", id="no-condition"),
])
def test_a_fit_rule_with_what_only_engagement_rules_have_is_a_400_naming_it(client, extra, field, message):
    rule = {"id": "r", "points": 5, "where": {"plan": "pro"}, **extra}
    body = {"name": "Fit", "kind": "fit", "rules": [rule]}
    if "group" in extra:
        body["groups"] = [{"id": "g", "max_points": 10}]
    resp = client.put("/v1/profiles/fit", headers=AUTH, json=body)
    assert resp.status_code == 400, resp.get_json()
    errors = resp.get_json()["errors"]
    assert message in str(errors["rules"]["0"][field]) if "rules" in errors else message in str(errors)
    assert client.get("/v1/profiles/fit", headers=AUTH).status_code == 404  # nothing half-stored


def test_a_fit_profile_with_groups_is_a_400(client):
    resp = client.put("/v1/profiles/fit", headers=AUTH, json={
        "name": "Fit", "kind": "fit", "groups": [{"id": "g", "max_points": 10}],
        "rules": [{"id": "r", "points": 5, "where": {"plan": "pro"}}]})
    assert resp.status_code == 400 and "no groups" in str(resp.get_json()["errors"]["groups"])


def test_an_engagement_rule_still_needs_an_event_and_an_unknown_kind_is_a_400(client):
    resp = client.put("/v1/profiles/eng", headers=AUTH, json={"name": "E", "rules": [{"id": "r", "points": 5}]})
    assert resp.status_code == 400 and "on" in resp.get_json()["errors"]["rules"]["0"]
    resp = client.put("/v1/profiles/eng", headers=AUTH, json={"name": "E", "kind": "company", "rules": []})
    assert resp.status_code == 400 and "kind" in resp.get_json()["errors"]


def test_a_fit_profile_reads_back_with_its_kind(client):
    body = put_profile(client, "fit", RULES, BANDS, kind="fit", max_score=100)
    assert body["kind"] == "fit" and body["rules"][0] == {"id": "vp", "points": 10, "where": {"job_title": "VP"}}
    assert client.get("/v1/profiles/fit", headers=AUTH).get_json()["kind"] == "fit"
    assert put_profile(client, "eng", [{"id": "o", "on": "email.opened", "points": 1}])["kind"] == "engagement"


# --- scoring --------------------------------------------------------------------------------------

def test_a_patch_scores_the_fit_profile_before_the_response_with_ledger_entries(client, services):
    publish_fit(client, services)
    cid = new_contact(client, services)
    body = patch(client, cid, {"job_title": "VP", "company_size": 250})
    assert body["scores"]["fit"] == {"score": 25, "band": "A"}
    body = patch(client, cid, {"job_title": "CTO"})
    assert body["scores"]["fit"] == {"score": 15, "band": "B"}
    assert [(h["reason"], h["rule_id"], h["change"], h["score"], h["note"]) for h in history(client, cid)] == [
        ("fit", "vp", -10, 15, 'no longer job title is "VP": \u221210'),
        ("fit", "big", 15, 25, "company size at least 200: +15"),
        ("fit", "vp", 10, 10, 'job title is "VP": +10'),
    ]


def test_interactions_do_not_change_a_fit_score_but_their_attributes_do_in_time_order(client, services):
    publish_fit(client, services)
    send(client, opened("o2", "bo@example.com", T0 + 2000, {"job_title": "VP"}))
    settle(services)
    send(client, opened("o1", "bo@example.com", T0 + 1000, {"job_title": "Intern", "plan": "student"}))  # late
    settle(services)
    contact = contact_by_email(client, "bo@example.com")
    assert contact["attributes"] == {"job_title": "VP", "plan": "student"}
    assert contact["scores"]["fit"]["score"] == 0  # VP +10, student −20
    send(client, opened("o3", "bo@example.com", T0 + 3000, {"plan": None}))
    send(client, opened("o4", "bo@example.com", T0 + 4000))
    settle(services)
    assert contact_by_email(client, "bo@example.com")["scores"]["fit"]["score"] == 10


def test_publishing_a_fit_profile_scores_existing_attributes_and_a_new_version_recomputes(client, services):
    cid = new_contact(client, services)
    patch(client, cid, {"job_title": "VP", "company_size": 900})
    publish_fit(client, services)
    assert contact_by_email(client, "ann@example.com")["scores"]["fit"]["score"] == 25
    publish_fit(client, services, [{"id": "vp", "points": 40, "where": {"job_title": "VP"}}], max_score=30)
    assert contact_by_email(client, "ann@example.com")["scores"]["fit"] == {"score": 30, "band": "A"}
    assert history(client, cid)[0]["note"] == 'job title is "VP": +40; capped by max_score at 30'


def test_a_fit_score_cannot_be_set_by_hand(client, services):
    publish_fit(client, services)
    cid = new_contact(client, services)
    resp = client.post(f"/v1/contacts/{cid}/scores/fit", headers=AUTH, json={"set": 50, "reason": "x"})
    assert resp.status_code == 409 and "fit profile" in resp.get_json()["message"]


def test_contacts_filter_and_sort_by_the_fit_score(client, services):
    publish_fit(client, services)
    for email, attributes in [("a@example.com", {"job_title": "VP", "company_size": 300}),
                              ("b@example.com", {"job_title": "VP"}), ("c@example.com", {"plan": "student"})]:
        patch(client, new_contact(client, services, email), attributes)
    flt = {"conditions": [{"field": "score", "profile": "fit", "op": "gte", "value": 10}], "order_by": "fit"}
    resp = client.post("/v1/contacts/search", headers=AUTH, json={"filter": flt})
    assert [c["email"] for c in resp.get_json()["items"]] == ["a@example.com", "b@example.com"]


def test_the_preview_of_a_fit_draft_uses_the_attributes(client, services):
    publish_fit(client, services)
    patch(client, new_contact(client, services), {"job_title": "VP", "company_size": 300})
    put_profile(client, "fit", [{"id": "vp", "points": 50, "where": {"job_title": "VP"}}], BANDS, kind="fit")
    body = client.post("/v1/profiles/fit/preview", headers=AUTH, json={}).get_json()
    assert body["bands"]["A"] == 1 and body["contacts"] == 1
    assert [(m["current"], m["draft"]) for m in body["movers"]] == [(25, 50)]


@pytest.mark.app_settings(**FAST)
def test_a_workflow_triggers_on_the_fit_score(client, services):
    publish_fit(client, services)
    put_workflow(client, workflow("good-fit", [{"type": "add_tag", "tag": "good-fit"}], profile="fit",
                                  operator="gte", value=25))
    cid = new_contact(client, services)
    patch(client, cid, {"job_title": "VP"})
    assert runs_of(client, "good-fit") == []
    patch(client, cid, {"company_size": 250})
    settle(services)
    [run] = runs_of(client, "good-fit")
    assert run["status"] == "succeeded", run
    assert "good-fit" in client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["tags"]


# --- dashboard ----------------------------------------------------------------------------------

def test_the_dashboard_makes_a_fit_profile_shows_its_kind_and_keeps_it_when_saved(client, services):
    from .dashboard_helpers import post, sign_in

    dash = client.application.test_client()
    sign_in(dash)
    assert 'value="fit"' in dash.get("/dashboard/profiles/new").get_data(as_text=True)
    resp = post(dash, "/dashboard/profiles/new", {"name": "Fit", "id": "fit", "kind": "fit", "bands_rows": "0"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    assert client.get("/v1/profiles/fit", headers=AUTH).get_json()["kind"] == "fit"
    page = dash.get("/dashboard/profiles/fit").get_data(as_text=True)
    assert "fit: scores attributes" in page and "groups_rows" not in page
    resp = post(dash, "/dashboard/profiles/fit", {"name": "Fit 2", "description": "", "bands_rows": "0",
                                                 "max_score": ""})
    assert resp.status_code == 303
    assert client.get("/v1/profiles/fit", headers=AUTH).get_json()["kind"] == "fit"
    assert ">fit</span>" in dash.get("/dashboard/profiles").get_data(as_text=True)
