"""Webhook deliveries: signed with Standard Webhooks, retried on a schedule, dead-lettered.

A delivery's id is its ``webhook-id``: the same on every attempt and redelivery, so the
receiver can drop duplicates. Each attempt is signed afresh (new ``webhook-timestamp``).
Only 2xx is success. Redirects are not followed (a 3xx fails). 410 disables the endpoint.
429, 5xx, timeouts and connection errors are retried after a delay drawn with full jitter
from the schedule, never sooner than ``Retry-After``; after the last retry the delivery is
dead-lettered. Other 4xx and refused destinations fail at once (and are dead-lettered).
"""
from __future__ import annotations

import email.utils
import hashlib
import logging
import random
import time
from datetime import UTC, datetime
from collections.abc import Sequence
from typing import Any

import requests
from standardwebhooks import Webhook

from ..metrics import count_delivery
from ..outbound import OutboundRefused, session_for
from ..storage.redis_tools import dumps
from ..settings import setting
from .defaults import (
    RESPONSE_EXCERPT_CHARS,
    RETRY_AFTER_MAX_SECONDS,
    RUN_JOB_TIMEOUT_SECONDS,
    parse_schedule,
)
from ..clock import now_ms

log = logging.getLogger(__name__)

#: Delivery states; ``dead`` deliveries are in the dead letters.
PENDING, RETRYING, SUCCEEDED, DEAD = "pending", "retrying", "succeeded", "dead"
IN_FLIGHT = frozenset({PENDING, RETRYING})
#: An attempt job may start this early (the RQ scheduler's resolution is a second), in milliseconds;
#: earlier than that it re-schedules itself for the rest of the delay.
EARLY_TOLERANCE_MS = 20
#: A delivery whose first attempt its run job makes, unattempted this long after it was created (longer than a run
#: job may run: its worker died), has that attempt queued by the ticker, in milliseconds.
AWAITING_GRACE_MS = (RUN_JOB_TIMEOUT_SECONDS + 60) * 1000


def delivery_id_for(run_id: str, step_index: int) -> str:
    return "msg_" + hashlib.sha256(f"{run_id}:{step_index}".encode()).hexdigest()[:32]


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds from now (delta seconds or an HTTP date), capped; None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, min(seconds, float(RETRY_AFTER_MAX_SECONDS)))


def next_delay(schedule: list[float], retry_number: int, retry_after: float | None,
               rng: random.Random | None = None) -> float:
    """Seconds before retry ``retry_number`` (1-based): full jitter over the scheduled delay, at least Retry-After."""
    ceiling = schedule[retry_number - 1]
    delay = (rng or random).uniform(0, ceiling)
    return max(delay, retry_after or 0.0)


def classify(status: int) -> str:
    """``success``, ``retry``, ``gone`` or ``fail`` for an HTTP status."""
    if 200 <= status < 300:
        return "success"
    if status == 410:
        return "gone"
    if status == 429 or status >= 500:
        return "retry"
    return "fail"


def create_delivery(services: Any, run: dict[str, Any], step_index: int, step: dict[str, Any],
                    payload: dict[str, Any], attempt_later: list[str] | None = None) -> str:
    """Store the delivery of a webhook step (once per run and step) and enqueue its first attempt; or, given
    ``attempt_later`` (the run job's list), add it there for the run job to attempt when its steps are done
    (``attempt_first``), listed meanwhile among the deliveries awaiting their first attempt."""
    store = services.automation
    delivery_id = delivery_id_for(run["id"], step_index)
    created = now_ms()
    delivery = {
        "id": delivery_id, "run_id": run["id"], "workflow_id": run["workflow"]["id"], "step": step_index,
        "url": step["url"], "headers": dict(step.get("headers") or {}), "secret": step["secret"],
        "body": dumps(payload), "status": PENDING, "cycle": 0, "tries": 0, "attempts": [], "error": None,
        "next_attempt_at": created, "created_at": created, "updated_at": created,
    }
    if store.create_delivery(delivery, awaiting=attempt_later is not None):
        if attempt_later is not None:
            attempt_later.append(delivery_id)
        else:
            enqueue_attempt(services, delivery_id, 0, 1, 0.0)
    return delivery_id


def attempt_first(services: Any, delivery_ids: Sequence[str]) -> None:
    """The first attempt of each delivery a run job created, made by that job once its steps are done (one RQ job
    and one wait in the queue fewer per webhook step than queueing it). Retries are queued as ever. Should the job
    end before recording an attempt (its worker died), ``queue_awaiting`` queues it later."""
    for delivery_id in delivery_ids:
        attempt(services, delivery_id, 0, 1)


def queue_awaiting(services: Any, now: int, grace_ms: int = AWAITING_GRACE_MS) -> int:
    """Queue the first attempt of deliveries created more than ``grace_ms`` ago whose run job never recorded one
    (the worker's ticker calls this); returns how many. The grace outlasts any run job (its time limit), so a job
    still running is not raced."""
    store = services.automation
    delivery_ids = store.awaiting_attempt(now - grace_ms)
    for delivery_id in delivery_ids:
        enqueue_attempt(services, delivery_id, 0, 1, 0.0, suffix="awaited")
    store.forget_awaiting(delivery_ids)
    if delivery_ids:
        log.warning("first attempts queued for deliveries their run job left", extra={"deliveries": len(delivery_ids)})
    return len(delivery_ids)


def enqueue_attempt(services: Any, delivery_id: str, cycle: int, try_number: int, delay_seconds: float,
                    suffix: str = "") -> None:
    job_id = f"{delivery_id}-{cycle}-{try_number}" + (f"-{suffix}" if suffix else "")
    services.enqueue.attempt_delivery(delivery_id, cycle, try_number, delay_seconds, job_id)


