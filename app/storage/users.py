"""Dashboard users, their one-time invitations, per-account sign-in failures and the session secret."""
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

    def account_failures(self, account: str) -> int:
        return int(self.redis.get(self.keys.signin_account_failures(account)) or 0)

    def count_account_failure(self, account: str, window_s: int) -> None:
        key = self.keys.signin_account_failures(account)
        pipe = self.redis.pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, window_s, nx=True)
        pipe.execute()

    def clear_account_failures(self, account: str) -> None:
        self.redis.delete(self.keys.signin_account_failures(account))

    def session_secret(self) -> str:
        """A random secret made once for the deployment (every process reads the same one)."""
        self.redis.set(self.keys.session_secret(), secrets.token_hex(32), nx=True)
        return str(self.redis.get(self.keys.session_secret()))
