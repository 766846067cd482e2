"""The dashboard over HTTP (Flask's test client): sign-in, CSRF, every page, forms and their messages."""
from __future__ import annotations

import csv
import io
import re

import pytest

from app.dashboard.secret import session_secret

from .dashboard_helpers import BANDS, RULES, contact_id, csrf_of, engaged, post, sign_in, text
from .helpers import API_KEY, AUTH, publish, put_profile, send, settle
from .workflow_helpers import SECRET, Reply, run_until, workflow


# --- sign-in, session, CSRF -------------------------------------------------------------------
@pytest.mark.parametrize("path", [
    pytest.param("/dashboard/contacts", id="contacts"),
    pytest.param("/dashboard/profiles", id="profiles"),
    pytest.param("/dashboard/profiles/new", id="new-profile"),
    pytest.param("/dashboard/smart-lists", id="smart-lists"),
    pytest.param("/dashboard/workflows", id="workflows"),
    pytest.param("/dashboard/deliveries", id="deliveries"),
    pytest.param("/dashboard/notifications", id="inbox"),
    pytest.param("/dashboard/contacts/c123", id="contact"),
    pytest.param("/dashboard/contacts.csv", id="csv"),
])
def test_every_page_needs_sign_in(client, path):
    resp = client.get(path)
    assert resp.status_code == 303
    assert resp.headers["Location"].startswith("/dashboard/signin?next=")


def test_job_progress_json_needs_sign_in(client):
    assert client.get("/dashboard/jobs/publish-x-1-abc.json").status_code == 401


def test_a_wrong_key_is_refused_with_a_message(client):
    resp = sign_in(client, "wrong")
    assert resp.status_code == 401
    assert "That API key is not valid." in text(resp)
    assert client.get("/dashboard/contacts").status_code == 303


def test_sign_in_returns_to_the_page_asked_for_but_never_off_site(client):
    client.get("/dashboard/signin")
    resp = client.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": csrf_of(client),
                                                   "next": "/dashboard/workflows"})
    assert resp.headers["Location"] == "/dashboard/workflows"
    client.post("/dashboard/signout", data={"csrf_token": csrf_of(client)})
    client.get("/dashboard/signin")
    resp = client.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": csrf_of(client),
                                                   "next": "//evil.example/dashboard"})
    assert resp.headers["Location"] == "/dashboard/contacts"


def test_the_session_keeps_no_api_key(dash):
    with dash.session_transaction() as session:
        assert API_KEY not in str(dict(session))


def test_sign_out_ends_the_session(dash):
    assert post(dash, "/dashboard/signout").status_code == 302
    assert dash.get("/dashboard/contacts").status_code == 303


def test_removing_the_key_ends_its_sessions(make_app):
    app = make_app(API_KEYS="old-key,other", SECRET_KEY="fixed")
    client = app.test_client()
    assert sign_in(client, "old-key").status_code == 302
    app.config["API_KEYS"] = "other"
    assert client.get("/dashboard/contacts").status_code == 303


def test_without_secret_key_the_session_secret_is_derived_from_the_api_keys(make_app):
    app = make_app()
    assert app.secret_key == session_secret({"API_KEYS": API_KEY})
    assert app.secret_key != session_secret({"API_KEYS": "another-key"})


@pytest.mark.parametrize("token", [pytest.param(None, id="missing"), pytest.param("forged", id="wrong")])
def test_a_form_without_the_sessions_csrf_token_is_refused(dash, services, token):
    data = {"name": "X", "rules_rows": "0", "bands_rows": "0", "id": "x"}
    if token:
        data["csrf_token"] = token
    resp = dash.post("/dashboard/profiles/new", data=data)
    assert resp.status_code == 400
    assert "Reload the page" in text(resp)
    assert services.redis.hget(services.keys.profiles(), "x") is None


def test_sign_in_itself_needs_the_csrf_token(client):
    client.get("/dashboard/signin")
    assert client.post("/dashboard/signin", data={"api_key": API_KEY}).status_code == 400


