"""The scoring models in the console, by pointing and clicking: a rule's decay ("points shrink by 50 %
every 30 days", never together with an expiry) and group, a profile's groups ("at most 30 points",
optional decay; renamed with their rules, refused while rules use them) and maximum score — parsed
from the form fields, read back into them, said in the rule sentences, and saved as the API would."""
from __future__ import annotations

import re

import pytest

from app.dashboard.forms import form_from_draft, parse_profile_form
from app.dashboard.rule_form import form_from_rule, parse_rule_form
from app.scoring.profiles import Group, profile_from_dict, rule_from_dict
from app.scoring.sentences import MINUS, caps_words, profile_rule_sentences, rule_sentence

from .helpers import AUTH, put_profile
from .dashboard_helpers import post, text


EMAIL = {"id": "email", "max_points": 30}
SHRINKING = {"id": "sales", "max_points": 60, "decay": {"percent": 25, "every": "30d"}}


def fields(**changes) -> dict:
    """The rule builder's fields for "Email opened: +2", as a browser posts them, with changes."""
    return {"on": "email.opened", "custom_name": "", "conditions_rows": "1", "cond-0-property": "",
            "cond-0-op": "eq", "cond-0-value": "", "points": "2", "limit_count": "", "limit_every": "1",
            "limit_unit": "d", "once_per": "", "expire_after": "", "expire_unit": "d", "decay_percent": "",
            "decay_every": "30", "decay_unit": "d", "group": "", **changes}


def profile_fields(**changes) -> dict:
    return {"name": "Eng", "description": "", "bands_rows": "0", "max_score": "", "groups_rows": "0", **changes}


# --- the rule builder's fields, pure ----------------------------------------------------------------
@pytest.mark.parametrize(("changes", "rule"), [
    pytest.param({"decay_percent": "50", "decay_every": "30", "decay_unit": "d"},
                 {"decay": {"percent": 50, "every": "30d"}}, id="decay-in-days"),
    pytest.param({"decay_percent": "100", "decay_every": "2", "decay_unit": "w"},
                 {"decay": {"percent": 100, "every": "2w"}}, id="decay-in-weeks"),
    pytest.param({"group": "email"}, {"group": "email"}, id="group"),
    pytest.param({"group": "sales", "decay_percent": "10", "decay_every": "7"},
                 {"group": "sales", "decay": {"percent": 10, "every": "7d"}}, id="own-decay-in-a-shrinking-group"),
    pytest.param({}, {}, id="neither"),
])
def test_decay_and_group_fields_make_the_rule(changes, rule):
    form = parse_rule_form(fields(**changes), "r1", [EMAIL, SHRINKING])
    assert form.errors == {}
    assert form.rule == {"id": "r1", "on": "email.opened", "where": {}, "points": 2, **rule}


@pytest.mark.parametrize(("changes", "field", "message"), [
    pytest.param({"expire_after": "30", "decay_percent": "50"}, "decay_percent",
                 "either expire or shrink over time, not both", id="expiry-and-decay"),
    pytest.param({"decay_percent": "0"}, "decay_percent", "from 1 to 100", id="percent-zero"),
    pytest.param({"decay_percent": "101"}, "decay_percent", "from 1 to 100", id="percent-over"),
    pytest.param({"decay_percent": "half"}, "decay_percent", "from 1 to 100", id="percent-text"),
    pytest.param({"decay_percent": "50", "decay_every": "0"}, "decay_every", "1 or more", id="period-zero"),
    pytest.param({"decay_percent": "50", "decay_unit": "h"}, "decay_every", "days or weeks", id="period-hours"),
    pytest.param({"group": "gone"}, "group", "not in the profile", id="unknown-group"),
    pytest.param({"group": "sales", "expire_after": "30"}, "expire_after",
                 "points of group sales shrink by 25% every 30 days, so they cannot also expire",
                 id="expiry-in-a-shrinking-group"),
])
def test_impossible_decay_and_group_fields_are_refused_in_words(changes, field, message):
    form = parse_rule_form(fields(**changes), "r1", [EMAIL, SHRINKING])
    assert form.rule is None
    assert message in form.errors[field]


