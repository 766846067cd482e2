"""A contact hash's email in the short field ``e`` (storage/contacts.py: ``EMAIL``, ``email_of``;
app/contact_layout.py: ``email_once``; docs/performance.md, "Row 5a (2026-12-06)"), where releases before wrote
``email``. Every reader — the API's contact and its look-up by email, the list page, the export, search (its terms
and their backfill), the company rule (the company index's reads and placements, the company filters each way
filter_bucket.lua takes them and the cluster's walk, companies_once's passes), the identity claims (a second
interaction of the same email finds the same contact), the backup and its restore — gives the contact's email,
whichever field holds it; on data of the release before with nothing, half and everything renamed, and for contacts
made before and after the record. On Redis and on a 3-master cluster."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import given, strategies as st

from app.companies import place
from app.contact_directory import csv_rows
from app.contact_filter import ContactFilter
from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX, companies_once, email_once
from app.indexes import registry_once
from app.scoring.companies import company_of
from app.scoring.interactions import Interaction
from app.storage.companies import ROSTER_INDEX_MIGRATION, Move
from app.storage.contacts import (COMPANY_IMPLIED, EMAIL, EMAIL_BEFORE, EMAIL_SHORT, contact_id_for, email_of,
                                  read_company)
from app.storage.queries import ContactQuery
from tests.helpers import AUTH, send, settle
from tests.test_company_field import filter_finds
from tests.test_compaction import load_layout_v1
from tests.test_contact_search import drop_search_terms

pytestmark = pytest.mark.also_on_cluster

emails = st.none() | st.sampled_from(["a@acme.io", "b@acme.io", "c@gmail.com"])


@given(short=emails, long=emails, derives=st.sampled_from([None, "a@acme.io", "b@acme.io"]))
def test_the_email_is_either_field_and_where_two_differ_the_one_that_derives_the_contact(short, long, derives):
    cid = contact_id_for("email", derives) if derives else "c" + uuid.uuid4().hex[:20]
    got = email_of(cid, short, long)
    if short is None or long is None or short == long:
        assert got == (long if short is None else short)
    else:  # a second email linked by a process of the other form: the first one's is kept
        assert got == (short if short == derives else long)
    assert read_company(cid, {EMAIL: short, EMAIL_BEFORE: long} if short else {EMAIL_BEFORE: long}, lambda: True) \
        == (company_of(got) if got and got.endswith("acme.io") and got == derives else None)


def fields(services, cid: str) -> tuple[str | None, str | None]:
    short, long = services.redis.hmget(services.keys.contact(cid), EMAIL, EMAIL_BEFORE)
    return short, long


def assert_reads(services, client, model: dict[str, str], companies: dict[str, str | None]) -> None:
    """Every reader of a contact's email (and of the company it implies) gives the model's."""
    ids = list(model)
    assert {c["id"]: c["email"] for c in services.contacts.get_contacts(ids)} == model
    for cid in ids[:3]:  # the API's contact, and its look-up by email
        assert client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["email"] == model[cid]
        found = client.get("/v1/contacts", query_string={"email": model[cid]}, headers=AUTH).get_json()["items"]
        assert [c["id"] for c in found] == [cid]
    query = ContactQuery(services.scores, services.contacts, services.companies)
    assert {c["id"]: c["email"] for c in query.shown_contacts(ids, [])} == model
    exported = {line.split(",")[0]: line.split(",")[1] for line in "".join(
        csv_rows(services, ContactFilter(()))).splitlines()[1:]}
    assert {cid: exported[cid] for cid in ids} == model
    backup = {c.id: c.doc for page in services.snapshot.contacts() for c in page}
    assert {cid: backup[cid].get(EMAIL_BEFORE) for cid in ids} == model
    assert not any(EMAIL in backup[cid] for cid in ids)  # a backup holds the form releases before read
    for cid, email in list(model.items())[::7]:
        assert services.contacts.search_contacts(email, 5) == [cid]
    # the company: its document's, else the one its email implies
    assert {c["id"]: c["company"] for c in services.contacts.get_contacts(ids)} == companies
    assert services.companies.companies_of(ids) == companies
    assert {c["id"]: c["company"] for c in query.shown_contacts(ids, [])} == companies
    assert services.companies.placements(ids, check_rosters=True) == [
        Move(cid, companies[cid], company_of(model[cid], None)) for cid in ids
        if companies[cid] != company_of(model[cid], None)]
    services.companies.tidy()  # big rosters' plain sets into their indexes: the filters read the documents
    for company in {c for c in companies.values() if c}:
        members = {cid for cid, held in companies.items() if held == company}
        for way, found in filter_finds(services, company).items():
            assert found & set(ids) == (members if way.startswith("eq") else set(ids) - members), way
    for cid in ids:
        assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


def interaction_again(client, services, model: dict[str, str]) -> None:
    """A second interaction of each of some emails, through the API: the same contact, no new one."""
    count = services.contacts.contact_count()
    some = list(model.items())[1::9]
    send(client, *({"id": f"again-{uuid.uuid4().hex[:8]}", "type": "email.opened", "contact": {"email": email}}
                   for _cid, email in some))
    settle(services)
    assert services.contacts.contact_count() == count
    assert services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email) for _c, email in some]) \
        == [cid for cid, _email in some]


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_data_of_the_release_before_reads_the_same_with_nothing_half_and_everything_renamed(services, client):
    ids = load_layout_v1(services)
    model = {cid: fields(services, cid)[1] for cid in ids}
    assert all(model.values()) and len(set(model.values())) == len(ids)
    registry_once(services)  # the registry's compact index (the newest-first pages, the export)
    companies_ = services.companies
    companies_.leaf_entries = companies_.plain_entries = 4  # example.com's 40 contacts: a big roster, an index
    services.redis.hset(services.keys.migrations(), ROSTER_INDEX_MIGRATION, 1)
    companies_.moved(recheck=True)
    companies = {cid: "example.com" for cid in ids}
    assert_reads(services, client, model, companies)

    assert services.contacts.shorten_email(ids[::2]) == 20  # the rename cut short
    assert {fields(services, cid) for cid in ids[::2]} == {(model[cid], None) for cid in ids[::2]}
    assert_reads(services, client, model, companies)
    # the company fields that say only what the email implies, left out over half-renamed contacts: the company
    # is then the email's (filter_bucket.lua's document check reads it by either name)
    assert companies_once(services) == 40
    assert services.jobs.migration_done(COMPANY_IMPLIED)
    assert not any(services.redis.hexists(services.keys.contact(cid), "company") for cid in ids)
    assert_reads(services, client, model, companies)
    interaction_again(client, services, model)

    # a contact made before the record: the long field, which a process of the release before reads
    [early] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email="early@example.com")])
    assert fields(services, early) == (None, "early@example.com")
    model[early], companies[early] = "early@example.com", "example.com"
    assert email_once(services) == 21  # the rest of it, then the record
    assert services.jobs.migration_done(EMAIL_SHORT) and email_once(services) is None
    assert {fields(services, cid) for cid in ids} == {(model[cid], None) for cid in ids}
    assert_reads(services, client, model, companies)
    interaction_again(client, services, model)

    # search terms written again from the documents (the backfill), by either name
    drop_search_terms(services)
    services.redis.hset(services.keys.contact(ids[1]), EMAIL_BEFORE, model[ids[1]])  # (a hash with both, the same)
    assert services.contacts.index_search_terms(ids) == 40
    assert_reads(services, client, model, companies)

    # contacts made after the record: `e` alone, in the company their email implies
    assert services.contacts.email_short()
    for n in range(2):
        [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=f"new{n}@example.com")])
        assert fields(services, cid) == (f"new{n}@example.com", None)
        model[cid], companies[cid] = f"new{n}@example.com", "example.com"
    # a process that had not seen the record links the long way
    seen = services.contacts.email_short
    services.contacts.email_short = lambda recheck=False: False
    [late] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email="late@example.com")])
    services.contacts.email_short = seen
    assert fields(services, late) == (None, "late@example.com")
    model[late], companies[late] = "late@example.com", "example.com"
    assert_reads(services, client, model, companies)
    interaction_again(client, services, model)

    # a backup of them restored by this release: the short field alone, read the same
    backup = [c for page in services.snapshot.contacts() for c in page if c.id in model]
    services.redis.delete(*(services.keys.contact(cid) for cid in model))
    for email in model.values():  # (its identity keys too: the restore writes them again)
        services.redis.delete(services.keys.identity("email", email))
    services.snapshot.write_contacts(backup, set())
    assert {fields(services, cid) for cid in model} == {(email, None) for email in model.values()}
    assert_reads(services, client, model, companies)
    interaction_again(client, services, model)


def test_a_second_email_linked_by_a_process_of_the_other_form_reads_as_the_first(services, client):
    """A contact first known by its external id (or made by its email) gets a second email from a process of the
    other form: each field written once (HSETNX), every reader takes the first's — the one that derives the
    contact, else the long one — and the rename keeps it."""
    run = uuid.uuid4().hex[:6]
    short_now = services.contacts.email_short

    def link(email: str | None, ext: str | None, short: bool) -> str:
        services.contacts.email_short = lambda recheck=False: short
        [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email, external_id=ext)])
        services.contacts.email_short = short_now
        return cid

    # made by its email by a process of each form, then a second email by one of the other (with its external id)
    made_short = link(f"first-{run}@acme.io", f"x1-{run}", True)
    assert link(f"second-{run}@acme.io", f"x1-{run}", False) == made_short
    made_long = link(f"first-{run}@beta.io", f"x2-{run}", False)
    assert link(f"second-{run}@beta.io", f"x2-{run}", True) == made_long
    # first known by its external id, its first email linked by a process of the long form
    by_ext = link(None, f"x3-{run}", True)
    assert link(f"first-{run}@gamma.io", f"x3-{run}", False) == by_ext
    assert link(f"second-{run}@gamma.io", f"x3-{run}", True) == by_ext
    assert fields(services, made_short) == (f"first-{run}@acme.io", f"second-{run}@acme.io")
    assert fields(services, made_long) == (f"second-{run}@beta.io", f"first-{run}@beta.io")
    assert fields(services, by_ext) == (f"second-{run}@gamma.io", f"first-{run}@gamma.io")
    model = {made_short: f"first-{run}@acme.io", made_long: f"first-{run}@beta.io", by_ext: f"first-{run}@gamma.io"}
    place(services, [by_ext])  # (as ingest does for an email linked to a contact known by its external id)
    companies = {made_short: "acme.io", made_long: "beta.io", by_ext: "gamma.io"}
    assert_reads(services, client, model, companies)
    assert services.contacts.shorten_email(list(model)) == 3
    assert {cid: fields(services, cid) for cid in model} == {cid: (email, None) for cid, email in model.items()}
    assert_reads(services, client, model, companies)


def test_the_rename_leaves_a_contact_whose_fields_changed_since_they_were_read(services):
    [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email="kept@acme.io")])
    assert fields(services, cid) == (None, "kept@acme.io")
    script, key = services.contacts._shorten_email, services.keys.contact(cid)
    assert script(keys=[key], args=["", "other@acme.io", "other@acme.io"]) == 0  # not what the caller read
    assert fields(services, cid) == (None, "kept@acme.io")
    assert script(keys=[key], args=["", "kept@acme.io", "kept@acme.io"]) == 1
    assert fields(services, cid) == ("kept@acme.io", None)


#: The worker prefixes of the releases before the email's rename (sk-l10-: the last of them).
PREFIXES_BEFORE = tuple(f"sk-l{n}-" for n in range(2, 11))


def test_the_rename_is_a_layout_migration_and_workers_are_named_anew():
    """Named unlike every release before it (not one name: a later layout change names its workers anew again)."""
    assert EMAIL_SHORT in LAYOUT_MIGRATIONS and WORKER_PREFIX.startswith("sk-l") and WORKER_PREFIX.endswith("-")
    assert WORKER_PREFIX not in PREFIXES_BEFORE
