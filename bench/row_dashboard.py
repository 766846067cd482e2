"""Row 8: dashboard pages' server time with the full number of scored contacts."""
from __future__ import annotations

import time
from dataclasses import field
from typing import Any

import requests

from . import data
from .report import Row
from .context import API_KEY, AUTH, Context, drain_rate, publish
from .tools import percentiles


DASHBOARD_REQUESTS = 20
#: Below this many contacts (the tiny size, which only checks that each row yields a number), fewer.
DASHBOARD_REQUESTS_TINY = 3


#: Dashboard endpoints that are not pages (files, JSON for scripts, the sign-in form).
NOT_PAGES = {"dashboard.static", "dashboard.export_contacts", "dashboard.job_json", "dashboard.sign_in",
             "dashboard.home", "dashboard.suggest_contacts"}


def other_dashboard_pages(app: Any, known: set[str]) -> dict[str, str]:
    """Every other dashboard page without arguments in its path, so a new page is measured as well."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") and rule.endpoint not in NOT_PAGES and "GET" in rule.methods \
                and not rule.arguments and rule.rule not in known:
            found[rule.rule.removeprefix("/dashboard/")] = rule.rule
    return found


def console_data(ctx: Context, client: Any) -> dict[str, str]:
    """Two smart lists (shown as tabs with live counts on the contacts page), a workflow, and the contacts
    and workflow pages that need them: the filter builder's cheapest and dearest shapes."""
    p = data.PROFILE_ID
    score_and_band = {"conditions": [{"field": "score", "profile": p, "op": "gte", "value": 10},
                                     {"field": "band", "profile": p, "band": "warm"}]}
    recent = {"conditions": [{"field": "activity", "op": "within", "days": 30}]}
    for name, flt in (("Warm", score_and_band), ("Active this month", recent)):
        client.post("/v1/smart-lists", json={"name": name, "filter": flt}, headers=AUTH)
    client.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot lead", "trigger": {"type": "score_changed", "profile": p, "operator": "gte",
                                                     "value": 50},
        "steps": [{"type": "add_tag", "tag": "hot-lead"}, {"type": "notify", "channel": "inbox", "message": "hot"}]})
    both = f"c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10&c-1-kind=band&c-1-profile={p}&c-1-value=warm"
    return {
        "contacts, score ≥ 10 and band warm (one index range)": f"/dashboard/contacts?{both}",
        "contacts, score ≥ 10 and not tagged vip (walks the range)":
            f"/dashboard/contacts?c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10"
            "&c-1-kind=tag_has_not&c-1-value=vip",
        "search suggestions": "/dashboard/contacts/suggest?q=u12",
        "workflow page": "/dashboard/workflows/hot",
        "workflow builder (edit)": "/dashboard/workflows/hot/edit",
    }


def rows_dashboard(ctx: Context) -> list[Row]:
    """Server time of each dashboard page (in-process, signed in) with row 1's number of contacts."""
    contacts = ctx.size.contacts
    ctx.fresh()
    with ctx.app.app_context():
        loaded = data.load(ctx.services, data.interactions(contacts, contacts * 3))
    drain_rate(ctx, ctx.app, loaded, 1, ctx.worker_env())
    client = ctx.app.test_client()
    client.get("/dashboard/signin")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    client.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": csrf})
    with ctx.app.app_context():
        top = ctx.services.contacts.get_contacts(
            [cid for cid, _ in ctx.services.redis.zrevrange(
                ctx.services.scores.score_indexes(data.PROFILE_ID, 1)[0], 0, 0, withscores=True)])[0]
    with ctx.app.app_context():
        profile = ctx.services.profiles.require(data.PROFILE_ID)
        job = ctx.services.profiles.version_record(data.PROFILE_ID, profile["live_version"]).job
    rule = profile["draft"]["rules"][0]["id"]
    base = f"/dashboard/profiles/{data.PROFILE_ID}"
    console_pages = console_data(ctx, client)
    pages = {
        "profiles": "/dashboard/profiles",
        "profile page": base,
        "contacts (default)": "/dashboard/contacts",
        "contacts, score ≥ 10": f"/dashboard/contacts?profile={data.PROFILE_ID}&op=gte&value=10",
        "contact page": f"/dashboard/contacts/{top['id']}",
        "smart lists": "/dashboard/smart-lists",
        "workflows": "/dashboard/workflows",
        "deliveries": "/dashboard/deliveries",
        "inbox": "/dashboard/notifications",
        "new profile": "/dashboard/profiles/new",
        "rule builder (new)": f"{base}/rules/new",
        "rule builder (edit)": f"{base}/rules/{rule}",
        "versions": f"{base}/versions",
        "publish summary": f"/dashboard/jobs/{job}",
        "delete confirmation": f"{base}/delete",
    }
    pages.update(console_pages)
    pages.update(other_dashboard_pages(ctx.app, set(pages.values())))
    worst: tuple[str, float] = ("", 0.0)
    notes = []
    requests_per_page = DASHBOARD_REQUESTS if contacts >= 10_000 else DASHBOARD_REQUESTS_TINY
    for name, url in pages.items():
        client.get(url)  # not timed: the first request of a page compiles its templates once per process
        times = []
        for _ in range(requests_per_page):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"row 8: {url} answered {response.status_code}")
        spread = percentiles(times)
        p99 = spread["p99"]
        notes.append(f"{name}: p50 {spread['p50']:.1f} ms, p99 {p99:.1f} ms")
        worst = max(worst, (name, p99), key=lambda w: w[1])
    ctx.say(f"row 8: slowest page {worst[0]}: p99 {worst[1]:.1f} ms")
    notes.insert(0, f"{contacts:,} scored contacts; {requests_per_page} requests per page through the Flask "
                    "app in-process (server time, no network), signed in")
    return [Row("8", f"dashboard, slowest page ({worst[0]})", worst[1], "ms (p99)", target="≤ 200 ms",
                met=worst[1] <= 200, notes=notes)]
