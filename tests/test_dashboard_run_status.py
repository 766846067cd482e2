"""The dashboard shows a run's delivery outcome as the API does: ``delivering`` while its webhook
delivery is in flight, ``failed`` once it is dead (refused by the SSRF guard, or retries spent), and
never ``succeeded`` for a run whose delivery did not succeed."""
from __future__ import annotations

import re

import pytest

from .dashboard_helpers import sign_in
from .helpers import AUTH
from .workflow_helpers import FAST, Reply, delivery_of, fire, run_now, settled

pytestmark = pytest.mark.app_settings(**FAST)


def badges(page: str) -> list[str]:
    """The status badges of a page, in order."""
    return re.findall(r'<span class="badge s-([a-z_]+)"', page)


def shown(dash, run: dict) -> tuple[list[str], list[str]]:
    """The badges of the run's page (run, then its step) and of the workflow's runs table (run, then step)."""
    run_page = dash.get(f"/dashboard/runs/{run['id']}").get_data(as_text=True)
    workflow_page = dash.get("/dashboard/workflows/hot").get_data(as_text=True)
    table = workflow_page[workflow_page.index('<table class="runs">'):]
    return badges(run_page), badges(table)


def test_a_run_in_flight_reads_delivering_then_follows_its_delivery(client, services, receiver):
    dash = client.application.test_client()
    assert sign_in(dash).status_code == 302
    run = fire(client, services, receiver.on("/crm", Reply(500)))
    settled(client, services, run, "dead")
    assert shown(dash, run) == (["failed", "failed"], ["failed", "failed"])

    receiver.on("/crm", Reply(204))
    assert client.post(f"/v1/deliveries/{delivery_of(client, run)['id']}/redeliver", headers=AUTH).status_code == 202
    assert run_now(client, run)["status"] == "delivering"
    assert shown(dash, run) == (["delivering", "delivering"], ["delivering", "delivering"])
    page = dash.get(f"/dashboard/runs/{run['id']}").get_data(as_text=True)
    assert 'data-testid="run-delivering"' in page and 'title="The steps ran; a webhook delivery' in page

    settled(client, services, run, "succeeded")
    assert shown(dash, run) == (["succeeded", "succeeded"], ["succeeded", "succeeded"])


def test_a_run_whose_delivery_the_ssrf_guard_refused_never_reads_succeeded(make_app, receiver):
    app = make_app(**{**FAST, "OUTBOUND_ALLOW": ""})
    api, dash = app.test_client(), app.test_client()
    assert sign_in(dash).status_code == 302
    with app.app_context():
        run = fire(api, app.extensions["scorekeeper"], receiver.on("/crm", Reply(200)))
        settled(api, app.extensions["scorekeeper"], run, "dead")
    assert run_now(api, run)["status"] == "failed"
    assert shown(dash, run) == (["failed", "failed"], ["failed", "failed"])
    page = dash.get(f"/dashboard/runs/{run['id']}").get_data(as_text=True)
    assert "refused" in page and not receiver.hits("/crm")
