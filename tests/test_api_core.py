"""The scoring core over HTTP: interactions in, scores out, explained and filtered."""
from __future__ import annotations

import csv
import io

import pytest

from app.auth import key_actor

from .helpers import API_KEY, AUTH, contact_by_email, publish, publish_profile, put_profile, run_jobs, score_of, send, settle

#: Every test again with the score store on a Redis Cluster (tests/conftest.py).
pytestmark = pytest.mark.also_on_cluster

OPEN = {"id": "open", "on": "email.opened", "points": 5}
BANDS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 20}]


def opened(id_, email, **extra):
    return {"id": id_, "type": "email.opened", "contact": {"email": email}, **extra}


def stream_entries(services) -> int:
    return sum(services.partitions.partition_depths())


# --- access ------------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-header"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong-key"),
    pytest.param({"Authorization": "Basic dGVzdC1rZXk6"}, id="wrong-scheme"),
])
def test_v1_needs_a_valid_api_key(client, headers):
    resp = client.get("/v1/profiles", headers=headers)
    assert resp.status_code == 401
    assert set(resp.get_json()) == {"code", "status", "message", "errors"}


def test_health_and_the_openapi_document_need_no_key(client):
    health = client.get("/healthz").get_json()
    assert health["redis"] is True and health["pending_interactions"] == 0
    spec = client.get("/openapi.json").get_json()
    assert "/v1/interactions" in spec["paths"] and "/v1/contacts/{contact_id}/scores/{profile_id}/history" in spec["paths"]
    assert client.get("/docs").status_code == 200


# --- interactions ------------------------------------------------------------------------

def test_a_batch_is_accepted_and_duplicates_are_counted_once(client, services):
    assert send(client, opened("a", "x@y.io"), opened("b", "x@y.io")) == {"accepted": 2, "duplicates": 0}
    assert send(client, opened("a", "x@y.io"), opened("c", "x@y.io")) == {"accepted": 1, "duplicates": 1}
    assert stream_entries(services) == 3


def test_the_same_id_from_another_source_is_another_interaction(client):
    assert send(client, opened("a", "x@y.io"), {**opened("a", "x@y.io"), "source": "crm"})["accepted"] == 2


def test_a_batch_with_one_bad_item_is_rejected_whole_naming_the_item_and_field(client, services):
    resp = client.post("/v1/interactions", headers=AUTH, json={"interactions": [
        opened("a", "x@y.io"), {"id": "b", "type": "email.exploded", "contact": {"email": "nope"}}]})
    assert resp.status_code == 400
    body = resp.get_json()
    assert set(body["errors"]["interactions"]["1"]) == {"type", "contact"}
    assert "0" not in body["errors"]["interactions"]
    assert stream_entries(services) == 0 and services.contacts.contact_count() == 0


@pytest.mark.parametrize("item,field", [
    pytest.param({"type": "email.opened", "contact": {"email": "a@b.io"}}, "id", id="missing-id"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {}}, "contact", id="no-identity"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "occurred_at": "yesterday"},
                 "occurred_at", id="bad-time"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "occurred_at": "2026-01-01T00:00:00"},
                 "occurred_at", id="time-without-offset"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "properties": []},
                 "properties", id="properties-not-object"),
    pytest.param({"id": "1", "type": "contact.dnd_updated", "contact": {"email": "a@b.io"}}, "properties",
                 id="dnd-without-channels"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "extra": 1}, "extra",
                 id="unknown-field"),
])
def test_a_bad_interaction_is_a_400_naming_the_field(client, services, item, field):
    resp = client.post("/v1/interactions", headers=AUTH, json=item)
    assert resp.status_code == 400
    assert field in resp.get_json()["errors"]
    assert stream_entries(services) == 0


def test_not_json_is_a_400_and_over_a_thousand_is_refused(client):
    assert client.post("/v1/interactions", headers=AUTH, data=b"{nope", content_type="application/json").status_code == 400
    many = [opened(str(i), "x@y.io") for i in range(1001)]
    resp = client.post("/v1/interactions", headers=AUTH, json={"interactions": many})
    assert resp.status_code == 400 and "1000" in resp.get_json()["message"]


def test_a_body_over_the_limit_is_413(make_app):
    client = make_app(MAX_BODY_BYTES=1000).test_client()
    resp = client.post("/v1/interactions", headers=AUTH, json=opened("a", "x@y.io", properties={"pad": "x" * 2000}))
    assert resp.status_code == 413 and resp.get_json()["code"] == 413


