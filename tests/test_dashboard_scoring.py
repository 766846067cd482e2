"""The scoring pages over HTTP, every form path as a browser without scripts would post it: a profile
made from a name and a description, the rule builder (no JSON anywhere), the rule list's ⋯ actions,
save and publish, the publish summary, versions with their diff, roll back, preview and delete."""
from __future__ import annotations

import re

import pytest

from .helpers import AUTH, publish_profile, put_profile, send, settle
from .dashboard_helpers import csrf_of, post, text


RULES = [{"id": "open", "on": "email.opened", "points": 5},
         {"id": "click", "on": "email.clicked", "points": 10}]
BANDS = [{"name": "cold", "min": 0}, {"name": "warm", "min": 10}, {"name": "hot", "min": 30}]


def draft(client, profile_id: str = "engagement") -> dict:
    return client.get(f"/v1/profiles/{profile_id}", headers=AUTH).get_json()


def rule_form(**fields) -> dict:
    """The rule builder's fields for "Email opened: +2", with any changes."""
    return {"on": "email.opened", "custom_name": "", "conditions_rows": "1", "cond-0-property": "",
            "cond-0-op": "eq", "cond-0-value": "", "points": "2", "limit_count": "", "limit_every": "1",
            "limit_unit": "d", "once_per": "", "expire_after": "", "expire_unit": "d", **fields}


def clicks(client, services, *people: tuple[str, int]) -> None:
    for email, count in people:
        for n in range(count):
            send(client, {"id": f"{email}-{n}", "type": "email.clicked", "contact": {"email": email}})
    settle(services)


# --- profiles ---------------------------------------------------------------------------------------
def test_root_leads_to_the_dashboard_after_sign_in(client):
    resp = client.get("/")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/dashboard/")
    assert client.get("/dashboard/").headers["Location"].startswith("/dashboard/signin")


def test_a_profile_is_made_from_a_name_and_a_description(dash, services):
    resp = post(dash, "/dashboard/profiles/new", {"name": "Engagement score", "description": "Who reads us",
                                                  "bands_rows": "1", "bands-0-name": "hot", "bands-0-min": "20"})
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/profiles/engagement-score"
    doc = draft(dash, "engagement-score")
    assert (doc["name"], doc["description"], doc["status"]) == ("Engagement score", "Who reads us", "draft")
    assert doc["bands"] == [{"name": "hot", "min": 20}]
    again = post(dash, "/dashboard/profiles/new", {"name": "Engagement score", "bands_rows": "0"})
    assert again.headers["Location"] == "/dashboard/profiles/engagement-score-2"  # a second one gets its own id


@pytest.mark.parametrize("fields, field, message", [
    pytest.param({"name": ""}, "name", "", id="name"),
    pytest.param({"id": "no spaces"}, "id", "letters, digits", id="id"),
    pytest.param({"bands-0-min": "-1"}, "bands-0-min", "greater than or equal to 0", id="band-min"),
    pytest.param({"bands-0-min": "many"}, "bands-0-min", "Not a valid integer", id="band-min-text"),
])
def test_invalid_profile_fields_get_their_message_next_to_them(dash, services, fields, field, message):
    form = {"name": "Engagement", "id": "engagement", "bands_rows": "1", "bands-0-name": "hot", "bands-0-min": "20"}
    resp = post(dash, "/dashboard/profiles/new", {**form, **fields})
    assert resp.status_code == 400
    page = text(resp)
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert match and message in match.group(1), page
    assert "data-dirty" in page  # what was typed is shown again, and leaving it asks first
    assert services.redis.hget(services.keys.profiles(), "engagement") is None


def test_the_profiles_list_shows_names_and_status_not_ids(dash, services):
    publish_profile(dash, services, "engagement", RULES, BANDS)
    put_profile(dash, "fit-2024", RULES)
    page = text(dash.get("/dashboard/profiles"))
    assert "Engagement</a>" in page and "live v1" in page
    assert re.search(r"Fit-2024</a>.*?draft", page, re.DOTALL)
    assert ">fit-2024<" not in page and "2 rules" in page


