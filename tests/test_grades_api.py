"""Grades over HTTP and through the worker: defined by a fit and an engagement profile (validated), shown on
contacts as their cell, filtered (eq/ne/in) in the filter document and smart lists, and starting workflows
when a contact's cell becomes one (``becomes``) or changes."""
from __future__ import annotations

import pytest

from .helpers import AUTH, contact_by_email, publish, put_profile, send, settle
from .workflow_helpers import FAST, put_workflow, runs_of

FIT_RULES = [{"id": "vp", "points": 10, "where": {"job_title": "VP"}},
             {"id": "big", "points": 15, "where": {"company_size": {"gte": 200}}}]
FIT_BANDS = [{"name": "poor", "min": 0}, {"name": "fair", "min": 10}, {"name": "great", "min": 25}]
ENG_RULES = [{"id": "click", "on": "email.clicked", "points": 10}]
ENG_BANDS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 30}]
LEAD = {"name": "Lead grade", "fit_profile": "fit", "engagement_profile": "eng"}


def setup(client, services):
    put_profile(client, "fit", FIT_RULES, FIT_BANDS, kind="fit")
    publish(client, services, "fit")
    put_profile(client, "eng", ENG_RULES, ENG_BANDS)
    publish(client, services, "eng")
    resp = client.put("/v1/grades/lead", headers=AUTH, json=LEAD)
    assert resp.status_code == 200, resp.get_json()


def clicks(client, services, email, n, start=0):
    for i in range(start, start + n):
        send(client, {"id": f"{email}-c{i}", "type": "email.clicked", "contact": {"email": email}})
    settle(services)
    return contact_by_email(client, email)["id"]


def patch(client, cid, attributes):
    resp = client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": attributes})
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def search(client, *conditions):
    resp = client.post("/v1/contacts/search", headers=AUTH, json={"filter": {"conditions": list(conditions)}})
    assert resp.status_code == 200, resp.get_json()
    return sorted(c["email"] for c in resp.get_json()["items"])


# --- the definition -------------------------------------------------------------------------------

def test_a_grade_reads_back_is_listed_and_deleted(client, services):
    setup(client, services)
    assert client.get("/v1/grades/lead", headers=AUTH).get_json() == {"id": "lead", **LEAD}
    assert client.get("/v1/grades", headers=AUTH).get_json()["items"] == [{"id": "lead", **LEAD}]
    assert client.delete("/v1/grades/lead", headers=AUTH).status_code == 204
    assert client.get("/v1/grades/lead", headers=AUTH).status_code == 404


@pytest.mark.parametrize("body,field,message", [
    pytest.param({**LEAD, "fit_profile": "nope"}, "fit_profile", "no profile", id="no-fit-profile"),
    pytest.param({**LEAD, "fit_profile": "eng"}, "fit_profile", "not a fit profile", id="fit-is-engagement"),
    pytest.param({**LEAD, "engagement_profile": "fit"}, "engagement_profile", "not a engagement", id="eng-is-fit"),
    pytest.param({**LEAD, "engagement_profile": "bare"}, "engagement_profile", "no bands", id="no-bands"),
])
def test_a_grade_needs_a_fit_and_an_engagement_profile_with_bands(client, services, body, field, message):
    setup(client, services)
    put_profile(client, "bare", ENG_RULES)
    resp = client.put("/v1/grades/other", headers=AUTH, json=body)
    assert resp.status_code == 409 and message in resp.get_json()["errors"][field]
    assert client.get("/v1/grades/other", headers=AUTH).status_code == 404


def test_a_grade_body_is_validated(client):
    resp = client.put("/v1/grades/g", headers=AUTH, json={"name": "G", "fit_profile": "f"})
    assert resp.status_code == 400 and "engagement_profile" in resp.get_json()["errors"]


# --- on contacts ----------------------------------------------------------------------------------

def test_contacts_show_their_cell_as_their_scores_move(client, services):
    setup(client, services)
    cid = clicks(client, services, "ann@example.com", 1)
    assert contact_by_email(client, "ann@example.com")["grades"] == {"lead": "C2"}
    assert patch(client, cid, {"job_title": "VP", "company_size": 500})["grades"] == {"lead": "A2"}
    clicks(client, services, "ann@example.com", 2, start=1)
    assert client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["grades"] == {"lead": "A1"}


