"""Redis keeps of an interaction only the properties a live or building rule reads (issue #17; app/scoring/
kept_properties.py). Once the archive holds an interaction, its copy in the contact's timeline is trimmed to them,
the names taken away written in the copy; whoever folds a version reading one of those names reads the archive's
whole record instead. Every score, ledger, preview and page must be what the whole records give.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.archiving import active_reads, trim_archived
from app.contact_layout import LAYOUT_MIGRATIONS, kept_properties_once
from app.scoring.conditions import where_matches
from app.scoring.interactions import ATTRIBUTES_TYPE, MANUAL_TYPE, format_timestamp
from app.scoring.once_keys import KEY_LEN, once_key
from app.scoring.kept_properties import MIN_SAVED_BYTES, WHOLE_TYPES, Trimmer, _size, every_type, lacks, reads_of, refills, trimmed
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord, decode_record, encode_record, record_text
from app.scoring_service import make_scorer, score_parsed
from app.storage.timelines import COPIES_TRIMMED
from app.storage.redis_tools import loads

from .clock import CLOCK_START
from .helpers import AUTH, publish, publish_profile, put_profile, score_of, send, settle
from .reference import reference_fold, reference_score
from .test_archive_write_through import behind_the_gate, gate  # noqa: F401 - the fixture

MINUTE = 60_000

# ---------------------------------------------------------------------------------------------------------------
# The domain: what a trimmed copy holds, and when it will not do


names = st.sampled_from(["url", "campaign", "message_id", "plan", "utm", "utm.source", "order", "x"])
values = st.one_of(st.text(max_size=30), st.text(min_size=KEY_LEN - 2, max_size=60), st.integers(-5, 5),
                   st.integers(10 ** 17, 2 ** 62), st.booleans(), st.none(),
                   st.dictionaries(st.sampled_from(["source", "medium"]), st.text(max_size=4), max_size=2))
types = st.sampled_from(["email.clicked", "email.opened", "payment.succeeded", "custom.page_view",
                         *sorted(WHOLE_TYPES)])
conditions = st.one_of(st.text(max_size=4), st.fixed_dictionaries({"exists": st.booleans()}),
                       st.fixed_dictionaries({"ne": st.text(max_size=4)}))


@st.composite
def rules(draw) -> dict[str, Any]:
    rule: dict[str, Any] = {"id": draw(st.sampled_from("abcdef")), "on": draw(types), "points": 1,
                            "where": draw(st.dictionaries(names, conditions, max_size=3))}
    if draw(st.booleans()):
        rule["limit"] = {"once_per": draw(names)}
    return rule


@settings(max_examples=300, deadline=None)
@given(type_=types, properties=st.dictionaries(names, values, max_size=6), ruleset=st.lists(rules(), max_size=4),
       later=st.lists(rules(), max_size=3))
def test_a_trimmed_copy_answers_every_rule_it_was_kept_for_and_says_what_it_lacks(type_, properties, ruleset, later):
    """For any properties and rules: the copy keeps exactly the names the rules read of its type (a dotted path keeps
    the object it starts in), every rule it was kept for matches it as it matches the whole record, the stored form
    reads back the same, and ``lacks`` says the copy will not do exactly when a later rule reads a name it lost."""
    profile = profile_from_dict({"id": "p", "rules": _unique(ruleset)})
    reads = reads_of([profile])
    record = TimelineRecord("i1", "api", type_, 1, properties)
    copy = trimmed(record, reads)
    if type_ in WHOLE_TYPES or not properties:
        assert copy is None
        return
    kept = reads.get(type_, frozenset())
    keyed = reads.keyed.get(type_, frozenset())  # read only as a once_per value: a long one may be kept as its key
    long_keyed = {k for k, v in properties.items() if k in keyed and v is not None and len(str(v)) > KEY_LEN}
    if copy is None:  # nothing to lose (every property is read), or too little to save: the copy stays whole
        assert sum(_size(v) for k, v in properties.items() if k not in kept) \
            + sum(len(str(properties[k])) - KEY_LEN for k in long_keyed) < MIN_SAVED_BYTES
        copy = record
    if copy is not record:
        assert copy.properties == {k: once_key(str(v)) if k in long_keyed else v
                                   for k, v in properties.items() if k in kept}
        assert set(copy.dropped) == set(properties) - kept | long_keyed
    for rule in profile.rules:
        if rule.on == type_:
            assert where_matches(rule.where, copy.properties) == where_matches(rule.where, properties)
            if rule.once_per:  # the limit compares keys: the copy's is the whole record's
                assert _key_of(copy.properties.get(rule.once_per)) == _key_of(properties.get(rule.once_per))
    fast = Trimmer(reads)  # what the archiver uses: the same, from its shape's plan (asked twice: planned, then known)
    for _ in range(2):
        made = fast(record)
        assert (made.properties, made.dropped) == (copy.properties, copy.dropped) if made is not None \
            else copy is record
    back = decode_record(copy.key, loads(record_text(copy)))
    assert (back.properties, back.dropped) == (copy.properties, copy.dropped)
    assert not lacks([copy], reads)
    newer = reads_of([profile_from_dict({"id": "p", "rules": _unique(later)})])
    needed = newer.get(type_, frozenset())
    # a name the copy lost, or holds as a key where the later rules read more than a once_per value
    assert lacks([copy], newer) == any(
        name in needed and not (name in newer.keyed.get(type_, ()) and name in copy.properties)
        for name in copy.dropped)
    assert lacks([copy], dict(newer)) == bool(needed & set(copy.dropped))  # plain reads: every name read whole
    # written again from the whole record for the later rules: it lacks nothing they read
    again = refills([copy], [record], Trimmer(newer))
    assert [pair[0] for pair in again] == ([copy] if lacks([copy], newer) else [])
    for _copy, made in again:
        assert not lacks([made], newer)
        assert set(properties) - set(made.properties) <= set(made.dropped)
        assert all(made.properties[k] == (properties[k] if k not in made.dropped else once_key(str(properties[k])))
                   for k in made.properties)
    if not lacks([copy], newer):  # the copy will do for the later rules too: they match it as the whole record
        for rule in profile_from_dict({"id": "p", "rules": _unique(later)}).rules:
            if rule.on == type_:
                assert where_matches(rule.where, copy.properties) == where_matches(rule.where, properties)


def _key_of(value: Any) -> str | None:
    return None if value is None else once_key(str(value))


def _unique(ruleset: list[dict]) -> list[dict]:
    return list({rule["id"]: rule for rule in ruleset}.values())


def test_records_that_change_the_contact_are_kept_whole():
    """Attribute records, DND changes and manual score changes are read by more than the rules (the contact's
    attributes and company, its channels, who changed a score): never trimmed."""
    reads = reads_of([profile_from_dict({"id": "p", "rules": [{"id": "a", "on": "email.opened", "points": 1}]})])
    for type_, props in ((ATTRIBUTES_TYPE, {"company": "Acme", "plan": "pro"}),
                         ("contact.dnd_updated", {"channels": {"sms": True}}),
                         (MANUAL_TYPE, {"profile": "p", "add": 5, "reason": "r", "by": "a@x.io"})):
        assert trimmed(TimelineRecord("i", "api", type_, 1, props), reads) is None
    # a copy that would save a few bytes stays whole (a trim's rewrite costs more than they are worth)
    small = TimelineRecord("i", "api", "email.opened", 1, {"message_id": "m3", "machine_open": True})
    assert trimmed(small, reads) is None and Trimmer(reads)(small) is None
    # and an old copy's stored form (three elements) reads as whole
    assert decode_record("api:i", encode_record(TimelineRecord("i", "api", "email.opened", 1, {"url": "u"}))).dropped == ()


# ---------------------------------------------------------------------------------------------------------------
# End to end: the drain trims, the readers read the archive where a copy will not do


RULES_V1 = [{"id": "click", "on": "email.clicked", "points": 2},
            {"id": "paid", "on": "payment.succeeded", "points": 10, "where": {"plan": "pro"}}]
#: A version published later, reading what no rule read before: the campaign of a click (and, dotted, into an
#: object), and once per URL.
RULES_V2 = [{"id": "click", "on": "email.clicked", "points": 2, "limit": {"once_per": "url"}},
            {"id": "spring", "on": "email.clicked", "points": 5, "where": {"campaign": "spring"}},
            {"id": "utm", "on": "email.clicked", "points": 1, "where": {"utm.source": "news"}},
            {"id": "paid", "on": "payment.succeeded", "points": 10, "where": {"plan": "pro"}}]


def click(n: int, email: str, campaign: str, url: str, at: int | None = None) -> dict:
    item = {"id": f"c{n}", "type": "email.clicked", "contact": {"email": email},
            "properties": {"campaign": campaign, "url": url, "message_id": f"<m{n}@mail.example>",
                           "utm": {"source": "news" if n % 2 else "ads"}}}
    if at is not None:
        item["occurred_at"] = format_timestamp(at)
    return item


def as_record(item: dict, at: int) -> dict:
    """The interaction as tests/reference.py folds it (which reads no dotted path: ``utm.source`` given flat)."""
    props = item["properties"]
    return {"id": item["id"], "src": "api", "t": item["type"], "at": at,
            "p": {**props, "utm.source": props["utm"]["source"]} if "utm" in props else props}


def trimmed_clicks(client, services, email: str, clicks: list[tuple[str, str]]) -> list[dict]:
    """``RULES_V1`` published, trimming recorded, and a click of ``email`` a minute apart for each (campaign, url) of
    ``clicks``, scored and archived: their copies in Redis keep nothing v2 reads. Returns what was sent."""
    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES_V1)
    items = [click(n, email, campaign, url, at=CLOCK_START + n * MINUTE)
             for n, (campaign, url) in enumerate(clicks, start=1)]
    send(client, *items)
    settle(services)
    assert all(copy.dropped for copy in hot_copies(services, email).values())  # trimmed: nothing of v2's kept
    return items


def hot_copies(services, email: str) -> dict[str, TimelineRecord]:
    cid = services.contacts.find_contact(email=email)
    return {r.id: r for r in services.timelines.read_timelines([cid])[cid]}


@pytest.mark.parametrize("store_url", ["redis", "cluster"], indirect=True)
def test_redis_keeps_only_what_the_rules_read_and_the_archive_keeps_everything(client, services):
    kept_properties_once(services)  # (a worker's start records it: tests/test_kept_properties.py's last test)
    publish_profile(client, services, "eng", RULES_V1)
    send(client, click(1, "k@x.io", "spring", "https://example.com/a"),
         {"id": "p1", "type": "payment.succeeded", "contact": {"email": "k@x.io"},
          "properties": {"plan": "pro", "amount": 4900, "currency": "usd", "charge": "ch_3MtwBwLkdIwHu7ix28a3tqPa"}})
    settle(services)
    cid = services.contacts.find_contact(email="k@x.io")
    assert client.patch(f"/v1/contacts/{cid}", json={"attributes": {"company": "Acme", "seats": 5}},
                        headers=AUTH).status_code == 200
    settle(services)
    hot = hot_copies(services, "k@x.io")
    assert hot["c1"].properties == {} and set(hot["c1"].dropped) == {"campaign", "url", "message_id", "utm"}
    assert hot["p1"].properties == {"plan": "pro"} and set(hot["p1"].dropped) == {"amount", "currency", "charge"}
    attributes = [r for r in hot.values() if r.type == ATTRIBUTES_TYPE]
    assert attributes and attributes[0].properties and not attributes[0].dropped  # kept whole
    archived = {r.id: r for r in services.archive.histories([cid])[cid]}
    assert archived["c1"].properties["url"] == "https://example.com/a" and not archived["c1"].dropped
    assert archived["p1"].properties["charge"] == "ch_3MtwBwLkdIwHu7ix28a3tqPa"
    assert score_of(client, "k@x.io", "eng") == 12


def test_a_version_published_later_that_reads_what_redis_left_out_scores_from_the_archive(make_app, clock):
    """v2 reads the campaign, a dotted path and once per URL, none of which v1 read: its recompute, its ledger, a
    late interaction's refold afterwards and a draft's preview all give what the whole records give."""
    app = make_app(CLOCK=clock, HOT_HISTORY="0")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        items = trimmed_clicks(client, services, "v@x.io", [("spring" if n % 3 else "autumn", f"https://example.com/{n % 2}")
                                                            for n in range(1, 7)])
        records = [as_record(item, CLOCK_START + n * MINUTE) for n, item in enumerate(items, start=1)]
        whole = {item["id"]: item for item in items}
        clock.advance(10 * MINUTE)
        now = clock.now_ms()
        put_profile(client, "eng", RULES_V2)
        publish(client, services, "eng")
        assert score_of(client, "v@x.io", "eng") == reference_score(RULES_V2, records, now, "eng")
        # the recompute read the archive's whole records, and wrote the copies again with what v2 reads: its next
        # folds read Redis (the message id, which no rule reads, stays out; the URL, read only once per value, is
        # kept as its key: app/scoring/once_keys.py)
        refilled = hot_copies(services, "v@x.io")
        assert all(set(copy.properties) == {"campaign", "url", "utm"} and set(copy.dropped) == {"message_id", "url"}
                   and copy.properties["url"] == once_key(whole[copy.id]["properties"]["url"])
                   for copy in refilled.values()), refilled
        cid = services.contacts.find_contact(email="v@x.io")
        ledger = client.get(f"/v1/contacts/{cid}/scores/eng/history?limit=100", headers=AUTH).get_json()["items"]
        expected = [(format_timestamp(at), *rest) for at, *rest in reference_fold(RULES_V2, records, now, "eng")[1]]
        assert sorted((e["at"], e["reason"], e["change"], e["score"]) for e in ledger) == sorted(expected)
        # a late click, older than the newest: the contact is folded again, from the archive's whole records
        late = click(9, "v@x.io", "spring", "https://example.com/9", at=CLOCK_START + 3 * MINUTE + 1)
        send(client, late)
        settle(services)
        records.append(as_record(late, CLOCK_START + 3 * MINUTE + 1))
        assert score_of(client, "v@x.io", "eng") == reference_score(RULES_V2, records, now, "eng")
        # v2's names are kept from now on: the late click's copy has them
        assert hot_copies(services, "v@x.io")["c9"].properties.keys() == {"campaign", "url", "utm"}
        # a draft reading a name neither version reads: its preview folds the archive's records
        draft = [{"id": "msg", "on": "email.clicked", "points": 3, "where": {"message_id": "<m3@mail.example>"}}]
        put_profile(client, "eng", draft)
        resp = client.post("/v1/profiles/eng/preview", json={}, headers=AUTH)
        assert resp.status_code == 200, resp.get_json()
        movers = {m["contact_id"]: m["draft"] for m in resp.get_json()["movers"]}
        assert movers[cid] == reference_score(draft, records, now, "eng") == 3


def test_the_console_shows_what_an_interaction_was_about_from_the_archive(client, services):
    """The ledger's rows say what each interaction was about (its link, subject or amount), which no rule reads:
    read from the archive for the copies that left it out."""
    from .dashboard_helpers import sign_in, text

    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES_V1)
    send(client, click(1, "d@x.io", "spring", "https://example.com/pricing-page"),
         {"id": "p1", "type": "payment.succeeded", "contact": {"email": "d@x.io"},
          "properties": {"plan": "pro", "amount": 4900, "currency": "usd"}})
    settle(services)
    assert hot_copies(services, "d@x.io")["c1"].dropped  # the link is not in Redis
    dash = client.application.test_client()
    assert sign_in(dash).status_code == 302
    cid = services.contacts.find_contact(email="d@x.io")
    page = text(dash.get(f"/dashboard/contacts/{cid}", query_string={"profile": "eng"}))
    assert "https://example.com/pricing-page" in page and "4900 usd" in page


def test_a_record_that_waits_in_the_backlog_stays_whole_until_the_archive_takes_it(make_app, postgres_url, gate):  # noqa: F811
    with behind_the_gate(make_app, postgres_url, gate, PARTITIONS=1) as (client, services):
        gate.open()
        kept_properties_once(services)
        publish_profile(client, services, "eng", RULES_V1)
        gate.shut()
        send(client, click(1, "b@x.io", "spring", "https://example.com/b"))
        settle(services)
        assert services.archive_backlog.oldest(0, 10)  # the archive is away: the record waits in the backlog
        copy = hot_copies(services, "b@x.io")["c1"]
        assert copy.properties["url"] == "https://example.com/b" and not copy.dropped  # and stays whole in Redis
        gate.open()
        send(client, click(2, "b@x.io", "spring", "https://example.com/b2"))  # the next drain empties the backlog
        settle(services)
        assert not services.archive_backlog.oldest(0, 10)
        hot = hot_copies(services, "b@x.io")
        assert all(copy.properties == {} and copy.dropped for copy in hot.values())
        assert score_of(client, "b@x.io", "eng") == 4


@pytest.mark.parametrize("store_url", ["redis", "cluster"], indirect=True)
def test_a_long_record_trimmed_leaves_the_timeline_hash_for_the_contact_hash(client, services):
    """A record too long for the contact's compact hash is kept in its timeline hash; trimmed, it fits, and moves
    back — the timeline hash (a key of its own) goes. A copy no longer stored as the scorer wrote it is left."""
    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES_V1)
    send(client, {"id": "seed", "type": "email.opened", "contact": {"email": "l@x.io"}})
    settle(services)
    cid = services.contacts.find_contact(email="l@x.io")
    record = TimelineRecord("c1", "api", "email.clicked", CLOCK_START,
                            {"url": "https://example.com/" + "x" * 200, "campaign": "spring"})
    batch = {cid: [record]}
    score_parsed(services, make_scorer(services), batch, [record])  # scored, not archived: whole in Redis
    assert services.redis.exists(services.keys.timeline(cid))
    other = TimelineRecord("c1", "api", "email.clicked", CLOCK_START, {"url": "elsewhere", "campaign": "spring"})
    assert trim_archived(services, [{cid: [other]}], active_reads(services)) == 0  # not as stored: left alone
    services.archive.append_batches([batch], services.workspace)
    assert trim_archived(services, [batch], active_reads(services)) == 1
    assert not services.redis.exists(services.keys.timeline(cid))
    assert hot_copies(services, "l@x.io")["c1"].properties == {}
    assert trim_archived(services, [batch], active_reads(services)) == 0  # done once
    assert score_of(client, "l@x.io", "eng") == 2


@pytest.mark.parametrize("store_url", ["redis", "cluster"], indirect=True)
def test_a_copy_made_whole_again_that_no_longer_fits_goes_to_the_timeline_hash(client, services):
    """The other way: a trimmed copy in the contact's compact hash, written again whole (a version published since
    reads what it left out) and now over 64 B, moves to the timeline hash, and the contact's hash stays compact."""
    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES_V1)
    send(client, click(1, "g@x.io", "spring", "https://example.com/" + "g" * 80))
    settle(services)
    cid = services.contacts.find_contact(email="g@x.io")
    copy = hot_copies(services, "g@x.io")["c1"]
    assert copy.dropped and not services.redis.exists(services.keys.timeline(cid))  # trimmed, in the contact's hash
    whole = services.archive.histories([cid])[cid][0]
    assert services.timelines.trim_records([[cid, copy.key, record_text(copy), record_text(whole)]]) == 1
    again = hot_copies(services, "g@x.io")["c1"]
    assert again.properties == whole.properties and not again.dropped
    assert services.redis.exists(services.keys.timeline(cid))
    assert services.redis.object("encoding", services.keys.contact(cid)) in ("listpack", b"listpack")


