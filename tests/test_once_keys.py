"""A ``once_per`` limit keeps the key of each value it saw: the text when short, a 96-bit digest when long
(app/scoring/once_keys.py; issue #17, row 5c). The fold compares keys whatever it reads — a whole record, a copy
Redis keeps with only the key, a state written before keys — so every score and ledger is what the whole values give.
"""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.compaction import compact_page
from app.contact_layout import LAYOUT_MIGRATIONS, ONCE_KEYED, kept_properties_once, once_keys_once
from app.dashboard.contacts import readable
from app.scoring.fold import FoldState, advance, fold
from app.scoring.interactions import format_timestamp
from app.scoring.kept_properties import MIN_SAVED_BYTES, Trimmer, lacks, reads_of
from app.scoring.once_keys import KEY_LEN, once_key, shown_once
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord, decode_record, record_text
from app.storage.redis_tools import dumps, loads
from app.storage.timelines import record_field

from .clock import CLOCK_START
from .helpers import AUTH, publish_profile, score_of, send, settle
from .reference import reference_fold
from .test_kept_properties import hot_copies

MINUTE = 60_000

# ---------------------------------------------------------------------------------------------------------------
# The key


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(max_size=80), unique=True, max_size=20))
def test_a_key_is_its_own_key_short_texts_are_themselves_and_distinct_texts_keep_distinct_keys(texts):
    keys = [once_key(text) for text in texts]
    for text, key in zip(texts, keys):
        assert once_key(key) == key and len(key) <= KEY_LEN
        if len(text) <= KEY_LEN:
            assert key == text
        else:
            assert key.startswith("#") and len(key) == KEY_LEN and shown_once(key) is None
    assert len(set(keys)) == len(texts)


# ---------------------------------------------------------------------------------------------------------------
# The fold: long values, whole or as keys, score as the reference fold says


RULES = [{"id": "click", "on": "email.clicked", "points": 3, "limit": {"once_per": "message_id"}},
         {"id": "paid", "on": "payment.succeeded", "points": 10, "limit": {"once_per": "charge"}},
         {"id": "pro", "on": "payment.succeeded", "points": 5, "where": {"plan": "pro"},
          "limit": {"once_per": "plan"}}]
PROFILE = profile_from_dict({"id": "p", "rules": RULES})
#: SendGrid's message ids and Stripe's charge ids (long), and short ones, some of them repeated.
LONG = ["14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0", "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.1",
        "ch_3MtwBwLkdIwHu7ix28a3tqPa", "x" * 18]
SHORT = ["m1", "ch_1", "x" * 17, "#" + "A" * 16]

events = st.lists(st.tuples(st.sampled_from(["email.clicked", "payment.succeeded"]), st.sampled_from(LONG + SHORT),
                            st.sampled_from(["pro", "free"]), st.integers(0, 20)), max_size=14)


def records_of(drawn: list[tuple[str, str, str, int]]) -> list[TimelineRecord]:
    out = []
    for n, (type_, value, plan, minute) in enumerate(drawn):
        props: dict[str, Any] = {"message_id": value} if type_ == "email.clicked" else \
            {"charge": value, "plan": plan, "description": "Subscription update"}
        out.append(TimelineRecord(f"e{n}", "api", type_, CLOCK_START + minute * MINUTE, props))
    return out