def test_a_grade_whose_profile_is_not_published_is_left_out(client, services):
    setup(client, services)
    clicks(client, services, "ann@example.com", 1)
    assert client.post("/v1/profiles/fit/unpublish", headers=AUTH).status_code in (200, 202)
    settle(services)
    assert contact_by_email(client, "ann@example.com")["grades"] == {}


def test_contacts_filter_by_grade_with_eq_ne_and_in(client, services):
    setup(client, services)
    patch(client, clicks(client, services, "a@example.com", 3), {"job_title": "VP", "company_size": 500})  # A1
    patch(client, clicks(client, services, "b@example.com", 1), {"job_title": "VP"})  # B2
    clicks(client, services, "c@example.com", 1)  # C2
    assert search(client, {"field": "grade", "grade": "lead", "cell": "A1"}) == ["a@example.com"]
    assert search(client, {"field": "grade", "grade": "lead", "op": "ne", "cell": "A1"}) == \
        ["b@example.com", "c@example.com"]
    assert search(client, {"field": "grade", "grade": "lead", "op": "in", "cells": ["B2", "C2"]}) == \
        ["b@example.com", "c@example.com"]
    assert search(client, {"field": "grade", "grade": "lead", "op": "in", "cells": ["B2"]},
                  {"field": "score", "profile": "eng", "op": "gte", "value": 10}) == ["b@example.com"]


def test_a_smart_list_by_grade_counts_its_members(client, services):
    setup(client, services)
    patch(client, clicks(client, services, "a@example.com", 3), {"job_title": "VP", "company_size": 500})
    clicks(client, services, "c@example.com", 1)
    resp = client.post("/v1/smart-lists", headers=AUTH, json={
        "name": "Best", "filter": {"conditions": [{"field": "grade", "grade": "lead", "op": "in", "cells": ["A1"]}]}})
    assert resp.status_code == 201, resp.get_json()
    lists = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    assert [(s["name"], s["count"]) for s in lists] == [("Best", 1)]
    members = client.get(f"/v1/smart-lists/{resp.get_json()['id']}/contacts", headers=AUTH).get_json()["items"]
    assert [m["email"] for m in members] == ["a@example.com"]


@pytest.mark.parametrize("condition,field", [
    pytest.param({"field": "grade", "grade": "lead", "cell": "D1"}, "cell", id="unknown-cell"),
    pytest.param({"field": "grade", "grade": "lead", "op": "in", "cell": "A1"}, "cells", id="in-needs-cells"),
    pytest.param({"field": "grade", "grade": "lead", "op": "gt", "cell": "A1"}, "op", id="no-order"),
    pytest.param({"field": "grade", "cell": "A1"}, "grade", id="no-grade"),
    pytest.param({"field": "grade", "grade": "lead", "cell": "A1", "profile": "eng"}, "profile", id="extra"),
])
def test_an_invalid_grade_condition_is_a_400(client, services, condition, field):
    resp = client.post("/v1/contacts/search", headers=AUTH, json={"filter": {"conditions": [condition]}})
    assert resp.status_code == 400 and field in str(resp.get_json()["errors"]), resp.get_json()


def test_a_filter_naming_an_unknown_grade_is_a_404(client, services):
    setup(client, services)
    resp = client.post("/v1/contacts/search", headers=AUTH,
                       json={"filter": {"conditions": [{"field": "grade", "grade": "nope", "cell": "A1"}]}})
    assert resp.status_code == 404 and "nope" in resp.get_json()["message"]


# --- workflow triggers ----------------------------------------------------------------------------

def grade_workflow(wid, **trigger):
    return {"id": wid, "name": wid, "trigger": {"type": "grade_changed", "grade": "lead", **trigger},
            "steps": [{"type": "add_tag", "tag": wid}]}


@pytest.mark.app_settings(**FAST)
def test_becomes_fires_when_the_cell_enters_it_and_changes_on_every_change(client, services):
    setup(client, services)
    put_workflow(client, grade_workflow("best", becomes="A1"))
    put_workflow(client, grade_workflow("moved", reentry=True))
    cid = clicks(client, services, "ann@example.com", 3)  # C1 (first: None -> C3 -> C2 -> C1)
    assert runs_of(client, "best") == []
    moved = runs_of(client, "moved")
    assert {(r["trigger"]["old"], r["trigger"]["new"]) for r in moved} == {(None, "C3"), ("C3", "C2"), ("C2", "C1")}
    patch(client, cid, {"job_title": "VP", "company_size": 500})  # C1 -> B1 -> A1 (rule by rule)
    settle(services)
    [run] = runs_of(client, "best")
    assert (run["trigger"]["kind"], run["trigger"]["old"], run["trigger"]["new"]) == ("grade", "B1", "A1")
    assert {"best", "moved"} <= set(client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["tags"])
    assert len(runs_of(client, "moved")) == 5


