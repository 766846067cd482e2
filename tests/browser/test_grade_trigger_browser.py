"""The grade trigger in a real browser, typing no JSON: "A grade changes", the grade from its menu, "when the cell
becomes one of" with cells ticked in the 3×3 grid; and a workflow saved under Advanced, opened in the builder and
saved again, reads back under Advanced exactly as it was written."""
from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from ..helpers import AUTH
from ..test_grades_api import setup
from .test_dashboard_browser import labelled
from .test_scoring_browser import sign_in

pytestmark = pytest.mark.timeout(90)


def test_a_grade_trigger_by_ticking_cells_and_a_round_trip_through_advanced(server, live_app, live_services,
                                                                            page, shoot):
    api = live_app.test_client()
    setup(api, live_services)  # fit and eng published, grade "lead" (Lead grade)
    sign_in(page, server, "/dashboard/workflows/new")
    page.get_by_label("Name", exact=True).fill("Best leads")
    page.get_by_label("A grade changes").check()
    expect(page.get_by_label("Grade", exact=True)).to_be_visible()  # the grade's controls show, the others hide
    expect(page.get_by_label("Interaction", exact=True)).to_be_hidden()
    page.get_by_label("Grade", exact=True).select_option(label="Lead grade")
    page.get_by_label("when the cell becomes one of those ticked").check()
    page.get_by_label("A1", exact=True).check()
    page.get_by_label("A2", exact=True).check()
    page.get_by_label("Add a step").select_option(label="Add tag")
    page.get_by_role("button", name="Add step").click()
    expect(page.get_by_label("A2", exact=True)).to_be_checked()  # re-rendered, nothing lost
    page.locator("#s-0-tag").fill("best")
    page.get_by_role("button", name="Update the sentence").click()
    expect(page.get_by_test_id("trigger-sentence")).to_contain_text("Lead grade becomes one of A1, A2")
    labelled(page)
    shoot("60-grade-trigger")
    page.get_by_role("button", name="Save workflow").click()
    expect(page).to_have_url(re.compile(r"/dashboard/workflows/best-leads$"))
    saved = api.get("/v1/workflows/best-leads", headers=AUTH).get_json()
    assert saved["trigger"] == {"type": "grade_changed", "grade": "lead", "becomes": ["A1", "A2"]}

    # Advanced → builder → Advanced
    written = {"id": "best-leads", "name": "Best leads", "enabled": False,
               "trigger": {"type": "grade_changed", "grade": "lead", "becomes": ["B1", "A1"], "reentry": False,
                           "filters": {"tags_all": [], "tags_none": ["customer"]}},
               "steps": [{"type": "add_tag", "tag": "best"}]}
    page.get_by_text("Advanced: the workflow as JSON").click()
    page.get_by_label("Workflow JSON").fill(json.dumps(written, indent=2))
    page.locator(".advanced-json").get_by_role("button", name="Save").click()
    expect(page.get_by_text("Workflow saved.")).to_be_visible()
    page.get_by_role("link", name="Edit").click()
    expect(page.get_by_label("A grade changes")).to_be_checked()
    expect(page.get_by_label("B1", exact=True)).to_be_checked()
    expect(page.get_by_label("A1", exact=True)).to_be_checked()
    expect(page.get_by_label("A2", exact=True)).not_to_be_checked()
    expect(page.get_by_label("Never for contacts tagged")).to_have_value("customer")
    page.get_by_role("button", name="Save workflow").click()
    expect(page).to_have_url(re.compile(r"/dashboard/workflows/best-leads$"))
    page.get_by_text("Advanced: the workflow as JSON").click()
    assert json.loads(page.get_by_label("Workflow JSON").input_value())["trigger"] == written["trigger"]
    assert api.get("/v1/workflows/best-leads", headers=AUTH).get_json()["trigger"] == written["trigger"]
