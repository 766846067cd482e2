"""Decay: the points an interaction gave shrink by a percent each period after it happened.

A decaying change ``c`` (the change the interaction actually made) stands at
``c × (1 − percent/100)^k`` after ``k`` periods, rounded to the nearest whole point with halves
rounded toward zero — so 1 point at 50 % is gone after one period, and every decaying change
reaches 0 in a finite number of steps. Computed with integers only (no floating point), so the
worker, the replay, the preview and any other implementation of the same rule agree exactly.

Each step takes the difference between two consecutive standing values; a period whose
rounding leaves the value unchanged makes no step (``next_step`` skips it).
"""
from __future__ import annotations


def standing(change: int, percent: int, steps: int) -> int:
    """What is left of ``change`` after ``steps`` periods of ``percent`` decay (whole points)."""
    if steps <= 0 or change == 0:
        return change
    if percent >= 100:
        return 0
    numerator = abs(change) * (100 - percent) ** steps
    denominator = 100 ** steps
    whole, rest = divmod(numerator, denominator)
    if 2 * rest > denominator:  # nearest; a half goes toward zero
        whole += 1
    return whole if change > 0 else -whole


def next_step(change: int, percent: int, steps: int) -> int | None:
    """The first period after ``steps`` whose standing value differs (None once nothing is left)."""
    current = standing(change, percent, steps)
    if current == 0:
        return None
    step = steps + 1
    while standing(change, percent, step) == current:
        step += 1
    return step
