"""Scoring models over HTTP and through the worker: decay validated at the door, stepped on time by
the ticker with no request, explained in the ledger, and recomputed by a publish to the same score;
groups and caps validated, explained in the ledger and counted by the preview."""
from __future__ import annotations

import pytest

from app.scoring.interactions import format_timestamp
from app.clock import now_ms
from app.scoring.profiles import rule_from_dict
from app.scoring.sentences import rule_sentence

from .helpers import AUTH, contact_by_email, expire_due, publish, publish_profile, put_profile, score_of, send, \
    settle, wait_for
from .dashboard_helpers import post


DAY = 86_400_000
MONTH = 30 * DAY
DEMO = {"id": "demo", "on": "form.submitted", "points": 10, "decay": {"percent": 50, "every": "30d"}}


def submitted(id_, email, at):
    return {"id": id_, "type": "form.submitted", "contact": {"email": email}, "occurred_at": format_timestamp(at)}


def history(client, email, profile="eng"):
    cid = contact_by_email(client, email)["id"]
    return client.get(f"/v1/contacts/{cid}/scores/{profile}/history", headers=AUTH).get_json()["items"]


# --- validation ------------------------------------------------------------------------------

@pytest.mark.parametrize("decay,extra,message", [
    pytest.param({"percent": 0, "every": "30d"}, {}, "from 1 to 100", id="percent-zero"),
    pytest.param({"percent": 101, "every": "30d"}, {}, "from 1 to 100", id="percent-over-100"),
    pytest.param({"percent": 12.5, "every": "30d"}, {}, "integer", id="percent-not-whole"),
    pytest.param({"percent": 50, "every": "12h"}, {}, "between 1d and 3650d", id="period-under-a-day"),
    pytest.param({"percent": 50, "every": "3651d"}, {}, "between 1d and 3650d", id="period-over-ten-years"),
    pytest.param({"percent": 50, "every": "monthly"}, {}, "not a duration", id="period-not-a-duration"),
    pytest.param({"percent": 50}, {}, "required", id="period-missing"),
    pytest.param({"percent": 50, "every": "30d", "floor": 2}, {}, "Unknown field", id="unknown-key"),
    pytest.param({"percent": 50, "every": "30d"}, {"expires_after": "90d"}, "both 'decay' and 'expires_after'",
                 id="decay-and-expiry"),
])
def test_an_invalid_decay_is_a_400_naming_the_rule_and_field(client, decay, extra, message):
    body = {"name": "x", "rules": [{"id": "r", "on": "form.submitted", "points": 5, "decay": decay, **extra}]}
    resp = client.put("/v1/profiles/eng", headers=AUTH, json=body)
    assert resp.status_code == 400, resp.get_json()
    assert message in str(resp.get_json()["errors"]["rules"]["0"]["decay"])
    assert client.get("/v1/profiles/eng", headers=AUTH).status_code == 404  # nothing half-stored


@pytest.mark.parametrize("every", ["1d", "30d", "1w", "3650d"])
def test_a_decay_period_from_a_day_to_ten_years_is_accepted_and_reads_back(client, every):
    rule = {**DEMO, "decay": {"percent": 1, "every": every}}
    assert client.put("/v1/profiles/eng", headers=AUTH, json={"name": "x", "rules": [rule]}).status_code == 200
    assert client.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"][0]["decay"] == rule["decay"]


def test_a_decaying_rule_reads_as_a_sentence():
    assert rule_sentence(rule_from_dict(DEMO)) == "Form submitted: +10, loses 50% every 30 days"


# --- decay on time ---------------------------------------------------------------------------

def test_decay_steps_come_on_time_through_the_ticker_without_a_request(client, services):
    publish_profile(client, services, "eng", [DEMO])
    # occurred one period ago, less a little: its first step falls in about two seconds
    send(client, submitted("f1", "d@x.io", now_ms() - MONTH + 2000))
    settle(services)
    assert score_of(client, "d@x.io", "eng") == 10
    wait_for(lambda: expire_due(services) or score_of(client, "d@x.io", "eng") == 5, timeout=15)
    step = history(client, "d@x.io")[0]  # newest first
    assert (step["reason"], step["interaction_id"], step["rule_id"], step["points"], step["change"], step["score"]) \
        == ("decay", "f1", "demo", -5, -5, 5)
    assert step["note"] == "decay step 1 (50% a period): 10 → 5 points"


