"""Rules, versions and publishes in words: the rule list's sentences, the version diff, the publish summary."""
from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.scoring.interactions import CATALOG
from app.scoring.profiles import Band, Profile, profile_from_dict, rule_from_dict
from app.scoring.sentences import (
    MINUS,
    caps_words,
    describe_changes,
    format_value,
    profile_rule_sentences,
    rule_sentence,
    where_words,
)
from app.scoring.summary import BandMove, PublishSummary, summarize
from app.scoring.vocabulary import EVENTS, UNIT_WORDS, event_label, property_label, property_paths


def rule(**fields):
    return rule_from_dict({"id": "r1", "on": "email.opened", "points": 2, **fields})


@pytest.mark.parametrize(("fields", "sentence"), [
    pytest.param({"where": {"machine_open": False}, "limit": {"count": 5, "window": "1d"}, "expires_after": "30d"},
                 "Email opened, not by a machine: +2, at most 5 a day, expires after 30 days", id="the-issue's-example"),
    pytest.param({"on": "contact.dnd_updated", "points": -20, "where": {"all_channels": True}},
                 f"DND changed, on all channels: {MINUS}20", id="dnd-on-all-channels"),
    pytest.param({"on": "payment.succeeded", "points": 25}, "Payment succeeded: +25", id="no-conditions"),
    pytest.param({"on": "payment.succeeded", "points": 10, "where": {"amount": {"gte": 100}, "currency": "usd"}},
                 'Payment succeeded, amount at least 100, currency is "usd": +10', id="operators-in-words"),
    pytest.param({"on": "form.submitted", "points": 15, "limit": {"once_per": "form_id"}},
                 "Form submitted: +15, once per form", id="once-per-form"),
    pytest.param({"on": "email.clicked", "points": 3, "limit": {"count": 3, "window": "2w"}},
                 "Email link clicked: +3, at most 3 times per 2 weeks", id="window-of-several-units"),
    pytest.param({"limit": {"count": 1, "window": "1h"}}, "Email opened: +2, at most once an hour", id="once-a-window"),
    pytest.param({"limit": {"count": 2}}, "Email opened: +2, at most 2 times in all", id="count-without-window"),
    pytest.param({"on": "custom.webinar_joined", "points": 0, "where": {"utm.source": {"exists": True}}},
                 'Custom event "webinar_joined", utm.source exists: 0', id="custom-event-and-unknown-property"),
    pytest.param({"on": "email.clicked", "where": {"url": {"in": ["https://a.example", "https://b.example"]}}},
                 'Email link clicked, link is one of "https://a.example", "https://b.example": +2', id="one-of"),
    pytest.param({"where": {"machine_open": {"ne": True}}}, "Email opened, not by a machine: +2", id="flag-is-not-true"),
    pytest.param({"where": {"machine_open": {"ne": False}}}, "Email opened, by a machine: +2", id="flag-is-not-false"),
    pytest.param({"where": {"machine_open": {"eq": True}}}, "Email opened, by a machine: +2", id="flag-is-true"),
    pytest.param({"where": {"subject": {"exists": False}}}, "Email opened, subject does not exist: +2",
                 id="property-missing"),
    pytest.param({"limit": {"count": 1, "window": "2w"}}, "Email opened: +2, at most once per 2 weeks",
                 id="once-per-several-units"),
    pytest.param({"limit": {"count": 1}}, "Email opened: +2, at most once in all", id="once-in-all"),
    pytest.param({"limit": {"count": 2, "window": "1d"}}, "Email opened: +2, at most 2 a day", id="twice-a-day"),
    pytest.param({"decay": {"percent": 50, "every": "30d"}}, "Email opened: +2, loses 50% every 30 days", id="decay"),
    pytest.param({"group": "email"}, "Email opened: +2, in group email", id="in-a-group"),
])
def test_a_rule_reads_as_one_sentence(fields, sentence):
    assert rule_sentence(rule(**fields)) == sentence


# --- the whole class of rules -----------------------------------------------------------------------
durations = st.builds(lambda n, u: f"{n}{u}", st.integers(1, 400), st.sampled_from(sorted(UNIT_WORDS)))
scalars = st.one_of(st.booleans(), st.integers(-10**6, 10**6), st.text(min_size=1, max_size=12))
conditions = st.one_of(
    scalars,
    st.dictionaries(st.sampled_from(["eq", "ne", "gt", "gte", "lt", "lte"]), scalars, min_size=1, max_size=2),
    st.builds(lambda v: {"in": v}, st.lists(scalars, max_size=3)),
    st.builds(lambda v: {"exists": v}, st.booleans()),
)
types = st.one_of(st.sampled_from(CATALOG), st.from_regex(r"custom\.[a-z_]{1,12}", fullmatch=True))


