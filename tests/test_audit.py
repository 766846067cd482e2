"""The audit trail: every audited action writes one entry naming who, what, which target and when;
GET /v1/audit pages it newest first with filters; the dashboard shows it; retention trims it; a manual
score change's ledger entry names its actor."""
from __future__ import annotations

import pytest

from app.audit import record
from app.auth import key_actor
from app.retention import DAY_MS, sweep
from app.scoring.fold import fold
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord

from .clock import ManualClock
from .dashboard_helpers import post
from .helpers import API_KEY, AUTH, put_profile, publish, publish_profile, send, settle
from .workflow_helpers import workflow

OPEN = {"id": "open", "on": "email.opened", "points": 5}
ENV_ACTOR = key_actor(API_KEY)


def trail(client, **filters) -> list[dict]:
    response = client.get("/v1/audit", query_string=filters, headers=AUTH)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["items"]


def what(entries) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["target"]) for e in entries]


def make_key(client, *scopes, name="bot"):
    response = client.post("/v1/keys", json={"name": name, "scopes": list(scopes)}, headers=AUTH)
    assert response.status_code == 201
    return response.get_json()


def test_profile_publish_roll_back_unpublish_and_delete_are_recorded_newest_first(client, services):
    publish_profile(client, services, "engagement", [OPEN])
    put_profile(client, "engagement", [{**OPEN, "points": 7}])
    publish(client, services, "engagement")
    assert client.post("/v1/profiles/engagement/rollback", json={"version": 1}, headers=AUTH).status_code == 202
    settle(services)
    assert client.post("/v1/profiles/engagement/unpublish", headers=AUTH).status_code == 200
    assert client.delete("/v1/profiles/engagement", headers=AUTH).status_code == 204
    entries = trail(client)
    assert what(entries) == [(ENV_ACTOR, action, "profile:engagement") for action in (
        "profile.delete", "profile.unpublish", "profile.rollback", "profile.publish", "profile.publish")]
    assert entries[2]["details"] == {"version": 3, "restored": 1}
    assert [e["details"]["version"] for e in entries[3:]] == [2, 1]
    assert entries[0]["at"].endswith("Z") and entries[0]["at"] >= entries[-1]["at"]


def test_a_manual_score_change_names_its_actor_in_the_ledger_and_the_trail(client, services):
    publish_profile(client, services, "engagement", [OPEN])
    send(client, {"id": "o1", "type": "email.opened", "contact": {"email": "ann@example.com"}})
    settle(services)
    cid = client.get("/v1/contacts", query_string={"email": "ann@example.com"}, headers=AUTH).get_json()["items"][0]["id"]
    key = make_key(client, "write", name="crm-sync")
    bearer = {"Authorization": f"Bearer {key['key']}"}
    url = f"/v1/contacts/{cid}/scores/engagement"
    assert client.post(url, json={"set": 40, "reason": "demo booked"}, headers=bearer).get_json()["score"] == 40
    assert client.post(url, json={"add": -5, "reason": "no show"}, headers=AUTH).get_json()["score"] == 35
    assert client.post(url, json={"reset": True, "reason": "new cycle"}, headers=AUTH).get_json()["score"] == 0
    ledger = client.get(f"{url}/history", headers=AUTH).get_json()["items"]
    actor = f"key:crm-sync ({key['id']})"
    assert [e["note"] for e in ledger[:3]] == [f"reset: new cycle (changed by {ENV_ACTOR})",
                                                f"add -5: no show (changed by {ENV_ACTOR})",
                                                f"set to 40: demo booked (changed by {actor})"]
    entries = trail(client, action="score.*")
    assert what(entries) == [(ENV_ACTOR, "score.reset", f"contact:{cid}/engagement"),
                             (ENV_ACTOR, "score.add", f"contact:{cid}/engagement"),
                             (actor, "score.set", f"contact:{cid}/engagement")]
    assert entries[2]["details"] == {"set": 40, "score": 40, "reason": "demo booked"}
    assert entries[0]["details"] == {"score": 0, "reason": "new cycle"}


def test_a_workflow_changing_a_score_leaves_the_ledger_note_as_it_was():
    """No actor, no "changed by": workflow and older manual entries read exactly as before."""
    profile = profile_from_dict({"id": "p", "name": "P", "rules": [], "bands": []})
    records = [TimelineRecord("m1", "manual", "score.manual", 1, {"profile": "p", "set": 3, "reason": "r"}),
               TimelineRecord("m2", "manual", "score.manual", 2,
                              {"profile": "p", "add": 2, "reason": "", "by": "ana@agency.com"})]
    _, ledger = fold(profile, records, 3)
    assert [entry.note for entry in ledger] == ["set to 3: r", "add 2 (changed by ana@agency.com)"]


