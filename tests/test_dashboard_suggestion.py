"""The rule builder names the latest evaluation's suggested points for the rule being edited (a hint with a
link to its evidence; applying stays a click on the evaluation page)."""
from __future__ import annotations

from .dashboard_helpers import text
from .evaluation_helpers import EVALUATION_PAGE as URL



def test_the_rule_builder_shows_the_latest_suggestion_for_the_rule(dash, evaluated):
    page = text(dash.get("/dashboard/profiles/eng/rules/open"))
    assert "The latest evaluation (live rules) suggests <strong>-10</strong> points for this rule" in page
    assert f'<a href="{URL}">See the evidence</a>' in page


def test_no_hint_before_any_evaluation(world, dash):
    assert 'data-testid="suggested-points"' not in text(dash.get("/dashboard/profiles/eng/rules/open"))