@settings(max_examples=200, deadline=None)
@given(drawn=events, split=st.integers(0, 14))
def test_long_values_score_once_each_from_whole_records_from_their_keys_and_across_a_stored_state(drawn, split):
    """Whole records fold as the reference (which compares the values' texts themselves); the copies Redis keeps, holding
    long values' keys only, fold to the same score and the same ledger, notes included; and so does a fold in two
    steps through the stored state."""
    records = records_of(drawn)
    now = CLOCK_START + 30 * MINUTE
    state, ledger = fold(PROFILE, records, now)
    as_dicts = [{"id": r.id, "src": r.source, "t": r.type, "at": r.at, "p": dict(r.properties)} for r in records]
    score, expected = reference_fold(RULES, as_dicts, now)
    assert state.score == score
    assert sorted((e.at, e.reason, e.change, e.score) for e in ledger) == sorted(expected)
    reads = reads_of([PROFILE])
    trim = Trimmer(reads)
    copies = [trim(r) or r for r in records]
    assert not lacks(copies, reads)  # the keys will do for this version
    for copy, whole in zip(copies, records):  # a long id saving enough is kept as its key; the rest as it is
        value = whole.properties.get("message_id")
        if value is not None:
            keyed = len(value) - KEY_LEN >= MIN_SAVED_BYTES
            assert copy.properties["message_id"] == (once_key(value) if keyed else value)
    from_copies, copy_ledger = fold(PROFILE, copies, now)
    assert from_copies == state and copy_ledger == ledger
    assert [e.note for e in copy_ledger] == [e.note for e in ledger]
    ordered = sorted(copies, key=lambda r: (r.at, r.key))
    first, _ = fold(PROFILE, ordered[:split], now)
    again = FoldState.from_json(loads(dumps(first.to_json(PROFILE))), PROFILE)
    advance(again, PROFILE, ordered[split:], now)
    assert again.score == state.score and again.once == state.once


def test_a_state_written_before_keys_limits_the_same_long_value():
    """A state stored by a release before keys holds a long value as it is: read, it is keyed, so the value scores
    no second time, from a whole record or from a copy's key (in both stored forms of the once-per values)."""
    value = LONG[0]
    for stored in ({"s": 3, "l": [CLOCK_START, "api:e0"], "O": [[0, value]]},
                   {"s": 3, "l": [CLOCK_START, "api:e0"], "o": {"click": [value]}}):
        for props in ({"message_id": value}, {"message_id": once_key(value)}):
            state = FoldState.from_json(stored, PROFILE)
            entries = advance(state, PROFILE, [TimelineRecord("e1", "api", "email.clicked", CLOCK_START + 1, props)],
                              CLOCK_START + 2)
            assert state.score == 3 and [e.reason for e in entries] == ["limit"]
            assert entries[0].note == "limit: once per message_id (a value scored before)"
    state = FoldState.from_json({"s": 3, "l": [CLOCK_START, "api:e0"], "O": [[0, "m1"]]}, PROFILE)
    entries = advance(state, PROFILE, [TimelineRecord("e1", "api", "email.clicked", CLOCK_START + 1,
                                                      {"message_id": "m1"})], CLOCK_START + 2)
    assert entries[0].note == "limit: once per message_id (m1)"  # a short value is named


def test_a_key_is_not_enough_for_a_rule_that_reads_the_value_itself():
    """A version that reads the name in ``where``, or a reader that reads it whole (a plain mapping: the console's
    shown properties), finds the copy lacking and reads the archive's whole record."""
    copy = Trimmer(reads_of([PROFILE]))(TimelineRecord("e", "api", "email.clicked", 1, {"message_id": LONG[0]}))
    assert copy is not None and copy.properties == {"message_id": once_key(LONG[0])} and copy.dropped == ("message_id",)
    assert not lacks([copy], reads_of([PROFILE]))
    where = profile_from_dict({"id": "p", "rules": [
        {"id": "w", "on": "email.clicked", "points": 1, "where": {"message_id": {"exists": True}},
         "limit": {"once_per": "message_id"}}]})
    assert lacks([copy], reads_of([where])) and lacks([copy], dict(reads_of([PROFILE])))
    assert lacks([TimelineRecord("e", "api", "email.clicked", 1, {}, ("message_id",))], reads_of([PROFILE]))


# ---------------------------------------------------------------------------------------------------------------
# End to end


def sendgrid_click(n: int, email: str, message_id: str, minute: int) -> dict:
    return {"id": f"k{n}", "type": "email.clicked", "contact": {"email": email},
            "occurred_at": format_timestamp(CLOCK_START + minute * MINUTE),
            "properties": {"message_id": message_id, "url": f"https://example.com/pricing?utm_campaign=dec-{n}",
                           "category": ["newsletter"]}}