def test_workflow_create_edit_disable_enable_and_delete_are_recorded(client):
    doc = workflow("hot", [{"type": "add_tag", "tag": "hot"}])
    assert client.put("/v1/workflows/hot", json=doc, headers=AUTH).status_code == 201
    assert client.put("/v1/workflows/hot", json={**doc, "name": "Hot leads"}, headers=AUTH).status_code == 200
    assert client.put("/v1/workflows/hot", json={**doc, "name": "Hot leads", "enabled": False},
                      headers=AUTH).status_code == 200
    assert client.put("/v1/workflows/hot", json={**doc, "name": "Hot leads", "enabled": True},
                      headers=AUTH).status_code == 200
    assert client.delete("/v1/workflows/hot", headers=AUTH).status_code == 204
    assert [e["action"] for e in trail(client, target="workflow:hot")] == [
        "workflow.delete", "workflow.enable", "workflow.disable", "workflow.edit", "workflow.create"]


def test_key_creation_and_revocation_are_recorded_without_the_key(client):
    key = make_key(client, "ingest", name="zapier")
    assert client.delete(f"/v1/keys/{key['id']}", headers=AUTH).status_code == 204
    entries = trail(client, action="key.*")
    assert what(entries) == [(ENV_ACTOR, "key.revoke", f"key:{key['id']}"),
                             (ENV_ACTOR, "key.create", f"key:{key['id']}")]
    assert entries[1]["details"] == {"name": "zapier", "scopes": ["ingest"]}
    assert key["key"] not in str(entries)


def test_pages_go_newest_first_and_filters_match_actor_action_and_target(app, client, services):
    with app.app_context():
        for n in range(7):
            record(services, "ana@agency.com" if n % 2 else "bo@agency.com", "profile.publish", f"profile:p{n}")
        record(services, "ana@agency.com", "workflow.edit", "workflow:w")
    first = client.get("/v1/audit", query_string={"limit": 3}, headers=AUTH).get_json()
    assert [e["target"] for e in first["items"]] == ["workflow:w", "profile:p6", "profile:p5"]
    second = client.get("/v1/audit", query_string={"limit": 3, "cursor": first["next_cursor"]}, headers=AUTH).get_json()
    assert [e["target"] for e in second["items"]] == ["profile:p4", "profile:p3", "profile:p2"]
    ana = trail(client, actor="ana@agency.com", action="profile.publish")
    assert [e["target"] for e in ana] == ["profile:p5", "profile:p3", "profile:p1"]
    assert [e["target"] for e in trail(client, target="profile:p3")] == ["profile:p3"]
    assert len(trail(client, target="profile:")) == 7
    assert trail(client, action="key.create") == []
    assert client.get("/v1/audit", query_string={"cursor": "0-0"}, headers=AUTH).get_json() == {
        "items": [], "next_cursor": None}  # the oldest possible cursor: an empty page, not an error


@pytest.mark.parametrize("query", [
    pytest.param({"cursor": "nope"}, id="cursor-not-an-id"),
    pytest.param({"action": "profile.explode"}, id="unknown-action"),
    pytest.param({"limit": 0}, id="limit-zero"),
    pytest.param({"limit": 501}, id="limit-too-big"),
])
def test_a_bad_audit_query_is_a_400(client, query):
    response = client.get("/v1/audit", query_string=query, headers=AUTH)
    assert response.status_code == 400 and isinstance(response.get_json()["errors"], dict)


def test_entries_stay_in_time_order_when_a_clock_runs_behind(make_app):
    clock = ManualClock(1_800_000_000_000)
    app = make_app(CLOCK=clock)
    services = app.extensions["scorekeeper"]
    with app.app_context():
        record(services, "a", "profile.publish", "profile:one")
        clock.advance(-5_000)  # another process, its clock five seconds behind
        record(services, "b", "profile.publish", "profile:two")
    assert [e["target"] for e in trail(app.test_client())] == ["profile:two", "profile:one"]


def test_retention_deletes_entries_older_than_the_setting(make_app):
    clock = ManualClock(1_800_000_000_000)
    app = make_app(CLOCK=clock, AUDIT_RETENTION_DAYS=10)
    services = app.extensions["scorekeeper"]
    with app.app_context():
        record(services, "a", "profile.publish", "profile:old")
        clock.advance(5 * DAY_MS)
        record(services, "a", "profile.publish", "profile:new")
        assert sweep(services, clock.now_ms() + 6 * DAY_MS)["audit"] == 1
    assert [e["target"] for e in trail(app.test_client())] == ["profile:new"]


def test_the_dashboard_records_its_actions_and_shows_the_trail(app, dash, client, services):
    put_profile(client, "engagement", [OPEN])
    response = post(dash, "/dashboard/profiles/engagement/publish")
    assert response.status_code in (302, 303)
    settle(services)
    entries = trail(client)
    assert what(entries) == [("dashboard", "profile.publish", "profile:engagement")]
    page = dash.get("/dashboard/audit").get_data(as_text=True)
    assert "published profile" in page and "<code class=\"url\">profile:engagement</code>" in page and "<td>dashboard</td>" in page
    filtered = dash.get("/dashboard/audit", query_string={"action": "workflow.*"}).get_data(as_text=True)
    assert "<code class=\"url\">profile:engagement</code>" not in filtered and "Nothing matches these filters." in filtered
