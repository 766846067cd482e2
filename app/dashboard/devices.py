"""Device cookies (OWASP's defence against lock-out): a browser that signed in to an account before carries
a signed cookie naming that account, and ``app/signin_guard.py`` does not slow its sign-ins when strangers
hammer the account. The cookie holds digests of account ids only, never an email or a secret."""
from __future__ import annotations

from flask import Response, current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..services import get_services

COOKIE = "sk_device"
#: A device stays trusted this long after its last successful sign-in, in seconds (90 days).
MAX_AGE_SECONDS = 90 * 86_400
#: Accounts remembered per browser (a shared computer), newest kept.
MAX_ACCOUNTS = 5


def _serializer() -> URLSafeTimedSerializer:
    secret = current_app.secret_key or get_services().users.session_secret()
    return URLSafeTimedSerializer(secret, salt="scorekeeper/dashboard/device")


def _tag(account: str) -> str:
    return account[:32]


def _accounts() -> list[str]:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return []
    try:
        accounts = _serializer().loads(raw, max_age=MAX_AGE_SECONDS)
    except BadSignature:
        return []
    return [str(a) for a in accounts][:MAX_ACCOUNTS] if isinstance(accounts, list) else []


def is_trusted(account: str) -> bool:
    """This browser signed in to ``account`` before (within ``MAX_AGE_SECONDS``)."""
    return _tag(account) in _accounts()


def remember(response: Response, account: str) -> Response:
    """After a successful sign-in: this browser is trusted for ``account`` (the cookie is renewed)."""
    accounts = [_tag(account)] + [a for a in _accounts() if a != _tag(account)]
    response.set_cookie(COOKIE, _serializer().dumps(accounts[:MAX_ACCOUNTS]), max_age=MAX_AGE_SECONDS,
                        httponly=True, samesite="Lax", secure=request.is_secure,
                        path="/dashboard")
    return response
