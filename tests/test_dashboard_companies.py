"""Companies in the console: the list with company scores (sorted by a rolled-up profile), a company's page with its
contacts and what each contributes, the contact page's link to its company, the profile builder's "Company score"
and the workflow builder's company-score trigger — saved as the API would."""
from __future__ import annotations

from app.dashboard.forms import form_from_draft, parse_profile_form

from .dashboard_helpers import post, text
from .helpers import AUTH, contact_by_email, publish, put_profile, send, settle

CLICK = {"id": "click", "on": "email.clicked", "points": 10}


def seed(dash, services, rollup="sum"):
    put_profile(dash, "eng", [CLICK], company_rollup=rollup)
    publish(dash, services, "eng")
    for email, n in (("ann@acme.com", 3), ("bob@acme.com", 1), ("cy@globex.io", 2), ("dee@gmail.com", 1)):
        for i in range(n):
            send(dash, {"id": f"{email}-{i}", "type": "email.clicked", "contact": {"email": email}})
    settle(services)


def test_the_companies_page_lists_company_scores_highest_first(dash, services):
    seed(dash, services)
    page = text(dash.get("/dashboard/companies"))
    assert page.index(">acme.com<") < page.index(">globex.io<")  # 40 before 20
    assert 'data-testid="company-score-acme.com-eng">40<' in page
    assert 'data-testid="company-score-globex.io-eng">20<' in page
    assert "gmail.com" not in page and "2 companies" in page


def test_without_a_rolled_up_profile_the_list_says_how_to_get_scores(dash, services):
    put_profile(dash, "eng", [CLICK])
    publish(dash, services, "eng")
    send(dash, {"id": "x", "type": "email.clicked", "contact": {"email": "ann@acme.com"}})
    settle(services)
    page = text(dash.get("/dashboard/companies"))
    assert 'data-testid="no-rollup"' in page and ">acme.com<" in page


def test_a_company_page_shows_its_contacts_and_contributions(dash, services):
    seed(dash, services, "average")
    page = text(dash.get("/dashboard/companies/acme.com"))
    ann, bob = (contact_by_email(dash, e)["id"] for e in ("ann@acme.com", "bob@acme.com"))
    assert 'data-testid="company-score-eng">20<' in page  # (30 + 10) / 2
    assert f'data-testid="contribution-eng-{ann}">15<' in page and f'data-testid="contribution-eng-{bob}">5<' in page
    assert "ann@acme.com" in page and "bob@acme.com" in page and 'data-testid="company-contacts">2<' in page
    assert dash.get("/dashboard/companies/nope.example").status_code == 404
    assert dash.get("/dashboard/companies/Not%20an%20id").status_code == 404


def test_the_contact_page_links_to_its_company(dash, services):
    seed(dash, services)
    ann = contact_by_email(dash, "ann@acme.com")["id"]
    assert 'href="/dashboard/companies/acme.com"' in text(dash.get(f"/dashboard/contacts/{ann}"))
    dee = contact_by_email(dash, "dee@gmail.com")["id"]
    assert 'data-testid="contact-company">—<' in text(dash.get(f"/dashboard/contacts/{dee}"))


# --- the profile builder ---------------------------------------------------------------------------------
def profile_fields(**changes) -> dict:
    return {"name": "Eng", "description": "", "bands_rows": "0", "max_score": "", "groups_rows": "0", **changes}


def test_the_profile_form_sets_and_keeps_the_company_rollup():
    assert parse_profile_form(profile_fields(company_rollup="max")).draft["company_rollup"] == "max"
    assert "company_rollup" not in parse_profile_form(profile_fields(company_rollup="")).draft
    kept = parse_profile_form(profile_fields(), kept={"company_rollup": "sum"})  # a page without the field
    assert kept.draft["company_rollup"] == "sum"
    assert parse_profile_form(profile_fields(company_rollup="median")).errors["company_rollup"]
    assert form_from_draft({"name": "x", "company_rollup": "average"}).company_rollup == "average"


