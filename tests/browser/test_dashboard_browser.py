"""The dashboard in a real browser (Debian's Chromium through Playwright): the whole journey of
issue 7 — sign in, build and publish a profile, find a hot contact, see why, change the score,
save a smart list, and watch the workflow run and its webhook delivery."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect


from ..helpers import API_KEY, AUTH, send, settle
from ..workflow_helpers import SECRET, Reply, run_until


pytestmark = pytest.mark.timeout(60)

#: Every visible form control must have a label (a <label for>, aria-label or aria-labelledby).
UNLABELLED_CONTROLS = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(el => el.type !== 'hidden' && !el.labels.length && !el.getAttribute('aria-label')
                && !el.getAttribute('aria-labelledby'))
  .map(el => el.name || el.id)"""


def labelled(page: Page) -> None:
    assert page.evaluate(UNLABELLED_CONTROLS) == [], page.url


def nav(page: Page, name: str) -> None:
    """A menu link by its label (the inbox's may carry its unread count)."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name=re.compile(f"^{name}( |$)")).click()


def click(client, email: str, n: int) -> None:
    send(client, {"id": f"{email}-click-{n}", "type": "email.clicked", "contact": {"email": email}})


def test_the_dashboard_journey(server, live_app, live_services, page, shoot, receiver):
    services = live_services
    api = live_app.test_client()
    crm = receiver.on("/crm", Reply(200, body=b'{"received": true}'))
    api.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot lead", "trigger": {"type": "score_changed", "profile": "engagement",
                                                     "operator": "gte", "value": 20},
        "steps": [{"type": "add_tag", "tag": "hot-lead"},
                  {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} reached {{ score.new }}"},
                  {"type": "webhook", "name": "Push to CRM", "url": crm, "secret": SECRET}]})
    click(api, "ann@example.com", 1)
    click(api, "bob@example.com", 1)
    settle(services)

    # Sign in: the first page asked for leads to the sign-in form, then back.
    page.goto(f"{server}/dashboard/contacts")
    expect(page).to_have_url(re.compile(r"/dashboard/signin"))
    labelled(page)
    shoot("01-signin")
    page.get_by_label("API key").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("That API key is not valid.")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/contacts$"))
    expect(page.get_by_label("System health")).to_contain_text("Redis up")

    # A new profile from a name and a band, then a rule built from fields; a mistake is shown next to its field.
    nav(page, "Scoring")
    page.get_by_role("link", name="New profile").click()
    page.get_by_label("Name", exact=True).fill("Engagement")
    page.get_by_label("Description").fill("Who reads and clicks")
    page.get_by_label("Band name").fill("hot")
    page.get_by_label("Minimum score").fill("20")
    labelled(page)
    page.get_by_role("button", name="Create profile").click()
    expect(page.get_by_role("status")).to_contain_text("Engagement is saved as a draft")
    page.get_by_role("link", name="Add new rule").click()
    page.get_by_label("Event").select_option(label="Email link clicked")
    page.get_by_label("Points").fill("")
    labelled(page)
    page.get_by_role("button", name="Save rule", exact=True).click()
    expect(page.locator("#points-error")).to_have_text("a whole number of points, such as 5 or -10")
    expect(page.get_by_label("Points")).to_have_attribute("aria-invalid", "true")
    shoot("02-profile-validation")
    page.get_by_label("Points").fill("10")
    page.get_by_role("button", name="Save rule", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Rule saved to the draft: Email link clicked: +10")

    # Preview: the histogram (a band starts a bar) and the top movers, from history, before anything is live.
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="Preview of the draft")).to_be_visible()
    expect(page.locator("svg.histogram text.band-name")).to_have_text(["hot"])
    expect(page.locator(".preview tbody tr")).to_have_count(2)
    shoot("03-profile-preview")

    # Publish: the progress bar follows the job (the worker's part is done here), then the summary.
    page.once("dialog", lambda dialog: dialog.accept())  # the preview showed unsaved form values
    page.get_by_role("button", name="Publish", exact=True).click()
    expect(page.get_by_role("heading", name="Publishing Engagement v1")).to_be_visible()
    settle(services)
    expect(page.get_by_role("heading", name="Version 1 is live")).to_be_visible()
    expect(page.locator("#job-progress")).to_have_js_property("value", 1)
    expect(page.locator('[data-summary="scored"]')).to_have_text("2")
    shoot("04-publish-progress")

    # More interactions: ann crosses 20, which runs the workflow (tag, inbox, webhook).
    click(api, "ann@example.com", 2)
    click(api, "ann@example.com", 3)
    store = services.automation
    run_until(services, lambda: (ids := store.delivery_ids(0, 1)) and
              store.get_delivery(ids[0])["status"] == "succeeded")

    # Find her with a filter: engagement at least 20.
    nav(page, "Contacts")
    page.get_by_label("Add a condition").select_option(label="Score")
    page.locator("#c-0-profile").select_option("engagement")
    page.locator("#c-0-op").select_option("gte")
    page.locator("#c-0-value").fill("20")
    page.get_by_role("button", name="Apply filter").click()
    rows = page.locator("table.contacts tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("ann@example.com")
    expect(rows.first.locator("td.score")).to_have_text("30")
    expect(rows.first).to_contain_text("hot-lead")
    labelled(page)
    shoot("05-contacts-filtered")

    # Save the filter as a smart list.
    page.get_by_label("New smart list name").fill("Hot leads")
    page.get_by_role("button", name="Save as smart list").click()
    expect(page.get_by_role("status")).to_contain_text("Smart list 'Hot leads' saved: 1 contact.")
    nav(page, "Smart lists")
    expect(page.get_by_role("row", name=re.compile("Hot leads"))).to_contain_text("Engagement score is at least 20")
    shoot("06-smart-lists")
    page.get_by_role("link", name="Hot leads", exact=True).click()
    expect(page.get_by_role("navigation", name="Smart lists").get_by_role("link", name=re.compile("^Hot leads"))
           ).to_have_attribute("aria-current", "page")
    page.get_by_role("link", name="ann@example.com").click()

    # Her page: the score with its band, the chart, the ledger with reasons.
    expect(page.get_by_test_id("score-engagement")).to_have_text("30")
    expect(page.locator(".score-card .band")).to_have_text("hot")
    expect(page.locator("svg.score-chart circle.point")).to_have_count(3)
    expect(page.locator("table.ledger tbody tr")).to_have_count(3)
    labelled(page)
    shoot("07-contact")

    # A score changed by hand, with a reason, shows at once and is explained.
    page.get_by_label("Points", exact=True).fill("-5")
    page.get_by_label("Reason").fill("called: not ready yet")
    page.get_by_role("button", name="Change score").click()
    expect(page.get_by_role("status")).to_contain_text("Engagement score of ann@example.com is now 25.")
    expect(page.get_by_test_id("score-engagement")).to_have_text("25")
    expect(page.locator("table.ledger tbody tr").first).to_contain_text("called: not ready yet")
    shoot("08-contact-after-manual-change")

    # The workflow run, step by step, and its webhook delivery.
    nav(page, "Workflows")
    expect(page.get_by_role("row", name=re.compile("Hot lead"))).to_contain_text("Engagement score becomes at least 20")
    shoot("09-workflows")
    page.get_by_role("link", name="Hot lead").click()
    expect(page.locator("table.runs tbody tr")).to_have_count(1)
    shoot("10-workflow")
    page.locator("table.runs tbody tr a").first.click()
    expect(page.locator("tbody tr .badge.s-succeeded")).to_have_count(3)
    shoot("11-run")
    page.get_by_role("link", name=re.compile("Delivery: succeeded")).click()
    expect(page.locator("table.attempts")).to_contain_text("HTTP 200")
    expect(page.locator("table.attempts")).to_contain_text('{"received": true}')
    shoot("12-delivery")
    assert receiver.hits("/crm")[0].verified

    nav(page, "Deliveries")
    expect(page.locator("tbody tr")).to_have_count(1)
    shoot("13-deliveries")
    nav(page, "Inbox")
    expect(page.locator(".inbox")).to_contain_text("ann@example.com reached 20")
    shoot("14-inbox")

    # Sign out ends the session.
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/dashboard/signin"))


def test_phone_width_and_keyboard(server, live_app, live_services, browser, shoot):
    services = live_services
    api = live_app.test_client()
    api.put("/v1/profiles/engagement", headers=AUTH, json={
        "name": "Engagement", "rules": [{"id": "click", "on": "email.clicked", "points": 10}],
        "bands": [{"name": "hot", "min": 20}]})
    api.post("/v1/profiles/engagement/publish", headers=AUTH, json={})
    for n in range(3):
        click(api, "ann@example.com", n)
    settle(services)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{server}/dashboard/signin")
        expect(page.get_by_label("API key")).to_be_focused()
        page.keyboard.type(API_KEY)
        page.keyboard.press("Enter")
        expect(page).to_have_url(re.compile(r"/dashboard/contacts$"))
        page.keyboard.press("Tab")
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.locator("main")).to_be_focused()
        shoot("20-phone-contacts", page)
        page.get_by_role("link", name="ann@example.com").click()
        expect(page.get_by_test_id("score-engagement")).to_have_text("30")
        no_sideways_scroll = "() => document.documentElement.scrollWidth <= window.innerWidth"
        assert page.evaluate(no_sideways_scroll)
        shoot("21-phone-contact", page)
        page.goto(f"{server}/dashboard/profiles/engagement")
        assert page.evaluate(no_sideways_scroll)
        shoot("22-phone-profile", page)
    finally:
        context.close()