@st.composite
def rules(draw):
    on = draw(types)
    known = [p.name for p in EVENTS[on].properties] if on in EVENTS else []
    paths = st.sampled_from(known) | st.from_regex(r"[a-z_]{1,10}", fullmatch=True) if known else \
        st.from_regex(r"[a-z_]{1,10}", fullmatch=True)
    doc = {"id": "rid-7f3a9c", "on": on, "points": draw(st.integers(-1_000_000, 1_000_000)),
           "where": draw(st.dictionaries(paths, conditions, max_size=3))}
    limit = {}
    if draw(st.booleans()):
        limit["count"] = draw(st.integers(1, 1000))
        if draw(st.booleans()):
            limit["window"] = draw(durations)
    if draw(st.booleans()):
        limit["once_per"] = draw(paths)
    if limit:
        doc["limit"] = limit
    if draw(st.booleans()):
        doc["expires_after"] = draw(durations)
    return rule_from_dict(doc)


@given(rules())
def test_every_rule_sentence_names_event_points_conditions_limits_and_expiry(r):
    sentence = rule_sentence(r)
    head, _, tail = sentence.partition(": ")
    assert head.startswith(event_label(r.on))
    sign = "+" if r.points > 0 else MINUS if r.points < 0 else ""
    assert tail.startswith(f"{sign}{abs(r.points)}")
    for path in r.where:
        prop = EVENTS[r.on].properties if r.on in EVENTS else ()
        words = {p.name: (p.label, p.no) for p in prop}.get(path, (path, ""))
        assert any(w and w in head for w in words), (path, sentence)
    if r.limit_count is not None:
        assert "at most" in tail
        assert ("once" if r.limit_count == 1 else str(r.limit_count)) in tail
        if r.limit_window:
            assert UNIT_WORDS[r.limit_window[-1]] in tail
        else:
            assert "in all" in tail
    if r.once_per:
        assert f"once per {property_label(r.on, r.once_per)}" in tail
    if r.expires_after:
        number, unit = r.expires_after[:-1], UNIT_WORDS[r.expires_after[-1]]
        assert f"expires after {int(number)} {unit}" in tail
    else:
        assert "expires" not in tail
    assert "\n" not in sentence and r.id not in sentence  # generated ids are never shown


# --- versions in words ------------------------------------------------------------------------------
def profile(rules=(), bands=(), name="Engagement", description=""):
    return Profile(id="p", name=name, rules=tuple(rule_from_dict(r) for r in rules),
                   bands=tuple(Band(n, m) for n, m in bands), description=description)


OPEN = {"id": "a", "on": "email.opened", "points": 2}
CLICK = {"id": "b", "on": "email.clicked", "points": 10}


@pytest.mark.parametrize(("old", "new", "lines"), [
    pytest.param(profile([OPEN]), profile([OPEN]), ["No changes"], id="equal"),
    pytest.param(profile([OPEN]), profile([OPEN, CLICK]), ["Added rule: Email link clicked: +10"], id="rule-added"),
    pytest.param(profile([OPEN, CLICK]), profile([CLICK]), ["Removed rule: Email opened: +2"], id="rule-removed"),
    pytest.param(profile([OPEN]), profile([{**OPEN, "points": 3, "expires_after": "7d"}]),
                 ["Changed rule: Email opened: +2 \u2192 Email opened: +3, expires after 7 days"], id="rule-changed"),
    pytest.param(profile([OPEN, CLICK]), profile([CLICK, OPEN]), ["Rules reordered"], id="reordered"),
    pytest.param(profile(bands=[("warm", 10), ("hot", 30)]), profile(bands=[("warm", 15), ("vip", 90)]),
                 ["Removed band hot from 30", "Band warm now starts at 15 (was 10)", "Added band vip from 90"],
                 id="bands"),
    pytest.param(profile(name="A", description="x"), profile(name="B", description="y"),
                 ['Renamed from "A" to "B"', "Description changed"], id="name-and-description"),
])
def test_the_diff_of_two_versions_is_said_in_words(old, new, lines):
    assert describe_changes(old, new) == lines


