"""Form fields to the API's documents, and the API's validation errors back to field messages.

The profile form posts flat fields (``name``, ``bands-1-min``); a row left blank is ignored.
Rules are not in it: the rule builder (``rule_form``) saves them one at a time. ``ProfileDraftSchema``
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
#: Longest ``band_rows`` a form may claim.
MAX_ROWS = 500


@dataclass
class ProfileForm:
    """The editor's state: what was typed (to show again), the document, and messages per field."""

    name: str = ""
    description: str = ""
    bands: list[dict[str, str]] = field(default_factory=list)
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
    return ProfileForm(name=draft.get("name", ""), description=draft.get("description", ""), bands=bands)


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
        if any(row.values()):
            rows.append(row)
    return rows


def whole(text: str) -> Any:
    """Form text as a whole number when it is one (the API takes numbers, not text); any other text
    goes to the schema as it is, which names the problem next to the field."""
    return int(text) if re.fullmatch(r"-?[0-9]{1,19}", text) else text


#: Draft fields the profile form does not show; saving the form keeps them as they are.
UNSHOWN_DRAFT_FIELDS = ("groups", "max_score")


def parse_profile_form(form: Mapping[str, str], rules: Sequence[Mapping[str, Any]] = (),
                       kept: Mapping[str, Any] | None = None) -> ProfileForm:
    """Read and validate the profile form's fields with the draft's ``rules`` (and the draft's fields the
    form does not show, from ``kept``); ``draft`` is set only when everything is valid."""
    result = ProfileForm(name=form.get("name", "").strip(), description=form.get("description", "").strip(),
                         bands=_rows(form, "bands", BAND_FIELDS))
    doc = {**{k: v for k, v in (kept or {}).items() if k in UNSHOWN_DRAFT_FIELDS},
           "name": result.name, "description": result.description, "rules": [dict(r) for r in rules],
           "bands": [{k: v for k, v in (("name", row["name"]), ("min", whole(row["min"]))) if v != ""}
                     for row in result.bands]}
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
        elif key in ("name", "description", "rules", "bands"):
            out[key] = join_messages(value)
        else:
            out["_form"] = join_messages(value)
    return out


def parse_offset(raw: str | None) -> int:
    """A page offset from the query string; anything but a non-negative integer is 0."""
    try:
        return max(int(raw or 0), 0)
    except ValueError:
        return 0
