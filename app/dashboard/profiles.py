"""Scoring: the profiles list, a profile's page (its rules as sentences, name, bands, preview,
save and publish), unpublish and delete. The rule builder is ``rules``; versions, roll back and
publish progress are ``versions``.

Every change is a plain HTML form posted here (the pages work without scripts); only publishing
changes live scores.
"""
from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, request, url_for

from ..api.schemas import is_valid_id
from .auth import dashboard_actor
from ..contact_filter import describe, gate_problem
from ..errors import Conflict, ScorekeeperError
from ..membership import check_profile_lists, filter_of
from ..preview import preview_draft
from ..publish import delete_profile as delete_profile_and_versions
from ..publish import publish_draft
from ..scoring.profiles import profile_from_dict
from ..scoring.sentences import caps_words, profile_rule_sentences
from ..services import get_services
from . import actions
from .blueprint import bp
from .charts import histogram
from .defaults import BLANK_BAND_ROWS
from .forms import ProfileForm, blank_group, form_from_draft, parse_profile_form
from .rule_form import DECAY_UNITS


def profile_status(doc: dict[str, Any]) -> dict[str, Any]:
    """What the list and the profile page say about a profile's life cycle."""
    return {"live_version": doc.get("live_version"), "building_version": doc.get("building_version"),
            "building_job": doc.get("building_job"),
            "versions": len(get_services().profiles.version_numbers(doc)),
            "draft_changed": doc.get("published_draft") != doc.get("draft")}


def profile_name(profile_id: str | None) -> str:
    """A profile's display name (its id only when it has no document any more)."""
    if not profile_id:
        return ""
    doc = get_services().profiles.get(profile_id)
    return doc["draft"]["name"] if doc else profile_id


def rule_rows(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The rule list: each rule's id (for the forms, never shown) and its sentence (with its group's cap)."""
    sentences = profile_rule_sentences(profile_from_dict({"id": "draft", **draft}))
    return [{"id": rule["id"], "sentence": sentence} for rule, sentence in zip(draft.get("rules", []), sentences)]


def list_choices(form: ProfileForm) -> list[dict[str, Any]]:
    """The smart lists the include/exclude pick lists offer, by name: each with its filter in words and, when
    its conditions cannot decide who a profile scores, why (shown, not offered; a list already picked stays
    ticked so saving never drops it silently)."""
    out = []
    for doc in sorted(get_services().smart_lists.all(), key=lambda d: (d["name"].lower(), d["id"])):
        flt = filter_of(doc)
        out.append({"id": doc["id"], "name": doc["name"], "summary": describe(flt), "problem": gate_problem(flt),
                    "include": doc["id"] in form.include, "exclude": doc["id"] in form.exclude})
    return out


def lists_checked(form: ProfileForm) -> bool:
    """Check the ticked lists (they exist, decide membership, are not both included and excluded); the
    problems go beside the pick lists."""
    if form.draft is None:
        return False
    try:
        check_profile_lists(get_services().smart_lists, form.draft)
    except ScorekeeperError as exc:  # a list gone (404) or one that cannot decide (409)
        for name, messages in (exc.errors or {}).items():
            form.errors[name] = "; ".join(messages)
        return False
    return True


def render_profile(form: ProfileForm, doc: dict[str, Any] | None, profile_id: str = "",
                   preview: dict[str, Any] | None = None, status: int = 200, unsaved: bool = False):
    """The profile's page; ``unsaved``: the form shows posted values that are not saved (the page
    script then warns before they are left behind)."""
    bands = form.bands + [{"name": "", "min": ""} for _ in range(BLANK_BAND_ROWS)]
    return render_template(
        "dashboard/profile_edit.html", form=form, bands=bands, doc=doc,
        profile_id=profile_id or (doc or {}).get("id", ""), status=profile_status(doc) if doc else None,
        rules=rule_rows(doc["draft"]) if doc else [], preview=preview, decay_units=DECAY_UNITS,
        caps=caps_words(profile_from_dict({"id": "draft", **doc["draft"]})) if doc else [],
        chart=histogram(preview["histogram"]) if preview else None, unsaved=unsaved or status != 200,
        lists=list_choices(form),
    ), status


def new_profile_id(name: str) -> str:
    """An id for the API made from the name (``Engagement score`` -> ``engagement-score``), unique."""
    base = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    base = "-".join(part for part in base.split("-") if part)[:40] or "profile"
    store = get_services().profiles
    candidate, n = base, 2
    while store.get(candidate) is not None:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@bp.route("/profiles")
def profiles():
    docs = get_services().profiles.all()
    rows = [{"id": pid, "name": doc["draft"]["name"], "description": doc["draft"].get("description", ""),
             "rules": len(doc["draft"].get("rules", [])), "kind": doc["draft"].get("kind") or "engagement",
             "bands": [b["name"] for b in doc["draft"].get("bands", [])], **profile_status(doc)}
            for pid, doc in sorted(docs.items(), key=lambda item: item[1]["draft"]["name"].lower())]
    return render_template("dashboard/profiles.html", profiles=rows)


@bp.route("/profiles/new", methods=["GET", "POST"])
def new_profile():
    if request.method == "GET":
        return render_profile(ProfileForm(), None)
    profile_id = request.form.get("id", "").strip()
    form = parse_profile_form(request.form)
    if profile_id and not is_valid_id(profile_id):
        form.errors["id"] = "letters, digits, '_', '.', '-' (at most 64)"
    elif profile_id and get_services().profiles.get(profile_id) is not None:
        form.errors["id"] = "a profile with this id exists already"
    if not form.valid or not lists_checked(form):
        return render_profile(form, None, profile_id, status=400)
    profile_id = profile_id or new_profile_id(form.name)
    get_services().profiles.put_draft({"id": profile_id, **form.draft})
    flash(f"{form.name} is saved as a draft. Add its rules, then publish it to start scoring.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


@bp.route("/profiles/<profile_id>", methods=["GET", "POST"])
def edit_profile(profile_id: str):
    """The profile's page; its form saves the name, description and bands (and publishes on request)."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    if request.method == "GET":
        return render_profile(form_from_draft(doc["draft"]), doc)
    form = parse_profile_form(request.form, rules=doc["draft"].get("rules", []), kept=doc["draft"])
    if "add_band" in request.form or "add_group" in request.form:
        form.errors.clear()
        if "add_band" in request.form:
            form.bands.append({"name": "", "min": ""})
        else:
            form.groups.append(blank_group())
        return render_profile(form, doc, unsaved=True)
    if not form.valid or not lists_checked(form):
        return render_profile(form, doc, status=400)
    services.profiles.put_draft({"id": profile_id, **form.draft})
    if "publish" in request.form:
        return start_publish(profile_id)
    flash("Draft saved. Live scores change only when you publish.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


def start_publish(profile_id: str):
    """Publish the saved draft and show the progress page (or say why not, on the profile's page)."""
    try:
        job = publish_draft(get_services(), profile_id, actor=dashboard_actor())
    except Conflict as exc:
        flash(exc.message, "error")
        return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)
    return redirect(url_for("dashboard.job", job_id=job["id"]), 303)


