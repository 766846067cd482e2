"""Dashboard users, their one-time invitations, their second factor's state (last step, recovery codes), their
sign-in failures and the session secret — instance-wide: every workspace's services share this store."""
from __future__ import annotations

import secrets
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash, dumps, load_script, loads


@gateway
class UserStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys
        self.docs = DocumentHash(redis, keys.users())
        self._first = load_script(redis, "first_user.lua")
        self._claim_step = load_script(redis, "claim_totp_step.lua")

    def all(self) -> list[dict[str, Any]]:
        return sorted(self.docs.all().values(), key=lambda doc: doc["email"])

    def count(self) -> int:
        return int(self.redis.hlen(self.keys.users()))

    def get(self, email: str) -> dict[str, Any] | None:
        return self.docs.get(email)

    def put(self, doc: dict[str, Any]) -> None:
        self.docs.put(doc["email"], doc)

    def put_first(self, doc: dict[str, Any]) -> bool:
        """Store ``doc`` only if no user exists yet (atomically); True if stored."""
        return bool(self._first(keys=[self.keys.users()], args=[doc["email"], dumps(doc)]))

    def put_new(self, doc: dict[str, Any]) -> bool:
        """Store a user who does not exist yet; False if the email is taken."""
        return bool(self.redis.hsetnx(self.keys.users(), doc["email"], dumps(doc)))

    def delete(self, email: str) -> bool:
        return self.docs.delete(email)

    def put_invite(self, token_hash: str, doc: dict[str, Any], ttl_s: int) -> None:
        self.redis.set(self.keys.invite(token_hash), dumps(doc), ex=ttl_s)

    def peek_invite(self, token_hash: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.invite(token_hash))
        return loads(raw) if raw else None

    def take_invite(self, token_hash: str) -> dict[str, Any] | None:
        """Use an invitation up: the first taker gets it, everyone after gets None."""
        raw = self.redis.getdel(self.keys.invite(token_hash))
        return loads(raw) if raw else None

    # --- sign-in failures (app/signin_guard.py): instance-wide, like the users they count ---------------
    def signin_failures(self, account: str, address: str) -> tuple[int, int]:
        """Failures to the account from the address in its window, and from everywhere in its window."""
        pipe = self.redis.pipeline(transaction=False)  # two slots on a cluster: no MGET
        pipe.get(self.keys.signin_pair_failures(account, address))
        pipe.get(self.keys.signin_account_failures(account))
        pair, total = pipe.execute()
        return int(pair or 0), int(total or 0)

    def count_signin_failure(self, account: str, address: str, pair_window_s: int, account_window_s: int) -> None:
        """One more failure on both counters; each window starts with its first failure."""
        pipe = self.redis.pipeline(transaction=False)
        for key, window in ((self.keys.signin_pair_failures(account, address), pair_window_s),
                            (self.keys.signin_account_failures(account), account_window_s)):
            pipe.incr(key)
            pipe.expire(key, window, nx=True)
        pipe.execute()

    def take_slow_turn(self, account: str, every_s: int) -> bool:
        """True if no attempt took the slowed account's turn within ``every_s`` seconds (and take it now)."""
        return bool(self.redis.set(self.keys.signin_slow_turn(account), "1", nx=True, ex=every_s))

    def clear_signin_failures(self, account: str, address: str | None = None) -> None:
        """Forget the address's failures to the account; without an address, the account's count and turn."""
        if address is not None:
            self.redis.delete(self.keys.signin_pair_failures(account, address))
        else:
            self.redis.delete(self.keys.signin_account_failures(account), self.keys.signin_slow_turn(account))

    def claim_totp_step(self, account: str, step: int, ttl_s: int) -> bool:
        """Record ``step`` as the account's last accepted TOTP step if it is later than the last one
        (atomically: two sign-ins with one code cannot both win); True if it was."""
        return bool(self._claim_step(keys=[self.keys.totp_step(account)], args=[step, ttl_s]))

    def last_totp_step(self, account: str) -> int | None:
        raw = self.redis.get(self.keys.totp_step(account))
        return int(raw) if raw is not None else None

    def put_recovery_codes(self, account: str, hashes: list[str]) -> None:
        """Replace the account's recovery codes (their hashes) in one transaction."""
        key = self.keys.totp_recovery(account)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(key)
        if hashes:
            pipe.sadd(key, *hashes)
        pipe.execute()

    def use_recovery_code(self, account: str, code_hash: str) -> bool:
        """Use a recovery code up: True for the first use only."""
        return bool(self.redis.srem(self.keys.totp_recovery(account), code_hash))

    def recovery_codes_left(self, account: str) -> int:
        return int(self.redis.scard(self.keys.totp_recovery(account)))

    def forget_second_factor(self, account: str) -> None:
        """Drop the account's recovery codes and last step (the seed lives in the user's document)."""
        self.redis.delete(self.keys.totp_recovery(account), self.keys.totp_step(account))

    def session_secret(self) -> str:
        """A random secret made once for the deployment (every process reads the same one)."""
        self.redis.set(self.keys.session_secret(), secrets.token_hex(32), nx=True)
        return str(self.redis.get(self.keys.session_secret()))
