"""A search term whose text derives its contact — its lower-case email's (``contact_id_for("email", text)``) or
external id's (``("ext", text)``) — is stored without the contact id (storage/contacts.py: ``search_member``), and
``search_short_once`` rewrites the terms of releases before so. A prefix search answers exactly what it answered when
every term held its id (each bucket's first terms in that order, merged, each contact once), whatever the emails
(upper case, unicode, free-mail), the external ids (one equal to another contact's email), the names (one equal to
the contact's own email), a later link of an email to a contact first known by its external id, renames; on data
written by the release before and this one, with nothing, half and everything migrated. On Redis and on a
3-master cluster."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app.storage.contacts as contacts_module
from app.contact_layout import LAYOUT_MIGRATIONS, WORKER_PREFIX
from app.indexes import SEARCH_SHORT_MIGRATION, search_short_once
from app.keys import Keys
from app.scoring.interactions import Interaction
from app.storage.connection import connect
from app.storage.contacts import ContactStore, contact_id_for, search_member
from app.storage.redis_tools import Sharding
from tests.conftest import TEST_REDIS_URL
from tests.test_compaction import load_layout_v1
from tests.test_search_index import searched_as_one_sorted_set

pytestmark = pytest.mark.also_on_cluster

LOCALS = st.text("aBé", min_size=1, max_size=2)
emails = st.builds(lambda local, domain: f"{local}@{domain}", LOCALS,
                   st.sampled_from(["x.io", "X.io", "gmail.com", "bücher.de"]))
exts = st.one_of(st.text("aB-1", min_size=1, max_size=3), emails)  # an external id may look like an email
CONTACTS = st.tuples(st.none() | emails, st.none() | exts).filter(lambda c: c != (None, None))
OPS = st.lists(st.one_of(
    st.tuples(st.just("contact"), CONTACTS, st.booleans()),
    st.tuples(st.just("name"), st.integers(0, 30), st.none() | st.sampled_from(["a", "a@x.io", "Ab"]) | emails,
              st.booleans())), min_size=1, max_size=30)


def long_member(text: str, contact_id: str) -> str:
    """A term as the release before stored it (and as the reference model holds it)."""
    return f"{text.lower()}\x00{contact_id}"


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


class Model:
    """What a search finds: the contacts' terms as the release before stored them, kept as ``resolve_contacts`` and
    ``set_name`` change them (a new identity linked to the contact its email, else its external id, names)."""

    def __init__(self) -> None:
        self.named: dict[tuple[str, str], str] = {}
        self.names: dict[str, str] = {}
        self.terms: set[str] = set()
        self.contacts: list[str] = []

    def resolve(self, email: str | None, ext: str | None) -> str:
        idents = [i for i in (("email", email), ("ext", ext)) if i[1]]
        cid = next((self.named[i] for i in idents if i in self.named), None) or contact_id_for(*idents[0])
        for ident in idents:
            if ident not in self.named:
                self.named[ident] = cid
                self.terms.add(long_member(ident[1], cid))
        self.contacts.append(cid)
        return cid

    def rename(self, cid: str, name: str | None) -> None:
        if cid in self.names:
            self.terms.discard(long_member(self.names.pop(cid), cid))
        if name:
            self.names[cid] = name
            self.terms.add(long_member(name, cid))


def write(contacts: ContactStore, model: Model, ops, monkeypatch) -> None:
    """The ops, the release before's (its terms with the id) first, then this release's."""
    for before in (True, False):
        with monkeypatch.context() as patch:
            if before:
                patch.setattr(contacts_module, "search_member", long_member)
            for op in ops:
                if op[-1] != before:
                    continue
                if op[0] == "contact":
                    email, ext = op[1]
                    [cid] = contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email, external_id=ext)])
                    assert cid == model.resolve(email, ext)
                elif model.contacts:
                    cid = model.contacts[op[1] % len(model.contacts)]
                    contacts.set_name(cid, op[2])
                    model.rename(cid, op[2])


def migrate(contacts: ContactStore, buckets: int, how: str) -> None:
    """``search_short_once``'s steps over none, half or all of the buckets (after moving in what ingest wrote)."""
    if how == "nothing":
        return
    for bucket in range(buckets):
        while contacts.search.absorb(bucket):
            pass
        if how == "half" and bucket % 2:
            contacts.shorten_search_terms(bucket, None, 1)  # one page of one term, the rest left
            continue
        after = None
        while (after := contacts.shorten_search_terms(bucket, after, 2)[0]) is not None:
            pass


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, how=st.sampled_from(["nothing", "half", "all"]), limits=st.lists(st.integers(1, 4), min_size=1,
                                                                                  max_size=3))
def test_a_search_finds_what_it_found_when_every_term_held_its_id(store, monkeypatch, ops, how, limits):
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=4, buckets=4)
    contacts = ContactStore(store, keys, sharding)
    contacts.search.ordered.leaf_entries = 3
    model = Model()
    write(contacts, model, ops, monkeypatch)
    migrate(contacts, 4, how)
    texts = {t.rpartition("\x00")[0] for t in model.terms}
    prefixes = {t[:n] for t in texts for n in (1, 2, 5, 40)} | {"ZZ", " A"}
    for prefix in sorted(prefixes):
        for limit in [*limits, 100]:
            assert contacts.search_contacts(prefix, limit) == searched_as_one_sorted_set(
                model.terms, 4, sharding.bucket_of, prefix, limit), (prefix, limit)
    if how == "all":  # every term whose text derives its contact holds no id
        held = {m for b in range(4) for m in contacts.search.index_page(b, None, 10_000)}
        assert held == {search_member(*t.rsplit("\x00", 1)) for t in model.terms}


