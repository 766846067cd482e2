"""A contact hash's creation time in the short field ``c`` (storage/registry.py: ``CREATED``, ``created_of``;
app/contact_layout.py: ``created_once``; docs/performance.md, "Row 5a (2026-12-05 evening)"), where releases before
wrote ``created_at``. Every reader — the API's contact, the list page, the backup, the registry's order (its copy of
the old sets, its moves in from beside on one Redis and on a cluster, filter_bucket.lua's look-up of a contact's place
in the compact index, the cluster's walk) — gives the time the contact was made, whichever field holds it, the earlier
where a contact holds both (each is written with ``HSETNX``: the earlier is its first link's); on data of the release
before with nothing, half and everything renamed, and for contacts made before and after the record. On Redis and on
a 3-master cluster."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from app.contact_filter import Condition, ContactFilter
from app.contact_layout import LAYOUT_MIGRATIONS, created_once
from app.indexes import registry_once
from app.scoring.interactions import Interaction
from app.storage.queries import ContactQuery
from app.storage.registry import CREATED, CREATED_BEFORE, CREATED_BOUND, CREATED_SHORT, created_of
from tests.test_compaction import load_layout_v1

pytestmark = pytest.mark.also_on_cluster

times = st.none() | st.integers(-CREATED_BOUND, CREATED_BOUND)


@given(short=times, long=times)
def test_the_creation_time_is_the_earlier_field_there(short, long):
    doc = {f: str(v) for f, v in ((CREATED, short), (CREATED_BEFORE, long)) if v is not None}
    present = [v for v in (short, long) if v is not None]
    assert created_of(doc) == (min(present) if present else None)
    assert created_of([doc.get(CREATED), doc.get(CREATED_BEFORE)]) == created_of(doc)


def new_contact(services, email: str) -> str:
    [cid] = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email)])
    return cid


def newest_first(services, force: str | None) -> list[str]:
    """``company is example.com`` (a condition that drives) newest contact first, as filter_bucket.lua reads the
    registry's places (``force``: None, or "check" where each contact's place is looked up) or the cluster's walk."""
    query = ContactQuery(services.scores, services.contacts, services.companies)
    query.force = None if force == "cluster" else force
    query.single_node = query.single_node and force != "cluster"
    page = query.run(ContactFilter((Condition("company", op="eq", company="example.com"),)), {}, 500, 0,
                     services.clock.now_ms())
    return [cid for cid, _score in page["items"]]


def assert_reads(services, model: dict[str, int]) -> None:
    """Every reader of a contact's creation time gives the model's."""
    ids = list(model)
    assert {c["id"]: c["created_at"] for c in services.contacts.get_contacts(ids)} == model
    query = ContactQuery(services.scores, services.contacts, services.companies)
    assert {c["id"]: c["created_at"] for c in query.shown_contacts(ids, [])} == model
    backup = {c.id: c.doc for page in services.snapshot.contacts() for c in page}
    assert {cid: backup[cid].get(CREATED_BEFORE) for cid in ids} == {cid: str(at) for cid, at in model.items()}
    assert not any(CREATED in backup[cid] for cid in ids)  # a backup holds the form releases before read
    order = sorted(ids, key=lambda cid: (model[cid], cid), reverse=True)
    for force in (None, "check", "cluster"):
        assert [cid for cid in newest_first(services, force) if cid in model] == order, force
    entries = [(cid, at) for bucket in services.contacts.registry.newest(500) for cid, at in bucket]
    placed = dict(entries)
    assert len(placed) == len(entries)
    assert {cid: placed[cid] for cid in ids} == model  # each in the registry's index once, at its creation time
    for cid in ids:
        assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_data_of_the_release_before_reads_the_same_with_nothing_half_and_everything_renamed(services):
    ids = load_layout_v1(services)
    model = {cid: int(services.redis.hget(services.keys.contact(cid), CREATED_BEFORE)) for cid in ids}
    assert len(set(model.values())) > 1
    registry_once(services)  # the registry's compact index, each contact at its creation time
    assert_reads(services, model)

    # a contact linked again by a process of each form: the later HSETNX adds the other field, the earlier stays
    services.redis.hset(services.keys.contact(ids[0]), CREATED, model[ids[0]] + 5_000)
    assert services.contacts.shorten_created(ids[::2]) == 20  # the rename cut short
    assert {services.redis.hget(services.keys.contact(cid), CREATED_BEFORE) is None for cid in ids[::2]} == {True}
    assert services.redis.hget(services.keys.contact(ids[0]), CREATED) == str(model[ids[0]])
    assert_reads(services, model)
    assert created_once(services) == 20  # the rest of it, then the record
    assert services.jobs.migration_done(CREATED_SHORT) and created_once(services) is None
    assert not any(services.redis.hexists(services.keys.contact(cid), CREATED_BEFORE) for cid in ids)
    assert_reads(services, model)
    services.redis.hset(services.keys.contact(ids[3]), CREATED_BEFORE, model[ids[3]] + 7_000)  # and the converse
    assert_reads(services, model)

    # contacts made after the record: `c` alone, moved into the registry's index from beside at that time
    assert services.contacts.created_short()
    for n in range(2):
        cid = new_contact(services, f"new{n}@example.com")
        at, before = services.redis.hmget(services.keys.contact(cid), CREATED, CREATED_BEFORE)
        assert at is not None and before is None
        model[cid] = int(at)
    # a process that had not seen the record links a contact the long way; a second identity's link by one that
    # had (HSETNX) adds the short field, later: the earlier is the contact's
    seen = services.contacts.created_short
    services.contacts.created_short = lambda recheck=False: False
    late = new_contact(services, "late@example.com")
    services.contacts.created_short = seen
    at, short = services.redis.hmget(services.keys.contact(late), CREATED_BEFORE, CREATED)
    assert short is None
    services.redis.hsetnx(services.keys.contact(late), CREATED, int(at) + 10_000)
    model[late] = int(at)
    assert_reads(services, model)
    # linked again by another identity, later: written beside the registry's index again, moved in where it is
    for cid in (late, ids[4]):
        email = services.redis.hget(services.keys.contact(cid), "email")
        got = services.contacts.resolve_contacts([Interaction("i", "t", "x", 1, email=email, external_id=f"x-{cid}")])
        assert got == [cid]
    assert_reads(services, model)

    # a backup of them restored by this release: the short field alone, read the same
    backup = [c for page in services.snapshot.contacts() for c in page if c.id in model]
    services.redis.delete(*(services.keys.contact(cid) for cid in model))
    services.snapshot.write_contacts(backup, set())
    assert {services.redis.hget(services.keys.contact(cid), CREATED) for cid in model} \
        == {str(at) for at in model.values()}
    assert not any(services.redis.hexists(services.keys.contact(cid), CREATED_BEFORE) for cid in model)
    assert_reads(services, model)


