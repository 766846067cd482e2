"""Contacts: the filtered table, CSV export, smart lists, and one contact's page."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from marshmallow import ValidationError as SchemaError

from ..api.schemas import ScoreChangeSchema
from ..contact_filter import OP_WORDS, ContactFilter, describe
from ..contact_directory import change_tags, count_matches, csv_download, filter_documents, run_filter
from ..edge_fields import TAG_TEXT, AttributesField, matches
from .forms import whole
from ..errors import Conflict, NotFound, ValidationError
from ..storage.profiles import ActiveVersion
from .. import ledger_history
from ..manual_scores import change_score
from ..scoring.conditions import NUMERIC_OPS, SCORE_OPS
from ..grades import contact_grades
from ..scoring.interactions import ATTRIBUTES_TYPE, MANUAL_TYPE, normalize_email
from ..clock import now_ms
from ..scoring.kept_properties import held_as_sent
from ..scoring.records import TimelineRecord
from ..services import Services, get_services
from ..membership import Membership, outside_words
from ..smart_lists import filter_of, runnable_filter, with_count
from ..words import activity
from . import actions
from .auth import dashboard_actor
from .blueprint import bp
from .charts import score_chart
from .defaults import DND_CHANNELS, PAGE_SIZE
from .filter_form import blank_row, kinds_with_grades, parse_filter_form, rows_of
from .forms import parse_offset

#: Words for the operators in the filter's menu.
OP_LABELS = OP_WORDS
#: A tag: no commas, at most 100 characters; spaces inside are kept ("big spender").
#: A tag as the API takes it (``TagsPatchSchema``): printable text without commas, at most 100 characters.
MAX_TAG_LENGTH = 100
#: Contacts offered while typing in the search box.
SUGGESTIONS = 8


def live_profiles(services: Services) -> dict[str, ActiveVersion]:
    return dict(sorted(actions.profile_store(services).live().items()))


def profile_names(services: Services) -> dict[str, str]:
    """Profile id -> display name (the draft's name, else the id), for every profile."""
    return {pid: (doc.get("draft") or {}).get("name") or doc.get("name") or pid
            for pid, doc in sorted(actions.profile_store(services).all().items())}


def search_contact(services: Services, text: str) -> str | None:
    """A contact id from an exact email, external id or contact id."""
    text = text.strip()
    if not text:
        return None
    if "@" in text:
        found = services.contacts.find_contact(email=normalize_email(text))
        if found:
            return found
    return services.contacts.find_contact(external_id=text) or (text if services.contacts.contact_exists(text) else None)


def contact_label(contact: dict[str, Any]) -> str:
    """How a person is named on pages: name, else email, else external id, else the id."""
    return contact.get("name") or contact.get("email") or contact.get("external_id") or contact["id"]


def contact_labels(services: Services, contact_ids: list[str]) -> dict[str, str]:
    """Labels of many contacts in one round trip (runs, deliveries and the inbox name people with them)."""
    ids = list(dict.fromkeys(c for c in contact_ids if c))
    return {cid: contact_label(c) for cid, c in zip(ids, services.contacts.get_contacts(ids)) if c is not None}


@bp.route("/contacts/suggest")
def suggest_contacts():
    """Contacts whose email, name or external id starts with ``q`` (search as you type), as JSON."""
    services = get_services()
    ids = services.contacts.search_contacts(request.args.get("q", ""), SUGGESTIONS)
    found = [c for c in services.contacts.get_contacts(ids) if c is not None]
    return {"items": [{"id": c["id"], "label": contact_label(c), "email": c["email"],
                       "external_id": c["external_id"],
                       "url": url_for("dashboard.contact", contact_id=c["id"])} for c in found]}


def list_args(flt: ContactFilter) -> dict[str, str]:
    """The builder's query arguments for a saved filter."""
    args = {f"c-{i}-{name}": value for i, row in enumerate(rows_of(flt)) for name, value in row.items() if value}
    args["order_by"] = flt.order_by or ""
    return args


def smart_list_tabs(services: Services) -> list[dict[str, Any]]:
    """Every smart list with its member count right now (or, for a list naming a deleted profile, its problem)."""
    docs = filter_documents(services)
    return [with_count(services, doc, docs) for doc in actions.smart_lists(services)]


@bp.route("/contacts")
def contacts():
    services = get_services()
    live = live_profiles(services)
    found = request.args.get("q", "").strip()
    matches: list[dict[str, Any]] = []
    if found:
        contact_id = search_contact(services, found)
        ids = [contact_id] if contact_id else services.contacts.search_contacts(found, PAGE_SIZE)
        if len(ids) == 1:
            return redirect(url_for("dashboard.contact", contact_id=ids[0]))
        matches = [c for c in services.contacts.get_contacts(ids) if c is not None]
        if not matches:
            flash(f"No contact's email, name or external id starts with {found!r}.", "error")
    current = None
    args: Any = request.args
    list_id = request.args.get("list")
    if list_id:
        current = actions.get_smart_list(services, list_id)
        if not any(k.startswith("c-") or k == "remove" for k in request.args):
            args = list_args(filter_of(current))
    form = parse_filter_form(args, next(iter(live), None))
    cursor = parse_offset(request.args.get("cursor"))
    page: dict[str, Any] = {"items": [], "total": 0, "next_cursor": None}
    if form.filter is not None:
        try:
            page = run_filter(services, form.filter, PAGE_SIZE, cursor)
        except NotFound as exc:
            form.errors["_form"] = exc.message
    names = profile_names(services)
    graded = {gid: g.name for gid, g in services.grades.all().items()}
    status = 400 if form.errors else 200
    bands = sorted({b.name for v in live.values() for b in v.profile.bands})
    return render_template(
        "dashboard/contacts.html", form=form, rows=[*form.rows, blank_row()], page=page,
        kinds=kinds_with_grades(graded), graded=graded,
        cursor=cursor, page_size=PAGE_SIZE, live=live, names=names, shown=form.order_by, ops=SCORE_OPS,
        op_labels=OP_LABELS, numeric_ops=NUMERIC_OPS, bands=bands, channels=DND_CHANNELS, matches=matches,
        found=found, lists=smart_list_tabs(services), current=current,
        summary=describe(form.filter, names) if form.filter else "",
    ), status


@bp.route("/contacts.csv")
def export_contacts():
    services = get_services()
    form = parse_filter_form(request.args, next(iter(live_profiles(services)), None))
    if form.filter is None:
        abort(400, description="The filter is invalid: " + "; ".join(f"{k}: {v}" for k, v in form.errors.items()))
    return Response(stream_with_context(csv_download(services, form.filter)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


def _save_list_form(list_id: str | None):
    """Save (a new list, or changes to ``list_id``) the builder's filter under the typed name."""
    services = get_services()
    form = parse_filter_form(request.form, None)
    name = request.form.get("name", "").strip()
    back = {"list": list_id} if list_id else {}
    if form.filter is None:
        flash("The filter is invalid; fix it before saving it.", "error")
        return redirect(url_for("dashboard.contacts", **form.query(**back)), 303)
    try:
        doc = actions.save_smart_list(services, name, form.filter, list_id)
    except (NotFound, Conflict) as exc:  # Conflict: a profile's include/exclude uses the list
        flash(f"Not saved: {exc.message}", "error")
        return redirect(url_for("dashboard.contacts", **form.query(name=name, **back)), 303)
    except ValidationError as exc:
        problems = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                             for k, v in (exc.errors or {}).items())
        flash(f"Not saved: {problems or exc.message}", "error")
        return redirect(url_for("dashboard.contacts", **form.query(name=name, **back)), 303)
    count = count_matches(services, form.filter)
    flash(f"Smart list {doc['name']!r} saved: {count} contact{'' if count == 1 else 's'}.")
    return redirect(url_for("dashboard.contacts", list=doc["id"]), 303)


@bp.route("/smart-lists", methods=["GET", "POST"])
def smart_lists():
    if request.method == "POST":
        return _save_list_form(None)
    services = get_services()
    names = profile_names(services)
    lists = [{**doc, "summary": describe(filter_of(doc), names)} for doc in smart_list_tabs(services)]
    return render_template("dashboard/smart_lists.html", lists=lists)


@bp.route("/smart-lists/<list_id>", methods=["POST"])
def update_smart_list(list_id: str):
    """Rename a list or save the builder's filter into it."""
    actions.get_smart_list(get_services(), list_id)
    return _save_list_form(list_id)


@bp.route("/smart-lists/<list_id>/export.csv")
def export_smart_list(list_id: str):
    services = get_services()
    doc = actions.get_smart_list(services, list_id)
    return Response(stream_with_context(csv_download(services, runnable_filter(services, doc))), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="{list_id}.csv"'})


@bp.route("/smart-lists/<list_id>/delete", methods=["POST"])
def delete_smart_list(list_id: str):
    services = get_services()
    doc = actions.get_smart_list(services, list_id)
    try:
        actions.delete_smart_list(services, list_id)
    except Conflict as exc:  # a profile includes or excludes it
        flash(f"Not deleted: {exc.message}", "error")
        return redirect(url_for("dashboard.contacts", list=list_id), 303)
    flash(f"Smart list {doc['name']!r} deleted.")
    return redirect(url_for("dashboard.contacts"), 303)


# --- one contact ------------------------------------------------------------------------------
def load_contact(services: Services, contact_id: str) -> dict[str, Any]:
    contact = services.contacts.get_contact(contact_id)
    if contact is None:
        raise NotFound(f"No contact {contact_id!r}.")
    return contact


def render_contact_page(contact_id: str, errors: dict[str, str] | None = None,
                        values: dict[str, str] | None = None, status: int = 200):
    services = get_services()
    contact = load_contact(services, contact_id)
    live = live_profiles(services)
    membership = Membership(services.smart_lists, services.contacts)
    scores = []
    for pid, version in live.items():
        state = contact["states"].get(version.field)
        score = state.score if state is not None else None
        scores.append({"profile": pid, "name": version.profile.name, "score": score,
                       "band": version.profile.band_for(score),
                       "outside": outside_words(membership, version.profile, contact_id) if score is None else None})
    wanted = request.args.get("profile") or (values or {}).get("profile")
    selected = wanted if wanted in live else next((s["profile"] for s in scores if s["score"] is not None),
                                                   next(iter(live), None))
    ledger: list[dict[str, Any]] = []
    chart = None
    ledger_cursor = parse_offset(request.args.get("ledger_cursor"))
    records = {r.key: r for r in services.timelines.read_timelines([contact_id])[contact_id]}
    first_seen = min((r.at for r in records.values() if r.type not in (MANUAL_TYPE, ATTRIBUTES_TYPE)), default=None)
    if selected:
        version = live[selected]
        everything, _whole = ledger_history.hot_ledger(services, contact_id, version)
        chart = score_chart(everything, now_ms())
        # older pages than Redis holds come from the archive (app/ledger_history.py), at the same offsets
        found = ledger_history.page(services, contact_id, version, PAGE_SIZE, ledger_cursor)
        shown = ledger_history.shown_records(services, contact_id, found.items)  # (with what the archive holds)
        ledger = [readable(e, shown) for e in found.items]
        more = found.next_offset is not None
    else:
        more = False
    channels = list(DND_CHANNELS) + sorted(set(contact["dnd"]) - set(DND_CHANNELS))
    return render_template(
        "dashboard/contact.html", contact=contact, scores=scores, selected=selected, ledger=ledger, chart=chart,
        ledger_cursor=ledger_cursor, ledger_more=more, page_size=PAGE_SIZE, channels=channels,
        errors=errors or {}, values=values or {}, live=live, first_seen=first_seen or contact["created_at"],
        names=profile_names(services), grades=contact_grade_rows(services, contact, live),
    ), status


def contact_grade_rows(services: Services, contact: dict[str, Any], live: Mapping[str, ActiveVersion]) -> list[dict]:
    """The contact's cell in each grade, by grade name (grades whose profiles do not both score it say so)."""
    grades = services.grades.all()
    cells = contact_grades(grades, live, contact["states"])
    return [{"id": gid, "name": grade.name, "cell": cells.get(gid),
             "profiles": (grade.fit_profile, grade.engagement_profile)} for gid, grade in grades.items()]


def readable(entry: dict[str, Any], records: Mapping[str, TimelineRecord]) -> dict[str, Any]:
    """A ledger entry with what the contact did in words (``Opened email``) and what it was about
    (the subject, form, link or message id), from the interaction in the timeline."""
    record = records.get(f"{entry['source']}:{entry['interaction_id']}")
    what, about = activity(entry["type"], held_as_sent(record) if record else None)  # (never a once-per key)
    return {**entry, "what": what, "about": about}


@bp.route("/contacts/<contact_id>")
def contact(contact_id: str):
    return render_contact_page(contact_id)


@bp.route("/contacts/<contact_id>/score", methods=["POST"])
def change_contact_score(contact_id: str):
    services = get_services()
    load_contact(services, contact_id)
    values = {name: request.form.get(name, "").strip() for name in ("profile", "op", "value", "reason")}
    errors: dict[str, str] = {}
    if values["op"] not in ("set", "add"):
        errors["op"] = "choose set or add"
    if values["profile"] not in live_profiles(services):
        errors["profile"] = "choose a published profile"
    body: dict[str, Any] = {"reason": values["reason"]}
    if values["value"] and values["op"] in ("set", "add"):
        body[values["op"]] = whole(values["value"])
    try:
        change = ScoreChangeSchema().load(body)
    except SchemaError as exc:
        for name, problems in exc.normalized_messages().items():
            field = {"set": "value", "add": "value", "_schema": "value"}.get(name, name)
            errors.setdefault(field, " ".join(problems) if isinstance(problems, list) else str(problems))
    if errors:
        return render_contact_page(contact_id, errors, values, status=400)
    op = "set" if "set" in change else "add"
    try:
        score = change_score(services, contact_id, values["profile"], op, change[op], change["reason"],
                             actor=dashboard_actor())
    except Conflict as exc:
        return render_contact_page(contact_id, {"profile": exc.message}, values, status=409)
    name = profile_names(services).get(values["profile"], values["profile"])
    flash(f"{name} score of {contact_label(load_contact(services, contact_id))} is now {score}.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id, profile=values["profile"]), 303)


@bp.route("/contacts/<contact_id>/score/reset", methods=["POST"])
def reset_contact_score(contact_id: str):
    """Reset a score to 0 as a fresh start (earlier points stop expiring and decaying, groups start empty),
    with a reason kept in the ledger; the page's script asks for a confirmation first."""
    services = get_services()
    load_contact(services, contact_id)
    values = {f"reset_{name}": request.form.get(f"reset_{name}", "").strip() for name in ("profile", "reason")}
    errors: dict[str, str] = {}
    if values["reset_profile"] not in live_profiles(services):
        errors["reset_profile"] = "choose a published profile"
    try:
        change = ScoreChangeSchema().load({"reset": True, "reason": values["reset_reason"]})
    except SchemaError as exc:
        problems = exc.messages.get("reason", exc.messages) if isinstance(exc.messages, dict) else exc.messages
        errors["reset_reason"] = " ".join(problems) if isinstance(problems, list) else str(problems)
    if errors:
        return render_contact_page(contact_id, errors, values, status=400)
    try:
        change_score(services, contact_id, values["reset_profile"], "reset", 0, change["reason"],
                     actor=dashboard_actor())
    except Conflict as exc:
        return render_contact_page(contact_id, {"reset_profile": exc.message}, values, status=409)
    name = profile_names(services).get(values["reset_profile"], values["reset_profile"])
    flash(f"{name} score of {contact_label(load_contact(services, contact_id))} is reset to 0: a fresh start.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id, profile=values["reset_profile"]), 303)


@bp.route("/contacts/<contact_id>/name", methods=["POST"])
def change_contact_name(contact_id: str):
    """Name a contact (search as you type finds it by the name too); an empty name removes it."""
    services = get_services()
    load_contact(services, contact_id)
    name = request.form.get("name", "").strip()
    if len(name) > 200:
        return render_contact_page(contact_id, {"name": "at most 200 characters"}, {"name": name}, status=400)
    services.contacts.set_name(contact_id, name or None)
    flash(f"Name set to {name!r}." if name else "Name removed.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)


def attribute_value(text: str) -> Any:
    """What the dashboard's attribute field means: empty removes, ``true``/``false`` and numbers are
    themselves, anything else is text (quote it, ``"42"``, to keep digits as text)."""
    text = text.strip()
    if not text:
        return None
    if text in ("true", "false"):
        return text == "true"
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return text[1:-1]
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if kind is int or math.isfinite(value):
            return value
    return text


@bp.route("/contacts/<contact_id>/attributes", methods=["POST"])
def change_contact_attribute(contact_id: str):
    """Set one attribute (or remove it, with an empty value): the same change as the API's PATCH."""
    services = get_services()
    load_contact(services, contact_id)
    name, text = request.form.get("name", "").strip(), request.form.get("value", "")
    values = {"attr_name": name, "attr_value": text}
    try:
        changes = AttributesField().deserialize({name: attribute_value(text)})
    except SchemaError as exc:
        problems = exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
        message = "; ".join(str(m) for msgs in problems.values() for m in (msgs if isinstance(msgs, list) else [msgs]))
        return render_contact_page(contact_id, {"attr_name": message}, values, status=400)
    actions.set_attributes(services, contact_id, changes)
    flash(f"Attribute {name} removed." if changes[name] is None else f"Attribute {name} set to {changes[name]!r}.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)


@bp.route("/contacts/<contact_id>/tags", methods=["POST"])
def change_contact_tags(contact_id: str):
    services = get_services()
    load_contact(services, contact_id)
    remove = [t for t in request.form.getlist("remove") if t]
    add = [t.strip() for t in request.form.get("add", "").split(",") if t.strip()]
    bad = [t for t in add if len(t) > MAX_TAG_LENGTH or not matches(TAG_TEXT, t)]
    if bad:
        return render_contact_page(contact_id, {"add": "a tag is printable text (no control characters) of at most "
                                                       "100 characters; separate tags with commas"},
                                   {"add": request.form.get("add", "")}, status=400)
    if not add and not remove:
        return render_contact_page(contact_id, {"add": "type one or more tags"}, status=400)
    change_tags(services, contact_id, add, remove)
    flash("Tags " + ", ".join([*(f"added {t}" for t in add), *(f"removed {t}" for t in remove)]) + ".")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)


@bp.route("/contacts/<contact_id>/dnd", methods=["POST"])
def change_contact_dnd(contact_id: str):
    services = get_services()
    contact = load_contact(services, contact_id)
    shown = [c for c in request.form.getlist("channel") if re.match(r"^[a-z_]{1,32}$", c)]
    wanted = {c: request.form.get(f"dnd-{c}") == "on" for c in shown}
    changed = any(contact["dnd"].get(c, False) != on for c, on in wanted.items())
    # The form gives every shown channel: a change records them all, so ``all_channels``
    # says whether the contact is now on DND everywhere, not just on the channel switched.
    actions.set_dnd(services, contact, wanted if changed else {})
    flash("Do-not-disturb updated." if changed else "Do-not-disturb unchanged.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)
