"""The stored forms of the scoring domain, written out literally: a timeline record under its field, a ledger
entry as a row, and the records an interaction makes (pure: no Redis)."""
from __future__ import annotations

import copy
import json
import pickle
from dataclasses import FrozenInstanceError

import pytest

from hypothesis import given
from hypothesis import strategies as st

from app.archive import ArchivedRecord, make_archived
from app.scoring.interactions import ATTRIBUTES_TYPE, CATALOG, MANUAL_TYPE, Interaction
from app.scoring.vocabulary import vocabulary_of
from app.scoring.records import (
    PROPERTY_CODES,
    PROPERTY_CODES_READ_BEFORE,
    REASON_CODES,
    TYPE_CODES,
    ContactWrite,
    LedgerEntry,
    TimelineRecord,
    decode_ledger_entry,
    decode_record,
    encode_ledger_entry,
    encode_record,
    make_record,
    make_write,
)

OPENED = TimelineRecord("x:1", "crm", "email.opened", 1_700_000_000_000, {"machine_open": False})


def test_a_record_is_stored_under_source_colon_id_as_interned_type_time_and_properties():
    assert OPENED.key == "crm:x:1"
    assert encode_record(OPENED) == [1, 1_700_000_000_000, [1, False]]  # machine_open interned
    assert encode_record(TimelineRecord("1", "api", "email.clicked", 5, {"url": "u", "mine": 2})) == \
        [2, 5, [2, "u", "mine", 2]]  # a name outside PROPERTY_CODES stays as it is
    assert encode_record(TimelineRecord("1", "api", "form.submitted", 5, {})) == [10, 5]
    assert encode_record(TimelineRecord("1", "api", "custom.seen", 5, {})) == ["custom.seen", 5]  # by name


def test_the_interned_types_are_the_catalogue_then_manual_and_attributes_in_a_fixed_order():
    # stored data refers to these numbers: appending is the only change allowed
    assert TYPE_CODES[:len(CATALOG)] == CATALOG
    assert TYPE_CODES[len(CATALOG):] == (MANUAL_TYPE, ATTRIBUTES_TYPE)
    assert REASON_CODES == ("matched", "capped", "floor", "limit", "expired", "decay", "manual", "fit")
    assert PROPERTY_CODES[:3] == ("message_id", "machine_open", "url") and len(set(PROPERTY_CODES)) == \
        len(PROPERTY_CODES) == 68


def test_names_interned_since_the_release_before_are_used_only_in_the_names_a_copy_left_out():
    """A release before reads the first PROPERTY_CODES_READ_BEFORE codes alone (past them it fails): this release's
    web processes write records (attributes named by anyone: ``tag``) while its processes still read, so a property
    is stored by those codes only; the names a trimmed copy lists as left out use every code once no process of a
    release before lives (``listed``: once-values-keyed recorded), by name before."""
    assert PROPERTY_CODES.index("tag") >= PROPERTY_CODES_READ_BEFORE
    record = TimelineRecord("1", "api", "contact.attributes", 5, {"tag": "vip", "url": "u"})
    assert encode_record(record) == encode_record(record, listed=True) == [16, 5, ["tag", "vip", 2, "u"]]
    copy = TimelineRecord("2", "stripe", "payment.succeeded", 5, {"plan": "pro"}, ("stripe_type", "livemode", "charge"))
    assert encode_record(copy, listed=True)[3] == [PROPERTY_CODES.index("stripe_type"),
                                                   PROPERTY_CODES.index("livemode"), 9]
    assert encode_record(copy)[3] == ["stripe_type", "livemode", 9]
    for stored in (encode_record(copy, listed=True), encode_record(copy)):
        back = decode_record(copy.key, json.loads(json.dumps(stored)))
        assert (back.properties, back.dropped) == (copy.properties, copy.dropped)


@pytest.mark.parametrize(("key", "stored", "record"), [
    pytest.param("crm:x:1", ["email.opened", 1_700_000_000_000, {"machine_open": False}], OPENED,
                 id="an-id-with-colons-keeps-them"),
    pytest.param("api:1", ["form.submitted", 5], TimelineRecord("1", "api", "form.submitted", 5, {}),
                 id="no-properties"),
    pytest.param("crm:x:1", [1, 1_700_000_000_000, {"machine_open": False}], OPENED, id="interned-type"),
    pytest.param("crm:x:1", [1, 1_700_000_000_000, [1, False]], OPENED, id="interned-property-names"),
    pytest.param("api:1", {"id": "1", "src": "api", "t": "form.submitted", "at": 5, "p": {"a": 1}},
                 TimelineRecord("1", "api", "form.submitted", 5, {"a": 1}), id="written-as-an-object-by-older-releases"),
])
def test_a_stored_record_reads_back_from_its_field_and_value(key, stored, record):
    assert decode_record(key, stored) == record


def test_a_ledger_entry_points_at_its_interaction_by_key_with_type_and_reason_interned():
    entry = LedgerEntry(5, "x:1", "crm", "email.opened", "open", 2, 2, 7, "matched", None)
    assert encode_ledger_entry(entry) == [5, "crm:x:1", 1, "open", 2, 2, 7, 0]
    noted = LedgerEntry(5, "x:1", "crm", "email.opened", "open", 2, 0, 7, "limit", "limit: 1 reached")
    assert encode_ledger_entry(noted)[-1] == [3, "limit: 1 reached"]
    other = LedgerEntry(5, "1", "api", "custom.x", None, 2, 2, 7, "somehow", None)
    assert encode_ledger_entry(other) == [5, "api:1", "custom.x", None, 2, 2, 7, "somehow"]


