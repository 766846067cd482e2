"""``GET /metrics``: Prometheus text, rendered at scrape time from the counters of ``app.metrics``
(kept in Redis, so every web process renders the same totals) and from gauges read at scrape
time — scoring lag, pending interactions, queue depths — so those are never stale.

Auth: ``Authorization: Bearer TOKEN`` where TOKEN is ``SCOREKEEPER_METRICS_TOKEN`` (a token
that can read metrics and nothing else, for the Prometheus scrape config) or any key of
``SCOREKEEPER_API_KEYS`` (instance admins; stored keys, which belong to one workspace, do not open it).
Every series but the queue's carries a ``workspace`` label.
With neither configured the endpoint answers 401, like ``/v1``.
"""
from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.samples import Sample
from prometheus_client.registry import Collector, CollectorRegistry

from ..auth import key_is_valid
from ..errors import Unauthorized
from ..metrics import BATCH_SIZE_BOUNDS, SEP
from ..services import get_services
from ..settings import api_keys
from ..workspaces import every_workspace

bp = Blueprint("metrics", __name__)


class StatsCollector(Collector):
    """Reads the stats hash and the live gauges from Redis at scrape time, for every workspace: each series
    carries a ``workspace`` label (``default`` for the plain prefix), so no two workspaces' numbers ever add
    up in one series. The queue's gauges are the instance's (one queue serves every workspace)."""

    def __init__(self, services: Any, workspaces: list[Any] | None = None):
        self.services = services
        self.workspaces = workspaces if workspaces is not None else [services]

    def collect(self) -> Iterator[Any]:
        merged: dict[str, Metric] = {}
        for services in self.workspaces:
            for family in self._of_workspace(services):
                into = merged.setdefault(family.name, Metric(family.name, family.documentation, family.type))
                into.samples += [Sample(s.name, {**s.labels, "workspace": services.workspace}, s.value,
                                        s.timestamp, s.exemplar) for s in family.samples]
        yield from merged.values()
        yield from self._queues(self.services.queue.name, self.services.jobs.counts())

    def _of_workspace(self, services: Any) -> Iterator[Any]:
        stats = services.stats.all()
        yield from self._interactions(stats)
        yield from self._scoring(stats, services.partitions)
        yield from self._archive(services.archive_backlog.depths())
        yield from self._backfill(services.archive_backfill.position())
        yield from self._automation(stats)
        yield from self._hooks(stats)

    @staticmethod
    def _interactions(stats: Mapping[str, str]) -> Iterator[Any]:
        family = CounterMetricFamily("scorekeeper_interactions", "Interactions by outcome, source and type",
                                     labels=["outcome", "source", "type"])
        for field, value in sorted(stats.items()):
            parts = field.split(SEP)
            if len(parts) == 4 and parts[0] == "ix":
                family.add_metric(parts[1:], float(value))
        yield family

    @staticmethod
    def _scoring(stats: Mapping[str, str], store: Any) -> Iterator[Any]:
        oldest = store.oldest_pending_ms()
        lag = GaugeMetricFamily("scorekeeper_scoring_lag_seconds",
                                "Age of the oldest accepted interaction not yet scored (0 when none)")
        lag.add_metric([], max(0.0, time.time() - oldest / 1000) if oldest else 0.0)
        yield lag
        pending = GaugeMetricFamily("scorekeeper_pending_interactions", "Interactions waiting in each partition",
                                    labels=["partition"])
        for partition, depth in enumerate(store.partition_depths()):
            pending.add_metric([str(partition)], depth)
        yield pending
        buckets, cumulative = [], 0.0
        for bound in (*BATCH_SIZE_BOUNDS, "+Inf"):
            cumulative += float(stats.get(f"batch_le{SEP}{bound}", 0))
            buckets.append((str(bound), cumulative))
        batches = float(stats.get("batches", 0))
        buckets[-1] = ("+Inf", max(cumulative, batches))
        yield HistogramMetricFamily("scorekeeper_scoring_batch_size", "Stream entries per scoring batch",
                                    buckets=buckets, sum_value=float(stats.get("scored_entries", 0)))
        seconds = CounterMetricFamily("scorekeeper_scoring_batch_seconds", "Time spent scoring batches")
        seconds.add_metric([], float(stats.get("batch_seconds", 0)))
        yield seconds

    @staticmethod
    def _archive(backlog: list[int]) -> Iterator[Any]:
        waiting = GaugeMetricFamily("scorekeeper_archive_backlog",
                                    "Scored records waiting in Redis for the archive to return, per partition "
                                    "(docs/archive.md; 0 while the archive takes every batch)", labels=["partition"])
        for partition, depth in enumerate(backlog):
            waiting.add_metric([str(partition)], depth)
        yield waiting

    @staticmethod
    def _backfill(position: Any) -> Iterator[Any]:
        """The archive backfill's walk (app/archive_backfill.py): how far it went, whether it finished."""
        contacts = GaugeMetricFamily("scorekeeper_archive_backfill_contacts",
                                     "Contacts the archive backfill has visited (a contact read twice counts twice)")
        contacts.add_metric([], (position.counts or {}).get("contacts", 0))
        yield contacts
        finished = GaugeMetricFamily("scorekeeper_archive_backfill_finished",
                                     "1 once the archive backfill's walk over every contact has finished")
        finished.add_metric([], 1 if position.finished_at is not None else 0)
        yield finished

    @staticmethod
    def _queues(name: str, counts: Mapping[str, int]) -> Iterator[Any]:
        family = GaugeMetricFamily("scorekeeper_queue_jobs", "RQ jobs by state", labels=["queue", "state"])
        for state, count in counts.items():
            family.add_metric([name, state], count)
        yield family

    @staticmethod
    def _automation(stats: Mapping[str, str]) -> Iterator[Any]:
        runs = CounterMetricFamily("scorekeeper_workflow_runs", "Workflow runs started and finished, by status",
                                   labels=["status"])
        deliveries = CounterMetricFamily("scorekeeper_webhook_deliveries",
                                         "Webhook delivery attempts, by the delivery's status after each",
                                         labels=["status"])
        for field, value in sorted(stats.items()):
            kind, _, status = field.partition(SEP)
            if kind == "runs" and status:
                runs.add_metric([status], float(value))
            elif kind == "deliveries" and status:
                deliveries.add_metric([status], float(value))
        yield runs
        yield deliveries

    @staticmethod
    def _hooks(stats: Mapping[str, str]) -> Iterator[Any]:
        failures = CounterMetricFamily("scorekeeper_webhook_verification_failures",
                                       "Provider webhooks refused because the signature did not verify",
                                       labels=["provider"])
        skipped = CounterMetricFamily("scorekeeper_webhook_events_skipped",
                                      "Provider events received but not scored (not mapped)", labels=["provider"])
        totals: dict[tuple[str, str], float] = {}
        for field, value in stats.items():
            parts = field.replace(":", SEP).split(SEP)  # ':' is how these fields were written before
            if len(parts) == 3 and parts[0] == "hooks":
                totals[(parts[2], parts[1])] = totals.get((parts[2], parts[1]), 0.0) + float(value)
        for (kind, provider), value in sorted(totals.items()):
            if kind == "verify_failed":
                failures.add_metric([provider], value)
            elif kind == "skipped":
                skipped.add_metric([provider], value)
        yield failures
        yield skipped


def render(services: Any, workspaces: list[Any] | None = None) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(services, workspaces))
    return generate_latest(registry)


def require_metrics_token() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    tokens = api_keys(current_app.config)
    metrics_token = str(current_app.config.get("METRICS_TOKEN") or "").strip()
    if metrics_token:
        tokens = [metrics_token, *tokens]
    if scheme.lower() != "bearer" or not presented or not key_is_valid(presented, tokens):
        raise Unauthorized("A metrics token or API key is required: send 'Authorization: Bearer TOKEN'.")


@bp.get("/metrics")
def metrics() -> Response:
    require_metrics_token()
    services = get_services()
    return Response(render(services, every_workspace(services)), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
