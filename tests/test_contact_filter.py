"""The contact filter document: every document round-trips through the schema, and running a filter over
the indexes finds exactly the contacts (in the same order) that evaluating it contact by contact finds."""
from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.contact_filter_schema import load_filter
from app.contact_filter import (
    ContactFacts,
    ContactFilter,
    Condition,
    band_ranges,
    describe,
    from_legacy,
    matches,
)
from app.indexes import backfill, backfill_once, score_base_once
from app.storage.queries import ContactQuery
from app.scoring.companies import company_of, roll_up
from app.scoring.interactions import ATTRIBUTES_TYPE, MANUAL_TYPE
from app.scoring.grades import CELLS
from app.scoring.profiles import Band, Profile

from .helpers import (AUTH, absorb_scores_now, contact_by_email, drop_activity, publish, publish_profile, put_profile,
                      send, settle)

PROFILES = ("eng", "fit", "draft")  # draft is never published
BANDS = ("cold", "warm", "hot", "nope")
TAGS = ("vip", "big spender", "new", "none-such")
CHANNELS = ("email", "sms")
NOW = datetime(2026, 6, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)

scores = st.integers(min_value=-5, max_value=70).map(float)
#: Companies of the population (``none-such`` has no contact); ``eng`` rolls up to them by sum, ``fit`` not.
COMPANIES = ("acme", "globex", "example.com", "none-such")
company_scores = st.one_of(st.integers(min_value=-5, max_value=400), st.sampled_from((0, 5, 10))).map(float)
conditions = st.one_of(
    st.builds(Condition, field=st.just("score"), profile=st.sampled_from(PROFILES),
              op=st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte")), value=scores),
    st.builds(Condition, field=st.just("score"), profile=st.sampled_from(PROFILES),
              op=st.sampled_from(("empty", "not_empty"))),
    st.builds(Condition, field=st.just("band"), profile=st.sampled_from(PROFILES), band=st.sampled_from(BANDS)),
    st.builds(Condition, field=st.just("tag"), op=st.sampled_from(("has", "has_not")), tag=st.sampled_from(TAGS)),
    st.builds(Condition, field=st.just("activity"), op=st.sampled_from(("within", "before")),
              days=st.integers(min_value=0, max_value=40)),
    st.builds(Condition, field=st.just("dnd"), op=st.sampled_from(("on", "off")), channel=st.sampled_from(CHANNELS)),
    st.builds(Condition, field=st.just("company"), op=st.sampled_from(("eq", "ne")), company=st.sampled_from(COMPANIES)),
    st.builds(Condition, field=st.just("company_score"), profile=st.sampled_from(PROFILES),
              op=st.sampled_from(("eq", "ne", "gt", "gte", "lt", "lte")), value=company_scores),
    st.builds(Condition, field=st.just("company_score"), profile=st.sampled_from(PROFILES),
              op=st.sampled_from(("empty", "not_empty"))),
)
filters = st.builds(ContactFilter, conditions=st.lists(conditions, max_size=3).map(tuple),
                    order_by=st.one_of(st.none(), st.sampled_from(PROFILES)))


# --- the document ---------------------------------------------------------------------------------
@given(filters)
def test_every_filter_document_round_trips(flt):
    document = flt.to_document()
    assert load_filter(document) == flt
    assert load_filter(document).to_document() == document


@pytest.mark.parametrize("condition, problem", [
    pytest.param({"field": "score", "profile": "eng", "op": "gte"}, {"value": ["required with op=gte"]},
                 id="numeric-op-needs-a-value"),
    pytest.param({"field": "score", "profile": "eng", "op": "empty", "value": 1}, {"value": ["not used with op=empty"]},
                 id="empty-takes-no-value"),
    pytest.param({"field": "tag", "tag": "vip", "days": 3}, {"days": ["not used by a tag condition"]},
                 id="foreign-attribute"),
    pytest.param({"field": "activity", "op": "soon", "days": 3}, {"op": ["one of within, before"]}, id="bad-op"),
    pytest.param({"field": "band", "profile": "eng"}, {"band": ["required"]}, id="band-needs-its-name"),
    pytest.param({"field": "company_score", "profile": "eng", "op": "gt"}, {"value": ["required with op=gt"]},
                 id="company-score-needs-a-value"),
    pytest.param({"field": "company", "company": "Acme Inc"}, {"company": ["a company id (acme.com, acme-inc)"]},
                 id="company-id-not-a-name"),
    pytest.param({"field": "company", "company": "acme", "op": "in"}, {"op": ["one of eq, ne"]}, id="company-op"),
    pytest.param({"field": "colour"}, {"field": ["Must be one of: score, band, tag, activity, dnd, grade, company, "
                                                 "company_score."]},
                 id="unknown-field"),
])
def test_an_invalid_condition_is_refused_naming_the_attribute(condition, problem):
    with pytest.raises(ValidationError) as refused:
        load_filter({"conditions": [condition]})
    assert refused.value.messages == {"conditions": {0: problem}}


def test_the_single_condition_parameters_read_as_a_document():
    flt = from_legacy({"profile": "eng", "op": "gte", "value": 20, "tag": "vip", "without_tag": "old"})
    assert flt.to_document() == {"order_by": "eng", "conditions": [
        {"field": "score", "profile": "eng", "op": "gte", "value": 20},
        {"field": "tag", "op": "has", "tag": "vip"}, {"field": "tag", "op": "has_not", "tag": "old"}]}
    assert from_legacy({"profile": "eng"}).conditions == (Condition("score", op="not_empty", profile="eng"),)


def test_a_filter_reads_as_a_sentence():
    flt = load_filter({"conditions": [{"field": "score", "profile": "eng", "op": "gte", "value": 20},
                                      {"field": "band", "profile": "eng", "band": "warm"},
                                      {"field": "tag", "op": "has_not", "tag": "big spender"},
                                      {"field": "activity", "op": "within", "days": 1},
                                      {"field": "dnd", "channel": "sms"}]})
    assert describe(flt, {"eng": "Engagement"}) == (
        "Engagement score is at least 20 and Engagement band is warm and not tagged big spender and "
        "active in the last 1 day and DND on for sms")
    assert describe(ContactFilter()) == "all contacts"


@pytest.mark.parametrize("band, expected", [
    pytest.param("cold", [(0, 10)], id="lowest"),
    pytest.param("warm", [(10, 25)], id="middle"),
    pytest.param("hot", [(25, None)], id="open-ended"),
    pytest.param("nope", [], id="unknown"),
])
def test_a_band_is_the_score_range_up_to_the_next_band(band, expected):
    profile = Profile(id="eng", name="eng", rules=(), bands=(Band("hot", 25), Band("cold", 0), Band("warm", 10)))
    assert band_ranges(profile, band) == expected


# --- the indexes agree with evaluating contact by contact -----------------------------------------------
@pytest.fixture(params=["hot", "base", "mixed"])
def population(request, client, services):
    """Forty contacts with varied scores in two published profiles, tags (one with a space), DND and
    latest interactions spread over six weeks; their score index as the drain wrote it (``hot``), absorbed into its
    compact base (``base``), or absorbed and then a third of the contacts scored again (``mixed``: hot entries with
    dead base entries beside live ones: storage/score_base.py)."""
    rng = random.Random(14)
    put_profile(client, "draft", [{"id": "o", "on": "email.opened", "points": 1}])
    interactions = []
    for n in range(40):
        email = f"p{n:02d}@example.com"
        for k in range(rng.randint(0, 12)):
            at = NOW - timedelta(days=rng.randint(0, 42), minutes=k)
            interactions.append({"id": f"{email}-o{k}", "type": "email.opened", "contact": {"email": email},
                                 "occurred_at": at.isoformat()})
        if rng.random() < 0.5:
            interactions.append({"id": f"{email}-v", "type": "custom.visit", "contact": {"email": email},
                                 "occurred_at": (NOW - timedelta(days=rng.randint(0, 42))).isoformat()})
        if not any(i["contact"]["email"] == email for i in interactions):
            interactions.append({"id": f"{email}-x", "type": "custom.other", "contact": {"email": email},
                                 "occurred_at": (NOW - timedelta(days=50)).isoformat()})
    for start in range(0, len(interactions), 100):
        send(client, {"interactions": interactions[start:start + 100]})
    settle(services)
    put_profile(client, "eng", [{"id": "o", "on": "email.opened", "points": 5}],
                [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 25}],
                company_rollup="sum")
    publish(client, services, "eng")
    publish_profile(client, services, "fit", [{"id": "v", "on": "custom.visit", "points": 3}],
                    [{"name": "cold", "min": 0}, {"name": "hot", "min": 3}])
    ids = [cid for page in services.contacts.contact_pages(100) for cid in page]
    for cid in ids:
        tags = [t for t in TAGS[:3] if rng.random() < 0.4]
        if tags:
            services.contacts.change_tags(cid, tags)
        for channel in CHANNELS:
            if rng.random() < 0.3:
                client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"dnd": {channel: rng.random() < 0.7}})
        company = rng.choice(("Acme", "Globex", None, None))  # else its email's: example.com
        if company:
            client.patch(f"/v1/contacts/{cid}", headers=AUTH, json={"attributes": {"company": company}})
    settle(services)
    if request.param != "hot":
        score_base_once(services)
        assert absorb_scores_now(services) > 0
    if request.param == "mixed":
        again = [{"id": f"again-{n}", "type": "email.opened", "contact": {"email": f"p{n:02d}@example.com"},
                  "occurred_at": (NOW - timedelta(days=1)).isoformat()} for n in range(0, 40, 3)]
        send(client, {"interactions": again})
        settle(services)
        eng = services.profiles.live()["eng"].version
        assert sum(services.redis.zcard(services.keys.score_stale("eng", eng, b)) for b in range(16)) > 0
    return ids


