"""Interactions at the edge of the domain, pure: what is accepted, what each refusal says, what is derived.

One behaviour per test; expected values written out.
"""
from __future__ import annotations

import time

import pytest

from app.scoring.conditions import score_matches, validate_where
from app.scoring.durations import parse_duration_ms
from app.scoring.interactions import (
    InvalidInteraction,
    format_timestamp,
    is_known_type,
    normalize_email,
    parse_interaction,
    parse_timestamp_ms,
)

NOW = 1_700_000_000_000


def ok(**fields):
    raw = {"id": "i1", "type": "email.opened", "contact": {"email": "a@b.io"}, **fields}
    return parse_interaction(raw, now=NOW)


def refused(raw, source="api"):
    with pytest.raises(InvalidInteraction) as caught:
        parse_interaction(raw, source=source, now=NOW)
    return caught.value.errors


def test_a_minimal_interaction_happens_now_from_the_given_source_with_no_properties():
    interaction = ok()
    assert (interaction.id, interaction.source, interaction.type) == ("i1", "api", "email.opened")
    assert interaction.occurred_at == NOW
    assert (interaction.properties, interaction.email, interaction.external_id) == ({}, "a@b.io", None)
    assert interaction.key == "api:i1"
    assert interaction.to_record() == {"id": "i1", "src": "api", "t": "email.opened", "at": NOW, "p": {}}


def test_the_source_may_be_given_in_the_body():
    assert ok(source="crm-2").key == "crm-2:i1"


def test_a_numeric_id_is_text():
    assert ok(id=42).id == "42"


def test_occurred_at_with_an_offset_is_converted_to_utc_milliseconds():
    assert ok(occurred_at="2023-11-14T23:13:20.000+01:00").occurred_at == NOW
    assert ok(occurred_at="2023-11-14T22:13:20.000+01:00").occurred_at == NOW - 3_600_000
    assert ok(occurred_at="2023-11-14T22:13:20Z").occurred_at == NOW


def test_properties_null_means_none():
    assert ok(properties=None).properties == {}


def test_the_contact_email_is_trimmed_and_lower_cased_and_an_external_id_is_text():
    interaction = ok(contact={"email": "  Ann@Example.COM ", "external_id": 7})
    assert (interaction.email, interaction.external_id) == ("ann@example.com", "7")
    assert normalize_email(" X@Y.io ") == "x@y.io"


def test_a_contact_by_external_id_alone():
    interaction = ok(contact={"external_id": "crm-1"})
    assert (interaction.email, interaction.external_id) == (None, "crm-1")


def test_a_dnd_change_derives_all_channels():
    interaction = ok(type="contact.dnd_updated", properties={"channels": {"email": True, "sms": False}})
    assert interaction.properties == {"channels": {"email": True, "sms": False}, "all_channels": False}


@pytest.mark.parametrize("raw,field,message", [
    pytest.param([1], "_schema", "an interaction must be a JSON object", id="not-an-object"),
    pytest.param({"type": "email.opened", "contact": {"email": "a@b.io"}}, "id",
                 "required: a non-empty string (the idempotency key)", id="no-id"),
    pytest.param({"id": "  ", "type": "email.opened", "contact": {"email": "a@b.io"}}, "id",
                 "required: a non-empty string (the idempotency key)", id="blank-id"),
    pytest.param({"id": True, "type": "email.opened", "contact": {"email": "a@b.io"}}, "id",
                 "required: a non-empty string (the idempotency key)", id="boolean-id"),
    pytest.param({"id": "x" * 257, "type": "email.opened", "contact": {"email": "a@b.io"}}, "id",
                 "at most 256 characters", id="long-id"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "source": "a b"}, "source",
                 "letters, digits, '_', '.', '-' (at most 64)", id="bad-source"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "source": "s" * 65}, "source",
                 "letters, digits, '_', '.', '-' (at most 64)", id="long-source"),
    pytest.param({"id": "1", "type": "email.read", "contact": {"email": "a@b.io"}}, "type",
                 "unknown interaction type; use one of the catalog or 'custom.<name>'", id="unknown-type"),
    pytest.param({"id": "1", "type": "email.opened"}, "contact",
                 "required: an object with 'email' and/or 'external_id'", id="no-contact"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {}}, "contact",
                 "needs 'email' or 'external_id'", id="empty-contact"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io", "phone": "1"}}, "contact",
                 {"phone": "Unknown field."}, id="unknown-contact-field"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "not-an-email"}}, "contact",
                 {"email": "not a valid email address"}, id="bad-email"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@" + "b" * 320}}, "contact",
                 {"email": "not a valid email address"}, id="long-email"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": 5}}, "contact",
                 {"email": "not a valid email address"}, id="email-not-text"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"external_id": ""}}, "contact",
                 {"external_id": "must be a non-empty string"}, id="empty-external-id"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"external_id": False}}, "contact",
                 {"external_id": "must be a non-empty string"}, id="boolean-external-id"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"external_id": "x" * 257}}, "contact",
                 {"external_id": "at most 256 characters"}, id="long-external-id"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "occurred_at": "yesterday"},
                 "occurred_at", "not an RFC 3339 date-time: 'yesterday'", id="bad-time"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"},
                  "occurred_at": "2024-01-01T00:00:00"}, "occurred_at",
                 "needs a time zone offset (e.g. 'Z' or '+02:00')", id="naive-time"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "occurred_at": 5},
                 "occurred_at", "must be an RFC 3339 date-time string", id="time-not-text"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "properties": []},
                 "properties", "must be an object", id="properties-not-an-object"),
    pytest.param({"id": "1", "type": "contact.dnd_updated", "contact": {"email": "a@b.io"}}, "properties",
                 {"channels": "required: an object of channel -> true/false"}, id="dnd-without-channels"),
    pytest.param({"id": "1", "type": "contact.dnd_updated", "contact": {"email": "a@b.io"},
                  "properties": {"channels": {}}}, "properties",
                 {"channels": "required: an object of channel -> true/false"}, id="dnd-no-channel"),
    pytest.param({"id": "1", "type": "contact.dnd_updated", "contact": {"email": "a@b.io"},
                  "properties": {"channels": {"email": "yes"}}}, "properties",
                 {"channels": "required: an object of channel -> true/false"}, id="dnd-not-boolean"),
    pytest.param({"id": "1", "type": "email.opened", "contact": {"email": "a@b.io"}, "extra": 1}, "extra",
                 "Unknown field.", id="unknown-field"),
])
def test_each_refusal_names_the_field_and_the_problem(raw, field, message):
    assert refused(raw)[field] == message


