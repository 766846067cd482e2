"""The HTTP API: /v1 (API key required), /healthz, /openapi.json and /docs."""
from __future__ import annotations

from flask import Flask, current_app, request
from flask_smorest import Api
from flask_smorest import Blueprint as SmorestBlueprint
from marshmallow import missing
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import BaseConverter

from ..edge_fields import COMPANY_ID_TEXT, CONTACT_ID_TEXT, SLUG_TEXT


class Parser(FlaskParser):
    """Validation errors are 400s, like every other bad request here; bodies are read by the door.

    The body was parsed and checked (depth, numbers, Content-Type) by ``json_bodies`` before the view;
    reading it through ``request.get_json()`` uses that result instead of a second, laxer parse.
    """

    DEFAULT_VALIDATION_STATUS = 400

    def _raw_load_json(self, req):
        if not is_json_request(req):
            return missing
        return req.get_json()


class SlugConverter(BaseConverter):
    """``<slug:id>``: the ids a client chooses (profiles, workflows); any other path is a 404."""

    regex = SLUG_TEXT.strip("^$")


class ContactIdConverter(BaseConverter):
    """``<contact:id>``: a contact id (``c`` and 20 hex digits, or 12 base64url characters), so
    ``/v1/contacts/search`` is never one."""

    regex = CONTACT_ID_TEXT.strip("^$")


class CompanyIdConverter(BaseConverter):
    """``<company:id>``: a company id."""

    regex = COMPANY_ID_TEXT.strip("^$")


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
    from ..openapi import add_converters, spec_plugins

    app.config.setdefault("API_TITLE", "Scorekeeper")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("OPENAPI_SWAGGER_UI_PATH", "docs")
    app.config.setdefault("OPENAPI_SWAGGER_UI_URL", docs.ASSETS_URL)  # the pinned package, no CDN
    app.config.setdefault("OPENAPI_SWAGGER_UI_CONFIG", {"validatorUrl": None})  # no badge from a validator site
    app.config["API_SPEC_OPTIONS"] = {
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }
    api = Api(app, spec_kwargs=spec_plugins())
    add_converters(api.spec, api.ma_plugin.converter)
    app.url_map.converters["slug"] = SlugConverter
    api.register_converter(SlugConverter, lambda converter: {"type": "string", "pattern": SLUG_TEXT})
    app.url_map.converters["contact"] = ContactIdConverter
    api.register_converter(ContactIdConverter, lambda converter: {"type": "string", "pattern": CONTACT_ID_TEXT})
    app.url_map.converters["company"] = CompanyIdConverter
    api.register_converter(CompanyIdConverter, lambda converter: {"type": "string", "pattern": COMPANY_ID_TEXT})
    app.before_request(limit_body_size)
    app.extensions["smorest_api"] = api
    return api
