"""In Debian's Chromium: an admin makes an API key (shown once, copied with the button), revokes it after the
confirmation; sets and removes a provider secret that the page never shows; and a user turns two-step
sign-in on with a real code from pyotp, then signs in with password and code."""
from __future__ import annotations

import re
import time

import pyotp
from playwright.sync_api import Page, expect

from app.people import create_first_owner

from ..helpers import API_KEY, AUTH
from ..hook_builders import documented_delivery, scheme

PASSWORD = "correct horse battery"
STRIPE = "whsec_typed_into_the_browser_42"


def sign_in_with_key(page: Page, server: str) -> None:
    page.goto(f"{server}/dashboard/signin")
    page.get_by_label("API key").fill(API_KEY)
    page.get_by_role("button", name="Sign in with the key").click()
    expect(page.get_by_label("System health")).to_be_visible()


def sign_in_with_password(page: Page, server: str, email: str) -> None:
    page.goto(f"{server}/dashboard/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()


def test_an_admin_makes_copies_and_revokes_an_api_key(server, live_app, browser, shoot):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = context.new_page()
    sign_in_with_key(page, server)
    page.get_by_role("link", name="API keys").click()
    expect(page.get_by_text("No stored keys yet.")).to_be_visible()
    page.get_by_role("button", name="Make the key").click()  # the browser asks for the name first
    expect(page.get_by_label("Name (what it is for)")).to_have_js_property("validity.valid", False)
    page.get_by_label("Name (what it is for)").fill("zapier")
    page.get_by_role("button", name="Make the key").click()  # no scope: the server says so
    expect(page.get_by_role("alert")).to_contain_text("choose at least one scope")
    expect(page.get_by_label("Name (what it is for)")).to_have_value("zapier")  # what was typed is kept
    page.get_by_label(re.compile(r"^ingest")).check()
    page.get_by_role("button", name="Make the key").click()
    shown = page.locator("#new-key")
    expect(shown).to_have_text(re.compile(r"^skk_\w+_[0-9a-f]{64}$"))
    expect(page.get_by_text("it is not shown again")).to_be_visible()
    key = shown.inner_text()
    shoot("keys-made", page)
    page.get_by_role("button", name="Copy the key").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == key
    api = live_app.test_client()
    assert api.post("/v1/interactions", headers={"Authorization": f"Bearer {key}"}, json={
        "id": "o1", "type": "email.opened", "contact": {"email": "lee@example.com"}}).status_code == 202
    page.reload()  # sends the form again: it makes no second key
    expect(page.get_by_role("alert")).to_contain_text("This form was sent already")
    page.goto(f"{server}/dashboard/keys")
    expect(page.locator("#new-key")).to_have_count(0)
    row = page.locator("tr", has_text="zapier")
    expect(row).not_to_contain_text("never")  # last used: the interaction above
    assert key not in page.content()
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.get_by_role("button", name="Revoke").click()
    expect(row).to_be_visible()  # dismissed: nothing happened
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("is revoked")).to_be_visible()
    assert api.get("/v1/profiles", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    context.close()


def test_an_admin_sets_and_removes_a_provider_secret_that_the_page_never_shows(server, live_app, page, shoot):
    sign_in_with_key(page, server)
    page.get_by_role("link", name="Providers").click()
    row = page.locator("#provider-stripe")
    expect(row).to_contain_text("not set")
    row.get_by_label("New stripe secret").fill(STRIPE)
    row.get_by_role("button", name="Set").click()
    expect(page.get_by_text("The stripe secret is set")).to_be_visible()
    expect(row).to_contain_text("set here")
    expect(row.get_by_label("New stripe secret")).to_have_value("")
    assert STRIPE not in page.content()
    shoot("providers-set")
    body, headers = scheme("stripe").sign(documented_delivery("stripe"), STRIPE, int(time.time()))
    api = live_app.test_client()
    assert api.post("/hooks/stripe", data=body, headers=headers).status_code == 202
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Remove").click()
    expect(row).to_contain_text("not set")
    assert api.post("/hooks/stripe", data=body, headers=headers).status_code == 404
    trail = api.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [e["action"] for e in trail[:2]] == ["provider.remove", "provider.set"]


def test_a_user_turns_on_two_step_sign_in_and_signs_in_with_a_code(server, live_app, live_services, page, shoot):
    create_first_owner(live_services, "ana@agency.com", PASSWORD, "test")
    sign_in_with_password(page, server, "ana@agency.com")
    page.get_by_role("link", name="ana@agency.com").click()
    page.get_by_role("button", name="Set up two-step sign-in").click()
    expect(page.locator(".qr svg")).to_be_visible()
    seed = page.locator(".totp-seed").inner_text()
    shoot("account-enrol")
    totp = pyotp.TOTP(seed)
    page.get_by_label("The 6-digit code it shows").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    codes = page.locator("#recovery-code-list").inner_text().split()
    assert len(codes) == 10
    page.get_by_role("button", name="Sign out").click()

    sign_in_with_password(page, server, "ana@agency.com")
    expect(page.get_by_role("heading", name="Two-step sign-in")).to_be_visible()
    page.get_by_label("Code").fill("12345")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("That code is not right")
    page.get_by_label("Code").fill(totp.at(time.time() + 30))  # the phone a step ahead: accepted, and unused
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_label("System health")).to_be_visible()
    expect(page.get_by_text("ana@agency.com (owner)")).to_be_visible()
