"""Contacts and their identities: resolving interactions to contacts, contact documents, tags,
DND fields and provider aliases."""
from __future__ import annotations

import binascii
import hashlib
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..keys import Keys
from ..scoring.companies import FREE_MAIL_DOMAINS, company_of
from ..scoring.fold import FoldState
from ..scoring.interactions import Interaction
from .errors import gateway
from .redis_tools import (RecordedWrites, Sharding, call_script, dumps, get_many, load_script, loads,
                          on_cluster, run_scripts)
from .registry import CREATED, CREATED_BEFORE, CREATED_SHORT, ContactRegistry, created_of
from .search_terms import SearchTerms
from .timelines import RECORDS_LIBRARY, StatesMoved, join_states, split_contact

#: A contact hash's email: its short field, written once ``EMAIL_SHORT`` is recorded
#: (``app/contact_layout.py:email_once``), and the long one releases before wrote (and this release until then).
#: Every reader reads both (``email_of``; ``filter_bucket.lua``'s ``document_in``, ``drop_implied_companies.lua``).
#: A backup holds the long one (``explicit_document``).
EMAIL = "e"
EMAIL_BEFORE = "email"
#: Both, in the order ``email_of`` takes them (an ``HMGET``'s fields).
EMAIL_FIELDS = (EMAIL, EMAIL_BEFORE)
#: The migrations hash's record of ``email_once``: no contact hash holds ``EMAIL_BEFORE`` any more but what a
#: process that had not yet seen the record wrote since (read the same way).
EMAIL_SHORT = "email-short"
#: Contact document fields whose text can be found by a prefix (the email by either name).
SEARCH_FIELDS = (EMAIL, EMAIL_BEFORE, "external_id", "name")
#: The migrations hash's record of ``app/contact_layout.py:identity_once``: the email identity keys that named the
#: contact their email derives (``contact_id_for("email", email)``) are gone, their contact's existence says it; from
#: then on a new contact first seen by its email gets no key on one Redis (``ContactStore.email_key_implied``).
IDENTITIES_IMPLIED = "identity-keys-implied"
#: Identity keys a page of the migration's walk (one SCAN and one script call).
IMPLIED_PAGE = 500
#: The migrations hash's record of ``app/contact_layout.py:companies_once``'s first pass: every contact whose email
#: implies a company (``implied_company``) but which has none holds an empty ``company`` field, so from then on a
#: contact hash without the field is in the company its email implies (``stored_company``/``read_company``).
COMPANY_NONE_EXPLICIT = "company-none-explicit"
#: The record of its second pass: no contact hash repeats the company its email implies.
COMPANY_IMPLIED = "company-implied"
#: A company an email can imply: a lower-case domain as ``app/scoring/companies.py`` makes one.
_IMPLIABLE = re.compile(r"[a-z0-9-]+(\.[a-z0-9-]+)+")
#: The migrations hash's record of ``app/contact_layout.py:short_ids_once``: no process of a release that derives
#: only the long id is alive (every process of this release looks for both forms before it creates a contact), so
#: from then on a new contact gets the short id (``contact_id_for(..., short=True)``; docs/performance.md, "Row 5a
#: (2026-12-06): short contact ids").
IDS_SHORT = "contact-ids-short"
#: A short id: "c" and the first ``SHORT_ID_BYTES`` bytes (72 bits) of the SHA-1 as base64url, 12 characters — the
#: contact's key ``sk:{c:ID}`` is then a 24 B allocation, not 32 (docs/performance.md). Two contacts of one workspace
#: collide with odds ~n^2/2^73: ~1e-10 at a million contacts.
SHORT_ID_BYTES = 9
#: The length of a short id and of a long one (releases before: "c" and 20 hex digits of the SHA-1).
SHORT_ID_LEN, LONG_ID_LEN = 1 + SHORT_ID_BYTES * 4 // 3, 21
#: Identities a process remembers having seen linked to their contact, at most (``ContactStore.plan_identities``
#: builds no new-contact writes for them); past it the memory starts again empty. ~150 B each.
LINKED_REMEMBERED = 20_000


#: What follows the NUL of a search term whose contact is the one its text derives as an external id
#: (``contact_id_for("ext", text)``); nothing follows it where the text derives it as an email. The short ids'
#: (``contact_id_for(..., short=True)``): ``EMAIL_DERIVED_SHORT`` and ``EXT_DERIVED_SHORT``.
EXT_DERIVED = "\x01"
EMAIL_DERIVED_SHORT = "\x02"
EXT_DERIVED_SHORT = "\x03"
#: A search term's tail (after the NUL) that stands for a derived id: the kind and whether the id is short.
_DERIVED_TAILS = {"": ("email", False), EXT_DERIVED: ("ext", False), EMAIL_DERIVED_SHORT: ("email", True),
                  EXT_DERIVED_SHORT: ("ext", True)}


def search_member(text: str, contact_id: str) -> str:
    """A search index entry: the text in lower case, NUL, the contact id (NUL sorts before any text, so
    ``ann`` comes before ``anna``) — left out where the text derives the contact (``contact_id_for``): a
    lower-case email's contact ends at the NUL, a lower-case external id's ends with ``EXT_DERIVED``; a short id's
    (``contact_id_for(..., short=True)``) with ``EMAIL_DERIVED_SHORT`` or ``EXT_DERIVED_SHORT`` (``search_contact_of``
    derives it back; releases before wrote the id always)."""
    text = text.lower()
    if derives(contact_id, "email", text):
        return f"{text}\x00" if len(contact_id) == LONG_ID_LEN else f"{text}\x00{EMAIL_DERIVED_SHORT}"
    if derives(contact_id, "ext", text):
        return f"{text}\x00{EXT_DERIVED if len(contact_id) == LONG_ID_LEN else EXT_DERIVED_SHORT}"
    return f"{text}\x00{contact_id}"