def test_a_stored_rule_reads_back_into_the_same_fields():
    stored = {"id": "r1", "on": "email.opened", "points": 2, "where": {}, "decay": {"percent": 50, "every": "2w"},
              "group": "email"}
    form = form_from_rule(stored)
    assert (form.decay_percent, form.decay_every, form.decay_unit, form.group) == ("50", "2", "w", "email")
    again = parse_rule_form(fields(decay_percent=form.decay_percent, decay_every=form.decay_every,
                                   decay_unit=form.decay_unit, group=form.group), "r1", [EMAIL])
    assert again.rule == stored


# --- the profile's caps, pure -----------------------------------------------------------------------
def test_groups_and_max_score_fields_make_the_draft():
    form = parse_profile_form(profile_fields(**{
        "max_score": "100", "groups_rows": "3",
        "groups-0-id": "email", "groups-0-max": "30", "groups-0-decay_percent": "", "groups-0-decay_every": "30",
        "groups-0-decay_unit": "d", "groups-0-was": "",
        "groups-1-id": "sales", "groups-1-max": "60", "groups-1-decay_percent": "25", "groups-1-decay_every": "4",
        "groups-1-decay_unit": "w", "groups-1-was": "",
        # a row left blank (the defaults of its period only) is ignored
        "groups-2-id": "", "groups-2-max": "", "groups-2-decay_percent": "", "groups-2-decay_every": "30",
        "groups-2-decay_unit": "d", "groups-2-was": ""}))
    assert form.errors == {}
    assert form.draft["max_score"] == 100
    assert form.draft["groups"] == [{"id": "email", "max_points": 30},
                                    {"id": "sales", "max_points": 60, "decay": {"percent": 25, "every": "4w"}}]


def test_an_empty_max_score_removes_it_and_the_draft_reads_back_into_the_fields():
    draft = {"name": "Eng", "rules": [], "bands": [], "groups": [SHRINKING], "max_score": 100}
    form = form_from_draft(draft)
    assert form.max_score == "100"
    assert form.groups == [{"id": "sales", "max": "60", "decay_percent": "25", "decay_every": "30",
                            "decay_unit": "d", "was": "sales"}]
    cleared = parse_profile_form(profile_fields(max_score=""), kept=draft)
    assert "max_score" not in cleared.draft and "groups" not in cleared.draft


def test_renaming_a_group_takes_its_rules_along():
    rules = [{"id": "r1", "on": "email.opened", "points": 2, "group": "email"}]
    form = parse_profile_form(profile_fields(**{
        "groups_rows": "1", "groups-0-id": "mail", "groups-0-max": "30", "groups-0-decay_percent": "",
        "groups-0-decay_every": "30", "groups-0-decay_unit": "d", "groups-0-was": "email"}), rules=rules)
    assert form.errors == {}
    assert form.draft["groups"] == [{"id": "mail", "max_points": 30}]
    assert form.draft["rules"][0]["group"] == "mail"
    assert rules[0]["group"] == "email"  # the caller's rules are not changed behind its back


def test_removing_a_group_that_rules_use_is_refused_with_their_number():
    rules = [{"id": f"r{n}", "on": "email.opened", "points": 2, "group": "email"} for n in range(2)]
    form = parse_profile_form(profile_fields(**{
        "groups_rows": "1", "groups-0-id": "email", "groups-0-max": "30", "groups-0-remove": "1",
        "groups-0-was": "email"}), rules=rules)
    assert form.draft is None
    assert form.errors["groups"].startswith("group email still has 2 rules")


@pytest.mark.parametrize(("changes", "field", "message"), [
    pytest.param({"max_score": "0"}, "max_score", "greater than or equal to 1", id="max-score-zero"),
    pytest.param({"groups-0-max": "0"}, "groups-0-max", "greater than or equal to 1", id="cap-zero"),
    pytest.param({"groups-0-id": "two words"}, "groups-0-id", "", id="id-with-a-space"),
    pytest.param({"groups-0-decay_percent": "200"}, "groups-0-decay_percent", "from 1 to 100", id="percent"),
])
def test_bad_caps_are_refused_next_to_their_field(changes, field, message):
    form = parse_profile_form(profile_fields(**{
        "groups_rows": "1", "groups-0-id": "email", "groups-0-max": "30", "groups-0-decay_percent": "",
        "groups-0-decay_every": "30", "groups-0-decay_unit": "d", "groups-0-was": "", **changes}))
    assert form.draft is None
    assert message in form.errors[field]


