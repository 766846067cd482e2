"""Evaluations over HTTP: started as a job, run by the worker, read back with bands, deciles, lift and
suggested points per rule; a draft backtested beside the live version; bad requests are clear 4xx."""
from __future__ import annotations

import pytest

from app.evaluation import run_evaluation
from app.scoring.interactions import format_timestamp, parse_timestamp_ms

from .evaluation_helpers import BANDS, DAY, FEB_1, RULES
from .helpers import AUTH, put_profile, settle, wait_for

def start(client, profile="eng", expect=202, **body):
    resp = client.post(f"/v1/profiles/{profile}/evaluations", json={"from": FEB_1, **body}, headers=AUTH)
    assert resp.status_code == expect, resp.get_json()
    return resp.get_json()


def read(client, evaluation, profile="eng"):
    resp = client.get(f"/v1/profiles/{profile}/evaluations/{evaluation['id']}", headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def test_the_worker_runs_an_evaluation_with_progress_and_the_report_reads_back(world, worker):
    started = start(world, days=28)
    assert started["status"] == "queued" and started["reports"] is None
    assert started["from"] == "2026-02-01T00:00:00.000Z" and started["to"] == "2026-03-01T00:00:00.000Z"
    assert started["outcome"] == "payment.succeeded" and started["judged"] == [{"of": "live", "version": 1}]
    job = wait_for(lambda: (j := world.get(f"/v1/jobs/{started['id']}", headers=AUTH).get_json())["status"]
                   in ("finished", "failed") and j, timeout=30)
    assert job["status"] == "finished" and job["kind"] == "evaluation" and job["progress"] == 1.0
    assert job["done"] == job["total"] == 83
    (report,) = read(world, started)["reports"]
    assert report["of"] == "live" and report["version"] == 1
    assert (report["contacts"], report["conversions"], report["base_rate"]) == (80, 34, 0.425)
    assert report["excluded"] == {"converted_before": 2, "no_history": 1}
    assert report["bands"] == [
        {"band": "cold", "min": 0, "contacts": 40, "conversions": 4, "rate": 0.1, "lift": 0.235294},
        {"band": "hot", "min": 10, "contacts": 40, "conversions": 30, "rate": 0.75, "lift": 1.764706}]
    assert [(d["decile"], d["contacts"], d["min_score"]) for d in report["deciles"] if d["contacts"]] == \
        [(1, 40, 10), (6, 40, 1)]
    form, open_ = report["rules"]
    assert form["matched"]["contacts"] == 40 and form["lift"] == 7.5
    assert form["suggestion"]["points"] == 10 and form["suggestion"]["significant"] is True
    assert open_["lift"] == 0.133333 and open_["suggestion"]["points"] == -10


def test_a_draft_is_backtested_beside_the_live_version(world, services):
    put_profile(world, "eng", [{"id": "form", "on": "form.submitted", "points": 3}], BANDS)
    started = start(world, of=["live", "draft"])
    assert started["judged"] == [{"of": "live", "version": 1}, {"of": "draft", "version": None}]
    settle(services)
    live, draft = read(world, started)["reports"]
    assert (live["of"], draft["of"]) == ("live", "draft")
    assert [r["rule_id"] for r in live["rules"]] == ["form", "open"]
    assert [r["rule_id"] for r in draft["rules"]] == ["form"]
    # the draft's 3 points put the form contacts below "hot": every contact is cold
    assert [(b["band"], b["contacts"]) for b in draft["bands"]] == [("cold", 80), ("hot", 0)]
    assert draft["contacts"] == live["contacts"] == 80
    # evaluating never touches the draft or live scores
    assert world.get("/v1/profiles/eng", headers=AUTH).get_json()["version"] == 1


def test_the_profiles_recent_evaluations_list_newest_first(world, services):
    first = start(world)
    second = start(world, outcome="form.submitted", days=10)
    settle(services)
    items = world.get("/v1/profiles/eng/evaluations", headers=AUTH).get_json()["items"]
    assert [i["id"] for i in items] == [second["id"], first["id"]]
    assert items[0]["outcome"] == "form.submitted" and items[0]["status"] == "finished"
    # nobody submitted a form in the period
    assert items[0]["reports"][0]["conversions"] == 0


def test_a_period_that_has_not_ended_counts_outcomes_up_to_now(world, services):
    started = start(world, **{"from": format_timestamp(services.clock.now_ms() - DAY)})
    assert parse_timestamp_ms(started["observed_until"]) < parse_timestamp_ms(started["to"])
    settle(services)
    report = read(world, started)["reports"][0]
    # everyone who ever paid paid before yesterday; the rest have had no outcome yet
    assert report["excluded"] == {"converted_before": 36, "no_history": 0}
    assert (report["contacts"], report["conversions"]) == (47, 0)


def test_a_draft_only_profile_is_evaluated_as_its_draft_and_live_is_a_409(client, services):
    put_profile(client, "new", RULES, BANDS)
    started = start(client, "new")
    assert started["judged"] == [{"of": "draft", "version": None}]
    refused = start(client, "new", expect=409, of=["live"])
    assert refused["errors"] == {"of": ["the profile is not published"]}


@pytest.mark.parametrize("body,field,message", [
    pytest.param({"from": "2026-02-30T00:00:00Z"}, "from", "not an RFC 3339", id="bad-date"),
    pytest.param({"from": "yesterday"}, "from", "RFC 3339", id="not-a-date"),
    pytest.param({"from": "2026-02-01T00:00:00"}, "from", "RFC 3339", id="no-offset"),
    pytest.param({"days": 0}, "days", "", id="days-zero"),
    pytest.param({"days": 3651}, "days", "", id="days-over-ten-years"),
    pytest.param({"outcome": "payment.done"}, "outcome", "unknown interaction type", id="unknown-outcome"),
    pytest.param({"of": ["live", "live"]}, "of", "each appear once", id="of-twice"),
    pytest.param({"of": ["forecast"]}, "of", "", id="of-unknown"),
    pytest.param({"to": "2026-03-01T00:00:00Z"}, "to", "Unknown field", id="unknown-field"),
])
def test_a_bad_request_is_a_400_naming_the_field(world, body, field, message):
    answer = start(world, expect=400, **body)
    assert answer["code"] == 400 and field in answer["errors"], answer
    assert message in str(answer["errors"][field])
    assert world.get("/v1/profiles/eng/evaluations", headers=AUTH).get_json()["items"] == []


def test_unknown_profiles_and_evaluations_are_404s(world):
    assert start(world, "nope", expect=404)["code"] == 404
    assert world.get("/v1/profiles/eng/evaluations/evaluate-eng-0", headers=AUTH).status_code == 404
    other = start(world)
    put_profile(world, "other", RULES)
    assert world.get(f"/v1/profiles/other/evaluations/{other['id']}", headers=AUTH).status_code == 404
    assert world.get("/v1/profiles/nope/evaluations", headers=AUTH).status_code == 404
    assert world.post("/v1/profiles/eng/evaluations", json={"from": FEB_1}).status_code == 401


def test_the_latest_suggestion_for_a_rule_prefers_the_draft_of_the_newest_evaluation(world, services):
    from app.evaluation import latest_suggestion

    assert latest_suggestion(services, "eng", "form") is None
    start(world)
    put_profile(world, "eng", [{"id": "form", "on": "form.submitted", "points": 3}], BANDS)
    newest = start(world, of=["live", "draft"])
    settle(services)
    hint = latest_suggestion(services, "eng", "form")
    assert (hint["evaluation"], hint["of"], hint["points"]) == (newest["id"], "draft", 3)
    assert hint["suggestion"]["points"] == 3 and hint["lift"] == 7.5
    assert latest_suggestion(services, "eng", "open")["of"] == "live"
    assert latest_suggestion(services, "eng", "nope") is None


def test_an_evaluation_whose_live_version_vanished_fails_and_says_why(world, services):
    started = start(world)
    world.post("/v1/profiles/eng/unpublish", headers=AUTH)
    services.profiles.forget_versions(services.profiles.get("eng"))  # what deleting the profile does to its versions
    with pytest.raises(KeyError):
        run_evaluation(services, started["id"])
    failed = read(world, started)
    assert failed["status"] == "failed" and "eng@1" in failed["error"] and failed["reports"] is None
    assert services.redis.ttl(services.keys.evaluation(started["id"])) > 0