@pytest.mark.parametrize("store_url", ["redis", "cluster"], indirect=True)
def test_a_providers_click_is_kept_as_a_key_in_the_contact_hash_and_scores_once_per_message(client, services):
    """A SendGrid click (a 50-character message id, a URL, a category) under a rule once per message id: once
    archived, Redis keeps only the id's key, and the copy fits the contact's compact hash (no timeline hash, a key of
    its own). A second click of the same message scores nothing, a late click older than both refolds the contact
    from those copies, and the score and the ledger are what the whole values give."""
    assert ONCE_KEYED in LAYOUT_MIGRATIONS and once_keys_once(services) and not once_keys_once(services)
    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES[:1])
    send(client, sendgrid_click(1, "s@x.io", LONG[0], 1))
    settle(services)
    send(client, sendgrid_click(2, "s@x.io", LONG[0], 2), sendgrid_click(3, "s@x.io", LONG[1], 3))
    settle(services)
    cid = services.contacts.find_contact(email="s@x.io")
    hot = hot_copies(services, "s@x.io")
    assert hot["k1"].properties == {"message_id": once_key(LONG[0])}
    assert set(hot["k1"].dropped) == {"message_id", "url", "category"}
    assert not services.redis.exists(services.keys.timeline(cid))
    assert score_of(client, "s@x.io", "eng") == 6
    send(client, sendgrid_click(4, "s@x.io", LONG[1], 0))  # late: before every other
    settle(services)
    assert score_of(client, "s@x.io", "eng") == 6
    ledger = client.get(f"/v1/contacts/{cid}/scores/eng/history?limit=100", headers=AUTH).get_json()["items"]
    assert sorted((e["interaction_id"], e["reason"], e["change"], e["note"]) for e in ledger) == [
        ("k1", "matched", 3, None), ("k2", "limit", 0, "limit: once per message_id (a value scored before)"),
        ("k3", "limit", 0, "limit: once per message_id (a value scored before)"), ("k4", "matched", 3, None)]


# ---------------------------------------------------------------------------------------------------------------
# Review (once-per keys): what else reads a state's values or a copy's keys


def test_compact_keeps_a_long_once_value_as_it_is_until_the_keys_are_recorded(client, services):
    """``scorekeeper compact`` run by hand during the rolling deploy, while workers of the release before still fold:
    they compare a value with a state's entries as they are, so a state holding a long value as it is (written before
    keys) must not be rewritten with the value's key — a second click of that message would score again. Once
    ``once-values-keyed`` is recorded, compact keys it (fewer bytes, the same state read back)."""
    publish_profile(client, services, "eng", RULES[:1])
    send(client, sendgrid_click(1, "c@x.io", "m1", 1))
    settle(services)
    cid = services.contacts.find_contact(email="c@x.io")
    before_keys = {"s": 6, "l": [CLOCK_START + MINUTE, "api:k1"], "O": [[0, "m1", LONG[0]]]}
    services.redis.hset(services.keys.contact(cid), "eng@1", dumps(before_keys))  # as a release before wrote it
    assert not services.jobs.migration_done(ONCE_KEYED)
    compact_page(services, [cid])  # (not recorded: the state stays as it is, in pieces at most)
    assert loads(services.timelines.read_states([cid])[cid]["eng@1"])["O"] == [[0, "m1", LONG[0]]]
    once_keys_once(services)
    compact_page(services, [cid])
    raw = services.timelines.read_states([cid])[cid]["eng@1"]  # (in the form the scorer writes now)
    assert LONG[0] not in raw and once_key(LONG[0]) in raw
    assert FoldState.from_json(loads(raw), PROFILE) == FoldState.from_json(before_keys, PROFILE)


def test_the_console_never_shows_a_once_per_key_as_what_an_interaction_was_about():
    """A copy holding only a long message id's key (and without its URL) that the console shows as it is (the
    archive cannot say more: away, or without the record) shows the click without its object, never the key."""
    click = TimelineRecord("k1", "api", "email.clicked", CLOCK_START,
                           {"message_id": LONG[0], "url": "https://example.com/pricing?utm_campaign=dec"})
    copy = Trimmer(reads_of([PROFILE]))(click)
    assert copy is not None and copy.properties == {"message_id": once_key(LONG[0])}
    entry = {"type": "email.clicked", "source": "api", "interaction_id": "k1"}
    assert readable(entry, {"api:k1": copy})["about"] is None
    assert readable(entry, {"api:k1": click})["about"] == "https://example.com/pricing?utm_campaign=dec"
    short = TimelineRecord("k2", "api", "email.clicked", CLOCK_START, {"message_id": "m1", "url": "u" * 40})
    assert readable({**entry, "interaction_id": "k2"}, {"api:k2": Trimmer(reads_of([PROFILE]))(short)})["about"] == "m1"