def test_steps_already_due_apply_on_arrival_and_a_recompute_agrees(client, services):
    publish_profile(client, services, "eng", [DEMO])
    now = now_ms()
    send(client, submitted("old", "r@x.io", now - 2 * MONTH - DAY), submitted("new", "r@x.io", now - DAY))
    settle(services)
    assert score_of(client, "r@x.io", "eng") == 12  # 10 → 5 → 2, plus 10
    assert [h["reason"] for h in history(client, "r@x.io")] == ["matched", "decay", "decay", "matched"]
    publish(client, services, "eng")
    assert score_of(client, "r@x.io", "eng") == 12


def test_a_late_interaction_before_applied_steps_refolds_to_the_in_order_score(client, services):
    publish_profile(client, services, "eng", [DEMO, {"id": "unsub", "on": "email.unsubscribed", "points": -15}])
    now = now_ms()
    send(client, submitted("f", "l@x.io", now - 2 * MONTH - DAY))
    settle(services)
    assert score_of(client, "l@x.io", "eng") == 2
    # an unsubscribe before the form: in order, the floor keeps 0, then the form's 10 decays to 2
    send(client, {"id": "u", "type": "email.unsubscribed", "contact": {"email": "l@x.io"},
                  "occurred_at": format_timestamp(now - 3 * MONTH)})
    settle(services)
    assert score_of(client, "l@x.io", "eng") == 2
    send(client, {"id": "u2", "type": "email.unsubscribed", "contact": {"email": "l@x.io"},
                  "occurred_at": format_timestamp(now - 2 * MONTH)})  # after the form, before both steps
    settle(services)
    assert score_of(client, "l@x.io", "eng") == 0  # 10 - 10 (floor), then steps of -5 and -3 hit the floor


def test_the_draft_without_decay_is_previewed_against_live_decayed_scores(client, services):
    publish_profile(client, services, "eng", [DEMO])
    send(client, submitted("f", "p@x.io", now_ms() - MONTH - DAY))
    settle(services)
    put_profile(client, "eng", [{k: v for k, v in DEMO.items() if k != "decay"}])
    preview = client.post("/v1/profiles/eng/preview", headers=AUTH).get_json()
    assert preview["movers"] == [{"contact_id": contact_by_email(client, "p@x.io")["id"], "current": 5,
                                  "draft": 10, "change": 5}]


# --- groups and caps -------------------------------------------------------------------------

OPEN = {"id": "open", "on": "email.opened", "points": 12, "group": "email"}
EMAIL = [{"id": "email", "max_points": 30}]


def opened(id_, email):
    return {"id": id_, "type": "email.opened", "contact": {"email": email}}


@pytest.mark.parametrize("body,path,message", [
    pytest.param({"rules": [OPEN]}, ("rules", "0", "group"), "unknown group 'email'", id="undeclared-group"),
    pytest.param({"rules": [OPEN], "groups": [{"id": "web", "max_points": 5}]}, ("rules", "0", "group"),
                 "unknown group 'email'", id="other-group-declared"),
    pytest.param({"groups": [{"id": "email", "max_points": 0}]}, ("groups", "0", "max_points"),
                 "greater than or equal to 1", id="max-points-zero"),
    pytest.param({"groups": [{"id": "email"}]}, ("groups", "0", "max_points"), "required", id="max-points-missing"),
    pytest.param({"groups": [{"id": "e", "max_points": 5}, {"id": "e", "max_points": 6}]}, ("groups",),
                 "unique", id="duplicate-group"),
    pytest.param({"groups": [{"id": "bad id", "max_points": 5}]}, ("groups", "0", "id"), "letters", id="bad-id"),
    pytest.param({"groups": [{"id": "email", "max_points": 5, "decay": {"percent": 50, "every": "2h"}}]},
                 ("groups", "0", "decay", "every"), "between 1d and 3650d", id="group-decay-period"),
    pytest.param({"rules": [{**OPEN, "expires_after": "7d"}],
                  "groups": [{"id": "email", "max_points": 30, "decay": {"percent": 50, "every": "30d"}}]},
                 ("rules", "0", "expires_after"), "group 'email' decays", id="expiry-in-a-decaying-group"),
    pytest.param({"max_score": 0}, ("max_score",), "greater than or equal to 1", id="max-score-zero"),
    pytest.param({"max_score": "100"}, ("max_score",), "integer", id="max-score-text"),
])
def test_an_invalid_group_or_cap_is_a_400_naming_the_field(client, body, path, message):
    resp = client.put("/v1/profiles/eng", headers=AUTH, json={"name": "x", **body})
    assert resp.status_code == 400, resp.get_json()
    errors = resp.get_json()["errors"]
    for key in path:
        errors = errors[key]
    assert message in str(errors)
    assert client.get("/v1/profiles/eng", headers=AUTH).status_code == 404


