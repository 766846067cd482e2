"""A page of contacts is written by orjson (app/api/contacts.py, ``json_page``): the bytes Flask's own JSON
response carries, whatever the page holds — text beyond ASCII and integers beyond 64 bits go through Flask's
encoder as before; a number of the exponent form may be spelled otherwise, but reads as the same number."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.api.contacts import json_page

scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                       st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                      max_leaves=20)
pages = st.fixed_dictionaries({"items": st.lists(st.dictionaries(st.text(max_size=6), values, max_size=6), max_size=4),
                               "total": st.integers(min_value=0, max_value=10**9),
                               "next_cursor": st.one_of(st.none(), st.integers(min_value=0).map(str))})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page=pages)
def test_a_page_is_the_bytes_flask_would_send(app, page):
    with app.test_request_context():
        ours, flasks = json_page(page), app.json.response(page)
        assert ours.get_data() == flasks.get_data()
        assert ours.mimetype == flasks.mimetype == "application/json"
        assert ours.status_code == 200


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(numbers=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=5))
def test_a_page_with_fractional_numbers_reads_the_same(app, numbers):
    page = {"items": [{"attributes": {"n": n}} for n in numbers], "total": len(numbers), "next_cursor": None}
    with app.test_request_context():
        assert json.loads(json_page(page).get_data()) == json.loads(app.json.response(page).get_data()) == page


def test_a_debug_app_keeps_flasks_indented_json(app):
    app.debug = True
    try:
        with app.test_request_context():
            page = {"items": [{"id": "c1", "tags": ["é"]}], "total": 1, "next_cursor": None}
            assert json_page(page).get_data() == app.json.response(page).get_data()
            assert b"\n  " in json_page(page).get_data()
    finally:
        app.debug = False
