"""The evaluation page: start an evaluation from the form, read the bands, deciles and lift per rule,
apply a suggestion to the draft with a click (never publishing), and bad form input answered on the page."""
from __future__ import annotations

import re

import pytest

from .helpers import AUTH, put_profile, settle
from .dashboard_helpers import post, text
from .evaluation_helpers import BANDS, EVALUATION_PAGE as URL, PERIOD




def test_the_profile_page_links_to_its_evaluation_and_the_form_has_defaults(world, dash):
    assert f'href="{URL}"' in text(dash.get("/dashboard/profiles/eng"))
    page = text(dash.get(URL))
    assert 'name="outcome" list="outcomes" value="payment.succeeded"' in page
    assert 'type="date"' in page and "Backtest the draft beside live v1" in page
    assert 'id="draft" name="draft" value="1">' in page  # the draft is the live rules: not offered checked


def test_the_preview_offers_a_backtest_of_the_draft(world, dash):
    page = text(post(dash, "/dashboard/profiles/eng/preview", {"name": "Eng", "bands_rows": "0"}))
    assert f'<a href="{URL}?backtest=1">Backtest the saved draft</a>' in page
    assert 'id="draft" name="draft" value="1" checked' in text(dash.get(f"{URL}?backtest=1"))


def test_an_evaluation_started_from_the_form_shows_bands_deciles_and_rules(dash, evaluated):
    page = text(dash.get(evaluated))
    assert "2026-02-01 to 2026-02-28: payment.succeeded" in page
    assert "80 contacts, 34 converted: base rate <strong>42.5 %</strong>" in page
    assert "Left out: 2 converted before, 1 without history." in page
    assert re.search(r"hot <span class=\"muted\">\(10\+\)</span></th><td class=\"num\">40</td><td class=\"num\">30"
                     r"</td><td class=\"num\">75.0 %</td><td class=\"num\">1.76×", page)
    assert re.search(r'<th scope="row">1</th><td class="num">10</td><td class="num">40</td>', page)
    # both rules carry signal: opening emails without a form marks contacts who do not buy
    assert re.search(r'data-rule="open">.*?<strong>-10</strong>.*?Apply to draft', page, re.S)
    assert re.search(r'data-rule="form">.*?<strong>\+10</strong>.*?the draft gives this already', page, re.S)


def test_apply_puts_the_suggested_points_into_the_draft_and_never_publishes(dash, evaluated, world):
    job_id = evaluated.rsplit("id=", 1)[1]
    resp = post(dash, f"{URL}/{job_id}/apply", {"rule_id": "open", "of": "live"})
    assert resp.status_code == 303
    page = text(dash.get(resp.headers["Location"]))
    assert "The draft&#39;s rule open now gives -10 points (was +1)." in page
    profile = world.get("/v1/profiles/eng", headers=AUTH).get_json()
    assert [r["points"] for r in profile["rules"]] == [10, -10]
    assert profile["version"] == 1 and profile["draft_changed"] is True
    # applied already: the button is gone
    assert re.search(r'data-rule="open">.*?the draft gives this already', page, re.S)


def test_apply_is_refused_when_the_rule_changed_since_or_has_no_suggestion(dash, evaluated, world):
    job_id = evaluated.rsplit("id=", 1)[1]
    put_profile(world, "eng", [{"id": "form", "on": "form.submitted", "points": 10},
                               {"id": "open", "on": "email.clicked", "points": 1}], BANDS)
    page = text(dash.get(post(dash, f"{URL}/{job_id}/apply", {"rule_id": "open", "of": "live"}).headers["Location"]))
    assert "is not the rule this evaluation judged" in page
    assert [r["points"] for r in world.get("/v1/profiles/eng", headers=AUTH).get_json()["rules"]] == [10, 1]
    page = text(dash.get(post(dash, f"{URL}/{job_id}/apply", {"rule_id": "nope", "of": "live"}).headers["Location"]))
    assert "has no live report for rule" in page


def test_the_draft_is_backtested_beside_live(dash, world, services):
    put_profile(world, "eng", [{"id": "form", "on": "form.submitted", "points": 3}], BANDS)
    resp = post(dash, URL, {**PERIOD, "draft": "1"})
    settle(services)
    page = text(dash.get(resp.headers["Location"]))
    assert '<div class="report" data-report="live">' in page and '<div class="report" data-report="draft">' in page
    assert "<h3>Live v1</h3>" in page and "<h3>Draft</h3>" in page


@pytest.mark.parametrize("change,field,message", [
    pytest.param({"from": "2026-02-30"}, "from", "a date such as", id="bad-date"),
    pytest.param({"to": "2026-01-31"}, "to", "must not be before the first day", id="to-before-from"),
    pytest.param({"from": "2999-01-01", "to": "2999-02-01"}, "from", "must not be after today", id="future"),
    pytest.param({"outcome": "payment.done"}, "outcome", "an interaction type", id="unknown-outcome"),
])
def test_bad_form_input_is_a_400_page_naming_the_field(world, dash, change, field, message):
    resp = post(dash, URL, {**PERIOD, **change})
    assert resp.status_code == 400
    page = text(resp)
    assert "The evaluation was not started" in page and message in page
    assert f'id="{field}-error"' in page
    assert world.get("/v1/profiles/eng/evaluations", headers=AUTH).get_json()["items"] == []


def test_an_unknown_profile_or_evaluation_is_a_404_page(dash, world):
    assert dash.get("/dashboard/profiles/nope/evaluation").status_code == 404
    assert dash.get(f"{URL}?id=evaluate-eng-000").status_code == 404
