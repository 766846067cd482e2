"""What the WSGI doors in front of Flask share (the webhook door, ``app/hooks/fast.py``; the list page door,
``app/api/list_door.py``): when a request must take Flask's path after all, and how an error is answered by Flask's
own handlers so that a door's 4xx and 5xx are byte for byte Flask's."""
from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, g, signals

#: Flask's request signals: with a receiver connected, requests take Flask's path (which sends them).
SIGNALS = (signals.request_started, signals.request_finished, signals.got_request_exception,
           signals.request_tearing_down, signals.appcontext_pushed, signals.appcontext_popped,
           signals.appcontext_tearing_down)
#: What Flask's test client puts in the environ to keep a request's contexts after it: then Flask's path.
PRESERVE = "werkzeug.debug.preserve_context"


def refuse(app: Flask, environ: dict[str, Any], start_response: Callable[..., Any],
           request_id: str | None) -> Iterable[bytes]:
    """The answer to the exception being handled, made by Flask as ``Flask.wsgi_app`` makes it after a hook or the
    view raised; called from a door's ``except`` block (``handle_user_exception`` re-raises one no handler takes).
    ``request_id`` is what ``assign_request_id`` would have set before the view (None: it did not run)."""
    raised = sys.exc_info()[1]
    ctx = app.request_context(environ)
    error: BaseException | None = None
    try:
        try:
            ctx.push()
            if request_id is not None:
                g.request_id = request_id
            response = app.finalize_request(app.handle_user_exception(raised))  # type: ignore[arg-type]
        except Exception as exc:  # noqa: BLE001 - as Flask.wsgi_app: handle_exception logs it, 500
            error = exc
            response = app.handle_exception(exc)
        except BaseException:
            error = sys.exc_info()[1]
            raise
        return response(environ, start_response)
    finally:
        if error is not None and app.should_ignore_error(error):
            error = None
        ctx.pop(error)


def request_hooks(app: Flask, blueprints: Iterable[str]) -> dict[str, tuple[str, ...]]:
    """The names of the request hooks Flask runs for the app and the given blueprints, by kind and scope: what a
    door's ``install`` compares with the hooks it does by hand, refusing to start beside any other."""
    scopes: tuple[str | None, ...] = (None, *blueprints)
    found = {}
    for kind, table in (("before_request", app.before_request_funcs), ("after_request", app.after_request_funcs),
                        ("teardown_request", app.teardown_request_funcs),
                        ("url_value_preprocessor", app.url_value_preprocessors)):
        for scope in scopes:
            if names := tuple(function.__name__ for function in table.get(scope, ())):
                found[f"{kind} {scope or 'app'}"] = names
    return found


class Door:
    """A WSGI middleware in front of the app's ``wsgi_app`` (``flask_app``), answering some requests itself."""

    def __init__(self, app: Flask, flask_app: Callable[..., Iterable[bytes]]):
        self.app = app
        self.flask_app = flask_app
        self.config = app.config
        self.tenancy = app.extensions["scorekeeper.tenancy"]

    def plain(self) -> bool:
        """Whether Flask's path would do nothing for a request that a door does not: no session secret to make,
        no host checks, no receiver of Flask's request signals."""
        config = self.config
        if not (self.app.secret_key and config["SERVER_NAME"] is None and not config.get("TRUSTED_HOSTS")):
            return False
        for signal in SIGNALS:  # a loop, not any() over a generator: every webhook asks (~2k instructions less)
            if signal.receivers:
                return False
        return True
