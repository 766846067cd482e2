"""Scoring in a real browser, typing no JSON: rules built by pointing and clicking, the rule list's ⋯
menu by keyboard, the warning before leaving unsaved edits, save and publish with its summary, and
roll back with its own summary."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..helpers import API_KEY, AUTH, send, settle
from .test_dashboard_browser import labelled

pytestmark = pytest.mark.timeout(90)


def sign_in(page: Page, server: str, path: str) -> None:
    page.goto(f"{server}{path}")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def sentences(page: Page) -> list[str]:
    return page.locator(".rule-list .sentence").all_inner_texts()


def test_rules_are_built_by_pointing_and_clicking(server, live_app, live_services, page, shoot):
    sign_in(page, server, "/dashboard/profiles/new")
    page.get_by_label("Name", exact=True).fill("Lead score")
    page.get_by_label("Description").fill("Engagement of leads")
    page.get_by_role("button", name="Create profile").click()
    expect(page).to_have_url(re.compile(r"/dashboard/profiles/lead-score$"))

    # Email opened, not by a machine: +2 with the stepper, at most 5 a day, expiring after 30 days.
    page.get_by_role("link", name="Add new rule").click()
    expect(page.get_by_label("Custom name")).to_be_hidden()  # shown only for "Another custom event…"
    page.get_by_label("Event").select_option(label="Email opened")
    expect(page.get_by_label("Property")).to_have_attribute("list", "props-email.opened")
    page.get_by_label("Property").fill("machine_open")
    page.get_by_label("Operator").select_option(label="is")
    page.get_by_label("Value").fill("no")
    page.get_by_role("button", name="One point more").click()
    expect(page.get_by_label("Points")).to_have_value("2")
    page.get_by_label("Times at most").fill("5")
    page.get_by_label("Limit window unit").select_option(label="day")
    page.get_by_label("Expire after").fill("30")
    page.get_by_label("Expiry unit").select_option(label="days")
    labelled(page)
    shoot("30-rule-builder")
    page.get_by_role("button", name="Save rule", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Rule saved to the draft")

    # DND on all channels: −20, by choosing the event and its property from the lists.
    page.get_by_role("link", name="Add new rule").click()
    page.get_by_label("Event").select_option(label="DND changed")
    expect(page.get_by_label("Property")).to_have_attribute("list", "props-contact.dnd_updated")
    page.get_by_label("Property").fill("all_channels")
    page.get_by_label("Value").fill("yes")
    page.get_by_label("Points").fill("-20")
    page.get_by_role("button", name="Save rule", exact=True).click()

    # A custom event typed by name, with a condition added as a second row.
    page.get_by_role("link", name="Add new rule").click()
    page.get_by_label("Event").select_option(label="Another custom event…")
    expect(page.get_by_label("Custom name")).to_be_visible()
    page.get_by_label("Custom name").fill("webinar_joined")
    page.get_by_role("button", name="Add condition").click()
    page.locator("#cond-1-property").fill("minutes")
    page.locator("#cond-1-op").select_option(label="at least")
    page.locator("#cond-1-value").fill("30")
    page.get_by_label("Points").fill("8")
    page.get_by_role("button", name="Save rule", exact=True).click()
    assert sentences(page) == ["Email opened, not by a machine: +2, at most 5 a day, expires after 30 days",
                               "DND changed, on all channels: \u221220",
                               'Custom event "webinar_joined", minutes at least 30: +8']
    assert "r-" not in page.locator("main").inner_text()  # generated rule ids are never shown
    shoot("31-rule-list")

    # The ⋯ menu by keyboard: open with Enter, move with the arrows, Escape closes and returns focus.
    summary = page.locator("summary[aria-label^='Actions for rule 3']")
    summary.focus()
    page.keyboard.press("Enter")
    menu = page.locator(".rule-item").nth(2).locator(".menu-items")
    expect(menu).to_be_visible()
    page.keyboard.press("Escape")
    expect(menu).to_be_hidden()
    expect(summary).to_be_focused()
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("link", name="Edit")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(menu.get_by_role("button", name="Move up")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("status")).to_contain_text("Rule moved up")
    assert sentences(page)[1].startswith("Custom event")

    # Leaving a form with unsaved edits asks first; staying keeps what was typed.
    page.locator(".rule-list .sentence").first.click()
    page.get_by_label("Points").fill("3")
    dialogs: list[str] = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.get_by_role("link", name="Cancel").click()
    expect(page.get_by_label("Points")).to_have_value("3")
    assert dialogs == ["beforeunload"]

    # Save and publish in one action: progress, then the summary.
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_role("heading", name="Publishing Lead score v1")).to_be_visible()
    settle(live_services)
    expect(page.get_by_role("heading", name="Version 1 is live")).to_be_visible()
    expect(page.locator('[data-summary="scored"]')).to_have_text("0")
    profile = live_app.test_client().get("/v1/profiles/lead-score", headers=AUTH).get_json()
    assert [(r["on"], r["points"]) for r in profile["rules"]] == [
        ("email.opened", 3), ("custom.webinar_joined", 8), ("contact.dnd_updated", -20)]
    assert profile["status"] == "published" and profile["draft_changed"] is False


def test_publish_summary_then_roll_back_with_its_own_summary(server, live_app, live_services, page, shoot):
    api = live_app.test_client()
    api.put("/v1/profiles/engagement", headers=AUTH, json={
        "name": "Engagement", "rules": [{"id": "open", "on": "email.opened", "points": 5}],
        "bands": [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}]})
    for n in range(3):
        send(api, {"id": f"o{n}", "type": "email.opened", "contact": {"email": f"p{n}@example.com"}})
    api.post("/v1/profiles/engagement/publish", headers=AUTH, json={})
    settle(live_services)
    sign_in(page, server, "/dashboard/profiles/engagement")

    page.locator(".rule-list .sentence").first.click()
    page.get_by_label("Points").fill("12")
    page.get_by_role("button", name="Save rule", exact=True).click()
    page.get_by_role("button", name="Publish", exact=True).click()
    settle(live_services)
    expect(page.get_by_role("heading", name="Version 2 is live")).to_be_visible()
    expect(page.locator(".band-moves")).to_have_text("cold \u2192 warm: 3")
    expect(page.locator('[data-summary="changed"]')).to_have_text("3")
    shoot("32-publish-summary")

    page.get_by_role("link", name="Versions").click()
    expect(page.locator(".version")).to_have_count(2)
    expect(page.locator("#v2")).to_contain_text("Changed rule: Email opened: +5 \u2192 Email opened: +12")
    expect(page.locator("#v2")).to_contain_text("Published by dashboard")
    page.get_by_label("Compare version").select_option("v1")
    page.get_by_label("with").select_option("v2")
    page.get_by_role("button", name="Compare").click()
    expect(page.get_by_role("heading", name="From v1 to v2")).to_be_visible()
    shoot("33-versions")

    page.once("dialog", lambda dialog: dialog.accept())  # "Roll back Engagement to version 1? …"
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("heading", name="Rolling back Engagement to v1 (as v3)")).to_be_visible()
    settle(live_services)
    expect(page.get_by_role("heading", name="Version 3 is live")).to_be_visible()
    expect(page.locator(".band-moves")).to_have_text("warm \u2192 cold: 3")
    shoot("34-rollback-summary")
    page.get_by_role("link", name="Versions").click()
    expect(page.locator("#v3")).to_contain_text("roll back to v1")
    expect(page.locator("#v3 .badge.s-succeeded")).to_have_text("live")
    contact = api.get("/v1/contacts", query_string={"email": "p0@example.com"}, headers=AUTH).get_json()
    assert contact["items"][0]["scores"]["engagement"]["score"] == 5


def test_eight_rules_fit_on_one_laptop_screen(server, live_app, page):
    rules = [{"id": f"r{n}", "on": on, "points": n + 1, "where": where, "limit": {"count": 5, "window": "1d"},
              "expires_after": "30d"}
             for n, (on, where) in enumerate([("email.opened", {"machine_open": False}), ("email.clicked", {}),
                                              ("form.submitted", {"form_id": "demo"}), ("appointment.booked", {}),
                                              ("payment.succeeded", {"amount": {"gte": 100}}),
                                              ("email.delivered", {}), ("appointment.no_show", {}),
                                              ("contact.dnd_updated", {"all_channels": True})])]
    live_app.test_client().put("/v1/profiles/engagement", headers=AUTH, json={
        "name": "Engagement", "description": "Opens, clicks, forms, meetings and payments", "rules": rules,
        "bands": [{"name": "warm", "min": 10}]})
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_in(page, server, "/dashboard/profiles/engagement")
    last = page.locator(".rule-item").nth(7).bounding_box()
    assert last is not None and last["y"] + last["height"] <= 800, last
