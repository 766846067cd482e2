"""Provider secrets of the workspace: whether each is set and where it comes from; set or remove one
(admin role). Write-only as in the API: no page ever shows a secret."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for

from ..errors import ScorekeeperError
from ..hooks.secrets import SECRET_MAX, remove_secret, set_secret, statuses
from ..services import get_services
from .auth import dashboard_actor
from .blueprint import bp


def render_providers(errors: dict[str, str] | None = None, status: int = 200):
    return render_template("dashboard/providers.html", providers=statuses(get_services()), errors=errors or {},
                           secret_max=SECRET_MAX), status


@bp.route("/providers")
def providers():
    return render_providers()[0]


@bp.route("/providers/<provider>", methods=["POST"])
def set_provider_secret(provider: str):
    """Store the secret typed in (replacing one stored before); the page never shows it back."""
    try:
        set_secret(get_services(), provider, request.form.get("secret", ""), dashboard_actor())
    except ScorekeeperError as exc:
        return render_providers({provider: exc.message}, exc.status)
    flash(f"The {provider} secret is set: deliveries are verified with it from now on.")
    return redirect(url_for("dashboard.providers"), 303)


@bp.route("/providers/<provider>/remove", methods=["POST"])
def remove_provider_secret(provider: str):
    try:
        remove_secret(get_services(), provider, dashboard_actor())
    except ScorekeeperError as exc:
        return render_providers({provider: exc.message}, exc.status)
    flash(f"The stored {provider} secret was removed.")
    return redirect(url_for("dashboard.providers"), 303)
