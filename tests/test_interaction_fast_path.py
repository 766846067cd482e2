"""The interaction fast path agrees with the schema: it accepts only what ``InteractionSchema``
accepts, builds the same ``Interaction``, and leaves everything else (with its error body) to it.

Items are generated field by field from valid values and from each class of hostile value, so most
items mix a few of both; a separate property pins that plainly valid items do take the fast path.
"""
from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from app.interaction_schema import (
    DND_TYPE,
    FAST_FIELDS,
    MAX_EMAIL_LENGTH,
    ContactRefSchema,
    InteractionSchema,
    LoadContext,
    Moment,
    InvalidInteraction,
    fast_interaction,
    load_interaction,
    plain_interaction,
)
from app.hooks.results import interaction
from app.scoring.interactions import CATALOG, MAX_ID_LENGTH, MAX_TIMESTAMP_MS, MIN_TIMESTAMP_MS, parse_timestamp_ms

from .hostile import forbidden_char, huge_integers, out_of_range_timestamps, scalars, too_deep, with_forbidden_char

NOW = 1_780_000_000_000
SOURCE = "crm"
MISSING = object()

json_leaves = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(
    allow_nan=False, allow_infinity=False, min_value=-1e18, max_value=1e18) | st.text(max_size=8)
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)

slugs = st.from_regex(r"[A-Za-z0-9_.-]{1,64}", fullmatch=True)
id_texts = st.text(st.characters(blacklist_categories=("Cc", "Cf", "Cs", "Zl", "Zp")), min_size=1,
                   max_size=MAX_ID_LENGTH).filter(str.strip)
identifiers = st.one_of(
    id_texts, st.integers(-(2**63), 2**63 - 1),                               # valid: text or a whole number
    st.sampled_from([5.0, -3.0]),                                              # whole floats: the schema's to read
    id_texts.flatmap(lambda t: with_forbidden_char(t)), st.just(""), st.just("   "),
    st.text(min_size=MAX_ID_LENGTH + 1, max_size=MAX_ID_LENGTH + 3).filter(str.strip),
    st.sampled_from([1.5, True, None, [], {}]))
emails = st.one_of(
    st.emails(), st.emails().map(lambda e: f"  {e.upper()} "),
    st.emails().flatmap(lambda e: with_forbidden_char(e)), st.sampled_from(["no-at-sign", "a@b@c", "", "a b@c"]),
    st.just("x" * 320 + "@example.com"), scalars)
types = st.one_of(st.sampled_from(list(CATALOG)), st.from_regex(r"custom\.[A-Za-z0-9_.:-]{1,20}", fullmatch=True),
                  st.sampled_from(["email.nope", "custom.", "custom.a b", "", "EMAIL.OPENED"]), scalars)
moments = st.datetimes(datetime(1970, 1, 2), datetime(9899, 12, 30), timezones=st.just(UTC)).map(
    lambda d: d.isoformat().replace("+00:00", "Z"))
timestamps = st.one_of(moments, out_of_range_timestamps(),
                       st.sampled_from(["2026-02-30T10:00:00Z", "2026-01-01T10:00:00", "2026-01-01", "yesterday",
                                        "2026-01-01T10:00:00Z\n", "2026-01-01T24:00:00Z"]), scalars)
channels = st.dictionaries(st.from_regex(r"[a-z_]{1,8}", fullmatch=True), st.booleans(), min_size=1, max_size=3)
properties = st.one_of(
    st.none(), st.dictionaries(st.text(max_size=6), json_values, max_size=4),
    st.builds(lambda c, rest: {**rest, "channels": c}, channels, st.dictionaries(st.text(max_size=4), json_leaves,
                                                                                   max_size=2)),
    st.builds(lambda v: {"deep": v}, too_deep()), st.builds(lambda n: {"n": n}, huge_integers),
    st.sampled_from([{"channels": {}}, {"channels": {"email": "yes"}}, {"channels": []}]), st.lists(scalars, max_size=2),
    scalars)


@st.composite
def contacts(draw, valid: bool):
    if valid:
        return draw(st.fixed_dictionaries({}, optional={"email": st.emails(), "external_id": id_texts}).filter(bool))
    if draw(st.integers(0, 4)) == 0:
        return draw(scalars | st.just({}) | st.just({"email": "a@b.c", "phone": "1"}))
    contact = {"email": draw(st.just(MISSING) | emails), "external_id": draw(st.just(MISSING) | identifiers)}
    return {k: v for k, v in contact.items() if v is not MISSING}


#: Each field: (a valid value, any value — valid or from a hostile class — or missing).
FIELDS = {
    "id": (id_texts | st.integers(0, 2**63 - 1), st.just(MISSING) | identifiers),
    "type": (st.sampled_from([t for t in CATALOG if t != DND_TYPE]), st.just(MISSING) | types | st.just(DND_TYPE)),
    "source": (st.just(MISSING) | slugs, st.sampled_from(["", "a b", "x" * 65]) | scalars),
    "contact": (contacts(valid=True), st.just(MISSING) | contacts(valid=False)),
    "occurred_at": (st.just(MISSING) | moments, timestamps),
    "properties": (st.just(MISSING) | st.none() | st.dictionaries(st.text(max_size=6), json_values, max_size=4),
                   properties),
}


