"""A clock the test moves by hand (the app asks ``services.clock`` whenever the time decides)."""
from __future__ import annotations


class ManualClock:
    """Stands still until ``advance`` moves it."""

    def __init__(self, now_ms: int):
        self.ms = now_ms

    def now_ms(self) -> int:
        return self.ms

    def advance(self, ms: int) -> None:
        self.ms += ms
