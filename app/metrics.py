"""``GET /metrics``: Prometheus text, rendered at scrape time from counters kept in Redis.

Why counters in Redis and a custom collector rather than prometheus-client's multiprocess
mode: the numbers come from gunicorn workers *and* RQ workers, which are separate processes,
may run in separate containers or hosts, and restart (gunicorn recycles workers, a killed RQ
worker is replaced). Multiprocess mode needs one shared directory per host, loses a dead
process's gauges, and resets everything when that directory is wiped; one web process cannot
see a worker on another host at all. Redis is already shared by every process, so each counter
is one ``HINCRBY`` on the stats hash (``Keys.stats``), sent in one pipeline per request or
batch, and any web process renders the same totals. Counters survive restarts (Prometheus
copes with resets anyway). Gauges — scoring lag, pending interactions, queue depths — are read
at scrape time, so they are never stale.

Auth: ``Authorization: Bearer TOKEN`` where TOKEN is ``SCOREKEEPER_METRICS_TOKEN`` (a token
that can read metrics and nothing else, for the Prometheus scrape config) or any API key.
With neither configured the endpoint answers 401, like ``/v1``.

Stats hash fields written here (names are the contract with the collector):
``ix|OUTCOME|SOURCE|TYPE`` interactions accepted, duplicate or rejected (at most
``MAX_CUSTOM_TYPE_LABELS`` ``custom.*`` types by name, the rest as ``custom.other``); ``runs|STATUS``
workflow runs started, succeeded, failed; ``deliveries|STATUS`` webhook delivery attempts by
the status they left the delivery in; ``hooks|PROVIDER|verify_failed`` and ``hooks|PROVIDER|skipped``
(written as ``hooks:PROVIDER:...`` before, still read); ``batches``, ``scored_entries``, ``batch_le|N`` and
``batch_seconds`` (written by ``count_batch``).
"""
from __future__ import annotations

import hmac
import logging
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from flask import Blueprint, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from .errors import Unauthorized
from .scoring.interactions import is_known_type
from .settings import api_keys

log = logging.getLogger(__name__)

bp = Blueprint("metrics", __name__)

#: Upper bounds of the scoring batch-size histogram, in interactions (``+Inf`` is implied).
BATCH_SIZE_BOUNDS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
OUTCOMES = ("accepted", "duplicate", "rejected")
#: ``custom.*`` interaction types counted under their own name, at most (the first ones seen); later ones
#: are counted together as ``custom.other``, so the stats stay bounded whatever types clients make up.
MAX_CUSTOM_TYPE_LABELS = 100
CUSTOM_OTHER = "custom.other"
_LABEL = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
SEP = "|"


# --- counting (called from the request and job paths) -------------------------------------------
def _label(value: Any, known: bool = True) -> str:
    """A label value that cannot explode cardinality: unknown or malformed values become ``invalid``."""
    return value if known and isinstance(value, str) and _LABEL.match(value) else "invalid"


def count_interactions(services: Any, outcomes: Iterable[tuple[str, str, str]]) -> None:
    """Add ``(outcome, source, type)`` occurrences to the interaction counters, in one round trip."""
    counts = Counter(outcomes)
    if not counts:
        return
    labels = {key: _label(key[2], is_known_type(key[2])) for key in counts}
    custom = {label for label in labels.values() if label.startswith("custom.")}
    admitted = services.stats.admit_custom_types(custom, MAX_CUSTOM_TYPE_LABELS) if custom else set()
    fields: Counter[str] = Counter()
    for (outcome, source, type_), n in counts.items():
        label = labels[(outcome, source, type_)]
        if label in custom and label not in admitted:
            label = CUSTOM_OTHER
        fields[SEP.join(("ix", outcome, _label(source), label))] += n
    services.stats.add(fields)


def count_rejected(services: Any, source: str, items: Any) -> None:
    """Count a rejected request's interactions by source and (claimed) type; best effort, never raises."""
    if isinstance(items, Mapping) and isinstance(items.get("interactions"), list):
        items = items["interactions"]
    elif not isinstance(items, list):
        items = [items]
    types = [item.get("type") if isinstance(item, Mapping) else None for item in items[:1000]]
    try:
        count_interactions(services, (("rejected", source, t) for t in types))
    except Exception:
        log.warning("metrics: could not count rejected interactions", exc_info=True)


def count(services: Any, field: str, amount: int = 1) -> None:
    """One counter of the stats hash; best effort (a metric never fails the work it counts)."""
    try:
        services.stats.add({field: amount})
    except Exception:
        log.warning("metrics: could not count %s", field, exc_info=True)


def count_verification_failure(services: Any, provider: str) -> None:
    count(services, SEP.join(("hooks", provider, "verify_failed")))


def count_skipped(services: Any, provider: str, amount: int) -> None:
    """Provider events received but not scored (not mapped)."""
    if amount:
        count(services, SEP.join(("hooks", provider, "skipped")), amount)


def count_run(services: Any, status: str, amount: int = 1) -> None:
    if amount:
        count(services, SEP.join(("runs", status)), amount)


def count_delivery(services: Any, status: str) -> None:
    count(services, SEP.join(("deliveries", status)))


def count_batch(services: Any, size: int, seconds: float) -> None:
    """Counters of one scored batch, for health and metrics."""
    services.stats.add({"batches": 1, "scored_entries": size, batch_size_field(size): 1,
                        "batch_seconds": round(seconds, 6)})


def batch_size_field(size: int) -> str:
    """The histogram bucket field of one batch size (non-cumulative; summed when rendered)."""
    for bound in BATCH_SIZE_BOUNDS:
        if size <= bound:
            return f"batch_le{SEP}{bound}"
    return f"batch_le{SEP}+Inf"


# --- rendering ----------------------------------------------------------------------------------
class StatsCollector(Collector):
    """Reads the stats hash and the live gauges from Redis at scrape time."""

    def __init__(self, services: Any):
        self.services = services

    def collect(self) -> Iterator[Any]:
        services = self.services
        stats = services.stats.all()
        yield from self._interactions(stats)
        yield from self._scoring(stats, services.partitions)
        yield from self._queues(services.queue.name, services.job_queue.counts())
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


def render(services: Any) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(services))
    return generate_latest(registry)


def require_metrics_token() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    presented = presented.strip()
    tokens = api_keys(current_app.config)
    metrics_token = str(current_app.config.get("METRICS_TOKEN") or "").strip()
    if metrics_token:
        tokens = [metrics_token, *tokens]
    found = False
    for token in tokens:  # constant time, no early exit
        found |= hmac.compare_digest(presented.encode(), token.encode())
    if scheme.lower() != "bearer" or not presented or not found:
        raise Unauthorized("A metrics token or API key is required: send 'Authorization: Bearer TOKEN'.")


@bp.get("/metrics")
def metrics() -> Response:
    from .services import get_services

    require_metrics_token()
    return Response(render(get_services()), mimetype=CONTENT_TYPE_LATEST.split(";")[0],
                    headers={"Content-Type": CONTENT_TYPE_LATEST})
