"""The audit trail: who did what to which target, newest first (admin scope)."""
from __future__ import annotations

from typing import Any

import marshmallow as ma
from marshmallow import fields, validate

from ..audit import ACTIONS, AuditEntry, AuditQuery, page
from ..scoring.interactions import format_timestamp
from ..services import get_services
from .common import v1_blueprint

bp = v1_blueprint("audit", __name__, "The audit trail (admin)")

#: Entries per page, by default and at most.
DEFAULT_PAGE, MAX_PAGE = 50, 500
#: An action filter: one of ACTIONS, or a family such as ``workflow.*``.
ACTION_FILTER = "|".join(sorted({*ACTIONS, *(a.split(".")[0] + ".*" for a in ACTIONS)}))


class AuditArgsSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # like every query here: other arguments (a cache buster) are ignored

    actor = fields.String(validate=validate.Length(min=1, max=300),
                          metadata={"description": "Exactly this actor: an email, `key:<name> (<id>)`, `api:<8 hex>`"})
    action = fields.String(validate=validate.OneOf(ACTION_FILTER.split("|")),
                           metadata={"description": "An action, or a family: `workflow.*`"})
    target = fields.String(validate=validate.Length(min=1, max=300),
                           metadata={"description": "Exactly this target (`profile:engagement`), or every target "
                                                    "starting with it when it ends in `:` or `/`"})
    limit = fields.Integer(load_default=DEFAULT_PAGE, validate=validate.Range(min=1, max=MAX_PAGE))
    cursor = fields.String(validate=validate.Regexp(r"^[0-9]{1,15}-[0-9]{1,15}$"),
                           metadata={"description": "`next_cursor` of the page before"})


class AuditEntrySchema(ma.Schema):
    id = fields.String(required=True)
    at = fields.String(required=True, metadata={"format": "date-time"})
    actor = fields.String(required=True)
    action = fields.String(required=True, validate=validate.OneOf(sorted(ACTIONS)))
    target = fields.String(required=True)
    details = fields.Dict(keys=fields.String(), required=True)


class AuditPageSchema(ma.Schema):
    items = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_cursor = fields.String(required=True, allow_none=True)


def render(entry: AuditEntry) -> dict[str, Any]:
    return {"id": entry.id, "at": format_timestamp(entry.at), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "details": entry.details}


@bp.route("/audit", methods=["GET"])
@bp.arguments(AuditArgsSchema, location="query", as_kwargs=True)
@bp.response(200, AuditPageSchema)
def list_audit(limit: int, actor: str | None = None, action: str | None = None, target: str | None = None,
               cursor: str | None = None):
    """Newest first: publishes, roll backs, manual score changes, workflow changes, profile deletes, key
    creation and revocation, member changes. Pass ``next_cursor`` back as ``cursor`` for the next page."""
    entries, next_cursor = page(get_services(), AuditQuery(actor, action, target), limit, cursor)
    return {"items": [render(entry) for entry in entries], "next_cursor": next_cursor}
