"""The workflow builder's grade trigger ("A grade changes"): the grade from a menu, "on every change" or "when
the cell becomes one of" the ticked cells of a 3×3 grid — no JSON typed; and a workflow written under
*Advanced* (or through the API) comes back from the builder exactly as it was."""
from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict

from .dashboard_helpers import csrf_of, post, text
from .form_fields import _Form
from .helpers import AUTH
from .test_grades_api import setup


def builder_fields(page: str) -> MultiDict:
    """Every control of the builder as a browser posts it (all values of a name, checked boxes only)."""
    parser = _Form("workflow-builder")
    parser.feed(page)
    return MultiDict(parser.fields)


def save_from_builder(client, workflow_id: str, change=None) -> dict:
    fields = builder_fields(text(client.get(f"/dashboard/workflows/{workflow_id}/edit")))
    if change:
        change(fields)
    fields["action"] = "save"
    fields["csrf_token"] = csrf_of(client)
    resp = client.post(f"/dashboard/workflows/{workflow_id}/edit", data=fields)
    assert resp.status_code == 303, text(resp)
    return client.get(f"/v1/workflows/{workflow_id}", headers=AUTH).get_json()


def test_a_grade_trigger_is_built_by_ticking_cells(wf_dash):
    client, services = wf_dash
    setup(client, services)
    data = {"name": "Best leads", "trigger_type": "grade_changed", "t_grade": "lead", "t_grade_fire": "becomes",
            "t_cell": ["A2", "A1"], "t_cells": "", "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "best",
            "tags_all": "", "tags_none": "", "t_on": "form.submitted", "action": "preview"}
    page = text(post(client, "/dashboard/workflows/new", data))
    assert "When a contact&#39;s Lead grade becomes one of A1, A2" in page
    assert 'id="t_cell-A1" name="t_cell" value="A1" checked' in page and 'value="B1" checked' not in page
    resp = post(client, "/dashboard/workflows/new", {**data, "action": "save"})
    assert resp.status_code == 303
    saved = client.get("/v1/workflows/best-leads", headers=AUTH).get_json()
    assert saved["trigger"] == {"type": "grade_changed", "grade": "lead", "becomes": ["A1", "A2"]}
    one = save_from_builder(client, "best-leads", lambda f: f.setlist("t_cell", ["B1"]))
    assert one["trigger"] == {"type": "grade_changed", "grade": "lead", "becomes": "B1"}
    anyway = save_from_builder(client, "best-leads", lambda f: f.__setitem__("t_grade_fire", "change"))
    assert anyway["trigger"] == {"type": "grade_changed", "grade": "lead"}
    assert "Whenever a contact&#39;s Lead grade changes" in text(client.get("/dashboard/workflows/best-leads"))


@pytest.mark.parametrize("trigger", [
    pytest.param({"type": "grade_changed", "grade": "lead", "becomes": "A1"}, id="one-cell"),
    pytest.param({"type": "grade_changed", "grade": "lead", "becomes": ["B1", "A1"], "reentry": False,
                  "filters": {"tags_all": [], "tags_none": ["customer"]}}, id="cells-in-their-order"),
    pytest.param({"type": "grade_changed", "grade": "lead", "becomes": ["C3"], "reentry": True}, id="a-list-of-one"),
    pytest.param({"filters": {"tags_all": ["vip"]}, "grade": "lead", "type": "grade_changed"}, id="any-change"),
])
def test_advanced_then_builder_then_advanced_changes_nothing(wf_dash, trigger):
    client, services = wf_dash
    setup(client, services)
    doc = {"id": "g", "name": "G", "enabled": False, "trigger": trigger, "steps": [{"type": "add_tag", "tag": "x"}]}
    first = {**doc, "trigger": {"type": "interaction", "on": "form.submitted"}}
    assert client.put("/v1/workflows/g", headers=AUTH, json=first).status_code in (200, 201)
    resp = post(client, "/dashboard/workflows/g", {"config": json.dumps(doc), "action": "save"})  # Advanced
    assert resp.status_code == 303
    page = text(client.get("/dashboard/workflows/g/edit"))
    assert 'id="trigger-grade" name="trigger_type" value="grade_changed" checked' in page
    saved = save_from_builder(client, "g")
    assert saved["trigger"] == trigger


def test_a_grade_trigger_needs_a_grade_that_exists_said_next_to_the_menu(wf_dash):
    client, services = wf_dash
    setup(client, services)
    resp = post(client, "/dashboard/workflows/new", {
        "name": "Nope", "trigger_type": "grade_changed", "t_grade": "", "t_grade_fire": "becomes", "t_cells": "",
        "step_rows": "1", "s-0-type": "add_tag", "s-0-tag": "x", "t_on": "form.submitted", "tags_all": "",
        "tags_none": "", "action": "save"})
    assert resp.status_code == 400
    page = text(resp)
    assert 'id="t_grade-error"' in page  # said next to the menu
    assert client.get("/v1/workflows/nope", headers=AUTH).status_code == 404


def test_the_workflow_list_names_the_grade(wf_dash):
    client, services = wf_dash
    setup(client, services)
    client.put("/v1/workflows/g", headers=AUTH, json={"id": "g", "name": "G", "trigger": {
        "type": "grade_changed", "grade": "lead", "becomes": "A1"}, "steps": [{"type": "add_tag", "tag": "x"}]})
    assert "When a contact&#39;s Lead grade becomes A1" in text(client.get("/dashboard/workflows"))