def test_repeated_wrong_keys_are_throttled_even_for_the_right_key(client, services):
    from app.dashboard.defaults import SIGNIN_FAILURES_MAX

    for _ in range(SIGNIN_FAILURES_MAX):
        assert sign_in(client, "wrong-key").status_code == 401
    assert sign_in(client, "wrong-key").status_code == 429
    assert sign_in(client).status_code == 429  # guessing stops here, whatever the guess
    (key,) = list(services.redis.scan_iter("sk:signin-failures:*"))
    assert 0 < services.redis.ttl(key) <= 60
    services.redis.delete(key)  # the window passed
    assert sign_in(client).status_code == 302


def test_pages_carry_security_headers(dash):
    resp = dash.get("/dashboard/contacts")
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Cache-Control"] == "no-store"


def test_static_files_are_served_locally(client):
    for name in ("dashboard.css", "dashboard.js"):
        resp = client.get(f"/dashboard/static/{name}")
        assert resp.status_code == 200
        resp.close()


def test_no_page_loads_anything_from_another_origin(dash, services):
    engaged(dash, services, ("ann@example.com", 1))
    for path in ("/dashboard/contacts", "/dashboard/profiles/engagement",
                 f"/dashboard/contacts/{contact_id(services, 'ann@example.com')}"):
        assert not re.search(r'(src|href)="(https?:)?//', text(dash.get(path))), path


# --- health strip -----------------------------------------------------------------------------
def test_the_health_strip_shows_redis_queue_and_lag(dash, services):
    send(dash, {"id": "1", "type": "email.opened", "contact": {"email": "ann@example.com"}})
    page = text(dash.get("/dashboard/profiles"))
    assert "Redis up" in page
    assert re.search(r"Unscored <strong>1</strong>", page)
    assert "Scoring lag" in page


# --- contacts ---------------------------------------------------------------------------------
def emails_in(page: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/dashboard/contacts/[^"]+">([^<]+@example.com)</a>', page)


def test_contacts_are_sorted_by_score_with_their_band(dash, services):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3), ("cy@example.com", 2))
    page = text(dash.get("/dashboard/contacts"))
    assert emails_in(page) == ["bob@example.com", "cy@example.com", "ann@example.com"]
    assert '<span class="band">hot</span>' in page


@pytest.mark.parametrize("op, value, expected", [
    pytest.param("eq", "20", ["cy"], id="eq"),
    pytest.param("ne", "20", ["bob", "ann", "dee"], id="ne"),
    pytest.param("gt", "10", ["bob", "cy"], id="gt"),
    pytest.param("gte", "20", ["bob", "cy"], id="gte"),
    pytest.param("lt", "20", ["ann", "dee"], id="lt"),
    pytest.param("lte", "20", ["cy", "ann", "dee"], id="lte"),
    pytest.param("empty", "", [], id="empty"),
    pytest.param("not_empty", "", ["bob", "cy", "ann", "dee"], id="not_empty"),
])
def test_every_operator_filters(dash, services, op, value, expected):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3), ("cy@example.com", 2))
    send(dash, {"id": "d", "type": "custom.visit", "contact": {"email": "dee@example.com"}})  # scores 0
    settle(services)
    page = text(dash.get("/dashboard/contacts", query_string={"profile": "engagement", "op": op, "value": value}))
    assert emails_in(page) == [f"{name}@example.com" for name in expected]


def test_empty_finds_contacts_without_a_score(dash, services):
    engaged(dash, services, ("ann@example.com", 1))
    put_profile(dash, "fit", RULES)  # never published: nobody has a fit score
    page = text(dash.get("/dashboard/contacts", query_string={"profile": "fit", "op": "empty"}))
    assert emails_in(page) == ["ann@example.com"]