def search_contact_of(text: str, tail: str) -> str:
    """The contact of a search entry (``search_member``, any form) split at its last NUL into text and tail."""
    if len(tail) > 1:
        return tail
    kind, short = _DERIVED_TAILS[tail]
    return contact_id_for(kind, text, short)


def search_members_written(text: str, contact_id: str) -> list[str]:
    """Every form a writer of this release or one before may have given this term: what removing it removes."""
    return list(dict.fromkeys((search_member(text, contact_id), f"{text.lower()}\x00{contact_id}")))


#: base64 to base64url (``contact_id_for``: one C call, not ``base64.urlsafe_b64encode``'s Python frames).
_URLSAFE = bytes.maketrans(b"+/", b"-_")


def contact_id_for(kind: str, value: str, short: bool = False) -> str:
    """A deterministic id, so two requests creating the same contact at once agree on it: "c" and the first 20 hex
    digits of the SHA-1 of ``kind:value`` (releases before, and this one until ``IDS_SHORT`` is recorded), or with
    ``short`` its first ``SHORT_ID_BYTES`` bytes as base64url (``contact_ids.lua``'s ``derived_short`` gives the
    same). A contact keeps the id it was made with: every reader accepts both (``derives``, ``derived_ids``)."""
    digest = hashlib.sha1(f"{kind}:{value}".encode()).digest()
    if short:
        return "c" + binascii.b2a_base64(digest[:SHORT_ID_BYTES], newline=False).translate(_URLSAFE).decode()
    return "c" + digest.hex()[:20]


def derived_ids(kind: str, value: str) -> tuple[str, str]:
    """Both ids an identity can have made its contact with: the short one, then the long one (``contact_id_for``).
    At most one of them exists: every creator of this release looks for both first."""
    return contact_id_for(kind, value, True), contact_id_for(kind, value)


def derives(contact_id: str, kind: str, value: str) -> bool:
    """Whether this is the contact the identity makes, in either form (``contact_id_for``; its length says which)."""
    return contact_id == contact_id_for(kind, value, len(contact_id) == SHORT_ID_LEN)


def email_of(contact_id: str, short: str | None, long: str | None) -> str | None:
    """A contact's email from its hash's ``EMAIL`` and ``EMAIL_BEFORE`` fields (None: neither is there). An email
    never changes, and each field is written with ``HSETNX``, so a hash holds two only where a second email was
    linked to the contact (an email and an external id naming it) by a process of the other form, the first one's
    field kept: the email that derives the contact (``contact_id_for``) is its first where one does (its link
    made the contact), else the long field is taken (a contact first known by its external id; both orders can
    happen while processes learn of ``EMAIL_SHORT``: the same rule everywhere, ``shorten_email`` keeps it)."""
    if short is None or long is None or short == long:
        return long if short is None else short
    return short if derives(contact_id, "email", short) else long


def implies_company(company: str) -> bool:
    """Whether some email can imply this company (``implied_company``): a lower-case domain, not a free-mail one."""
    return _IMPLIABLE.fullmatch(company) is not None and company not in FREE_MAIL_DOMAINS


def implied_company(contact_id: str, email: str | None) -> str | None:
    """The company a contact hash without a ``company`` field is in (once ``COMPANY_NONE_EXPLICIT`` is recorded):
    for the contact its email derives (``derives``, either form; its email is written with it and never changes), the
    text after the email's last ``@`` when that is a company an email implies (``implies_company``), as it is
    (``company_of`` gives the same, and more: a domain it lower-cases or strips is stored); else none. The
    same rule is ``filter_bucket.lua``'s ``in_roster``."""
    if not email or "@" not in email:
        return None
    domain = email.rpartition("@")[2]
    if not implies_company(domain) or not derives(contact_id, "email", email):
        return None
    return domain


def stored_company(contact_id: str, email: str | None, company: str | None, compact: bool) -> str | None:
    """The ``company`` field that holds a contact's ``company`` (None: no field): the company itself, or none
    where it is the one its email implies (``compact``: once ``COMPANY_NONE_EXPLICIT`` is recorded); an empty
    field where it has none although its email implies one."""
    implied = implied_company(contact_id, email)
    if company is None:
        return "" if implied is not None else None
    return None if compact and company == implied else company


def read_company(contact_id: str, doc: dict[str, str], compact: Any) -> str | None:
    """A contact's company from its stored document (``stored_company``). ``compact()`` says whether
    ``COMPANY_NONE_EXPLICIT`` is recorded; it is asked only for a hash without the field whose email implies a
    company — none of this release's writers leaves one so before the record, and none is recorded unseen: the
    caller asks again (``StatesMoved`` with ``recheck``) after the document was read."""
    stored = doc.get("company")
    if stored is not None:
        return stored or None
    return shown_company(contact_id, None, email_of(contact_id, doc.get(EMAIL), doc.get(EMAIL_BEFORE)), compact)


def shown_company(contact_id: str, stored: str | None, email: str | None, compact: Any) -> str | None:
    """``read_company``'s rule from the stored ``company`` field and the contact's email, already read (a smart
    list's page reads them for 50 contacts: app/storage/queries.py, ``_shown``)."""
    if stored is not None:
        return stored or None
    implied = implied_company(contact_id, email)
    return implied if implied is not None and compact() else None


#: The document fields whose name or form this release may store otherwise than releases before.
_RESTATED = ("company", CREATED, CREATED_BEFORE, EMAIL, EMAIL_BEFORE)


