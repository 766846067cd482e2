"""The domain's small parts, pure: timestamps, types, e-mail identity, durations, score operators, where.

One behaviour per test; expected values written out.
"""
from __future__ import annotations

import time
from dataclasses import FrozenInstanceError, dataclass, field, fields
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, strategies as st

from app.scoring.conditions import score_matches, validate_where
from app.scoring.durations import parse_duration_ms
from app.scoring.interactions import Interaction, format_timestamp, is_known_type, normalize_email, parse_timestamp_ms
from app.clock import now_ms
from app.scoring.vocabulary import split_duration

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


def aware_text(ms: int) -> str:
    """``format_timestamp`` as it was written first (an aware datetime, an f-string with format specs): the
    reference its faster form must match."""
    epoch = datetime(1970, 1, 1, tzinfo=timezone.utc)
    first = (datetime(1, 1, 1, tzinfo=timezone.utc) - epoch) // timedelta(milliseconds=1)
    last = (datetime(9999, 12, 31, 23, 59, 59, 999000, tzinfo=timezone.utc) - epoch) // timedelta(milliseconds=1)
    moment = epoch + timedelta(milliseconds=min(max(int(ms), first), last))
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


@given(st.one_of(st.integers(min_value=-62_135_596_800_000 - 10**6, max_value=253_402_300_799_999 + 10**6),
                 st.integers(), st.sampled_from([0, -1, -999, -1000, -1001, 999, 1000, -62_135_596_800_000,
                                                 253_402_300_799_999])))
def test_timestamps_are_written_as_the_aware_form_wrote_them(ms):
    assert format_timestamp(ms) == aware_text(ms)


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


def test_a_duration_may_be_ten_years_and_no_more():
    assert parse_duration_ms("3650d") == 3650 * 86_400_000
    with pytest.raises(ValueError) as caught:
        parse_duration_ms("3651d")
    assert str(caught.value) == "a duration is at most 3650d (ten years)"


def test_a_duration_stored_before_the_maximum_still_reads():
    assert parse_duration_ms("3651d", bounded=False) == 3651 * 86_400_000


@pytest.mark.parametrize("value,message", [
    pytest.param(1_700_000_000, "must be an RFC 3339 date-time string", id="a-number"),
    pytest.param("2023-11-14T22:13:20", "needs a time zone offset (e.g. 'Z' or '+02:00')", id="no-offset"),
    pytest.param("1969-12-31T23:59:59.999Z",
                 "must be between 1970-01-01T00:00:00Z and 9899-12-31T23:59:59.999Z", id="before-1970"),
    pytest.param("9999-12-31T23:59:59-23:59",
                 "must be between 1970-01-01T00:00:00Z and 9899-12-31T23:59:59.999Z", id="offset-past-year-9999"),
])
def test_bad_timestamps_say_why(value, message):
    with pytest.raises(ValueError) as caught:
        parse_timestamp_ms(value)
    assert str(caught.value) == message


def test_now_is_the_wall_clock_in_milliseconds():
    assert abs(now_ms() - time.time() * 1000) < 60_000


@pytest.mark.parametrize("text,parts", [
    pytest.param("30d", ("30", "d"), id="number-and-unit"),
    pytest.param(" 2 w ", ("2", "w"), id="spaces"),
    pytest.param(None, ("", ""), id="none"),
    pytest.param("soon", ("soon", ""), id="not-a-duration"),
    pytest.param("12x", ("12x", ""), id="unknown-unit"),
    pytest.param("3xd", ("3xd", ""), id="not-a-number"),
])
def test_a_duration_splits_into_the_forms_two_fields(text, parts):
    assert split_duration(text) == parts


def test_a_timestamp_finer_than_a_millisecond_is_cut_to_its_millisecond():
    assert parse_timestamp_ms("2023-11-14T22:13:20.0079Z") == NOW + 7
    assert isinstance(parse_timestamp_ms("2023-11-14T22:13:20.0079Z"), int)


@dataclass(frozen=True, slots=True)
class GeneratedInteraction:
    """``Interaction`` with the __init__ dataclasses generates: the reference its hand-written one must match."""

    id: str
    source: str
    type: str
    occurred_at: int
    properties: dict = field(default_factory=dict)
    email: str | None = None
    external_id: str | None = None
    attributes: dict | None = None


OPTIONAL = ("properties", "email", "external_id", "attributes")


@given(values=st.tuples(st.text(max_size=5), st.text(max_size=5), st.text(max_size=5), st.integers()),
       given_optional=st.dictionaries(st.sampled_from(OPTIONAL), st.none() | st.text(max_size=3)
                                      | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)),
       by_name=st.booleans())
def test_an_interaction_is_made_as_the_generated_dataclass_makes_it(values, given_optional, by_name):
    names = ("id", "source", "type", "occurred_at")
    made, reference = ((cls(**dict(zip(names, values)), **given_optional) if by_name else cls(*values, **given_optional))
                       for cls in (Interaction, GeneratedInteraction))
    assert [getattr(made, f.name) for f in fields(Interaction)] == [getattr(reference, f.name) for f in
                                                                     fields(GeneratedInteraction)]
    assert [f.name for f in fields(Interaction)] == [f.name for f in fields(GeneratedInteraction)]
    if "properties" not in given_optional:  # a new empty dict each
        assert made.properties == {} and made.properties is not Interaction(*values).properties
    with pytest.raises(FrozenInstanceError):
        made.email = "x"  # type: ignore[misc]
