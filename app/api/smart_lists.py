"""Smart lists: saved contact filters, their members, and CSV export."""
from __future__ import annotations

from flask import Response, stream_with_context

from ..contact_directory import csv_download, filter_documents
from ..services import get_services
from ..smart_lists import (all_lists, delete_list, get_list, list_members, runnable_filter, save_list,
                           with_count)
from .common import v1_blueprint
from .contacts import json_page, parse_cursor
from ..contact_filter_schema import SmartListOutSchema, SmartListPageSchema, SmartListSchema
from .schemas import ContactPageSchema, FilterArgsSchema

bp = v1_blueprint("smart_lists", __name__, "Saved filters over contacts")


@bp.route("/smart-lists", methods=["GET"])
@bp.alt_response(200, schema=SmartListPageSchema, description="Every smart list, by name, with its member count now")
def list_smart_lists():
    """Every list with its member count; a list that names a deleted profile has ``count`` null and a
    ``problem`` instead (one stale list does not break the listing)."""
    services = get_services()
    docs = filter_documents(services)
    return {"items": [with_count(services, doc, docs) for doc in all_lists(services)]}


@bp.route("/smart-lists", methods=["POST"])
@bp.arguments(SmartListSchema)
@bp.response(201, SmartListOutSchema)
def create_smart_list(data: dict):
    """Save a filter: ``{"name", "filter": {conditions...}}`` (or the single-condition fields)."""
    return save_list(get_services(), data["name"], data["filter"])


@bp.route("/smart-lists/<list_id>", methods=["GET"])
@bp.alt_response(200, schema=SmartListOutSchema, description="The saved filter")
def get_smart_list(list_id: str):
    return get_list(get_services(), list_id)


@bp.route("/smart-lists/<list_id>", methods=["PUT"])
@bp.arguments(SmartListSchema)
@bp.alt_response(200, schema=SmartListOutSchema, description="The saved filter")
def put_smart_list(data: dict, list_id: str):
    """Rename a list or change its filter."""
    services = get_services()
    get_list(services, list_id)
    return save_list(services, data["name"], data["filter"], list_id)


@bp.route("/smart-lists/<list_id>", methods=["DELETE"])
@bp.response(204)
def delete_smart_list(list_id: str):
    delete_list(get_services(), list_id)
    return None


@bp.route("/smart-lists/<list_id>/contacts", methods=["GET"])
@bp.alt_response(200, schema=ContactPageSchema, description="Members, in the filter's order")
@bp.arguments(FilterArgsSchema(only=("limit", "cursor")), location="query", as_kwargs=True)
def smart_list_contacts(list_id: str, limit: int = 50, cursor: str | None = None):
    """The contacts matching the saved filter (409 when it names a profile deleted since)."""
    return json_page(list_members(get_services(), list_id, limit, parse_cursor(cursor)))


@bp.route("/smart-lists/<list_id>/export.csv", methods=["GET"])
@bp.alt_response(200, content_type="text/csv", description="Every member as CSV")
def export_smart_list(list_id: str):
    """Every member as CSV: id, email, external_id, score in the sort profile, band, tags.

    A list that cannot run (it names a deleted profile) is a 409 before the download starts."""
    services = get_services()
    flt = runnable_filter(services, get_list(services, list_id))
    return Response(stream_with_context(csv_download(services, flt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{list_id}.csv"'})