def test_every_bad_field_is_named_at_once():
    assert sorted(refused({"id": "", "type": "nope", "contact": {}})) == ["contact", "id", "type"]


@pytest.mark.parametrize("type_,known", [
    ("email.opened", True), ("contact.dnd_updated", True), ("custom.page_viewed", True),
    ("custom.", False), ("custom.a b", False), ("custom." + "x" * 101, False), ("email.read", False), (7, False),
])
def test_known_types_are_the_catalog_and_custom_names(type_, known):
    assert is_known_type(type_) is known


def test_timestamps_round_trip_with_milliseconds():
    assert format_timestamp(NOW + 7) == "2023-11-14T22:13:20.007Z"
    assert parse_timestamp_ms("2023-11-14T22:13:20.007z") == NOW + 7


@pytest.mark.parametrize("text,ms", [("30s", 30_000), ("15m", 900_000), ("2h", 7_200_000), ("30d", 2_592_000_000),
                                     ("1w", 604_800_000), (" 3 d ", 259_200_000)])
def test_durations(text, ms):
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text,message", [
    ("3 days", "not a duration: '3 days' (use an integer followed by s, m, h, d or w, e.g. '30d')"),
    ("0d", "a duration must be positive"),
    (30, "not a duration: 30 (use an integer followed by s, m, h, d or w, e.g. '30d')"),
])
def test_bad_durations_say_why(text, message):
    with pytest.raises(ValueError) as caught:
        parse_duration_ms(text)
    assert str(caught.value) == message


@pytest.mark.parametrize("op,score,value,matches", [
    ("empty", None, None, True), ("empty", 0, None, False), ("not_empty", 0, None, True),
    ("not_empty", None, None, False), ("gte", None, 0, False), ("eq", 0, None, False),
    ("gte", 10, 10, True), ("gt", 10, 10, False), ("lte", 10, 10, True), ("lt", 10, 10, False),
    ("eq", 10, 10, True), ("ne", 10, 10, False),
])
def test_score_operators(op, score, value, matches):
    assert score_matches(op, score, value) is matches


@pytest.mark.parametrize("where,errors", [
    ({"plan": "pro"}, {}),
    ({"amount": {"gte": 5, "lt": 9}}, {}),
    ([], {"where": "must be an object of property conditions"}),
    ({"amount": {}}, {"amount": "an operator object needs at least one operator"}),
    ({"amount": {"about": 5}}, {"amount": "unknown operator 'about'; use one of eq, ne, gt, gte, lt, lte, in, exists"}),
    ({"plan": {"in": "pro"}}, {"plan": "'in' takes a list"}),
    ({"coupon": {"exists": "yes"}}, {"coupon": "'exists' takes true or false"}),
    ({"plan": "pro", "amount": {"about": 5}},
     {"amount": "unknown operator 'about'; use one of eq, ne, gt, gte, lt, lte, in, exists"}),
])
def test_where_validation(where, errors):
    assert validate_where(where) == errors


def test_an_interaction_without_a_time_happens_at_the_wall_clock_now():
    before = int(time.time() * 1000)
    interaction = parse_interaction({"id": "i", "type": "email.opened", "contact": {"email": "a@b.io"}})
    assert before <= interaction.occurred_at <= int(time.time() * 1000)


@pytest.mark.parametrize("contact,accepted", [
    pytest.param({"email": "a@" + "b" * 315 + ".io"}, True, id="email-of-320"),
    pytest.param({"email": "a@" + "b" * 316 + ".io"}, False, id="email-of-321"),
    pytest.param({"external_id": "x" * 256}, True, id="external-id-of-256"),
])
def test_length_limits_are_inclusive(contact, accepted):
    raw = {"id": "i" * 256, "type": "email.opened", "contact": contact}
    if accepted:
        assert parse_interaction(raw, now=NOW).id == "i" * 256
    else:
        assert "contact" in refused(raw)


def test_a_refusal_is_an_invalid_interaction_error():
    with pytest.raises(InvalidInteraction, match="^invalid interaction$"):
        parse_interaction({}, now=NOW)


def test_timestamps_are_written_in_utc_whatever_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert format_timestamp(NOW) == "2023-11-14T22:13:20.000Z"
    finally:
        monkeypatch.undo()
        time.tzset()
