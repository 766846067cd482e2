"""The Audit page: the audit trail, newest first, filtered by who, what and target."""
from __future__ import annotations

import re

from flask import render_template, request

from ..audit import ACTIONS, AuditQuery, page
from ..services import get_services
from .blueprint import bp
from .defaults import PAGE_SIZE

#: A cursor is a stream id; anything else starts from the newest entry.
CURSOR = re.compile(r"^[0-9]{1,15}-[0-9]{1,15}$")


@bp.route("/audit")
def audit():
    values = {name: request.args.get(name, "").strip() for name in ("actor", "action", "target")}
    if values["action"] not in ACTIONS and not (values["action"].endswith(".*")
                                                and any(a.startswith(values["action"][:-1]) for a in ACTIONS)):
        values["action"] = ""
    before = request.args.get("before", "")
    query = AuditQuery(values["actor"] or None, values["action"] or None, values["target"] or None)
    entries, next_cursor = page(get_services(), query, PAGE_SIZE, before if CURSOR.match(before) else None)
    families = sorted({action.split(".")[0] for action in ACTIONS})
    return render_template("dashboard/audit.html", entries=entries, next_cursor=next_cursor, values=values,
                           actions=ACTIONS, families=families, paged=bool(CURSOR.match(before)))
