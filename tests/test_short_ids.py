"""Short contact ids (docs/performance.md, "Row 5a (2026-12-06): short contact ids"; docs/durability.md): once
``short_ids_once`` recorded ``contact-ids-short``, a new contact gets ``contact_id_for(..., short=True)`` (13
characters); a contact made before keeps its long id. Every creator and reader looks for both ids an identity
derives: an old contact is still found by its email (with no identity key) and its external id, and never made
twice; requests at once — of processes that saw the record and of processes that did not — agree on one contact;
the checks "is this the contact its email makes" (the company a hash without ``company`` is in, filter_bucket.lua's
roster check, search terms without the id) accept either form; Lua derives what Python does. On Redis and on a
3-master cluster."""
from __future__ import annotations

import random
import threading

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX, identity_once, migrate_layouts, short_ids_once
from app.storage.contacts import (IDS_SHORT, LONG_ID_LEN, SHORT_ID_LEN, contact_id_for, derived_ids, derives,
                                  search_contact_of, search_member)
from app.storage.redis_tools import _script_text
from tests.helpers import AUTH
from tests.test_email_field import PREFIXES_BEFORE
from tests.test_identity_keys import documents_by_email, email_keys, new_emails_at_once, one, stored_for, store
from tests.test_ingest_one_trip import mark_every_partition_woken

pytestmark = pytest.mark.also_on_cluster


@pytest.fixture(params=["keyed", "implied"])
def mode(request, services) -> str:
    """``implied``: email identity keys dropped where the contact says it (one Redis; a cluster keeps them)."""
    if request.param == "implied":
        identity_once(services)
    return request.param


def short_ids(services, on: bool) -> None:
    """This process makes short ids (it saw ``contact-ids-short``) or long ones (it has not yet)."""
    services.contacts.ids_short = lambda recheck=False: on


def test_the_record_switches_new_contacts_to_short_ids(services):
    store(services, one(1, "ann@example.com"))
    assert services.contacts.find_contact(email="ann@example.com") == contact_id_for("email", "ann@example.com")
    assert short_ids_once(services) is True and short_ids_once(services) is False
    assert services.jobs.migration_done(IDS_SHORT) and services.contacts.ids_short()
    store(services, one(2, "bob@example.com"))
    store(services, one(3, ext="u-3"), steps=True)
    bob = services.contacts.find_contact(email="bob@example.com")
    assert bob == contact_id_for("email", "bob@example.com", True) and len(bob) == SHORT_ID_LEN
    assert services.contacts.find_contact(external_id="u-3") == contact_id_for("ext", "u-3", True)
    assert services.contacts.find_contact(email="ann@example.com") == contact_id_for("email", "ann@example.com")


@pytest.mark.parametrize("steps", [False, True], ids=["one-trip", "steps"])
def test_an_old_contact_is_found_by_its_email_and_external_id_and_never_made_again(services, mode, steps):
    short_ids(services, False)
    store(services, one(1, "ann@example.com"), steps)
    store(services, one(2, ext="u-2"), steps)
    store(services, one(3, "cat@example.com", "u-3"), steps)
    old = {"ann@example.com": contact_id_for("email", "ann@example.com"),
           "u-2": contact_id_for("ext", "u-2"), "cat@example.com": contact_id_for("email", "cat@example.com")}
    if mode == "implied" and services.contacts.single_node:
        assert email_keys(services) == {}  # the email names its contact by the contact's existence alone
    short_ids(services, True)
    for n in range(2):  # twice: the second time this process plans the long id it saw (_long_named)
        store(services, one(10 + n, "ann@example.com"), steps)
        store(services, one(20 + n, ext="u-2"), steps)
        store(services, one(30 + n, "cat@example.com", "u-3"), steps)
        store(services, one(40 + n, "ANN@example.com"), steps)  # another email: a new contact, short
    stored = stored_for(services)
    assert {stored[f"i{10 + n}"] for n in range(2)} == {old["ann@example.com"]}
    assert {stored[f"i{20 + n}"] for n in range(2)} == {old["u-2"]}
    assert {stored[f"i{30 + n}"] for n in range(2)} == {old["cat@example.com"]}
    assert {stored[f"i{40 + n}"] for n in range(2)} == {contact_id_for("email", "ANN@example.com", True)}
    documents = documents_by_email(services)
    assert documents["ann@example.com"] == {old["ann@example.com"]}
    assert documents["cat@example.com"] == {old["cat@example.com"]}
    for value in ("ann@example.com", "u-2", "cat@example.com"):  # no short contact was made beside the old one
        for cid in derived_ids("email", value) + derived_ids("ext", value):
            assert cid == old.get(value) or cid == contact_id_for("ext", "u-3") or \
                not services.contacts.contact_exists(cid)
    short_ids(services, False)  # a process that has not seen the record finds the short contact likewise
    store(services, one(50, "ANN@example.com"), not steps)
    assert stored_for(services)["i50"] == contact_id_for("email", "ANN@example.com", True)
    assert documents_by_email(services)["ANN@example.com"] == {contact_id_for("email", "ANN@example.com", True)}