#: once_per values of every kind the edge lets through (JSON: strings of every length about a key's, key look-alikes,
#: integers, floats, booleans, objects and arrays), for the one rule below.
_key_like = st.builds(lambda n: "#" + "A" * 15 + str(n), st.integers(0, 9))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**63, 2**63 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40) | st.sampled_from(LONG + SHORT + ["y" * 16, "y" * 17, "y" * 18]) | _key_like,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6)
ANY_RULES = [{"id": "any", "on": "custom.thing", "points": 2, "limit": {"once_per": "v"}},
             {"id": "twice", "on": "custom.thing", "points": 1, "limit": {"count": 2, "once_per": "v"}}]
ANY_PROFILE = profile_from_dict({"id": "p", "rules": ANY_RULES})


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.tuples(json_values, st.integers(0, 20)), max_size=12), split=st.integers(0, 12))
def test_any_once_per_value_scores_alike_live_from_the_copies_and_from_the_archive(values, split):
    """Live scoring (a record at a time, through the stored state), a refold from the copies Redis keeps (trimmed,
    through their stored form) and a refold from the archive's whole records (through its JSON) give one score and
    one ledger, whatever the value: the fold compares ``once_key(str(value))`` on each path. And it is the plain
    reference's (which compares each value's text itself), but for a value sent as another's key (below)."""
    records = [TimelineRecord(f"e{n}", "api", "custom.thing", CLOCK_START + minute * MINUTE,
                              {"v": value, "pad": "z" * 20}) for n, (value, minute) in enumerate(values)]
    now = CLOCK_START + 30 * MINUTE
    ordered = sorted(records, key=lambda r: (r.at, r.key))
    live, live_ledger = FoldState(), []
    for record in ordered:
        live_ledger += advance(live, ANY_PROFILE, [record], now)
        live = FoldState.from_json(loads(dumps(live.to_json(ANY_PROFILE))), ANY_PROFILE)
    trim = Trimmer(reads_of([ANY_PROFILE]))
    copies = [decode_record(r.key, loads(record_text(trim(r) or r))) for r in records]
    assert not lacks(copies, reads_of([ANY_PROFILE]))
    archived = [TimelineRecord(r.id, r.source, r.type, r.at, loads(dumps(r.properties))) for r in records]
    for history in (copies, archived):
        state, ledger = fold(ANY_PROFILE, history, now)
        assert state.score == live.score and state.once == live.once
        assert [(e.at, e.rule_id, e.change, e.note) for e in ledger] == \
            [(e.at, e.rule_id, e.change, e.note) for e in live_ledger]
    texts = {str(value) for value, _ in values if value is not None}
    if not any(once_key(text) in texts for text in texts if len(text) > KEY_LEN):  # (the look-alikes: below)
        as_dicts = [{"id": r.id, "src": r.source, "t": r.type, "at": r.at, "p": dict(r.properties)} for r in records]
        score, expected = reference_fold(ANY_RULES, as_dicts, now)
        assert live.score == score
        assert sorted((e.at, e.reason, e.change, e.score) for e in live_ledger) == sorted(expected)


def test_a_value_sent_as_another_values_key_is_taken_for_it_where_the_reference_scores_it():
    """The one class of inputs where the fold and the plain reference (which compares the values' texts) differ,
    as once_keys.py says: a value that is, exactly, the key of a long value the same contact sent for the same rule.
    Every path of the fold agrees on it (the test above draws such look-alikes too)."""
    records = records_of([("email.clicked", LONG[0], "pro", 1)]) + [
        TimelineRecord("e9", "api", "email.clicked", CLOCK_START + 2 * MINUTE, {"message_id": once_key(LONG[0])})]
    as_dicts = [{"id": r.id, "src": r.source, "t": r.type, "at": r.at, "p": dict(r.properties)} for r in records]
    assert reference_fold(RULES, as_dicts, CLOCK_START + 3 * MINUTE)[0] == 6
    assert fold(PROFILE, records, CLOCK_START + 3 * MINUTE)[0].score == 3