def explicit_document(contact_id: str, doc: dict[str, str], compact: Any) -> dict[str, str]:
    """A stored document with its company, creation time and email said as releases before stored them (a
    ``company`` field when it has one, none when not; ``created_at``; ``email``): what a backup holds
    (``read_company``, ``created_of``, ``email_of``)."""
    company = read_company(contact_id, doc, compact)
    created = created_of(doc)
    email = email_of(contact_id, doc.get(EMAIL), doc.get(EMAIL_BEFORE))
    out = {f: v for f, v in doc.items() if f not in _RESTATED}
    if company is not None:
        out["company"] = company
    if created is not None:
        out[CREATED_BEFORE] = str(created)
    if email is not None:
        out[EMAIL_BEFORE] = email
    return out


def compact_document(contact_id: str, doc: dict[str, str], compact: bool, created_short: bool,
                     email_short: bool) -> dict[str, str]:
    """``explicit_document``'s document as this release stores it (``stored_company``; the creation time in
    ``CREATED`` once ``CREATED_SHORT`` is recorded, the email in ``EMAIL`` once ``EMAIL_SHORT`` is)."""
    email = email_of(contact_id, doc.get(EMAIL), doc.get(EMAIL_BEFORE))
    field = stored_company(contact_id, email, doc.get("company") or None, compact)
    created = created_of(doc)
    out = {f: v for f, v in doc.items() if f not in _RESTATED}
    if field is not None:
        out["company"] = field
    if created is not None:
        out[CREATED if created_short else CREATED_BEFORE] = str(created)
    if email is not None:
        out[EMAIL if email_short else EMAIL_BEFORE] = email
    return out


def default_contact_id(interaction: Interaction, short: bool = False) -> str:
    """The contact an interaction is for unless its identities already name another: the one its email makes,
    else the one its external id makes (``resolve_contacts`` gives the same for a contact it creates), with the short
    id once ``IDS_SHORT`` is recorded (``ContactStore.default_contact_id``)."""
    if interaction.email:
        return contact_id_for("email", interaction.email, short)
    return contact_id_for("ext", interaction.external_id, short)  # type: ignore[arg-type]  # one of the two is set


@dataclass  # made for every webhook: a frozen dataclass's __init__ costs ~4x (docs/performance.md)
class IdentityPlan:
    """How the ingest script resolves one interaction (``ContactStore.plan_identities``): the contact it is for
    unless an identity names another (then the script gives up and the caller resolves in several steps), its
    identity keys (None when it has not that identity), and the writes that link each identity when it is new —
    None for an identity this process saw linked to that contact (the script answers ``unplanned`` should it be
    new after all, and the caller plans again with every write)."""

    contact_id: str
    email_key: str | None
    ext_key: str | None
    email_writes: list[tuple[str, str, list[Any]]] | None
    ext_writes: list[tuple[str, str, list[Any]]] | None
    #: With an email: the contact's hash, whose existence names the contact for the email when the email has no
    #: identity key (the contact is the one its email derives); None without one.
    derived_key: str | None = None
    #: Whether linking a new email writes its identity key (False: the contact's creation says it,
    #: ``ContactStore.email_key_implied``).
    email_keyed: bool = True
    #: With an email: the other id its email derives (``derived_ids``: the long one when the contact is the short one,
    #: and the converse) and its hash, whose existence names that contact instead (then the script answers ``moved``).
    other_id: str | None = None
    other_key: str | None = None


def read_contacts_pipelined(redis: Any, keys: Sequence[str], stride: int = 3) -> list[Any]:
    """What ``read_contacts.lua`` reads, for a Redis Cluster (where one script cannot span the contacts' slots):
    each contact's hash (document and fold states), tags and states hash of releases before (``keys`` in threes; in
    twos, ``stride`` 2, once no such hash is left), one key a command in one pipeline; the replies flat, in order."""
    pipe = redis.pipeline(transaction=False)
    for i in range(0, len(keys), stride):
        pipe.hgetall(keys[i])
        pipe.smembers(keys[i + 1])
        if stride == 3:
            pipe.hgetall(keys[i + 2])
    return pipe.execute()


