"""Contacts: the filtered table, CSV export, smart lists, and one contact's page."""
from __future__ import annotations

import re
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for
from marshmallow import ValidationError as SchemaError

from ..api.schemas import ScoreChangeSchema
from ..contacts import csv_rows, run_filter
from ..errors import Conflict, NotFound, ValidationError
from ..storage.profiles import ActiveVersion
from ..scores import change_score
from ..scoring.conditions import NUMERIC_OPS, SCORE_OPS
from ..scoring.interactions import normalize_email, now_ms
from ..services import Services, get_services
from . import actions
from .blueprint import bp
from .charts import score_chart
from .defaults import DND_CHANNELS, PAGE_SIZE
from .forms import FILTER_FIELDS, filter_summary, parse_filter, parse_offset

#: Words for the operators in the filter's menu.
OP_LABELS = {"eq": "equals", "ne": "does not equal", "gt": "greater than", "gte": "at least",
             "lt": "less than", "lte": "at most", "empty": "has no score", "not_empty": "has a score"}
#: A tag: no spaces or commas, at most 100 characters (as workflow configs require).
TAG = re.compile(r"^[^\s,]{1,100}$")
#: Spreadsheet programs run cells starting with these as formulas: such text cells get a leading '.


def live_profiles(services: Services) -> dict[str, ActiveVersion]:
    return dict(sorted(actions.profile_store(services).live().items()))


def search_contact(services: Services, text: str) -> str | None:
    """A contact id from an email, an external id or a contact id."""
    text = text.strip()
    if not text:
        return None
    if "@" in text:
        return services.contacts.find_contact(email=normalize_email(text))
    return services.contacts.find_contact(external_id=text) or (text if services.contacts.contact_exists(text) else None)


@bp.route("/contacts")
def contacts():
    services = get_services()
    live = live_profiles(services)
    found = request.args.get("q", "").strip()
    if found:
        contact_id = search_contact(services, found)
        if contact_id:
            return redirect(url_for("dashboard.contact", contact_id=contact_id))
        flash(f"No contact matches {found!r}.", "error")
    form = parse_filter(request.args, next(iter(live), None))
    cursor = parse_offset(request.args.get("cursor"))
    page: dict[str, Any] = {"items": [], "total": 0, "next_cursor": None}
    if form.filter is not None:
        try:
            page = run_filter(services, form.filter, PAGE_SIZE, cursor)
        except ValidationError as exc:
            form.errors.update({k: str(v) for k, v in (exc.errors or {}).items()} or {"_form": exc.message})
        except NotFound as exc:
            form.errors["profile"] = exc.message
    shown = form.values["profile"] or next(iter(live), "")
    status = 400 if form.errors else 200
    return render_template(
        "dashboard/contacts.html", form=form, page=page, cursor=cursor, page_size=PAGE_SIZE, live=live,
        profiles=sorted(actions.profile_store(services).all()), shown=shown, ops=SCORE_OPS, op_labels=OP_LABELS,
        numeric_ops=NUMERIC_OPS, summary=filter_summary({**form.values, "value": _number(form.values["value"])}),
    ), status


def _number(text: str) -> float | None:
    try:
        return float(text) if text else None
    except ValueError:
        return None