def test_every_type_reads_the_same_names_of_any_type():
    shown = every_type({"url"})
    copy = TimelineRecord("i", "api", "custom.x", 1, {}, ("url",))
    assert lacks([copy], shown) and not lacks([copy], every_type({"subject"}))


def test_copies_stay_whole_until_no_process_of_a_release_before_lives(client, services):
    """A release before reads a trimmed copy as whole: nothing is trimmed until ``kept_properties_once`` is recorded,
    which a worker's start does once no process of a release before lives (``LAYOUT_MIGRATIONS``)."""
    assert COPIES_TRIMMED in LAYOUT_MIGRATIONS
    publish_profile(client, services, "eng", RULES_V1)
    send(client, click(1, "w@x.io", "spring", "https://example.com/w"))
    settle(services)
    assert hot_copies(services, "w@x.io")["c1"].properties["url"] == "https://example.com/w"  # whole
    assert kept_properties_once(services) and not kept_properties_once(services)  # recorded once
    send(client, click(2, "w@x.io", "spring", "https://example.com/w2"))
    settle(services)
    hot = hot_copies(services, "w@x.io")
    assert hot["c2"].properties == {} and hot["c1"].properties["url"] == "https://example.com/w"  # the old one stays
    assert score_of(client, "w@x.io", "eng") == 4
