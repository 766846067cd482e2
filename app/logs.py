"""Structured JSON logs; secrets are never logged (callers pass ids, not payloads).

Every request gets an id (the caller's ``X-Request-ID`` when it is a plain token, else a new
one), echoed in the response header and added to each log line written while serving it.
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

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


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to records written while a request is being served."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context() and not hasattr(record, "request_id"):
            record.request_id = g.get("request_id")
        return True


def assign_request_id() -> None:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()  # 32 random hex digits


def echo_request_id(response: Response) -> Response:
    if g.get("request_id"):
        response.headers[REQUEST_ID_HEADER] = g.request_id
    return response


def configure(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not any(getattr(h, "_scorekeeper", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        handler.addFilter(RequestIdFilter())
        handler._scorekeeper = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)


def init_app(app: Flask) -> None:
    app.before_request(assign_request_id)
    app.after_request(echo_request_id)
    if not app.testing:
        configure(app.config.get("LOG_LEVEL", "INFO"))
