"""The TOTP second factor (RFC 6238, through pyotp): seeds, the enrolment URI and QR code, checking a code,
and recovery codes. No storage here: ``app/people.py`` keeps the seed (sealed) and the last step used.

- A code is 6 digits for a 30-second step; the step before and after are accepted too (a phone's clock may be
  off by a little), nothing further.
- A code is refused if its step is not later than the last step accepted for the account, so a code seen over
  a shoulder or in a proxy log cannot be used again, not even within its own 30 seconds.
- Recovery codes are 80 random bits each (16 base32 characters, shown in groups of four): like API keys, a
  plain SHA-256 of one is safe to store (nobody can search 2^80 codes), and each works once.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

import pyotp
import segno

ISSUER = "Scorekeeper"
STEP_SECONDS = 30
#: Steps accepted either side of the current one.
WINDOW = 1
DIGITS = 6
RECOVERY_CODES = 10
_CODE = re.compile(r"^[0-9]{6}$")
_BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"


def new_seed() -> str:
    return pyotp.random_base32()


def enrolment_uri(seed: str, email: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (from the QR code, or typed)."""
    return pyotp.TOTP(seed).provisioning_uri(name=email, issuer_name=ISSUER)


def seed_of(uri: str) -> str:
    """The seed an enrolment URI carries, to type into an app that cannot scan."""
    return pyotp.parse_uri(uri).secret


def qr_svg(uri: str) -> str:
    """The URI as an inline SVG QR code (no image request, nothing sent elsewhere)."""
    return segno.make(uri, error="m").svg_inline(scale=4, title="QR code for your authenticator app")


def normalize_code(code: str) -> str:
    """What was typed, without spaces and dashes, upper-cased (recovery codes are shown grouped)."""
    return re.sub(r"[\s-]", "", code or "").upper()


def is_totp_code(code: str) -> bool:
    return bool(_CODE.match(code))


def matching_step(seed: str, code: str, now_s: float, after_step: int | None) -> int | None:
    """The step whose code ``code`` is, within the window around ``now_s`` and later than ``after_step``;
    None if there is none (wrong, too old, or used already)."""
    if not is_totp_code(code):
        return None
    totp = pyotp.TOTP(seed, digits=DIGITS, interval=STEP_SECONDS)
    current = int(now_s) // STEP_SECONDS
    found = None
    for step in range(current - WINDOW, current + WINDOW + 1):  # every step compared: constant work
        if hmac.compare_digest(totp.generate_otp(step), code) and (after_step is None or step > after_step):
            found = step
    return found


def new_recovery_codes() -> list[str]:
    """Codes to show once, grouped for reading: ``ABCD-EFGH-IJKL-MNOP``."""
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_BASE32) for _ in range(16))
        codes.append("-".join(raw[i:i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256(normalize_code(code).encode()).hexdigest()
