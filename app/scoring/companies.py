"""Companies: which company a contact belongs to, and a profile's score rolled up over a company's contacts.

The domain of company scores (issue #16), pure like the rest of ``app/scoring``; the scores are kept by
``app/storage/companies.py`` and shown by ``app/companies.py`` (docs/scoring-models.md, "Company scores").

- **Membership.** A contact's ``company`` attribute (set by ``PATCH /v1/contacts/{id}`` or carried by an
  interaction's ``attributes``) names its company; without one, its email's domain does, unless the domain is
  a free-mail provider's (``FREE_MAIL_DOMAINS``: a gmail.com address says nothing about an employer).
- **Company ids** are lower-case: a domain as it is (``acme.co.uk``), a name as words joined by ``-``
  (``"Acme, Inc."`` → ``acme-inc``). A ``company`` attribute holding a domain (``acme.com``) joins the contacts
  of that email domain.
- **Roll-up** over the company's *scored* contacts (a contact without a score in the profile is left out):
  ``sum``, ``average`` (rounded to a whole point, halves away from zero) or ``max``; no scored contact, no
  company score.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

#: Domains of free-mail providers: an address there never makes a company. Stored contacts depend on this list:
#: a contact hash leaves out the company its email implies (``app/storage/contacts.py``, ``implied_company``), so
#: adding or removing a domain here changes what stored hashes of that domain say. Such a change needs a layout
#: migration that first writes those contacts' ``company`` field explicitly (docs/durability.md).
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "yahoo.de", "ymail.com", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "hotmail.de", "outlook.com", "live.com", "msn.com", "icloud.com", "me.com",
    "mac.com", "aol.com", "gmx.com", "gmx.de", "gmx.net", "web.de", "t-online.de", "mail.com", "proton.me",
    "protonmail.com", "pm.me", "tutanota.com", "zoho.com", "yandex.com", "yandex.ru", "mail.ru", "qq.com",
    "163.com", "126.com", "naver.com", "orange.fr", "free.fr", "laposte.net", "libero.it", "fastmail.com",
})
#: How a profile's score rolls up to a company.
ROLLUPS = ("sum", "average", "max")
#: The attribute naming a contact's company.
COMPANY_ATTRIBUTE = "company"

_DOMAIN = re.compile(r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")
_NOT_WORD = re.compile(r"[^a-z0-9.]+")


def email_domain(email: str | None) -> str | None:
    """The domain of an address, lower-case (None when there is no usable one)."""
    if not email or "@" not in email:
        return None
    domain = email.rsplit("@", 1)[1].strip().strip(".").lower()
    return domain if _DOMAIN.fullmatch(domain) else None


def company_id(name: Any) -> str | None:
    """The id of a company named by a ``company`` attribute (None when it names none)."""
    if not isinstance(name, str):
        return None
    text = name.strip().lower()
    if _DOMAIN.fullmatch(text):
        return text
    slug = "-".join(part for part in _NOT_WORD.sub(" ", text.replace(".", " ")).split())
    return slug or None


def company_of(email: str | None, attributes: Mapping[str, Any] | None = None) -> str | None:
    """The contact's company: its ``company`` attribute, else its email's domain unless free-mail."""
    named = company_id((attributes or {}).get(COMPANY_ATTRIBUTE))
    if named:
        return named
    domain = email_domain(email)
    return domain if domain and domain not in FREE_MAIL_DOMAINS else None


def roll_up(how: str, scores: Iterable[int | None]) -> int | None:
    """A company's score from its contacts' scores in one profile (contacts without a score left out)."""
    scored = [score for score in scores if score is not None]
    if not scored:
        return None
    if how == "sum":
        return sum(scored)
    if how == "max":
        return max(scored)
    if how == "average":
        total, n = sum(scored), len(scored)
        whole, rest = divmod(abs(total), n)
        rounded = whole + (1 if 2 * rest >= n else 0)
        return rounded if total >= 0 else -rounded
    raise ValueError(f"unknown roll-up {how!r}: one of {', '.join(ROLLUPS)}")