def test_the_rename_is_a_layout_migration():
    assert CREATED_SHORT in LAYOUT_MIGRATIONS


#: A creation time field's text: what a link writes, and what corruption leaves (a float's text, an exponent, space,
#: a sign, leading zeros, hex, words, nothing, digits of another script, anything).
field_texts = st.none() | st.integers(-2**53, 2**53).map(str) | st.sampled_from(
    ["5.0", "1e3", " 5", "5 ", "+5", "007", "-0", "0x10", "abc", "", "inf", "nan", "1_000", "\u0665",
     str(CREATED_BOUND), str(-CREATED_BOUND), str(CREATED_BOUND + 1), "9" * 30]) | st.text(max_size=12)
examples = iter(range(10**9))


def placed_contact(services, created: dict[str, str], written: int) -> str:
    """A contact hash with these creation time fields, written beside the registry's index at ``written`` ms (as a
    link writes it), moved in by the next read; its id."""
    cid = f"cr{next(examples)}"
    services.redis.hset(services.keys.contact(cid), mapping={"email": f"{cid}@x.io", **created})
    services.redis.zadd(services.keys.registry(services.sharding.bucket_of(cid)), {cid: written})
    return cid


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(short=field_texts, long=field_texts)
@example(short="007", long=None)
@example(short=None, long="5.0")
@example(short="1e3", long=None)
@example(short="abc", long="12")
@example(short="", long=None)
@example(short="12", long=" 5")
@example(short=str(CREATED_BOUND + 1), long=None)
def test_every_reader_reads_a_corrupt_creation_time_as_none(services, short, long):
    """Python (``created_of``) and Lua (``created.lua``: ``registry_ops.lua``'s place in the index on one Redis,
    ``filter_bucket.lua``'s look-up of that place, ``shorten_created.lua``'s rename) read any field text the same: a
    whole number's text within the index's range is its time, anything else none (``CREATED_BOUND``). Such a contact
    is placed at the time it was written with and lists as made at 0. Before, "5.0" or "1e3" read as a time in Lua
    and as none in Python, and the list page failed on "abc"."""
    created = {f: v for f, v in ((CREATED, short), (CREATED_BEFORE, long)) if v is not None}
    expected = created_of(created)
    written = 1_000 + next(examples)
    cid = placed_contact(services, created, written)
    shown = 0 if expected is None else expected  # in the list, and in its order
    tag = f"t{cid}"
    around = [placed_contact(services, {CREATED: str(at)}, 0) for at in (shown + 1, shown - 1)
              if abs(at) <= CREATED_BOUND]
    for member in (cid, *around):
        services.redis.sadd(services.keys.tag_members(tag, services.sharding.bucket_of(member)), member)
    bucket = services.sharding.bucket_of(cid)
    assert dict(services.contacts.registry.newest(10**6)[bucket])[cid] == (written if expected is None else expected)
    assert [c["created_at"] for c in services.contacts.get_contacts([cid])] == [shown]
    query = ContactQuery(services.scores, services.contacts, services.companies)
    assert [c["created_at"] for c in query.shown_contacts([cid], [])] == [shown]
    for force in (None, "check", "cluster"):  # filter_bucket.lua's look-up of its place; the walk's (Python)
        query = ContactQuery(services.scores, services.contacts, services.companies)
        query.force = None if force == "cluster" else force
        query.single_node = query.single_node and force != "cluster"
        page = query.run(ContactFilter((Condition("tag", op="has", tag=tag),)), {}, 10, 0, services.clock.now_ms())
        order = [c for c, _score in page["items"]]
        assert order[1 if shown + 1 <= CREATED_BOUND else 0] == cid, (force, order)
    services.contacts.shorten_created([cid])
    assert created_of(services.redis.hmget(services.keys.contact(cid), CREATED, CREATED_BEFORE)) == expected
