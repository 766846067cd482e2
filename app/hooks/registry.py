"""The one table of webhook providers: name -> module, secret setting and body limit.

Each module has the same two functions::

    verify(raw: bytes, headers: Mapping[str, str], secret: str, now: float) -> None   # SignatureError
    parse(payload: Any, source: str) -> ParseResult                                   # ValidationError

so adding a provider is one module and one line here.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..errors import NotFound
from . import calcom, calendly, mailgun, postmark, sendgrid, standard, stripe, tally, typeform

MIB = 1024 * 1024
#: Largest webhook body accepted, in bytes, unless ``{NAME}_MAX_BODY_BYTES`` says otherwise.
DEFAULT_MAX_BODY_BYTES = 1 * MIB


@dataclass(frozen=True)
class Provider:
    name: str
    module: ModuleType
    #: Setting (``SCOREKEEPER_`` prefix stripped) holding the secret; unset means "not configured" (404).
    secret_setting: str
    #: Default body limit, in bytes; the setting ``{NAME}_MAX_BODY_BYTES`` overrides it.
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @functools.cached_property  # read for every webhook (its body limit)
    def size_setting(self) -> str:
        return f"{self.name.upper()}_MAX_BODY_BYTES"

    def body_limit(self, config: Mapping[str, Any]) -> int:
        return int(config.get(self.size_setting) or self.max_body_bytes)

    def secret(self, config: Mapping[str, Any]) -> str:
        """The configured secret, or NotFound: an unconfigured provider's endpoint does not exist."""
        value = config.get(self.secret_setting)
        if not value or not str(value).strip():
            raise NotFound(f"No webhook provider {self.name!r} is configured here.")
        return str(value).strip()


PROVIDERS: dict[str, Provider] = {
    provider.name: provider
    for provider in (
        Provider("sendgrid", sendgrid, "SENDGRID_PUBLIC_KEY", 5 * MIB),
        Provider("mailgun", mailgun, "MAILGUN_SIGNING_KEY"),
        Provider("postmark", postmark, "POSTMARK_BASIC_AUTH"),
        Provider("calendly", calendly, "CALENDLY_SIGNING_KEY"),
        Provider("calcom", calcom, "CALCOM_SECRET"),
        Provider("typeform", typeform, "TYPEFORM_SECRET"),
        Provider("tally", tally, "TALLY_SECRET"),
        Provider("stripe", stripe, "STRIPE_SECRET"),
    )
}
#: Standard Webhooks, served at ``/hooks/standard/{source}``: the source names the sending system.
STANDARD = Provider("standard", standard, "STANDARD_WEBHOOK_SECRET")


def lookup(name: str) -> Provider:
    try:
        return PROVIDERS[name]
    except KeyError:
        raise NotFound(f"No webhook provider {name!r}.") from None