@st.composite
def items(draw):
    """A valid item with one field (sometimes none, sometimes two) drawn from any value instead, and now
    and then an unknown field, or not an object at all."""
    spoiled = draw(st.sampled_from([0, 1, 1, 1, 2]).flatmap(
        lambda n: st.sets(st.sampled_from(sorted(FIELDS)), min_size=n, max_size=n)))
    item = {name: draw(FIELDS[name][name in spoiled]) for name in FIELDS}
    item = {k: v for k, v in item.items() if v is not MISSING}
    if draw(st.integers(0, 9)) == 0:
        item[draw(st.sampled_from(["extra", "contact_id", "Type"]))] = draw(scalars)
    return draw(st.just([item]) | scalars) if draw(st.integers(0, 19)) == 0 else item


#: Each field: values of every hostile class only (the item is refused whatever else it holds).
HOSTILE = {
    "id": st.one_of(id_texts.flatmap(lambda t: with_forbidden_char(t)), st.sampled_from(["", "   ", 1.5, True, None]),
                    st.text(min_size=MAX_ID_LENGTH + 1, max_size=MAX_ID_LENGTH + 3).filter(str.strip)),
    "type": st.sampled_from(["email.nope", "custom.", "custom.a b", "", "EMAIL.OPENED", None, 3]),
    "source": st.sampled_from(["", "a b", "x" * 65, None, 7, "a\n"]),
    "contact": st.one_of(st.sampled_from([{}, {"phone": "1"}, None, "a@b.c"]),
                         st.emails().flatmap(lambda e: with_forbidden_char(e)).map(lambda e: {"email": e}),
                         st.emails().map(lambda e: {"email": "x" * max(1, MAX_EMAIL_LENGTH + 1 - len(e)) + e}),
                         st.sampled_from(["no-at-sign", "a@b@c", "", "a b@c", "x" * 320 + "@example.com", None])
                         .map(lambda e: {"email": e})),
    "occurred_at": st.one_of(out_of_range_timestamps(), st.sampled_from([
        "2026-02-30T10:00:00Z", "2026-01-01T10:00:00", "2026-01-01", "yesterday", "2026-01-01T10:00:00Z\n",
        "2026-01-01T24:00:00Z", "20260101T100000Z", "2026-01-01T10:00Z", "2026-W01-1T10:00:00Z", None, 5])),
    "properties": st.one_of(st.builds(lambda v: {"deep": v}, too_deep()), st.builds(lambda n: {"n": n}, huge_integers),
                            st.sampled_from([[], "x", 5, True])),
}


def by_schema(raw):
    """What the schema alone makes of ``raw``: the Interaction, or None when it refuses it."""
    with LoadContext({"source": SOURCE, "now": NOW}):
        try:
            return InteractionSchema().load(raw)
        except (ValidationError, TypeError):
            return None


@settings(max_examples=500, deadline=None)
@given(items())
def test_the_fast_path_accepts_only_what_the_schema_accepts_and_builds_the_same_interaction(raw):
    fast = fast_interaction(raw, SOURCE, NOW)
    expected = by_schema(raw) if isinstance(raw, dict) else None
    assert fast is None or fast == expected
    if expected is not None:
        assert load_interaction(raw, source=SOURCE, now=NOW) == expected


plain = st.fixed_dictionaries({name: valid for name, (valid, _any) in FIELDS.items()}).map(
    lambda item: {k: v for k, v in item.items() if v is not MISSING})


@settings(max_examples=150, deadline=None)
@given(plain)
def test_a_plainly_valid_interaction_takes_the_fast_path(raw):
    fast = fast_interaction(raw, SOURCE, NOW)
    assert fast is not None and fast == by_schema(raw)


@settings(max_examples=300, deadline=None)
@given(plain, st.integers(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS - 1) | st.sampled_from([0, MAX_TIMESTAMP_MS - 1]))
def test_a_providers_moment_is_read_as_its_text_would_be(raw, ms):
    """A ``Moment`` (a provider's timestamp, made from its milliseconds) gives the interaction its text gives: the
    same as the schema's, and the same milliseconds."""
    moment = Moment.of(ms)
    as_moment = fast_interaction({**raw, "occurred_at": moment}, SOURCE, NOW)
    as_text = fast_interaction({**raw, "occurred_at": str(moment)}, SOURCE, NOW)
    assert as_moment is not None and as_moment == as_text == by_schema({**raw, "occurred_at": str(moment)})
    assert as_moment.occurred_at == ms == parse_timestamp_ms(str(moment))
    assert by_schema({**raw, "occurred_at": moment}) == as_moment  # the schema reads it as text


