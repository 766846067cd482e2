"""Webhook secrets set per workspace with ``PUT /v1/providers/{provider}``: one JSON document per provider
(the secret as ``app/hooks/secrets.py`` sealed it, when, by whom). Only ``app/hooks/secrets.py`` reads them.

A webhook is verified with the document this process read last (``stored(..., remembered=True)``: no round trip),
and stored only if that document is still the one in Redis: the ingest script compares its digest in the call
that stores the delivery (``ingest_one_trip.lua``), the multi-step path with ``still_stored``. So a secret set or
removed on any process applies to the next delivery everywhere, as when every delivery read it.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from .errors import gateway
from .redis_tools import DocumentHash, loads


@dataclass(frozen=True)
class StoredSecret:
    """A provider's stored document (None when none is stored) and the SHA-1 of its text as stored ('' when
    none): what the ingest script compares with ``redis.sha1hex`` of the field, so the secret never travels in a
    command."""

    doc: dict[str, Any] | None
    digest: str


def text_digest(text: str | None) -> str:
    """The digest ``ingest_one_trip.lua`` computes of a stored document's text ('' for none)."""
    return hashlib.sha1(text.encode()).hexdigest() if text is not None else ""


@gateway
class ProviderSecretStore:
    def __init__(self, redis: Any, keys: Keys):
        self.redis = redis
        self.key = keys.provider_secrets()
        self.docs = DocumentHash(redis, self.key)
        #: Provider -> its document as this process read it last.
        self._last: dict[str, StoredSecret] = {}

    def all(self) -> dict[str, dict[str, Any]]:
        return self.docs.all()

    def get(self, provider: str) -> dict[str, Any] | None:
        """The provider's stored document, read now."""
        return self.stored(provider).doc

    def stored(self, provider: str, remembered: bool = False) -> StoredSecret:
        """The provider's stored document and its digest: read now or, with ``remembered``, as this process read
        it last (read now the first time). Whoever stores with a remembered one checks its digest is current."""
        if remembered and provider in self._last:
            return self._last[provider]
        text = self.redis.hget(self.key, provider)
        found = StoredSecret(loads(text) if text else None, text_digest(text))
        self._last[provider] = found
        return found

    def still_stored(self, provider: str, digest: str) -> bool:
        """Whether the provider's stored document is still the one with this digest (one round trip)."""
        return text_digest(self.redis.hget(self.key, provider)) == digest

    def put(self, provider: str, doc: dict[str, Any]) -> None:
        self._last.pop(provider, None)
        self.docs.put(provider, doc)

    def delete(self, provider: str) -> bool:
        """True if a secret was stored."""
        self._last.pop(provider, None)
        return self.docs.delete(provider)