@pytest.mark.single_redis  # one trip is a single Redis's
def test_an_old_contact_seen_once_is_one_round_trip_again(services, round_trips):
    identity_once(services)
    store(services, one(1, "hal@example.com"))
    store(services, one(2, ext="u-hal"))
    short_ids(services, True)
    mark_every_partition_woken(services)
    store(services, one(3, "hal@example.com"))  # steps: the plan's short id is not the contact
    store(services, one(4, ext="u-hal"))
    for n, (email, ext) in enumerate((("hal@example.com", None), (None, "u-hal"), ("hal@example.com", "u-x"))):
        round_trips.clear()
        store(services, one(10 + n, email, ext))
        assert len(round_trips) == 1, (email, ext)
    stored = stored_for(services)
    assert stored["i10"] == stored["i12"] == contact_id_for("email", "hal@example.com")
    assert stored["i11"] == contact_id_for("ext", "u-hal")


def test_requests_at_once_leave_one_contact_per_email_whichever_ids_their_processes_make(app, services, mode):
    """Rounds of four requests at once for a new email, alone or with an external id known as another contact, in
    one trip or in steps, each of a process that makes short ids or long ones (it saw the record or not yet)."""
    rounds, rng, mine = 16, random.Random(23), threading.local()
    services.contacts.ids_short = lambda recheck=False: getattr(mine, "short", False)

    def either_kind(job):
        short = rng.random() < 0.5

        def as_one_kind() -> None:
            mine.short = short
            job()
        return as_one_kind

    sent = new_emails_at_once(app, services, rounds, rng, before=lambda r: setattr(mine, "short", r % 2 == 0),
                              wrap=either_kind)
    stored, documents = stored_for(services), documents_by_email(services)
    for r in range(rounds):
        email = f"r{r}@example.com"
        named = services.contacts.find_contact(email=email)
        assert named in (*derived_ids("email", email), contact_id_for("ext", f"x{r}", r % 2 == 0))
        assert {stored[i] for i, e in sent.items() if e == email} == {named}
        assert documents[email] == {named}
        assert services.contacts.find_contact(external_id=f"x{r}") == contact_id_for("ext", f"x{r}", r % 2 == 0)