def test_groups_and_max_score_read_back_and_version_changes_say_them(client, services):
    put_profile(client, "eng", [OPEN], groups=EMAIL, max_score=100)
    publish(client, services, "eng")
    body = client.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert (body["groups"], body["max_score"], body["rules"][0]["group"]) == (EMAIL, 100, "email")
    put_profile(client, "eng", [OPEN], groups=[{"id": "email", "max_points": 40}], max_score=90)
    publish(client, services, "eng")
    changes = client.get("/v1/profiles/eng/versions", headers=AUTH).get_json()["items"][0]["changes"]
    assert changes == ["Group email now at most 40 (was 30)", "Maximum score 90 (was 100)"]
    decaying = [{"id": "email", "max_points": 40, "decay": {"percent": 25, "every": "1w"}}]
    put_profile(client, "eng", [OPEN], groups=decaying, max_score=90)
    publish(client, services, "eng")
    body = client.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert (body["groups"], "decay" in body["rules"][0]) == (decaying, False)
    changes = client.get("/v1/profiles/eng/versions", headers=AUTH).get_json()["items"][0]["changes"]
    assert "Group email now loses 25% every 1 week" in changes


def test_the_ledger_says_when_a_group_capped_points(client, services):
    put_profile(client, "eng", [OPEN], groups=EMAIL)
    publish(client, services, "eng")
    send(client, *[opened(f"o{i}", "c@x.io") for i in range(4)])
    settle(services)
    assert score_of(client, "c@x.io", "eng") == 30
    items = history(client, "c@x.io")
    assert [(h["reason"], h["change"], h["note"]) for h in items[:2]] == [
        ("capped", 0, "capped by group email at 30"), ("capped", 6, "capped by group email at 30")]
    publish(client, services, "eng")
    assert score_of(client, "c@x.io", "eng") == 30


def test_the_preview_reports_how_often_each_cap_bites(client, services):
    publish_profile(client, services, "eng", [{k: v for k, v in OPEN.items() if k != "group"}])
    send(client, *[opened(f"a{i}", "a@x.io") for i in range(4)], *[opened(f"b{i}", "b@x.io") for i in range(2)],
         opened("c0", "c@x.io"))
    settle(services)
    put_profile(client, "eng", [OPEN, {"id": "pay", "on": "payment.succeeded", "points": 5}], groups=EMAIL,
                max_score=20)
    preview = client.post("/v1/profiles/eng/preview", headers=AUTH).get_json()
    # a: 12, then 8 (max score), then twice 0 (the group lets 10 of 12, the score none): both caps bite
    # b: 12, then 8 (max score); c: 12
    assert preview["caps"] == [{"cap": "group:email", "max": 30, "entries": 2, "contacts": 1},
                               {"cap": "max_score", "max": 20, "entries": 4, "contacts": 2}]


# --- the dashboard keeps what it does not show yet ---------------------------------------------

def test_saving_the_dashboards_profile_form_keeps_groups_and_max_score(dash):
    put_profile(dash, "eng", [OPEN], groups=EMAIL, max_score=100)
    resp = post(dash, "/dashboard/profiles/eng", {"name": "Renamed", "description": "", "bands_rows": "1",
                                                  "bands-0-name": "", "bands-0-min": ""})
    assert resp.status_code == 303
    body = dash.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert (body["name"], body["groups"], body["max_score"]) == ("Renamed", EMAIL, 100)


def test_editing_a_rule_in_the_builder_keeps_its_decay_and_group(dash):
    put_profile(dash, "eng", [{**OPEN, "decay": {"percent": 50, "every": "30d"}}], groups=EMAIL)
    form = {"on": "email.opened", "custom_name": "", "conditions_rows": "1", "cond-0-property": "",
            "cond-0-op": "eq", "cond-0-value": "", "points": "4", "limit_count": "", "limit_every": "1",
            "limit_unit": "d", "once_per": "", "expire_after": "", "expire_unit": "d"}
    assert post(dash, "/dashboard/profiles/eng/rules/open", form).status_code == 303
    rule = dash.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"][0]
    assert (rule["points"], rule["decay"], rule["group"]) == (4, {"percent": 50, "every": "30d"}, "email")