# --- contacts ----------------------------------------------------------------------------

def test_contacts_are_created_on_first_interaction_with_a_normalized_email(client, services):
    send(client, opened("a", "  Mixed@Case.IO "))
    contact = contact_by_email(client, "MIXED@case.io")
    assert contact["email"] == "mixed@case.io" and contact["scores"] == {}
    assert client.get(f"/v1/contacts/{contact['id']}", headers=AUTH).get_json()["id"] == contact["id"]
    assert client.get("/v1/contacts/nobody", headers=AUTH).status_code == 404


def test_an_external_id_seen_with_an_email_finds_the_same_contact(client, services):
    send(client, {"id": "1", "type": "form.submitted", "contact": {"external_id": "crm-7"}})
    send(client, {"id": "2", "type": "email.opened", "contact": {"external_id": "crm-7", "email": "p@q.io"}})
    send(client, opened("3", "p@q.io"))
    assert services.contacts.contact_count() == 1
    assert contact_by_email(client, "p@q.io")["external_id"] == "crm-7"


def test_tags_and_dnd_are_patched_and_dnd_changes_score_as_interactions(client, services):
    publish_profile(client, services, "eng", [OPEN, {"id": "dnd", "on": "contact.dnd_updated", "points": -3,
                                                     "where": {"all_channels": True}}])
    send(client, opened("a", "t@x.io"), opened("b", "t@x.io"))
    settle(services)
    cid = contact_by_email(client, "t@x.io")["id"]
    resp = client.patch(f"/v1/contacts/{cid}", headers=AUTH,
                        json={"tags": {"add": ["vip", "lead"], "remove": []}, "dnd": {"email": True, "sms": True}})
    assert resp.status_code == 200
    assert resp.get_json()["tags"] == ["lead", "vip"] and resp.get_json()["dnd"] == {"email": True, "sms": True}
    settle(services)
    assert score_of(client, "t@x.io", "eng") == 7
    client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"tags": {"remove": ["lead"]}})
    assert contact_by_email(client, "t@x.io")["tags"] == ["vip"]


def test_unsubscribe_and_spam_report_switch_email_dnd_on(client, services):
    send(client, {"id": "u", "type": "email.spam_reported", "contact": {"email": "s@x.io"}})
    settle(services)
    assert contact_by_email(client, "s@x.io")["dnd"] == {"email": True}


# --- profiles and publishing -------------------------------------------------------------

def test_a_profile_is_a_draft_until_published_and_scores_nothing_before(client, services):
    put_profile(client, "eng", [OPEN], BANDS)
    send(client, opened("a", "d@x.io"))
    settle(services)
    profile = client.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert (profile["status"], profile["version"]) == ("draft", None)
    assert score_of(client, "d@x.io", "eng") is None
    publish(client, services, "eng")
    profile = client.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert (profile["status"], profile["version"]) == ("published", 1)
    assert contact_by_email(client, "d@x.io")["scores"] == {"eng": {"score": 5, "band": "cold"}}


def test_publishing_scores_every_existing_contact_zero_when_nothing_matches(client, services):
    send(client, {"id": "f", "type": "form.submitted", "contact": {"email": "z@x.io"}})
    settle(services)
    publish_profile(client, services, "eng", [OPEN])
    assert score_of(client, "z@x.io", "eng") == 0


def test_until_a_publish_finishes_the_previous_version_stays_visible(client, services):
    publish_profile(client, services, "eng", [OPEN])
    send(client, opened("a", "v@x.io"))
    settle(services)
    put_profile(client, "eng", [{**OPEN, "points": 50}])
    job = client.post("/v1/profiles/eng/publish", headers=AUTH, json={}).get_json()["job"]
    assert job["status"] == "queued"
    send(client, opened("b", "v@x.io"))  # arrives while the new version is being built
    from .helpers import drain_all
    drain_all(services)
    assert score_of(client, "v@x.io", "eng") == 10
    run_jobs(services)
    assert client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()["status"] == "finished"
    assert score_of(client, "v@x.io", "eng") == 100
    assert client.get("/v1/profiles/eng", headers=AUTH).get_json()["version"] == 2


def test_unpublish_and_delete_empty_the_scores(client, services):
    publish_profile(client, services, "eng", [OPEN])
    publish_profile(client, services, "other", [OPEN])
    send(client, opened("a", "u@x.io"))
    settle(services)
    client.post("/v1/profiles/eng/unpublish", headers=AUTH)
    assert client.delete("/v1/profiles/other", headers=AUTH).status_code == 204
    settle(services)
    assert contact_by_email(client, "u@x.io")["scores"] == {}
    assert client.get("/v1/profiles/other", headers=AUTH).status_code == 404
    assert not services.redis.keys("sk:scores:*")


