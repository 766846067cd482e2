"""Smart lists: saved contact filters, their members, and CSV export."""
from __future__ import annotations

import csv
import io
import uuid

from flask import Response

from ..errors import NotFound
from ..queries import ContactFilter
from ..services import get_services
from ..store import dumps, loads
from .contacts import parse_cursor, run_filter
from .common import v1_blueprint
from .schemas import FilterArgsSchema, ItemsSchema, SmartListSchema

bp = v1_blueprint("smart_lists", __name__, "Saved filters over contacts")

#: Rows per page read while exporting a smart list as CSV.
EXPORT_PAGE = 500


def _load(list_id: str) -> dict:
    services = get_services()
    raw = services.redis.hget(services.keys.smart_lists(), list_id)
    if raw is None:
        raise NotFound(f"No smart list {list_id!r}.")
    return loads(raw)


def _filter_of(doc: dict) -> ContactFilter:
    return ContactFilter(**{k: doc.get(k) for k in ("profile", "op", "value", "tag", "without_tag")})


def _save(doc: dict) -> dict:
    _filter_of(doc).validate()
    services = get_services()
    services.redis.hset(services.keys.smart_lists(), doc["id"], dumps(doc))
    return doc


@bp.route("/smart-lists", methods=["GET"])
@bp.alt_response(200, schema=ItemsSchema, description="Every smart list, by name")
def list_smart_lists():
    services = get_services()
    docs = [loads(v) for v in services.redis.hvals(services.keys.smart_lists())]
    return {"items": sorted(docs, key=lambda d: d["name"])}


@bp.route("/smart-lists", methods=["POST"])
@bp.arguments(SmartListSchema)
@bp.response(201)
def create_smart_list(data: dict):
    return _save({"id": uuid.uuid4().hex[:12], **data})


@bp.route("/smart-lists/<list_id>", methods=["GET"])
def get_smart_list(list_id: str):
    return _load(list_id)


@bp.route("/smart-lists/<list_id>", methods=["PUT"])
@bp.arguments(SmartListSchema)
def put_smart_list(data: dict, list_id: str):
    _load(list_id)
    return _save({"id": list_id, **data})


@bp.route("/smart-lists/<list_id>", methods=["DELETE"])
@bp.response(204)
def delete_smart_list(list_id: str):
    _load(list_id)
    services = get_services()
    services.redis.hdel(services.keys.smart_lists(), list_id)
    return None


@bp.route("/smart-lists/<list_id>/contacts", methods=["GET"])
@bp.arguments(FilterArgsSchema(only=("limit", "cursor")), location="query", as_kwargs=True)
def smart_list_contacts(list_id: str, limit: int = 50, cursor: str | None = None):
    """The contacts matching the saved filter, highest score first."""
    return run_filter(get_services(), _filter_of(_load(list_id)), limit, parse_cursor(cursor))


@bp.route("/smart-lists/<list_id>/export.csv", methods=["GET"])
def export_smart_list(list_id: str):
    """Every member as CSV: id, email, external_id, score in the list's profile, band, tags."""
    doc = _load(list_id)
    flt = _filter_of(doc)
    services = get_services()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "email", "external_id", "score", "band", "tags"])
    cursor: int | None = 0
    while cursor is not None:
        page = run_filter(services, flt, EXPORT_PAGE, cursor)
        for item in page["items"]:
            score = item["scores"].get(flt.profile or "", {})
            writer.writerow([item["id"], item["email"] or "", item["external_id"] or "", score.get("score", ""),
                             score.get("band") or "", " ".join(item["tags"])])
        cursor = int(page["next_cursor"]) if page["next_cursor"] else None
    return Response(out.getvalue(), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{list_id}.csv"'})
