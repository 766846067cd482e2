"""The app a job runs in: the current one (tests, CLI), or one built from the environment."""
from __future__ import annotations

from contextlib import contextmanager
from collections.abc import Iterator

from flask import Flask, current_app, has_app_context

_app: Flask | None = None


@contextmanager
def job_app() -> Iterator[Flask]:
    """An app context for a job: reuse an active one, else build the app once per process."""
    global _app
    if has_app_context():
        yield current_app._get_current_object()  # type: ignore[attr-defined]
        return
    if _app is None:
        from app import create_app

        _app = create_app()
    with _app.app_context():
        yield _app
