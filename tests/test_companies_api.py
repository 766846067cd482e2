"""Company scores over HTTP and through the worker: contacts join companies by email domain or their ``company``
attribute, a profile with ``company_rollup`` keeps each company's score (sum, average, max) as scores change,
contacts moving take their contribution along, expiry and publish keep it right, and the API lists and shows it."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.clock import now_ms
from app.scoring.companies import company_of, roll_up
from app.scoring.interactions import format_timestamp

from .helpers import AUTH, contact_by_email, expire_due, publish, put_profile, send, settle, wait_for
from .workflow_helpers import FAST, put_workflow, runs_of

CLICK = {"id": "click", "on": "email.clicked", "points": 10}
OPEN = {"id": "open", "on": "email.opened", "points": 1}


def clicks(client, email, n=1, start=0, company=None, type_="email.clicked"):
    for i in range(start, start + n):
        body = {"id": f"{email}-{type_}-{i}", "type": type_, "contact": {"email": email}}
        if company is not None:
            body["attributes"] = {"company": company}
        send(client, body)


def company(client, company_id):
    resp = client.get(f"/v1/companies/{company_id}", headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def companies(client, **args):
    resp = client.get("/v1/companies", headers=AUTH, query_string=args)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def score(client, company_id, profile="eng"):
    found = company(client, company_id)["profiles"].get(profile)
    return found["score"] if found else None


def patch(client, email, attributes):
    cid = contact_by_email(client, email)["id"]
    resp = client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": attributes})
    assert resp.status_code == 200, resp.get_json()


def setup(client, services, rollup="sum", rules=(CLICK, OPEN)):
    put_profile(client, "eng", list(rules), company_rollup=rollup)
    publish(client, services, "eng")


# --- membership ------------------------------------------------------------------------------------

def test_contacts_join_their_email_domain_unless_free_mail(client, services):
    setup(client, services)
    for email in ("ann@acme.com", "bob@acme.com", "cat@gmail.com", "dan@globex.io"):
        clicks(client, email)
    settle(services)
    page = companies(client)
    assert [(c["id"], c["contacts"]) for c in page["items"]] == [("acme.com", 2), ("globex.io", 1)]
    assert page["total"] == 2 and page["next_cursor"] is None
    acme = company(client, "acme.com")
    assert acme["contact_ids"] == sorted(contact_by_email(client, e)["id"] for e in ("ann@acme.com", "bob@acme.com"))


@pytest.mark.also_on_cluster
def test_the_company_attribute_wins_and_moves_the_contribution(client, services):
    setup(client, services)
    clicks(client, "ann@acme.com", 2)
    clicks(client, "bob@acme.com", 1)
    settle(services)
    assert score(client, "acme.com") == 30
    patch(client, "bob@acme.com", {"company": "Globex, Inc."})
    settle(services)
    assert score(client, "acme.com") == 20
    assert score(client, "globex-inc") == 10
    assert company(client, "globex-inc")["contacts"] == 1
    patch(client, "bob@acme.com", {"company": None})  # back to the email's domain
    settle(services)
    assert score(client, "acme.com") == 30
    assert client.get("/v1/companies/globex-inc", headers=AUTH).status_code == 404  # nobody left


def test_a_company_named_on_an_interaction_is_joined(client, services):
    setup(client, services)
    clicks(client, "cat@gmail.com", 1, company="Initech")
    settle(services)
    assert score(client, "initech") == 10


def test_an_email_linked_later_places_a_contact_known_by_external_id(client, services):
    setup(client, services)
    send(client, {"id": "x1", "type": "email.clicked", "contact": {"external_id": "u-1"}})
    settle(services)
    assert companies(client)["total"] == 0
    send(client, {"id": "x2", "type": "email.clicked", "contact": {"external_id": "u-1", "email": "eve@acme.com"}})
    settle(services)
    assert score(client, "acme.com") == 20


# --- roll-ups --------------------------------------------------------------------------------------

@pytest.mark.parametrize(("rollup", "expected", "contributions"), [
    pytest.param("sum", 31, [20, 10, 1], id="sum"),
    pytest.param("average", 10, [6.67, 3.33, 0.33], id="average-10.33"),
    pytest.param("max", 20, [20, 0, 0], id="max"),
])
def test_roll_ups_and_contributions(client, services, rollup, expected, contributions):
    setup(client, services, rollup)
    clicks(client, "ann@acme.com", 2)
    clicks(client, "bob@acme.com", 1)
    clicks(client, "cy@acme.com", 1, type_="email.opened")
    settle(services)
    shown = company(client, "acme.com")["profiles"]["eng"]
    assert shown["score"] == expected and shown["rollup"] == rollup and shown["scored_contacts"] == 3
    assert [c["contribution"] for c in shown["contributions"]] == contributions
    assert [c["score"] for c in shown["contributions"]] == [20, 10, 1]


def test_a_profile_without_rollup_gives_no_company_score(client, services):
    put_profile(client, "eng", [CLICK])
    publish(client, services, "eng")
    clicks(client, "ann@acme.com")
    settle(services)
    assert company(client, "acme.com")["profiles"] == {}
    assert companies(client)["items"] == [{"id": "acme.com", "contacts": 1, "scores": {}}]


@pytest.mark.also_on_cluster
def test_publish_builds_the_new_versions_company_scores_before_it_goes_live(client, services):
    put_profile(client, "eng", [CLICK])
    publish(client, services, "eng")
    clicks(client, "ann@acme.com", 2)
    clicks(client, "bob@acme.com", 1)
    settle(services)
    put_profile(client, "eng", [CLICK], company_rollup="max")
    publish(client, services, "eng")
    assert score(client, "acme.com") == 20
    put_profile(client, "eng", [{**CLICK, "points": 5}], company_rollup="sum")
    publish(client, services, "eng")
    assert score(client, "acme.com") == 15
    old = services.keys.company_index("eng", 2, services.companies.bucket_of("acme.com"))
    assert not services.redis.exists(old)  # the retired version's company scores are gone


def test_expiry_lowers_the_company_score_on_time(client, services):
    setup(client, services, "sum", [{**CLICK, "expires_after": "1d"}])
    # occurred a day ago, less a little: they expire in about two seconds, through the ticker
    at = format_timestamp(now_ms() - 86_400_000 + 1500)
    for email in ("ann@acme.com", "bob@acme.com"):
        send(client, {"id": email, "type": "email.clicked", "contact": {"email": email}, "occurred_at": at})
    settle(services)
    assert score(client, "acme.com") == 20
    # both back to 0: they are still scored contacts, so the company has 0
    wait_for(lambda: expire_due(services) or score(client, "acme.com") == 0, timeout=15)


def test_a_manual_change_moves_the_company_score(client, services):
    setup(client, services)
    clicks(client, "ann@acme.com")
    settle(services)
    cid = contact_by_email(client, "ann@acme.com")["id"]
    resp = client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"set": 70, "reason": "met at a fair"})
    assert resp.status_code == 200
    assert score(client, "acme.com") == 70


# --- the list ---------------------------------------------------------------------------------------

@pytest.mark.also_on_cluster
def test_the_list_sorts_by_a_profiles_company_score_and_pages(client, services):
    setup(client, services)
    for email, n in (("a@one.io", 1), ("b@two.io", 3), ("c@three.io", 2)):
        clicks(client, email, n)
    send(client, {"id": "nobody", "type": "email.delivered", "contact": {"email": "d@zero.io"}})
    settle(services)
    first = companies(client, profile="eng", limit=2)
    assert [(c["id"], c["scores"]["eng"]["score"]) for c in first["items"]] == [("two.io", 30), ("three.io", 20)]
    assert first["total"] == 4 and first["next_cursor"] == 2
    rest = companies(client, profile="eng", limit=2, cursor=2)
    assert [c["id"] for c in rest["items"]] == ["one.io", "zero.io"] and rest["next_cursor"] is None


@pytest.mark.parametrize(("args", "status", "field"), [
    pytest.param({"profile": "plain"}, 400, "profile", id="profile-without-rollup"),
    pytest.param({"profile": "nope"}, 404, None, id="no-such-profile"),
    pytest.param({"limit": 0}, 400, "limit", id="limit-zero"),
    pytest.param({"cursor": -1}, 400, "cursor", id="negative-cursor"),
])
def test_bad_list_requests(client, services, args, status, field):
    setup(client, services)
    put_profile(client, "plain", [CLICK])
    publish(client, services, "plain")
    resp = client.get("/v1/companies", headers=AUTH, query_string=args)
    assert resp.status_code == status, resp.get_json()
    body = resp.get_json()
    assert set(body) >= {"code", "status", "message", "errors"}
    if field:
        assert field in str(body["errors"])


def test_a_companys_contacts_come_a_page_at_a_time_and_its_highest_contributions_first(client, services):
    setup(client, services, "max")
    for i, n in enumerate((1, 3, 2, 0, 1)):
        clicks(client, f"p{i}@acme.com", n)
        if not n:
            send(client, {"id": f"p{i}-seen", "type": "email.delivered", "contact": {"email": f"p{i}@acme.com"}})
    settle(services)
    ids = sorted(contact_by_email(client, f"p{i}@acme.com")["id"] for i in range(5))
    first = client.get("/v1/companies/acme.com", headers=AUTH, query_string={"limit": 2}).get_json()
    assert (first["contacts"], first["contact_ids"], first["next_cursor"]) == (5, ids[:2], 2)
    shown = first["profiles"]["eng"]
    assert (shown["score"], shown["scored_contacts"]) == (30, 5)  # p3 has a score of 0 (first interaction)
    assert [(c["score"], c["contribution"]) for c in shown["contributions"]] == [(30, 30), (20, 0)]
    rest = client.get("/v1/companies/acme.com", headers=AUTH, query_string={"limit": 2, "cursor": 4}).get_json()
    assert (rest["contact_ids"], rest["next_cursor"]) == (ids[4:], None)


def test_an_unknown_company_is_a_404(client, services):
    assert client.get("/v1/companies/acme.com", headers=AUTH).status_code == 404
    assert client.get("/v1/companies/Not%20An%20Id", headers=AUTH).status_code == 404


@pytest.mark.parametrize("value", ["median", "", 3, None])
def test_a_bad_rollup_is_refused(client, value):
    resp = client.put("/v1/profiles/eng", headers=AUTH,
                      json={"name": "Eng", "rules": [CLICK], "company_rollup": value})
    assert resp.status_code == 400
    assert "company_rollup" in resp.get_json()["errors"]


def test_the_rollup_reads_back_and_is_a_change_in_words(client, services):
    body = put_profile(client, "eng", [CLICK], company_rollup="average")
    assert body["company_rollup"] == "average"
    publish(client, services, "eng")
    put_profile(client, "eng", [CLICK], company_rollup="max")
    publish(client, services, "eng")
    versions = client.get("/v1/profiles/eng/versions", headers=AUTH).get_json()["items"]
    assert "Company score: max of its contacts' scores (was average)" in versions[0]["changes"]


# --- the property: whatever happens, each company's score is the roll-up of its contacts' scores -------------

EMAILS = ["a@acme.com", "b@acme.com", "c@globex.io", "d@gmail.com"]
STEP = st.one_of(
    st.tuples(st.just("click"), st.sampled_from(EMAILS), st.sampled_from(["email.clicked", "email.opened"])),
    st.tuples(st.just("company"), st.sampled_from(EMAILS), st.sampled_from(["acme.com", "Initech", None])),
    st.tuples(st.just("set"), st.sampled_from(EMAILS), st.integers(min_value=0, max_value=50)),
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=10), rollup=st.sampled_from(["sum", "average", "max"]))
def test_company_scores_are_always_the_rollup_of_their_contacts(client, services, steps, rollup):
    services.redis.flushdb()
    setup(client, services, rollup)
    for i, (kind, email, value) in enumerate(steps):
        if kind == "click":
            send(client, {"id": f"s{i}", "type": value, "contact": {"email": email}})
        elif contact_by_email(client, email) is None:
            send(client, {"id": f"s{i}", "type": "email.delivered", "contact": {"email": email}})
        settle(services)
        if kind == "company":
            patch(client, email, {"company": value})
        elif kind == "set":
            cid = contact_by_email(client, email)["id"]
            client.post(f"/v1/contacts/{cid}/scores/eng", headers=AUTH, json={"set": value, "reason": "test"})
        settle(services)
    members: dict[str, list[int | None]] = {}
    for email in EMAILS:
        contact = contact_by_email(client, email)
        if contact is None:
            continue
        cid = company_of(email, contact["attributes"])
        if cid:
            members.setdefault(cid, []).append((contact.get("scores") or {}).get("eng", {}).get("score"))
    listed = {c["id"]: c for c in companies(client, limit=500)["items"]}
    assert set(listed) == set(members)
    for cid, scores in members.items():
        assert listed[cid]["contacts"] == len(scores)
        assert listed[cid]["scores"].get("eng", {}).get("score") == roll_up(rollup, scores), (cid, scores)


def test_contacts_stored_before_companies_existed_are_placed_by_the_backfill(client, services):
    from app.indexes import backfill

    setup(client, services, "sum")
    clicks(client, "ann@acme.com", 2)
    clicks(client, "bob@acme.com", 1)
    settle(services)
    for key in services.redis.scan_iter(f"{services.keys.prefix}:*co*"):  # as before this feature
        if "company" in key or ":{co:" in key:
            services.redis.delete(key)
    # ann's document forgot its company too; bob's still names it (as a restored backup does: the company
    # indexes are not in a backup, the documents are)
    services.redis.hdel(services.keys.contact(contact_by_email(client, "ann@acme.com")["id"]), "company")
    assert companies(client)["total"] == 0
    assert backfill(services).companies == 2
    assert score(client, "acme.com") == 30 and company(client, "acme.com")["contacts"] == 2
    assert backfill(services).companies == 0  # placed once: a second run moves nobody
    assert score(client, "acme.com") == 30


# --- company filters ----------------------------------------------------------------------------------

def search(client, *conditions, order_by=None):
    body = {"filter": {"conditions": list(conditions), **({"order_by": order_by} if order_by else {})}}
    resp = client.post("/v1/contacts/search", headers=AUTH, json=body)
    assert resp.status_code == 200, resp.get_json()
    return [c["email"] for c in resp.get_json()["items"]]


def test_contacts_are_filtered_by_company_and_by_company_score(client, services):
    setup(client, services)
    clicks(client, "ann@acme.com", 3)
    clicks(client, "bob@acme.com", 1)
    clicks(client, "cy@globex.io", 2)
    clicks(client, "dee@gmail.com", 1)
    settle(services)
    assert contact_by_email(client, "ann@acme.com")["company"] == "acme.com"
    assert contact_by_email(client, "dee@gmail.com")["company"] is None
    assert search(client, {"field": "company", "company": "acme.com"}, order_by="eng") == ["ann@acme.com", "bob@acme.com"]
    assert search(client, {"field": "company", "op": "ne", "company": "acme.com"}, order_by="eng") == \
        ["cy@globex.io", "dee@gmail.com"]
    assert search(client, {"field": "company_score", "profile": "eng", "op": "gte", "value": 30}, order_by="eng") == \
        ["ann@acme.com", "bob@acme.com"]  # acme 40, globex 20
    assert search(client, {"field": "company_score", "profile": "eng", "op": "empty"}) == ["dee@gmail.com"]
    assert search(client, {"field": "company_score", "profile": "eng", "op": "lt", "value": 30},
                  {"field": "score", "profile": "eng", "op": "gte", "value": 20}) == ["cy@globex.io"]


def test_a_company_filter_reads_as_a_sentence_and_in_a_smart_list(client, services):
    from app.contact_filter import describe
    from app.contact_filter_schema import load_filter

    flt = load_filter({"conditions": [{"field": "company", "company": "acme.com"},
                                      {"field": "company_score", "profile": "eng", "op": "gte", "value": 100}]})
    assert describe(flt, {"eng": "Engagement"}) == "company is acme.com and Engagement company score is at least 100"
    setup(client, services)
    clicks(client, "ann@acme.com", 3)
    settle(services)
    resp = client.post("/v1/smart-lists", headers=AUTH, json={"name": "Acme", "filter": flt.to_document()})
    assert resp.status_code in (200, 201), resp.get_json()
    lists = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    assert [(item["name"], item["count"]) for item in lists] == [("Acme", 0)]  # acme is at 30, not 100


# --- the workflow trigger --------------------------------------------------------------------------------

def company_workflow(wid, **trigger):
    base = {"type": "company_score_changed", "profile": "eng", "operator": "gte", "value": 30, **trigger}
    return {"id": wid, "name": wid, "steps": [{"type": "add_tag", "tag": wid}],
            "trigger": {k: v for k, v in base.items() if v is not None}}


def tags_of(client, email):
    return contact_by_email(client, email)["tags"]


@pytest.mark.app_settings(**FAST)
def test_a_company_crossing_the_threshold_runs_for_the_contact_whose_change_moved_it(client, services):
    setup(client, services)
    put_workflow(client, company_workflow("hot-account"))
    put_workflow(client, company_workflow("every-move", fire="on_change", operator="not_empty", value=None,
                                          reentry=True))
    clicks(client, "ann@acme.com", 2)
    settle(services)
    assert runs_of(client, "hot-account") == []  # acme at 20
    clicks(client, "bob@acme.com", 1)  # bob takes acme to 30
    settle(services)
    [run] = runs_of(client, "hot-account")
    bob = contact_by_email(client, "bob@acme.com")
    assert run["contact_id"] == bob["id"]
    assert (run["trigger"]["kind"], run["trigger"]["company"], run["trigger"]["old"], run["trigger"]["new"]) == \
        ("company", "acme.com", 20, 30)
    assert "hot-account" in tags_of(client, "bob@acme.com") and "hot-account" not in tags_of(client, "ann@acme.com")
    clicks(client, "ann@acme.com", 1, start=2)  # 40: still above, no second run on entering
    settle(services)
    assert len(runs_of(client, "hot-account")) == 1
    moves = [(r["trigger"]["old"], r["trigger"]["new"]) for r in runs_of(client, "every-move")]
    # a company's score moves once per contact and batch (ann's two clicks of one batch: none -> 20)
    assert sorted(moves, key=str) == sorted([(None, 20), (20, 30), (30, 40)], key=str)


@pytest.mark.app_settings(**FAST)
def test_a_contact_leaving_moves_both_companies_and_fires_for_it(client, services):
    setup(client, services)
    put_workflow(client, company_workflow("cooled", operator="lt", reentry=True))
    clicks(client, "ann@acme.com", 2)
    settle(services)  # acme none -> 20: below 30 from no score, for ann
    clicks(client, "bob@acme.com", 2)
    settle(services)  # acme 20 -> 40
    ann, bob = (contact_by_email(client, e)["id"] for e in ("ann@acme.com", "bob@acme.com"))
    runs = runs_of(client, "cooled")
    assert [(r["contact_id"], r["trigger"]["old"], r["trigger"]["new"]) for r in runs] == [(ann, None, 20)]
    patch(client, "bob@acme.com", {"company": "Globex"})  # acme 40 -> 20 and globex none -> 20, both by bob
    settle(services)
    later = {(r["contact_id"], r["trigger"]["company"], r["trigger"]["old"], r["trigger"]["new"])
             for r in runs_of(client, "cooled")} - {(ann, "acme.com", None, 20)}
    assert later == {(bob, "acme.com", 40, 20), (bob, "globex", None, 20)}


@pytest.mark.parametrize(("trigger", "field"), [
    pytest.param({"type": "company_score_changed", "profile": "eng", "operator": "gte"}, "value", id="needs-value"),
    pytest.param({"type": "company_score_changed", "operator": "gte", "value": 1}, "profile", id="needs-profile"),
    pytest.param({"type": "company_score_changed", "profile": "eng", "operator": "gte", "value": 1, "fire": "x"},
                 "fire", id="bad-fire"),
])
def test_a_bad_company_trigger_is_refused(client, trigger, field):
    resp = client.put("/v1/workflows/w", headers=AUTH,
                      json={"id": "w", "name": "w", "trigger": trigger, "steps": [{"type": "add_tag", "tag": "t"}]})
    assert resp.status_code == 400 and field in str(resp.get_json()["errors"]), resp.get_json()


def test_the_company_trigger_reads_as_a_sentence():
    from app.words import trigger_sentence

    assert trigger_sentence({"type": "company_score_changed", "profile": "eng", "operator": "gte", "value": 200},
                            {"eng": "Engagement"}) == (
        "When a company's Engagement company score becomes at least 200, for the contact whose change moved it. "
        "Each contact runs it once at most.")


# --- the worked example of docs/scoring-models.md, "Company scores" -------------------------------------

DAY = 86_400_000


@pytest.mark.app_settings(**FAST)
def test_the_worked_example_of_the_docs(make_app, clock):
    app = make_app(CLOCK=clock, **FAST)
    with app.app_context():
        client, services = app.test_client(), app.extensions["scorekeeper"]
        rules = [{"id": "demo", "on": "form.submitted", "points": 30},
                 {"id": "click", "on": "email.clicked", "points": 10, "expires_after": "2d"},
                 {"id": "open", "on": "email.opened", "points": 5}]
        for rollup in ("sum", "average", "max"):
            put_profile(client, rollup, rules, company_rollup=rollup)
            publish(client, services, rollup)
        put_workflow(client, {"id": "hot", "name": "hot", "steps": [{"type": "add_tag", "tag": "hot"}],
                              "trigger": {"type": "company_score_changed", "profile": "sum", "operator": "gte",
                                          "value": 40}})

        def at(day, type_, email):
            send(client, {"id": f"{day}-{email}", "type": type_, "contact": {"email": email},
                          "occurred_at": format_timestamp(clock.now_ms())})
            settle(services)

        def acme():
            return tuple(score(client, "acme.com", p) for p in ("sum", "average", "max"))

        at(0, "form.submitted", "ann@acme.com")
        assert acme() == (30, 30, 30)
        clock.advance(DAY)
        at(1, "email.clicked", "bob@acme.com")
        assert acme() == (40, 20, 30)
        [run] = runs_of(client, "hot")
        assert (run["contact_id"], run["trigger"]["old"], run["trigger"]["new"]) == \
            (contact_by_email(client, "bob@acme.com")["id"], 30, 40)
        at(1, "email.opened", "cy@gmail.com")
        assert acme() == (40, 20, 30) and contact_by_email(client, "cy@gmail.com")["company"] is None
        clock.advance(DAY)
        patch(client, "cy@gmail.com", {"company": "acme.com"})
        settle(services)
        assert acme() == (45, 15, 30)
        clock.advance(DAY + 1)
        expire_due(services)
        assert acme() == (35, 12, 30)
        clock.advance(DAY)
        patch(client, "ann@acme.com", {"company": "Globex"})
        settle(services)
        assert acme() == (5, 3, 5) and score(client, "globex", "sum") == 30
        assert len(runs_of(client, "hot")) == 1


@pytest.mark.private_redis  # the server's byte counter: nothing else talks to it
@pytest.mark.single_redis  # a cluster's nodes count their bytes apart; the guard is the same code
def test_a_cursor_past_a_companys_last_contact_reads_no_contact(client, services):
    """A company page at a cursor at or past its last contact: each roster score's first ``cursor + limit`` would be
    the whole roster, read and sent for nothing (any API key can send a cursor of 10**9), as the contacts' pages
    did until 69c701d."""
    from app.storage.companies import Move

    ids = [f"k{i:03d}" for i in range(200)]
    services.companies.move([Move(cid, None, "past.io") for cid in ids], [])

    def page(query: str) -> tuple[dict, int]:
        before = services.redis.info("stats")["total_net_output_bytes"]
        body = client.get(f"/v1/companies/past.io?{query}", headers=AUTH).get_json()
        return body, services.redis.info("stats")["total_net_output_bytes"] - before

    last, _ = page("limit=10&cursor=190")
    assert last["contact_ids"] == ids[190:] and last["contacts"] == 200 and last["next_cursor"] is None
    _first, first_bytes = page("limit=1")
    for cursor in (200, 201, 10**9):
        past, past_bytes = page(f"limit=50&cursor={cursor}")
        assert (past["contact_ids"], past["contacts"], past["next_cursor"]) == ([], 200, None)
        assert past_bytes <= first_bytes  # the size, not 200 contacts (a page of one reads one of each score)


@pytest.mark.private_redis  # the server's byte counter: nothing else talks to it
@pytest.mark.single_redis  # a cluster's nodes count their bytes apart; the guard is the same code
def test_a_cursor_past_the_last_company_reads_no_company(client, services):
    """The list of companies by a profile's company score at a cursor at or past its last company: each
    bucket's first ``cursor + limit`` of the company-score index would be every scored company, and then every
    company by id, read for nothing."""
    setup(client, services)
    send(client, {"interactions": [{"id": f"c{i}", "type": "email.clicked", "contact": {"email": f"a@c{i:03d}.io"}}
                                   for i in range(120)]})
    settle(services)

    def page(**args) -> tuple[dict, int]:
        before = services.redis.info("stats")["total_net_output_bytes"]
        body = companies(client, profile="eng", **args)
        return body, services.redis.info("stats")["total_net_output_bytes"] - before

    last, _ = page(limit=10, cursor=110)
    assert len(last["items"]) == 10 and last["total"] == 120 and last["next_cursor"] is None
    _first, first_bytes = page(limit=1)
    for cursor in (120, 121, 10**9):
        past, past_bytes = page(limit=50, cursor=cursor)
        assert (past["items"], past["total"], past["next_cursor"]) == ([], 120, None)
        assert past_bytes <= first_bytes  # the count, not 120 companies
