"""Webhook secrets set per workspace with ``PUT /v1/providers/{provider}``: one JSON document per provider
(the secret as ``app/hooks/secrets.py`` sealed it, when, by whom). Only ``app/hooks/secrets.py`` reads them."""
from __future__ import annotations

from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash


@gateway
class ProviderSecretStore:
    def __init__(self, redis: Any, keys: Keys):
        self.docs = DocumentHash(redis, keys.provider_secrets())

    def all(self) -> dict[str, dict[str, Any]]:
        return self.docs.all()

    def get(self, provider: str) -> dict[str, Any] | None:
        """The provider's stored document (read on every delivery: no cache, so a change is seen at once)."""
        return self.docs.get(provider)

    def put(self, provider: str, doc: dict[str, Any]) -> None:
        self.docs.put(provider, doc)

    def delete(self, provider: str) -> bool:
        """True if a secret was stored."""
        return self.docs.delete(provider)