# --- the publish summary ----------------------------------------------------------------------------
def test_the_summary_counts_scored_changed_and_band_moves():
    old = profile(bands=[("cold", 0), ("warm", 10)])
    new = profile(bands=[("cold", 0), ("warm", 10), ("hot", 30)])
    summary = summarize({"a": 5, "b": 12, "c": 40, "d": 3}, {"a": 5, "b": 35, "c": 40, "e": 11}, old, new)
    assert summary.scored == 4
    assert summary.changed == 3  # b changed, d lost its score, e gained one
    assert summary.moves == (BandMove("warm", "hot", 2), BandMove("cold", "no band", 1),
                             BandMove("no band", "warm", 1))
    assert summary.moves[0].words() == "warm \u2192 hot: 2"
    assert PublishSummary.from_json(summary.to_json()) == summary


@given(st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 50)),
       st.dictionaries(st.sampled_from("abcdefgh"), st.integers(0, 50)))
def test_band_moves_add_up_to_the_contacts_whose_band_differs(before, after):
    old, new = profile(bands=[("warm", 10)]), profile(bands=[("warm", 20), ("hot", 40)])
    summary = summarize(before, after, old, new)
    differ = [c for c in set(before) | set(after)
              if (old.band_for(before.get(c)) or "no band") != (new.band_for(after.get(c)) or "no band")]
    assert sum(m.count for m in summary.moves) == len(differ)
    assert summary.changed == sum(before.get(c) != after.get(c) for c in set(before) | set(after))
    assert all(m.before != m.after for m in summary.moves)


# --- the preview's histogram ------------------------------------------------------------------------
@given(st.lists(st.integers(0, 500), max_size=60),
       st.lists(st.tuples(st.sampled_from(["cold", "warm", "hot", "vip"]), st.integers(0, 400)), max_size=4,
                unique_by=(lambda b: b[0], lambda b: b[1])))
def test_histogram_buckets_line_up_with_the_bands(values, bands):
    from app.scoring.histogram import histogram

    bands = [Band(n, m) for n, m in bands]
    buckets = histogram(values, bands)
    assert sum(b["count"] for b in buckets) == len(values)
    assert buckets[0]["min"] == 0 and all(a["max"] + 1 == b["min"] for a, b in pairwise(buckets))
    starts = {b["min"] for b in buckets}
    assert all(band.min in starts for band in bands)  # a band starts a bucket: no bar straddles two bands
    owner = profile(bands=[(b.name, b.min) for b in bands])
    for bucket in buckets:
        assert owner.band_for(bucket["min"]) == owner.band_for(bucket["max"]) == bucket["band"]
    for value in values:
        assert any(b["min"] <= value <= b["max"] for b in buckets) or value > buckets[-1]["max"]


def test_a_rule_changed_without_changing_its_sentence_is_named_once():
    """``plan`` written as a bare value or as ``eq`` reads the same: the line names the rule once."""
    def version(where):
        return profile_from_dict({"id": "e", "rules": [{"id": "r", "on": "payment.succeeded", "points": 5,
                                                        "where": where}]})
    assert describe_changes(version({"plan": "pro"}), version({"plan": {"eq": "pro"}})) == [
        'Changed rule: Payment succeeded, plan is "pro": +5']


def test_a_first_publish_moves_contacts_from_no_band():
    new = Profile("eng", "Eng", bands=(Band("cold", 0), Band("hot", 50)))
    summary = summarize({}, {"a": 60, "b": 10}, None, new)
    assert (summary.scored, summary.changed) == (2, 2)
    assert [m.words() for m in summary.moves] == ["no band \u2192 cold: 1", "no band \u2192 hot: 1"]


def test_band_moves_of_equal_size_are_listed_by_band_names():
    old = Profile("eng", "Eng", bands=(Band("a", 0), Band("b", 10), Band("c", 20), Band("d", 30), Band("e", 40)))
    new = Profile("eng", "Eng", bands=(Band("z", 0),))
    before = {"p": 5, "q": 15, "r": 25, "s": 35, "t": 45}
    summary = summarize(before, dict(before), old, new)
    assert [m.words() for m in summary.moves] == ["a \u2192 z: 1", "b \u2192 z: 1", "c \u2192 z: 1", "d \u2192 z: 1",
                                                  "e \u2192 z: 1"]


def test_a_summary_stored_without_fields_reads_as_empty():
    assert PublishSummary.from_json({}) == PublishSummary(0, 0, ())