def test_the_profile_form_saves_name_and_bands_but_keeps_the_rules(dash):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement", {"name": "Engaged", "description": "d", "bands_rows": "2",
                                                         "bands-0-name": "warm", "bands-0-min": "10",
                                                         "bands-1-name": "", "bands-1-min": ""})
    assert resp.status_code == 303
    doc = draft(dash)
    assert (doc["name"], doc["bands"], [r["id"] for r in doc["rules"]]) == ("Engaged", [{"name": "warm", "min": 10}],
                                                                           ["open", "click"])


def test_add_band_offers_another_row_without_saving(dash):
    put_profile(dash, "engagement", RULES, BANDS)
    resp = post(dash, "/dashboard/profiles/engagement", {"name": "Changed", "bands_rows": "1", "add_band": "1",
                                                         "bands-0-name": "cold", "bands-0-min": "0"})
    assert resp.status_code == 200 and 'name="bands_rows" value="3"' in text(resp)
    assert draft(dash)["name"] == "Engagement"


def test_save_and_publish_is_one_action(dash, services):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement", {"name": "Engagement", "bands_rows": "1", "publish": "1",
                                                         "bands-0-name": "warm", "bands-0-min": "10"})
    assert resp.status_code == 303 and resp.headers["Location"].startswith("/dashboard/jobs/publish-engagement-1-")
    settle(services)
    doc = draft(dash)
    assert (doc["status"], doc["version"], doc["bands"], doc["draft_changed"]) == \
        ("published", 1, [{"name": "warm", "min": 10}], False)


# --- the rule builder -------------------------------------------------------------------------------
def test_the_rule_builder_offers_grouped_events_and_shows_no_ids(dash, services):
    put_profile(dash, "engagement", RULES)
    page = text(dash.get("/dashboard/profiles/engagement/rules/new"))
    groups = re.findall(r'<optgroup label="([^"]+)">', page)
    assert groups == ["Email", "Calendar", "Forms", "Payments", "Contact", "Custom"]
    for label in ("Email opened", "Email reported as spam", "Appointment missed (no-show)", "Form submitted",
                  "Payment refunded", "DND changed", "Another custom event…"):
        assert f">{label}</option>" in page
    assert [o for o in re.findall(r'<option value="([^"]+)">([^<]+)</option>', page) if o[0] == "gte"] == \
        [("gte", "at least")]
    assert '<option value="machine_open">by a machine</option>' in page
    assert "Rule id" not in page and "JSON" not in page and "<textarea" not in page


def test_properties_and_custom_events_seen_in_stored_interactions_are_offered(dash, services):
    put_profile(dash, "engagement", RULES)
    send(dash, {"id": "w1", "type": "custom.webinar_joined", "contact": {"email": "ann@example.com"},
                "properties": {"webinar": "w-42", "utm": {"source": "ads"}}},
         {"id": "o1", "type": "email.opened", "contact": {"email": "ann@example.com"},
          "properties": {"campaign": "spring"}})
    settle(services)
    page = text(dash.get("/dashboard/profiles/engagement/rules/new"))
    assert '<option value="custom.webinar_joined">Custom event &#34;webinar_joined&#34;</option>' in page
    custom = re.search(r'<datalist id="props-custom.webinar_joined">(.*?)</datalist>', page).group(1)
    assert '<option value="webinar">' in custom and '<option value="utm.source">' in custom
    opened = re.search(r'<datalist id="props-email.opened">(.*?)</datalist>', page).group(1)
    assert '<option value="campaign">' in opened and '<option value="message_id">message</option>' in opened


