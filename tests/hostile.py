"""Hypothesis strategies, one per class of hostile input, and the JSON surgery to plant them.

Each strategy generates a whole class (every depth past the limit, every out-of-range moment, every
forbidden character...), not one hand-picked payload: the tests post what they generate to every
route the class applies to.
"""
from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from app.json_bodies import MAX_DEPTH

# --- where a value can go in a JSON document -----------------------------------------------------


def paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a JSON document below the root."""
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            out += paths(child, (*prefix, index))
    return out


def planted(document: Any, path: tuple, value: Any) -> Any:
    """A copy of ``document`` with ``value`` at ``path``."""
    doc = copy.deepcopy(document)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return doc


@st.composite
def planted_anywhere(draw, document: Any, values: st.SearchStrategy) -> Any:
    """``document`` with one of its values (anywhere, at any depth) replaced by one from ``values``."""
    places = paths(document) or [("planted",)]  # an empty object gets a new member
    return planted(document, draw(st.sampled_from(places)), draw(values))


# --- the classes ------------------------------------------------------------------------------------
scalars = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=5)


@st.composite
def too_deep(draw) -> Any:
    """A value nested past the limit, however it is planted: objects and arrays, mixed, with leaves."""
    depth = draw(st.integers(MAX_DEPTH + 1, MAX_DEPTH * 8))
    value = draw(scalars)
    for _ in range(depth):
        if draw(st.booleans()):
            value = {draw(st.text(min_size=1, max_size=3)): value}
        else:
            value = [value] + draw(st.lists(scalars, max_size=2))
    return value


#: Integers that do not fit in a signed 64-bit integer.
huge_integers = st.integers(min_value=2**63) | st.integers(max_value=-(2**63) - 1)

#: Numbers that are not whole (1.5), and whole numbers sent as text ("5") or as booleans.
not_whole = (st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6).filter(
    lambda x: x != int(x)) | st.integers(-1000, 1000).map(str) | st.booleans())

#: The non-JSON literals some parsers accept.
non_json_literals = st.sampled_from(["NaN", "Infinity", "-Infinity", "nan", "inf", "1e999", "-1e999"])

#: A character never allowed in identities, ids and tags.
forbidden_char = st.sampled_from([chr(c) for c in range(0x20)] + [chr(c) for c in range(0x7F, 0xA0)]) | st.sampled_from(
    list("\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202e\u2060\u2066\u2069\ufeff\ufffe"))


@st.composite
def with_forbidden_char(draw, base: str, inside: bool = False) -> str:
    """``base`` with a forbidden character inserted somewhere (start, middle or end; ``inside``: not at the
    ends, where a provider's surrounding whitespace is trimmed away before anything is stored)."""
    at = draw(st.integers(1, len(base) - 1) if inside else st.integers(0, len(base)))
    return base[:at] + draw(forbidden_char) + base[at:]


def _moment_text(moment: datetime, offset_minutes: int) -> str:
    sign = "+" if offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return f"{moment:%Y}"[-4:].rjust(4, "0") + moment.strftime("-%m-%dT%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"


@st.composite
def out_of_range_timestamps(draw) -> str:
    """RFC 3339 moments outside 1970-01-01T00:00:00Z .. 9899-12-31T23:59:59.999Z once the offset applies."""
    offset = draw(st.integers(-23 * 60 - 59, 23 * 60 + 59))
    kind = draw(st.sampled_from(["before", "after", "epoch-edge"]))
    if kind == "before":
        local = draw(st.datetimes(datetime(1, 1, 2), datetime(1969, 12, 30)))
    elif kind == "after":
        local = draw(st.datetimes(datetime(9900, 1, 2), datetime(9999, 12, 30)))
    else:  # 1970-01-01 local time, east of Greenwich: before the epoch in UTC
        offset = draw(st.integers(1, 23 * 60 + 59))
        local = datetime(1970, 1, 1) + timedelta(minutes=draw(st.integers(0, offset - 1)))
    return _moment_text(local, offset)


#: Durations past the ten-year maximum, in every unit.
too_long_durations = st.sampled_from([("d", 3651), ("w", 522), ("h", 87_601), ("m", 5_256_001),
                                      ("s", 315_360_001)]).flatmap(
    lambda unit: st.integers(unit[1], unit[1] * 10**6).map(lambda n: f"{n}{unit[0]}"))

#: Header names HTTP does not allow (a separator, a space, a control character, not ASCII).
bad_header_names = st.text(min_size=1, max_size=20).filter(
    lambda s: any(not (c.isascii() and (c.isalnum() or c in "!#$%&'*+.^_`|~-")) for c in s))


@st.composite
def bad_header_values(draw) -> str:
    """Header values carrying CR, LF or another control character, or a line folded with whitespace."""
    base = draw(st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=20))
    bad = draw(st.sampled_from(["\r", "\n", "\r\n", "\x00", "\x7f", "\x1b", "\r\nX-Injected: 1"])
               | st.sampled_from([chr(c) for c in range(0x20) if c != 0x09]))
    at = draw(st.integers(0, len(base)))
    return base[:at] + bad + base[at:]


#: Bodies that are not JSON at all.
not_json = st.one_of(
    st.binary(max_size=40),
    st.text(max_size=40).map(str.encode),
    st.sampled_from([b"{", b"[1,", b"{'a': 1}", b'{"a": NaN}', b"nul", b"\xff\xfe", b'{"a":1}x',
                     b'{"a": 01}', b'{"a": "\\ud800"}']),
).filter(lambda raw: raw.strip() != b"" and not _is_json(raw))


def _is_json(raw: bytes) -> bool:
    import orjson

    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return False
    return True


UTC = timezone.utc
