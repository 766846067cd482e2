"""The domain's small parts, pure: timestamps, types, e-mail identity, durations, score operators, where.

One behaviour per test; expected values written out.
"""
from __future__ import annotations

import time

import pytest

from app.scoring.conditions import score_matches, validate_where
from app.scoring.durations import parse_duration_ms
from app.scoring.interactions import format_timestamp, is_known_type, normalize_email, parse_timestamp_ms

NOW = 1_700_000_000_000


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


def test_timestamps_are_written_in_utc_whatever_the_machines_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert format_timestamp(NOW) == "2023-11-14T22:13:20.000Z"
    finally:
        monkeypatch.undo()
        time.tzset()



def test_an_email_identity_is_trimmed_and_lower_cased():
    assert normalize_email("  Ann@Example.COM ") == "ann@example.com"
