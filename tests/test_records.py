"""The stored forms of the scoring domain, written out literally: a timeline record under its field, a ledger
entry as a row, and the records an interaction makes (pure: no Redis)."""
from __future__ import annotations

import pytest

from app.scoring.interactions import Interaction
from app.scoring.vocabulary import vocabulary_of
from app.scoring.records import (
    LedgerEntry,
    TimelineRecord,
    decode_ledger_entry,
    decode_record,
    encode_ledger_entry,
    encode_record,
)

OPENED = TimelineRecord("x:1", "crm", "email.opened", 1_700_000_000_000, {"machine_open": False})


def test_a_record_is_stored_under_source_colon_id_as_type_time_and_properties():
    assert OPENED.key == "crm:x:1"
    assert encode_record(OPENED) == ["email.opened", 1_700_000_000_000, {"machine_open": False}]
    assert encode_record(TimelineRecord("1", "api", "form.submitted", 5, {})) == ["form.submitted", 5]


@pytest.mark.parametrize(("key", "stored", "record"), [
    pytest.param("crm:x:1", ["email.opened", 1_700_000_000_000, {"machine_open": False}], OPENED,
                 id="an-id-with-colons-keeps-them"),
    pytest.param("api:1", ["form.submitted", 5], TimelineRecord("1", "api", "form.submitted", 5, {}),
                 id="no-properties"),
    pytest.param("api:1", {"id": "1", "src": "api", "t": "form.submitted", "at": 5, "p": {"a": 1}},
                 TimelineRecord("1", "api", "form.submitted", 5, {"a": 1}), id="written-as-an-object-by-older-releases"),
])
def test_a_stored_record_reads_back_from_its_field_and_value(key, stored, record):
    assert decode_record(key, stored) == record


def test_a_ledger_entry_is_a_row_in_field_order_without_a_trailing_empty_note():
    entry = LedgerEntry(5, "x:1", "crm", "email.opened", "open", 2, 2, 7, "matched", None)
    assert encode_ledger_entry(entry) == [5, "x:1", "crm", "email.opened", "open", 2, 2, 7, "matched"]
    noted = LedgerEntry(5, "x:1", "crm", "email.opened", "open", 2, 0, 7, "limit", "limit: 1 reached")
    assert encode_ledger_entry(noted)[-1] == "limit: 1 reached"


def test_a_stored_ledger_row_reads_as_the_apis_object_missing_fields_none():
    assert decode_ledger_entry([5, "x:1", "crm", "email.opened", "open", 2, 2, 7, "matched"]) == {
        "at": 5, "interaction_id": "x:1", "source": "crm", "type": "email.opened", "rule_id": "open",
        "points": 2, "change": 2, "score": 7, "reason": "matched", "note": None}
    assert decode_ledger_entry([5, "x:1", "crm", "email.opened", "open", 2, 0, 7, "limit", "limit: 1 reached"])[
        "note"] == "limit: 1 reached"
    older = {"at": 5, "reason": "matched"}
    assert decode_ledger_entry(older) == older


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
