"""A contact hash leaves out the ``company`` field that says only what its email implies (storage/contacts.py:
``stored_company``, ``read_company``; docs/performance.md, "Row 5a (2026-12-05)"): for the contact its email derives,
the text after the email's last ``@`` when that is a lower-case domain and not a free-mail one. An empty field says
"none" where the email implies a company. Every reader — the API's contact, the list page, the company index's
reads and placements, the company filters (filter_bucket.lua's document check of a big roster, and the cluster's
walk), the backup — gives the company as it was written, whatever the email (free-mail, none, upper case, no
domain), the company (the email's, another, none), moves between companies, an email linked to a contact first
known by its external id, and the migration's passes; on data of the release before (every field said) with
nothing, half and everything migrated. On Redis and on a 3-master cluster."""
from __future__ import annotations

import hashlib
import uuid

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from app.companies import place
from app.contact_filter import Condition, ContactFilter
from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX, companies_once
from app.scoring.companies import FREE_MAIL_DOMAINS, company_of
from app.scoring.interactions import Interaction
from app.storage.companies import ROSTER_INDEX_MIGRATION, Move
from app.storage.contacts import (COMPANY_IMPLIED, COMPANY_NONE_EXPLICIT, LONG_ID_LEN, SHORT_ID_LEN, contact_id_for,
                                  derived_ids, implied_company, read_company, stored_company)
from app.storage.queries import ContactQuery
from app.storage.timelines import StatesMoved
from tests.test_compaction import load_layout_v1

pytestmark = pytest.mark.also_on_cluster

DOMAINS = ["acme.io", "sub.acme.io", "bench.example", "gmail.com", "Acme.IO", "acme.io.", " acme.io", "a_b.io",
           "localhost", "acme..io", "xn--bcher-kva.example", "\u212aacme.io", "acme.io\n"]
emails = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", st.text("ab1.+", min_size=1, max_size=4),
              st.sampled_from(DOMAINS)),
    st.sampled_from(["no-at-sign", "two@at@acme.io", "a@", "@acme.io", "x@gmail.com"]))
companies = st.sampled_from([None, "acme.io", "sub.acme.io", "bench.example", "gmail.com", "acme-inc", "a_b.io"])


@settings(max_examples=500, deadline=None)
@given(email=st.none() | emails, derived=st.booleans(), company=companies, compact=st.booleans(), short=st.booleans())
def test_the_stored_field_reads_back_as_the_company_written(email, derived, company, compact, short):
    cid = contact_id_for("email", email, short) if derived and email else "cext" + uuid.uuid4().hex[:17]
    field = stored_company(cid, email, company, compact)
    doc = {"email": email} if email is not None else {}
    if field is not None:
        doc["company"] = field
    assert read_company(cid, doc, lambda: compact) == company
    # left out only where it is what the email implies, once compact; the implied company is company_of's
    assert (field is None) == ((compact and company is not None and company == implied_company(cid, email))
                               or (company is None and implied_company(cid, email) is None))
    assert implied_company(cid, email) in (None, company_of(email))


def new_contact(services, email: str | None, ext: str | None) -> str:
    [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email, external_id=ext)])
    return cid


def compact(services) -> bool:
    services.contacts.company_compact(recheck=True)
    return services.companies.company_compact(recheck=True)


def filter_finds(services, company: str) -> dict[str, set[str]]:
    """``company is X`` and ``company is not X``, each way filter_bucket.lua takes and the cluster's walk."""
    out = {}
    for op in ("eq", "ne"):
        for force in (None, "check", "cluster"):
            query = ContactQuery(services.scores, services.contacts, services.companies)
            query.force = None if force == "cluster" else force
            query.single_node = query.single_node and force != "cluster"
            page = query.run(ContactFilter((Condition("company", op=op, company=company),)), {}, 500, 0,
                             services.clock.now_ms())
            out[f"{op} {force}"] = {cid for cid, _score in page["items"]}
    return out


