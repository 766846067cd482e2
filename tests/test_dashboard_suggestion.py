"""The rule builder names the latest evaluation's suggested points for the rule being edited (a hint with a
link to its evidence; applying stays a click on the evaluation page)."""
from __future__ import annotations

from .test_dashboard import dash, text
from .test_evaluation_api import world  # noqa: F401  (the published profile and its history)
from .test_evaluation_dashboard import URL, evaluated  # noqa: F401  (an evaluation of it, finished)

__all__ = ["dash"]


def test_the_rule_builder_shows_the_latest_suggestion_for_the_rule(dash, evaluated):  # noqa: F811
    page = text(dash.get("/dashboard/profiles/eng/rules/open"))
    assert "The latest evaluation (live rules) suggests <strong>-10</strong> points for this rule" in page
    assert f'<a href="{URL}">See the evidence</a>' in page


def test_no_hint_before_any_evaluation(world, dash):  # noqa: F811
    assert 'data-testid="suggested-points"' not in text(dash.get("/dashboard/profiles/eng/rules/open"))
