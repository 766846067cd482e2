"""Dashboard users and their roles: the first owner, invitations, members, passwords, sign-in.

Passwords are hashed with werkzeug's scrypt (``generate_password_hash``: a maintained, salted, memory-hard
KDF that Flask already depends on — no new dependency). Roles, from least to most:

- ``viewer``: reads every page;
- ``editor``: also changes profiles, rules, workflows, contacts, scores and smart lists;
- ``admin``: also sees the audit trail and manages members (not owners);
- ``owner``: everything, owners included. The last owner cannot be removed or demoted.

Roles are per workspace: a user document (instance-wide) keeps ``role``, the role in ``default`` (as before
workspaces, so nothing changes on upgrade; None when the user is not a member there), and ``roles``, workspace
-> role for the others. Every function here acts in ``services.workspace``: its members, its invitations, its
owners. An owner of ``default`` is an *instance owner*: they may enter every workspace, as an owner.
"""
from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from . import second_factor, signin_guard
from .audit import record
from .errors import Conflict, Forbidden, NotFound, ValidationError
from .services import Services, tenancy

log = logging.getLogger(__name__)

ROLES = ("viewer", "editor", "admin", "owner")
#: Password length bounds (a passphrase is welcome; the upper bound keeps hashing bounded).
PASSWORD_MIN, PASSWORD_MAX = 12, 200
#: An invitation link works once, within this many seconds.
INVITE_TTL_SECONDS = 7 * 86_400
EMAIL = re.compile(r"^[^@\s/]{1,64}@[^@\s/]{1,255}$")  # no "/": an email is a path segment of /members/<email>


@functools.cache
def _dummy_hash() -> str:
    """Compared against when the account does not exist, so a sign-in takes as long either way."""
    return generate_password_hash(secrets.token_hex(16))


@dataclass(frozen=True)
class User:
    email: str
    role: str

    def may(self, needed: str) -> bool:
        return role_allows(self.role, needed)


def role_allows(held: str, needed: str) -> bool:
    return held in ROLES and ROLES.index(held) >= ROLES.index(needed)


def normalize_email(email: str) -> str:
    email = (email or "").strip().lower()
    if not EMAIL.match(email):
        raise ValidationError("Give a valid email address.", {"email": ["not an email address"]})
    return email


def check_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password or "") <= PASSWORD_MAX:
        raise ValidationError(f"A password has {PASSWORD_MIN} to {PASSWORD_MAX} characters.",
                              {"password": [f"{PASSWORD_MIN} to {PASSWORD_MAX} characters"]})
    return password


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"A role is one of {', '.join(ROLES)}.", {"role": [f"one of {', '.join(ROLES)}"]})
    return role


DEFAULT = "default"


def roles_of(doc: dict[str, Any]) -> dict[str, str]:
    """Workspace -> the user's role there."""
    return {**({DEFAULT: doc["role"]} if doc.get("role") else {}), **(doc.get("roles") or {})}


def role_in(doc: dict[str, Any], workspace: str) -> str | None:
    return roles_of(doc).get(workspace)


def with_role(doc: dict[str, Any], workspace: str, role: str | None) -> dict[str, Any]:
    """The document with the user's role in ``workspace`` set (None: not a member there)."""
    if workspace == DEFAULT:
        return {**doc, "role": role}
    roles = {w: r for w, r in (doc.get("roles") or {}).items() if w != workspace}
    return {**doc, "roles": {**roles, workspace: role} if role else roles}


def is_instance_owner(doc: dict[str, Any]) -> bool:
    """An owner of ``default``: may enter (and manage) every workspace."""
    return doc.get("role") == "owner"


def _new_doc(services: Services, email: str, password: str, role: str, actor: str) -> dict[str, Any]:
    doc = {"email": normalize_email(email), "role": None, "roles": {},
           "password": generate_password_hash(check_password(password)),
           "created_at": services.clock.now_ms(), "created_by": actor}
    return with_role(doc, services.workspace, check_role(role))


def has_users(services: Services) -> bool:
    return services.users.count() > 0


