"""Webhook provider secrets per workspace: set (write-only), removed, and read by the webhook receivers.

The receivers get a secret through ``provider_secret`` alone: the secret stored for the workspace
(``PUT /v1/providers/{provider}``), else — in workspace ``default`` only — the environment's setting
(``SCOREKEEPER_STRIPE_SECRET``…), so an existing deployment changes nothing. A provider with neither has
no endpoint (404). Nothing here ever returns a secret to a caller other than the receivers: the API and
the dashboard see only whether one is set and where it comes from.

At rest: when ``SECRETS_KEY`` holds Fernet keys, a stored secret is encrypted with the first (each one
decrypts, so keys can be rotated), and a Redis dump or a backup then holds no usable secret. Without it a
secret is stored as given — as readable as the rest of the data in Redis, which is the trust boundary of a
self-hosted deployment (docs/teams.md says how to turn encryption on).
"""
from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import Flask

from ..audit import record
from ..errors import NotFound, ScorekeeperError, ValidationError
from ..services import Services
from ..settings import setting
from .registry import PROVIDERS, STANDARD, Provider

log = logging.getLogger(__name__)

#: Every provider a secret can be set for: the table's, and Standard Webhooks.
ALL_PROVIDERS: dict[str, Provider] = {**PROVIDERS, STANDARD.name: STANDARD}
#: The longest secret accepted (a SendGrid public key is a few hundred characters).
SECRET_MAX = 4096
#: What marks a stored secret as encrypted.
SEALED = "fernet:"


class SecretUnreadable(ScorekeeperError):
    """A stored secret was encrypted with a key that ``SECRETS_KEY`` no longer holds."""

    status = 503


def named(name: str) -> Provider:
    try:
        return ALL_PROVIDERS[name]
    except KeyError:
        raise NotFound(f"No webhook provider {name!r}; one of {', '.join(sorted(ALL_PROVIDERS))}.") from None


def is_default_workspace(services: Services) -> bool:
    """Workspace ``default`` keeps the plain key prefix (docs/teams.md); only it falls back to the environment."""
    return services.keys.prefix == setting(services.settings, "KEY_PREFIX")


@functools.lru_cache(maxsize=8)
def _cipher(keys: str) -> MultiFernet | None:
    parts = [part.strip() for part in keys.split(",") if part.strip()]
    return MultiFernet([Fernet(part.encode()) for part in parts]) if parts else None


def cipher(settings: Mapping[str, Any]) -> MultiFernet | None:
    """The ``SECRETS_KEY`` keys (the first encrypts, each decrypts), or None when unset."""
    return _cipher(str(setting(settings, "SECRETS_KEY") or ""))


def init_app(app: Flask) -> None:
    """Stop the start on a ``SECRETS_KEY`` that is not a list of Fernet keys (never naming the value)."""
    try:
        cipher(app.config)
    except (ValueError, TypeError):
        raise ValueError("SCOREKEEPER_SECRETS_KEY is not a comma-separated list of Fernet keys (32 url-safe "
                         "base64-encoded bytes each)") from None


def _seal(settings: Mapping[str, Any], secret: str) -> str:
    sealer = cipher(settings)
    return SEALED + sealer.encrypt(secret.encode()).decode() if sealer else secret


def _unseal(settings: Mapping[str, Any], provider: str, stored: str) -> str:
    if not stored.startswith(SEALED):
        return stored
    sealer = cipher(settings)
    try:
        if sealer is None:
            raise InvalidToken
        return sealer.decrypt(stored[len(SEALED):].encode()).decode()
    except InvalidToken:
        log.error("provider secret cannot be decrypted", extra={"provider": provider})
        raise SecretUnreadable(f"The {provider} secret stored here was encrypted with a key SECRETS_KEY no "
                               "longer holds: put the key back, or set the secret again.") from None


def provider_secret(services: Services, provider: Provider) -> str:
    """The secret a delivery to ``provider`` is verified with, in ``services``' workspace: the stored one,
    else (workspace ``default`` only) the environment's; NotFound (404) when there is neither."""
    doc = services.provider_secrets.get(provider.name)
    if doc is not None:
        return _unseal(services.settings, provider.name, doc["secret"])
    if is_default_workspace(services):
        return provider.secret(services.settings)
    raise NotFound(f"No webhook provider {provider.name!r} is configured here.")


def _environment_has(services: Services, provider: Provider) -> bool:
    value = services.settings.get(provider.secret_setting)
    return is_default_workspace(services) and bool(value and str(value).strip())


def status(services: Services, name: str) -> dict[str, Any]:
    """Whether the provider has a secret and where it comes from — never the secret."""
    return _status(services, name, services.provider_secrets.get(named(name).name))


def _status(services: Services, name: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    provider = named(name)
    source = "stored" if doc else ("environment" if _environment_has(services, provider) else None)
    return {"provider": name, "set": source is not None, "source": source,
            "environment_setting": f"SCOREKEEPER_{provider.secret_setting}",
            "encrypted": bool(doc and doc["secret"].startswith(SEALED)),
            "updated_at": doc["updated_at"] if doc else None, "updated_by": doc["updated_by"] if doc else None}


def statuses(services: Services) -> list[dict[str, Any]]:
    stored = services.provider_secrets.all()
    return [_status(services, name, stored.get(name)) for name in sorted(ALL_PROVIDERS)]


def check_secret(secret: Any) -> str:
    value = secret.strip() if isinstance(secret, str) else ""
    if not 1 <= len(value) <= SECRET_MAX:
        raise ValidationError(f"A secret is 1 to {SECRET_MAX} characters (spaces around it are dropped).",
                              {"secret": [f"1 to {SECRET_MAX} characters"]})
    return value


def set_secret(services: Services, name: str, secret: str, actor: str) -> dict[str, Any]:
    """Store (or replace) the workspace's secret for a provider; its deliveries are verified with it from the
    next one on, on every process."""
    named(name)
    value = check_secret(secret)
    doc = {"secret": _seal(services.settings, value), "updated_at": services.clock.now_ms(), "updated_by": actor}
    services.provider_secrets.put(name, doc)
    record(services, actor, "provider.set", f"provider:{name}", encrypted=doc["secret"].startswith(SEALED))
    log.info("provider secret set", extra={"provider": name})
    return _status(services, name, doc)


def remove_secret(services: Services, name: str, actor: str) -> dict[str, Any]:
    """Remove the stored secret: the environment's applies again (workspace ``default``), or none (404)."""
    named(name)
    if not services.provider_secrets.delete(name):
        raise NotFound(f"No {name} secret is stored here (one from the environment is removed there).")
    record(services, actor, "provider.remove", f"provider:{name}")
    log.info("provider secret removed", extra={"provider": name})
    return status(services, name)