def _plain(value: Any) -> Any:
    """``20`` rather than ``20.0`` in links."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@bp.route("/contacts.csv")
def export_contacts():
    services = get_services()
    form = parse_filter(request.args, next(iter(live_profiles(services)), None))
    if form.filter is None:
        abort(400, description="The filter is invalid: " + "; ".join(f"{k}: {v}" for k, v in form.errors.items()))
    try:
        form.filter.validate()
    except ValidationError as exc:
        abort(400, description=f"The filter is invalid: {exc.errors}")
    return Response(stream_with_context(csv_rows(services, form.filter)), mimetype="text/csv",
                    headers={"Content-Disposition": 'attachment; filename="contacts.csv"'})


@bp.route("/smart-lists", methods=["GET", "POST"])
def smart_lists():
    services = get_services()
    if request.method == "POST":
        form = parse_filter(request.form, None)
        name = request.form.get("name", "").strip()
        if form.filter is None:
            flash("The filter is invalid; fix it before saving it.", "error")
            return redirect(url_for("dashboard.contacts", **form.query()), 303)
        try:
            doc = actions.save_smart_list(services, name, form.filter)
        except ValidationError as exc:
            problems = "; ".join(f"{k}: {' '.join(v) if isinstance(v, list) else v}"
                                 for k, v in (exc.errors or {}).items())
            flash(f"Not saved: {problems or exc.message}", "error")
            return redirect(url_for("dashboard.contacts", **form.query(name=name)), 303)
        flash(f"Smart list {doc['name']!r} saved.")
        return redirect(url_for("dashboard.smart_lists"), 303)
    lists = [{**doc, "summary": filter_summary(doc),
              "query": {k: _plain(doc[k]) for k in FILTER_FIELDS if doc.get(k) is not None}}
             for doc in actions.smart_lists(services)]
    for item in lists:
        if "profile" not in item["query"]:
            item["query"]["profile"] = ""  # "any profile", not the default one
    return render_template("dashboard/smart_lists.html", lists=lists)


@bp.route("/smart-lists/<list_id>/delete", methods=["POST"])
def delete_smart_list(list_id: str):
    actions.delete_smart_list(get_services(), list_id)
    flash("Smart list deleted.")
    return redirect(url_for("dashboard.smart_lists"), 303)


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
    scores = []
    for pid, version in live.items():
        state = contact["states"].get(version.field)
        score = state["s"] if state is not None else None
        scores.append({"profile": pid, "name": version.profile.name, "score": score,
                       "band": version.profile.band_for(score)})
    wanted = request.args.get("profile") or (values or {}).get("profile")
    selected = wanted if wanted in live else next((s["profile"] for s in scores if s["score"] is not None),
                                                   next(iter(live), None))
    ledger: list[dict[str, Any]] = []
    chart = None
    ledger_cursor = parse_offset(request.args.get("ledger_cursor"))
    if selected:
        version = live[selected]
        everything = services.timelines.ledger(contact_id, selected, version.version, 0,
                                           int(services.settings["LEDGER_MAX"]))
        chart = score_chart(everything, now_ms())
        ledger = everything[ledger_cursor:ledger_cursor + PAGE_SIZE]
        more = len(everything) > ledger_cursor + PAGE_SIZE
    else:
        more = False
    channels = list(DND_CHANNELS) + sorted(set(contact["dnd"]) - set(DND_CHANNELS))
    return render_template(
        "dashboard/contact.html", contact=contact, scores=scores, selected=selected, ledger=ledger, chart=chart,
        ledger_cursor=ledger_cursor, ledger_more=more, page_size=PAGE_SIZE, channels=channels,
        errors=errors or {}, values=values or {}, live=live,
    ), status


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
        body[values["op"]] = values["value"]
    try:
        change = ScoreChangeSchema().load(body)
    except SchemaError as exc:
        for name, problems in exc.messages.items():
            field = {"set": "value", "add": "value", "_schema": "value"}.get(name, name)
            errors.setdefault(field, " ".join(problems) if isinstance(problems, list) else str(problems))
    if errors:
        return render_contact_page(contact_id, errors, values, status=400)
    op = "set" if "set" in change else "add"
    try:
        score = change_score(services, contact_id, values["profile"], op, change[op], change["reason"])
    except Conflict as exc:
        return render_contact_page(contact_id, {"profile": exc.message}, values, status=409)
    flash(f"Score in {values['profile']} is now {score}.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id, profile=values["profile"]), 303)


@bp.route("/contacts/<contact_id>/tags", methods=["POST"])
def change_contact_tags(contact_id: str):
    services = get_services()
    load_contact(services, contact_id)
    remove = [t for t in request.form.getlist("remove") if t]
    add = [t for t in re.split(r"[\s,]+", request.form.get("add", "")) if t]
    bad = [t for t in add if not TAG.match(t)]
    if bad:
        return render_contact_page(contact_id, {"add": "a tag has at most 100 characters"},
                                   {"add": request.form.get("add", "")}, status=400)
    if not add and not remove:
        return render_contact_page(contact_id, {"add": "type one or more tags"}, status=400)
    services.contacts.change_tags(contact_id, add, remove)
    flash("Tags " + ", ".join([*(f"added {t}" for t in add), *(f"removed {t}" for t in remove)]) + ".")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)


@bp.route("/contacts/<contact_id>/dnd", methods=["POST"])
def change_contact_dnd(contact_id: str):
    services = get_services()
    contact = load_contact(services, contact_id)
    shown = [c for c in request.form.getlist("channel") if re.match(r"^[a-z_]{1,32}$", c)]
    wanted = {c: request.form.get(f"dnd-{c}") == "on" for c in shown}
    changed = {c: on for c, on in wanted.items() if contact["dnd"].get(c, False) != on}
    actions.set_dnd(services, contact, changed)
    flash("Do-not-disturb updated." if changed else "Do-not-disturb unchanged.")
    return redirect(url_for("dashboard.contact", contact_id=contact_id), 303)