def create_first_owner(services: Services, email: str, password: str, actor: str) -> User:
    """The first user, an owner — only while no user exists (the first-run page and the CLI)."""
    doc = _new_doc(services, email, password, "owner", actor)
    if not services.users.put_first(doc):
        raise Conflict("Users exist already: ask an owner or admin for an invitation.")
    record(services, actor, "member.create", f"user:{doc['email']}", role="owner")
    return User(doc["email"], "owner")


def create_user(services: Services, email: str, password: str, role: str, actor: str) -> User:
    """A user with a role (the CLI); 409 if the email is taken."""
    doc = _new_doc(services, email, password, role, actor)
    if not services.users.put_new(doc):
        raise Conflict(f"A user {doc['email']!r} exists already.")
    record(services, actor, "member.create", f"user:{doc['email']}", role=role)
    return User(doc["email"], role)


def get_user(services: Services, email: str) -> User | None:
    """The user with their role in ``services``' workspace; None if not a member there."""
    doc = services.users.get(email)
    role = role_in(doc, services.workspace) if doc else None
    return User(doc["email"], role) if doc and role else None


def members(services: Services) -> list[dict[str, Any]]:
    """The members of ``services``' workspace, with their role there."""
    return [{**{k: doc.get(k) for k in ("email", "created_at", "created_by")}, "role": role,
             "two_step": bool(doc.get("totp"))}
            for doc in services.users.all() if (role := role_in(doc, services.workspace))]


def password_fingerprint(services: Services, email: str) -> str | None:
    """A short digest of the user's stored password hash: a session keeps it, so a password reset or a
    removal ends every session of the account at its next request."""
    doc = services.users.get(email)
    return hashlib.sha256(doc["password"].encode()).hexdigest()[:32] if doc else None


def authenticate_user(services: Services, email: str, password: str, address: str = "unknown",
                      trusted: bool = False) -> User | None:
    """The user if the password is right; None otherwise. ``TooManyRequests`` when ``signin_guard`` says this
    attempt must wait (``address``: the client's; ``trusted``: it has a device cookie for the account). The
    caller asks for the second factor when ``second_factor.is_on``; the attempt counts as a success only once
    that is given too (``signed_in``)."""
    email = (email or "").strip().lower()
    account = signin_guard.account_of(email)
    signin_guard.check(services, account, address, trusted)
    doc = services.users.get(email) if email else None
    matches = check_password_hash(doc["password"] if doc else _dummy_hash(), password or "")
    if doc is None or not matches:
        signin_guard.failed(services, account, address)
        return None
    return User(doc["email"], role_in(doc, DEFAULT) or next(iter(sorted(roles_of(doc).values())), "viewer"))


def check_code(services: Services, email: str, code: str, address: str = "unknown", trusted: bool = False) -> bool:
    """The second step of a sign-in: the TOTP code or a recovery code, throttled like passwords."""
    account = signin_guard.account_of(email)
    signin_guard.check(services, account, address, trusted)
    if second_factor.check(services, email, code):
        return True
    signin_guard.failed(services, account, address)
    return False


def signed_in(services: Services, email: str, address: str = "unknown") -> None:
    """A sign-in succeeded (password, and code when asked): the address's failures to the account are forgotten."""
    signin_guard.succeeded(services, signin_guard.account_of(email), address)


def _require_manageable(acting: User, target_role: str) -> None:
    """An admin manages editors, viewers and admins; only an owner touches owners."""
    if target_role == "owner" and acting.role != "owner":
        raise Forbidden("Only an owner can do this to an owner.", {"role": ["owner only"]})


def invite(services: Services, acting: User | None, actor: str, email: str, role: str) -> str:
    """A one-time invitation token (the link is shown once); ``acting`` None is the instance admin."""
    email, role = normalize_email(email), check_role(role)
    if acting is not None:
        _require_manageable(acting, role)
    existing = services.users.get(email)
    if existing and role_in(existing, services.workspace):
        raise Conflict(f"{email} is a member already.", {"email": ["already a member"]})
    token = secrets.token_urlsafe(32)
    services.users.put_invite(hashlib.sha256(token.encode()).hexdigest(),
                              {"email": email, "role": role, "by": actor, "workspace": services.workspace},
                              INVITE_TTL_SECONDS)
    record(services, actor, "member.invite", f"user:{email}", role=role)
    return token


