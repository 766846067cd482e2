"""POST /v1/interactions: one interaction or a batch, validated whole, stored durably, 202."""
from __future__ import annotations

from flask import current_app, request

from ..errors import ValidationError
from ..ingest import ingest
from ..interaction_schema import load_items
from ..metrics import count_rejected
from ..services import get_services
from .common import v1_blueprint
from .schemas import IngestResultSchema, interaction_body

bp = v1_blueprint("interactions", __name__, "Send interactions to be scored")


@bp.route("/interactions", methods=["POST"])
@bp.doc(requestBody={"required": True, "content": {"application/json": {"schema": interaction_body()}}})
@bp.response(202, IngestResultSchema)
def post_interactions():
    """Accept interactions; once 202 is returned they will be scored."""
    body = request.get_json()
    try:
        interactions = load_items(body, int(current_app.config["MAX_BATCH_INTERACTIONS"]))
    except ValidationError:
        count_rejected(get_services(), "api", body)
        raise
    return ingest(get_services(), interactions).to_json()