@gateway
class ContactStore:
    def __init__(self, redis: Any, keys: Keys, sharding: Sharding, companies: Any = None):
        self.redis = redis
        self.keys = keys
        self.sharding = sharding
        #: The company index (``CompanyIndex``): a new contact joins its email's company as it is created.
        self.companies = companies
        #: Identity key -> the contact it was linked to when this process last stored an interaction of it
        #: (``remember_linked``): a belief, checked by the ingest script, never a source of truth.
        self._linked: dict[str, str] = {}
        #: One Redis (not a cluster): a page's contacts are read by one script call.
        self.single_node = not on_cluster(redis)
        self._read_contacts = load_script(redis, "read_contacts.lua", RECORDS_LIBRARY)
        #: Whether no states hash of releases before is left: a page's contacts are then read with two keys each.
        self.states_moved = StatesMoved(redis, keys)
        #: Whether ``identity_once`` was recorded (``email_key_implied``).
        self.identities_implied = StatesMoved(redis, keys, IDENTITIES_IMPLIED)
        #: Whether ``companies_once``'s first pass was recorded: a hash without ``company`` is in the company its
        #: email implies (``read_company``), and writers leave out the field that says only that.
        self.company_compact = StatesMoved(redis, keys, COMPANY_NONE_EXPLICIT)
        #: Whether ``created_once`` was recorded: a new contact's creation time goes in ``CREATED``, not in the
        #: ``CREATED_BEFORE`` releases before read (every reader of this release reads both: ``created_of``).
        self.created_short = StatesMoved(redis, keys, CREATED_SHORT)
        self._shorten_created = load_script(redis, "shorten_created.lua", "created.lua")
        #: Whether ``email_once`` was recorded: a new contact's email goes in ``EMAIL``, not in the ``EMAIL_BEFORE``
        #: releases before read (every reader of this release reads both: ``email_of``).
        self.email_short = StatesMoved(redis, keys, EMAIL_SHORT)
        self._shorten_email = load_script(redis, "shorten_email.lua")
        #: Whether ``short_ids_once`` was recorded: a new contact gets the short id (``contact_id_for``).
        self.ids_short = StatesMoved(redis, keys, IDS_SHORT)
        #: Identity -> the long id it made its contact with, seen since short ids began (``_named``): an interaction
        #: of that identity is planned for that contact (``default_contact_id``), not for the short id, which would
        #: send it the multi-step way every time. A belief, checked by the ingest script; at most
        #: ``LINKED_REMEMBERED``.
        self._long_named: dict[tuple[str, str], str] = {}
        self._claim_script = load_script(redis, "claim_identities.lua")
        self._drop_implied = load_script(redis, "drop_implied_identities.lua")
        self._drop_companies = load_script(redis, "drop_implied_companies.lua")
        #: The search terms' index (new contacts' terms are written beside it, by ``_link``, and moved in later).
        self.search = SearchTerms(redis, keys, sharding)
        #: The contact registry (a new contact is written beside its compact index by ``_link``, moved in later).
        self.registry = ContactRegistry(redis, keys, sharding)

    def default_contact_id(self, interaction: Interaction) -> str:
        """``default_contact_id`` with the short id once ``IDS_SHORT`` is recorded, except for an identity this
        process saw naming the long id it made its contact with (``_long_named``)."""
        if not self.ids_short():
            return default_contact_id(interaction)
        if self._long_named:
            ident = ("email", interaction.email) if interaction.email else ("ext", interaction.external_id)
            if (known := self._long_named.get(ident)) is not None:  # type: ignore[arg-type]
                return known
        return default_contact_id(interaction, True)

    def new_contact_id(self, kind: str, value: str) -> str:
        """The id a contact made now for this identity gets (``contact_id_for``: short once ``IDS_SHORT`` is
        recorded)."""
        return contact_id_for(kind, value, self.ids_short())

    def resolve_contacts(self, interactions: Sequence[Interaction], relinked: list[str] | None = None) -> list[str]:
        """The contact id of each interaction, creating contacts (and linking identities) as needed.

        Email wins when an email and an external id point at different contacts. A contact created from an
        email joins its company at once (``app/scoring/companies.py``); an existing contact that an email was
        linked to is added to ``relinked``, for the caller to place (its scores move with it).
        """
        idents = sorted({(k, v) for i in interactions for k, v in (("email", i.email), ("ext", i.external_id)) if v})
        known = self._named(idents)
        now = time.time()
        wanted: dict[tuple[str, str], str] = {}
        result = []
        for interaction in interactions:
            email_key = ("email", interaction.email) if interaction.email else None
            ext_key = ("ext", interaction.external_id) if interaction.external_id else None
            contact_id = (
                (email_key and (known.get(email_key) or wanted.get(email_key)))
                or (ext_key and (known.get(ext_key) or wanted.get(ext_key)))
                or self.new_contact_id(*(email_key or ext_key))  # type: ignore[misc]
            )
            for ident in (email_key, ext_key):
                if ident and not known.get(ident) and ident not in wanted:
                    wanted[ident] = contact_id
            result.append(contact_id)
        if wanted:
            wanted = self.claim_identities(wanted, now)
            # another request may have linked an identity first: its contact, the email's first, as above
            result = [_named_by(i, known, wanted) for i in interactions]
            if self.single_node:  # the claim wrote the links
                if relinked is not None and self.companies is not None:
                    relinked += [cid for (kind, value), cid in wanted.items()
                                 if kind == "email" and not derives(cid, kind, value)]
            else:
                pipe = self.redis.pipeline(transaction=False)
                for (kind, value), contact_id in wanted.items():
                    self._link(pipe, kind, value, contact_id, now, relinked)
                pipe.execute()
        return result

    def _named(self, idents: Sequence[tuple[str, str]]) -> dict[tuple[str, str], str | None]:
        """The contact each identity names, in one round trip: its identity key's; else, on one Redis, for an
        email, the contact the email derives (``contact_id_for``, the short id or the long one: at most one exists)
        when that exists — it was created for that email, and an email that names another contact keeps a key saying
        so (``email_key_implied``). The contact's
        existence is read before the key: a contact is never deleted and a key naming another contact is never
        set once it exists (``claim_identities.lua``), so a key absent after the contact was seen is absent for
        good. A cluster keeps every key (and orders no reads across its nodes): the key alone says."""
        derive = self.single_node
        pipe = self.redis.pipeline(transaction=False)
        for kind, value in idents:
            if derive and kind == "email":
                for cid in derived_ids(kind, value):
                    pipe.exists(self.keys.contact(cid))
            pipe.get(self.keys.identity(kind, value))
        replies = iter(pipe.execute())
        named: dict[tuple[str, str], str | None] = {}
        for kind, value in idents:
            derived = None
            if derive and kind == "email":
                short, long = derived_ids(kind, value)
                short_there, long_there = next(replies), next(replies)
                derived = short if short_there else long if long_there else None
            named[(kind, value)] = found = next(replies) or derived
            if found is not None and len(found) == LONG_ID_LEN and self.ids_short() and derives(found, kind, value):
                if len(self._long_named) >= LINKED_REMEMBERED:
                    self._long_named.clear()
                self._long_named[(kind, value)] = found
        return named

    def claim_identities(self, wanted: dict[tuple[str, str], str], now: float | None = None,
                         ) -> dict[tuple[str, str], str]:
        """Link each new identity to the contact wanted unless another request named its contact first; returns
        the contact each names now. On one Redis one ``claim_identities.lua`` call, which looks at the key and, for
        an email, at the contact it derives (either id, ``derived_ids``), and links, at once (creating that contact without a key once
        ``email_key_implied``), with the link's other writes (``_link`` at ``now``, recorded): a process that dies
        after it leaves no identity naming a contact written nowhere else, which its retry would never write. On a
        cluster, where the two are in different slots, every identity keeps its key and ``SET NX`` of the key
        alone decides, as before; the caller writes the links after it (``resolve_contacts``)."""
        if self.single_node:
            now = time.time() if now is None else now
            keys: list[str] = []
            for kind, value in wanted:
                key = self.keys.identity(kind, value)
                keys += [key, *((self.keys.contact(cid) for cid in derived_ids(kind, value)) if kind == "email"
                                else (key, key))]
            index = {key: i + 1 for i, key in enumerate(keys)}
            writes: list[list[list[Any]]] = []
            args: list[Any] = []
            for (kind, value), contact_id in wanted.items():
                mine = []
                for command, key, arguments in self._recorded_link(kind, value, contact_id, now):
                    if key not in index:
                        keys.append(key)
                        index[key] = len(keys)
                    mine.append([command, index[key], *(repr(a) if isinstance(a, float) else str(a)
                                                        for a in arguments)])
                writes.append(mine)
                args += [contact_id, *(derived_ids(kind, value) if kind == "email" else ("", "")), value]
            head = ["1" if self.email_key_implied() else "0", dumps(writes)]
            return dict(zip(wanted, call_script(self.redis, self._claim_script, keys, head + args)))
        pipe = self.redis.pipeline(transaction=False)
        for (kind, value), contact_id in wanted.items():
            pipe.set(self.keys.identity(kind, value), contact_id, nx=True)
        lost = [ident for ident, ok in zip(wanted, pipe.execute()) if not ok]
        winners = dict(zip(lost, get_many(self.redis, [self.keys.identity(k, v) for k, v in lost])))
        return {ident: winners.get(ident) or contact_id for ident, contact_id in wanted.items()}

    def email_key_implied(self) -> bool:
        """Whether a new contact first seen by its email gets no identity key for it (its existence says it): on
        one Redis, where ``claim_identities.lua`` and ``ingest_one_trip.lua`` look at the key and the contact at
        once, after ``identity_once`` was recorded — it runs after the upgrade guard, as the workers of releases
        before resolve by the key alone. On a cluster every identity keeps its key (nothing there can check the
        key and the contact in one step)."""
        return self.single_node and self.identities_implied()

    def drop_implied_identities(self, page: int = IMPLIED_PAGE, pages: int | None = None) -> int:
        """Delete every email identity key that names the contact its email derives while that contact exists
        (``_named`` finds it by its existence); a page of ``SCAN`` at a time, each page one
        ``drop_implied_identities.lua`` call, which checks and deletes each key at once. Resumable: a walk cut
        short (``pages``: at most so many pages) leaves keys that still say the same. Returns the keys deleted. One
        Redis only."""
        prefix = self.keys.identity("email", "")
        found = self.redis.scan_iter(match=_glob_escaped(prefix) + "*", count=page)
        dropped = 0
        for _ in itertools.repeat(None) if pages is None else range(pages):
            if not (batch := list(itertools.islice(found, page))):
                break
            keys: list[str] = []
            ids: list[str] = []
            for key in batch:
                mine = derived_ids("email", key[len(prefix):])
                keys += [key, *(self.keys.contact(cid) for cid in mine)]
                ids += mine
            dropped += call_script(self.redis, self._drop_implied, keys, ids)
        return dropped

    def say_no_company(self, contact_ids: Sequence[str]) -> int:
        """``companies_once``'s first pass over these contacts: one without a company whose email implies one gets
        an empty ``company`` field (``stored_company``), so that no hash without the field means "none" any more.
        ``HSETNX``: a company written meanwhile stays. Returns how many fields were written."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), ["company", *EMAIL_FIELDS])
        unsaid = [cid for cid, (company, short, long) in zip(contact_ids, pipe.execute())
                  if company is None and implied_company(cid, email_of(cid, short, long)) is not None]
        for cid in unsaid:
            pipe.hsetnx(self.keys.contact(cid), "company", "")
        return sum(pipe.execute()) if unsaid else 0

    def drop_implied_companies(self, contact_ids: Sequence[str]) -> int:
        """``companies_once``'s second pass over these contacts: a ``company`` field that holds the company the
        contact's email implies is deleted (``drop_implied_companies.lua``, atomic per contact; one call per page on
        one Redis, per contact on a cluster). Returns how many were deleted."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), ["company", *EMAIL_FIELDS])
        read = [(cid, email_of(cid, short, long), company)
                for cid, (company, short, long) in zip(contact_ids, pipe.execute())]
        implied = [(cid, email, company) for cid, email, company in read
                   if company and company == implied_company(cid, email)]
        per_call = len(implied) if self.single_node else 1
        calls = [([self.keys.contact(cid) for cid, _e, _c in implied[start:start + per_call]],
                  [text for _cid, email, company in implied[start:start + per_call] for text in (email, company)])
                 for start in range(0, len(implied), max(per_call, 1))]
        return sum(int(n) for n in run_scripts(self.redis, self._drop_companies, calls))

    def shorten_created(self, contact_ids: Sequence[str]) -> int:
        """``created_once`` over these contacts: each hash's ``CREATED_BEFORE`` field becomes its ``CREATED`` (the
        earlier of the two where both are there: ``created_of``), ``shorten_created.lua``, atomic per contact; one
        call per page on one Redis, per contact on a cluster. Returns how many fields were renamed."""
        keys = [self.keys.contact(cid) for cid in contact_ids]
        per_call = len(keys) if self.single_node else 1
        calls: list[tuple[list[str], list[Any]]] = [(keys[start:start + per_call], [])
                                                     for start in range(0, len(keys), max(per_call, 1))]
        return sum(int(n) for n in run_scripts(self.redis, self._shorten_created, calls))

    def shorten_email(self, contact_ids: Sequence[str]) -> int:
        """``email_once`` over these contacts: each hash's ``EMAIL_BEFORE`` field becomes its ``EMAIL`` (the one
        ``email_of`` reads where both are there, decided here from a read of both; ``shorten_email.lua`` renames
        only a hash whose fields are still the ones read, atomic per contact: one changed meanwhile keeps both,
        read the same way). One call per page on one Redis, per contact on a cluster. Returns how many fields were
        renamed."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), EMAIL_FIELDS)
        long_ones = [(self.keys.contact(cid), [short or "", long, email_of(cid, short, long)])
                     for cid, (short, long) in zip(contact_ids, pipe.execute()) if long is not None]
        per_call = len(long_ones) if self.single_node else 1
        calls: list[tuple[list[str], list[Any]]] = [
            ([key for key, _read in long_ones[start:start + per_call]],
             [text for _key, read in long_ones[start:start + per_call] for text in read])
            for start in range(0, len(long_ones), max(per_call, 1))]
        return sum(int(n) for n in run_scripts(self.redis, self._shorten_email, calls))

    def _link(self, pipe: Any, kind: str, value: str, contact_id: str, now: float,
              relinked: list[str] | None = None) -> None:
        """Queue (into ``pipe``) what linking a new identity to a contact writes besides the identity key: the
        field of its document (created with the contact when it is new), the registry, the search term and, for
        a new contact's email, its company."""
        field = (EMAIL if self.email_short() else EMAIL_BEFORE) if kind == "email" else "external_id"
        pipe.hsetnx(self.keys.contact(contact_id), field, value)
        pipe.hsetnx(self.keys.contact(contact_id), CREATED if self.created_short() else CREATED_BEFORE,
                    int(now * 1000))
        self.registry.new_contact(pipe, contact_id, now)
        pipe.zadd(self.keys.search(self.sharding.bucket_of(contact_id)), {search_member(value, contact_id): 0})
        if kind == "email" and self.companies is not None:
            if not derives(contact_id, kind, value):
                if relinked is not None:
                    relinked.append(contact_id)
            elif company := company_of(value):
                said = stored_company(contact_id, value, company, self.company_compact()) is not None
                self.companies.join_new(pipe, contact_id, company, int(now * 1000), said)

    def plan_identities(self, interactions: Sequence[Interaction], now: float, remembered: bool = True,
                        contact_ids: Sequence[str] | None = None) -> list[IdentityPlan]:
        """For resolving each interaction inside the ingest script (``ingest_one_trip.lua``), in the same call
        that queues it: its identity keys, the contact it is for when those keys say nothing else (the one its
        email, else its external id, makes: ``contact_id_for``), and what linking each identity to that contact
        writes should the identity be new — the writes of ``resolve_contacts``, recorded, not sent. With
        ``remembered``, an identity this process saw linked to that contact (``remember_linked``) gets no writes:
        building them costs more than the rest of the plan, and a known contact needs none. ``contact_ids``: each
        interaction's ``default_contact_id``, when the caller made them already (``ingest``, for the partition)."""
        plans = []
        linked = self._linked if remembered else {}
        email_keyed = not self.email_key_implied()
        for n, interaction in enumerate(interactions):
            email, ext = interaction.email, interaction.external_id
            contact_id = self.default_contact_id(interaction) if contact_ids is None else contact_ids[n]
            email_key = self.keys.identity("email", email) if email else None
            ext_key = self.keys.identity("ext", ext) if ext else None
            # the email's other id, looked for only where the email may be new (a remembered one's contact exists)
            other_id = None
            if email_key is not None and linked.get(email_key) != contact_id:
                other_id = contact_id_for("email", email, len(contact_id) != SHORT_ID_LEN)  # type: ignore[arg-type]
            plans.append(IdentityPlan(
                contact_id, email_key, ext_key,
                None if email_key is None or linked.get(email_key) == contact_id
                else self._recorded_link("email", email, contact_id, now),  # type: ignore[arg-type]
                None if ext_key is None or linked.get(ext_key) == contact_id
                else self._recorded_link("ext", ext, contact_id, now),  # type: ignore[arg-type]
                self.keys.contact(contact_id) if email else None, email_keyed,
                other_id, self.keys.contact(other_id) if other_id is not None else None))
        return plans

    def remember_linked(self, plans: Sequence[IdentityPlan]) -> None:
        """The ingest script stored these plans: each identity is now linked to its plan's contact."""
        if len(self._linked) >= LINKED_REMEMBERED:
            self._linked.clear()
        for plan in plans:
            for key in (plan.email_key, plan.ext_key):
                if key is not None:
                    self._linked[key] = plan.contact_id

    def _recorded_link(self, kind: str, value: str, contact_id: str, now: float) -> list[tuple[str, str, list[Any]]]:
        recorder = RecordedWrites()
        self._link(recorder, kind, value, contact_id, now)
        return recorder.writes

    def find_contact(self, email: str | None = None, external_id: str | None = None) -> str | None:
        """The contact an email (else an external id) names (``_named``), or None."""
        if email:
            return self._named([("email", email)])[("email", email)]
        if external_id:
            return self.redis.get(self.keys.identity("ext", external_id))
        return None

    def contact_exists(self, contact_id: str) -> bool:
        return bool(self.redis.exists(self.keys.contact(contact_id)))

    def get_contact(self, contact_id: str) -> dict[str, Any] | None:
        """The contact document with tags, DND and fold states (``FoldState`` by ``PROFILE@VERSION``; none for a
        profile whose include/exclude lists leave the contact out), or None."""
        return self.get_contacts([contact_id])[0]

    def get_contacts(self, contact_ids: Sequence[str]) -> list[dict[str, Any] | None]:
        """Several contacts in one round trip (a page of a filter), in order; None where missing.

        On a single Redis one call of ``read_contacts.lua`` (one reply to parse, not three per contact); on a
        cluster one pipeline."""
        if not contact_ids:
            return []
        keys = self.page_keys(contact_ids)
        stride = len(keys) // len(contact_ids)
        replies: list[Any]
        if not self.single_node:
            replies = read_contacts_pipelined(self.redis, keys, stride)
        else:
            replies = [_pairs(part) if i % 3 != 1 else part
                       for reply in call_script(self.redis, self._read_contacts, keys, [stride])
                       for i, part in enumerate(reply)]
        out: list[dict[str, Any] | None] = []
        for i, contact_id in enumerate(contact_ids):
            stored, tags, *before = replies[stride * i:stride * i + stride]
            doc, states = split_contact(stored, before[0] if before else None)
            if not doc:
                out.append(None)
                continue
            dnd = {k[4:]: v == "1" for k, v in doc.items() if k.startswith("dnd:")}
            out.append({"id": contact_id, "name": doc.get("name"),
                        "email": email_of(contact_id, doc.get(EMAIL), doc.get(EMAIL_BEFORE)),
                        "external_id": doc.get("external_id"),
                        "company": read_company(contact_id, doc, self.company_compact_now), "tags": sorted(tags),
                        "dnd": dnd, "created_at": created_of(doc) or 0,
                        "attributes": loads(doc["attributes"]) if doc.get("attributes") else {},
                        "states": {f: state for f, state in _states(states).items() if not state.outside}})
        return out

    def company_compact_now(self) -> bool:
        """``company_compact`` asked of Redis unless known true: for a document read before (``read_company``)."""
        return self.company_compact(recheck=True)

    def company_field(self, contact_id: str, email: str | None, company: str | None) -> str | None:
        """The ``company`` field to write for this company (``stored_company``; None: delete the field)."""
        return stored_company(contact_id, email, company, self.company_compact())

    def page_keys(self, contact_ids: Sequence[str]) -> list[str]:
        """What ``read_contacts.lua`` reads of each contact: its hash, its tags and, until the move of the fold
        states of releases before was recorded (``states_moved``), their hash."""
        if self.states_moved():
            return [key for cid in contact_ids for key in (self.keys.contact(cid), self.keys.tags(cid))]
        return [key for cid in contact_ids
                for key in (self.keys.contact(cid), self.keys.tags(cid), self.keys.states_before(cid))]

    def page_key_parts(self) -> list[str]:
        """``page_keys``'s names as the text before and after a contact's id (index_page.lua makes them for the ids
        of its page)."""
        return [part for key in self.page_keys(["\0"]) for part in key.split("\0")]

    def search_contacts(self, prefix: str, limit: int) -> list[str]:
        """Contact ids whose email, name or external id starts with ``prefix`` (any case), in the
        order of the matching text; each bucket answers its first ``limit`` in one round trip."""
        text = prefix.strip().lower()
        if not text:
            return []
        low, high = b"[" + text.encode(), b"[" + text.encode() + b"\xff"
        # each bucket's first ``limit`` terms in the order of text, then contact id (as releases before stored them,
        # the id in every term): a short term sits before its text's other ones, so those are within the bucket's
        # first ``limit + 2`` (a text derives two contacts at most, its email's and its external id's; for texts
        # without a NUL). An id is derived only where the order needs it (a text found more than once) and for
        # the terms answered (a SHA-1 each).
        buckets = [[m.rpartition("\x00")[::2] for m in members] for members in self.search.find(low, high, limit + 2)]
        seen = Counter(text for terms in buckets for text, _tail in terms)
        found = sorted(term for terms in buckets for term in sorted(
            {(text, search_contact_of(text, tail) if seen[text] > 1 else tail) for text, tail in terms})[:limit])
        out: dict[str, None] = {}
        for text, tail in found:
            out.setdefault(search_contact_of(text, tail), None)
            if len(out) == limit:
                break
        return list(out)

    def index_search_terms(self, contact_ids: Sequence[str]) -> int:
        """(Re)write the search terms of these contacts from their documents; the backfill for
        contacts created before the search index existed. Returns the terms written."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), SEARCH_FIELDS)
        terms = {cid: {search_member(v, cid) for v in values if v} for cid, values in zip(contact_ids, pipe.execute())}
        self.search.add(terms)
        return sum(len(mine) for mine in terms.values())

    def shorten_search_terms(self, bucket: int, after: str | None, page: int) -> tuple[str | None, int]:
        """``search_short_once``'s step: the next ``page`` terms of the bucket's index after ``after``, each written
        with the id its text derives replaced by its short form (``search_member``) in one call. Returns the last
        term read (None: the bucket is done) and how many were replaced."""
        terms = self.search.index_page(bucket, after, page)
        swaps = []
        for term in terms:
            text, _, contact_id = term.rpartition("\x00")
            if len(contact_id) > 1 and (short := search_member(text, contact_id)) != term:
                swaps.append((term, short))
        return (terms[-1] if len(terms) == page else None), self.search.replace(bucket, swaps)

    def set_name(self, contact_id: str, name: str | None) -> None:
        """Name (or, with None, un-name) a contact; search finds it by the new name, not the old one."""
        old = self.redis.hget(self.keys.contact(contact_id), "name")
        if old:
            self.search.remove(contact_id, search_members_written(old, contact_id))
        if name:
            self.redis.hset(self.keys.contact(contact_id), "name", name)
            self.search.add({contact_id: [search_member(name, contact_id)]})
        else:
            self.redis.hdel(self.keys.contact(contact_id), "name")

    def contact_count(self) -> int:
        return self.registry.count()

    def contact_pages(self, size: int) -> Iterator[list[str]]:
        """Every contact id, a page at a time (bucket by bucket), for jobs that visit every contact. A generator
        of its own, so the gateway translates a store error raised while it is read (storage/errors.py)."""
        yield from self.registry.pages(size)

    def contact_page(self, bucket: int, start: int, size: int) -> list[str]:
        """Up to ``size`` contact ids of one bucket from rank ``start`` on (a walk that resumes where it stopped)."""
        return self.registry.page(bucket, start, size)

    def change_tags(self, contact_id: str, add: Iterable[str] = (), remove: Iterable[str] = ()) -> list[str]:
        add, remove = list(add), list(remove)
        pipe = self.redis.pipeline(transaction=False)
        if add:
            pipe.sadd(self.keys.tags(contact_id), *add)
        if remove:
            pipe.srem(self.keys.tags(contact_id), *remove)
        bucket = self.sharding.bucket_of(contact_id)
        for tag in add:
            pipe.sadd(self.keys.tag_members(tag, bucket), contact_id)
        for tag in remove:
            pipe.srem(self.keys.tag_members(tag, bucket), contact_id)
        pipe.smembers(self.keys.tags(contact_id))
        return sorted(pipe.execute()[-1])

    def tags_of(self, contact_ids: Sequence[str]) -> dict[str, set[str]]:
        """The tags of each contact, in one round trip."""
        pipe = self.redis.pipeline(transaction=False)
        for contact_id in contact_ids:
            pipe.smembers(self.keys.tags(contact_id))
        return dict(zip(contact_ids, pipe.execute()))

    def has_tags(self, contact_ids: Sequence[str], tag: str) -> list[bool]:
        found: dict[str, bool] = {}
        for bucket, ids in self.sharding.by_bucket(contact_ids).items():
            found.update(zip(ids, map(bool, self.redis.smismember(self.keys.tag_members(tag, bucket), ids))))
        return [found[cid] for cid in contact_ids]

    def set_dnd(self, contact_id: str, channels: dict[str, bool]) -> None:
        """Write DND channel fields of the contact document at once, and the DND index beside them (the
        worker writes both again when it scores the recorded ``contact.dnd_updated``)."""
        if not channels:
            return
        pipe = self.redis.pipeline(transaction=False)
        pipe.hset(self.keys.contact(contact_id),
                  mapping={f"dnd:{ch}": "1" if on else "0" for ch, on in channels.items()})
        bucket = self.sharding.bucket_of(contact_id)
        for channel, on in channels.items():
            (pipe.sadd if on else pipe.srem)(self.keys.dnd(channel, bucket), contact_id)
        pipe.execute()

    def dnd_of(self, contact_ids: Sequence[str]) -> dict[str, dict[str, bool]]:
        """Each contact's DND channels, as its document holds them (for the DND index's backfill)."""
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hgetall(self.keys.contact(cid))
        return {cid: {k[4:]: v == "1" for k, v in doc.items() if k.startswith("dnd:")}
                for cid, doc in zip(contact_ids, pipe.execute())}

    def dnd_channels_of(self, contact_ids: Sequence[str], channels: Sequence[str]) -> dict[str, dict[str, bool]]:
        """Each contact's DND for these channels only (one HMGET each, in one round trip); a channel never set
        is left out."""
        if not channels:
            return {cid: {} for cid in contact_ids}
        pipe = self.redis.pipeline(transaction=False)
        for cid in contact_ids:
            pipe.hmget(self.keys.contact(cid), [f"dnd:{ch}" for ch in channels])
        return {cid: {ch: v == "1" for ch, v in zip(channels, values) if v is not None}
                for cid, values in zip(contact_ids, pipe.execute())}

    def remember_alias(self, kind: str, value: str, email: str) -> None:
        self.redis.set(self.keys.alias(kind, value), email)

    def alias_write(self, kind: str, value: str, email: str) -> tuple[str, str, list[Any]]:
        """``remember_alias`` as a write for the ingest script to make (``PartitionQueue.accept``)."""
        recorder = RecordedWrites()
        recorder.set(self.keys.alias(kind, value), email)
        return recorder.writes[0]

    def alias(self, kind: str, value: str) -> str | None:
        return self.redis.get(self.keys.alias(kind, value))


def _pairs(flat: list[str]) -> dict[str, str]:
    """A hash as a script returns it (field, value, ...) as a dict."""
    fields = iter(flat)
    return dict(zip(fields, fields))


def _states(raw: dict[str, str]) -> dict[str, FoldState]:
    """The fold states of a contact (``split_contact``); a state marked ``outside`` (the contact is outside the profile's
    include/exclude lists) is left out by ``get_contacts``: the contact has no score there."""
    return {f: FoldState.from_json(loads(v)) for f, v in join_states(raw).items() if f != "_rev"}


def _named_by(interaction: Interaction, known: dict, linked: dict) -> str:
    """The contact an interaction's email names (known before, or linked now), else its external id's."""
    ident = ("email", interaction.email) if interaction.email else ("ext", interaction.external_id)
    return known.get(ident) or linked[ident]


def _glob_escaped(text: str) -> str:
    """``text`` as a ``SCAN MATCH`` pattern matching itself only."""
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)
