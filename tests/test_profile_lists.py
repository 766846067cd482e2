"""A profile's include/exclude smart lists: a contact outside has no score in the profile (no index entry,
no band, no grade, no score trigger), its fold goes on underneath, and when it comes back in its score is the
fold of its whole timeline — exact and order-independent whatever moment the membership changed at.

README "Score semantics" and docs/scoring-models.md ("Include and exclude lists") state the rule."""
from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contact_filter import Condition, ContactFacts, ContactFilter, Gate, gate_problem
from app.scoring.interactions import format_timestamp
from app.clock import now_ms

from .conftest import TEST_REDIS_URL
from .helpers import AUTH, contact_by_email, in_batches, publish, put_profile, score_of, send, settle
from .reference import reference_models_fold
from .test_models_properties import GRID, PROFILE, TYPES, live_app, live_base

CUSTOMERS = {"name": "Customers", "filter": {"conditions": [{"field": "tag", "tag": "customer"}]}}
LEADS = {"name": "Leads", "filter": {"conditions": [{"field": "tag", "tag": "lead"},
                                                    {"field": "dnd", "channel": "email", "op": "off"}]}}
RULES = [{"id": "click", "on": "email.clicked", "points": 10}]


def make_list(client, body) -> str:
    resp = client.post("/v1/smart-lists", json=body, headers=AUTH)
    assert resp.status_code == 201, resp.get_json()
    return resp.get_json()["id"]


