"""The scope every ``/v1`` route needs, in one table, and the check that enforces it.

``ingest`` sends interactions only; ``read`` is every GET (and the read-only POST of a contact
search); ``write`` is everything but administration and implies ``read`` and ``ingest``;
``admin`` (keys, provider secrets, the audit trail, and later workspace settings) implies every scope. A route
missing from the table needs ``admin`` — it fails closed — and ``tests/test_scopes.py`` fails until
the route is listed.
"""
from __future__ import annotations

from flask import g, request

from ..access import authenticate
from ..auth import presented_bearer_key
from ..errors import Forbidden, NotFound, Unauthorized
from ..services import enter_request_workspace, get_services
from ..workspaces import exists

#: Endpoint -> the scope it needs. Endpoints are ``blueprint.view``; each /v1 view serves one method.
ROUTE_SCOPES: dict[str, str] = {
    "interactions.post_interactions": "ingest",
    # contacts
    "contacts.list_contacts": "read",
    "contacts.get_contact": "read",
    "contacts.search_contacts": "read",  # a POST only because a filter does not fit a query string
    "contacts.score_history": "read",
    "contacts.patch_contact": "write",
    "contacts.change_contact_score": "write",
    # profiles, versions, jobs, evaluations
    "profiles.list_profiles": "read",
    "profiles.get_profile": "read",
    "profiles.list_versions": "read",
    "profiles.get_version": "read",
    "profiles.job_status": "read",
    "profiles.put_profile": "write",
    "profiles.delete_profile": "write",
    "profiles.preview": "write",
    "profiles.publish": "write",
    "profiles.rollback": "write",
    "profiles.unpublish": "write",
    "evaluations.list_evaluations": "read",
    "evaluations.get_evaluation": "read",
    "evaluations.start": "write",
    # grades
    "grades.list_grades": "read",
    "grades.read_grade": "read",
    "grades.write_grade": "write",
    "grades.remove_grade": "write",
    # companies
    "companies.list_companies": "read",
    "companies.read_company": "read",
    # smart lists
    "smart_lists.list_smart_lists": "read",
    "smart_lists.get_smart_list": "read",
    "smart_lists.smart_list_contacts": "read",
    "smart_lists.export_smart_list": "read",
    "smart_lists.create_smart_list": "write",
    "smart_lists.put_smart_list": "write",
    "smart_lists.delete_smart_list": "write",
    # workflows, runs, deliveries, the inbox
    "workflows.list_workflows": "read",
    "workflows.get_workflow": "read",
    "workflows.list_runs": "read",
    "workflows.get_run": "read",
    "workflows.list_deliveries": "read",
    "workflows.get_delivery": "read",
    "workflows.list_notifications": "read",
    "workflows.put_workflow": "write",
    "workflows.delete_workflow": "write",
    "workflows.redeliver_delivery": "write",
    # administration
    "keys.list_all": "admin",
    "keys.create": "admin",
    "keys.revoke": "admin",
    "audit.list_audit": "admin",
    "providers.list_providers": "admin",
    "providers.get_provider": "admin",
    "providers.put_provider": "admin",
    "providers.delete_provider": "admin",
    # workspaces: instance admins only (INSTANCE_ENDPOINTS)
    "workspaces.list_all": "admin",
    "workspaces.create": "admin",
    "workspaces.get_one": "admin",
    "workspaces.delete": "admin",
    "processes.list_processes": "admin",
}

#: Routes for instance admins only (the keys of ``SCOREKEEPER_API_KEYS``), whatever a stored key's scopes.
INSTANCE_ENDPOINTS = frozenset({"workspaces.list_all", "workspaces.create", "workspaces.get_one",
                                "workspaces.delete", "processes.list_processes"})

#: The header with which an instance admin acts in another workspace than ``default``.
WORKSPACE_HEADER = "X-Scorekeeper-Workspace"

#: What a route missing from the table needs: the most, so a forgotten route is never open.
UNLISTED_SCOPE = "admin"


def needed_scope(endpoint: str | None) -> str:
    return ROUTE_SCOPES.get(endpoint or "", UNLISTED_SCOPE)


def require_scope() -> None:
    """A ``before_request`` hook of every /v1 blueprint: 401 without a valid key, 403 without the scope, then
    the request acts in the key's workspace (or, for an instance admin, the one ``X-Scorekeeper-Workspace``
    names: 404 if it does not exist; a stored key naming another workspace than its own is a 403)."""
    if request.method == "OPTIONS":
        return
    services = get_services()
    principal = authenticate(services, presented_bearer_key())
    g.principal = principal
    needed = needed_scope(request.endpoint)
    if not principal.may(needed):
        raise Forbidden(f"This key's scopes ({', '.join(sorted(principal.scopes)) or 'none'}) do not include "
                        f"{needed!r}, which this route needs.", {"scope": [f"needs {needed}"]})
    if request.endpoint in INSTANCE_ENDPOINTS and not principal.instance_admin:
        raise Forbidden("Only an instance admin (a key of SCOREKEEPER_API_KEYS) manages workspaces and sees the "
                        "deployment's processes.",
                        {"scope": ["needs an instance admin"]})
    wanted = request.headers.get(WORKSPACE_HEADER, "").strip() or principal.workspace
    if wanted != principal.workspace and not principal.instance_admin:
        raise Forbidden(f"This key acts only in its own workspace; {WORKSPACE_HEADER} may name another only for "
                        "an instance admin.", {"workspace": ["not this key's workspace"]})
    if not exists(services, wanted):
        if not principal.instance_admin:  # the key's own workspace is being deleted
            raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
        raise NotFound(f"No workspace {wanted!r}.", {"workspace": ["no such workspace"]})
    enter_request_workspace(wanted)
