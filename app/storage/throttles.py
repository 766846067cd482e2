"""Short-lived guards: failed dashboard sign-ins (per address, per account and address, per account; key
names from ``app/signin_guard.py``), and webhook replay tokens."""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway


@gateway
class Throttles:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.keys = keys

    def signin_failures(self, address: str) -> int:
        """Failed sign-ins from this address in the current window."""
        return int(self.redis.get(self.keys.signin_failures(address)) or 0)

    def count_signin_failure(self, address: str, window_s: int) -> None:
        """One more failure; the window starts with the first."""
        key = self.keys.signin_failures(address)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window_s, nx=True)
        pipe.execute()

    def failures(self, key: str) -> int:
        return int(self.redis.get(key) or 0)

    def count_failures(self, window_s: int, *keys: str) -> None:
        """One more failure on each counter; each window starts with its first failure."""
        pipe = self.redis.pipeline(transaction=False)
        for key in keys:
            pipe.incr(key)
            pipe.expire(key, window_s, nx=True)
        pipe.execute()

    def clear(self, *keys: str) -> None:
        self.redis.delete(*keys)

    def take_turn(self, key: str, every_s: int) -> bool:
        """True if no turn was taken within the last ``every_s`` seconds (and take this one)."""
        return bool(self.redis.set(key, "1", nx=True, ex=every_s))

    def claim_token(self, provider: str, token: str, ttl_s: int) -> bool:
        """Claim a one-time webhook signature token; False if it was claimed before (a replay)."""
        return bool(self.redis.set(self.keys.webhook_token(provider, token), "1", nx=True, ex=ttl_s))

    def release_token(self, provider: str, token: str) -> None:
        """Give a claimed token back (the delivery it came with was not stored)."""
        self.redis.delete(self.keys.webhook_token(provider, token))