def tag(client, email, add=(), remove=()):
    cid = contact_by_email(client, email)["id"]
    resp = client.patch(f"/v1/contacts/{cid}", json={"tags": {"add": list(add), "remove": list(remove)}},
                        headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def click(client, services, email, id_):
    send(client, {"id": id_, "type": "email.clicked", "contact": {"email": email}})
    settle(services)


def scored_emails(client, profile="engagement"):
    """Who the profile's score index holds (a filter on 'has a score')."""
    doc = {"conditions": [{"field": "score", "profile": profile, "op": "not_empty"}]}
    resp = client.post("/v1/contacts/search", json={"filter": doc, "limit": 100}, headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return sorted(c["email"] for c in resp.get_json()["items"])


# --- the gate itself ----------------------------------------------------------------------------------
def test_a_gate_admits_contacts_in_any_include_list_and_in_no_exclude_list():
    customer = ContactFilter((Condition("tag", op="has", tag="customer"),))
    lead = ContactFilter((Condition("tag", op="has", tag="lead"),))
    facts = lambda *tags: ContactFacts(tags=frozenset(tags))  # noqa: E731
    assert Gate().admits(facts())
    assert not Gate(exclude=(customer,)).admits(facts("customer"))
    assert Gate(exclude=(customer,)).admits(facts("lead"))
    assert Gate(include=(lead, customer)).admits(facts("customer"))
    assert not Gate(include=(lead,)).admits(facts())
    assert not Gate(include=(lead,), exclude=(customer,)).admits(facts("lead", "customer"))
    assert not Gate(include=(customer,), exclude=(customer,)).admits(facts("customer"))  # the exclusion wins
    dnd = ContactFilter((Condition("dnd", op="on", channel="email"),))
    assert not Gate(exclude=(dnd,)).admits(ContactFacts(dnd={"email": True}))


@pytest.mark.parametrize("condition", [
    Condition("score", op="gte", profile="p", value=1), Condition("band", profile="p", band="hot"),
    Condition("activity", op="within", days=3), Condition("grade", grade="g", op="eq", cell="A1"),
])
def test_only_tag_and_dnd_conditions_can_decide_who_a_profile_scores(condition):
    assert "cannot decide who a profile scores" in gate_problem(ContactFilter((condition,)))
    assert gate_problem(ContactFilter((Condition("tag", op="has_not", tag="x"),))) is None


# --- the API ------------------------------------------------------------------------------------------
def test_a_profile_names_lists_that_exist_and_can_decide(client, services):
    customers = make_list(client, CUSTOMERS)
    hot = make_list(client, {"name": "Hot", "filter": {"conditions": [
        {"field": "activity", "op": "within", "days": 7}]}})
    body = {"name": "E", "rules": RULES}
    for extra, status, field, words in [
        ({"include": ["nope"]}, 404, "include", "no smart list 'nope'"),  # like a filter naming no profile
        ({"exclude": [hot]}, 409, "exclude", "cannot decide who a profile scores"),  # it exists, but cannot
        ({"exclude": [customers, customers]}, 400, "exclude", "named twice"),  # the schema's uniqueItems
    ]:
        resp = client.put("/v1/profiles/engagement", json={**body, **extra}, headers=AUTH)
        assert resp.status_code == status, resp.get_json()
        assert words in str(resp.get_json()["errors"][field])
    assert client.get("/v1/profiles/engagement", headers=AUTH).status_code == 404  # nothing half-stored
    resp = client.put("/v1/profiles/engagement", json={**body, "exclude": [customers]}, headers=AUTH)
    assert resp.status_code == 200 and resp.get_json()["exclude"] == [customers]
    openapi = client.get("/openapi.json").get_json()
    draft = openapi["components"]["schemas"]["ProfileDraft"]["properties"]
    assert draft["include"]["type"] == "array" and draft["exclude"]["uniqueItems"] is True


def test_a_list_a_profile_uses_cannot_be_deleted_or_made_unfit(client, services):
    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, exclude=[customers])
    resp = client.delete(f"/v1/smart-lists/{customers}", headers=AUTH)
    assert resp.status_code == 409 and "engagement" in resp.get_json()["message"]
    resp = client.put(f"/v1/smart-lists/{customers}", headers=AUTH, json={
        "name": "Customers", "filter": {"conditions": [{"field": "score", "profile": "engagement", "op": "gte",
                                                        "value": 5}]}})
    assert resp.status_code == 409 and "cannot decide" in str(resp.get_json()["errors"])
    assert client.get(f"/v1/smart-lists/{customers}", headers=AUTH).get_json()["filter"]["conditions"] == [
        {"field": "tag", "op": "has", "tag": "customer"}]  # unchanged
    put_profile(client, "engagement", RULES)  # no longer used: now it can go
    assert client.delete(f"/v1/smart-lists/{customers}", headers=AUTH).status_code == 204


def test_an_excluded_contact_has_no_score_and_gets_its_whole_history_back(client, services):
    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, bands=[{"name": "cold", "min": 0}], exclude=[customers])
    publish(client, services, "engagement")
    click(client, services, "ann@example.com", "c1")
    click(client, services, "bo@example.com", "b1")
    assert score_of(client, "ann@example.com", "engagement") == 10
    contact = tag(client, "ann@example.com", add=["customer"])  # at once, in the PATCH's answer
    assert "engagement" not in contact["scores"]
    assert scored_emails(client) == ["bo@example.com"]
    click(client, services, "ann@example.com", "c2")  # scored underneath, not shown
    assert score_of(client, "ann@example.com", "engagement") is None
    cid = contact_by_email(client, "ann@example.com")["id"]
    resp = client.post(f"/v1/contacts/{cid}/scores/engagement", json={"add": 5, "reason": "x"}, headers=AUTH)
    assert resp.status_code == 409 and "outside" in resp.get_json()["message"]
    publish(client, services, "engagement")  # a recompute keeps her out
    assert score_of(client, "ann@example.com", "engagement") is None
    contact = tag(client, "ann@example.com", remove=["customer"])
    assert contact["scores"]["engagement"] == {"score": 20, "band": "cold"}  # the whole timeline
    assert scored_emails(client) == ["ann@example.com", "bo@example.com"]


def test_an_include_list_of_tag_and_dnd_scores_only_its_members(client, services):
    leads = make_list(client, LEADS)
    put_profile(client, "engagement", RULES, include=[leads])
    publish(client, services, "engagement")
    click(client, services, "ann@example.com", "c1")
    assert score_of(client, "ann@example.com", "engagement") is None
    tag(client, "ann@example.com", add=["lead"])
    assert score_of(client, "ann@example.com", "engagement") == 10
    cid = contact_by_email(client, "ann@example.com")["id"]
    resp = client.patch(f"/v1/contacts/{cid}", json={"dnd": {"email": True}}, headers=AUTH)
    assert "engagement" not in resp.get_json()["scores"]
    settle(services)  # the worker scores the recorded DND change: still out
    assert score_of(client, "ann@example.com", "engagement") is None


def test_changing_a_used_lists_filter_decides_again_for_every_contact(client, services):
    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, exclude=[customers])
    publish(client, services, "engagement")
    click(client, services, "ann@example.com", "c1")
    tag(client, "ann@example.com", add=["vip"])
    resp = client.put(f"/v1/smart-lists/{customers}", headers=AUTH, json={
        "name": "Customers", "filter": {"conditions": [{"field": "tag", "tag": "vip"}]}})
    assert resp.status_code == 200
    settle(services)  # the recheck job
    assert score_of(client, "ann@example.com", "engagement") is None