def brute_force(services, ids, flt: ContactFilter) -> list[str]:
    """Each contact read whole (scores from its fold states, latest interaction from its timeline) and
    checked with ``matches``; ordered as the query promises."""
    live = services.profiles.live()
    profiles = {pid: v.profile for pid, v in live.items()}
    timelines = services.timelines.read_timelines(ids)
    contacts = services.contacts.get_contacts(ids)
    # each contact's company from its email and attributes, each company's score rolled up from its members'
    company = {c["id"]: company_of(c["email"], c["attributes"]) for c in contacts}
    members: dict[str, list[dict]] = {}
    for contact in contacts:
        members.setdefault(company[contact["id"]] or "", []).append(contact["states"])
    rolled = {pid: {co: roll_up(v.profile.company_rollup, [states[v.field].score if v.field in states else None
                                                          for states in group])
                    for co, group in members.items() if co}
              for pid, v in live.items() if v.profile.company_rollup}
    found = []
    for contact in contacts:
        states = contact["states"]
        mine = company[contact["id"]]
        facts = ContactFacts(
            scores={pid: states[v.field].score if v.field in states else None for pid, v in live.items()},
            tags=frozenset(contact["tags"]), dnd=contact["dnd"],
            last_activity=max((r.at for r in timelines[contact["id"]] if r.type not in (MANUAL_TYPE, ATTRIBUTES_TYPE)),
                              default=None),
            company=mine, company_scores={pid: by_company.get(mine or "") for pid, by_company in rolled.items()})
        if matches(flt, facts, profiles, NOW_MS):
            found.append((contact["id"], facts))
    sort = flt.sort_profile if flt.sort_profile in live else None
    if sort:
        found.sort(key=lambda f: (f[1].scores[sort] is not None, f[1].scores[sort] or 0, f[0]), reverse=True)
    else:
        created = {cid: int(services.redis.hget(services.keys.contact(cid), "created_at")) for cid in ids}  # the
        # registry's order: created_at (ms), then id
        found.sort(key=lambda f: (created[f[0]], f[0]), reverse=True)
    return [cid for cid, _facts in found]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters, limit=st.integers(min_value=1, max_value=15))