def test_a_rule_is_built_from_fields_and_saved_with_a_generated_id(dash):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(**{
        "conditions_rows": "3", "cond-0-property": "machine_open", "cond-0-op": "eq", "cond-0-value": "no",
        "cond-1-property": "campaign", "cond-1-op": "eq", "cond-1-value": '"42"',
        "cond-2-property": "category", "cond-2-op": "exists", "points": "2", "limit_count": "5",
        "limit_every": "1", "limit_unit": "d", "once_per": "message_id", "expire_after": "30", "expire_unit": "d"}))
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/profiles/engagement"
    rule = draft(dash)["rules"][-1]
    assert re.fullmatch(r"r-[0-9a-f]{8}", rule.pop("id"))
    assert rule == {"on": "email.opened", "points": 2,
                    "where": {"machine_open": False, "campaign": "42", "category": {"exists": True}},
                    "limit": {"count": 5, "window": "1d", "once_per": "message_id"}, "expires_after": "30d"}
    page = text(dash.get("/dashboard/profiles/engagement"))
    assert ('Email opened, not by a machine, campaign is &#34;42&#34;, category exists: +2, at most 5 a day, '
            'once per message, expires after 30 days') in page


@pytest.mark.parametrize("fields, rule", [
    pytest.param({"on": "payment.succeeded", "points": "25"}, {"on": "payment.succeeded", "points": 25, "where": {}},
                 id="payment-succeeded"),
    pytest.param({"on": "contact.dnd_updated", "points": "\u221220", "cond-0-property": "all_channels",
                  "cond-0-value": "yes"},
                 {"on": "contact.dnd_updated", "points": -20, "where": {"all_channels": True}}, id="dnd-all-channels"),
    pytest.param({"on": "payment.succeeded", "points": "5", "conditions_rows": "2", "cond-0-property": "amount",
                  "cond-0-op": "gte", "cond-0-value": "100", "cond-1-property": "amount", "cond-1-op": "lt",
                  "cond-1-value": "1000.5"},
                 {"on": "payment.succeeded", "points": 5, "where": {"amount": {"gte": 100, "lt": 1000.5}}},
                 id="two-operators-on-one-property"),
    pytest.param({"on": "custom", "custom_name": "webinar_joined", "points": "7", "cond-0-property": "topic",
                  "cond-0-op": "in", "cond-0-value": "ai, data"},
                 {"on": "custom.webinar_joined", "points": 7, "where": {"topic": {"in": ["ai", "data"]}}},
                 id="custom-event-typed"),
    pytest.param({"limit_count": "3", "limit_unit": ""}, {"on": "email.opened", "points": 2, "where": {},
                                                          "limit": {"count": 3}}, id="limit-in-all"),
    pytest.param({"cond-0-property": "url", "cond-0-op": "not_exists"},
                 {"on": "email.opened", "points": 2, "where": {"url": {"exists": False}}}, id="does-not-exist"),
])
def test_each_kind_of_rule_is_built_without_json(dash, fields, rule):
    put_profile(dash, "engagement", [])
    assert post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(**fields)).status_code == 303
    saved = draft(dash)["rules"][0]
    saved.pop("id")
    assert saved == rule


@pytest.mark.parametrize("fields, field, message", [
    pytest.param({"points": "lots"}, "points", "a whole number of points", id="points"),
    pytest.param({"cond-0-property": "amount", "cond-0-op": "gt", "cond-0-value": "big"}, "cond-0-value", "a number",
                 id="number-operator"),
    pytest.param({"cond-0-property": "machine_open", "cond-0-value": "maybe"}, "cond-0-value", "yes or no",
                 id="flag"),
    pytest.param({"cond-0-value": "x"}, "cond-0-property", "pick or type a property", id="property-missing"),
    pytest.param({"limit_count": "0"}, "limit_count", "1 or more", id="limit-count"),
    pytest.param({"limit_count": "2", "limit_every": "x"}, "limit_every", "1 or more", id="limit-window"),
    pytest.param({"expire_after": "-3"}, "expire_after", "1 or more", id="expiry"),
    pytest.param({"on": "custom", "custom_name": ""}, "custom_name", "name the custom event", id="custom-empty"),
    pytest.param({"on": "custom", "custom_name": "bad name!"}, "custom_name", "unknown interaction type",
                 id="custom-invalid"),
])
def test_rule_mistakes_are_shown_next_to_their_field_and_nothing_is_saved(dash, fields, field, message):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(**fields))
    assert resp.status_code == 400
    page = text(resp)
    match = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page)
    assert match and message in match.group(1), page
    assert f'aria-describedby="{field}-error"' in page or f"{field}-error" in page
    assert "data-dirty" in page
    assert len(draft(dash)["rules"]) == 2


