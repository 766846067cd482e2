"""Scorekeeper: engagement scoring and automation. Only the app factory lives here."""
from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Defaults, then the environment (read once), then test overrides; then wire the parts."""
    from . import api, errors_http, logs, services
    from .settings import load_settings

    app = Flask(__name__)
    app.config.from_mapping(load_settings())
    if test_config:
        app.config.from_mapping(test_config)
    app.config["MAX_CONTENT_LENGTH"] = None  # body limits are ours: per route, with a JSON 413
    logs.init_app(app)
    services.init_app(app)
    api.init_app(app)
    errors_http.init_app(app)  # last: replaces flask-smorest's own HTTPException handler
    return app