def test_a_post_without_the_caps_fields_keeps_them():
    kept = {"name": "Eng", "groups": [EMAIL], "max_score": 100}
    form = parse_profile_form({"name": "Eng", "bands_rows": "0"}, kept=kept)
    assert (form.draft["groups"], form.draft["max_score"]) == ([EMAIL], 100)


# --- sentences ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("rule", "group", "sentence"), [
    pytest.param({"decay": {"percent": 50, "every": "30d"}}, None, "Email opened: +2, loses 50% every 30 days",
                 id="own-decay"),
    pytest.param({"group": "email"}, Group("email", 30), "Email opened: +2, in group email (at most 30 together)",
                 id="group-with-its-cap"),
    pytest.param({"group": "email"}, None, "Email opened: +2, in group email", id="group-alone"),
    pytest.param({"points": -3, "decay": {"percent": 10, "every": "1w"}, "group": "email"}, Group("email", 5),
                 f"Email opened: {MINUS}3, loses 10% every 1 week, in group email (at most 5 together)",
                 id="negative-with-decay-and-group"),
])
def test_decay_and_group_read_in_words(rule, group, sentence):
    assert rule_sentence(rule_from_dict({"id": "r1", "on": "email.opened", "points": 2, **rule}), group) == sentence


def test_a_rule_that_takes_its_groups_decay_says_so_and_the_caps_read_one_line_each():
    profile = profile_from_dict({"id": "p", "name": "P", "max_score": 100, "groups": [SHRINKING, EMAIL], "rules": [
        {"id": "a", "on": "form.submitted", "points": 10, "group": "sales"},
        {"id": "b", "on": "form.submitted", "points": 10, "group": "sales", "decay": {"percent": 50, "every": "1d"}},
        {"id": "c", "on": "email.opened", "points": 1}]})
    assert profile_rule_sentences(profile) == [
        "Form submitted: +10, loses 25% every 30 days (the group's decay), in group sales (at most 60 together)",
        "Form submitted: +10, loses 50% every 1 day, in group sales (at most 60 together)",
        "Email opened: +1"]
    assert caps_words(profile) == ["Group sales: at most 60 points together, loses 25% every 30 days",
                                   "Group email: at most 30 points together", "The score never exceeds 100"]


# --- through the dashboard ---------------------------------------------------------------------------
def test_the_rule_builder_saves_decay_and_group_and_shows_them_again(dash):
    put_profile(dash, "eng", [], groups=[EMAIL])
    page = text(dash.get("/dashboard/profiles/eng/rules/new"))
    assert '<option value="email">email \u2014 at most 30 points</option>' in page
    resp = post(dash, "/dashboard/profiles/eng/rules/new", fields(decay_percent="50", group="email"))
    assert resp.status_code == 303
    rule = dash.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"][0]
    assert (rule["decay"], rule["group"]) == ({"percent": 50, "every": "30d"}, "email")
    profile_page = text(dash.get("/dashboard/profiles/eng"))
    assert "Email opened: +2, loses 50% every 30 days, in group email (at most 30 together)" in profile_page
    edit = text(dash.get(f"/dashboard/profiles/eng/rules/{rule['id']}"))
    assert 'id="decay_percent" name="decay_percent" value="50"' in edit
    assert '<option value="email" selected>' in edit


def test_the_builder_refuses_expiry_with_decay_and_saves_nothing(dash):
    put_profile(dash, "eng", [])
    resp = post(dash, "/dashboard/profiles/eng/rules/new", fields(expire_after="30", decay_percent="50"))
    assert resp.status_code == 400
    page = text(resp)
    assert re.search(r'id="decay_percent-error"[^>]*>[^<]*not both', page), page
    assert 'value="30"' in page and 'value="50"' in page  # what was typed is shown again
    assert dash.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"] == []


def test_clearing_the_shrink_percent_removes_a_rules_decay_and_no_group_leaves_the_group(dash):
    put_profile(dash, "eng", [{"id": "open", "on": "email.opened", "points": 2, "group": "email",
                               "decay": {"percent": 50, "every": "30d"}}], groups=[EMAIL])
    assert post(dash, "/dashboard/profiles/eng/rules/open", fields()).status_code == 303
    rule = dash.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"][0]
    assert "decay" not in rule and "group" not in rule


