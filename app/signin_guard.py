"""How many wrong passwords and codes a dashboard account takes, and from where — without letting a stranger
lock its owner out.

A per-account lock (the earlier design: 5 failures locked the account for everyone) hands anyone who knows
an email the power to keep its owner out. The guard follows OWASP's advice instead (per account *and* client,
plus device cookies):

1. **Per account and address**: 5 failures to an account from one client address within 15 minutes refuse
   that address for that account until the window ends (``429``). Other addresses — the owner's — are not
   affected.
2. **Per account, slowed, never locked**: past 20 failures to the account within an hour (from anywhere),
   a client without a *device cookie* for the account (set at that browser's last successful sign-in) gets
   one attempt every 30 seconds, shared by all such clients. That caps a distributed guessing run at about
   120 attempts an hour, while the owner — on a browser they signed in from before — is not slowed at all,
   and on a new one waits at most half a minute per attempt.
3. **Per address** (every account, and the server-key sign-in): 10 failures a minute (``app/dashboard/``).

Wrong TOTP and recovery codes count exactly like wrong passwords. A successful sign-in clears its
address's count for the account; the account's hourly count is left to run out, so an attacker gains
nothing from the owner signing in meanwhile. The counters are instance-wide, like the users (``storage/users.py``):
whichever workspace a page acts in, an account has one count.
"""
from __future__ import annotations

import hashlib

from .errors import TooManyRequests
from .services import Services

PAIR_FAILURES_MAX, PAIR_WINDOW_SECONDS = 5, 900
ACCOUNT_FAILURES_SLOW, ACCOUNT_WINDOW_SECONDS = 20, 3600
#: Once an account is slowed: one attempt from an untrusted client per this many seconds.
SLOW_TURN_SECONDS = 30


def account_of(email: str) -> str:
    """What the counters are keyed by: the SHA-256 of the normalized email (no email in a key name)."""
    return hashlib.sha256((email or "").strip().lower().encode()).hexdigest()


def check(services: Services, account: str, address: str, trusted: bool) -> None:
    """Before checking a password or code: ``TooManyRequests`` if this attempt must wait."""
    pair, total = services.users.signin_failures(account, address)
    if pair >= PAIR_FAILURES_MAX:
        raise TooManyRequests("Too many failed sign-ins to this account from your address; wait 15 minutes "
                              "and try again.")
    if trusted or total < ACCOUNT_FAILURES_SLOW:
        return
    if not services.users.take_slow_turn(account, SLOW_TURN_SECONDS):
        raise TooManyRequests(f"This account has had many failed sign-ins, so from a new device it takes one "
                              f"attempt every {SLOW_TURN_SECONDS} seconds; wait that long and try again.")


def failed(services: Services, account: str, address: str) -> None:
    services.users.count_signin_failure(account, address, PAIR_WINDOW_SECONDS, ACCOUNT_WINDOW_SECONDS)


def succeeded(services: Services, account: str, address: str) -> None:
    services.users.clear_signin_failures(account, address)


def reset(services: Services, account: str) -> None:
    """After a password reset from the CLI: the account is neither slowed nor counted against any more."""
    services.users.clear_signin_failures(account)