def test_add_and_remove_condition_rows_without_saving(dash):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(add_condition="1", **{
        "cond-0-property": "machine_open", "cond-0-value": "no"}))
    page = text(resp)
    assert resp.status_code == 200 and 'name="conditions_rows" value="2"' in page
    assert 'id="cond-0-property" name="cond-0-property" value="machine_open"' in page
    resp = post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(remove_condition="0", **{
        "conditions_rows": "2", "cond-0-property": "machine_open", "cond-1-property": "url", "cond-1-value": "x"}))
    page = text(resp)
    assert 'id="cond-0-property" name="cond-0-property" value="url"' in page and 'name="cond-1-property"' not in page
    assert len(draft(dash)["rules"]) == 2


def test_editing_a_rule_shows_its_fields_and_saves_it_in_place(dash):
    put_profile(dash, "engagement", [{"id": "open", "on": "email.opened", "points": 5, "where": {"machine_open": False},
                                      "limit": {"count": 5, "window": "2w"}, "expires_after": "30d"}, RULES[1]])
    page = text(dash.get("/dashboard/profiles/engagement/rules/open"))
    for fragment in ('<option value="email.opened" selected>', 'value="machine_open"',
                     'id="cond-0-value" name="cond-0-value" value="no"', 'id="limit_count" name="limit_count" value="5"',
                     'id="limit_every" name="limit_every" value="2"', '<option value="w" selected>week</option>',
                     'id="expire_after" name="expire_after" value="30"'):
        assert fragment in page, fragment
    post(dash, "/dashboard/profiles/engagement/rules/open", rule_form(points="4"))
    assert [(r["id"], r["points"]) for r in draft(dash)["rules"]] == [("open", 4), ("click", 10)]


def test_save_rule_and_publish_in_one_action(dash, services):
    put_profile(dash, "engagement", RULES)
    resp = post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(on="form.submitted", publish="1"))
    assert resp.headers["Location"].startswith("/dashboard/jobs/")
    settle(services)
    assert draft(dash)["version"] == 1 and [r["on"] for r in draft(dash)["rules"]][-1] == "form.submitted"


# --- the rule list and its ⋯ menu ---------------------------------------------------------------------
def ids(client) -> list[str]:
    return [r["id"] for r in draft(client)["rules"]]


def test_the_rule_list_reads_as_sentences_with_a_menu_per_rule(dash):
    put_profile(dash, "engagement", RULES)
    page = text(dash.get("/dashboard/profiles/engagement"))
    sentences = re.findall(r'<a class="sentence" href="[^"]+">([^<]+)</a>', page)
    assert sentences == ["Email opened: +5", "Email link clicked: +10"]
    assert page.count('<details class="menu">') == 2
    assert ">Move up<" in page and ">Move down<" in page and ">Duplicate<" in page and ">Delete<" in page


def test_duplicate_move_and_delete_change_the_draft(dash):
    put_profile(dash, "engagement", RULES)
    assert post(dash, "/dashboard/profiles/engagement/rules/open/duplicate").status_code == 303
    first, copy, third = ids(dash)
    assert (first, third) == ("open", "click") and copy.startswith("r-")
    assert draft(dash)["rules"][1]["on"] == "email.opened"
    post(dash, "/dashboard/profiles/engagement/rules/click/up")
    assert ids(dash) == ["open", "click", copy]
    post(dash, "/dashboard/profiles/engagement/rules/open/down")
    assert ids(dash) == ["click", "open", copy]
    post(dash, f"/dashboard/profiles/engagement/rules/{copy}/delete")
    assert ids(dash) == ["click", "open"]
    assert draft(dash)["draft_changed"] is True