@bp.route("/profiles/<profile_id>/preview", methods=["POST"])
def preview_profile(profile_id: str):
    """What the draft's rules with the bands in the form would score, saving nothing."""
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    form = parse_profile_form(request.form, rules=doc["draft"].get("rules", []), kept=doc["draft"])
    if not form.valid or not lists_checked(form):
        return render_profile(form, doc, status=400)
    preview = preview_draft(services, {"id": profile_id, "draft": {"id": profile_id, **form.draft}})
    for mover in preview["movers"]:
        contact = services.contacts.get_contact(mover["contact_id"]) or {}
        mover["label"] = contact.get("email") or contact.get("external_id") or mover["contact_id"]
    return render_profile(form, doc, preview=preview, unsaved=True)


@bp.route("/profiles/<profile_id>/publish", methods=["POST"])
def publish_profile(profile_id: str):
    actions.load_profile(get_services(), profile_id)
    return start_publish(profile_id)


@bp.route("/profiles/<profile_id>/unpublish", methods=["POST"])
def unpublish_profile(profile_id: str):
    doc = actions.unpublish(get_services(), profile_id, actor=dashboard_actor())
    flash(f"{doc['draft']['name']} is unpublished: it no longer scores, and its scores are being emptied.")
    return redirect(url_for("dashboard.edit_profile", profile_id=profile_id), 303)


# --- deleting -------------------------------------------------------------------------------------
def what_is_lost(profile_id: str, doc: dict[str, Any]) -> dict[str, Any]:
    """What deleting the profile takes with it, for the confirmation page."""
    services = get_services()
    scored = services.scores.count(profile_id, doc["live_version"]) if doc.get("live_version") else 0
    lists = [d["name"] for d in actions.smart_lists(services) if _mentions(d, profile_id)]
    workflows = [d.get("name") or wid for wid, d in actions.workflow_docs(services).items()
                 if _mentions(d.get("trigger") or {}, profile_id)]
    return {"versions": len(services.profiles.version_numbers(doc)), "scored": scored,
            "rules": len(doc["draft"]["rules"]),
            "smart_lists": lists, "workflows": workflows}


def _mentions(value: Any, profile_id: str) -> bool:
    """Whether a stored filter or trigger names the profile (under a ``profile`` key, at any depth)."""
    if isinstance(value, dict):
        return value.get("profile") == profile_id or any(_mentions(v, profile_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, profile_id) for v in value)
    return False


@bp.route("/profiles/<profile_id>/delete", methods=["GET", "POST"])
def delete_profile(profile_id: str):
    services = get_services()
    doc = actions.load_profile(services, profile_id)
    if request.method == "GET":
        return render_template("dashboard/profile_delete.html", doc=doc, profile_id=profile_id,
                               lost=what_is_lost(profile_id, doc))
    delete_profile_and_versions(services, profile_id, actor=dashboard_actor())
    flash(f"{doc['draft']['name']} is deleted; its scores are being emptied.")
    return redirect(url_for("dashboard.profiles"), 303)
