"""Manual score changes: an entry in the contact's timeline, scored at once through the engine."""
from __future__ import annotations

import functools
import uuid

from flask import Flask

from .audit import record as audit_record
from .scoring_service import score_record
from .errors import Conflict, NotFound
from .membership import Membership, is_outside
from .scoring.interactions import MANUAL_ACTOR, MANUAL_TYPE
from .scoring.profiles import FIT
from .scoring.records import TimelineRecord
from .services import Services, wire


def change_score(services: Services, contact_id: str, profile_id: str, op: str, value: int, reason: str,
                 depth: int = 0, source: str = "manual", actor: str | None = None) -> int:
    """Set, add to or reset a contact's live score; returns the new score. Workflow changes pass ``depth``.

    A change by a person or key passes ``actor``: the ledger entry says "changed by" it and the audit trail
    records it (a workflow's changes are in its run's log instead)."""
    if not services.contacts.contact_exists(contact_id):
        raise NotFound(f"No contact {contact_id!r}.")
    live = services.profiles.live().get(profile_id)
    if live is None:
        raise Conflict(f"Profile {profile_id!r} is not published: publish it before changing scores.")
    if live.profile.kind == FIT:
        raise Conflict(f"Profile {profile_id!r} is a fit profile: its score follows the contact's attributes "
                       f"(PATCH /v1/contacts/{{id}} with 'attributes'), it cannot be set by hand.")
    if is_outside(Membership(services.smart_lists, services.contacts), live.profile, contact_id):
        raise Conflict(f"Contact {contact_id!r} is outside the include/exclude lists of profile {profile_id!r}: "
                       f"it has no score there to change.", {"profile": ["the contact is outside its lists"]})
    at = services.clock.now_ms()
    properties = {"profile": profile_id, op: int(value), "reason": reason, "depth": depth}
    if actor:
        properties[MANUAL_ACTOR] = actor
    record = TimelineRecord(uuid.uuid4().hex, source, MANUAL_TYPE, at, properties)
    results = score_record(services, contact_id, record, at)
    score = results[contact_id].scores[live.field]
    if score is None:  # a list changed while the change was made: it is kept, and counts if she comes back in
        raise Conflict(f"Contact {contact_id!r} left the include/exclude lists of profile {profile_id!r} meanwhile: "
                       f"the change is recorded and counts if the contact comes back in.")
    if actor:
        audit_record(services, actor, f"score.{op}", f"contact:{contact_id}/{profile_id}",
                     **({} if op == "reset" else {op: int(value)}), score=score, reason=reason)
    return score


def plug(services: Services) -> None:
    services.change_score = functools.partial(change_score, services)


def init_app(app: Flask) -> None:
    """Plug ``change_score`` in as the score port (``services.change_score``) that workflow steps use, in
    every workspace."""
    wire(app, plug)