def test_tag_filters(dash, services):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3))
    services.contacts.change_tags(contact_id(services, "ann@example.com"), ["vip"])
    assert emails_in(text(dash.get("/dashboard/contacts?tag=vip"))) == ["ann@example.com"]
    assert emails_in(text(dash.get("/dashboard/contacts?without_tag=vip"))) == ["bob@example.com"]


def test_a_bad_filter_gets_a_message_next_to_its_field(dash, services):
    engaged(dash, services, ("ann@example.com", 1))
    resp = dash.get("/dashboard/contacts", query_string={"profile": "engagement", "op": "gt", "value": "x"})
    assert resp.status_code == 400
    assert '<p class="error" id="c-0-value-error">a number</p>' in text(resp)
    resp = dash.get("/dashboard/contacts", query_string={"profile": "engagement", "op": "gt"})
    assert '<p class="error" id="c-0-value-error">required with op=gt</p>' in text(resp)


def test_contacts_are_paginated(dash, services, monkeypatch):
    monkeypatch.setattr("app.dashboard.contacts.PAGE_SIZE", 2)
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3), ("cy@example.com", 2))
    first = text(dash.get("/dashboard/contacts"))
    assert emails_in(first) == ["bob@example.com", "cy@example.com"]
    assert "1–2 of 3" in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = text(dash.get(next_url))
    assert emails_in(second) == ["ann@example.com"]
    assert 'rel="prev"' in second


def test_a_contacts_ledger_is_paged_with_the_shared_table_footer(dash, services, monkeypatch):
    monkeypatch.setattr("app.dashboard.contacts.PAGE_SIZE", 2)
    engaged(dash, services, ("ann@example.com", 3))
    first = text(dash.get(f"/dashboard/contacts/{contact_id(services, 'ann@example.com')}"))
    assert 'aria-label="Ledger pages"' in first and "← Newer" not in first
    older = re.search(r'href="([^"]+)" rel="next">Older →', first).group(1).replace("&amp;", "&")
    assert "ledger_cursor=2" in older and "profile=engagement" in older
    second = text(dash.get(older))
    assert re.search(r'rel="prev">← Newer', second) and "Older →" not in second


def test_search_opens_the_contact(dash, services):
    engaged(dash, services, ("ann@example.com", 1))
    resp = dash.get("/dashboard/contacts?q=Ann@Example.com")
    assert resp.headers["Location"] == f"/dashboard/contacts/{contact_id(services, 'ann@example.com')}"


def test_csv_export_of_the_filter(dash, services):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3), ("=cmd@example.com", 2))
    resp = dash.get("/dashboard/contacts.csv", query_string={"profile": "engagement", "op": "gte", "value": "20"})
    assert resp.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(text(resp))))
    assert rows[0] == ["id", "email", "external_id", "score", "band", "tags"]
    assert [(r[1], r[3], r[4]) for r in rows[1:]] == [("bob@example.com", "30", "hot"),
                                                      ("'=cmd@example.com", "20", "warm")]


def test_save_as_smart_list_then_open_and_export_it(dash, services):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3))
    resp = post(dash, "/dashboard/smart-lists", {"name": "Hot leads", "order_by": "engagement",
                                                 "c-0-kind": "score", "c-0-profile": "engagement",
                                                 "c-0-op": "gte", "c-0-value": "30"})
    assert resp.status_code == 303
    [saved] = dash.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    assert saved["name"] == "Hot leads" and saved["count"] == 1
    assert saved["filter"] == {"conditions": [{"field": "score", "profile": "engagement", "op": "gte", "value": 30}],
                               "order_by": "engagement"}
    page = text(dash.get(resp.headers["Location"]))
    assert emails_in(page) == ["bob@example.com"]
    assert 'aria-current="page">Hot leads <span class="count"' in page
    lists = text(dash.get("/dashboard/smart-lists"))
    assert "Hot leads" in lists and "Engagement score is at least 30" in lists
    rows = list(csv.reader(io.StringIO(text(dash.get(f"/dashboard/smart-lists/{saved['id']}/export.csv")))))
    assert [r[1] for r in rows[1:]] == ["bob@example.com"]


