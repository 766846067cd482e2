"""Form fields to the API's documents, and the API's validation errors back to field messages.

The profile form posts flat fields (``name``, ``bands-1-min``, ``groups-0-max``, ``max_score``); a row
left blank is ignored. Rules are not in it: the rule builder (``rule_form``) saves them one at a time.
A group renamed in the form takes its rules with it (each row posts the id it had, ``groups-N-was``);
a group removed while rules still count toward it is refused with their number, never dropped from them. ``ProfileDraftSchema``
validates the document, so the dashboard accepts exactly what ``PUT /v1/profiles/<id>`` accepts,
and its nested messages land next to their fields.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError as SchemaError

from ..api.schemas import ProfileDraftSchema

BAND_FIELDS = ("name", "min")
GROUP_FIELDS = ("id", "max", "decay_percent", "decay_every", "decay_unit", "was")
#: A group row's schema attribute -> its field in the form.
GROUP_FIELD_OF = {"id": "id", "max_points": "max", "decay": "decay_percent"}
#: Longest ``band_rows`` a form may claim.
MAX_ROWS = 500


@dataclass
class ProfileForm:
    """The editor's state: what was typed (to show again), the document, and messages per field."""

    name: str = ""
    description: str = ""
    bands: list[dict[str, str]] = field(default_factory=list)
    groups: list[dict[str, str]] = field(default_factory=list)
    max_score: str = ""
    #: "" (no company score), sum, average or max
    company_rollup: str = ""
    kind: str = "engagement"
    #: smart list ids ticked in "Score only contacts in" / "Never score contacts in"
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    draft: dict[str, Any] | None = None

    @property
    def valid(self) -> bool:
        return self.draft is not None and not self.errors


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def form_from_draft(draft: Mapping[str, Any]) -> ProfileForm:
    """The profile form's fields of a stored draft."""
    bands = [{"name": b["name"], "min": _text(b["min"])} for b in draft.get("bands", [])]
    groups = []
    for g in draft.get("groups") or []:
        decay = g.get("decay") or {}
        every = str(decay.get("every") or "")
        groups.append({"id": g["id"], "max": _text(g["max_points"]), "decay_percent": _text(decay.get("percent")),
                       "decay_every": every[:-1] or "30", "decay_unit": every[-1:] or "d", "was": g["id"]})
    return ProfileForm(name=draft.get("name", ""), description=draft.get("description", ""), bands=bands,
                       groups=groups, max_score=_text(draft.get("max_score")), kind=draft.get("kind") or "engagement",
                       company_rollup=draft.get("company_rollup") or "",
                       include=list(draft.get("include") or ()), exclude=list(draft.get("exclude") or ()))