def test_a_rule_action_on_a_missing_rule_or_an_unknown_action_is_a_404(dash):
    put_profile(dash, "engagement", RULES)
    assert post(dash, "/dashboard/profiles/engagement/rules/gone/delete").status_code == 404
    assert post(dash, "/dashboard/profiles/engagement/rules/open/explode").status_code == 404


# --- preview, publish summary, versions, roll back ----------------------------------------------------
def test_preview_buckets_line_up_with_the_bands_and_nothing_is_saved(dash, services):
    publish_profile(dash, services, "engagement", RULES, BANDS)
    clicks(dash, services, ("ann@example.com", 4), ("bob@example.com", 1), ("cy@example.com", 2))
    resp = post(dash, "/dashboard/profiles/engagement/preview", {
        "name": "Engagement", "bands_rows": "2", "bands-0-name": "warm", "bands-0-min": "15",
        "bands-1-name": "hot", "bands-1-min": "35"})
    page = text(resp)
    assert resp.status_code == 200 and "data-dirty" in page
    labels = re.findall(r'class="tick">([^<]+)</text>', page)
    assert labels == ["0–3", "4–7", "8–11", "12–14", "15–18", "19–22", "23–26", "27–30", "31–34", "35+"]
    assert re.findall(r'class="band-name">([^<]+)</text>', page) == ["warm", "hot"]
    assert "<strong>hot</strong> 1" in page and "<strong>warm</strong> 1" in page  # ann 40, cy 20, bob 10
    assert draft(dash)["bands"] == BANDS


def test_the_publish_page_shows_the_summary_with_band_moves(dash, services):
    publish_profile(dash, services, "engagement", RULES, BANDS)
    clicks(dash, services, ("ann@example.com", 1), ("bob@example.com", 1), ("cy@example.com", 3))
    put_profile(dash, "engagement", [{**RULES[1], "points": 30}], BANDS)
    location = post(dash, "/dashboard/profiles/engagement/publish").headers["Location"]
    assert 'data-job-url="' in text(dash.get(location))
    settle(services)
    page = text(dash.get(location))
    assert "Version 2 is live" in page and 'data-job-url' not in page
    assert re.search(r'data-summary="scored">3<', page) and re.search(r'data-summary="changed">3<', page)
    assert "<li>warm \u2192 hot: 2</li>" in page  # ann and bob 10 -> 30; cy 30 -> 90 stays hot


def two_versions(client, services) -> None:
    publish_profile(client, services, "engagement", RULES[:1], BANDS)
    send(client, *[{"id": f"o-{n}", "type": "email.opened", "contact": {"email": f"p{n}@example.com"}}
                   for n in range(3)])
    settle(services)
    put_profile(client, "engagement", [{**RULES[0], "points": 12}], BANDS)
    post(client, "/dashboard/profiles/engagement/publish")
    settle(services)


def test_versions_say_who_when_what_changed_and_what_it_did(dash, services):
    two_versions(dash, services)
    page = text(dash.get("/dashboard/profiles/engagement/versions"))
    assert page.count('class="card version"') == 2
    assert "Published by <strong>dashboard</strong>" in page and re.search(r"Published by <strong>api:[0-9a-f]{8}", page)
    assert "Changed rule: Email opened: +5 \u2192 Email opened: +12" in page
    assert "3 contacts scored, 3 changed score; cold \u2192 warm: 3." in page
    assert ">Roll back to v1<" in page and ">Roll back to v2<" not in page  # v2 is live


def test_two_versions_are_compared_in_words(dash, services):
    two_versions(dash, services)
    page = text(dash.get("/dashboard/profiles/engagement/versions?a=2&b=1"))
    assert "From v2 to v1" in page and "Changed rule: Email opened: +12 \u2192 Email opened: +5" in page