def signed_headers(delivery: dict[str, Any], at: datetime) -> dict[str, str]:
    signature = Webhook(delivery["secret"]).sign(delivery["id"], at, delivery["body"])
    headers = dict(delivery.get("headers") or {})
    headers.update({"content-type": "application/json", "webhook-id": delivery["id"],
                    "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature,
                    "user-agent": "Scorekeeper-Webhooks/1"})
    return headers


def attempt(services: Any, delivery_id: str, cycle: int, try_number: int) -> dict[str, Any] | None:
    """Make one attempt of a delivery, log it, and schedule the next or settle the delivery.

    A job whose (cycle, try) is not the delivery's next one is stale (a duplicate) and does nothing.
    """
    store = services.automation
    delivery = store.get_delivery(delivery_id)
    if delivery is None or delivery["status"] not in IN_FLIGHT:
        return delivery
    if delivery["cycle"] != cycle or delivery["tries"] + 1 != try_number:
        return delivery
    early_ms = (delivery.get("next_attempt_at") or 0) - now_ms()
    if early_ms > EARLY_TOLERANCE_MS:  # the RQ scheduler works in whole seconds: wait out the rest
        delivery["early_jobs"] = int(delivery.get("early_jobs") or 0) + 1
        store.save_delivery(delivery)
        enqueue_attempt(services, delivery_id, cycle, try_number, early_ms / 1000,
                        suffix=f"e{delivery['early_jobs']}")
        return delivery
    settings = services.settings
    schedule = parse_schedule(setting(settings, "WEBHOOK_RETRY_SCHEDULE"))
    timeout = float(setting(settings, "WEBHOOK_TIMEOUT_SECONDS"))
    started_at = now_ms()
    record: dict[str, Any] = {"n": len(delivery["attempts"]) + 1, "cycle": cycle, "try": try_number,
                              "at": started_at, "status_code": None, "duration_ms": None, "error": None,
                              "response_excerpt": None}
    outcome, retry_after = "fail", None
    disabled = store.endpoint_disabled(delivery["url"])
    began = time.perf_counter()
    if disabled:
        record["error"] = f"endpoint disabled: it answered 410 Gone (delivery {disabled.get('delivery_id')})"
    else:
        session = session_for(settings)
        try:
            at = datetime.now(tz=UTC)
            response = session.post(delivery["url"], data=delivery["body"].encode(),
                                    headers=signed_headers(delivery, at), timeout=timeout, allow_redirects=False)
            record["status_code"] = response.status_code
            record["response_excerpt"] = response.text[:RESPONSE_EXCERPT_CHARS]
            outcome = classify(response.status_code)
            if 300 <= response.status_code < 400:
                record["error"] = f"redirect to {response.headers.get('location', '?')!r} not followed"
            elif outcome != "success":
                record["error"] = f"HTTP {response.status_code}"
            retry_after = retry_after_seconds(response.headers.get("retry-after"))
            response.close()
        except OutboundRefused as error:
            record["error"] = f"refused: {error}"
        except requests.Timeout:
            outcome, record["error"] = "retry", f"timed out after {timeout:g} s"
        except requests.ConnectionError as error:
            outcome, record["error"] = "retry", f"connection failed: {type(error).__name__}"
        except requests.RequestException as error:
            record["error"] = f"request failed: {error}"
        finally:
            session.close()
    record["duration_ms"] = int((time.perf_counter() - began) * 1000)
    delivery["attempts"].append(record)
    delivery["tries"] = try_number
    delivery["error"] = record["error"]
    dead: bool | None = None
    if outcome == "success":
        delivery["status"], delivery["next_attempt_at"] = SUCCEEDED, None
    elif outcome == "retry" and try_number <= len(schedule):
        delay = next_delay(schedule, try_number, retry_after)
        delivery["status"] = RETRYING
        delivery["next_attempt_at"] = started_at + int(delay * 1000)
    else:
        if outcome == "gone":
            store.disable_endpoint(delivery["url"], {"at": started_at, "delivery_id": delivery_id})
            delivery["error"] = "HTTP 410 Gone: endpoint disabled"
        delivery["status"], delivery["next_attempt_at"], dead = DEAD, None, True
    store.save_delivery(delivery, dead=dead)
    count_delivery(services, delivery["status"])
    log.info("webhook attempt", extra={"delivery_id": delivery_id, "status_code": record["status_code"],
                                       "duration_ms": record["duration_ms"], "outcome": delivery["status"],
                                       "error": record["error"]})
    if delivery["status"] == RETRYING:
        enqueue_attempt(services, delivery_id, cycle, try_number + 1,
                        (delivery["next_attempt_at"] - now_ms()) / 1000)
    return delivery


def redeliver(services: Any, delivery: dict[str, Any]) -> dict[str, Any]:
    """Start a new cycle of attempts (same webhook-id); re-enables an endpoint disabled by a 410."""
    store = services.automation
    store.enable_endpoint(delivery["url"])
    delivery["cycle"] += 1
    delivery["tries"] = 0
    delivery["status"] = PENDING
    delivery["error"] = None
    delivery["next_attempt_at"] = now_ms()
    store.save_delivery(delivery, dead=False)
    enqueue_attempt(services, delivery["id"], delivery["cycle"], 1, 0.0)
    return delivery


def public_delivery(delivery: dict[str, Any]) -> dict[str, Any]:
    """The API form: no secret, the body as JSON."""
    from ..storage.redis_tools import loads

    out = {k: v for k, v in delivery.items() if k not in ("secret", "body", "cycle", "tries", "early_jobs")}
    out["payload"] = loads(delivery["body"])
    out["attempt_count"] = len(delivery["attempts"])
    return out