def _rows(form: Mapping[str, str], prefix: str, names: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        count = min(int(form.get(f"{prefix}_rows", "0")), MAX_ROWS)
    except ValueError:
        count = 0
    rows = []
    for i in range(count):
        if form.get(f"{prefix}-{i}-remove"):
            continue
        row = {name: form.get(f"{prefix}-{i}-{name}", "").strip() for name in names}
        if any(v for k, v in row.items() if k not in DEFAULTED):
            rows.append(row)
    return rows


def whole(text: str) -> Any:
    """Form text as a whole number when it is one (the API takes numbers, not text); any other text
    goes to the schema as it is, which names the problem next to the field."""
    return int(text) if re.fullmatch(r"-?[0-9]{1,19}", text) else text


#: Draft fields the profile form shows; saving it keeps every other field (``kind``, …) as it is. Groups and
#: the maximum score are kept too when a post does not carry them at all (a page from before they were shown).
SHOWN_DRAFT_FIELDS = ("id", "name", "description", "rules", "bands", "groups", "max_score", "include", "exclude",
                      "company_rollup")
#: Row fields that hold a default and do not make a blank row count.
DEFAULTED = ("decay_every", "decay_unit", "was")


def blank_group() -> dict[str, str]:
    """A new group row, blank (a row left blank is ignored)."""
    return {"id": "", "max": "", "decay_percent": "", "decay_every": "30", "decay_unit": "d", "was": ""}


def _groups(result: ProfileForm, rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The group rows as documents; renames follow into ``rules``, removals in use are refused."""
    groups = []
    renamed = {}
    for row in result.groups:
        group: dict[str, Any] = {"id": row["id"], "max_points": whole(row["max"])}
        if row["decay_percent"]:
            every = row["decay_every"] or "30"
            group["decay"] = {"percent": whole(row["decay_percent"]),
                              "every": f"{every}{row['decay_unit'] or 'd'}" if every.isdigit() else every}
        if row["was"] and row["was"] != row["id"]:
            renamed[row["was"]] = row["id"]
        groups.append(group)
    for rule in rules:
        if rule.get("group") in renamed:
            rule["group"] = renamed[rule["group"]]
    kept = {g["id"] for g in groups}
    for gone in sorted({r["group"] for r in rules if r.get("group") and r["group"] not in kept}):
        users = sum(1 for r in rules if r.get("group") == gone)
        result.errors["groups"] = (f"group {gone} still has {users} rule{'' if users == 1 else 's'}: take "
                                   f"{'it' if users == 1 else 'them'} out of the group in the rule builder first")
    return groups


def parse_profile_form(form: Mapping[str, str], rules: Sequence[Mapping[str, Any]] = (),
                       kept: Mapping[str, Any] | None = None) -> ProfileForm:
    """Read and validate the profile form's fields with the draft's ``rules`` (and the draft's fields the
    form does not show, from ``kept``); ``draft`` is set only when everything is valid."""
    result = ProfileForm(name=form.get("name", "").strip(), description=form.get("description", "").strip(),
                         bands=_rows(form, "bands", BAND_FIELDS), groups=_rows(form, "groups", GROUP_FIELDS),
                         max_score=form.get("max_score", "").strip(),
                         company_rollup=form.get("company_rollup", (kept or {}).get("company_rollup") or "").strip(),
                         kind=form.get("kind") or (kept or {}).get("kind") or "engagement")
    kept = kept or {}
    rules_doc = [dict(r) for r in rules]
    doc = {**{k: v for k, v in kept.items() if k not in SHOWN_DRAFT_FIELDS},
           "name": result.name, "description": result.description, "rules": rules_doc,
           "bands": [{k: v for k, v in (("name", row["name"]), ("min", whole(row["min"]))) if v != ""}
                     for row in result.bands]}
    if "kind" in form:  # chosen when the profile is made (the page of an existing one shows it, fixed)
        doc["kind"] = form["kind"]
    if "groups_rows" in form:
        groups = _groups(result, rules_doc)
        if groups:
            doc["groups"] = groups
    elif kept.get("groups"):
        doc["groups"] = kept["groups"]
    for name in ("include", "exclude"):  # ticked boxes; kept when the post does not show the lists at all
        if "lists_shown" in form:
            picked = list(dict.fromkeys(form.getlist(name))) if hasattr(form, "getlist") else []
            setattr(result, name, picked)
            if picked:
                doc[name] = picked
        elif kept.get(name):
            doc[name] = kept[name]
            setattr(result, name, list(kept[name]))
    if "max_score" in form:
        if result.max_score:
            doc["max_score"] = whole(result.max_score)
    elif kept.get("max_score") is not None:
        doc["max_score"] = kept["max_score"]
    if result.company_rollup:  # from the form, or kept when the post does not carry the field
        doc["company_rollup"] = result.company_rollup
    try:
        draft = ProfileDraftSchema().load(doc)
    except SchemaError as exc:
        for name, message in field_messages(exc.messages).items():
            result.errors.setdefault(name, message)
        return result
    if not result.errors:
        result.draft = draft
    return result


def join_messages(messages: Any) -> str:
    """One readable line from marshmallow's messages (a list, a dict of paths, or text)."""
    if isinstance(messages, Mapping):
        return "; ".join(f"{key}: {join_messages(value)}" for key, value in messages.items())
    if isinstance(messages, (list, tuple)):
        return " ".join(join_messages(m) for m in messages)
    return str(messages)


def field_messages(messages: Mapping[Any, Any]) -> dict[str, str]:
    """marshmallow's nested messages of a profile draft as ``form field -> message``."""
    out: dict[str, str] = {}
    for key, value in messages.items():
        if key == "bands" and isinstance(value, Mapping):
            for index, problems in value.items():
                if not isinstance(index, int) or not isinstance(problems, Mapping):
                    out[key] = join_messages(problems)
                    continue
                for name, text in problems.items():
                    out[f"bands-{index}-{name}" if name in BAND_FIELDS else f"bands-{index}"] = join_messages(text)
        elif key == "groups" and isinstance(value, Mapping):
            for index, problems in value.items():
                if not isinstance(index, int) or not isinstance(problems, Mapping):
                    out[key] = join_messages(problems)
                    continue
                for name, text in problems.items():
                    out[f"groups-{index}-{GROUP_FIELD_OF.get(name, 'id')}"] = join_messages(text)
        elif key == "rules" and isinstance(value, Mapping):
            out[key] = " ".join(f"Rule {index + 1}: {join_messages(problems)}" if isinstance(index, int)
                                else join_messages(problems) for index, problems in value.items())
        elif key in ("name", "description", "rules", "bands", "groups", "max_score", "company_rollup"):
            out[key] = join_messages(value)
        else:
            out["_form"] = join_messages(value)
    return out


#: The largest page offset read from a query string (as the API's ``MAX_CURSOR``): far beyond any list.
MAX_OFFSET = 10**15


def parse_offset(raw: str | None) -> int:
    """A page offset from the query string; anything but a non-negative integer is 0, and an offset past
    any list is ``MAX_OFFSET`` (an empty page, not a number the store refuses)."""
    try:
        return min(max(int(raw or 0), 0), MAX_OFFSET)
    except ValueError:
        return 0
