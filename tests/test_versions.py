"""Published versions over the API: who and when, the publish summary, the diff in words, roll back."""
from __future__ import annotations

import hashlib

from .helpers import API_KEY, AUTH, publish, put_profile, send, settle

OPEN = {"id": "open", "on": "email.opened", "points": 5}
CLICK = {"id": "click", "on": "email.clicked", "points": 10}
BANDS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}]
ACTOR = "api:" + hashlib.sha256(API_KEY.encode()).hexdigest()[:8]


def opened(client, *emails: str) -> None:
    for email in emails:
        send(client, {"id": f"open-{email}", "type": "email.opened", "contact": {"email": email}})
        send(client, {"id": f"click-{email}", "type": "email.clicked", "contact": {"email": email}})


def versions(client, profile_id: str = "engagement") -> list[dict]:
    resp = client.get(f"/v1/profiles/{profile_id}/versions", headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


def two_versions(client, services) -> None:
    """v1 scores opens (5: cold); v2 also clicks (15: warm), for ann, bob and cy."""
    put_profile(client, "engagement", [OPEN], BANDS)
    opened(client, "ann@example.com", "bob@example.com", "cy@example.com")
    settle(services)
    publish(client, services, "engagement")
    put_profile(client, "engagement", [OPEN, CLICK], BANDS)
    publish(client, services, "engagement")


def test_every_version_is_kept_with_who_when_and_what_changed(client, services):
    two_versions(client, services)
    v2, v1 = versions(client)
    assert (v2["version"], v2["live"], v1["version"], v1["live"]) == (2, True, 1, False)
    assert v1["actor"] == v2["actor"] == ACTOR and API_KEY not in str(v2)
    assert v2["kind"] == "publish" and v2["published_at"].endswith("Z") and v2["live_at"]
    assert v2["changes"] == ["Added rule: Email link clicked: +10"]
    assert v1["changes"] == ["First version"]


def test_the_publish_summary_counts_contacts_changes_and_band_moves(client, services):
    two_versions(client, services)
    v2, v1 = versions(client)
    assert v1["summary"] == {"contacts_scored": 3, "contacts_changed": 3,
                             "band_moves": [{"from": "no band", "to": "cold", "count": 3}]}
    assert v2["summary"] == {"contacts_scored": 3, "contacts_changed": 3,
                             "band_moves": [{"from": "cold", "to": "warm", "count": 3}]}


def test_roll_back_publishes_the_earlier_rules_as_a_new_version_with_its_summary(client, services):
    two_versions(client, services)
    resp = client.post("/v1/profiles/engagement/rollback", json={"version": 1}, headers=AUTH)
    assert resp.status_code == 202, resp.get_json()
    assert resp.get_json()["job"]["version"] == 3
    settle(services)
    v3 = versions(client)[0]
    assert (v3["version"], v3["live"], v3["kind"], v3["restored_from"]) == (3, True, "rollback", 1)
    assert v3["changes"] == ["Removed rule: Email link clicked: +10"]
    assert v3["summary"]["band_moves"] == [{"from": "warm", "to": "cold", "count": 3}]
    contact = client.get("/v1/contacts", query_string={"email": "ann@example.com"}, headers=AUTH).get_json()
    assert contact["items"][0]["scores"]["engagement"]["score"] == 5
    profile = client.get("/v1/profiles/engagement", headers=AUTH).get_json()
    assert profile["rules"] == [{**OPEN, "where": {}}] and profile["draft_changed"] is False  # the draft follows the rollback


def test_rolling_back_to_the_live_rules_is_a_conflict(client, services):
    two_versions(client, services)
    resp = client.post("/v1/profiles/engagement/rollback", json={"version": 2}, headers=AUTH)
    assert resp.status_code == 409
    assert resp.get_json()["errors"] == {"version": "already live"}


def test_rollback_to_a_missing_version_or_without_one_is_refused(client, services):
    two_versions(client, services)
    assert client.post("/v1/profiles/engagement/rollback", json={"version": 9}, headers=AUTH).status_code == 404
    resp = client.post("/v1/profiles/engagement/rollback", json={}, headers=AUTH)
    assert resp.status_code == 400 and "version" in resp.get_json()["errors"]


def test_one_version_compared_with_any_other(client, services):
    two_versions(client, services)
    put_profile(client, "engagement", [{**CLICK, "points": 20}], [{"name": "warm", "min": 15}])
    publish(client, services, "engagement")
    resp = client.get("/v1/profiles/engagement/versions/3", query_string={"against": 1}, headers=AUTH)
    body = resp.get_json()
    assert body["definition"]["rules"] == [{**CLICK, "points": 20, "where": {}}]
    assert body["changes"] == ["Removed rule: Email opened: +5", "Added rule: Email link clicked: +20",
                               "Removed band cold from 0", "Band warm now starts at 15 (was 10)"]
    assert client.get("/v1/profiles/engagement/versions/7", headers=AUTH).status_code == 404


def test_deleting_a_profile_deletes_its_versions(client, services):
    two_versions(client, services)
    assert client.delete("/v1/profiles/engagement", headers=AUTH).status_code == 204
    settle(services)
    assert not services.redis.exists(services.keys.profile_versions("engagement"),
                                     services.keys.profile_version("engagement", 1))
    assert client.get("/v1/profiles/engagement/versions", headers=AUTH).status_code == 404


def test_versions_and_rollback_are_in_the_openapi_document(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    assert "get" in paths["/v1/profiles/{profile_id}/versions"]
    assert "post" in paths["/v1/profiles/{profile_id}/rollback"]
    assert "get" in paths["/v1/profiles/{profile_id}/versions/{version}"]
