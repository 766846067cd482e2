"""Row 8: dashboard pages' server time with the full number of scored contacts."""
from __future__ import annotations

import time
from typing import Any

from . import data
from .report import Row
from .context import API_KEY, AUTH, Context, drain_rate
from .tools import percentiles


DASHBOARD_REQUESTS = 20
#: Below this many contacts (the tiny size, which only checks that each row yields a number), fewer.
DASHBOARD_REQUESTS_TINY = 3


#: Dashboard endpoints that are not pages (files, JSON for scripts, the sign-in forms).
NOT_PAGES = {"dashboard.static", "dashboard.export_contacts", "dashboard.job_json", "dashboard.sign_in",
             "dashboard.sign_in_code", "dashboard.home", "dashboard.suggest_contacts"}


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
    lists = {name: client.post("/v1/smart-lists", json={"name": name, "filter": flt}, headers=AUTH).get_json()["id"]
             for name, flt in (("Warm", score_and_band), ("Active this month", recent))}
    client.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot lead", "trigger": {"type": "score_changed", "profile": p, "operator": "gte",
                                                     "value": 50},
        "steps": [{"type": "add_tag", "tag": "hot-lead"}, {"type": "notify", "channel": "inbox", "message": "hot"}]})
    # an interaction trigger with condition rows, a step that runs "only if", and a reset step
    client.put("/v1/workflows/demo", headers=AUTH, json={
        "id": "demo", "name": "Demo request", "enabled": False,
        "trigger": {"type": "interaction", "on": "form.submitted",
                    "where": {"form_id": "demo", "plan": {"in": ["pro", "team"]}}},
        "steps": [{"type": "add_tag", "tag": "demo", "when": {"profile": p, "operator": "gte", "value": 5,
                                                               "tags_none": ["customer"]}},
                  {"type": "reset_score", "profile": p, "reason": "handed to sales"}]})
    warm = lists["Warm"]
    both = f"c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10&c-1-kind=band&c-1-profile={p}&c-1-value=warm"
    return {
        "contacts, score ≥ 10 and band warm (one index range)": f"/dashboard/contacts?{both}",
        "contacts, score ≥ 10 and not tagged vip":
            f"/dashboard/contacts?c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10"
            "&c-1-kind=tag_has_not&c-1-value=vip",
        "contacts, band hot": f"/dashboard/contacts?c-0-kind=band&c-0-profile={p}&c-0-value=hot",
        "contacts, tagged vip": "/dashboard/contacts?c-0-kind=tag_has&c-0-value=vip",
        "contacts, active in the last 30 days":
            "/dashboard/contacts?c-0-kind=activity_within&c-0-value=30",
        "contacts, no activity in the last 30 days": "/dashboard/contacts?c-0-kind=activity_before&c-0-value=30",
        "contacts, DND on for email": "/dashboard/contacts?c-0-kind=dnd_on&c-0-value=email",
        "smart list tab (Warm)": f"/dashboard/contacts?list={warm}",
        "search, Find without the script": "/dashboard/contacts?q=u12",
        "search suggestions": "/dashboard/contacts/suggest?q=u12",
        "workflow page": "/dashboard/workflows/hot",
        "workflow builder (edit)": "/dashboard/workflows/hot/edit",
        "workflow page, interaction trigger with conditions": "/dashboard/workflows/demo",
        "workflow builder (edit), condition rows and only-if": "/dashboard/workflows/demo/edit",
    }


def models_draft(ctx: Context) -> str:
    """The scoring models' fields in the profile's draft (a group with a cap and a decay, a maximum score, a
    rule that shrinks in the group), so the profile page and the rule builder render them; nothing is
    published (the live scores stay those of the ten rules). Returns the rule's id."""
    with ctx.app.app_context():
        doc = ctx.services.profiles.require(data.PROFILE_ID)
        rules = [dict(r) for r in doc["draft"]["rules"]]
        form = next(r for r in rules if r["id"] == "form")
        form.update(group="sales", decay={"percent": 50, "every": "30d"})
        ctx.services.profiles.put_draft({**doc["draft"], "id": data.PROFILE_ID, "rules": rules, "max_score": 1000,
                                         "groups": [{"id": "sales", "max_points": 60,
                                                     "decay": {"percent": 25, "every": "30d"}}]})
    return "form"


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
            [cid for cid, _ in ctx.services.scores.base.rev_range(data.PROFILE_ID, 1, 0, count=1)])[0]
    with ctx.app.app_context():
        profile = ctx.services.profiles.require(data.PROFILE_ID)
        job = ctx.services.profiles.version_record(data.PROFILE_ID, profile["live_version"]).job
    rule = profile["draft"]["rules"][0]["id"]
    base = f"/dashboard/profiles/{data.PROFILE_ID}"
    console_pages = console_data(ctx, client)
    pages = {
        "profiles": "/dashboard/profiles",
        "profile page (groups, decay and a maximum score in its draft)": base,
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
    models_rule = models_draft(ctx)
    pages.update({
        "rule builder (edit), decay and group": f"{base}/rules/{models_rule}",
        "evaluation": f"{base}/evaluation",
    })
    pages.update(other_dashboard_pages(ctx.app, set(pages.values())))
    requests_per_page = DASHBOARD_REQUESTS if contacts >= 10_000 else DASHBOARD_REQUESTS_TINY
    base_spread = measure(client, BASELINE_URL, requests_per_page, expect=404)
    worst: tuple[str, float] = ("", 0.0)
    notes = [f"baseline, same run: {BASELINE_NAME} ({BASELINE_URL}): p50 {base_spread['p50']:.1f} ms, "
             f"p99 {base_spread['p99']:.1f} ms"]
    for name, url in pages.items():
        spread = measure(client, url, requests_per_page)
        p99 = spread["p99"]
        notes.append(f"{name}: p50 {spread['p50']:.1f} ms, p99 {p99:.1f} ms "
                     f"({p99 / base_spread['p99']:.1f}× the baseline's p99)")
        worst = max(worst, (name, p99), key=lambda w: w[1])
    ctx.say(f"row 8: slowest page {worst[0]}: p99 {worst[1]:.1f} ms; baseline p99 {base_spread['p99']:.1f} ms")
    notes.insert(0, f"{contacts:,} scored contacts; {requests_per_page} requests per page through the Flask "
                    f"app in-process (server time, no network), signed in; {len(pages)} pages")
    return [Row("8", f"dashboard, slowest page ({worst[0]})", worst[1], "ms (p99)", baseline=base_spread["p99"],
                baseline_name=BASELINE_NAME, target="≤ 200 ms", met=worst[1] <= 200, notes=notes)]


#: The baseline of row 8: what every page pays and no page can avoid — the signed-in session check, the
#: layout with its health strip and inbox count, and one key read — measured as a "not found" page.
BASELINE_URL = "/dashboard/workflows/no-such-workflow"
BASELINE_NAME = "the layout alone (a signed-in 'not found' page)"


def measure(client: Any, url: str, requests_per_page: int, expect: int = 200) -> dict[str, float]:
    """p50/p99 in ms of ``requests_per_page`` GETs of ``url`` (after one untimed request: the first request
    of a page compiles its templates once per process)."""
    client.get(url)
    times = []
    for _ in range(requests_per_page):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != expect:
            raise RuntimeError(f"row 8: {url} answered {response.status_code}")
    return percentiles(times)
