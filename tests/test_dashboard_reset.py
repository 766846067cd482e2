"""Reset by pointing and clicking: "Reset score" on the contact's page (a reason, the score back to 0, the
ledger saying so) and the ``reset_score`` step in the workflow builder's menu, its test run and its run."""
from __future__ import annotations

import re

from .helpers import AUTH, score_of, send, settle
from .dashboard_helpers import contact_id, engaged, post, text



def test_reset_on_the_contact_page_puts_the_score_back_to_0_and_the_ledger_says_why(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 3))
    ann = contact_id(services, "ann@example.com")
    page = text(client.get(f"/dashboard/contacts/{ann}"))
    assert 'action="/dashboard/contacts/%s/score/reset"' % ann in page
    assert re.search(r'<form[^>]*score/reset"[^>]*data-confirm="Reset this contact', page)  # asks first
    resp = post(client, f"/dashboard/contacts/{ann}/score/reset",
                {"reset_profile": "engagement", "reset_reason": "new buying cycle"})
    assert resp.status_code == 303
    assert score_of(client, "ann@example.com", "engagement") == 0
    page = text(client.get(resp.headers["Location"]))
    assert "Engagement score of ann@example.com is reset to 0: a fresh start." in page
    ledger = page.split('id="ledger-title"', 1)[1]
    assert "Score reset to 0 by dashboard <em>new buying cycle</em>" in ledger  # who: the session's actor
    assert "manual: reset: new buying cycle" in ledger
    send(client, {"id": "after", "type": "email.clicked", "contact": {"email": "ann@example.com"}})
    settle(services)
    assert score_of(client, "ann@example.com", "engagement") == 10  # it counts again from the reset


def test_a_reset_without_a_reason_is_refused_and_changes_nothing(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 2))
    ann = contact_id(services, "ann@example.com")
    resp = post(client, f"/dashboard/contacts/{ann}/score/reset", {"reset_profile": "engagement", "reset_reason": ""})
    assert resp.status_code == 400
    assert re.search(r'id="reset_reason-error"[^>]*>[^<]*\S', text(resp))
    unknown = post(client, f"/dashboard/contacts/{ann}/score/reset", {"reset_profile": "nope", "reset_reason": "x"})
    assert unknown.status_code == 400 and 'id="reset_profile-error"' in text(unknown)
    assert score_of(client, "ann@example.com", "engagement") == 20


def test_the_builder_offers_a_reset_step_and_saves_it(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 1))
    base = {"name": "Start over", "trigger_type": "interaction", "t_on": "form.submitted", "tags_all": "",
            "tags_none": ""}
    page = text(post(client, "/dashboard/workflows/new", {**base, "step_rows": "0", "action": "add",
                                                           "new_step": "reset_score"}))
    assert '<option value="reset_score">Reset score (back to 0)</option>' in page
    assert re.findall(r'name="s-\d+-type" value="([a-z_]+)"', page) == ["reset_score"]
    assert 'id="s-0-reason" name="s-0-reason" value="workflow: fresh start"' in page
    resp = post(client, "/dashboard/workflows/new", {**base, "step_rows": "1", "s-0-type": "reset_score",
                                                      "s-0-profile": "engagement", "s-0-reason": "handed to sales",
                                                      "action": "save"})
    assert resp.status_code == 303
    saved = client.get("/v1/workflows/start-over", headers=AUTH).get_json()
    assert saved["steps"] == [{"type": "reset_score", "profile": "engagement", "reason": "handed to sales"}]
    page = text(client.get("/dashboard/workflows/start-over/edit"))
    assert "Reset the Engagement score to 0 (a fresh start)" in page
    assert 'id="s-0-reason" name="s-0-reason" value="handed to sales"' in page


def test_a_reset_step_without_a_reason_is_refused_next_to_it(wf_dash):
    client, services = wf_dash
    engaged(client, services)
    resp = post(client, "/dashboard/workflows/new", {
        "name": "Start over", "trigger_type": "interaction", "t_on": "form.submitted", "tags_all": "",
        "tags_none": "", "step_rows": "1", "s-0-type": "reset_score", "s-0-profile": "engagement",
        "s-0-reason": "", "action": "save"})
    assert resp.status_code == 400
    assert re.search(r'id="s-0-reason-error"[^>]*>[^<]*\S', text(resp))


def test_the_test_run_says_what_a_reset_would_do_and_the_run_does_it(wf_dash):
    client, services = wf_dash
    engaged(client, services, ("ann@example.com", 3))
    ann = contact_id(services, "ann@example.com")
    client.put("/v1/workflows/over", headers=AUTH, json={
        "id": "over", "name": "Over", "trigger": {"type": "interaction", "on": "form.submitted"},
        "steps": [{"type": "reset_score", "profile": "engagement", "reason": "handed to sales"}]})
    page = text(post(client, "/dashboard/workflows/over/test-run", {"contact": "ann@"}))
    assert "would reset the score from 30 to 0" in page
    assert score_of(client, "ann@example.com", "engagement") == 30
    send(client, {"id": "f1", "type": "form.submitted", "contact": {"email": "ann@example.com"}})
    settle(services)
    assert score_of(client, "ann@example.com", "engagement") == 0
    ledger = text(client.get(f"/dashboard/contacts/{ann}")).split('id="ledger-title"', 1)[1]
    assert "Score reset to 0 by a workflow <em>handed to sales</em>" in ledger
