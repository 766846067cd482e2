"""The contacts pages of the console in a real browser: search as you type by keyboard, and the filter
builder's rows showing only what a condition uses (every page at 390 px: test_every_page.py)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ..helpers import API_KEY, AUTH, send, settle
from .test_dashboard_browser import labelled

pytestmark = pytest.mark.timeout(90)


def seed(api, services) -> None:
    api.put("/v1/profiles/engagement", headers=AUTH, json={
        "name": "Engagement", "rules": [{"id": "pay", "on": "payment.succeeded", "points": 25}],
        "bands": [{"name": "cold", "min": 0}, {"name": "warm", "min": 20}]})
    api.post("/v1/profiles/engagement/publish", headers=AUTH, json={})
    for n, email in enumerate(("wes.brown@example.com", "wes.black@example.com", "ann@example.com")):
        send(api, {"id": f"p{n}", "type": "payment.succeeded", "contact": {"email": email}})
    settle(services)


def sign_in(page: Page, server: str) -> None:
    page.goto(f"{server}/dashboard/signin")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/contacts$"))


def test_search_as_you_type_by_keyboard_and_the_filter_rows(server, live_app, live_services, page, shoot):
    seed(live_app.test_client(), live_services)
    sign_in(page, server)
    search = page.get_by_label("Find a contact by the start of an email, name or external id")
    search.press_sequentially("WES.B")
    options = page.get_by_role("listbox", name="Matching contacts").get_by_role("link")
    expect(options).to_have_text(["wes.black@example.com", "wes.brown@example.com"])
    shoot("50-search-as-you-type")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="wes.brown@example.com")).to_be_visible()

    page.goto(f"{server}/dashboard/contacts")
    kind = page.get_by_label("Add a condition")
    kind.select_option(label="Tagged")
    expect(page.locator("#c-0-profile")).to_be_hidden()  # a tag condition has no profile or operator
    expect(page.locator("#c-0-op")).to_be_hidden()
    kind.select_option(label="Band is")
    expect(page.locator("#c-0-profile")).to_be_visible()
    expect(page.locator("#c-0-value")).to_have_attribute("list", "bands-list")
    page.locator("#c-0-value").fill("warm")
    page.get_by_role("button", name="Apply filter").click()
    expect(page.get_by_test_id("match-count")).to_have_text("3")
    expect(page.get_by_text("Engagement band is warm")).to_be_visible()
    labelled(page)
