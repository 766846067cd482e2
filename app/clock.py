"""What time it is, asked in one place so that tests can say.

Decisions that depend on the time — which expiries are due, which ingest period an id is
remembered in, whether a wait or a retry is due — ask the services' ``clock``. Production
uses ``SystemClock``; a test passes its own (``create_app({"CLOCK": clock})``) and moves it
explicitly, so the answer does not depend on how fast the machine is.
"""
from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ms(self) -> int:
        """Milliseconds since the epoch, UTC."""
        ...


def now_ms() -> int:
    """The machine's wall clock, in milliseconds since the epoch (UTC): the one definition. Decisions that
    tests must be able to steer ask ``services.clock`` instead; this is for timestamps on records."""
    return int(time.time() * 1000)


class SystemClock:
    """The machine's wall clock."""

    def now_ms(self) -> int:
        return now_ms()