def test_the_indexes_find_what_brute_force_finds_in_the_same_order(services, population, flt, limit):
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    expected = brute_force(services, population, flt)
    assert follow_pages(query, flt, live, limit, len(expected)) == expected


def test_last_activity_is_backfilled_from_timelines_as_the_drain_wrote_it(services, population):
    """The backfill (a restore's, ``scorekeeper reindex``) gives each contact the latest activity the drain gave it:
    manual score changes and attribute changes (the population's company and DND edits) are no activity."""
    drained = services.scores.last_activity(population)
    assert any(t is not None for t in drained)
    drop_activity(services)
    assert services.scores.last_activity(population) == [None] * len(population)
    assert backfill(services).active == sum(t is not None for t in drained)
    assert services.scores.last_activity(population) == drained


@pytest.mark.parametrize("conditions, expected", [
    pytest.param([{"field": "score", "profile": "eng", "op": "gte", "value": 20},
                  {"field": "band", "profile": "eng", "band": "warm"}], [("(25.0", "20.0")], id="score-and-band"),
    pytest.param([{"field": "score", "profile": "eng", "op": "ne", "value": 5},
                  {"field": "score", "profile": "eng", "op": "lte", "value": 5}], [("(5.0", "-inf")], id="ne-and-lte"),
    pytest.param([{"field": "score", "profile": "eng", "op": "gt", "value": 30},
                  {"field": "band", "profile": "eng", "band": "cold"}], [], id="disjoint"),
    pytest.param([{"field": "score", "profile": "eng", "op": "gte", "value": 1},
                  {"field": "tag", "tag": "vip"}], None, id="not-only-scores"),
])
def test_score_and_band_conditions_of_one_profile_become_one_set_of_ranges(conditions, expected):
    from app.storage.queries import combined_ranges

    profile = Profile(id="eng", name="eng", rules=(), bands=(Band("cold", 0), Band("warm", 10), Band("hot", 25)))
    assert combined_ranges(load_filter({"conditions": conditions}).conditions, {"eng": profile}) == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters)
