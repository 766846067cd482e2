"""Workflows: score and interaction triggers that run steps (owned by the workflows work).

Contract with the scoring core (app/engine.py, workers/jobs.py):
- ``interest(services) -> (profile_ids, interaction_types)``: what the trigger index wants
  to hear about; the scorer writes outbox events only for these.
- ``handle_events(services, events)``: called by the drain job with outbox events after
  they were committed; must be idempotent (a crash replays them).
"""
from __future__ import annotations

from typing import Any


def interest(services: Any) -> tuple[set[str], set[str]]:
    return set(), set()


def handle_events(services: Any, events: list[dict[str, Any]]) -> None:
    return None
