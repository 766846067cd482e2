"""The deployment's live processes and the layout migrations waiting on them (instance admins): what
``scorekeeper status --json`` prints (app/processes.py)."""
from __future__ import annotations

import marshmallow as ma
from marshmallow import fields

from ..processes import deployment_status
from ..services import DEFAULT_WORKSPACE, tenancy
from ..workspaces import every_workspace
from .common import v1_blueprint

bp = v1_blueprint("processes", __name__, "Live processes and layout migrations (instance admins)")


class ProcessSchema(ma.Schema):
    id = fields.String(required=True, metadata={"description": "host:pid:random"})
    role = fields.String(required=True, metadata={"description": "web, worker or cli"})
    host = fields.String(required=True)
    pid = fields.Integer(required=True)
    release = fields.String(required=True, metadata={"description": "its workers' name prefix (sk-l16-)"})
    layout = fields.Integer(required=True, metadata={"description": "the layout number its release names"})
    migrations = fields.Integer(required=True, metadata={"description": "how many layout migrations it knows"})
    missing = fields.List(fields.String(), required=True,
                          metadata={"description": "this release's layout migrations it does not know"})
    started_at = fields.Integer(required=True, metadata={"description": "ms since the epoch"})
    command = fields.String(required=True, metadata={"description": "a command's name (role cli)"})
    waiting_for = fields.List(fields.String(), required=True,
                              metadata={"description": "the processes it waits for before migrating"})


class PendingMigrationSchema(ma.Schema):
    name = fields.String(required=True)
    waits_for = fields.List(fields.String(), required=True,
                            metadata={"description": "live processes that do not know it"})


class DeploymentStatusSchema(ma.Schema):
    release = fields.String(required=True, metadata={"description": "the release answering"})
    layout = fields.Integer(required=True)
    processes = fields.List(fields.Nested(ProcessSchema), required=True)
    pending_migrations = fields.List(fields.Nested(PendingMigrationSchema), required=True)


@bp.route("/processes", methods=["GET"])
@bp.response(200, DeploymentStatusSchema)
def list_processes():
    """Every process whose announcement has not lapsed (web, workers, commands that move data), with its release,
    and the layout migrations some workspace has not recorded, each with the live processes it waits for."""
    return deployment_status(every_workspace(tenancy().get(DEFAULT_WORKSPACE)))