def test_entering_the_list_fires_no_score_trigger_and_coming_back_fires_one(client, services):
    from .workflow_helpers import put_workflow, runs_of, workflow

    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, exclude=[customers])
    publish(client, services, "engagement")
    put_workflow(client, workflow("hot", [{"type": "add_tag", "tag": "seen"}], value=20))
    click(client, services, "ann@example.com", "c1")
    tag(client, "ann@example.com", add=["customer"])
    click(client, services, "ann@example.com", "c2")  # 20 underneath, but outside: no trigger
    settle(services)
    assert runs_of(client, "hot") == []
    tag(client, "ann@example.com", remove=["customer"])
    settle(services)
    assert len(runs_of(client, "hot")) == 1


# --- property: membership toggled at any moment, interactions in any order ------------------------------
@st.composite
def toggled(draw):
    events = draw(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 40), st.sampled_from(["pro", "free"])),
                           min_size=1, max_size=10))
    items = [{"id": f"e{i}", "type": t, "slot": k, "plan": plan} for i, (t, k, plan) in enumerate(events)]
    batches = in_batches(draw, draw(st.permutations(items)))
    # before each batch: maybe tag or untag the contact (it exists once the first batch is scored)
    tags = [draw(st.sampled_from([None, "add", "remove"])) for _ in batches]
    return items, batches, tags


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(toggled())
def test_membership_never_changes_the_score_it_only_hides_it(case):
    items, batches, tags = case
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    app = live_app()
    client = app.test_client()
    base = live_base()
    email = "a@x.io"
    with app.app_context():
        services = app.extensions["scorekeeper"]
        customers = make_list(client, CUSTOMERS)
        put_profile(client, "p", PROFILE["rules"], groups=PROFILE["groups"], max_score=PROFILE["max_score"],
                    exclude=[customers])
        publish(client, services, "p")
        tagged = False
        for batch, change in zip(batches, tags):
            if change and contact_by_email(client, email):
                tag(client, email, **{change: ["customer"]})
                tagged = change == "add"
            send(client, *[{"id": i["id"], "type": i["type"], "contact": {"email": email},
                            "occurred_at": format_timestamp(base + i["slot"] * GRID),
                            "properties": {"plan": i["plan"]}} for i in batch])
            settle(services)
        mine = [{"id": i["id"], "src": "api", "t": i["type"], "at": base + i["slot"] * GRID, "p": {"plan": i["plan"]}}
                for i in items]
        expected = reference_models_fold(PROFILE, mine, now_ms())[0]
        assert score_of(client, email, "p") == (None if tagged else expected)
        assert scored_emails(client, "p") == ([] if tagged else [email])
        publish(client, services, "p")  # the recompute agrees
        assert score_of(client, email, "p") == (None if tagged else expected)
        if tagged:
            tag(client, email, remove=["customer"])
            assert score_of(client, email, "p") == reference_models_fold(PROFILE, mine, now_ms())[0]


# --- the dashboard's pick lists -------------------------------------------------------------------------
def test_the_profile_page_picks_lists_by_name_and_saves_them(client, services, dash):
    from werkzeug.datastructures import MultiDict

    from .form_fields import form_fields

    put_profile(client, "engagement", RULES)
    customers = make_list(client, CUSTOMERS)
    hot = make_list(client, {"name": "Hot", "filter": {"conditions": [
        {"field": "score", "profile": "engagement", "op": "gte", "value": 1}]}})
    page = dash.get("/dashboard/profiles/engagement").get_data(as_text=True)
    assert 'name="exclude" value="%s"' % customers in page and "tagged customer" in page
    assert f'id="exclude-{hot}" name="exclude" value="{hot}" disabled' in page  # shown, not offered
    fields = MultiDict(form_fields(page, "editor"))
    fields.add("exclude", customers)
    resp = dash.post("/dashboard/profiles/engagement", data=fields)
    assert resp.status_code == 303
    assert client.get("/v1/profiles/engagement", headers=AUTH).get_json()["exclude"] == [customers]
    page = dash.get("/dashboard/profiles/engagement").get_data(as_text=True)
    assert f'id="exclude-{customers}" name="exclude" value="{customers}" checked' in page
    services.smart_lists.delete(customers)  # gone behind the page's back (the API refuses it while used)
    fields = MultiDict(form_fields(page, "editor"))
    fields.setlist("exclude", [customers])
    resp = dash.post("/dashboard/profiles/engagement", data=fields)
    assert resp.status_code == 400 and f"no smart list &#39;{customers}&#39;" in resp.get_data(as_text=True)