def invitation(services: Services, token: str) -> dict[str, Any] | None:
    """The pending invitation of a token (email, role, workspace; ``existing`` when the email has an account
    already, which then joins with its password), or None if it was used, expired or never existed."""
    doc = services.users.peek_invite(hashlib.sha256(token.encode()).hexdigest())
    return {**doc, "workspace": doc.get("workspace") or DEFAULT,
            "existing": services.users.get(doc["email"]) is not None} if doc else None


def accept_invite(services: Services, token: str, password: str) -> User:
    """Join the invitation's workspace: a new account with this password, or an existing account that proves
    it with its password. ``services`` may be any workspace's: the invitation names its own."""
    check_password(password)
    token_hash = hashlib.sha256(token.encode()).hexdigest()
    pending = services.users.peek_invite(token_hash)
    existing = services.users.get(pending["email"]) if pending else None
    if existing is not None and not check_password_hash(existing["password"], password):
        raise Forbidden("That is not the password of this account: enter the one you sign in with.")
    doc = services.users.take_invite(token_hash)
    if doc is None:
        raise NotFound("This invitation was used already or has expired.")
    workspace = doc.get("workspace") or DEFAULT
    target = tenancy().get(workspace)
    if existing is not None:
        services.users.put(with_role(existing, workspace, doc["role"]))
        user = existing
    else:
        user = _new_doc(target, doc["email"], password, doc["role"], doc["by"])
        if not services.users.put_new(user):
            raise Conflict(f"{doc['email']} is a member already.")
    record(target, doc["email"], "member.create", f"user:{doc['email']}", role=doc["role"], invited_by=doc["by"])
    return User(user["email"], doc["role"])


def _owners(services: Services) -> int:
    return sum(1 for doc in services.users.all() if role_in(doc, services.workspace) == "owner")


def _member(services: Services, email: str) -> tuple[dict[str, Any], str]:
    doc = services.users.get(email)
    role = role_in(doc, services.workspace) if doc else None
    if doc is None or role is None:
        raise NotFound(f"No member {email!r}.")
    return doc, role


def change_role(services: Services, acting: User | None, actor: str, email: str, role: str) -> None:
    check_role(role)
    doc, was = _member(services, email)
    if acting is not None:
        _require_manageable(acting, was)
        _require_manageable(acting, role)
    if was == "owner" and role != "owner" and _owners(services) <= 1:
        raise Conflict("The last owner stays an owner: make someone else an owner first.")
    services.users.put(with_role(doc, services.workspace, role))
    record(services, actor, "member.role", f"user:{email}", role=role, was=was)


def remove_member(services: Services, acting: User | None, actor: str, email: str) -> None:
    """Remove a member from ``services``' workspace; an account left with no workspace is deleted."""
    doc, was = _member(services, email)
    if acting is not None:
        _require_manageable(acting, was)
    if was == "owner" and _owners(services) <= 1:
        raise Conflict("The last owner cannot be removed.")
    left = with_role(doc, services.workspace, None)
    if roles_of(left):
        services.users.put(left)
    else:
        services.users.delete(email)
        services.users.forget_second_factor(signin_guard.account_of(email))
    record(services, actor, "member.remove", f"user:{email}", role=was)


def reset_password(services: Services, email: str, password: str, actor: str, clear_totp: bool = False) -> None:
    """Set a new password (the CLI); every session of the account ends. ``clear_totp`` also turns the second
    factor off (a user who lost their phone and their recovery codes)."""
    doc = services.users.get(normalize_email(email))
    if doc is None:
        raise NotFound(f"No member {email!r}.")
    services.users.put({**doc, "password": generate_password_hash(check_password(password))})
    signin_guard.reset(services, signin_guard.account_of(doc["email"]))
    record(services, actor, "member.password", f"user:{doc['email']}")
    if clear_totp:
        second_factor.turn_off(services, doc["email"], actor)
