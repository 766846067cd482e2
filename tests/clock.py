"""A clock the test moves by hand (the app asks ``services.clock`` whenever the time decides)."""
from __future__ import annotations

#: Where the ``clock`` fixture starts: 2023-11-14T22:13:20Z, a whole number of 100 s periods.
CLOCK_START = 1_700_000_000_000


class ManualClock:
    """Stands still until ``advance`` moves it."""

    def __init__(self, now_ms: int):
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms
