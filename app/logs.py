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
from contextvars import ContextVar, Token
from typing import Any

from flask import Flask, Response, g, has_request_context, request

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")

_RESERVED = set(vars(logging.makeLogRecord({})))
#: The id of a request served without Flask's request context (the webhook door, app/hooks/fast.py).
_SERVING: ContextVar[str | None] = ContextVar("scorekeeper_request_id", default=None)


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
        if not hasattr(record, "request_id"):
            if has_request_context():
                record.request_id = g.get("request_id")
            elif (serving := _SERVING.get()) is not None:
                record.request_id = serving
        return True


def request_id(incoming: str) -> str:
    """A request's id: ``incoming`` (the caller's ``X-Request-ID``) when it is a plain token, else a new one."""
    return incoming if _REQUEST_ID.fullmatch(incoming) else os.urandom(16).hex()  # 32 random hex digits


def assign_request_id() -> None:
    g.request_id = request_id(request.headers.get(REQUEST_ID_HEADER, ""))


def serving(request_id: str) -> Token:
    """Log lines written from now on carry ``request_id`` (a request served outside Flask's request context);
    ``served`` with what this returns ends it."""
    return _SERVING.set(request_id)


def served(token: Token) -> None:
    _SERVING.reset(token)


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