def test_a_smart_list_can_be_renamed_and_its_filter_changed(dash, services):
    engaged(dash, services, ("ann@example.com", 1), ("bob@example.com", 3))
    list_id = dash.post("/v1/smart-lists", headers=AUTH, json={"name": "Hot", "filter": {"conditions": [
        {"field": "score", "profile": "engagement", "op": "gte", "value": 30}]}}).get_json()["id"]
    resp = post(dash, f"/dashboard/smart-lists/{list_id}", {"name": "Warm", "c-0-kind": "score",
                                                           "c-0-profile": "engagement", "c-0-op": "gte",
                                                           "c-0-value": "10"})
    assert resp.headers["Location"] == f"/dashboard/contacts?list={list_id}"
    saved = dash.get(f"/v1/smart-lists/{list_id}", headers=AUTH).get_json()
    assert saved["name"] == "Warm" and saved["filter"]["conditions"][0]["value"] == 10
    assert emails_in(text(dash.get(resp.headers["Location"]))) == ["bob@example.com", "ann@example.com"]


def test_a_smart_list_needs_a_name(dash, services):
    engaged(dash, services, ("ann@example.com", 1))
    resp = post(dash, "/dashboard/smart-lists", {"name": "", "profile": "engagement"}, follow_redirects=True)
    assert "Not saved: name:" in text(resp)
    assert dash.get("/v1/smart-lists", headers=AUTH).get_json()["items"] == []


def test_a_smart_list_can_be_deleted(dash, services):
    resp = dash.post("/v1/smart-lists", json={"name": "All"}, headers=AUTH)
    list_id = resp.get_json()["id"]
    post(dash, f"/dashboard/smart-lists/{list_id}/delete")
    assert dash.get("/v1/smart-lists", headers=AUTH).get_json()["items"] == []


# --- one contact ------------------------------------------------------------------------------
@pytest.fixture
def ann(dash, services) -> str:
    engaged(dash, services, ("ann@example.com", 3))
    return contact_id(services, "ann@example.com")


def test_the_contact_page_shows_score_band_chart_and_ledger(dash, ann):
    page = text(dash.get(f"/dashboard/contacts/{ann}"))
    assert re.search(r'data-testid="score-engagement">30<', page)
    assert '<span class="band">hot</span>' in page
    assert '<svg viewBox="0 0 640 220" role="img"' in page
    assert page.count('class="point"') == 3
    assert "Score from 0 to 30 over 3 changes" in page
    assert page.count("<td>matched</td>") == 3


def test_a_manual_change_is_applied_and_explained(dash, ann):
    resp = post(dash, f"/dashboard/contacts/{ann}/score", {"profile": "engagement", "op": "add", "value": "-5",
                                                            "reason": "called, not interested"})
    assert resp.status_code == 303
    page = text(dash.get(resp.headers["Location"]))
    assert "Engagement score of ann@example.com is now 25." in page
    assert re.search(r'data-testid="score-engagement">25<', page)
    assert "called, not interested" in page
    post(dash, f"/dashboard/contacts/{ann}/score", {"profile": "engagement", "op": "set", "value": "80",
                                                     "reason": "demo booked"})
    assert re.search(r'data-testid="score-engagement">80<', text(dash.get(f"/dashboard/contacts/{ann}")))


@pytest.mark.parametrize("data, field, message", [
    pytest.param({"value": "5", "reason": ""}, "reason", "Length must be between 1 and 500.", id="no-reason"),
    pytest.param({"value": "", "reason": "x"}, "value", "give exactly one", id="no-value"),
    pytest.param({"value": "many", "reason": "x"}, "value", "Not a valid integer.", id="not-a-number"),
    pytest.param({"op": "set", "value": "-1", "reason": "x"}, "value", "greater than or equal to 0", id="negative"),
    pytest.param({"profile": "nope", "value": "1", "reason": "x"}, "profile", "choose a published", id="profile"),
])
def test_manual_change_validation(dash, ann, data, field, message):
    resp = post(dash, f"/dashboard/contacts/{ann}/score", {"profile": "engagement", "op": "add", **data})
    assert resp.status_code == 400
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', text(resp))
    assert match and message in match.group(1), text(resp)
    assert re.search(r'data-testid="score-engagement">30<', text(resp))


