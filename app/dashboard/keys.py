"""API keys for scripts (admin role): make one with a name and scopes (the key is shown once, to copy),
list them without secrets and with when each was last used, revoke one (asks first). The same functions as
``/v1/keys`` (``app/access.py``), so the rules are the same."""
from __future__ import annotations

import secrets

from flask import flash, redirect, render_template, request, url_for

from ..access import NAME_MAX, create_key, list_keys, revoke_key
from ..auth import SCOPES
from ..errors import ScorekeeperError
from ..services import get_services
from .auth import dashboard_actor
from .blueprint import bp

#: What each scope allows, in words (docs/teams.md has the table).
SCOPE_WORDS = {
    "ingest": "send interactions (POST /v1/interactions) only — for a provider bridge or a tracking script",
    "read": "read everything (every GET, and contact search)",
    "write": "change everything but administration (implies read and ingest)",
    "admin": "everything, including keys, provider secrets and the audit trail",
}


def render_keys(made: dict | None = None, errors: dict[str, str] | None = None, values: dict | None = None,
                status: int = 200):
    return render_template("dashboard/keys.html", keys=list_keys(get_services()), made=made, errors=errors or {},
                           values=values or {"scopes": []}, scopes=SCOPES, scope_words=SCOPE_WORDS,
                           name_max=NAME_MAX, once=secrets.token_urlsafe(16)), status


#: How long a sent key form's token is remembered, in seconds.
FORM_MEMORY_SECONDS = 86_400


@bp.route("/keys", methods=["GET", "POST"])
def keys():
    """GET: the keys; POST: make one and show it, this once."""
    if request.method == "GET":
        return render_keys()[0]
    values = {"name": request.form.get("name", ""), "scopes": request.form.getlist("scopes")}
    services = get_services()
    once = request.form.get("once", "")[:64]
    if once and not services.throttles.claim_form(once, FORM_MEMORY_SECONDS):
        return render_keys(errors={"revoke": "This form was sent already (a reload?): its key was made then and "
                                             "shown once. If you did not copy it, revoke it and make another."},
                           status=409)
    try:
        made = create_key(services, values["name"], values["scopes"], dashboard_actor())
    except ScorekeeperError as exc:
        if once:
            services.throttles.release_form(once)  # nothing was made: it may be sent again
        errors = {name: " ".join(p) for name, p in (exc.errors or {}).items()} or {"name": exc.message}
        return render_keys(errors=errors, values=values, status=exc.status)
    return render_keys(made=made)


@bp.route("/keys/<key_id>/revoke", methods=["POST"])
def revoke_api_key(key_id: str):
    """Revoke: every process refuses the key from its next request on."""
    try:
        doc = revoke_key(get_services(), key_id, dashboard_actor())
    except ScorekeeperError as exc:
        return render_keys(errors={"revoke": exc.message}, status=exc.status)
    flash(f"The key {doc['name']!r} is revoked: requests made with it are refused from now on.")
    return redirect(url_for("dashboard.keys"), 303)
