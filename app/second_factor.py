"""A user's optional TOTP second factor: enrolment from their account page, the code asked at sign-in,
recovery codes, and turning it off (by the user with a code, or from the CLI with a password reset).

The seed lives in the user's document, sealed with ``SECRETS_KEY`` when it is set (``app/sealing.py``);
the last accepted step and the recovery codes' hashes beside it (``storage/users.py``). The checks of a
code itself are in ``app/totp.py``; the throttle in ``app/signin_guard.py``.
"""
from __future__ import annotations

import logging
from typing import Any

from . import signin_guard, totp
from .audit import record
from .errors import NotFound, ValidationError
from .sealing import seal, unseal
from .services import Services

log = logging.getLogger(__name__)

#: How long an accepted step is remembered (longer than the window of accepted steps).
STEP_MEMORY_SECONDS = 10 * totp.STEP_SECONDS


def _user(services: Services, email: str) -> dict[str, Any]:
    doc = services.users.get(email)
    if doc is None:
        raise NotFound(f"No member {email!r}.")
    return doc


def is_on(services: Services, email: str) -> bool:
    doc = services.users.get(email)
    return bool(doc and doc.get("totp"))


def start(services: Services, email: str) -> str:
    """A new seed waiting for its first code (replacing one that waited); the enrolment URI."""
    doc = _user(services, email)
    seed = totp.new_seed()
    services.users.put({**doc, "totp_pending": seal(services.settings, seed)})
    return totp.enrolment_uri(seed, doc["email"])


def pending_uri(services: Services, email: str) -> str | None:
    """The enrolment URI of a seed waiting for its first code, or None."""
    doc = _user(services, email)
    if not doc.get("totp_pending"):
        return None
    return totp.enrolment_uri(unseal(services.settings, doc["totp_pending"], "TOTP seed"), doc["email"])


def confirm(services: Services, email: str, code: str, actor: str) -> list[str]:
    """Turn the factor on with the first code of the waiting seed; the recovery codes, to show once."""
    doc = _user(services, email)
    if not doc.get("totp_pending"):
        raise ValidationError("Start again: no authenticator is waiting to be confirmed.", {"code": ["start again"]})
    seed = unseal(services.settings, doc["totp_pending"], "TOTP seed")
    step = totp.matching_step(seed, totp.normalize_code(code), _now_s(services), None)
    account = signin_guard.account_of(doc["email"])
    if step is None or not services.users.claim_totp_step(account, step, STEP_MEMORY_SECONDS):
        raise ValidationError("That is not the current code of your authenticator app. Check the phone's clock "
                              "and type the code it shows now.", {"code": ["not the current code"]})
    codes = totp.new_recovery_codes()
    services.users.put_recovery_codes(account, [totp.recovery_hash(c) for c in codes])
    rest = {k: v for k, v in doc.items() if k != "totp_pending"}
    services.users.put({**rest, "totp": {"seed": doc["totp_pending"], "enabled_at": services.clock.now_ms()}})
    record(services, actor, "member.totp_on", f"user:{doc['email']}")
    return codes


def check(services: Services, email: str, code: str) -> bool:
    """Whether ``code`` is the account's current TOTP code (not used before) or an unused recovery code
    (then used up). The caller throttles (``signin_guard``)."""
    doc = services.users.get(email)
    if not doc or not doc.get("totp"):
        return False
    typed = totp.normalize_code(code)
    account = signin_guard.account_of(doc["email"])
    if totp.is_totp_code(typed):
        seed = unseal(services.settings, doc["totp"]["seed"], "TOTP seed")
        step = totp.matching_step(seed, typed, _now_s(services), services.users.last_totp_step(account))
        return step is not None and services.users.claim_totp_step(account, step, STEP_MEMORY_SECONDS)
    if len(typed) == 16 and services.users.use_recovery_code(account, totp.recovery_hash(typed)):
        left = services.users.recovery_codes_left(account)
        record(services, doc["email"], "member.recovery_code", f"user:{doc['email']}", left=left)
        log.info("recovery code used", extra={"left": left})
        return True
    return False


def recovery_codes_left(services: Services, email: str) -> int:
    return services.users.recovery_codes_left(signin_guard.account_of(email))


def turn_off(services: Services, email: str, actor: str) -> None:
    """Remove the factor (the user, after a code; or the CLI): sign-in asks for the password only."""
    doc = _user(services, email)
    services.users.put({k: v for k, v in doc.items() if k not in ("totp", "totp_pending")})
    services.users.forget_second_factor(signin_guard.account_of(doc["email"]))
    if doc.get("totp"):
        record(services, actor, "member.totp_off", f"user:{doc['email']}")


def _now_s(services: Services) -> float:
    return services.clock.now_ms() / 1000
