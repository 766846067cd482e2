"""GET /metrics: Prometheus text from counters shared in Redis, behind a bearer token; request ids."""
from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .helpers import AUTH, drain_all, send
from .hook_builders import dumps, sign_stripe, stripe_event, stripe_payment_intent
from .workflow_helpers import FAST, interact, put_workflow, setup_profile

METRICS_TOKEN = "scrape-token"
STRIPE_SECRET = "whsec_metrics_test_secret"


pytestmark = pytest.mark.app_settings(METRICS_TOKEN=METRICS_TOKEN, STRIPE_SECRET=STRIPE_SECRET)


def scrape(client, headers=None) -> dict[str, float]:
    """Every sample as ``name{label=value,...}`` -> value."""
    resp = client.get("/metrics", headers=headers or {"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    assert resp.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(resp.get_data(as_text=True)):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            samples[f"{s.name}{{{labels}}}"] = s.value
    return samples


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no-token"),
    pytest.param({"Authorization": "Bearer wrong"}, id="wrong-token"),
    pytest.param({"Authorization": f"Basic {METRICS_TOKEN}"}, id="not-bearer"),
])
def test_metrics_need_the_metrics_token_or_an_api_key(client, headers):
    assert client.get("/metrics", headers=headers).status_code == 401


@pytest.mark.parametrize("headers", [
    pytest.param({"Authorization": f"Bearer {METRICS_TOKEN}"}, id="metrics-token"),
    pytest.param(AUTH, id="api-key"),
])
def test_metrics_accept_the_metrics_token_and_api_keys(client, headers):
    assert "scorekeeper_scoring_lag_seconds{workspace=default}" in scrape(client, headers)


def test_interactions_are_counted_by_outcome_source_and_type(client):
    send(client, {"id": "a", "type": "email.opened", "contact": {"email": "m@x.io"}},
         {"id": "b", "type": "email.clicked", "contact": {"email": "m@x.io"}})
    send(client, {"id": "a", "type": "email.opened", "contact": {"email": "m@x.io"}})
    send(client, {"id": "c", "type": "email.nope", "contact": {"email": "m@x.io"}}, expect=400)
    samples = scrape(client)
    assert samples["scorekeeper_interactions_total{outcome=accepted,source=api,type=email.opened,workspace=default}"] == 1
    assert samples["scorekeeper_interactions_total{outcome=accepted,source=api,type=email.clicked,workspace=default}"] == 1
    assert samples["scorekeeper_interactions_total{outcome=duplicate,source=api,type=email.opened,workspace=default}"] == 1
    assert samples["scorekeeper_interactions_total{outcome=rejected,source=api,type=invalid,workspace=default}"] == 1


def test_a_rejected_interaction_whose_type_is_an_object_or_a_list_counts_as_invalid(client):
    send(client, {"id": "d", "type": {"$gt": ""}, "contact": {"email": "m@x.io"}}, expect=400)
    send(client, {"id": "e", "type": ["email.opened"], "contact": {"email": "m@x.io"}}, expect=400)
    assert scrape(client)["scorekeeper_interactions_total{outcome=rejected,source=api,type=invalid,workspace=default}"] == 2


def test_pending_interactions_and_lag_until_scored_then_batch_sizes(client, services):
    send(client, *[{"id": f"i{n}", "type": "email.opened", "contact": {"email": f"p{n}@x.io"}} for n in range(3)])
    before = scrape(client)
    assert sum(v for k, v in before.items() if k.startswith("scorekeeper_pending_interactions{")) == 3
    assert before["scorekeeper_scoring_lag_seconds{workspace=default}"] >= 0
    drain_all(services)
    after = scrape(client)
    assert sum(v for k, v in after.items() if k.startswith("scorekeeper_pending_interactions{")) == 0
    assert after["scorekeeper_scoring_lag_seconds{workspace=default}"] == 0
    assert after["scorekeeper_scoring_batch_size_sum{workspace=default}"] == 3
    assert after["scorekeeper_scoring_batch_size_count{workspace=default}"] >= 1
    assert after["scorekeeper_scoring_batch_size_bucket{le=+Inf,workspace=default}"] == after["scorekeeper_scoring_batch_size_count{workspace=default}"]
    assert "scorekeeper_queue_jobs{queue=scorekeeper,state=queued}" in after