def test_tags_are_added_and_removed(dash, services, ann):
    post(dash, f"/dashboard/contacts/{ann}/tags", {"add": "vip, newsletter"})
    assert services.contacts.get_contact(ann)["tags"] == ["newsletter", "vip"]
    post(dash, f"/dashboard/contacts/{ann}/tags", {"remove": "vip"})
    assert services.contacts.get_contact(ann)["tags"] == ["newsletter"]
    assert emails_in(text(dash.get("/dashboard/contacts?tag=newsletter"))) == ["ann@example.com"]


def test_dnd_is_switched_per_channel_and_recorded(dash, services, ann):
    resp = post(dash, f"/dashboard/contacts/{ann}/dnd", {"channel": ["email", "sms"], "dnd-sms": "on"})
    assert resp.status_code == 303
    assert services.contacts.get_contact(ann)["dnd"] == {"email": False, "sms": True}
    settle(services)
    timeline = services.timelines.read_timelines([ann])[ann]
    assert [(r.properties["channels"], r.properties["all_channels"]) for r in timeline
            if r.type == "contact.dnd_updated"] == [
        ({"email": False, "sms": True}, False)]
    assert 'id="dnd-sms" name="dnd-sms" checked' in text(dash.get(f"/dashboard/contacts/{ann}"))


def test_an_unknown_contact_is_a_404_page(dash):
    assert dash.get("/dashboard/contacts/nope").status_code == 404


# --- workflows, runs, deliveries, inbox -------------------------------------------------------
def hot_workflow(url: str) -> dict:
    return workflow("hot", [{"type": "add_tag", "tag": "hot-lead"},
                            {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} is hot"},
                            {"type": "webhook", "url": url, "secret": SECRET}], value=20)


def test_workflow_run_delivery_and_inbox_pages(wf_dash, receiver):
    client, services = wf_dash
    url = receiver.on("/crm", Reply(200, body=b"thanks"))
    assert client.put("/v1/workflows/hot", json=hot_workflow(url), headers=AUTH).status_code == 201
    engaged(client, services, ("ann@example.com", 2))
    store = services.automation
    run_until(services, lambda: store.get_deliveries(store.delivery_ids(0, 1))[0]["status"] == "succeeded")

    listing = text(client.get("/dashboard/workflows"))
    assert 'aria-checked="true"' in listing
    assert "When a contact&#39;s Engagement score becomes at least 20. Each contact runs it once at most." in listing
    page = text(client.get("/dashboard/workflows/hot"))
    assert page.count('<span class="badge s-succeeded">succeeded</span>') == 4  # the run and its 3 steps
    run_url = re.search(r'href="(/dashboard/runs/[^"]+)"', page).group(1)
    run_page = text(client.get(run_url))
    assert "Engagement score 10 → 20" in run_page
    delivery_url = re.search(r'href="(/dashboard/deliveries/msg_[^"]+)"', run_page).group(1)
    delivery = text(client.get(delivery_url))
    assert "HTTP 200" in delivery and "thanks" in delivery
    assert SECRET not in delivery
    assert "ann@example.com is hot" in text(client.get("/dashboard/notifications"))
    assert delivery_url in text(client.get("/dashboard/deliveries"))