def test_a_count_is_what_brute_force_finds(services, population, flt):
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    assert ContactQuery(services.scores, services.contacts, services.companies).count(flt, live, NOW_MS) == \
        len(brute_force(services, population, flt))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters, limit=st.integers(min_value=1, max_value=15))
def test_the_walk_a_cluster_takes_finds_what_brute_force_finds(services, population, flt, limit):
    """On a Redis Cluster a bucket's indexes are in different slots, so no script intersects them: the query
    walks a driving index instead, and must answer the same as the script does on one Redis."""
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.single_node = False
    expected = brute_force(services, population, flt)
    assert follow_pages(query, flt, live, limit, len(expected)) == expected


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters, limit=st.integers(min_value=1, max_value=15), force=st.sampled_from(("walk", "collect", "check")))
def test_every_way_the_script_can_take_finds_what_brute_force_finds(services, population, flt, limit, force):
    """filter_bucket.lua picks by cost between walking the order key from the top and sorting the driver's
    matches (and, for a count, between checking the driver member by member and taking the small negated
    sets away): each way, forced, answers the same."""
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = force
    assert_finds(query, flt, live, limit, brute_force(services, population, flt))


GRADES = {"lead": ("fit", "eng"), "turned": ("eng", "fit"), "unpublished": ("draft", "eng")}
grade_conditions = st.one_of(
    st.builds(Condition, field=st.just("grade"), grade=st.sampled_from(sorted(GRADES)),
              op=st.sampled_from(("eq", "ne")), cell=st.sampled_from(CELLS)),
    st.builds(Condition, field=st.just("grade"), grade=st.sampled_from(sorted(GRADES)), op=st.just("in"),
              cells=st.lists(st.sampled_from(CELLS), min_size=1, max_size=4, unique=True).map(tuple)))