@pytest.mark.parametrize("body,field", [
    pytest.param({"name": "x", "rules": [{"id": "r", "on": "email.nope", "points": 1}]}, "rules", id="bad-type"),
    pytest.param({"name": "x", "rules": [{"id": "r", "on": "email.opened", "points": 1, "expires_after": "3 days"}]},
                 "rules", id="bad-duration"),
    pytest.param({"name": "x", "rules": [{"id": "r", "on": "email.opened", "points": 1, "where": {"a": {"like": 1}}}]},
                 "rules", id="bad-operator"),
    pytest.param({"name": "x", "rules": [{"id": "r", "on": "email.opened", "points": 1, "limit": {"window": "1d"}}]},
                 "rules", id="window-without-count"),
    pytest.param({"rules": []}, "name", id="no-name"),
])
def test_an_invalid_profile_is_a_400_naming_the_field(client, body, field):
    resp = client.put("/v1/profiles/eng", headers=AUTH, json=body)
    assert resp.status_code == 400, resp.get_json()
    assert field in resp.get_json()["errors"]


def test_preview_shows_the_draft_distribution_without_touching_live_scores(client, services):
    publish_profile(client, services, "eng", [OPEN], BANDS)
    send(client, opened("a", "p1@x.io"), opened("b", "p1@x.io"), opened("c", "p2@x.io"))
    settle(services)
    put_profile(client, "eng", [{**OPEN, "points": 10}], BANDS)
    preview = client.post("/v1/profiles/eng/preview", headers=AUTH).get_json()
    assert preview["contacts"] == 2
    assert preview["bands"] == {"cold": 0, "warm": 1, "hot": 1}
    assert sum(b["count"] for b in preview["histogram"]) == 2
    assert preview["movers"][0]["change"] == 10
    assert score_of(client, "p1@x.io", "eng") == 10


# --- manual changes and the ledger -------------------------------------------------------

def test_manual_set_and_add_return_the_new_score_and_are_explained(client, services):
    publish_profile(client, services, "eng", [OPEN], BANDS)
    send(client, opened("a", "m@x.io"))
    settle(services)
    cid = contact_by_email(client, "m@x.io")["id"]
    resp = client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"set": 30, "reason": "demo call"})
    assert resp.get_json() == {"contact_id": cid, "profile": "eng", "score": 30, "band": "hot"}
    resp = client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"add": -100, "reason": "oops"})
    assert resp.get_json()["score"] == 0
    history = client.get(f"/v1/contacts/{cid}/scores/eng/history", headers=AUTH).get_json()["items"]
    assert [(h["reason"], h["change"], h["score"]) for h in history] == [
        ("manual", -30, 0), ("manual", 25, 30), ("matched", 5, 5)]
    assert history[1]["note"] == f"set to 30: demo call (changed by {key_actor(API_KEY)})"
    assert {"at", "interaction_id", "type", "rule_id", "points", "change", "score", "reason"} <= set(history[2])
    assert history[2]["interaction_id"] == "a" and history[2]["rule_id"] == "open"


@pytest.mark.parametrize("body", [
    pytest.param({"set": 1, "add": 1, "reason": "x"}, id="both"),
    pytest.param({"set": 1}, id="no-reason"),
    pytest.param({"set": -1, "reason": "x"}, id="negative-set"),
])
def test_a_bad_manual_change_is_a_400(client, services, body):
    publish_profile(client, services, "eng", [OPEN])
    send(client, opened("a", "m@x.io"))
    cid = contact_by_email(client, "m@x.io")["id"]
    assert client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json=body).status_code == 400


def test_a_manual_change_needs_a_published_profile(client, services):
    put_profile(client, "eng", [OPEN])
    send(client, opened("a", "m@x.io"))
    cid = contact_by_email(client, "m@x.io")["id"]
    assert client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"set": 3, "reason": "x"}).status_code == 409


def test_a_manual_change_survives_a_recompute(client, services):
    publish_profile(client, services, "eng", [OPEN])
    send(client, opened("a", "r@x.io"))
    settle(services)
    cid = contact_by_email(client, "r@x.io")["id"]
    client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"add": 7, "reason": "webinar"})
    publish(client, services, "eng")
    assert score_of(client, "r@x.io", "eng") == 12