def test_roll_back_publishes_an_earlier_version_and_shows_its_summary(dash, services):
    two_versions(dash, services)
    resp = post(dash, "/dashboard/profiles/engagement/rollback", {"version": "1"})
    location = resp.headers["Location"]
    assert location.startswith("/dashboard/jobs/publish-engagement-3-")
    settle(services)
    page = text(dash.get(location))
    assert "Rolling back Engagement to v1 (as v3)" in page and "Version 3 is live" in page
    assert "<li>warm \u2192 cold: 3</li>" in page
    doc = draft(dash)
    assert (doc["version"], doc["rules"][0]["points"], doc["draft_changed"]) == (3, 5, False)
    versions = text(dash.get("/dashboard/profiles/engagement/versions"))
    assert "roll back to v1</span>" in versions


def test_rolling_back_to_the_live_rules_says_why_not(dash, services):
    two_versions(dash, services)
    resp = post(dash, "/dashboard/profiles/engagement/rollback", {"version": "2"}, follow_redirects=True)
    assert "nothing to roll back" in text(resp)
    assert draft(dash)["version"] == 2


# --- delete -------------------------------------------------------------------------------------------
def test_deleting_says_what_is_lost_then_deletes(dash, services):
    two_versions(dash, services)
    dash.post("/v1/smart-lists", headers=AUTH, json={"name": "Warm leads", "profile": "engagement", "op": "gte",
                                                     "value": 10})
    page = text(dash.get("/dashboard/profiles/engagement/delete"))
    for fragment in ("Delete Engagement?", "its 1 rule and its bands", "its 2 published versions",
                     "the scores of 3 contacts", "Warm leads"):
        assert fragment in page, fragment
    assert services.redis.hget(services.keys.profiles(), "engagement") is not None  # asking deletes nothing
    resp = post(dash, "/dashboard/profiles/engagement/delete")
    assert resp.status_code == 303 and resp.headers["Location"] == "/dashboard/profiles"
    settle(services)
    assert dash.get("/v1/profiles/engagement", headers=AUTH).status_code == 404
    assert "Engagement is deleted" in text(dash.get("/dashboard/profiles"))


def test_every_scoring_form_needs_the_csrf_token(dash):
    put_profile(dash, "engagement", RULES)
    for url in ("/dashboard/profiles/engagement/rules/new", "/dashboard/profiles/engagement/rules/open/delete",
                "/dashboard/profiles/engagement/rollback", "/dashboard/profiles/engagement/delete"):
        assert dash.post(url, data={"csrf_token": "forged"}).status_code == 400, url
    assert csrf_of(dash)
    assert ids(dash) == ["open", "click"]


def test_a_preview_teaches_the_rule_builder_what_stored_interactions_carry(dash, services):
    put_profile(dash, "engagement", RULES)
    send(dash, {"id": "f1", "type": "form.submitted", "contact": {"email": "ann@example.com"},
                "properties": {"form_id": "demo", "plan": "pro"}})
    settle(services)
    services.redis.delete(services.keys.interaction_vocabulary())  # as if stored before the drain learnt it
    assert "plan" not in text(dash.get("/dashboard/profiles/engagement/rules/new"))
    post(dash, "/dashboard/profiles/engagement/preview", {"name": "Engagement", "bands_rows": "0"})
    page = text(dash.get("/dashboard/profiles/engagement/rules/new"))
    assert '<option value="plan">' in re.search(r'<datalist id="props-form.submitted">(.*?)</datalist>', page).group(1)


def test_roll_back_over_unpublished_draft_changes_lists_them_and_asks_first(dash, services):
    two_versions(dash, services)
    post(dash, "/dashboard/profiles/engagement/rules/new", rule_form(on="form.submitted", points="15"))
    page = text(post(dash, "/dashboard/profiles/engagement/rollback", {"version": "1"}))
    assert "The draft has changes that were never published" in page
    assert "<li>Added rule: Form submitted: +15</li>" in page
    assert draft(dash)["version"] == 2 and len(draft(dash)["rules"]) == 2  # nothing happened yet
    resp = post(dash, "/dashboard/profiles/engagement/rollback", {"version": "1", "confirmed": "1"})
    assert resp.headers["Location"].startswith("/dashboard/jobs/publish-engagement-3-")
    settle(services)
    assert [r["points"] for r in draft(dash)["rules"]] == [5]