def test_a_ledger_row_of_earlier_releases_reads_as_the_apis_object_missing_fields_none():
    assert decode_ledger_entry([5, "x:1", "crm", "email.opened", "open", 2, 2, 7, "matched"]) == {
        "at": 5, "interaction_id": "x:1", "source": "crm", "type": "email.opened", "rule_id": "open",
        "points": 2, "change": 2, "score": 7, "reason": "matched", "note": None}
    assert decode_ledger_entry([5, "x:1", "crm", "email.opened", "open", 2, 0, 7, "limit", "limit: 1 reached"])[
        "note"] == "limit: 1 reached"
    older = {"at": 5, "reason": "matched"}
    assert decode_ledger_entry(older) == older


_TEXT = st.text(max_size=12)
_TYPES = st.one_of(st.sampled_from(TYPE_CODES), st.text(min_size=1, max_size=12))
_REASONS = st.one_of(st.sampled_from(REASON_CODES), st.text(max_size=12))
_INT = st.integers(-10**15, 10**15)


@given(at=_INT, id_=_TEXT, source=_TEXT.filter(lambda s: ":" not in s), type_=_TYPES,
       rule=st.none() | _TEXT, points=_INT, change=_INT, score=_INT, reason=_REASONS, note=st.none() | _TEXT)
def test_every_ledger_entry_reads_back_exactly_what_the_older_row_form_gave(at, id_, source, type_, rule, points,
                                                                          change, score, reason, note):
    entry = LedgerEntry(at, id_, source, type_, rule, points, change, score, reason, note)
    older = [at, id_, source, type_, rule, points, change, score, reason] + ([note] if note is not None else [])
    assert decode_ledger_entry(encode_ledger_entry(entry)) == decode_ledger_entry(older) == entry.to_json()


@given(id_=_TEXT, source=_TEXT.filter(lambda s: ":" not in s), type_=_TYPES, at=_INT,
       properties=st.dictionaries(st.sampled_from(PROPERTY_CODES) | _TEXT,
                                  st.integers() | _TEXT | st.booleans() | st.lists(_TEXT, max_size=2), max_size=4))
def test_every_record_reads_back_from_its_compact_form(id_, source, type_, at, properties):
    record = TimelineRecord(id_, source, type_, at, properties)
    assert decode_record(record.key, json.loads(json.dumps(encode_record(record)))) == record  # as stored


def test_an_interaction_becomes_its_timeline_record():
    interaction = Interaction("x:1", "crm", "email.opened", 1_700_000_000_000, {"machine_open": False})
    assert interaction.to_record() == OPENED


def test_attributes_an_interaction_carries_become_their_own_record_keyed_by_the_interaction():
    interaction = Interaction("m-1", "hubspot", "form.submitted", 9, {}, attributes={"plan": "pro", "title": None})
    assert interaction.attribute_record() == TimelineRecord("hubspot:m-1", "attributes", "contact.attributes", 9,
                                                            {"plan": "pro", "title": None})
    assert Interaction("m-1", "hubspot", "form.submitted", 9).attribute_record() is None


def test_the_vocabulary_of_stored_records_is_each_type_and_its_property_paths():
    records = [OPENED, TimelineRecord("2", "api", "form.submitted", 6, {"form_id": "f", "utm": {"source": "x"}})]
    assert vocabulary_of(records) == {("email.opened", ""), ("email.opened", "machine_open"),
                                      ("form.submitted", ""), ("form.submitted", "form_id"),
                                      ("form.submitted", "utm.source")}  # an object: its keys, not itself


TEXT = st.text(max_size=6)


def _made_alike(made, reference, cls) -> None:
    """``made`` is what ``cls(...)`` makes: of the class itself, every slot the same, equal, and frozen like it."""
    assert type(made) is cls and made == reference and repr(made) == repr(reference)
    assert [getattr(made, name) for name in cls.__slots__] == [getattr(reference, name) for name in cls.__slots__]
    with pytest.raises(FrozenInstanceError):
        made.__setattr__(cls.__slots__[0], "changed")
    assert pickle.loads(pickle.dumps(made)) == reference and copy.copy(made) == reference


@given(id_=TEXT, source=TEXT, type_=TEXT, at=st.integers(), properties=st.dictionaries(TEXT, st.integers(), max_size=2))
def test_a_record_made_fast_is_the_record_its_class_makes(id_, source, type_, at, properties):
    _made_alike(make_record(id_, source, type_, at, properties), TimelineRecord(id_, source, type_, at, properties),
                TimelineRecord)
    assert make_record(id_, source, type_, at, properties).key == f"{source}:{id_}"


@given(values=st.tuples(TEXT, TEXT, st.dictionaries(TEXT, TEXT, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2),
                        st.lists(TEXT, max_size=2), st.lists(TEXT, max_size=2), st.lists(TEXT, max_size=2),
                        st.dictionaries(TEXT, TEXT, max_size=2), st.dictionaries(TEXT, TEXT, max_size=2)))
def test_a_contact_write_made_fast_is_the_write_its_class_makes(values):
    _made_alike(make_write(*values), ContactWrite(*values), ContactWrite)


@given(contact=TEXT, workspace=TEXT, at=st.integers())
def test_an_archived_record_made_fast_is_the_one_its_class_makes(contact, workspace, at):
    record = TimelineRecord("1", "api", "form.submitted", at, {})
    _made_alike(make_archived(contact, record, workspace), ArchivedRecord(contact, record, workspace), ArchivedRecord)
