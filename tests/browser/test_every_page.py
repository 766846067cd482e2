"""Every dashboard page on a phone (390 px wide) in Debian's Chromium: nothing scrolls sideways, nothing
is loaded from another host, the first Tab reaches "Skip to content" with a visible focus ring, and every
control has a label. The pages are read from the app's URL map, so a new page is visited without
editing this test (a page with a new kind of id needs a value in ``ids``)."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.people import invite
from app.scoring.interactions import format_timestamp

from ..helpers import API_KEY, AUTH, send, settle
from ..workflow_helpers import SECRET, Reply, run_until
from .test_dashboard_browser import UNLABELLED_CONTROLS


pytestmark = pytest.mark.timeout(120)

PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
NO_SIDEWAYS_SCROLL = "() => document.documentElement.scrollWidth <= window.innerWidth"
#: Elements wider than the window, to say which one broke the layout.
TOO_WIDE = """() => [...document.querySelectorAll('body *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1)
  .slice(0, 5).map(el => el.tagName.toLowerCase() + (el.className ? '.' + String(el.className).split(' ')[0] : ''))"""
FOCUS_VISIBLE = "() => getComputedStyle(document.activeElement).outlineStyle !== 'none'"
LONG_URL = "https://example.com/a/very/long/path/that/should/wrap/rather/than/push/the/page/sideways"
#: Endpoints that are not pages (files, JSON for scripts).
NOT_PAGES = {"dashboard.static", "dashboard.export_contacts", "dashboard.export_smart_list", "dashboard.job_json",
             "dashboard.suggest_contacts"}


def seeded(app, services, receiver) -> dict[str, str]:
    """A dashboard with something on every page; returns a value for each kind of id in a page's URL."""
    api = app.test_client()
    crm = receiver.on("/crm", Reply(200, body=b'{"received": true}'))
    api.put("/v1/profiles/engagement", headers=AUTH, json={
        "name": "Engagement with a rather long name for a phone", "description": "Opens and clicks",
        "rules": [{"id": "click", "on": "email.clicked", "points": 10, "where": {"url": LONG_URL},
                   "limit": {"count": 5, "window": "1d"}, "expires_after": "30d"},
                  {"id": "open", "on": "email.opened", "points": 2, "where": {"machine_open": False},
                   "group": "email-engagement-of-every-kind", "decay": {"percent": 50, "every": "30d"}}],
        "groups": [{"id": "email-engagement-of-every-kind", "max_points": 30,
                    "decay": {"percent": 25, "every": "30d"}}],
        "max_score": 100, "company_rollup": "sum",
        "bands": [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 20}]})
    api.post("/v1/profiles/engagement/publish", headers=AUTH, json={})
    api.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot lead", "trigger": {"type": "score_changed", "profile": "engagement",
                                                     "operator": "gte", "value": 20},
        "steps": [{"type": "add_tag", "tag": "hot-lead"},
                  {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} reached {{ score.new }}"},
                  {"type": "webhook", "name": "Push to CRM", "url": crm, "secret": SECRET}]})
    # an interaction trigger with conditions in rows, steps with "only if", a reset; and a where kept as it is
    api.put("/v1/workflows/demo", headers=AUTH, json={
        "id": "demo", "name": "Demo request", "enabled": False,
        "trigger": {"type": "interaction", "on": "form.submitted",
                    "where": {"form_id": "demo-request-form-with-a-long-id", "plan": {"in": ["pro", "enterprise"]}}},
        "steps": [{"type": "add_tag", "tag": "demo", "when": {"profile": "engagement", "operator": "gte", "value": 5,
                                                               "tags_none": ["customer-of-a-long-time"]}},
                  {"type": "reset_score", "profile": "engagement", "reason": "handed to sales"}]})
    api.put("/v1/workflows/kept", headers=AUTH, json={
        "id": "kept", "name": "Kept conditions", "enabled": False,
        "trigger": {"type": "interaction", "on": "form.submitted", "where": {"tag": {"in": [LONG_URL + ",x", "c"]}}},
        "steps": [{"type": "add_tag", "tag": "kept"}]})
    api.put("/v1/profiles/fit", headers=AUTH, json={"name": "Fit", "kind": "fit", "rules": [
        {"id": "vp", "where": {"job_title_in_the_company_directory": "Vice president of everything"}, "points": 20}]})
    list_id = api.post("/v1/smart-lists", headers=AUTH, json={"name": "Warm", "profile": "engagement", "op": "gte",
                                                             "value": 10}).get_json()["id"]
    settle(services)
    for n in range(3):
        send(api, {"id": f"c{n}", "type": "email.clicked", "contact": {"email": "ann.with.a.long.address@example.com"},
                   "properties": {"url": LONG_URL}})
    store = services.automation
    run_until(services, lambda: (found := store.delivery_ids(0, 1)) and
              store.get_delivery(found[0])["status"] == "succeeded")
    job = api.post("/v1/profiles/engagement/publish", headers=AUTH, json={}).get_json()["job"]["id"]
    settle(services)
    # the evaluation page shows its report tables (live and draft side by side)
    draft = api.get("/v1/profiles/engagement", headers=AUTH).get_json()
    api.put("/v1/profiles/engagement", headers=AUTH, json={
        "name": draft["name"], "rules": [{**rule, "points": rule["points"] + 1} for rule in draft["rules"]],
        "bands": draft["bands"]})
    assert api.post("/v1/profiles/engagement/evaluations", headers=AUTH, json={
        "from": format_timestamp(services.clock.now_ms() - 3_600_000), "of": ["live", "draft"]}).status_code == 202
    settle(services)
    token = invite(services, None, "test", "new.member.with.a.long.address@example.com", "editor")
    return {"profile_id": "engagement", "rule_id": "click", "job_id": job, "workflow_id": "hot", "token": token,
            "contact_id": services.contacts.find_contact(email="ann.with.a.long.address@example.com"),
            "run_id": store.workflow_runs("hot", 0, 1)[0]["id"], "delivery_id": store.delivery_ids(0, 1)[0],
            "list_id": list_id, "company": "example.com"}