@settings(max_examples=300, deadline=None)
@given(plain, st.sampled_from(sorted(HOSTILE)).flatmap(lambda name: st.tuples(st.just(name), HOSTILE[name])))
def test_an_item_with_one_hostile_field_is_left_to_the_schema_which_refuses_it(raw, spoiled):
    name, value = spoiled
    raw = {**raw, name: value}
    assert fast_interaction(raw, SOURCE, NOW) is None and by_schema(raw) is None


@settings(max_examples=100, deadline=None)
@given(plain, st.sampled_from([{}, {"channels": {}}, {"channels": {"email": "yes"}}, {"channels": []},
                               {"channels": {"email": 1}}, None]))
def test_a_dnd_change_without_its_channels_is_left_to_the_schema_which_refuses_it(raw, props):
    raw = {**raw, "type": DND_TYPE, "properties": props}
    assert fast_interaction(raw, SOURCE, NOW) is None and by_schema(raw) is None


@settings(max_examples=50, deadline=None)
@given(plain, st.sampled_from(sorted(set(InteractionSchema._declared_fields) - FAST_FIELDS)), json_values)
def test_a_field_the_fast_path_does_not_read_goes_to_the_schema(raw, name, value):
    """``attributes`` (and any field the schema gains later) is read by the schema, never skipped."""
    assert fast_interaction({**raw, name: value}, SOURCE, NOW) is None


def test_the_fast_path_reads_fields_of_the_schema_only():
    assert FAST_FIELDS <= set(InteractionSchema._declared_fields)
    assert set(ContactRefSchema._declared_fields) == {"email", "external_id"}


@given(st.sampled_from([c for c in [chr(x) for x in range(0x20)]]) | forbidden_char)
def test_a_forbidden_character_in_an_identity_is_refused_with_the_schemas_errors(char):
    raw = {"id": "a1", "type": "email.opened", "contact": {"email": f"a{char}b@example.com"}}
    assert fast_interaction(raw, SOURCE, NOW) is None and by_schema(raw) is None


# --- a provider's parts built straight into the Interaction (``plain_interaction``) ---------------------------
part_ms = st.integers(MIN_TIMESTAMP_MS, MAX_TIMESTAMP_MS - 1) | st.sampled_from([0, MAX_TIMESTAMP_MS - 1])
plain_properties = st.dictionaries(st.text(max_size=6), json_values | st.none(), max_size=6)
#: Each part: (a valid value, any value — valid or from a hostile class).
PARTS = {
    "id": (id_texts | st.integers(0, 2**63 - 1), identifiers),
    "type": (st.sampled_from([t for t in CATALOG if t != DND_TYPE]), types | st.just(DND_TYPE)),
    "email": (st.emails() | st.emails().map(lambda e: f" {e.upper()}\t"),
              st.one_of(emails, st.just(None), st.just("  "),
                        st.emails().map(lambda e: "x" * max(0, MAX_EMAIL_LENGTH - len(e)) + e),
                        st.emails().map(lambda e: "x" * max(1, MAX_EMAIL_LENGTH + 1 - len(e)) + e))),
    "properties": (plain_properties, st.one_of(
        plain_properties,
        st.dictionaries(st.text(max_size=4), st.text(max_size=4) | st.booleans() | st.integers(-(2**63), 2**63 - 1),
                        max_size=6),
        st.builds(lambda v: {"deep": v, "n": None}, too_deep()), st.builds(lambda n: {"a": "b", "n": n}, huge_integers),
        st.builds(lambda c: {"channels": c}, channels), st.just({1: "x"}), st.just({1: None, "a": 2}))),
}


@st.composite
def parts(draw):
    """Valid parts with one (sometimes none, sometimes two) drawn from any value instead."""
    spoiled = draw(st.sampled_from([0, 1, 1, 1, 2]).flatmap(
        lambda n: st.sets(st.sampled_from(sorted(PARTS)), min_size=n, max_size=n)))
    return {name: draw(PARTS[name][name in spoiled]) for name in PARTS}


def by_dict(id_, type_, email, ms, props):
    """The interaction the generic path makes of the parts (the core-format dict, its moment's text, the load), or
    None where it refuses or skips them."""
    try:
        return load_interaction(interaction(id_, type_, email, Moment.of(ms), props), source=SOURCE, now=NOW)
    except InvalidInteraction:
        return None


@settings(max_examples=700, deadline=None)
@given(parts(), part_ms)
def test_a_providers_parts_built_directly_make_what_the_core_format_dict_makes(part, ms):
    built = plain_interaction(part["id"], part["type"], part["email"], ms, part["properties"], SOURCE)
    assert built is None or built == by_dict(part["id"], part["type"], part["email"], ms, part["properties"])


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({name: valid for name, (valid, _any) in PARTS.items()}), part_ms)
def test_plainly_valid_parts_are_built_directly(part, ms):
    built = plain_interaction(part["id"], part["type"], part["email"], ms, part["properties"], SOURCE)
    assert built is not None and built == by_dict(part["id"], part["type"], part["email"], ms, part["properties"])
    assert built.properties is not part["properties"]  # its own dict, as the dict's load copies it
