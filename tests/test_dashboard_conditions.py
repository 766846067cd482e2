"""Conditions by pointing and clicking in the workflow builder: an interaction trigger's ``where`` as rows of
property → operator in words → value (the properties the event carries plus any seen in stored
interactions), and a step's ``when`` as "only if the [profile] score [is …] [value], tagged …, not tagged
…". A workflow saved under Advanced (or through the API) and saved again by the builder, with nothing
changed, stays the same workflow: what rows cannot say exactly is kept as it is, in words."""
from __future__ import annotations

import html
import json
import re

import pytest

from app.automation.config import load_workflow
from app.dashboard.condition_rows import ConditionRow, exact_rows, rows_where
from app.dashboard.workflow_form import when_document

from .form_fields import form_fields
from .helpers import AUTH, send, settle
from .dashboard_helpers import engaged, post, text


SECRET = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWY="


# --- pure: rows and where, when and its controls -----------------------------------------------------
@pytest.mark.parametrize(("type_", "where"), [
    pytest.param("form.submitted", {"form_id": "demo"}, id="text"),
    pytest.param("payment.succeeded", {"amount": {"gte": 100, "lt": 500.5}, "currency": {"in": ["usd", "eur"]},
                                       "livemode": True}, id="numbers-one-of-and-a-flag"),
    pytest.param("custom.plan_chosen", {"plan": "42", "trial": "yes", "seats": 3, "vip": False},
                 id="text-that-looks-like-a-number-or-a-flag"),
    pytest.param("email.clicked", {"url": {"exists": True}, "category": {"exists": False, "ne": "promo"}},
                 id="exists-and-not"),
])
def test_a_where_rows_can_say_reads_back_the_same(type_, where):
    rows = exact_rows(type_, where)
    assert rows is not None
    errors: dict[str, str] = {}
    assert rows_where(type_, rows, errors, "tw") == where and errors == {}


@pytest.mark.parametrize("where", [
    pytest.param({"tag": {"in": ["a,b", "c"]}}, id="a-comma-inside-one-of"),
    pytest.param({"meta": {"eq": {"x": 1}}}, id="an-object-as-a-value"),
    pytest.param({"note": '"quoted"'}, id="text-in-quotes-of-its-own"),
    pytest.param({"note": " padded "}, id="spaces-around-text"),
    pytest.param({"form_id": 7}, id="a-number-where-the-event-carries-text"),
    pytest.param({"livemode": "maybe"}, id="text-where-the-event-carries-a-flag"),
])
def test_a_where_rows_cannot_say_exactly_is_kept(where):
    assert exact_rows("form.submitted" if "livemode" not in where else "payment.succeeded", where) is None


@pytest.mark.parametrize(("row", "when"), [
    pytest.param({"when_profile": "eng", "when_op": "gte", "when_value": "5"},
                 {"profile": "eng", "operator": "gte", "value": 5}, id="score-at-least"),
    pytest.param({"when_profile": "eng", "when_op": "empty", "when_value": ""},
                 {"profile": "eng", "operator": "empty"}, id="no-value-for-empty"),
    pytest.param({"when_profile": "eng", "when_op": "", "when_value": "", "when_tags_all": "vip, big spender",
                  "when_tags_none": "customer"}, {"tags_all": ["vip", "big spender"], "tags_none": ["customer"]},
                 id="tags-only-the-profile-is-ignored-without-an-operator"),
    pytest.param({"when_profile": "eng", "when_op": ""}, {}, id="nothing"),
])
def test_only_if_controls_make_the_steps_when(row, when):
    assert when_document(row) == when


# --- through the builder -------------------------------------------------------------------------------
def builder_form(client, workflow_id: str) -> dict[str, str]:
    return form_fields(text(client.get(f"/dashboard/workflows/{workflow_id}/edit")), "workflow-builder")


def stored(services, workflow_id: str) -> dict:
    """The stored workflow as the engine reads it (defaults filled in, so equal meanings compare equal)."""
    return dict(load_workflow(services.automation.workflow_doc(workflow_id)["config"]).config)


STEPS_WITH_CONDITIONS = [
    {"type": "add_tag", "tag": "demo", "name": "Tag it", "when": {"profile": "engagement", "operator": "gte",
                                                                    "value": 5}},
    {"type": "remove_tag", "tag": "cold", "when": {"tags_all": ["vip", "big spender"], "tags_none": ["customer"]}},
    {"type": "notify", "channel": "email", "to": "sales@example.com", "subject": "Hot: {{ contact.email }}",
     "message": "{{ contact.email }}\nscored {{ score.new }}", "when": {"profile": "engagement",
                                                                     "operator": "not_empty"}},
    {"type": "webhook", "url": "https://crm.example.com/hook", "secret": SECRET, "headers": {"X-Team": "a: b"}},
    {"type": "wait", "duration": "30s"},
    {"type": "adjust_score", "profile": "engagement", "set": 0, "reason": "cool down",
     "when": {"profile": "engagement", "operator": "lt", "value": -1}},
    {"type": "reset_score", "profile": "engagement", "reason": "fresh start"},
]


