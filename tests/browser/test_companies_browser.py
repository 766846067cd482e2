"""Company scores in a real browser, typing no JSON: "Company score" set in the profile builder, the Companies page
(sorted by the company score) and a company's page with what each contact contributes, the way back and forth
between a contact and its company, and a company-score trigger in the workflow builder."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import AUTH, publish, send, settle
from .test_dashboard_browser import labelled, nav
from .test_scoring_browser import sign_in

pytestmark = pytest.mark.timeout(90)


def test_company_scores_from_the_profile_builder_to_a_company_page(server, live_app, live_services, page, shoot):
    api = live_app.test_client()
    api.put("/v1/profiles/eng", headers=AUTH, json={"name": "Engagement", "rules": [
        {"id": "click", "on": "email.clicked", "points": 10}]})
    sign_in(page, server, "/dashboard/profiles/eng")
    page.get_by_label("Each company scores the").select_option(label="average")
    labelled(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved")
    assert api.get("/v1/profiles/eng", headers=AUTH).get_json()["company_rollup"] == "average"
    publish(api, live_services, "eng")
    for email, n in (("ann@acme.com", 3), ("bob@acme.com", 1), ("cy@globex.io", 1)):
        for i in range(n):
            send(api, {"id": f"{email}-{i}", "type": "email.clicked", "contact": {"email": email}})
    settle(live_services)

    nav(page, "Companies")
    expect(page).to_have_url(re.compile(r"/dashboard/companies$"))
    rows = page.locator("table.companies tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(0)).to_contain_text("acme.com")  # (30 + 10) / 2 = 20 before globex's 10
    expect(page.get_by_test_id("company-score-acme.com-eng")).to_have_text("20")
    labelled(page)
    shoot("70-companies")
    page.get_by_role("link", name="acme.com").click()
    expect(page.get_by_role("heading", name="acme.com")).to_be_visible()
    expect(page.get_by_test_id("company-score-eng")).to_have_text("20")
    contributions = page.locator("table.contributions tbody tr")
    expect(contributions.nth(0)).to_contain_text("ann@acme.com")
    expect(contributions.nth(0)).to_contain_text("15")
    expect(contributions.nth(1)).to_contain_text("5")
    shoot("71-company")
    contributions.nth(1).get_by_role("link").click()
    expect(page.get_by_role("heading", name="bob@acme.com")).to_be_visible()
    page.get_by_test_id("contact-company").get_by_role("link", name="acme.com").click()
    expect(page).to_have_url(re.compile(r"/dashboard/companies/acme\.com$"))


def test_a_company_score_trigger_in_the_workflow_builder(server, live_app, page):
    api = live_app.test_client()
    api.put("/v1/profiles/eng", headers=AUTH, json={"name": "Engagement", "company_rollup": "sum",
                                                    "rules": [{"id": "click", "on": "email.clicked", "points": 10}]})
    sign_in(page, server, "/dashboard/workflows/new")
    page.get_by_label("Name", exact=True).fill("Hot account")
    page.get_by_label("Company score", exact=True).check()
    expect(page.get_by_label("Profile", exact=True)).to_be_visible()  # the score's controls, read for the company
    expect(page.get_by_label("Grade", exact=True)).to_be_hidden()
    page.get_by_label("Score", exact=True).select_option("gte")
    page.get_by_label("Value", exact=True).fill("200")
    page.get_by_label("Add a step").select_option(label="Add tag")
    page.get_by_role("button", name="Add step").click()
    expect(page.get_by_label("Company score", exact=True)).to_be_checked()  # re-rendered, nothing lost
    page.locator("#s-0-tag").fill("hot account")
    page.get_by_role("button", name="Update the sentence").click()
    expect(page.get_by_test_id("trigger-sentence")).to_contain_text(
        "When a company's Engagement company score becomes at least 200, for the contact whose change moved it")
    labelled(page)
    page.get_by_role("button", name="Save workflow").click()
    expect(page).to_have_url(re.compile(r"/dashboard/workflows/hot-account$"))
    trigger = api.get("/v1/workflows/hot-account", headers=AUTH).get_json()["trigger"]
    assert (trigger["type"], trigger["profile"], trigger["operator"], trigger["value"]) == \
        ("company_score_changed", "eng", "gte", 200)