graded_filters = st.builds(
    ContactFilter, conditions=st.lists(st.one_of(grade_conditions, conditions), min_size=1, max_size=3).map(tuple),
    order_by=st.one_of(st.none(), st.sampled_from(PROFILES))).filter(lambda f: f.grades)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=graded_filters, limit=st.integers(min_value=1, max_value=15),
       force=st.sampled_from((None, "walk", "collect", "check", "cluster")))
def test_grade_conditions_find_what_brute_force_finds(services, population, flt, limit, force):
    """A grade condition is the check of the cell two scores make, over the two profiles' indexes."""
    flt = flt.with_grades(GRADES)
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = None if force == "cluster" else force
    query.single_node = force != "cluster"
    assert_finds(query, flt, live, limit, brute_force(services, population, flt))


def dnd_index(services, channel: str) -> set[str]:
    return {cid for bucket in range(services.sharding.buckets)
            for cid in services.redis.smembers(services.keys.dnd(channel, bucket))}


def dnd_documents(services, ids, channel: str) -> set[str]:
    return {c["id"] for c in services.contacts.get_contacts(ids) if c["dnd"].get(channel)}


@pytest.mark.parametrize("conditions", [
    pytest.param([{"field": "company_score", "profile": "eng", "op": "gte", "value": 0}], id="every-scored-company"),
    pytest.param([{"field": "company_score", "profile": "eng", "op": "ne", "value": 0},
                  {"field": "company", "op": "ne", "company": "acme"}], id="not-zero-not-acme"),
    pytest.param([{"field": "company_score", "profile": "eng", "op": "lt", "value": 1000},
                  {"field": "tag", "tag": "vip"}], id="with-a-tag"),
])
def test_a_company_score_matching_more_companies_than_a_script_reads_walks(services, population, monkeypatch,
                                                                          conditions):
    """Past MAX_COMPANIES matching companies the filter walks (each contact's company and its score read per
    chunk): the same answer."""
    from app.storage import queries

    flt = load_filter({"conditions": conditions})
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    expected = brute_force(services, population, flt)
    assert expected  # the case is not empty
    monkeypatch.setattr(queries, "MAX_COMPANIES", 1)
    assert_finds(ContactQuery(services.scores, services.contacts, services.companies), flt, live, 7, expected)


def test_a_filter_computed_in_redis_writes_nothing(services, population):
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    flt = load_filter({"conditions": [{"field": "score", "profile": "eng", "op": "ne", "value": 10},
                                      {"field": "tag", "op": "has_not", "tag": "vip"},
                                      {"field": "activity", "op": "within", "days": 30}], "order_by": "fit"})
    query = ContactQuery(services.scores, services.contacts, services.companies)
    before = sorted(services.redis.scan_iter())
    assert query.run(flt, live, 5, 0, NOW_MS)["total"] == len(brute_force(services, population, flt)) > 0
    assert query.count(flt, live, NOW_MS) == len(brute_force(services, population, flt))
    assert sorted(services.redis.scan_iter()) == before


def test_the_dnd_index_follows_every_way_dnd_changes(client, services):
    """PATCH switches it at once; a ``contact.dnd_updated`` interaction and an unsubscribe switch it when
    scored; the index always holds what the contact documents say."""
    at = NOW - timedelta(days=1)
    send(client, {"interactions": [
        {"id": "a1", "type": "contact.dnd_updated", "contact": {"email": "a@x.io"},
         "occurred_at": at.isoformat(), "properties": {"channels": {"email": True, "sms": True}}},
        {"id": "b1", "type": "email.unsubscribed", "contact": {"email": "b@x.io"}, "occurred_at": at.isoformat()},
        {"id": "c1", "type": "email.opened", "contact": {"email": "c@x.io"}, "occurred_at": at.isoformat()}]})
    settle(services)
    ids = [cid for page in services.contacts.contact_pages(100) for cid in page]
    assert len(ids) == 3
    assert len(dnd_index(services, "email")) == 2 and len(dnd_index(services, "sms")) == 1
    a, b, c = (contact_by_email(client, e)["id"] for e in ("a@x.io", "b@x.io", "c@x.io"))
    client.patch(f"/v1/contacts/{c}", headers=AUTH, json={"dnd": {"sms": True}})
    assert dnd_index(services, "sms") == {a, c}  # at once, before the worker scores the recorded change
    client.patch(f"/v1/contacts/{a}", headers=AUTH, json={"dnd": {"email": False}})
    send(client, {"id": "b2", "type": "contact.dnd_updated", "contact": {"email": "b@x.io"},
                  "occurred_at": (at + timedelta(hours=1)).isoformat(), "properties": {"channels": {"sms": True}}})
    settle(services)
    for channel in CHANNELS:
        assert dnd_index(services, channel) == dnd_documents(services, ids, channel)
    assert dnd_index(services, "email") == {b} and dnd_index(services, "sms") == {a, b, c}


