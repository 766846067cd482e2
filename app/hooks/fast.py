"""The webhook door: ``POST /hooks/{provider}``, ``POST /hooks/standard/{source}`` and their
``/w/{workspace}/hooks/...`` forms answered before Flask builds a request, with what Flask's path answers.

A single signed webhook costs Flask about as much again as it costs us: the request and app contexts, routing
in a map of 135 rules, the hooks before and after, the session, the response object (#17, row 2a). This WSGI
middleware, wrapped around the app's ``wsgi_app`` last of all (``install``), takes a delivery to a provider of
the registry straight to ``receive_delivery`` — the code the Flask views run — and does by hand the little the
rest of Flask's path does to such a request:

- the request id (``logs.request_id``: the caller's ``X-Request-ID`` when it is a plain token, else a new one),
  put on every log line written meanwhile (``logs.serving``) and echoed in the response;
- the workspace of ``/w/{workspace}/hooks/...`` (one that exists; the services of that workspace, and the
  current workspace set for the request, as the blueprint's ``url_value_preprocessor`` does);
- the 202: the same status, headers (``Content-Type``, ``Content-Length``, ``X-Request-ID``) and bytes;
- every error — 400, 401, 404, 413, 503, 500 — is answered by Flask itself: a request context is pushed and
  ``handle_user_exception`` / ``finalize_request`` run exactly as in ``Flask.wsgi_app``, so the JSON body,
  its headers and the logging are Flask's (the request id the one already assigned).

Anything else is Flask's: another method or path, a provider not in the registry, a workspace that does not exist
(Flask's 404, without a request id, as before), a request with a cookie (it may carry a session), an app without
a session secret yet, a ``SERVER_NAME`` or ``TRUSTED_HOSTS`` (host checks), a test client keeping the request's
context, or any receiver of Flask's request signals. ``tests/test_webhook_door.py`` checks that the door and Flask
answer every request alike and leave Redis alike.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .. import logs
from ..doors import PRESERVE, Door, refuse, request_hooks
from ..services import DEFAULT_WORKSPACE, Services, enter_workspace
from ..workspaces import WORKSPACE_ID, exists
from . import receive_delivery, registry

#: The request hooks Flask runs for a webhook route, all of which the door does by hand — ``limit_body_size`` is
#: overridden by the provider's own limit, ``_leave_request_workspace`` undoes what ``enter_workspace`` did — and
#: ``install`` refuses to install it beside any other (a hook added later must be done here too, or be skipped).
REPLICATED = {"before_request app": ("assign_request_id", "limit_body_size"), "after_request app": ("echo_request_id",),
              "teardown_request app": ("_leave_request_workspace",),
              "url_value_preprocessor workspace_hooks": ("enter_workspace",)}

Route = tuple[str, registry.Provider, str, str]  # workspace, provider, source, blueprint


def route(path: str) -> Route | None:
    """The webhook a path names, or None for any other path (and for names Flask routes to its 404)."""
    if path.startswith("/hooks/"):
        return _provider(DEFAULT_WORKSPACE, path[7:], "hooks")
    if path.startswith("/w/"):
        workspace, found, rest = path[3:].partition("/hooks/")
        if found and workspace != DEFAULT_WORKSPACE and WORKSPACE_ID.match(workspace):
            return _provider(workspace, rest, "workspace_hooks")
    return None


def _provider(workspace: str, rest: str, blueprint: str) -> Route | None:
    if "/" not in rest:
        provider = registry.PROVIDERS.get(rest)
        return None if provider is None else (workspace, provider, rest, blueprint)
    if rest.startswith("standard/"):
        source = rest[9:]
        if source and "/" not in source and source.isascii():  # as Flask decodes it (UTF-8 only differs)
            return workspace, registry.STANDARD, source, blueprint
    return None


class WebhookDoor(Door):
    """WSGI middleware: webhook deliveries answered here, every other request passed to ``flask_app``."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST" and "HTTP_COOKIE" not in environ and PRESERVE not in environ:
            found = route(environ.get("PATH_INFO", ""))
            if found is not None and self.plain():
                answer = self.serve(environ, start_response, *found)
                if answer is not None:
                    return answer
        return self.flask_app(environ, start_response)

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any], workspace: str,
              provider: registry.Provider, source: str, blueprint: str) -> Iterable[bytes] | None:
        services: Services = self.tenancy.default
        leave = None
        if workspace != DEFAULT_WORKSPACE:
            try:
                known = exists(services, workspace)
            except Exception:  # noqa: BLE001 - the store did not answer: Flask's answer, before a request id
                return refuse(self.app, environ, start_response, None)
            if not known:
                return None  # Flask's 404 (it asks again)
            services = self.tenancy.get(workspace)
            leave = enter_workspace(workspace)
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        serving = logs.serving(request_id)
        try:
            body = receive_delivery(services, self.config, provider, source, environ)
            start_response("202 ACCEPTED", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                            (logs.REQUEST_ID_HEADER, request_id)])
            return [body]
        except Exception:  # noqa: BLE001 - refuse has Flask answer it (handlers, 500, log)
            return refuse(self.app, environ, start_response, request_id)
        finally:
            logs.served(serving)
            if leave is not None:
                leave()


def install(app: Flask) -> None:
    """Put the door in front of the app (the last thing ``create_app`` does)."""
    hooks = request_hooks(app, ("hooks", "workspace_hooks"))
    if hooks != REPLICATED or app.url_map.host_matching or app.subdomain_matching:
        raise RuntimeError(f"The webhook door replicates the request hooks {REPLICATED}, not {hooks} "
                           "(or the app matches hosts): update app/hooks/fast.py")
    app.wsgi_app = WebhookDoor(app, app.wsgi_app)  # type: ignore[method-assign]