def test_a_restore_never_archives_a_copy_holding_a_key_as_if_it_were_the_whole_record(client, services, tmp_path):
    """A backup taken while the archive lacks a trimmed copy's whole record (an empty one swapped in: the case the
    archive backfill leaves such copies out for) carries the copy alone. Restored, the copy goes back to Redis as it
    was, but never into the new archive as a whole record: there its once-per key would stand for the message id
    itself (a version reading it in a ``where``, the console, the next backup would take the key for the value)."""
    import sqlite3

    from app.archive import open_archive
    from app.backup import restore_archive, write_archive

    kept_properties_once(services)
    once_keys_once(services)
    publish_profile(client, services, "eng", RULES[:1])
    send(client, sendgrid_click(1, "r@x.io", LONG[0], 1))
    settle(services)
    assert hot_copies(services, "r@x.io")["k1"].properties == {"message_id": once_key(LONG[0])}
    backup = tmp_path / "backup.gz"
    swapped = open_archive(f"sqlite:///{tmp_path}/swapped-in.sqlite3")  # empty
    write_archive(services.snapshot, backup, client.application.config, workspace=services.workspace,
                  history=swapped)
    services.redis.flushdb()  # an empty deployment, with an empty archive
    archive_file = client.application.config["ARCHIVE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(archive_file) as conn:
        conn.execute("DELETE FROM interactions")
    restore_archive(services, backup)
    assert hot_copies(services, "r@x.io")["k1"].properties == {"message_id": once_key(LONG[0])}  # (Redis: as it was)
    cid = services.contacts.find_contact(email="r@x.io")
    archived = services.archive.histories([cid], workspace=services.workspace).get(cid, [])
    assert all(r.properties.get("message_id") != once_key(LONG[0]) for r in archived)


def stripe_payment(n: int, email: str, minute: int) -> dict:
    return {"id": f"p{n}", "type": "payment.succeeded", "contact": {"email": email},
            "occurred_at": format_timestamp(CLOCK_START + minute * MINUTE),
            "properties": {"plan": "pro", "amount": 4900, "currency": "usd", "description": "Subscription update",
                           "charge": f"ch_3MtwBwLkdIwHu7ix28a3tqP{n}", "stripe_event": f"evt_1NG8Du2eZvKYlo2CUI79vX{n}",
                           "stripe_type": "payment_intent.succeeded", "livemode": False}}


def test_a_copy_lists_stripes_names_by_code_once_no_process_before_lives_and_either_form_is_written_again(
        client, services):
    """A payment's copy keeps ``plan`` and lists the eight names it left out: ``stripe_type`` and ``livemode`` by
    name while a process of a release before may read it (it knows no code for them), by code once
    ``once-values-keyed`` is recorded — short enough then for the contact's compact hash. A version published later
    that reads what the copies left out writes both forms again from the archive's whole records."""
    kept_properties_once(services)
    publish_profile(client, services, "eng", [{"id": "paid", "on": "payment.succeeded", "points": 10,
                                               "where": {"plan": "pro"}}])
    send(client, stripe_payment(1, "pay@x.io", 1))
    settle(services)
    cid = services.contacts.find_contact(email="pay@x.io")
    named = services.redis.hget(services.keys.contact(cid), record_field("api:p1")) or \
        services.redis.hget(services.keys.timeline(cid), "api:p1")
    assert '"stripe_type"' in named and '"livemode"' in named  # by name: not yet recorded
    once_keys_once(services)
    send(client, stripe_payment(2, "pay@x.io", 2))
    settle(services)
    coded = services.redis.hget(services.keys.contact(cid), record_field("api:p2"))
    assert coded is not None and "stripe_type" not in coded and len(coded) <= 64  # by code, in the compact hash
    hot = hot_copies(services, "pay@x.io")
    assert hot["p1"].dropped and set(hot["p1"].dropped) == set(hot["p2"].dropped) and "description" in hot["p2"].dropped
    publish_profile(client, services, "eng", [{"id": "paid", "on": "payment.succeeded", "points": 10,
                                               "where": {"plan": "pro", "description": "Subscription update"}}])
    again = hot_copies(services, "pay@x.io")
    assert all(again[p].properties["description"] == "Subscription update" for p in ("p1", "p2")), again
    assert score_of(client, "pay@x.io", "eng") == 20