@pytest.mark.app_settings(**FAST)
def test_becomes_one_of_several_cells_fires_on_entering_the_set_only(client, services):
    setup(client, services)
    put_workflow(client, grade_workflow("top", becomes=["A1", "A2"], reentry=True))
    cid = clicks(client, services, "ann@example.com", 1)  # C2
    patch(client, cid, {"job_title": "VP", "company_size": 500})  # C2 -> B2 -> A2: enters
    clicks(client, services, "ann@example.com", 2, start=1)  # A2 -> A1: stays inside
    settle(services)
    assert [(r["trigger"]["old"], r["trigger"]["new"]) for r in runs_of(client, "top")] == [("B2", "A2")]


@pytest.mark.parametrize("trigger,field", [
    pytest.param({"becomes": "D1"}, "becomes", id="unknown-cell"),
    pytest.param({"becomes": []}, "becomes", id="empty-list"),
    pytest.param({"grade": "bad id!"}, "grade", id="bad-grade-id"),
    pytest.param({"operator": "gte"}, "operator", id="unknown-field"),
])
def test_an_invalid_grade_trigger_is_a_400(client, trigger, field):
    resp = client.put("/v1/workflows/w", headers=AUTH, json=grade_workflow("w", **trigger))
    assert resp.status_code == 400 and field in str(resp.get_json()["errors"]), resp.get_json()


def test_a_grade_a_workflow_triggers_on_cannot_be_deleted(client, services):
    setup(client, services)
    put_workflow(client, grade_workflow("best", becomes="A1"))
    resp = client.delete("/v1/grades/lead", headers=AUTH)
    assert resp.status_code == 409 and "best" in resp.get_json()["message"]


# --- dashboard ----------------------------------------------------------------------------------

def test_the_dashboard_shows_grades_on_the_list_and_the_contact_page_and_filters_by_grade(client, services):
    from .dashboard_helpers import sign_in

    setup(client, services)
    a = clicks(client, services, "a@example.com", 3)
    patch(client, a, {"job_title": "VP", "company_size": 500})  # A1
    clicks(client, services, "c@example.com", 1)  # C2
    dash = client.application.test_client()
    sign_in(dash)
    page = dash.get("/dashboard/contacts").get_data(as_text=True)
    assert "<th scope=\"col\">Grade</th>" in page and '>A1</span>' in page and '>C2</span>' in page
    assert 'value="grade:lead:in"' in page
    page = dash.get("/dashboard/contacts", query_string={"c-0-kind": "grade:lead:in", "c-0-value": "a1, b2",
                                                        "order_by": "eng"}).get_data(as_text=True)
    assert "a@example.com" in page and "c@example.com" not in page
    assert "grade lead is one of A1, B2" in page
    resp = dash.get("/dashboard/contacts", query_string={"c-0-kind": "grade:lead:eq", "c-0-value": "Z9"})
    assert resp.status_code == 400
    page = dash.get(f"/dashboard/contacts/{a}", query_string={"profile": "fit"}).get_data(as_text=True)
    assert 'data-testid="grade-lead"><span class="band">A1</span>' in page
    assert "job title is" in page  # the fit ledger reads in words


def test_a_smart_list_naming_a_deleted_grade_is_listed_with_its_problem_and_refuses_to_run(client, services):
    setup(client, services)
    clicks(client, services, "a@example.com", 1)
    resp = client.post("/v1/smart-lists", headers=AUTH, json={
        "name": "Best", "filter": {"conditions": [{"field": "grade", "grade": "lead", "cell": "A1"}]}})
    list_id = resp.get_json()["id"]
    assert client.delete("/v1/grades/lead", headers=AUTH).status_code == 204
    [listed] = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    assert listed["count"] is None and "grade 'lead'" in listed["problem"]
    resp = client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH)
    assert resp.status_code == 409 and "grade 'lead'" in resp.get_json()["message"]