def test_a_bucket_cut_inside_a_texts_terms_takes_the_contacts_the_long_order_takes(store, monkeypatch):
    """A short term sorts before the long ones of its text (``t\\0`` < ``t\\0c...``) where its id may sort after
    theirs: a bucket's first terms are taken in the long form's order all the same."""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=1, buckets=1)
    contacts, model = ContactStore(store, keys, sharding), Model()
    email = "a@x.io"
    ops = [("contact", (email, None), False), ("contact", (None, email), False)]  # its email's and ext's contact
    ops += [("contact", (None, f"n{i}"), True) for i in range(12)]
    ops += [("name", 2 + i, email, before) for i in range(12) for before in (i % 2 == 0,)]
    write(contacts, model, ops, monkeypatch)
    ids = sorted(cid for cid in model.contacts if long_member(email, cid) in model.terms)
    assert ids.index(contact_id_for("email", email)) > 1  # the derived ones are not first by id
    for how in ("nothing", "all"):
        migrate(contacts, 1, how)
        for limit in range(1, 15):
            assert contacts.search_contacts(email, limit) == ids[:limit]


def test_each_bucket_gives_its_first_terms_only_as_before(store, monkeypatch):
    """A contact found by two terms of its bucket's first ``limit`` leaves that bucket one contact short, as when
    every term held its id: the next contact of the bucket is not taken in its place."""
    keys, sharding = Keys(f"t{uuid.uuid4().hex[:8]}"), Sharding(partitions=2, buckets=2)
    contacts, model = ContactStore(store, keys, sharding), Model()
    x = contact_id_for("email", "a1@x.io")
    near = next(f"a3{i}@x.io" for i in range(100) if sharding.bucket_of(contact_id_for("email", f"a3{i}@x.io"))
                == sharding.bucket_of(x))
    far = next(f"a4{i}@x.io" for i in range(100) if sharding.bucket_of(contact_id_for("email", f"a4{i}@x.io"))
               != sharding.bucket_of(x))
    ops = [("contact", (email, None), False) for email in ("a1@x.io", near, far)] + [("name", 0, "a2", False)]
    write(contacts, model, ops, monkeypatch)
    assert contacts.search_contacts("a", 2) == [x, contact_id_for("email", far)] == searched_as_one_sorted_set(
        model.terms, 2, sharding.bucket_of, "a", 2)


def test_terms_whose_text_derives_the_contact_leave_the_id_out():
    lower, upper, ext = "ann@x.io", "Ann@x.io", "crm-7"
    assert search_member(lower, contact_id_for("email", lower)) == "ann@x.io\x00"
    assert search_member(ext, contact_id_for("ext", ext)) == "crm-7\x00\x01"
    assert search_member(upper, contact_id_for("email", upper)) == f"ann@x.io\x00{contact_id_for('email', upper)}"
    assert search_member(lower, "cother") == "ann@x.io\x00cother"
    # an external id equal to another contact's email: two terms, two contacts
    assert search_member(lower, contact_id_for("ext", lower)) != search_member(lower, contact_id_for("email", lower))


def test_search_short_once_rewrites_the_release_befores_terms_and_answers_the_same(services):
    load_layout_v1(services)
    contacts, buckets = services.contacts, services.sharding.buckets
    terms = {t for b in range(buckets) for t in services.redis.zrange(services.keys.search_before(b), 0, -1)}
    prefixes = sorted({t[:n] for t in terms for n in (1, 2, 4)})
    before = {p: contacts.search_contacts(p, 3) for p in prefixes}
    assert any(len(found) > 1 for found in before.values())
    shortened = {t for t in terms if search_member(*t.rsplit("\x00", 1)) != t}
    assert shortened  # the layout's contacts were made from their emails
    assert search_short_once(services, page=2) == len(shortened)
    assert services.jobs.migration_done(SEARCH_SHORT_MIGRATION) and search_short_once(services) is None
    assert {p: contacts.search_contacts(p, 3) for p in prefixes} == before
    held = {m for b in range(buckets) for m in contacts.search.index_page(b, None, 10_000)}
    assert held == {search_member(*t.rsplit("\x00", 1)) for t in terms}


def test_a_term_renamed_away_while_the_migration_reads_its_page_is_not_brought_back(services, monkeypatch):
    """The page is read, then the rename removes the term, then the page's terms are replaced: the replace finds
    the old term gone and adds no short one."""
    email = "nora@x.io"
    cid = contact_id_for("email", email)
    bucket = services.sharding.bucket_of(cid)
    services.contacts.search.add({cid: [long_member(email, cid)]})  # as the release before wrote it
    search, read = services.contacts.search, services.contacts.search.index_page

    def removed_meanwhile(*args):
        page = read(*args)
        services.contacts.search.remove(cid, [long_member(email, cid)])
        return page
    monkeypatch.setattr(search, "index_page", removed_meanwhile)
    assert services.contacts.shorten_search_terms(bucket, None, 10) == (None, 0)
    monkeypatch.undo()
    assert services.contacts.search_contacts("nora", 5) == []
    assert search.index_page(bucket, None, 10) == []


def test_renaming_removes_both_forms_of_the_old_name(services):
    email = "zed@x.io"
    [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email)])
    services.contacts.search.add({cid: [long_member(email, cid)]})  # a name equal to the email, of the release before
    services.redis.hset(services.keys.contact(cid), "name", email)
    services.contacts.set_name(cid, "Zed")
    assert services.contacts.search_contacts("zed@", 5) == []  # as before: the name's term was the email's too
    assert services.contacts.search_contacts("zed", 5) == [cid]


def test_the_migration_is_a_layout_one_and_workers_are_named_anew():
    assert SEARCH_SHORT_MIGRATION in LAYOUT_MIGRATIONS and WORKER_PREFIX.startswith("sk-l")
