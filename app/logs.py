"""Structured JSON logs; secrets are never logged (callers pass ids, not payloads)."""
from __future__ import annotations

import json
import logging
import sys
from typing import Any

from flask import Flask

_RESERVED = set(vars(logging.makeLogRecord({})))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_scorekeeper", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler._scorekeeper = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    if not app.testing:
        configure(app.config.get("LOG_LEVEL", "INFO"))
