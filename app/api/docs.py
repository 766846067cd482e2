"""The Swagger UI assets of ``/docs``, served from the pinned ``swagger-ui-bundle`` package.

``/docs`` works offline and behind a firewall: the page loads nothing from a CDN.
"""
from __future__ import annotations

from flask import Blueprint, send_from_directory
from flask.typing import ResponseReturnValue
from swagger_ui_bundle import swagger_ui_path

#: Where the page finds the assets (flask-smorest's ``OPENAPI_SWAGGER_UI_URL``).
ASSETS_URL = "/docs/assets/"
#: Browsers may keep the assets a day: they change only with the package version.
ASSETS_MAX_AGE_SECONDS = 86_400

bp = Blueprint("docs_assets", __name__)


@bp.route(f"{ASSETS_URL}<path:filename>", methods=["GET"])
def asset(filename: str) -> ResponseReturnValue:
    """One file of the Swagger UI distribution (a path outside it is a 404)."""
    return send_from_directory(swagger_ui_path, filename, max_age=ASSETS_MAX_AGE_SECONDS)
