"""Smart lists: saved contact filters, their members, and CSV export."""
from __future__ import annotations

from flask import Response, stream_with_context

from ..contacts import csv_rows, run_filter
from ..services import get_services
from ..smart_lists import all_lists, delete_list, filter_of, get_list, save_list
from .common import v1_blueprint
from .contacts import parse_cursor
from .schemas import ContactPageSchema, FilterArgsSchema, ItemsSchema, SmartListOutSchema, SmartListSchema

bp = v1_blueprint("smart_lists", __name__, "Saved filters over contacts")



@bp.route("/smart-lists", methods=["GET"])
@bp.alt_response(200, schema=ItemsSchema, description="Every smart list, by name")
def list_smart_lists():
    return {"items": all_lists(get_services())}


@bp.route("/smart-lists", methods=["POST"])
@bp.arguments(SmartListSchema)
@bp.response(201)
def create_smart_list(data: dict):
    return save_list(get_services(), data)


@bp.route("/smart-lists/<list_id>", methods=["GET"])
@bp.alt_response(200, schema=SmartListOutSchema, description="The saved filter")
def get_smart_list(list_id: str):
    return get_list(get_services(), list_id)


@bp.route("/smart-lists/<list_id>", methods=["PUT"])
@bp.arguments(SmartListSchema)
@bp.alt_response(200, schema=SmartListOutSchema, description="The saved filter")
def put_smart_list(data: dict, list_id: str):
    services = get_services()
    get_list(services, list_id)
    return save_list(services, data, list_id)


@bp.route("/smart-lists/<list_id>", methods=["DELETE"])
@bp.response(204)
def delete_smart_list(list_id: str):
    delete_list(get_services(), list_id)
    return None


@bp.route("/smart-lists/<list_id>/contacts", methods=["GET"])
@bp.alt_response(200, schema=ContactPageSchema, description="Members, highest score first")
@bp.arguments(FilterArgsSchema(only=("limit", "cursor")), location="query", as_kwargs=True)
def smart_list_contacts(list_id: str, limit: int = 50, cursor: str | None = None):
    """The contacts matching the saved filter, highest score first."""
    services = get_services()
    return run_filter(services, filter_of(get_list(services, list_id)), limit, parse_cursor(cursor))


@bp.route("/smart-lists/<list_id>/export.csv", methods=["GET"])
def export_smart_list(list_id: str):
    """Every member as CSV: id, email, external_id, score in the list's profile, band, tags."""
    services = get_services()
    flt = filter_of(get_list(services, list_id))
    return Response(stream_with_context(csv_rows(services, flt)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{list_id}.csv"'})
