"""Dashboard sessions: Flask's signed cookies, opened only when a request brings one.

Most requests never touch a session (the API, the webhooks: no cookie, nothing written), yet Flask opens one for
every request and saves it after, and its cookie interface builds a signing serializer for each open (an
``itsdangerous`` serializer, salt and key derivation included) before it looks for the cookie. ``CookieSessions``
looks first: a request without the session cookie gets a new empty session at once (what Flask's interface gives
it, after the serializer), and an empty session that was neither read nor changed is saved by doing nothing (what
Flask's interface does, after reading seven cookie settings). Everything else is Flask's own.
"""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions, without the work a request with no session cookie does not need."""

    def can_sign(self, app: Flask) -> bool:
        """Whether sessions can be signed (else Flask gives every request its null session)."""
        return bool(app.secret_key)

    def open_session(self, app: Flask, request: Any) -> Any:
        if self.can_sign(app) and ("HTTP_COOKIE" not in request.environ
                                   or not request.cookies.get(self.get_cookie_name(app))):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if not session and not session.modified and not session.accessed:
            return  # nothing to set, delete or vary on
        super().save_session(app, session, response)


def init_app(app: Flask) -> None:
    app.session_interface = CookieSessions()