def test_the_property_names_a_rule_can_test_are_keys_and_one_level_into_objects():
    props = {"plan": "pro", "utm": {"source": "ads", "medium": "cpc", 3: "x"}, 7: 1, "": 0, "k" * 65: 1}
    assert property_paths(props) == ["plan", "utm.source", "utm.medium", "7"]
    assert property_paths(["plan"]) == []
    assert property_paths(None) == []
    assert property_paths({"k" * 64: 1}) == ["k" * 64]
    assert len(property_paths({f"p{i}": i for i in range(50)})) == 40


@pytest.mark.parametrize(("value", "words"), [
    pytest.param(True, "yes", id="true"),
    pytest.param(False, "no", id="false"),
    pytest.param(3.0, "3", id="whole-float-bare"),
    pytest.param(2.5, "2.5", id="fraction"),
    pytest.param(-7, "-7", id="integer"),
    pytest.param(["a", 1, False], '"a", 1, no', id="list"),
    pytest.param([], "nothing", id="empty-list"),
    pytest.param(None, "empty", id="none"),
    pytest.param("Café\nMenu", '"Café\\nMenu"', id="text-quoted-accents-kept-line-break-escaped"),
])
def test_a_conditions_value_is_written_as_a_reader_expects(value, words):
    assert format_value(value) == words


def test_a_groups_new_decay_is_named():
    def version(decay):
        return profile_from_dict({"id": "e", "groups": [{"id": "ads", "max_points": 5, **decay}]})

    assert describe_changes(version({"decay": {"percent": 50, "every": "30d"}}),
                            version({"decay": {"percent": 25, "every": "1w"}})) == [
        "Group ads now loses 25% every 1 week"]
    assert describe_changes(version({}), version({"decay": {"percent": 10, "every": "2d"}})) == [
        "Group ads now loses 10% every 2 days"]


def test_cap_changes_are_named_one_line_each():
    def version(groups, max_score=None):
        return profile_from_dict({"id": "e", "groups": groups, "max_score": max_score})

    old = version([{"id": "email", "max_points": 30}, {"id": "web", "max_points": 10},
                   {"id": "ads", "max_points": 5, "decay": {"percent": 50, "every": "30d"}}], 100)
    new = version([{"id": "email", "max_points": 40}, {"id": "form", "max_points": 20},
                   {"id": "ads", "max_points": 5}], 120)
    assert describe_changes(old, new) == [
        "Removed group web (at most 10)", "Group email now at most 40 (was 30)", "Added group form: at most 20",
        "Group ads now does not decay", "Maximum score 120 (was 100)"]
    assert describe_changes(version([], 100), version([])) == ["No maximum score (was 100)"]
    assert describe_changes(version([]), version([{"id": "ads", "max_points": 5,
                                                  "decay": {"percent": 50, "every": "30d"}}], 50)) == [
        "Added group ads: at most 5, loses 50% every 30 days", "Maximum score 50"]


def test_a_profiles_rules_read_with_their_groups_cap_and_inherited_decay():
    p = profile_from_dict({"id": "e", "groups": [{"id": "email", "max_points": 30,
                                                   "decay": {"percent": 25, "every": "30d"}}],
                           "rules": [{"id": "o", "on": "email.opened", "points": 2, "group": "email"},
                                     {"id": "p", "on": "payment.succeeded", "points": 25}]})
    assert profile_rule_sentences(p) == [
        "Email opened: +2, loses 25% every 30 days (the group's decay), in group email (at most 30 together)",
        "Payment succeeded: +25"]


def test_a_rule_shown_with_another_group_does_not_borrow_its_cap():
    p = profile_from_dict({"id": "e", "groups": [{"id": "email", "max_points": 30}, {"id": "web", "max_points": 5}],
                           "rules": [{"id": "o", "on": "email.opened", "points": 2, "group": "email"}]})
    assert rule_sentence(p.rules[0], p.groups[1]) == "Email opened: +2, in group email"


def test_the_caps_read_one_line_each():
    p = profile_from_dict({"id": "e", "max_score": 100, "groups": [
        {"id": "email", "max_points": 30, "decay": {"percent": 25, "every": "30d"}}, {"id": "web", "max_points": 5}]})
    assert caps_words(p) == ["Group email: at most 30 points together, loses 25% every 30 days",
                             "Group web: at most 5 points together", "The score never exceeds 100"]
    assert caps_words(profile_from_dict({"id": "e"})) == []


def test_a_where_reads_as_its_conditions_joined_by_commas():
    assert where_words("payment.succeeded", {"amount": {"gte": 100}, "currency": "usd"}) == \
        'amount at least 100, currency is "usd"'
