"""Contacts: look-up, filters by score and tags, scores by hand, and the explaining ledger."""
from __future__ import annotations

from typing import Any

import orjson
from flask import Response, current_app
from flask.json.provider import DefaultJSONProvider
from marshmallow import ValidationError as SchemaError

from .. import json_bodies, ledger_history
from ..contact_filter import ContactFilter
from ..contact_directory import change_tags, run_filter, set_attributes, set_dnd
from ..errors import NotFound, ValidationError
from ..manual_scores import change_score
from ..scoring.interactions import format_timestamp
from ..services import get_services
from ..contact_filter_schema import FilterQuerySchema, LegacyFilterSchema, legacy_filter, load_filter
from ..auth import request_actor
from .common import load_contact, render_contact, v1_blueprint
from .schemas import (
    ContactPageSchema,
    ContactPatchSchema,
    ContactSchema,
    FilterArgsSchema,
    HistoryArgsSchema,
    HistoryPageSchema,
    ScoreChangeSchema,
    ScoreResultSchema,
)

bp = v1_blueprint("contacts", __name__, "Contacts, their scores and why")


def parse_cursor(raw: str | None) -> int:
    if raw in (None, ""):
        return 0
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValidationError("Invalid cursor.", {"cursor": "use next_cursor from the previous page"}) from exc
    if value < 0:
        raise ValidationError("Invalid cursor.", {"cursor": "must not be negative"})
    return value


def json_page(body: dict[str, Any]) -> Response:
    """A page of contacts as the same JSON bytes Flask's own response would carry (keys sorted, compact, ASCII,
    a final newline), written by orjson: the standard library's encoder took ~5 % of a page's CPU. Anything
    orjson would write otherwise (text beyond ASCII, which Flask escapes; an integer beyond 64 bits; a debug
    app's indented JSON) goes through Flask's encoder as before. Numbers of JSON's exponent form may be
    spelled differently (``1e-07``, ``1e-7``: the same number)."""
    app = current_app
    provider = app.json
    if (isinstance(provider, DefaultJSONProvider) and provider.sort_keys and provider.ensure_ascii
            and provider.compact is not False and not (provider.compact is None and app.debug)):
        try:
            text = orjson.dumps(body, option=orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE)
        except TypeError:
            text = b""
        if text and text.isascii():
            return app.response_class(text, mimetype=provider.mimetype)
    return provider.response(body)


def filter_from_args(filters: dict) -> ContactFilter:
    """The filter of ``GET /v1/contacts``: the ``filter`` document (JSON text), or the single-condition
    parameters that came before it; not both."""
    text = filters.pop("filter", None)
    legacy = {k: v for k, v in filters.items() if v is not None}
    if text is None:
        try:
            return legacy_filter(LegacyFilterSchema().load(legacy))
        except SchemaError as exc:
            raise ValidationError("Invalid filter.", exc.messages) from exc
    if legacy:
        raise ValidationError("Invalid filter.", {name: "give the filter document or this parameter, not both"
                                                  for name in legacy})
    try:
        document = json_bodies.loads(text)  # the door's rules: JSON, depth, 64-bit numbers
    except ValidationError as exc:
        raise ValidationError("Invalid filter.", {"filter": exc.errors["_body"]}) from exc
    try:
        return load_filter(document)
    except SchemaError as exc:
        raise ValidationError("Invalid filter.", {"filter": exc.messages}) from exc


#: The ways ``GET /v1/contacts`` finds contacts, by the parameters of each.
FIND_WAYS = {"identity": ("email", "external_id"), "prefix": ("q",),
             "filter": ("filter", "profile", "op", "value", "tag", "without_tag")}


def one_way_to_find(params: dict) -> None:
    """Refuse parameters of two ways at once (``email`` with ``profile``, say): one would be ignored."""
    given = {name for name, value in params.items() if value is not None}
    ways = [way for way, names in FIND_WAYS.items() if given & set(names)]
    if len(ways) > 1:
        raise ValidationError("Give one way to find contacts.", {
            name: "one way to find contacts at a time: email and/or external_id, q, or a filter"
            for name in sorted(given & {n for way in ways for n in FIND_WAYS[way]})})