def test_search_finds_short_and_long_contacts_by_their_derived_terms(services, client):
    short_ids(services, False)
    store(services, one(1, "ann@example.com"))
    store(services, one(2, ext="ann-ext"))
    short_ids(services, True)
    store(services, one(3, "anna@example.com"))
    store(services, one(4, ext="anna-ext"))
    store(services, one(5, "annie@example.com", "annie-ext"))
    ids = {v: services.contacts.find_contact(email=v) if "@" in v else services.contacts.find_contact(external_id=v)
           for v in ("ann@example.com", "ann-ext", "anna@example.com", "anna-ext", "annie@example.com")}
    assert [len(ids[v]) for v in ids] == [LONG_ID_LEN, LONG_ID_LEN, SHORT_ID_LEN, SHORT_ID_LEN, SHORT_ID_LEN]
    found = services.contacts.search_contacts("ann", 20)
    assert sorted(found) == sorted(set(ids.values()))
    terms = {m for bucket in services.contacts.search.find(b"[ann", b"[ann\xff", 50) for m in bucket}
    assert {"ann@example.com\x00", "ann-ext\x00\x01", "anna@example.com\x00\x02", "anna-ext\x00\x03",
            "annie@example.com\x00\x02", f"annie-ext\x00{ids['annie@example.com']}"} <= terms
    assert all(len(t.rpartition("\x00")[2]) <= 1 for t in terms if not t.startswith("annie-ext"))
    for v, cid in ids.items():
        got = client.get("/v1/contacts", query_string={"email": v} if "@" in v else {"external_id": v}, headers=AUTH)
        assert [c["id"] for c in got.get_json()["items"]] == [cid]
        assert client.get(f"/v1/contacts/{cid}", headers=AUTH).status_code == 200


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(["email", "ext"]), value=st.text(min_size=1, max_size=40), other=st.text(max_size=40),
       short=st.booleans())
def test_a_search_term_gives_back_its_contact_in_every_form(kind, value, other, short):
    cid = contact_id_for(kind, value.lower(), short)
    for contact in (cid, contact_id_for(kind, other, short), contact_id_for("ext" if kind == "email" else "email",
                                                                            value.lower(), not short)):
        text, _, tail = search_member(value, contact).rpartition("\x00")
        assert text == value.lower() and search_contact_of(text, tail) == contact
        assert (len(tail) <= 1) == (derives(contact, "email", text) or derives(contact, "ext", text))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["email", "ext"]), value=st.text(min_size=0, max_size=60), other=st.text(max_size=60))
def test_lua_derives_the_ids_python_does(services, kind, value, other):
    """``contact_ids.lua`` (filter_bucket.lua's library) over arbitrary unicode: the short id Python makes, and
    ``ci_derives`` agreeing with ``derives`` for both forms, another value's and a bad length."""
    script = services.redis.register_script(_script_text("contact_ids.lua") + """
local hex = redis.sha1hex(ARGV[1] .. ':' .. ARGV[2])
local out = {ci_short(hex)}
for i = 3, #ARGV do out[#out + 1] = ci_derives(ARGV[i], ARGV[1], ARGV[2]) and 1 or 0 end
return out""")
    short, long = derived_ids(kind, value)
    candidates = [short, long, *derived_ids(kind, other), long[:13], short + "x", "c"]
    got = script(keys=[], args=[kind, value, *candidates])
    assert got[0] == short
    assert got[1:] == [int(derives(c, kind, value)) for c in candidates]
    assert got[1] == got[2] == 1


def test_the_api_takes_both_forms_and_no_other(services, client):
    short_ids(services, True)
    store(services, one(1, "zed@example.com"))
    cid = services.contacts.find_contact(email="zed@example.com")
    assert client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["id"] == cid
    for bad in (cid[:-1], cid + "a", "d" + cid[1:], cid[:-1] + "+"):
        assert client.get(f"/v1/contacts/{bad}", headers=AUTH).status_code == 404
    assert client.get(f"/v1/contacts/{contact_id_for('email', 'nobody@example.com', True)}",
                      headers=AUTH).status_code == 404


def test_the_switch_is_a_layout_migration_run_last_and_workers_are_named_anew(services):
    # named anew: unlike every release before short ids (sk-l2- to sk-l13-); a later branch keeps its own
    assert IDS_SHORT in LAYOUT_MIGRATIONS and WORKER_PREFIX not in PREFIXES_BEFORE + ("sk-l11-", "sk-l12-", "sk-l13-")
    migrate_layouts(services)
    assert services.jobs.migration_done(IDS_SHORT)