# --- filters and smart lists -------------------------------------------------------------

@pytest.fixture
def scored(client, services):
    """a:0 b:5 c:10 d:15 (tags: b,d vip), e: no score (created after... unpublished profile)."""
    publish_profile(client, services, "eng", [OPEN])
    for n, email in enumerate(["a@x.io", "b@x.io", "c@x.io", "d@x.io"]):
        send(client, {"id": f"f{n}", "type": "form.submitted", "contact": {"email": email}},
             *[opened(f"{email}-{i}", email) for i in range(n)])
    settle(services)
    for email in ("b@x.io", "d@x.io"):
        cid = contact_by_email(client, email)["id"]
        client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"tags": {"add": ["vip"]}})
    return {email: contact_by_email(client, email)["id"] for email in ["a@x.io", "b@x.io", "c@x.io", "d@x.io"]}


def emails(resp):
    return [c["email"] for c in resp.get_json()["items"]]


@pytest.mark.parametrize("op,value,expected", [
    pytest.param("eq", 5, ["b@x.io"], id="eq"),
    pytest.param("ne", 5, ["d@x.io", "c@x.io", "a@x.io"], id="ne"),
    pytest.param("gt", 5, ["d@x.io", "c@x.io"], id="gt"),
    pytest.param("gte", 5, ["d@x.io", "c@x.io", "b@x.io"], id="gte"),
    pytest.param("lt", 10, ["b@x.io", "a@x.io"], id="lt"),
    pytest.param("lte", 10, ["c@x.io", "b@x.io", "a@x.io"], id="lte"),
    pytest.param("not_empty", None, ["d@x.io", "c@x.io", "b@x.io", "a@x.io"], id="not_empty"),
])
def test_score_filters_sorted_highest_first_with_a_total(client, scored, op, value, expected):
    query = {"profile": "eng", "op": op, **({"value": value} if value is not None else {})}
    resp = client.get("/v1/contacts", headers=AUTH, query_string=query)
    assert emails(resp) == expected and resp.get_json()["total"] == len(expected)


def test_empty_finds_contacts_without_a_score(client, services, scored):
    client.put("/v1/profiles/new", headers=AUTH, json={"name": "New", "rules": []})
    resp = client.get("/v1/contacts", headers=AUTH, query_string={"profile": "new", "op": "empty"})
    assert resp.get_json()["total"] == 4
    resp = client.get("/v1/contacts", headers=AUTH, query_string={"profile": "eng", "op": "empty"})
    assert resp.get_json()["total"] == 0


def test_tag_filters_and_pagination(client, scored):
    resp = client.get("/v1/contacts", headers=AUTH, query_string={"profile": "eng", "op": "gte", "value": 0, "tag": "vip"})
    assert emails(resp) == ["d@x.io", "b@x.io"]
    resp = client.get("/v1/contacts", headers=AUTH,
                      query_string={"profile": "eng", "op": "gte", "value": 0, "without_tag": "vip"})
    assert emails(resp) == ["c@x.io", "a@x.io"]
    page1 = client.get("/v1/contacts", headers=AUTH, query_string={"profile": "eng", "op": "gte", "value": 0, "limit": 3})
    assert emails(page1) == ["d@x.io", "c@x.io", "b@x.io"] and page1.get_json()["total"] == 4
    page2 = client.get("/v1/contacts", headers=AUTH, query_string={
        "profile": "eng", "op": "gte", "value": 0, "limit": 3, "cursor": page1.get_json()["next_cursor"]})
    assert emails(page2) == ["a@x.io"] and page2.get_json()["next_cursor"] is None


def test_a_filter_needs_a_value_for_numeric_operators(client, scored):
    resp = client.get("/v1/contacts", headers=AUTH, query_string={"profile": "eng", "op": "gt"})
    assert resp.status_code == 400 and "value" in resp.get_json()["errors"]


def test_smart_lists_save_a_filter_list_members_and_export_csv(client, scored):
    created = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "Warm VIPs", "profile": "eng", "op": "gte", "value": 5, "tag": "vip"})
    assert created.status_code == 201
    list_id = created.get_json()["id"]
    assert [s["name"] for s in client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]] == ["Warm VIPs"]
    assert emails(client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH)) == ["d@x.io", "b@x.io"]
    rows = list(csv.reader(io.StringIO(client.get(f"/v1/smart-lists/{list_id}/export.csv", headers=AUTH).get_data(as_text=True))))
    assert rows[0][:4] == ["id", "email", "external_id", "score"]
    assert [(r[1], r[3]) for r in rows[1:]] == [("d@x.io", "15"), ("b@x.io", "5")]
    client.put(f"/v1/smart-lists/{list_id}", headers=AUTH, json={"name": "Hot", "profile": "eng", "op": "gt", "value": 10})
    assert emails(client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH)) == ["d@x.io"]
    assert client.delete(f"/v1/smart-lists/{list_id}", headers=AUTH).status_code == 204
    assert client.get(f"/v1/smart-lists/{list_id}", headers=AUTH).status_code == 404


