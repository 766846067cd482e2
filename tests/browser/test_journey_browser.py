"""The whole seed journey of the marketer's console, in one browser session, typing no JSON anywhere:
a profile with two rules is published; interactions arrive; a contact is found by the start of its
email, its score seen and changed; contacts are filtered by score AND band and saved as a smart list;
a workflow is built and enabled; a contact pushed over 50 gets the tag and an unread inbox item; and
version 1 is rolled back to, with its summary. A real worker process scores and runs the workflow."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..helpers import API_KEY, AUTH, send
from .test_dashboard_browser import labelled

pytestmark = pytest.mark.timeout(180)

#: How long the page waits for the worker (scoring, publishing, running the workflow), in ms.
WORKER_MS = 30_000




def pay(api, email: str, n: int, amount: int = 49) -> None:
    send(api, {"id": f"{email}-pay-{n}", "type": "payment.succeeded", "contact": {"email": email},
               "properties": {"amount": amount, "currency": "usd"}})


def nav(page: Page, name: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(f"^{name}")).click()


def add_rule(page: Page, event: str, points: str, prop: str | None = None, value: str | None = None) -> None:
    page.get_by_role("link", name="Add new rule").click()
    page.get_by_label("Event").select_option(label=event)
    if prop:
        page.get_by_label("Property").fill(prop)
        page.get_by_label("Value").fill(value or "")
    page.get_by_label("Points").fill(points)
    page.get_by_role("button", name="Save rule", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Rule saved to the draft")


def test_the_marketers_whole_journey(server, live_app, live_services, page, shoot, live_worker):
    api = live_app.test_client()

    # Sign in on the way to a new profile; name and description, then two rules and the bands.
    page.goto(f"{server}/dashboard/profiles/new")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Name", exact=True).fill("Engagement")
    page.get_by_label("Description").fill("How engaged a lead is")
    page.get_by_role("button", name="Create profile").click()
    expect(page).to_have_url(re.compile(r"/dashboard/profiles/engagement$"))
    add_rule(page, "Payment succeeded", "25")
    add_rule(page, "DND changed", "-20", "all_channels", "yes")
    for i, (band, low) in enumerate((("cold", "0"), ("warm", "20"), ("hot", "50"))):
        if i:
            page.get_by_role("button", name="Add band").click()
        page.locator(f"#bands-{i}-name").fill(band)
        page.locator(f"#bands-{i}-min").fill(low)
    page.get_by_role("button", name="Save and publish").click()
    expect(page.get_by_role("heading", name="Version 1 is live")).to_be_visible(timeout=WORKER_MS)
    shoot("40-journey-published")

    # Interactions arrive through the API; the worker scores them.
    pay(api, "wes.brown@example.com", 1)
    pay(api, "wes.black@example.com", 1)
    pay(api, "ann@example.com", 1)
    send(api, {"id": "ann-dnd", "type": "contact.dnd_updated", "contact": {"email": "ann@example.com"},
               "properties": {"channels": {"email": True, "sms": True}, "all_channels": True}})
    send(api, {"id": "cy-open", "type": "email.opened", "contact": {"email": "cy@example.com"}})

    # Find the contact by the start of its email, as you type.
    nav(page, "Contacts")
    page.get_by_label("Find a contact by the start of an email, name or external id").press_sequentially("wes.br")
    suggestion = page.get_by_role("listbox", name="Matching contacts").get_by_role("link", name="wes.brown@example.com")
    expect(suggestion).to_be_visible(timeout=WORKER_MS)
    suggestion.click()
    expect(page.get_by_role("heading", name="wes.brown@example.com")).to_be_visible()
    expect(page.get_by_test_id("score-engagement")).to_have_text("25", timeout=WORKER_MS)
    expect(page.locator(".ledger")).to_contain_text("Payment succeeded")

    # Change the score by hand: 25 + 10 = 35, shown at once, with the reason in the ledger.
    page.get_by_label("Points", exact=True).fill("10")
    page.get_by_label("Reason").fill("called us back")
    page.get_by_role("button", name="Change score").click()
    expect(page.get_by_test_id("score-engagement")).to_have_text("35")
    expect(page.locator(".ledger")).to_contain_text("called us back")
    shoot("41-journey-contact")

    # Filter: score at least 20 AND band warm, then save it as a smart list with its live count.
    nav(page, "Contacts")
    page.get_by_label("Add a condition").select_option(label="Score")
    page.locator("#c-0-profile").select_option(label="Engagement")
    page.locator("#c-0-op").select_option(label="is at least")
    page.locator("#c-0-value").fill("20")
    page.get_by_role("button", name="Apply filter").click()
    page.get_by_label("Add a condition").select_option(label="Band is")
    page.locator("#c-1-profile").select_option(label="Engagement")
    page.locator("#c-1-value").fill("warm")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.get_by_test_id("match-count")).to_have_text("2")  # wes.brown 35, wes.black 25; ann has 5
    labelled(page)
    page.get_by_label("New smart list name").fill("Warm payers")
    page.get_by_role("button", name="Save as smart list").click()
    tab = page.get_by_role("navigation", name="Smart lists").get_by_role("link", name=re.compile("^Warm payers"))
    expect(tab).to_have_attribute("aria-current", "page")
    expect(tab.locator(".count")).to_have_text("2")
    shoot("42-journey-smart-list")

    # A workflow: score at least 50, when it becomes true: add tag hot-lead and post to the inbox.
    nav(page, "Workflows")
    page.get_by_role("link", name="New workflow").click()
    page.get_by_label("Name", exact=True).fill("Hot lead")
    page.get_by_label("Contact Engagement Score").check()
    page.get_by_label("Profile", exact=True).select_option(label="Engagement")
    page.get_by_label("Score", exact=True).select_option(label="is at least")
    page.get_by_label("Value", exact=True).fill("50")
    page.get_by_label("when it becomes true").check()
    page.get_by_label("Add a step").select_option(label="Add tag")
    page.get_by_role("button", name="Add step", exact=True).click()
    page.locator("#s-0-tag").fill("hot-lead")
    page.get_by_label("Add a step").select_option(label="Send a notification")
    page.get_by_role("button", name="Add step", exact=True).click()
    expect(page.locator("#s-1-channel")).to_have_value("inbox")
    expect(page.get_by_test_id("trigger-sentence")).to_have_text(
        "When a contact's Engagement score becomes at least 50. Each contact runs it once at most.")
    page.get_by_label("Enabled: run it when it fires").check()
    labelled(page)
    page.get_by_role("button", name="Save workflow").click()
    expect(page.get_by_role("switch", name="Enabled")).to_have_attribute("aria-checked", "true")
    shoot("43-journey-workflow")

    # Push wes.brown over 50 (35 + 25 = 60): the worker scores it and runs the workflow.
    pay(api, "wes.brown@example.com", 2)
    nav(page, "Contacts")
    page.get_by_label("Find a contact by the start of an email, name or external id").fill("wes.brown@example.com")
    page.get_by_role("button", name="Find", exact=True).click()
    expect(page.get_by_test_id("score-engagement")).to_have_text("60", timeout=WORKER_MS)
    inbox = page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile("^Inbox"))
    for _ in range(60):  # the page shows what the worker had done when it was loaded
        if page.locator(".tag", has_text="hot-lead").count() and "1 unread" in (inbox.text_content() or ""):
            break
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator(".tag", has_text="hot-lead")).to_be_visible()
    expect(inbox).to_contain_text("1 unread")
    shoot("44-journey-hot-lead")
    inbox.click()
    expect(page.locator(".inbox")).to_contain_text("wes.brown@example.com")

    # Publish a version 2 (payment +30), then roll back to version 1 and see the summary.
    nav(page, "Scoring")
    page.get_by_role("link", name="Engagement").first.click()
    page.locator(".rule-list .sentence").first.click()
    page.get_by_label("Points").fill("30")
    page.get_by_role("button", name="Save rule", exact=True).click()
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("heading", name="Version 2 is live")).to_be_visible(timeout=WORKER_MS)
    page.get_by_role("link", name="Versions").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Roll back to v1").click()
    expect(page.get_by_role("heading", name="Version 3 is live")).to_be_visible(timeout=WORKER_MS)
    expect(page.locator('[data-summary="scored"]')).not_to_have_text("0")
    shoot("45-journey-rolled-back")
    wes = api.get("/v1/contacts", query_string={"email": "wes.black@example.com"}, headers=AUTH).get_json()
    assert wes["items"][0]["scores"]["engagement"]["score"] == 25