def test_the_dnd_index_is_backfilled_once_by_an_upgrade(services, population):
    """A deployment that ran the earlier backfill (search and activity) gets the DND index from the contact
    documents at the next worker start, with no manual step."""
    for channel in CHANNELS:
        for bucket in range(services.sharding.buckets):
            services.redis.delete(services.keys.dnd(channel, bucket))
    services.jobs.record_migration("search-and-activity-indexes", NOW_MS)  # what the previous release recorded
    assert dnd_index(services, "email") == set()
    done = backfill_once(services)
    assert done is not None and done.dnd == len(dnd_documents(services, population, "email")
                                                  | dnd_documents(services, population, "sms"))
    for channel in CHANNELS:
        assert dnd_index(services, channel) == dnd_documents(services, population, channel) != set()
    assert backfill_once(services) is None


def assert_finds(query, flt, live, limit, expected):
    """The count, and every page followed by its cursor, give exactly ``expected`` in order."""
    assert query.count(flt, live, NOW_MS) == len(expected)
    assert follow_pages(query, flt, live, limit, len(expected)) == expected


def follow_pages(query, flt, live, limit, total):
    """Every page of a filter followed by its cursor (each stating ``total``), as contact ids in order."""
    pages, cursor = [], 0
    while cursor is not None:
        page = query.run(flt, live, limit, cursor, NOW_MS)
        assert page["total"] == total
        pages += [cid for cid, _score in page["items"]]
        cursor = page["next_cursor"]
    return pages


# --- company rosters as releases before wrote them ----------------------------------------------------
def rosters_as_before(services, every: int = 1) -> int:
    """Rewrite the company rosters into the form of the release before: contacts at 0 (every ``every``-th of
    each roster; the rest stay as this release writes them, like a roster written partly before an upgrade
    and partly after), each with a set of members per company and contact bucket beside them. Returns how
    many contacts were put back at 0."""
    back = 0
    for bucket in range(services.sharding.buckets):
        for company in services.redis.zrange(services.keys.companies(bucket), 0, -1):
            key = services.keys.company_roster(company, bucket)
            members = services.redis.zrange(key, 0, -1)
            old = members[::every]
            services.redis.zadd(key, dict.fromkeys(old, 0))
            back += len(old)
            for cid in members:
                services.redis.sadd(services.keys.company_members(company, services.sharding.bucket_of(cid)), cid)
    return back


company_filters = st.builds(
    ContactFilter, conditions=st.lists(conditions, min_size=1, max_size=3).map(tuple),
    order_by=st.one_of(st.none(), st.sampled_from(PROFILES))).filter(
        lambda f: any(c.field in ("company", "company_score") for c in f.conditions))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=company_filters, limit=st.integers(min_value=1, max_value=15), every=st.sampled_from((1, 2)),
       force=st.sampled_from((None, "walk", "collect", "check", "cluster")))