@pytest.mark.parametrize("trigger", [
    pytest.param({"type": "interaction", "on": "form.submitted", "where": {"form_id": "demo"}}, id="where-in-rows"),
    pytest.param({"type": "interaction", "on": "payment.succeeded", "reentry": True,
                  "where": {"amount": {"gte": 100, "lt": 500}, "currency": {"in": ["usd", "eur"]}, "livemode": True},
                  "filters": {"tags_all": ["vip"], "tags_none": []}}, id="where-with-several-operators"),
    pytest.param({"type": "interaction", "on": "custom.plan_chosen", "where": {"plan": "42", "seats": 3}},
                 id="custom-event"),
    pytest.param({"type": "interaction", "on": "form.submitted", "where": {"tag": {"in": ["a,b", "c"]},
                                                                           "meta": {"eq": {"x": [1, 2]}}}},
                 id="where-kept-as-it-is"),
    pytest.param({"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 50,
                  "fire": "on_change", "reentry": True}, id="score-trigger"),
])
def test_advanced_then_the_builder_with_nothing_changed_keeps_the_same_workflow(wf_dash, trigger):
    client, services = wf_dash
    engaged(client, services)
    config = {"id": "demo", "name": "Demo request", "description": "from Advanced", "enabled": False,
              "trigger": trigger, "steps": STEPS_WITH_CONDITIONS}
    client.put("/v1/workflows/demo", headers=AUTH, json={**config, "steps": [{"type": "add_tag", "tag": "x"}]})
    saved = post(client, "/dashboard/workflows/demo", {"config": json.dumps(config), "action": "save"})  # Advanced
    assert saved.status_code == 303, text(saved)
    before = stored(services, "demo")
    form = builder_form(client, "demo")
    resp = post(client, "/dashboard/workflows/demo/edit", {**form, "action": "save"})
    assert resp.status_code == 303, text(resp)
    after = stored(services, "demo")
    for was, now in zip(before["steps"], after["steps"]):
        assert now == was
    assert after == before
    # and back: Advanced shows what the builder saved, which saves again to the same workflow
    advanced = re.search(r'<textarea[^>]*name="config"[^>]*>(.*?)</textarea>', text(client.get("/dashboard/workflows/demo")),
                         re.S).group(1)
    again = post(client, "/dashboard/workflows/demo", {"config": html.unescape(advanced), "action": "save"})
    assert again.status_code == 303 and stored(services, "demo") == before


def test_where_rows_are_shown_with_the_events_and_the_seen_properties_offered(wf_dash):
    client, services = wf_dash
    engaged(client, services)
    send(client, {"id": "f1", "type": "form.submitted", "contact": {"email": "a@example.com"},
                  "properties": {"form_id": "demo", "plan": "pro"}})
    settle(services)
    client.put("/v1/workflows/demo", headers=AUTH, json={
        "id": "demo", "name": "Demo", "trigger": {"type": "interaction", "on": "form.submitted",
                                                  "where": {"form_id": "demo"}},
        "steps": [{"type": "add_tag", "tag": "demo"}]})
    page = text(client.get("/dashboard/workflows/demo/edit"))
    assert 'id="tw-0-property" name="tw-0-property" value="form_id" list="props-form.submitted"' in page
    assert '<option value="eq" selected>is</option>' in page
    assert 'id="tw-0-value" name="tw-0-value" value="demo"' in page
    offered = re.search(r'<datalist id="props-form.submitted">(.*?)</datalist>', page).group(1)
    assert '<option value="form_id">form</option>' in offered and '<option value="plan">plan</option>' in offered
    assert "interaction arrives where form is &#34;demo&#34;" in page