def dashboard_pages(app, ids: dict[str, str]) -> list[str]:
    pages = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("dashboard.") or rule.endpoint in NOT_PAGES or "GET" not in rule.methods:
            continue
        missing = set(rule.arguments) - set(ids)
        assert not missing, f"{rule.rule}: give test_every_page a value for {sorted(missing)}"
        pages.append(rule.build({name: ids[name] for name in rule.arguments})[1])
    return sorted(set(pages))


def test_every_page_fits_a_phone_stays_on_this_host_and_starts_with_the_skip_link(
        server, live_app, live_services, browser, receiver, shoot):
    pages = dashboard_pages(live_app, seeded(live_app, live_services, receiver))
    assert len(pages) >= 19
    # the builders with what the URL map's one id per kind does not show: conditions in rows, "only if", a
    # reset step, a kept where, a rule with decay and a group
    pages += ["/dashboard/workflows/demo/edit", "/dashboard/workflows/demo", "/dashboard/workflows/kept/edit",
              "/dashboard/profiles/engagement/rules/open", "/dashboard/profiles/fit", "/dashboard/profiles/fit/rules/vp"]
    context = browser.new_context(**PHONE)
    page = context.new_page()
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    try:
        page.goto(f"{server}/")
        expect(page).to_have_url(re.compile(r"/dashboard/signin"))  # / leads to the dashboard, sign-in first
        assert page.evaluate(NO_SIDEWAYS_SCROLL)
        page.get_by_label("API key").fill(API_KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(re.compile(r"/dashboard/contacts$"))
        for path in pages:
            response = page.goto(f"{server}{path}")
            assert response is not None and response.status == 200, (path, response and response.status)
            if not page.evaluate(NO_SIDEWAYS_SCROLL):
                shoot("390-" + re.sub(r"[^a-z0-9]+", "-", path), page)
                problems.append(f"{path} scrolls sideways: {page.evaluate(TOO_WIDE)}")
            page.evaluate("() => document.querySelectorAll('details:not(.menu)').forEach(d => { d.open = true; })")
            if not page.evaluate(NO_SIDEWAYS_SCROLL):  # opened: "Only if…", Advanced, the ledger's raw ids
                shoot("390-open-" + re.sub(r"[^a-z0-9]+", "-", path), page)
                problems.append(f"{path} with its details open scrolls sideways: {page.evaluate(TOO_WIDE)}")
            if page.evaluate(UNLABELLED_CONTROLS):
                problems.append(f"{path} has unlabelled controls: {page.evaluate(UNLABELLED_CONTROLS)}")
            if page.locator("[autofocus]").count():  # sign-in starts in its one field
                continue
            page.keyboard.press("Tab")
            if not (page.evaluate("() => document.activeElement.textContent") == "Skip to content"
                    and page.evaluate(FOCUS_VISIBLE)):
                problems.append(f"{path}: the first Tab does not show the skip link focused")
    finally:
        context.close()
    assert problems == []
    origin = re.escape(server)
    assert [url for url in requests if not re.match(rf"{origin}/|data:", url)] == []