def assert_reads(services, model: dict[str, str | None]) -> None:
    """Every reader of a contact's company gives the model's."""
    ids = list(model)
    assert {c["id"]: c["company"] for c in services.contacts.get_contacts(ids)} == model
    assert services.companies.companies_of(ids) == model
    query = ContactQuery(services.scores, services.contacts, services.companies)
    assert {c["id"]: c["company"] for c in query.shown_contacts(ids, [])} == model
    backup = {c.id: c.doc.get("company") for page in services.snapshot.contacts() for c in page}
    assert {cid: backup[cid] for cid in ids} == model
    assert services.companies.placements(ids, check_rosters=True) == [
        Move(cid, held, company_of(doc.get("email"), None))
        for cid, held, doc in ((cid, model[cid], services.redis.hgetall(services.keys.contact(cid))) for cid in ids)
        if held != company_of(doc.get("email"), None)]
    services.companies.tidy()  # big rosters' plain sets into their indexes: the filters read the documents
    for company in {c for c in model.values() if c}:
        members = {cid for cid, held in model.items() if held == company}
        for way, found in filter_finds(services, company).items():
            assert found & set(ids) == (members if way.startswith("eq") else set(ids) - members), way


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(made=st.lists(st.tuples(st.none() | emails, st.booleans(), st.booleans()), min_size=1, max_size=5),
       steps=st.lists(st.tuples(st.sampled_from(["move", "link", "migrate"]), st.integers(0, 4), companies,
                                emails), max_size=6))
def test_every_reader_gives_the_company_written_through_moves_links_and_the_migration(services, made, steps):
    run = uuid.uuid4().hex[:6]  # (the store is the test's: each example's contacts are its own)
    companies_ = services.companies
    companies_.leaf_entries = companies_.plain_entries = 1  # every roster of two or more: an index
    services.redis.hset(services.keys.migrations(), ROSTER_INDEX_MIGRATION, 1)
    companies_.moved(recheck=True)
    model: dict[str, str | None] = {}
    for n, (email, by_ext, short) in enumerate(made):
        ext = f"{run}-x{n}" if by_ext or email is None else None
        email = None if by_ext or email is None else run + email
        services.contacts.ids_short = lambda recheck=False, short=short: short  # made before or after short ids
        cid = new_contact(services, email, ext)
        assert cid in model or len(cid) == (SHORT_ID_LEN if short else LONG_ID_LEN)  # (an email seen before: its)
        model.setdefault(cid, company_of(email) if email else None)
    assert_reads(services, model)
    ids = list(model)
    for action, which, company, email in steps:
        cid = ids[which % len(ids)]
        if action == "move":
            companies_.move([Move(cid, model[cid], company)], [])
            model[cid] = company
        elif action == "link":  # an email linked to a contact first known by its external id: placed, as ingest does
            email = run + email
            doc = services.redis.hgetall(services.keys.contact(cid))
            # (an email linked before names its contact: linking it again elsewhere is not a link)
            if doc.get("email") or set(derived_ids("email", email)) & set(model) or \
                    services.contacts.find_contact(email=email) is not None:
                continue
            relinked: list[str] = []
            ext = doc["external_id"]
            [got] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email, external_id=ext)],
                                                       relinked)
            assert got == cid and relinked == [cid]
            assert services.contacts.get_contact(cid)["company"] == model[cid]  # not placed yet: as it was
            place(services, relinked)
            model[cid] = company_of(email)
        elif not services.jobs.migration_done(COMPANY_IMPLIED):
            companies_once(services)
            assert compact(services)
        assert_reads(services, model)
    if compact(services):
        for cid, company in model.items():  # the field says only what the email does not
            stored = services.redis.hgetall(services.keys.contact(cid))
            assert stored.get("company") == stored_company(cid, stored.get("email"), company, True)
            assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