def test_where_rows_are_added_removed_and_refused_next_to_their_field(wf_dash):
    client, services = wf_dash
    engaged(client, services)
    base = {"name": "Big payers", "trigger_type": "interaction", "t_on": "payment.succeeded", "tags_all": "",
            "tags_none": "", "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "big", "tw_rows": "1",
            "tw-0-property": "amount", "tw-0-op": "gte", "tw-0-value": "100"}
    page = text(post(client, "/dashboard/workflows/new", {**base, "action": "add_where"}))
    assert 'name="tw_rows" value="2"' in page and 'id="tw-0-value" name="tw-0-value" value="100"' in page
    two = {**base, "tw_rows": "2", "tw-1-property": "currency", "tw-1-op": "eq", "tw-1-value": "usd"}
    page = text(post(client, "/dashboard/workflows/new", {**two, "action": "remove_where:0"}))
    assert 'name="tw_rows" value="1"' in page and 'id="tw-0-property" name="tw-0-property" value="currency"' in page
    bad = post(client, "/dashboard/workflows/new", {**two, "tw-0-value": "lots", "action": "save"})
    assert bad.status_code == 400
    assert re.search(r'id="tw-0-value-error"[^>]*>[^<]*a number', text(bad))
    assert client.get("/v1/workflows/big-payers", headers=AUTH).status_code == 404
    assert post(client, "/dashboard/workflows/new", {**two, "action": "save"}).status_code == 303
    trigger = client.get("/v1/workflows/big-payers", headers=AUTH).get_json()["trigger"]
    assert trigger["where"] == {"amount": {"gte": 100}, "currency": "usd"}


def test_a_kept_where_reads_in_words_and_can_be_removed_on_purpose(wf_dash):
    client, services = wf_dash
    engaged(client, services)
    client.put("/v1/workflows/demo", headers=AUTH, json={
        "id": "demo", "name": "Demo", "trigger": {"type": "interaction", "on": "form.submitted",
                                                  "where": {"tag": {"in": ["a,b", "c"]}}},
        "steps": [{"type": "add_tag", "tag": "demo"}]})
    form = builder_form(client, "demo")
    assert json.loads(form["t_where"]) == {"tag": {"in": ["a,b", "c"]}}
    page = text(client.get("/dashboard/workflows/demo/edit"))
    assert 'Only interactions where tag is one of &#34;a,b&#34;, &#34;c&#34;.' in page
    cleared = text(post(client, "/dashboard/workflows/demo/edit", {**form, "action": "clear_where"}))
    assert 'name="t_where"' not in cleared and 'name="tw-0-property"' in cleared


def test_only_if_is_built_per_step_and_said_in_its_sentence(wf_dash):
    client, services = wf_dash
    engaged(client, services)
    fields = {"name": "Careful", "trigger_type": "score_changed", "t_profile": "engagement", "t_operator": "gte",
              "t_value": "50", "t_fire": "on_enter", "tags_all": "", "tags_none": "", "step_rows": "1",
              "s-0-type": "add_tag", "s-0-tag": "hot", "s-0-when_profile": "engagement", "s-0-when_op": "gte",
              "s-0-when_value": "60", "s-0-when_tags_all": "", "s-0-when_tags_none": "customer"}
    page = text(post(client, "/dashboard/workflows/new", {**fields, "action": "preview"}))
    assert ("Add the tag “hot”, only if the Engagement score is at least 60 and not tagged customer" in page)
    assert re.search(r'<details class="step-when" open>', page)
    missing = post(client, "/dashboard/workflows/new", {**fields, "s-0-when_value": "", "action": "save"})
    assert missing.status_code == 400 and re.search(r'id="s-0-when_op-error"[^>]*>[^<]*numeric value',
                                                    text(missing))
    assert post(client, "/dashboard/workflows/new", {**fields, "action": "save"}).status_code == 303
    step = client.get("/v1/workflows/careful", headers=AUTH).get_json()["steps"][0]
    assert step["when"] == {"profile": "engagement", "operator": "gte", "value": 60, "tags_none": ["customer"]}


def test_a_condition_row_is_a_plain_value_object():
    assert ConditionRow() == ConditionRow("", "eq", "")


def test_the_rule_builder_keeps_a_where_its_rows_cannot_say_and_says_it_in_words(wf_dash):
    client, _services = wf_dash
    client.put("/v1/profiles/eng", headers=AUTH, json={"name": "Eng", "rules": [
        {"id": "tagged", "on": "email.opened", "points": 2, "where": {"tag": {"in": ["a,b", "c"]}}}]})
    page = text(client.get("/dashboard/profiles/eng/rules/tagged"))
    assert 'Only when email tag is one of &#34;a,b&#34;, &#34;c&#34;.' in page
    form = form_fields(page, "rule-builder")
    assert "cond-0-property" not in form
    assert post(client, "/dashboard/profiles/eng/rules/tagged", {**form, "points": "3"}).status_code == 303
    rule = client.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"][0]
    assert (rule["points"], rule["where"]) == (3, {"tag": {"in": ["a,b", "c"]}})
