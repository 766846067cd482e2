"""Shared parts of the evaluation tests (no tests, no fixtures: ``world`` and ``evaluated`` are in
conftest.py): a published profile's rules and bands and a history whose outcome is known by hand."""
from __future__ import annotations

from app.scoring.interactions import format_timestamp, parse_timestamp_ms

DAY = 86_400_000
JAN_10 = parse_timestamp_ms("2026-01-10T00:00:00Z")
JAN_15 = parse_timestamp_ms("2026-01-15T00:00:00Z")
FEB_1 = "2026-02-01T00:00:00Z"
FEB_5 = parse_timestamp_ms("2026-02-05T00:00:00Z")
FEB_10 = parse_timestamp_ms("2026-02-10T00:00:00Z")
RULES = [{"id": "form", "on": "form.submitted", "points": 10}, {"id": "open", "on": "email.opened", "points": 1}]
BANDS = [{"name": "cold", "min": 0}, {"name": "hot", "min": 10}]


def event(id_, type_, email, at):
    return {"id": id_, "type": type_, "contact": {"email": email}, "occurred_at": format_timestamp(at)}


def history() -> list[dict]:
    """40 contacts submitted a form (30 paid in the period), 40 opened an email (4 paid), 2 paid before the
    period, 1 appeared only in it."""
    out = []
    for i in range(40):
        out.append(event(f"f{i}", "form.submitted", f"form{i}@x.io", JAN_10))
        if i < 30:
            out.append(event(f"fp{i}", "payment.succeeded", f"form{i}@x.io", FEB_10))
        out.append(event(f"o{i}", "email.opened", f"open{i}@x.io", JAN_10))
        if i < 4:
            out.append(event(f"op{i}", "payment.succeeded", f"open{i}@x.io", FEB_10))
    for i in range(2):
        out.append(event(f"b{i}", "form.submitted", f"before{i}@x.io", JAN_10))
        out.append(event(f"bp{i}", "payment.succeeded", f"before{i}@x.io", JAN_15))
    out.append(event("n0", "email.opened", "new@x.io", FEB_5))
    return out


#: The evaluation page of the ``world``'s profile, and the period the dashboard tests evaluate.
EVALUATION_PAGE = "/dashboard/profiles/eng/evaluation"
PERIOD = {"from": "2026-02-01", "to": "2026-02-28", "outcome": "payment.succeeded"}
