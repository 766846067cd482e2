"""Durations written as ``<int><unit>`` (``30s``, ``15m``, ``2h``, ``30d``, ``1w``)."""
from __future__ import annotations

import re

_UNITS_MS = {"s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")


def parse_duration_ms(text: str) -> int:
    """Milliseconds in ``text``; raises ValueError with a readable message otherwise."""
    match = _PATTERN.match(str(text)) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"not a duration: {text!r} (use an integer followed by s, m, h, d or w, e.g. '30d')")
    value = int(match.group(1)) * _UNITS_MS[match.group(2)]
    if value <= 0:
        raise ValueError("a duration must be positive")
    return value
