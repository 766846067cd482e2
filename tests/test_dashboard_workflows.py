"""The workflow builder without scripts: a workflow made by pointing and clicking, its sentence and warnings,
steps added and reordered, problems shown next to their fields, the enable switch, file-managed workflows,
the test run and a webhook step's test delivery."""
from __future__ import annotations

import re

import pytest

from app.storage.redis_tools import dumps

from .helpers import AUTH
from .dashboard_helpers import contact_id, engaged, post, text
from .workflow_helpers import SECRET, Reply, run_until


TRIGGER = {"name": "Hot lead", "trigger_type": "score_changed", "t_profile": "engagement", "t_operator": "gte",
           "t_value": "50", "t_fire": "on_enter", "t_on": "form.submitted", "tags_all": "", "tags_none": "customer"}


def builder(client, data: dict, url: str = "/dashboard/workflows/new"):
    return post(client, url, data)


def step_types(page: str) -> list[str]:
    return re.findall(r'name="s-\d+-type" value="([a-z_]+)"', page)


def test_a_workflow_is_built_step_by_step_and_saved(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 1))
    page = text(builder(client, {**TRIGGER, "step_rows": "0", "action": "add", "new_step": "add_tag"}))
    assert step_types(page) == ["add_tag"]
    assert "When a contact&#39;s Engagement score becomes at least 50, only for contacts not tagged customer." in page
    page = text(builder(client, {**TRIGGER, "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "hot lead",
                                 "action": "add", "new_step": "notify"}))
    assert step_types(page) == ["add_tag", "notify"]
    assert 'value="hot lead"' in page  # what was typed stays
    resp = builder(client, {**TRIGGER, "enabled": "on", "step_rows": "2", "s-0-type": "add_tag", "s-0-tag": "hot lead",
                            "s-1-type": "notify", "s-1-channel": "inbox", "s-1-message": "{{ contact.email }} is hot",
                            "action": "save"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/workflows/hot-lead"
    config = client.get("/v1/workflows/hot-lead", headers=AUTH).get_json()
    assert {k: config[k] for k in ("id", "name", "enabled", "trigger", "steps")} == {
        "id": "hot-lead", "name": "Hot lead", "enabled": True,
        "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 50, "fire": "on_enter",
                    "reentry": False, "filters": {"tags_all": [], "tags_none": ["customer"]}},
        "steps": [{"type": "add_tag", "tag": "hot lead"},
                  {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} is hot"}]}
    page = text(client.get("/dashboard/workflows/hot-lead"))
    assert "Add the tag “hot lead”" in page and "Notify in the dashboard inbox" in page


def test_steps_are_reordered_and_removed(wf_dash):
    client, _services = wf_dash
    rows = {"step_rows": "3", "s-0-type": "add_tag", "s-0-tag": "a", "s-1-type": "wait", "s-1-wait_n": "2",
            "s-1-wait_unit": "d", "s-2-type": "remove_tag", "s-2-tag": "b"}
    assert step_types(text(builder(client, {**TRIGGER, **rows, "action": "up:1"}))) == ["wait", "add_tag", "remove_tag"]
    assert step_types(text(builder(client, {**TRIGGER, **rows, "action": "down:1"}))) == ["add_tag", "remove_tag", "wait"]
    page = text(builder(client, {**TRIGGER, **rows, "action": "remove:0"}))
    assert step_types(page) == ["wait", "remove_tag"] and "Wait 2 days" in page


def test_problems_are_shown_next_to_their_fields_and_nothing_is_saved(wf_dash):
    client, _services = wf_dash
    resp = builder(client, {**TRIGGER, "name": "", "t_value": "", "step_rows": "2", "s-0-type": "add_tag",
                            "s-0-tag": "", "s-1-type": "webhook", "s-1-url": "ftp://x", "s-1-secret": "nope",
                            "action": "save"})
    assert resp.status_code == 400
    page = text(resp)
    for control in ("name", "t_value", "s-0-tag", "s-1-url", "s-1-secret"):
        assert f'id="{control}-error"' in page, control
    assert client.get("/v1/workflows", headers=AUTH).get_json()["items"] == []


@pytest.mark.parametrize("operator, value, warning", [
    pytest.param("lt", "10", "fires for every contact the first time they are scored", id="less-than"),
    pytest.param("empty", "", "fires for every contact when the profile is unpublished", id="empty"),
])
def test_traps_are_warned_about_before_saving(wf_dash, operator, value, warning):
    client, _services = wf_dash
    page = text(builder(client, {**TRIGGER, "t_operator": operator, "t_value": value, "step_rows": "0",
                                 "action": "preview"}))
    assert warning in page


def test_the_enable_switch_turns_a_workflow_on_and_off(wf_dash):
    client, _services = wf_dash
    builder(client, {**TRIGGER, "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "x", "action": "save"})
    assert client.get("/v1/workflows/hot-lead", headers=AUTH).get_json()["enabled"] is False
    post(client, "/dashboard/workflows/hot-lead/enabled", {"enabled": "1", "next": "list"})
    assert client.get("/v1/workflows/hot-lead", headers=AUTH).get_json()["enabled"] is True
    assert 'aria-checked="true"' in text(client.get("/dashboard/workflows"))
    post(client, "/dashboard/workflows/hot-lead/enabled", {"enabled": "0"})
    assert client.get("/v1/workflows/hot-lead", headers=AUTH).get_json()["enabled"] is False


def test_a_file_managed_workflow_is_read_only_with_an_editable_copy(wf_dash):
    client, services = wf_dash
    config = {"id": "hot", "name": "Hot", "enabled": True, "trigger": {"type": "interaction", "on": "form.submitted"},
              "steps": [{"type": "add_tag", "tag": "x"}]}
    services.redis.hset(services.keys.workflows(), "hot", dumps(
        {"config": config, "source": "file", "updated_at": 0, "managed_by": "file", "file": "hot.json"}))
    page = text(client.get("/dashboard/workflows/hot"))
    assert "from file workflows/hot.json" in page and "Make an editable copy" in page
    assert client.get("/dashboard/workflows/hot/edit").status_code == 409
    assert post(client, "/dashboard/workflows/hot/enabled", {"enabled": "0"}).status_code == 409
    resp = post(client, "/dashboard/workflows/hot/copy")
    assert resp.headers["Location"] == "/dashboard/workflows/hot-copy/edit"
    copy = services.automation.workflow_doc("hot-copy")
    assert copy["config"]["name"] == "Hot (copy)" and copy["config"]["enabled"] is False
    assert copy["managed_by"] == "dashboard"
    assert client.get("/dashboard/workflows/hot-copy/edit").status_code == 200


def test_a_test_run_says_what_each_step_would_do_and_changes_nothing(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 3))
    ann = contact_id(services, "ann@example.com")
    client.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot", "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte",
                                                "value": 20},
        "steps": [{"type": "add_tag", "tag": "hot lead"},
                  {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} has {{ score.current }}"},
                  {"type": "wait", "duration": "2d"},
                  {"type": "adjust_score", "profile": "engagement", "add": -5}]})
    page = text(post(client, "/dashboard/workflows/hot/test-run", {"contact": "ann@"}))
    assert "It would fire now" in page and "the contact has a score of 30" in page
    assert "would add “hot lead”" in page
    assert "ann@example.com has 30" in page
    assert "Wait 2 days" in page and "would change the score from 30 to 25" in page
    assert services.contacts.get_contact(ann)["tags"] == []
    assert services.automation.notifications(0, 10) == []


def test_send_test_shows_the_receivers_status_code(wf_dash, receiver):
    client, _services = wf_dash
    url = receiver.on("/crm", Reply(202))
    rows = {"step_rows": "1", "s-0-type": "webhook", "s-0-url": url, "s-0-secret": SECRET,
            "s-0-headers": "X-Team: growth"}
    page = text(builder(client, {**TRIGGER, **rows, "action": "test:0"}))
    assert "The receiver answered <strong>202</strong>" in page
    [hit] = receiver.hits("/crm")
    headers = {k.lower(): v for k, v in hit.headers.items()}
    assert hit.verified and headers["x-team"] == "growth"


def test_send_test_goes_through_the_ssrf_guard(wf_dash):
    client, _services = wf_dash
    rows = {"step_rows": "1", "s-0-type": "webhook", "s-0-url": "http://10.0.0.1/hook", "s-0-secret": SECRET}
    page = text(builder(client, {**TRIGGER, **rows, "action": "test:0"}))
    assert "Not sent: refused" in page


# --- the inbox, and people named on every page --------------------------------------------------------
def notify(services, n: int, contact: str) -> None:
    services.automation.push_notification({
        "id": f"run{n}:1", "run_id": f"run{n}", "workflow": {"id": "hot", "name": "Hot lead"}, "contact_id": contact,
        "to": None, "message": f"message {n}", "at": 1_000 + n})


def menu_count(page: str) -> str | None:
    found = re.search(r'Inbox <span class="nav-count">(\d+)</span><span class="visually-hidden"> unread</span>', page)
    return found.group(1) if found else None


def test_the_inbox_counts_unread_notifications_and_marks_them_read(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 1))
    ann = contact_id(services, "ann@example.com")
    for n in range(3):
        notify(services, n, ann)
    page = text(client.get("/dashboard/contacts"))
    assert menu_count(page) == "3"
    inbox = text(client.get("/dashboard/notifications"))
    assert inbox.count('<span class="badge unread">New</span>') == 3
    assert f'<a href="/dashboard/contacts/{ann}">ann@example.com</a>' in inbox
    post(client, "/dashboard/notifications/read", {"id": "run1:1"})
    post(client, "/dashboard/notifications/read", {"id": "run1:1"})  # twice: still one less
    assert menu_count(text(client.get("/dashboard/notifications"))) == "2"
    post(client, "/dashboard/notifications/read", {"all": "1"})
    page = text(client.get("/dashboard/notifications"))
    assert menu_count(page) is None and "New</span>" not in page
    notify(services, 9, ann)
    assert menu_count(text(client.get("/dashboard/notifications"))) == "1"


def test_runs_and_deliveries_name_the_contact_and_the_profile(wf_dash, receiver):
    client, services = wf_dash
    url = receiver.on("/crm", Reply(200))
    client.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot", "trigger": {"type": "score_changed", "profile": "engagement", "operator": "gte",
                                                "value": 10},
        "steps": [{"type": "webhook", "url": url, "secret": SECRET}]})
    engaged(client, services, ("ann@example.com", 1))
    store = services.automation

    run_until(services, lambda: (ids := store.delivery_ids(0, 1)) and store.get_delivery(ids[0])["status"] == "succeeded")
    ann = contact_id(services, "ann@example.com")
    link = f'<a href="/dashboard/contacts/{ann}">ann@example.com</a>'
    assert link in text(client.get("/dashboard/deliveries"))
    workflow_page = text(client.get("/dashboard/workflows/hot"))
    assert link in workflow_page
    run_url = re.search(r'href="(/dashboard/runs/[^"]+)"', workflow_page).group(1)
    run_page = text(client.get(run_url))
    assert link in run_page and "Engagement score" in run_page
