"""A review of what Redis keeps of an interaction (app/scoring/kept_properties.py): the promise that a copy in Redis
that lacks a property is one the archive holds whole, and that every reader of a version reading such a name reads
the archive's record instead, checked where the first tests did not look: the backup and restore, and the compact
hash a trimmed copy stays in.
"""
from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.archiving import active_reads, trim_archived
from app.contact_layout import kept_properties_once
from app.horizon import whole_timelines
from app.scoring.kept_properties import trimmed
from app.scoring.records import TimelineRecord, lacks_properties, record_text
from app.scoring_service import make_scorer, score_parsed
from app.storage.redis_tools import loads

from .clock import CLOCK_START
from .helpers import publish, publish_profile, put_profile, score_of, send, settle
from .reference import reference_score
from .test_kept_properties import MINUTE, RULES_V1, RULES_V2, as_record, hot_copies, trimmed_clicks


def test_a_backup_holds_the_whole_record_of_a_trimmed_copy_and_a_restore_scores_a_later_version_exactly(
        make_app, clock, tmp_path, archive_url):
    """The backup carries each contact's hot timeline as stored, and of the archive only the records that left
    Redis: a trimmed copy's whole record must be in the file too, or a restore into a new archive stores the copy as
    the whole record, and a version published after it that reads what the copy left out scores short for good."""
    from app.backup import read_records, restore_archive, write_archive

    app = make_app(CLOCK=clock, HOT_HISTORY="0", ARCHIVE_URL=f"sqlite:///{tmp_path}/origin.sqlite3")
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        items = trimmed_clicks(client, services, "r@x.io", [("spring" if n % 2 else "autumn", f"https://example.com/{n}")
                                                            for n in range(1, 5)])
        path = tmp_path / "backup.jsonl.gz"
        write_archive(services.snapshot, path, app.config, history=services.archive)
    contact = next(r for r in read_records(path) if r.get("kind") == "contact")
    whole = {r["id"]: r["p"] for r in contact.get("archived", [])}
    assert whole.get("c1", {}).get("url") == "https://example.com/1"  # the file holds what Redis left out
    records = [as_record(item, CLOCK_START + n * MINUTE) for n, item in enumerate(items, start=1)]

    restored = make_app(CLOCK=clock, HOT_HISTORY="0", KEY_PREFIX="restored", ARCHIVE_URL=archive_url)
    with restored.app_context():
        services = restored.extensions["scorekeeper"]
        restore_archive(services, path)
        client = restored.test_client()
        cid = services.contacts.find_contact(email="r@x.io")
        archived = {r.id: r for r in services.archive.histories([cid], workspace=services.workspace)[cid]}
        assert {k: archived[k].properties.get("campaign") for k in archived} == \
            {f"c{n}": "spring" if n % 2 else "autumn" for n in range(1, 5)}  # whole, not the trimmed copies
        assert all(copy.dropped for copy in hot_copies(services, "r@x.io").values())  # Redis as it was
        clock.advance(10 * MINUTE)
        put_profile(client, "eng", RULES_V2)
        publish(client, services, "eng")
        assert score_of(client, "r@x.io", "eng") == reference_score(RULES_V2, records, clock.now_ms(), "eng")


def test_a_copy_that_trimming_would_make_longer_stays_whole_and_the_hash_compact(client, services):
    """A trimmed copy writes the names it lacks: with one dropped property of a one-digit value it would be a byte
    longer than the whole record. A record of exactly a listpack value (64 B) in the contact's compact hash would
    then turn the whole hash (document and fold states too) into a hash table, for good. Such a copy stays whole
    (``kept_properties.MIN_SAVED_BYTES``: a copy is trimmed only when it saves at least that much)."""
    kept_properties_once(services)
    publish_profile(client, services, "eng", RULES_V1)
    send(client, {"id": "seed", "type": "email.opened", "contact": {"email": "h@x.io"}})
    settle(services)
    cid = services.contacts.find_contact(email="h@x.io")
    base = len(record_text(TimelineRecord("c1", "api", "email.clicked", CLOCK_START, {"": 1})))
    record = TimelineRecord("c1", "api", "email.clicked", CLOCK_START, {"n" * (64 - base): 1})
    reads = active_reads(services)
    assert "n" * (64 - base) not in reads["email.clicked"] and len(record_text(record).encode()) == 64
    batch = {cid: [record]}
    score_parsed(services, make_scorer(services), batch, [record])
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    assert not services.redis.exists(services.keys.timeline(cid))  # the record is in the contact's hash
    services.archive.append_batches([batch], services.workspace)
    assert trim_archived(services, [batch], reads) == 0
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    copy = hot_copies(services, "h@x.io")["c1"]
    assert copy.properties == record.properties and not copy.dropped
    assert score_of(client, "h@x.io", "eng") == 2


#: Property names a provider or an API client may send: empty, long (past a listpack value), with the characters a
#: record's field escapes or splits on, unicode, int-looking (never taken for an interned name's index), an interned
#: name, a dotted one, the record marker.
odd_names = st.one_of(st.sampled_from(["", "a:b", "x@y", "100%", "%40", "é", "名前", "🙂", "0", "12", "url",
                                       "utm.source", "~", "n" * 300]),
                      st.text(max_size=80))
odd_values = st.one_of(st.text(max_size=40), st.text(min_size=16, max_size=60), st.integers(-10**12, 10**12), st.booleans(), st.none(),
                       st.lists(st.integers(0, 9), max_size=3))
_ids = itertools.count()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(properties=st.dictionaries(odd_names, odd_values, min_size=1, max_size=5), data=st.data())
def test_odd_property_names_survive_trimming_and_reading_back(client, services, properties, data):
    """Whatever the names, the copy trim_records.lua leaves reads back with exactly the kept properties and the
    dropped names, the contact's hash stays compact, and a reader of a dropped name gets the archive's whole record."""
    kept_properties_once(services)
    if not services.contacts.find_contact(email="o@x.io"):
        send(client, {"id": "seed", "type": "email.opened", "contact": {"email": "o@x.io"}})
        settle(services)
    cid = services.contacts.find_contact(email="o@x.io")
    read = data.draw(st.sets(st.sampled_from(sorted(properties))))
    reads = {"custom.odd": frozenset(read)}
    record = TimelineRecord(f"r{next(_ids)}", "api", "custom.odd", CLOCK_START, properties)
    batch = {cid: [record]}
    score_parsed(services, make_scorer(services), batch, [record])
    services.archive.append_batches([batch], services.workspace)
    short = trimmed(record, reads)
    replaced = trim_archived(services, [batch], reads)
    assert replaced == (short is not None)
    copy = {r.key: r for r in services.timelines.read_timelines([cid])[cid]}[record.key]
    assert lacks_properties(loads(services.timelines.stored_timelines([cid])[cid][record.key])) == bool(replaced)
    if replaced:  # and shorter than the whole record: it never outgrows a listpack value the record fitted in
        assert len(record_text(copy).encode()) < len(record_text(record).encode())
        assert copy.properties == {k: v for k, v in properties.items() if k in read}
        assert sorted(copy.dropped) == sorted(set(properties) - read)
    else:
        assert copy.properties == properties and not copy.dropped
    assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"
    lost = frozenset(set(properties) - set(copy.properties))
    again = {r.key: r for r in whole_timelines(services, [cid], {"custom.odd": lost})[cid]}[record.key]
    assert again.properties == properties and not again.dropped