def test_a_dead_letter_is_listed_and_redelivered(wf_dash, receiver):
    client, services = wf_dash
    url = receiver.on("/crm", Reply(400, body=b"bad"), Reply(200))
    client.put("/v1/workflows/hot", json=workflow("hot", [{"type": "webhook", "url": url, "secret": SECRET}]),
               headers=AUTH)
    engaged(client, services, ("ann@example.com", 1))
    store = services.automation
    run_until(services, lambda: store.delivery_ids(0, 1, dead_only=True))
    [delivery_id] = store.delivery_ids(0, 1, dead_only=True)
    assert delivery_id in text(client.get("/dashboard/deliveries?status=dead"))
    resp = post(client, f"/dashboard/deliveries/{delivery_id}/redeliver")
    assert resp.status_code == 303
    run_until(services, lambda: store.get_delivery(delivery_id)["status"] == "succeeded")
    page = text(client.get(f"/dashboard/deliveries/{delivery_id}"))
    assert "HTTP 400" in page and "HTTP 200" in page and "redelivery 1" in page
    assert "No dead letters." in text(client.get("/dashboard/deliveries?status=dead"))


def test_workflow_config_is_validated_with_each_problem_named(wf_dash):
    client, _services = wf_dash
    client.put("/v1/workflows/hot", json=workflow("hot", [{"type": "add_tag", "tag": "x"}]), headers=AUTH)
    bad = '{"id": "hot", "name": "Hot", "trigger": {"type": "score_changed", "profile": "engagement", ' \
          '"operator": "above", "value": 3}, "steps": [{"type": "add_tag"}]}'
    resp = post(client, "/dashboard/workflows/hot", {"config": bad, "action": "save"})
    assert resp.status_code == 400
    page = text(resp)
    assert "trigger.operator: Must be one of" in page
    assert "steps[0].tag: Missing data for required field." in page
    resp = post(client, "/dashboard/workflows/hot", {"config": "{oops", "action": "validate"})
    assert "invalid JSON at line 1" in text(resp)
    assert client.get("/v1/workflows/hot", headers=AUTH).get_json()["trigger"]["operator"] == "gte"


def test_a_valid_workflow_config_is_saved(wf_dash):
    client, _services = wf_dash
    client.put("/v1/workflows/hot", json=workflow("hot", [{"type": "add_tag", "tag": "x"}]), headers=AUTH)
    doc = workflow("hot", [{"type": "add_tag", "tag": "y"}])
    import json
    resp = post(client, "/dashboard/workflows/hot", {"config": json.dumps(doc), "action": "validate"})
    assert "The configuration is valid." in text(resp)
    assert client.get("/v1/workflows/hot", headers=AUTH).get_json()["steps"][0]["tag"] == "x"
    post(client, "/dashboard/workflows/hot", {"config": json.dumps(doc), "action": "save"})
    stored = client.get("/v1/workflows/hot", headers=AUTH).get_json()
    assert (stored["steps"][0]["tag"], stored["source"]) == ("y", "dashboard")


def test_the_contact_page_says_what_happened_in_words(dash, services):
    put_profile(dash, "engagement", RULES, BANDS)
    publish(dash, services, "engagement")
    send(dash, {"id": "o1", "type": "email.opened", "contact": {"email": "ann@example.com"},
                "occurred_at": "2026-01-02T03:04:05Z", "properties": {"subject": "Spring sale"}})
    settle(services)
    ann = contact_id(services, "ann@example.com")
    page = text(dash.get(f"/dashboard/contacts/{ann}"))
    assert "<dt>First seen</dt><dd>2026-01-02 03:04:05 UTC</dd>" in page  # the first interaction, not the import
    assert "<summary>Opened email <em>Spring sale</em></summary>" in page
    assert "<code>api:o1</code>" in page  # the raw ids, one click away


def test_tags_may_contain_spaces(dash, services, ann):
    post(dash, f"/dashboard/contacts/{ann}/tags", {"add": "big spender, vip"})
    assert services.contacts.get_contact(ann)["tags"] == ["big spender", "vip"]
    assert emails_in(text(dash.get("/dashboard/contacts", query_string={
        "c-0-kind": "tag_has", "c-0-value": "big spender", "order_by": ""}))) == ["ann@example.com"]