def test_company_filters_over_rosters_a_release_before_wrote_find_what_brute_force_finds(
        services, population, flt, limit, every, force):
    """Rosters with contacts at 0 (their contact bucket worked out from the id), wholly or partly, answer each
    way exactly as the rewritten ones do; the old member sets are not read (they are emptied here: a filter
    that read them would find nobody)."""
    assert rosters_as_before(services, every) > 0
    for bucket in range(services.sharding.buckets):
        for company in COMPANIES:
            services.redis.delete(services.keys.company_members(company, bucket))
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = None if force == "cluster" else force
    query.single_node = force != "cluster"
    assert_finds(query, flt, live, limit, brute_force(services, population, flt))


def test_the_rosters_a_release_before_wrote_are_rewritten_once_and_read_the_same(services, population):
    from app.indexes import ROSTER_MIGRATION, rosters_once

    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    flts = [load_filter({"conditions": c}) for c in (
        [{"field": "company", "op": "eq", "company": "example.com"}],
        [{"field": "company", "op": "ne", "company": "acme"}, {"field": "tag", "tag": "vip"}],
        [{"field": "company_score", "profile": "eng", "op": "gte", "value": 0}])]
    expected = [brute_force(services, population, flt) for flt in flts]
    assert all(expected)
    rosters = {c: services.companies.roster(c, 0, 100) for c in COMPANIES}
    assert rosters["example.com"] and rosters["none-such"] == []
    old = rosters_as_before(services)
    sets = [services.keys.company_members(c, b) for c in COMPANIES for b in range(services.sharding.buckets)]
    old_bytes = sum(services.redis.memory_usage(k, samples=0) or 0 for k in sets)
    assert old == len(population) - len(rosters_of_none(services, population)) and old_bytes > 0
    assert {c: services.companies.roster(c, 0, 100) for c in COMPANIES} == rosters  # read the same before
    assert services.companies.roster("example.com", 3, 4) == rosters["example.com"][3:7]

    assert rosters_once(services) == old
    for company in COMPANIES:
        key = services.companies.roster_key(company)
        assert all(score == services.sharding.bucket_of(cid) + 1
                   for cid, score in services.redis.zrange(key, 0, -1, withscores=True))
    assert not any(services.redis.exists(k) for k in sets)
    assert services.jobs.migration_done(ROSTER_MIGRATION) and rosters_once(services) is None
    assert {c: services.companies.roster(c, 0, 100) for c in COMPANIES} == rosters
    assert services.companies.roster("example.com", 3, 4) == rosters["example.com"][3:7]
    query = ContactQuery(services.scores, services.contacts, services.companies)
    for flt, found in zip(flts, expected):
        assert_finds(query, flt, live, 4, found)


def rosters_of_none(services, ids) -> list[str]:
    """The contacts without a company."""
    return [cid for cid, company in services.companies.companies_of(ids).items() if not company]


# --- cursors at, inside and past the end -------------------------------------------------------------
#: Filters of each way a filtered page is answered: off one index (a score range of the sort profile), inside
#: Redis (filter_bucket.lua: the registry or a tag driving, a negated set), by score with no condition (the
#: score index, then the unscored from the registry), the walk a cluster takes.
PAST_FILTERS = [
    pytest.param({"conditions": [{"field": "tag", "op": "has_not", "tag": "none-such"}]}, id="negated-tag"),
    pytest.param({"conditions": [{"field": "tag", "op": "has", "tag": "vip"}], "order_by": "eng"}, id="tag-by-score"),
    pytest.param({"conditions": [], "order_by": "eng"}, id="every-contact-by-score"),
    pytest.param({"conditions": [{"field": "score", "profile": "eng", "op": "gte", "value": 0},
                                 {"field": "tag", "op": "has_not", "tag": "none-such"}]}, id="score-and-tag-newest"),
    pytest.param({"conditions": [{"field": "score", "profile": "eng", "op": "gte", "value": 0}],
                  "order_by": "eng"}, id="one-index"),
]


