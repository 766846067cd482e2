"""The HTTP API: /v1 (API key required), /healthz, /openapi.json and /docs."""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from webargs.flaskparser import FlaskParser


class Parser(FlaskParser):
    """Validation errors are 400s, like every other bad request here."""

    DEFAULT_VALIDATION_STATUS = 400


class Blueprint(SmorestBlueprint):
    ARGUMENTS_PARSER = Parser()


def limit_body_size() -> None:
    """Bodies over the limit are refused with 413 before anything reads them.

    A view with a different limit (SendGrid's batches) sets ``request.max_content_length``
    itself before reading the body.
    """
    request.max_content_length = int(current_app.config["MAX_BODY_BYTES"])


def init_api(app: Flask) -> Api:
    """The OpenAPI settings and flask-smorest's Api; ``create_app`` registers the blueprints on it."""
    from . import docs

    app.config.setdefault("API_TITLE", "Scorekeeper")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.0.3")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", docs.ASSETS_URL)  # the pinned package, no CDN
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})  # no badge from a validator site
    app.config["API_SPEC_OPTIONS"] = {
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
    api = Api(app)
    app.before_request(limit_body_size)
    app.extensions["smorest_api"] = api
    return api
