"""Durations written as a number and a unit: rule windows and expiries (``30s``, ``15m``, ``2h``,
``30d``, ``1w``: whole numbers) and retry delays (``500ms``, ``5s``, ``1.5h``: decimals allowed).
One table of units serves both. Durations a user sends are at most ten years (``MAX_DURATION_MS``)."""
from __future__ import annotations

import re

#: Milliseconds per unit.
UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*([0-9]+)\s*(s|m|h|d|w)\s*$")
#: The units of a duration (rules, limits, waits): whole numbers of these.
DURATION_UNITS = ("s", "m", "h", "d", "w")
#: The longest duration anywhere (rule expiry, limit windows, waits): ten years of 365 days, in ms.
MAX_DURATION_MS = 3650 * 86_400_000
MAX_DURATION_TEXT = "3650d"
_DELAY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


def parse_duration_ms(text: str, *, bounded: bool = True) -> int:
    """Milliseconds in ``text`` (a whole number of s, m, h, d or w); raises ValueError with a readable message.

    ``bounded=False`` reads what is already stored (a rule saved before the maximum existed keeps
    working); everything a user sends is checked with the bound.
    """
    match = _DURATION.match(str(text)) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a duration: {text!r} (use an integer followed by s, m, h, d or w, e.g. '30d')")
    value = int(match.group(1)) * UNIT_MS[match.group(2)]
    if value <= 0:
        raise ValueError("a duration must be positive")
    if bounded and value > MAX_DURATION_MS:
        raise ValueError(f"a duration is at most {MAX_DURATION_TEXT} (ten years)")
    return value


def parse_delay_seconds(text: str) -> float:
    """Seconds in ``text`` (a number of ms, s, m, h or d); raises ValueError naming it otherwise."""
    match = _DELAY.match(str(text))
    if not match:
        raise ValueError(f"not a delay: {text!r} (use a number followed by ms, s, m, h or d)")
    return float(match.group(1)) * UNIT_MS[match.group(2)] / 1000