def test_the_profile_page_adds_a_group_and_sets_the_maximum_score(dash):
    put_profile(dash, "eng", [])
    added = post(dash, "/dashboard/profiles/eng", profile_fields(add_group="1"))
    assert added.status_code == 200 and 'name="groups-0-id"' in text(added)
    resp = post(dash, "/dashboard/profiles/eng", profile_fields(**{
        "max_score": "100", "groups_rows": "1", "groups-0-id": "email", "groups-0-max": "30",
        "groups-0-decay_percent": "25", "groups-0-decay_every": "30", "groups-0-decay_unit": "d",
        "groups-0-was": ""}))
    assert resp.status_code == 303
    body = dash.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert body["max_score"] == 100
    assert body["groups"] == [{"id": "email", "max_points": 30, "decay": {"percent": 25, "every": "30d"}}]
    page = text(dash.get("/dashboard/profiles/eng"))
    assert "Group email: at most 30 points together, loses 25% every 30 days" in page
    assert "The score never exceeds 100" in page
    assert 'id="max_score" name="max_score" value="100"' in page


def test_a_group_in_use_is_not_removed_from_the_profile_page(dash):
    put_profile(dash, "eng", [{"id": "open", "on": "email.opened", "points": 2, "group": "email"}], groups=[EMAIL])
    resp = post(dash, "/dashboard/profiles/eng", profile_fields(**{
        "groups_rows": "1", "groups-0-id": "email", "groups-0-max": "30", "groups-0-was": "email",
        "groups-0-remove": "1"}))
    assert resp.status_code == 400 and "group email still has 1 rule" in text(resp)
    assert dash.get("/v1/profiles/eng", headers=AUTH).get_json()["groups"] == [EMAIL]


# --- fit profiles: rules over the contact's attributes ------------------------------------------------
def test_a_fit_profiles_rule_builder_asks_for_attribute_conditions_and_points_only(dash):
    put_profile(dash, "fit", [{"id": "vp", "where": {"job_title": "VP"}, "points": 20}], kind="fit")
    page = text(dash.get("/dashboard/profiles/fit/rules/new"))
    for absent in ('name="on"', 'name="limit_count"', 'name="expire_after"', 'name="decay_percent"',
                   'name="group"'):
        assert absent not in page
    assert '<datalist id="props-attributes"><option value="job_title">job title</option></datalist>' in page
    empty = post(dash, "/dashboard/profiles/fit/rules/new", {"conditions_rows": "1", "cond-0-property": "",
                                                              "cond-0-op": "eq", "cond-0-value": "", "points": "5"})
    assert empty.status_code == 400 and "at least one condition on an attribute" in text(empty)
    resp = post(dash, "/dashboard/profiles/fit/rules/new", {
        "conditions_rows": "2", "cond-0-property": "company_size", "cond-0-op": "gte", "cond-0-value": "50",
        "cond-1-property": "country", "cond-1-op": "in", "cond-1-value": "US, CA", "points": "15"})
    assert resp.status_code == 303
    rules = dash.get("/v1/profiles/fit", headers=AUTH).get_json()["rules"]
    assert rules[1]["where"] == {"company_size": {"gte": 50}, "country": {"in": ["US", "CA"]}}
    assert (rules[1]["points"], "on" in rules[1]) == (15, False)
    assert 'company size at least 50, country is one of &#34;US&#34;, &#34;CA&#34;: +15' in \
        text(dash.get("/dashboard/profiles/fit"))
    edit = text(dash.get("/dashboard/profiles/fit/rules/vp"))
    assert 'id="cond-0-property" name="cond-0-property" value="job_title"' in edit
    assert post(dash, "/dashboard/profiles/fit/rules/vp", {
        "conditions_rows": "1", "cond-0-property": "job_title", "cond-0-op": "eq", "cond-0-value": "VP",
        "points": "25"}).status_code == 303
    assert dash.get("/v1/profiles/fit", headers=AUTH).get_json()["rules"][0] == {
        "id": "vp", "where": {"job_title": "VP"}, "points": 25}
