"""Short-lived guards: failed dashboard sign-ins per client address, one-time dashboard form tokens, and
webhook replay tokens (account sign-in failures are instance-wide, in ``storage/users.py``)."""
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

    def claim_form(self, token: str, ttl_s: int) -> bool:
        """Claim a dashboard form's one-time token; False if it was sent before (a reload)."""
        return bool(self.redis.set(self.keys.form_sent(token), "1", nx=True, ex=ttl_s))

    def release_form(self, token: str) -> None:
        """The form made nothing: it may be sent again."""
        self.redis.delete(self.keys.form_sent(token))

    def claim_token(self, provider: str, token: str, ttl_s: int) -> bool:
        """Claim a one-time webhook signature token; False if it was claimed before (a replay)."""
        return bool(self.redis.set(self.keys.webhook_token(provider, token), "1", nx=True, ex=ttl_s))

    def token_key(self, provider: str, token: str) -> str:
        """Where a webhook's one-time token is claimed (for the ingest script, which claims it with what it
        stores: ``PartitionQueue.accept``)."""
        return self.keys.webhook_token(provider, token)

    def release_token(self, provider: str, token: str) -> None:
        """Give a claimed token back (the delivery it came with was not stored)."""
        self.redis.delete(self.keys.webhook_token(provider, token))