def test_a_late_interaction_gives_the_score_of_in_order_arrival(client, services):
    publish_profile(client, services, "eng", [OPEN, {"id": "unsub", "on": "email.unsubscribed", "points": -20}])
    send(client, opened("b", "l@x.io", occurred_at="2026-01-01T10:00:00Z"))
    settle(services)
    send(client, {"id": "u", "type": "email.unsubscribed", "contact": {"email": "l@x.io"},
                  "occurred_at": "2026-01-01T09:00:00Z"})
    settle(services)
    assert score_of(client, "l@x.io", "eng") == 5  # unsubscribe at 0 floors to 0, then +5


def test_csv_export_neutralises_spreadsheet_formulas(client, scored):
    cid = scored["a@x.io"]
    client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"tags": {"add": ["=HYPERLINK(1)"]}})
    created = client.post("/v1/smart-lists", headers=AUTH, json={"name": "All", "profile": "eng", "op": "lte", "value": 0})
    text = client.get(f"/v1/smart-lists/{created.get_json()['id']}/export.csv", headers=AUTH).get_data(as_text=True)
    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[1] == "a@x.io" and row[5] == "'=HYPERLINK(1)"


def test_a_repeat_older_than_the_ingest_memory_is_still_scored_once(client, services):
    publish_profile(client, services, "eng", [OPEN])
    send(client, opened("a", "old@x.io"))
    settle(services)
    for key in services.redis.scan_iter("sk:{p:*}:seen:*"):  # the seen sets expired (two periods later)
        services.redis.delete(key)
    assert send(client, opened("a", "old@x.io")) == {"accepted": 1, "duplicates": 0}
    settle(services)
    assert score_of(client, "old@x.io", "eng") == 5
    cid = contact_by_email(client, "old@x.io")["id"]
    assert len(client.get(f"/v1/contacts/{cid}/scores/eng/history", headers=AUTH).get_json()["items"]) == 1


def test_the_ingest_memory_of_ids_expires(client, services):
    send(client, opened("a", "ttl@x.io"))
    (key,) = list(services.redis.scan_iter("sk:{p:*}:seen:*"))
    assert 0 < services.redis.ttl(key) <= 2 * 86400


def test_a_late_unsubscribe_does_not_override_a_newer_dnd_change(client, services):
    publish_profile(client, services, "eng", [OPEN])
    send(client, {"id": "d", "type": "contact.dnd_updated", "contact": {"email": "dl@x.io"},
                  "occurred_at": "2026-01-02T00:00:00Z", "properties": {"channels": {"email": False}}})
    settle(services)
    send(client, {"id": "u", "type": "email.unsubscribed", "contact": {"email": "dl@x.io"},
                  "occurred_at": "2026-01-01T00:00:00Z"})
    settle(services)
    assert contact_by_email(client, "dl@x.io")["dnd"] == {"email": False}


# --- history stays readable for what was stored before the time range was checked -----------------
@pytest.mark.parametrize("at", [
    pytest.param(-62_135_596_800_000 - 3_600_000, id="before-year-1"),
    pytest.param(253_402_300_800_000 + 86_400_000, id="after-year-9999"),
    pytest.param(-1, id="just-before-the-epoch"),
])
def test_history_of_interactions_stored_out_of_range_still_reads(client, services, at):
    from app.ingest import ingest
    from app.scoring.interactions import Interaction

    publish_profile(client, services, "eng", [{"id": "open", "on": "email.opened", "points": 5}])
    with client.application.app_context():
        ingest(services, [Interaction("old", "api", "email.opened", at, {}, email="old@example.com")])
    settle(services)
    contact = contact_by_email(client, "old@example.com")
    resp = client.get(f"/v1/contacts/{contact['id']}/scores/eng/history", headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    [entry] = resp.get_json()["items"]
    assert entry["points"] == 5 and entry["at"][4] == "-" and entry["at"].endswith("Z")
