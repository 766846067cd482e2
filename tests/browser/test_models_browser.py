"""The scoring models, reset and conditions in a real browser, typing no JSON: a group with a cap and a
decay and the maximum score on the profile page, a rule that shrinks and counts toward the group (the
expiry field giving way while it shrinks), "Reset score" with its confirmation on the contact's page, and
a workflow whose interaction trigger has condition rows and whose step runs "only if" — opened by keyboard."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from ..helpers import AUTH, send, settle
from .test_dashboard_browser import labelled
from .test_scoring_browser import sentences, sign_in

pytestmark = pytest.mark.timeout(90)


def test_groups_max_score_and_a_shrinking_rule_by_pointing_and_clicking(server, live_app, page, shoot):
    live_app.test_client().put("/v1/profiles/lead", headers=AUTH, json={"name": "Lead score", "rules": []})
    sign_in(page, server, "/dashboard/profiles/lead")
    page.get_by_label("The score never exceeds").fill("100")
    page.get_by_role("button", name="Add group").click()
    page.get_by_label("Group", exact=True).fill("email")
    page.get_by_label("Most points of group 1").fill("30")
    page.get_by_label("Shrink percent of group 1").fill("25")
    page.get_by_label("Shrink period of group 1").fill("30")
    labelled(page)
    page.get_by_role("button", name="Save draft").click()
    expect(page.get_by_role("status")).to_contain_text("Draft saved")
    expect(page.locator(".caps-summary")).to_contain_text("Group email: at most 30 points together, loses 25% every "
                                                          "30 days")
    expect(page.locator(".caps-summary")).to_contain_text("The score never exceeds 100")
    shoot("50-caps")

    page.get_by_role("link", name="Add new rule").click()
    page.get_by_label("Event").select_option(label="Form submitted")
    page.get_by_label("Points").fill("10")
    page.get_by_label("Shrink by percent").fill("50")
    expect(page.get_by_label("Expire after")).to_be_disabled()  # one or the other, never both
    page.get_by_label("Shrink by percent").fill("")
    expect(page.get_by_label("Expire after")).to_be_enabled()
    page.get_by_label("Shrink by percent").fill("50")
    page.get_by_label("Shrink period", exact=True).fill("2")
    page.get_by_label("Shrink period unit").select_option(label="weeks")
    page.get_by_label("Counts toward the cap of").select_option(label="email \u2014 at most 30 points, shrink by 25% "
                                                                     "every 30 days")
    labelled(page)
    shoot("51-rule-with-decay-and-group")
    page.get_by_role("button", name="Save rule", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Rule saved to the draft")
    assert sentences(page) == ["Form submitted: +10, loses 50% every 2 weeks, in group email (at most 30 together)"]
    rule = live_app.test_client().get("/v1/profiles/lead", headers=AUTH).get_json()["rules"][0]
    assert (rule["decay"], rule["group"]) == ({"percent": 50, "every": "2w"}, "email")


def test_reset_score_asks_first_and_the_ledger_says_so(server, live_app, live_services, page, shoot):
    api = live_app.test_client()
    api.put("/v1/profiles/eng", headers=AUTH, json={"name": "Engagement", "rules": [
        {"id": "click", "on": "email.clicked", "points": 10}]})
    api.post("/v1/profiles/eng/publish", headers=AUTH, json={})
    settle(live_services)
    for n in range(2):
        send(api, {"id": f"c{n}", "type": "email.clicked", "contact": {"email": "ann@example.com"}})
    settle(live_services)
    ann = live_services.contacts.find_contact(email="ann@example.com")
    sign_in(page, server, f"/dashboard/contacts/{ann}")
    expect(page.get_by_test_id("score-eng")).to_have_text("20")
    page.get_by_label("Why (kept in the ledger)").fill("new buying cycle")
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Reset score").click()
    assert dialogs and dialogs[0].startswith("Reset this contact's score to 0?")
    expect(page.get_by_test_id("score-eng")).to_have_text("20")  # dismissed: nothing changed
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Reset score").click()
    expect(page.get_by_role("status")).to_contain_text("is reset to 0")
    expect(page.get_by_test_id("score-eng")).to_have_text("0")
    # the ledger names who reset it (the shared-key sign-in acts as "dashboard") and why
    expect(page.locator("table.ledger tbody tr").first).to_contain_text("Score reset to 0 by dashboard")
    expect(page.locator("table.ledger tbody tr").first).to_contain_text("new buying cycle")
    shoot("52-reset")


def test_trigger_conditions_and_only_if_by_keyboard_and_clicks(server, live_app, live_services, page, shoot):
    api = live_app.test_client()
    api.put("/v1/profiles/eng", headers=AUTH, json={"name": "Engagement", "rules": [
        {"id": "click", "on": "email.clicked", "points": 10}]})
    api.post("/v1/profiles/eng/publish", headers=AUTH, json={})
    settle(live_services)
    sign_in(page, server, "/dashboard/workflows/new")
    page.get_by_label("Name", exact=True).fill("Demo requests")
    page.get_by_label("An interaction arrives").check()
    page.get_by_label("Interaction", exact=True).select_option(label="Form submitted")
    expect(page.locator("#tw-0-property")).to_have_attribute("list", "props-form.submitted")
    page.locator("#tw-0-property").fill("form_id")
    page.locator("#tw-0-op").select_option(label="is")
    page.locator("#tw-0-value").fill("demo")
    page.get_by_label("Add a step").select_option(label="Add tag")
    page.get_by_role("button", name="Add step").click()
    expect(page.locator("#tw-0-value")).to_have_value("demo")  # re-rendered, nothing lost
    page.locator("#s-0-tag").fill("demo")
    summary = page.locator(".step-when summary").first
    summary.focus()
    page.keyboard.press("Enter")  # "Only if…" opens by keyboard
    expect(page.locator("#s-0-when_op")).to_be_visible()
    page.locator("#s-0-when_op").select_option(label="is at least")
    page.locator("#s-0-when_value").fill("20")
    page.locator("#s-0-when_tags_none").fill("customer")
    labelled(page)
    page.get_by_role("button", name="Update the sentence").click()
    expect(page.get_by_test_id("trigger-sentence")).to_contain_text("interaction arrives where form is \"demo\"")
    expect(page.locator(".step-list h3").first).to_contain_text(
        "Add the tag “demo”, only if the Engagement score is at least 20 and not tagged customer")
    shoot("53-conditions")
    page.get_by_role("button", name="Save workflow").click()
    expect(page).to_have_url(re.compile(r"/dashboard/workflows/demo-requests$"))
    saved = api.get("/v1/workflows/demo-requests", headers=AUTH).get_json()
    assert saved["trigger"]["where"] == {"form_id": "demo"}
    assert saved["steps"][0]["when"] == {"profile": "eng", "operator": "gte", "value": 20, "tags_none": ["customer"]}