def test_a_versions_changes_say_the_lists_in_words():
    from app.scoring.profiles import profile_from_dict
    from app.scoring.sentences import describe_changes

    old = profile_from_dict({"id": "p", "name": "P", "rules": RULES, "exclude": ["customers"]})
    new = profile_from_dict({"id": "p", "name": "P", "rules": RULES, "include": ["leads"], "exclude": ["staff"]})
    assert describe_changes(old, new) == [
        "Scores only contacts in list leads (include)",
        "Scores contacts in list customers again (no longer excluded)",
        "No longer scores contacts in list staff (exclude)"]
    assert describe_changes(new, new) == ["No changes"]


def test_the_contact_page_says_why_a_contact_has_no_score(client, services, dash):
    customers = make_list(client, CUSTOMERS)
    leads = make_list(client, {"name": "Leads", "filter": {"conditions": [{"field": "tag", "tag": "lead"}]}})
    put_profile(client, "engagement", RULES, exclude=[customers])
    publish(client, services, "engagement")
    put_profile(client, "other", RULES, include=[leads])
    publish(client, services, "other")
    click(client, services, "ann@example.com", "c1")
    cid = contact_by_email(client, "ann@example.com")["id"]
    tag(client, "ann@example.com", add=["customer"])
    page = dash.get(f"/dashboard/contacts/{cid}").get_data(as_text=True)
    assert "not scored: in Customers" in page and "not scored: in none of Leads" in page
    tag(client, "ann@example.com", add=["lead"], remove=["customer"])
    page = dash.get(f"/dashboard/contacts/{cid}").get_data(as_text=True)
    assert "not scored" not in page


def test_the_preview_leaves_out_the_contacts_outside_the_drafts_lists(client, services, dash):
    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES)
    publish(client, services, "engagement")
    for email in ("ann@example.com", "bo@example.com", "cy@example.com"):
        click(client, services, email, email)
    tag(client, "cy@example.com", add=["customer"])
    put_profile(client, "engagement", RULES, exclude=[customers])
    preview = client.post("/v1/profiles/engagement/preview", headers=AUTH).get_json()
    assert (preview["contacts"], preview["outside"]) == (2, 1)
    from .dashboard_helpers import post

    page = post(dash, "/dashboard/profiles/engagement/preview", {
        "name": "Engagement", "bands_rows": "0", "lists_shown": "1", "exclude": customers}).get_data(as_text=True)
    assert "1 contact left out by the draft's include/exclude lists" in page


def test_the_dashboard_says_why_a_used_list_cannot_be_deleted(client, services, dash):
    from .dashboard_helpers import post

    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, exclude=[customers])
    resp = post(dash, f"/dashboard/smart-lists/{customers}/delete")
    assert resp.status_code == 303
    page = dash.get(resp.headers["Location"]).get_data(as_text=True)
    assert "Not deleted" in page and "engagement" in page
    assert client.get(f"/v1/smart-lists/{customers}", headers=AUTH).status_code == 200


def test_the_live_and_the_building_version_each_keep_their_own_lists(client, services):
    """While a publish builds, both versions score the same contacts: each by its own lists."""
    from app.scoring_service import make_scorer
    from app.storage.profiles import ActiveVersion

    customers = make_list(client, CUSTOMERS)
    put_profile(client, "engagement", RULES, exclude=[customers])
    publish(client, services, "engagement")
    click(client, services, "ann@example.com", "c1")
    tag(client, "ann@example.com", add=["customer"])
    cid = contact_by_email(client, "ann@example.com")["id"]
    live = services.profiles.live()["engagement"]
    put_profile(client, "engagement", RULES)  # no list
    assert client.post("/v1/profiles/engagement/publish", json={}, headers=AUTH).status_code == 202
    services.queue.empty()  # version 2 building, its recompute not run (this test scores as a part of it does)
    building = ActiveVersion(services.profiles.version("engagement", 2), 2, live=False)
    results = make_scorer(services).score({cid: []}, services.clock.now_ms(), versions=[live, building])
    assert results[cid].scores == {live.field: None, building.field: 10}