@pytest.mark.private_redis  # the server's byte counter: nothing else talks to it
@pytest.mark.single_redis  # a cluster's nodes count their bytes apart; the guard is the same code
@pytest.mark.parametrize("document", PAST_FILTERS)
def test_a_filtered_page_at_a_cursor_past_its_matches_reads_no_match(client, services, document):
    """A filtered page (``POST /v1/contacts/search``, a smart list's page) at a cursor at or past its last match:
    each bucket's first ``cursor + limit`` matches would be all of them, read and sent for nothing (any API key
    can send a cursor of 10**15), as the every-contact page (69c701d) and the company page (5c3a64d) did."""
    send(client, {"interactions": [{"id": f"p{i}", "type": "email.opened", "contact": {"email": f"p{i:03d}@past.io"},
                                    "occurred_at": "2026-01-01T00:00:00Z"} for i in range(200)]})
    settle(services)
    publish_profile(client, services, "eng", [{"id": "o", "on": "email.opened", "points": 5}])
    for cid in [cid for page in services.contacts.contact_pages(100) for cid in page]:
        services.contacts.change_tags(cid, ["vip"])
    created = client.post("/v1/smart-lists", headers=AUTH, json={"name": "Past", "filter": document})
    assert created.status_code == 201, created.get_json()
    members = f"/v1/smart-lists/{created.get_json()['id']}/contacts"

    def sent(request) -> tuple[dict, int]:
        before = services.redis.info("stats")["total_net_output_bytes"]
        body = request().get_json()
        return body, services.redis.info("stats")["total_net_output_bytes"] - before

    def search(limit: int, cursor: int | None = None) -> tuple[dict, int]:
        body = {"filter": document, "limit": limit, **({"cursor": str(cursor)} if cursor is not None else {})}
        return sent(lambda: client.post("/v1/contacts/search", headers=AUTH, json=body))

    def listed(limit: int, cursor: int | None = None) -> tuple[dict, int]:
        query = f"limit={limit}" + (f"&cursor={cursor}" if cursor is not None else "")
        return sent(lambda: client.get(f"{members}?{query}", headers=AUTH))

    for page in (search, listed):
        last, _ = page(10, 190)
        assert len(last["items"]) == 10 and last["total"] == 200 and last["next_cursor"] is None
        _first, first_bytes = page(1)
        for cursor in (200, 201, 10**15 - 1):
            past, past_bytes = page(50, cursor)
            assert (past["items"], past["total"], past["next_cursor"]) == ([], 200, None)
            # the counts, not 200 matches (~5x a page of one); a page's contacts come as one JSON text, a little
            # shorter than Redis's protocol gave them, so a page of one is now within a tenth of the past page's counts
            assert past_bytes <= 1.1 * first_bytes, (page.__name__, cursor, past_bytes, first_bytes)


def cursors(total: int) -> st.SearchStrategy[int]:
    """Cursors of a filter of ``total`` matches: the first, one inside, the last match, exactly at the end, past
    it, huge."""
    inside = st.integers(min_value=0, max_value=max(0, total - 1))
    return st.one_of(st.just(0), inside, st.just(max(0, total - 1)), st.just(total), st.just(total + 1),
                     st.integers(min_value=total, max_value=10**15 - 1))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flt=filters, limit=st.integers(min_value=1, max_value=15), data=st.data(),
       way=st.sampled_from(("script", "walk", "collect", "cluster")))
def test_a_page_at_any_cursor_is_that_slice_of_what_brute_force_finds(services, population, flt, limit, data, way):
    """A page at a cursor of any depth, in each way a page is answered, is that slice of the brute-force list,
    with the count of all of it; at or past the end, no match and no next cursor."""
    live = {pid: (v.profile, v.version) for pid, v in services.profiles.live().items()}
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = way if way in ("walk", "collect") else None
    query.single_node = way != "cluster"
    expected = brute_force(services, population, flt)
    cursor = data.draw(cursors(len(expected)), label="cursor")
    page = query.run(flt, live, limit, cursor, NOW_MS)
    items = expected[cursor:cursor + limit]
    assert [cid for cid, _score in page["items"]] == items
    assert page["total"] == len(expected)
    assert page["next_cursor"] == (cursor + len(items) if cursor + len(items) < len(expected) else None)
