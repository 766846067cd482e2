"""Webhook provider secrets per workspace: set (write-only), removed, and read by the webhook receivers.

The receivers get a secret through ``provider_secret`` alone: the secret stored for the workspace
(``PUT /v1/providers/{provider}``), else — in workspace ``default`` only — the environment's setting
(``SCOREKEEPER_STRIPE_SECRET``…), so an existing deployment changes nothing. A provider with neither has
no endpoint (404). Nothing here ever returns a secret to a caller other than the receivers: the API and
the dashboard see only whether one is set and where it comes from.

At rest: encrypted with ``SECRETS_KEY`` when it is set (``app/sealing.py``, shared with TOTP seeds).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..audit import record
from ..errors import NotFound, ValidationError
from ..sealing import is_sealed, seal, unseal
from ..services import DEFAULT_WORKSPACE, Services
from .registry import PROVIDERS, STANDARD, Provider

log = logging.getLogger(__name__)

#: Every provider a secret can be set for: the table's, and Standard Webhooks.
ALL_PROVIDERS: dict[str, Provider] = {**PROVIDERS, STANDARD.name: STANDARD}
#: The longest secret accepted (a SendGrid public key is a few hundred characters).
SECRET_MAX = 4096


def named(name: str) -> Provider:
    try:
        return ALL_PROVIDERS[name]
    except KeyError:
        raise NotFound(f"No webhook provider {name!r}; one of {', '.join(sorted(ALL_PROVIDERS))}.") from None


def is_default_workspace(services: Services) -> bool:
    """Only workspace ``default`` falls back to the environment's secrets (an existing deployment changes nothing)."""
    return services.workspace == DEFAULT_WORKSPACE


def provider_secret(services: Services, provider: Provider) -> str:
    """The secret a delivery to ``provider`` is verified with, in ``services``' workspace: the stored one,
    else (workspace ``default`` only) the environment's; NotFound (404) when there is neither."""
    return delivery_secret(services, provider, remembered=False).value


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class DeliverySecret:
    """The secret a delivery is verified with, the digest of the stored document it came from ('' when it came
    from the environment: nothing stored), and whether it is this process's last read rather than a read now."""

    value: str
    digest: str
    remembered: bool


def delivery_secret(services: Services, provider: Provider, remembered: bool = True) -> DeliverySecret:
    """``provider_secret`` with where it came from. ``remembered``: as this process read it last, no round trip —
    the delivery is then stored only if that is still the stored document (``ingest`` checks the digest in the
    call that stores it), and a delivery it does not verify, or a 404, is decided on a read made now."""
    stored = services.provider_secrets.stored(provider.name, remembered=remembered)
    if stored.doc is not None:
        return DeliverySecret(unseal(services.settings, stored.doc["secret"], f"{provider.name} secret"),
                              stored.digest, remembered)
    try:
        if not is_default_workspace(services):
            raise NotFound(f"No webhook provider {provider.name!r} is configured here.")
        return DeliverySecret(provider.secret(services.settings), stored.digest, remembered)
    except NotFound:
        if remembered:  # a secret may have been stored since this process looked
            return delivery_secret(services, provider, remembered=False)
        raise


def webhook_path(services: Services, name: str) -> str:
    """The path the provider posts to for ``services``' workspace (what to paste, after the host)."""
    prefix = "" if is_default_workspace(services) else f"/w/{services.workspace}"
    return f"{prefix}/hooks/standard/{{source}}" if name == STANDARD.name else f"{prefix}/hooks/{name}"


def _environment_has(services: Services, provider: Provider) -> bool:
    value = services.settings.get(provider.secret_setting)
    return is_default_workspace(services) and bool(value and str(value).strip())


def status(services: Services, name: str) -> dict[str, Any]:
    """Whether the provider has a secret and where it comes from — never the secret."""
    return _status(services, name, services.provider_secrets.get(named(name).name))


def _status(services: Services, name: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    provider = named(name)
    source = "stored" if doc else ("environment" if _environment_has(services, provider) else None)
    return {"provider": name, "set": source is not None, "source": source, "webhook_path": webhook_path(services, name),
            "environment_setting": f"SCOREKEEPER_{provider.secret_setting}",
            "encrypted": bool(doc and is_sealed(doc["secret"])),
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
    doc = {"secret": seal(services.settings, value), "updated_at": services.clock.now_ms(), "updated_by": actor}
    services.provider_secrets.put(name, doc)
    record(services, actor, "provider.set", f"provider:{name}", encrypted=is_sealed(doc["secret"]))
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