def test_the_profile_page_saves_the_company_score_setting(dash):
    put_profile(dash, "eng", [CLICK])
    page = text(dash.get("/dashboard/profiles/eng"))
    assert 'id="company_rollup"' in page
    assert post(dash, "/dashboard/profiles/eng", profile_fields(company_rollup="average")).status_code == 303
    assert dash.get("/v1/profiles/eng", headers=AUTH).get_json()["company_rollup"] == "average"
    assert '<option value="average" selected>' in text(dash.get("/dashboard/profiles/eng"))
    assert post(dash, "/dashboard/profiles/eng", profile_fields(company_rollup="")).status_code == 303
    assert "company_rollup" not in dash.get("/v1/profiles/eng", headers=AUTH).get_json()


# --- the workflow builder ------------------------------------------------------------------------------------
def test_the_workflow_builder_makes_a_company_score_trigger(dash, services):
    put_profile(dash, "eng", [CLICK], company_rollup="sum")
    data = {"name": "Hot account", "trigger_type": "company_score_changed", "t_profile": "eng", "t_operator": "gte",
            "t_value": "200", "t_fire": "on_enter", "t_on": "form.submitted", "tags_all": "", "tags_none": "",
            "enabled": "on", "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "hot account", "action": "save"}
    resp = post(dash, "/dashboard/workflows/new", data)
    assert resp.status_code == 303, text(resp)
    config = dash.get("/v1/workflows/hot-account", headers=AUTH).get_json()
    assert config["trigger"] == {"type": "company_score_changed", "profile": "eng", "operator": "gte", "value": 200,
                                 "fire": "on_enter", "reentry": False, "filters": {"tags_all": [], "tags_none": []}}
    page = text(dash.get("/dashboard/workflows/hot-account/edit"))
    assert 'id="trigger-company" name="trigger_type" value="company_score_changed" checked' in page
    assert "for the contact whose change moved it" in text(dash.get("/dashboard/workflows/hot-account"))


# --- the contacts filter builder --------------------------------------------------------------------------
def test_the_filter_builder_filters_by_company_and_company_score(dash, services):
    seed(dash, services)
    page = text(dash.get("/dashboard/contacts", query_string={"c-0-kind": "company_eq", "c-0-value": "acme.com"}))
    assert "ann@acme.com" in page and "bob@acme.com" in page and "cy@globex.io" not in page
    page = text(dash.get("/dashboard/contacts", query_string={"c-0-kind": "company_ne", "c-0-value": "Acme.com"}))
    assert "ann@acme.com" not in page and "cy@globex.io" in page and "dee@gmail.com" in page
    page = text(dash.get("/dashboard/contacts", query_string={
        "c-0-kind": "company_score", "c-0-profile": "eng", "c-0-op": "lt", "c-0-value": "30"}))
    assert "cy@globex.io" in page and "ann@acme.com" not in page and "dee@gmail.com" not in page
    page = text(dash.get("/dashboard/contacts", query_string={
        "c-0-kind": "company_score", "c-0-profile": "eng", "c-0-op": "gte"}))
    assert 'id="c-0-value-error"' in page  # a number is needed, said next to the field


def test_filter_builder_rows_of_company_conditions_round_trip():
    from app.contact_filter_schema import load_filter
    from app.dashboard.filter_form import parse_filter_form, rows_of

    flt = load_filter({"conditions": [{"field": "company", "op": "ne", "company": "acme.com"},
                                      {"field": "company_score", "profile": "eng", "op": "gte", "value": 100}]})
    rows = rows_of(flt)
    assert rows == [{"kind": "company_ne", "profile": "", "op": "", "value": "acme.com"},
                    {"kind": "company_score", "profile": "eng", "op": "gte", "value": "100"}]
    args = {f"c-{i}-{k}": v for i, row in enumerate(rows) for k, v in row.items() if v}
    assert parse_filter_form(args, None).filter == flt
