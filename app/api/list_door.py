"""The smart-list page door: ``GET /v1/smart-lists/{id}/contacts`` answered before Flask builds a request, with what
Flask's path answers.

Row 6 of #17 (a page of 50 and its count, p99 ≤ 5 ms): Flask's path around ``list_members`` — the request and app
contexts, routing in a map of 135 rules, flask-smorest's parsing of ``limit`` and ``cursor`` through webargs and
marshmallow, the hooks before and after — cost about a third of the page's client CPU. This WSGI middleware,
wrapped around the app's ``wsgi_app`` (``install``, before the webhook door goes around both), takes a plain request for a list's
page straight to the code the view runs (``list_members``, ``json_page``) and does by hand what the rest of the
path does to it:

- the request id (``logs.request_id``), on every log line written meanwhile and echoed in the response;
- who is asking: the bearer key (``authenticate``), the ``read`` scope the route needs (``access.needed_scope``),
  and the key's own workspace, made current for the request (``enter_workspace``), as ``require_scope`` does;
- ``limit`` and ``cursor`` when each is plain decimal digits within what the schema takes (``FilterArgsSchema``);
- the 200: Flask's response object from ``json_page``, the same status, headers and bytes.

Every error — 401, 404, 409, 503, 500 — is answered by Flask's own handlers in a request context pushed for it,
as in ``Flask.wsgi_app`` (the JSON body ``{code, status, message, errors}``, its headers, the request id). Anything
else is Flask's: another method or path, a list id that is not plain, a query with anything but one ``limit`` and
one ``cursor`` in plain digits, a body, a cookie, ``X-Scorekeeper-Workspace``, a key without the scope or of a
workspace that does not exist, an app that checks hosts or has receivers of Flask's request signals, a test client
keeping the request's context. ``tests/test_list_door.py`` checks that the door and Flask answer alike.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from .. import logs
from ..access import authenticate
from ..errors import Unauthorized
from ..doors import PRESERVE, Door, refuse, request_hooks
from ..services import DEFAULT_WORKSPACE, enter_workspace
from ..smart_lists import list_members
from ..workspaces import exists
from .access import WORKSPACE_HEADER, needed_scope
from .contacts import json_page

#: The endpoint the door answers for, and its path (a list id as ``save_list`` makes them, or any plain token).
ENDPOINT = "smart_lists.smart_list_contacts"
PATH = re.compile(r"/v1/smart-lists/([A-Za-z0-9_-]{1,64})/contacts")
#: ``limit`` as the schema takes it (1–500) and ``cursor`` as its pattern says, both in plain digits.
LIMIT = re.compile(r"[1-9][0-9]{0,2}")
LIMIT_MAX = 500
CURSOR = re.compile(r"[0-9]{1,15}")
#: The request hooks Flask runs for the route, all of which the door does by hand (``limit_body_size`` and
#: ``require_json_body`` concern a body, which the door leaves to Flask; ``_leave_request_workspace`` undoes what
#: ``require_scope`` did); ``install`` refuses any other.
REPLICATED = {"before_request app": ("assign_request_id", "limit_body_size"),
              "before_request smart_lists": ("require_scope", "require_json_body"),
              "after_request app": ("echo_request_id",), "teardown_request app": ("_leave_request_workspace",)}
_WORKSPACE_KEY = "HTTP_" + WORKSPACE_HEADER.upper().replace("-", "_")


def page_query(query: str) -> tuple[int, int] | None:
    """``(limit, cursor)`` of a query string of at most one ``limit`` and one ``cursor`` in plain digits within
    range (defaults 50 and 0); None for any other query (Flask's, with its 422s)."""
    limit, cursor = 50, 0
    seen: set[str] = set()
    for part in query.split("&") if query else ():
        name, equals, value = part.partition("=")
        if not equals or name in seen:
            return None
        seen.add(name)
        if name == "limit" and LIMIT.fullmatch(value) and int(value) <= LIMIT_MAX:
            limit = int(value)
        elif name == "cursor" and CURSOR.fullmatch(value):
            cursor = int(value)
        else:
            return None
    return limit, cursor


def bearer_key(environ: dict[str, Any]) -> str | None:
    """The bearer key as ``auth.presented_bearer_key`` reads it, or None (Flask's 401)."""
    scheme, _, presented = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
    presented = presented.strip()
    return presented if scheme.lower() == "bearer" and presented else None


class ListPageDoor(Door):
    """WSGI middleware: plain requests for a smart list's page answered here, every other passed to ``flask_app``."""

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if (environ.get("REQUEST_METHOD") == "GET" and "HTTP_COOKIE" not in environ and PRESERVE not in environ
                and _WORKSPACE_KEY not in environ and environ.get("CONTENT_LENGTH", "") in ("", "0")
                and "HTTP_TRANSFER_ENCODING" not in environ):
            found = PATH.fullmatch(environ.get("PATH_INFO", ""))
            asked = page_query(environ.get("QUERY_STRING", "")) if found else None
            if found and asked is not None and self.plain():
                answer = self.serve(environ, start_response, found.group(1), *asked)
                if answer is not None:
                    return answer
        return self.flask_app(environ, start_response)

    def serve(self, environ: dict[str, Any], start_response: Callable[..., Any], list_id: str, limit: int,
              cursor: int) -> Iterable[bytes] | None:
        request_id = logs.request_id(environ.get("HTTP_X_REQUEST_ID", ""))
        serving = logs.serving(request_id)
        context = self.app.app_context()
        context.push()
        leave = None
        try:
            try:
                services = self.tenancy.default
                presented = bearer_key(environ)
                if presented is None:
                    raise Unauthorized("A valid API key is required: send 'Authorization: Bearer KEY'.")
                principal = authenticate(services, presented)
                workspace = principal.workspace
                if not principal.may(needed_scope(ENDPOINT)) or not exists(services, workspace):
                    return None  # Flask's 403 or 404 (it asks again)
                if workspace != DEFAULT_WORKSPACE:
                    services = self.tenancy.get(workspace)
                    leave = enter_workspace(workspace)
                response = json_page(list_members(services, list_id, limit, cursor))
            except Exception:  # noqa: BLE001 - refuse has Flask answer it (handlers, 500, log)
                return refuse(self.app, environ, start_response, request_id)
            response.headers[logs.REQUEST_ID_HEADER] = request_id
            return response(environ, start_response)
        finally:
            if leave is not None:
                leave()
            context.pop()
            logs.served(serving)


def install(app: Flask) -> None:
    """Put the door in front of the app (``create_app``; the webhook door then goes in front of both)."""
    hooks = request_hooks(app, ("smart_lists",))
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint == ENDPOINT]
    if (hooks != REPLICATED or app.url_map.host_matching or app.subdomain_matching
            or [rule.rule for rule in rules] != ["/v1/smart-lists/<list_id>/contacts"]):
        raise RuntimeError(f"The list page door replicates the request hooks {REPLICATED}, not {hooks}, for the "
                           "one route /v1/smart-lists/<list_id>/contacts (and no host matching): update "
                           "app/api/list_door.py")
    app.wsgi_app = ListPageDoor(app, app.wsgi_app)  # type: ignore[method-assign]
