"""POST /v1/interactions: one interaction or a batch, validated whole, stored durably, 202."""
from __future__ import annotations

from typing import Any

import orjson
from flask import current_app, request

from ..errors import ValidationError
from ..ingest import ingest
from ..metrics import count_rejected
from ..scoring.interactions import InvalidInteraction, now_ms, parse_interaction
from ..services import get_services
from .common import v1_blueprint
from .schemas import IngestResultSchema, InteractionBatchSchema

bp = v1_blueprint("interactions", __name__, "Send interactions to be scored")


def parse_body(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValidationError("The body is not valid JSON.", {"_body": str(exc)}) from exc


def parse_batch(body: Any, limit: int, source: str = "api") -> list:
    """Every item valid, or a ValidationError naming each bad field by item index."""
    if isinstance(body, dict) and "interactions" in body and set(body) == {"interactions"}:
        items, batched = body["interactions"], True
        if not isinstance(items, list):
            raise ValidationError("'interactions' must be a list.", {"interactions": "must be a list"})
    else:
        items, batched = [body], False
    if len(items) > limit:
        raise ValidationError(f"At most {limit} interactions per request.", {"interactions": f"at most {limit}"})
    now = now_ms()
    parsed, errors = [], {}
    for index, item in enumerate(items):
        try:
            parsed.append(parse_interaction(item, source=source, now=now))
        except InvalidInteraction as exc:
            errors[index] = exc.errors
    if errors:
        if not batched:
            raise ValidationError("The interaction is invalid; see errors.", errors[0])
        raise ValidationError(f"{len(errors)} of {len(items)} interactions are invalid; nothing was stored.",
                              {"interactions": errors})
    return parsed


@bp.route("/interactions", methods=["POST"])
@bp.doc(requestBody={"content": {"application/json": {"schema": InteractionBatchSchema}}})
@bp.response(202, IngestResultSchema)
def post_interactions():
    """Accept interactions; once 202 is returned they will be scored."""
    body = parse_body(request.get_data())
    try:
        interactions = parse_batch(body, int(current_app.config["MAX_BATCH_INTERACTIONS"]))
    except ValidationError:
        count_rejected(get_services(), "api", body)
        raise
    return ingest(get_services(), interactions).to_json()
