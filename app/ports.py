"""The ports: what lower layers need from higher ones, as interfaces wired once at start-up.

Scoring must tell workflows what changed, workflow steps must change scores, and everyone must
queue jobs — without importing the modules that do those things (which import them back).
``create_app`` plugs the implementations into ``Services``; until then, the defaults below stand.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from .scoring.events import NO_INTEREST, Event, Interest


class EventSink(Protocol):
    """Who listens to scoring: asked what it wants to hear about, then given the committed events."""

    def interest(self) -> Interest: ...

    def handle(self, events: Sequence[Event]) -> None:
        """Called after the events were committed; must be idempotent (a crash replays them)."""


class NoListener:
    """The sink before one is registered: wants nothing."""

    def interest(self) -> Interest:
        return NO_INTEREST

    def handle(self, events: Sequence[Event]) -> None:
        return None


class ScoreChanger(Protocol):
    """Set or add to a contact's live score now; returns the new score."""

    def __call__(self, contact_id: str, profile_id: str, op: str, value: int, reason: str,
                 depth: int = 0, source: str = "manual") -> int: ...


class JobPort(Protocol):
    """Queueing the app's jobs (implemented by ``app.jobs.Jobs``)."""

    def drain_partition(self, partition: int) -> None: ...

    def publish_profile(self, profile_id: str, version: int, job_id: str, fire_triggers: bool,
                        split: bool = True) -> None: ...

    def publish_parts(self, profile_id: str, version: int, job_id: str, fire_triggers: bool,
                      parts: int | Sequence[int]) -> None: ...

    def retire_version(self, profile_id: str, version: int, once: str | None = None) -> None:
        """Queue a version's retirement; with ``once`` (an RQ job id), not while a job of that id is known."""

    def evaluate_profile(self, job_id: str) -> None: ...

    def recheck_lists(self) -> None:
        """Decide again for every contact whether profiles with include/exclude lists score it."""

    def start_runs(self, run_ids: Sequence[str]) -> None: ...

    def resume_run(self, run_id: str, delay_ms: int, job_id: str) -> None: ...

    def attempt_delivery(self, delivery_id: str, cycle: int, try_number: int, delay_seconds: float,
                         job_id: str) -> None: ...

    def delete_workspace(self, workspace: str, job_id: str) -> None: ...


class Unwired:
    """A port used before ``create_app`` wired it: says so instead of failing obscurely."""

    def __init__(self, name: str):
        self.name = name

    def __getattr__(self, attribute: str):
        raise RuntimeError(f"services.{self.name} is wired by create_app(); build the app first")

    def __call__(self, *args: object, **kwargs: object) -> int:
        raise RuntimeError(f"services.{self.name} is wired by create_app(); build the app first")