def old_contacts(services) -> dict[str, str | None]:
    """Contacts as the release before wrote them, each company said (none: no field), beside layout-v1's (each of
    example.com, the email's): two made from their email with none (contacts made before companies were, not placed),
    one in another company than its email's, one of a free-mail address, one known by its external id."""
    model = {cid: "example.com" for cid in load_layout_v1(services)}
    made = [("nobody@unplaced.io", None, None), ("zed@unplaced.io", None, None), ("ann@acme.io", None, "acme-inc"),
            ("bob@gmail.com", None, None),
            (None, "ext-7", "acme.io")]
    pipe = services.redis.pipeline(transaction=False)
    for email, ext, company in made:
        cid = new_contact(services, email, ext)
        pipe.hdel(services.keys.contact(cid), "company")  # as the release before left it
        if company_of(email):
            pipe.zrem(services.companies.roster_key(company_of(email)), cid)
        if company:
            pipe.hset(services.keys.contact(cid), "company", company)
            pipe.zadd(services.companies.roster_key(company), {cid: services.sharding.bucket_of(cid) + 1})
        model[cid] = company
    pipe.execute()
    return model


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_data_of_the_release_before_reads_the_same_with_nothing_half_and_everything_migrated(services):
    model = old_contacts(services)
    ids = list(model)
    companies_ = services.companies
    companies_.leaf_entries = companies_.plain_entries = 4  # example.com's 40 contacts: a big roster, an index
    services.redis.hset(services.keys.migrations(), ROSTER_INDEX_MIGRATION, 1)
    companies_.moved(recheck=True)
    assert_reads(services, model)
    unplaced = [contact_id_for("email", e) for e in ("nobody@unplaced.io", "zed@unplaced.io")]

    half = ids[::2]
    assert sum(cid in half for cid in unplaced) == 1
    assert services.contacts.say_no_company(half) == 1  # the first pass cut short
    assert_reads(services, model)
    assert companies_once(services) == 40  # the rest of it, then every company that repeats the email's
    assert services.jobs.migration_done(COMPANY_NONE_EXPLICIT) and services.jobs.migration_done(COMPANY_IMPLIED)
    assert [services.redis.hget(services.keys.contact(cid), "company") for cid in unplaced] == ["", ""]
    assert sum(services.redis.hexists(services.keys.contact(cid), "company") for cid in ids) == 4
    assert_reads(services, model)
    assert companies_once(services) is None
    # moves after it: out of the email's company (an empty field), into another, back into the email's (no field)
    for cid, company in ((ids[1], None), (ids[3], "acme-inc"), (unplaced[0], "unplaced.io"), (ids[5], None),
                         (ids[5], "example.com")):
        services.companies.move([Move(cid, model[cid], company)], [])
        model[cid] = company
    assert [services.redis.hget(services.keys.contact(cid), "company") for cid in (ids[1], unplaced[0], ids[5])] \
        == ["", None, None]
    assert_reads(services, model)

    # a process that has not seen the record yet asks again when it meets a hash without the field
    services.contacts.company_compact = StatesMoved(services.redis, services.keys, COMPANY_NONE_EXPLICIT, 3600)
    services.companies.company_compact = StatesMoved(services.redis, services.keys, COMPANY_NONE_EXPLICIT, 3600)
    services.redis.hdel(services.keys.migrations(), COMPANY_NONE_EXPLICIT)
    assert services.contacts.company_compact() is False  # (it looked once: not recorded)
    services.redis.hset(services.keys.migrations(), COMPANY_NONE_EXPLICIT, 1)
    assert_reads(services, model)


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_the_second_pass_cut_short_is_done_again_and_a_field_changed_meanwhile_stays(services):
    model = old_contacts(services)
    ids = list(model)
    assert services.contacts.say_no_company(ids) == 2
    services.jobs.record_migration(COMPANY_NONE_EXPLICIT, 1)
    assert services.contacts.drop_implied_companies(ids[:10]) == 10  # the second pass cut short
    assert_reads(services, model)
    moved = ids[20]
    services.companies.move([Move(moved, "example.com", "acme-inc")], [])  # between its read and its delete
    model[moved] = "acme-inc"
    assert companies_once(services) == 29
    assert_reads(services, model)


def test_the_migration_is_a_layout_one_and_workers_are_named_anew():
    assert COMPANY_IMPLIED in LAYOUT_MIGRATIONS and WORKER_PREFIX.startswith("sk-l")


#: The free-mail list as the stored layout reads it (``FREE_MAIL_DOMAINS``, sorted, joined by commas, SHA-256).
FREE_MAIL_AS_STORED = "3cb319430ef9bc481918fd2cee19dafad2c5938004a198ebfd2ad562a833b747"


def test_the_free_mail_list_does_not_change_without_a_migration():
    """A hash without a ``company`` field is in the company its email implies unless the email's domain is free-mail,
    so the list is part of what stored hashes mean: adding or removing a domain would move every stored contact of it
    into or out of a company silently. A change must come with a layout migration that first writes those contacts'
    field explicitly (docs/durability.md, "Upgrading to the company said only where the email does not say it");
    then update the digest here."""
    digest = hashlib.sha256(",".join(sorted(FREE_MAIL_DOMAINS)).encode()).hexdigest()
    assert digest == FREE_MAIL_AS_STORED, "FREE_MAIL_DOMAINS changed: stored contacts of those domains change company"
