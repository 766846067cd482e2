"""Counters kept in Redis (the stats hash), added to from the request and job paths; the
``/metrics`` endpoint (``app/api/metrics.py``) renders them.

Why counters in Redis rather than prometheus-client's multiprocess mode: the numbers come from
gunicorn workers *and* RQ workers, which are separate processes, may run in separate containers
or hosts, and restart (gunicorn recycles workers, a killed RQ worker is replaced). Multiprocess
mode needs one shared directory per host, loses a dead process's gauges, and resets everything
when that directory is wiped; one web process cannot see a worker on another host at all. Redis
is already shared by every process, so each counter is one ``HINCRBY`` on the stats hash
(``Keys.stats``), sent in one pipeline per request or batch, and any web process renders the
same totals. Counters survive restarts (Prometheus copes with resets anyway).

Stats hash fields written here (names are the contract with the collector):
``ix|OUTCOME|SOURCE|TYPE`` interactions accepted, duplicate or rejected (at most
``MAX_CUSTOM_TYPE_LABELS`` ``custom.*`` types by name, the rest as ``custom.other``); ``runs|STATUS``
workflow runs started, succeeded, failed; ``deliveries|STATUS`` webhook delivery attempts by
the status they left the delivery in; ``hooks|PROVIDER|verify_failed`` and ``hooks|PROVIDER|skipped``
(written as ``hooks:PROVIDER:...`` before, still read); ``batches``, ``scored_entries``, ``batch_le|N``
and ``batch_seconds`` (``count_batch``).
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .scoring.interactions import is_known_type

log = logging.getLogger(__name__)

#: Upper bounds of the scoring batch-size histogram, in interactions (``+Inf`` is implied).
BATCH_SIZE_BOUNDS = (1, 10, 50, 100, 250, 500, 1000, 2500, 5000)
OUTCOMES = ("accepted", "duplicate", "rejected")
#: ``custom.*`` interaction types counted under their own name, at most (the first ones seen); later ones
#: are counted together as ``custom.other``, so the stats stay bounded whatever types clients make up.
MAX_CUSTOM_TYPE_LABELS = 100
CUSTOM_OTHER = "custom.other"
_LABEL = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
#: The one separator inside stats field names.
SEP = "|"


# --- counting (called from the request and job paths) -------------------------------------------
def _label(value: Any, known: bool = True) -> str:
    """A label value that cannot explode cardinality: unknown or malformed values become ``invalid``."""
    return value if known and isinstance(value, str) and _LABEL.fullmatch(value) else "invalid"


def count_interactions(services: Any, outcomes: Iterable[tuple[str, str, str]]) -> None:
    """Add ``(outcome, source, type)`` occurrences to the interaction counters, in one round trip."""
    counts = Counter(outcomes)
    if not counts:
        return
    labels = _type_labels(services, {type_ for _outcome, _source, type_ in counts})
    fields: Counter[str] = Counter()
    for (outcome, source, type_), n in counts.items():
        fields[_interaction_field(outcome, source, labels[type_])] += n
    services.stats.add(fields)


def interaction_fields(services: Any, kinds: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The counter fields of interactions of these ``(source, type)``s, accepted and as duplicates: for the
    ingest script, which counts each interaction with its outcome (``count_interactions``'s fields)."""
    labels = _type_labels(services, {type_ for _source, type_ in kinds})
    return [(_interaction_field("accepted", source, labels[type_]),
             _interaction_field("duplicate", source, labels[type_])) for source, type_ in kinds]


def _type_labels(services: Any, types: Iterable[str]) -> dict[str, str]:
    """Each type's label: itself when known (or a ``custom.*`` type admitted by name), else ``invalid`` or
    ``custom.other``."""
    labels = {type_: _label(type_, is_known_type(type_)) for type_ in types}
    custom = {label for label in labels.values() if label.startswith("custom.")}
    admitted = services.stats.admit_custom_types(custom, MAX_CUSTOM_TYPE_LABELS) if custom else set()
    return {type_: CUSTOM_OTHER if label in custom and label not in admitted else label
            for type_, label in labels.items()}


def _interaction_field(outcome: str, source: str, label: str) -> str:
    return SEP.join(("ix", outcome, _label(source), label))


def skipped_field(provider: str) -> str:
    """The counter field of a provider's events received but not scored."""
    return SEP.join(("hooks", provider, "skipped"))


def count_rejected(services: Any, source: str, items: Any) -> None:
    """Count a rejected request's interactions by source and (claimed) type; best effort, never raises."""
    if isinstance(items, Mapping) and isinstance(items.get("interactions"), list):
        items = items["interactions"]
    elif not isinstance(items, list):
        items = [items]
    # the claimed type is a label only when it is text: an object or a list sent as the type counts as none
    types = [item.get("type") if isinstance(item, Mapping) and isinstance(item.get("type"), str) else None
             for item in items[:1000]]
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
        count(services, skipped_field(provider), amount)


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