@bp.route("/contacts", methods=["GET"])
@bp.arguments(FilterArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=ContactPageSchema, description="A page of contacts, highest score first")
def list_contacts(limit: int = 50, cursor: str | None = None, email: str | None = None,
                  external_id: str | None = None, q: str | None = None, **filters):
    """Find contacts by email or external id, by a prefix (``q``), or filter them (a filter document)."""
    services = get_services()
    one_way_to_find({"email": email, "external_id": external_id, "q": q, **filters})
    if email is not None or external_id is not None:
        from ..scoring.interactions import normalize_email

        cid = services.contacts.find_contact(email=normalize_email(email) if email else None, external_id=external_id)
        contact = services.contacts.get_contact(cid) if cid else None
        items = [render_contact(services, contact)] if contact else []
        return {"items": items, "total": len(items), "next_cursor": None}
    if q is not None:
        found = [c for c in services.contacts.get_contacts(services.contacts.search_contacts(q, limit)) if c]
        items = [render_contact(services, contact) for contact in found]
        return {"items": items, "total": len(items), "next_cursor": None}
    return json_page(run_filter(services, filter_from_args(filters), limit, parse_cursor(cursor)))


@bp.route("/contacts/search", methods=["POST"])
@bp.arguments(FilterQuerySchema, required=False)
@bp.alt_response(200, schema=ContactPageSchema, description="A page of contacts, in the filter's order")
def search_contacts(query: dict):
    """Filter contacts with a filter document in the body (the same document smart lists save)."""
    return json_page(run_filter(get_services(), query["filter"], query["limit"], parse_cursor(query.get("cursor"))))


@bp.route("/contacts/<contact:contact_id>", methods=["GET"])
@bp.alt_response(200, schema=ContactSchema, description="The contact")
def get_contact(contact_id: str):
    """A contact with tags, DND and live scores per profile (with band)."""
    services = get_services()
    return render_contact(services, load_contact(services, contact_id))


@bp.route("/contacts/<contact:contact_id>", methods=["PATCH"])
@bp.arguments(ContactPatchSchema)
@bp.alt_response(200, schema=ContactSchema, description="The contact after the change")
def patch_contact(patch: dict, contact_id: str):
    """Name the contact; add or remove tags; switch DND channels (recorded as a contact.dnd_updated interaction);
    set or remove attributes (null removes; scored by fit profiles before the response)."""
    services = get_services()
    contact = load_contact(services, contact_id)
    if "name" in patch:
        services.contacts.set_name(contact_id, (patch["name"] or "").strip() or None)
    tags = patch.get("tags") or {}
    if tags.get("add") or tags.get("remove"):
        change_tags(services, contact_id, tags.get("add", []), tags.get("remove", []))
    set_dnd(services, contact, patch.get("dnd") or {})
    set_attributes(services, contact_id, patch.get("attributes") or {})
    return render_contact(services, load_contact(services, contact_id))


@bp.route("/contacts/<contact:contact_id>/scores/<profile_id>", methods=["POST"])
@bp.arguments(ScoreChangeSchema)
@bp.response(200, ScoreResultSchema)
def change_contact_score(change: dict, contact_id: str, profile_id: str):
    """Set, adjust or reset a score by hand, with a reason; returns the new score at once."""
    services = get_services()
    op = next(op for op in ("set", "add", "reset") if op in change)
    score = change_score(services, contact_id, profile_id, op, 0 if op == "reset" else change[op], change["reason"],
                         actor=request_actor())
    live = services.profiles.live()[profile_id]
    return {"contact_id": contact_id, "profile": profile_id, "score": score, "band": live.profile.band_for(score)}


@bp.route("/contacts/<contact:contact_id>/scores/<profile_id>/history", methods=["GET"])
@bp.arguments(HistoryArgsSchema, location="query", as_kwargs=True)
@bp.alt_response(200, schema=HistoryPageSchema, description="Ledger entries, newest first")
def score_history(contact_id: str, profile_id: str, limit: int = 100, cursor: int = 0, before: str | None = None):
    """The ledger: every change of the live score, newest first, with its reason. Older pages than Redis holds
    come from the archive: follow ``next_before`` (or ``next_cursor``) to the first entry."""
    services = get_services()
    load_contact(services, contact_id)
    live = services.profiles.live().get(profile_id)
    if live is None:
        if services.profiles.get(profile_id) is None:
            raise NotFound(f"No profile {profile_id!r}.")
        return {"items": [], "next_cursor": None, "next_before": None}
    found = ledger_history.page(services, contact_id, live, limit, cursor, before)
    items = [{**e, "at": format_timestamp(e["at"])} for e in found.items]
    return {"items": items, "next_cursor": found.next_offset, "next_before": found.next_before}