def test_webhook_verification_failures_are_counted_by_provider(client):
    raw = dumps(stripe_event("payment_intent.succeeded", stripe_payment_intent()))
    headers = sign_stripe(raw, "whsec_some_other_secret", int(time.time()))
    assert client.post("/hooks/stripe", data=raw, headers=headers).status_code == 401
    assert scrape(client)["scorekeeper_webhook_verification_failures_total{provider=stripe,workspace=default}"] == 1


def test_webhook_counters_written_with_the_old_separator_still_count(client, services):
    """Before one separator, webhook counters were written as ``hooks:PROVIDER:...``: they add up."""
    services.redis.hset(services.keys.stats(), mapping={"hooks:stripe:verify_failed": 2, "hooks:tally:skipped": 3})
    raw = dumps(stripe_event("payment_intent.succeeded", stripe_payment_intent()))
    headers = sign_stripe(raw, "whsec_some_other_secret", int(time.time()))
    assert client.post("/hooks/stripe", data=raw, headers=headers).status_code == 401
    scraped = scrape(client)
    assert scraped["scorekeeper_webhook_verification_failures_total{provider=stripe,workspace=default}"] == 3
    assert scraped["scorekeeper_webhook_events_skipped_total{provider=tally,workspace=default}"] == 3


@pytest.mark.app_settings(**FAST)
def test_workflow_runs_are_counted_by_status(client, services):
    setup_profile(client, services)
    put_workflow(client, {"id": "tag", "name": "Tag", "trigger": {"type": "interaction", "on": "form.submitted",
                                                                  "reentry": True},
                          "steps": [{"type": "add_tag", "tag": "seen"}]})
    interact(client, services, "r@x.io", "form.submitted", "f1")
    samples = scrape(client, AUTH)
    assert samples["scorekeeper_workflow_runs_total{status=started,workspace=default}"] == 1
    assert samples["scorekeeper_workflow_runs_total{status=succeeded,workspace=default}"] == 1


def test_every_response_carries_a_request_id_and_a_safe_incoming_one_is_kept(client):
    assert len(client.get("/healthz").headers["X-Request-ID"]) == 32
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    assert client.get("/healthz", headers={"X-Request-ID": "bad id;x"}).headers["X-Request-ID"] != "bad id;x"


def test_custom_types_past_the_cap_are_counted_together_so_the_stats_stay_bounded(client, monkeypatch):
    from app import metrics

    monkeypatch.setattr(metrics, "MAX_CUSTOM_TYPE_LABELS", 5)
    send(client, *({"id": f"e{i}", "type": f"custom.kind{i}", "contact": {"email": "m@x.io"}} for i in range(8)))
    send(client, {"id": "again", "type": "custom.kind0", "contact": {"email": "m@x.io"}},
         {"id": "late", "type": "custom.kind7", "contact": {"email": "m@x.io"}})
    samples = scrape(client)
    own = sorted(k for k in samples if k.startswith("scorekeeper_interactions_total{outcome=accepted")
                 and "type=custom.kind" in k)
    assert own == [f"scorekeeper_interactions_total{{outcome=accepted,source=api,type=custom.kind{i},workspace=default}}"
                   for i in range(5)]
    assert samples["scorekeeper_interactions_total{outcome=accepted,source=api,type=custom.kind0,workspace=default}"] == 2
    assert samples["scorekeeper_interactions_total{outcome=accepted,source=api,type=custom.other,workspace=default}"] == 4


def test_each_workspace_counts_in_its_own_series_and_stored_keys_cannot_scrape(client):
    assert client.post("/v1/workspaces", json={"id": "acme", "name": "Acme"}, headers=AUTH).status_code == 201
    acme = {**AUTH, "X-Scorekeeper-Workspace": "acme"}
    send(client, {"id": "a", "type": "email.opened", "contact": {"email": "m@x.io"}})
    for n in range(2):
        assert client.post("/v1/interactions", headers=acme, json={
            "id": f"b{n}", "type": "email.opened", "contact": {"email": "m@x.io"}}).status_code == 202
    samples = scrape(client)
    opened = "scorekeeper_interactions_total{outcome=accepted,source=api,type=email.opened,workspace=%s}"
    assert samples[opened % "default"] == 1 and samples[opened % "acme"] == 2
    pending = {w: sum(v for k, v in samples.items()
                      if k.startswith("scorekeeper_pending_interactions{") and f"workspace={w}}}" in k)
               for w in ("default", "acme")}
    assert pending == {"default": 1, "acme": 2}
    key = client.post("/v1/keys", json={"name": "k", "scopes": ["admin"]}, headers=acme).get_json()["key"]
    assert client.get("/metrics", headers={"Authorization": f"Bearer {key}"}).status_code == 401
