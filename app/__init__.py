"""Scorekeeper: engagement scoring and automation. Only the app factory lives here."""
from __future__ import annotations

from typing import Any

from flask import Flask


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Defaults, then the environment (read once), then test overrides; then wire the parts."""
    from . import automation, errors_http, horizon, jobs, json_bodies, logs, manual_scores, sealing, services, sessions
    from .api import (
        audit, companies, contacts, docs, evaluations, grades, health, init_api, interactions, keys, list_door,
        metrics, processes, profiles, smart_lists, workspaces)
    from .api import providers as providers_api
    from .automation import api as workflows_api
    from .dashboard import bp as dashboard_bp
    from .hooks import bp as hooks_bp, workspace_bp as workspace_hooks_bp
    from .hooks import fast as webhook_door
    from .settings import configure

    app = Flask(__name__)
    configure(app, test_config)
    app.config["MAX_CONTENT_LENGTH"] = None  # body limits are ours: per route, with a JSON 413
    logs.init_app(app)
    json_bodies.init_app(app)
    sessions.init_app(app)  # cookie sessions opened only when a request brings one (the dashboard may replace it)
    sealing.init_app(app)  # SECRETS_KEY is read and checked once
    horizon.init_app(app)  # HOT_HISTORY is checked once
    services.init_app(app)
    jobs.init_app(app)  # the job port, services.enqueue
    manual_scores.init_app(app)  # the score port that workflow steps use
    api = init_api(app)
    for module in (interactions, contacts, companies, profiles, evaluations, grades, smart_lists, workflows_api, keys,
                   providers_api, audit, workspaces, processes):
        api.register_blueprint(module.bp)  # /v1, in the OpenAPI document
    app.register_blueprint(health.bp)  # /healthz
    app.register_blueprint(docs.bp)  # /docs/assets/: Swagger UI from the swagger-ui-bundle package
    app.register_blueprint(metrics.bp)  # GET /metrics (its own token)
    app.register_blueprint(hooks_bp)  # /hooks: provider webhooks (workspace default)
    app.register_blueprint(workspace_hooks_bp)  # /w/<workspace>/hooks: the same for another workspace
    app.register_blueprint(dashboard_bp)  # /dashboard
    automation.init_app(app)  # workflow settings and files; workflows start listening to scoring
    errors_http.init_app(app)  # last: replaces flask-smorest's own HTTPException handler
    list_door.install(app)  # GET /v1/smart-lists/<id>/contacts: answered before Flask's routing (app/api/list_door.py)
    webhook_door.install(app)  # POST /hooks/...: answered before Flask's routing, as Flask answers them
    return app
