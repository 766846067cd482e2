"""Smart lists whose filter names a profile that no longer exists: a clear answer, never a 500.

A list is saved only when every profile it names exists (404 otherwise, nothing stored). A profile can
be deleted later: then the list's members and its CSV export answer 409 before anything streams, the
listings show the list with ``count`` null and its ``problem`` (one stale list does not break them),
and a download already running when the profile goes finishes without an error in the middle.
"""
from __future__ import annotations

import csv
import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markupsafe import escape

from app import contact_directory

from .helpers import AUTH, publish_profile, put_profile, send, settle
from .dashboard_helpers import text

OPEN = {"id": "open", "on": "email.opened", "points": 5}
PROFILES = ("eng", "fit")


def opened(n: int, email: str) -> dict:
    return {"id": f"o-{email}-{n}", "type": "email.opened", "contact": {"email": email}}


@pytest.fixture
def two_profiles(client, services):
    """``eng`` and ``fit`` published, three contacts scored in both."""
    for pid in PROFILES:
        publish_profile(client, services, pid, [OPEN])
    send(client, *[opened(n, f"{who}@x.io") for who in "abc" for n in range(3)])
    settle(services)


def save(client, conditions: list[dict], order_by: str | None = None, name: str = "List"):
    document = {"conditions": conditions, **({"order_by": order_by} if order_by else {})}
    return client.post("/v1/smart-lists", headers=AUTH, json={"name": name, "filter": document})


def delete_profile(client, pid: str) -> None:
    assert client.delete(f"/v1/profiles/{pid}", headers=AUTH).status_code == 204


# --- a list names profiles in its conditions and in order_by: any of them may be gone ---------------------
reference = st.sampled_from(PROFILES)
conditions = st.lists(st.one_of(
    st.builds(lambda p: {"field": "score", "profile": p, "op": "not_empty"}, reference),
    st.builds(lambda p, v: {"field": "score", "profile": p, "op": "gte", "value": v}, reference, st.integers(0, 20)),
    st.builds(lambda p: {"field": "band", "profile": p, "band": "warm"}, reference),
    st.just({"field": "tag", "tag": "vip"}),
), max_size=3)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(conditions=conditions, order_by=st.one_of(st.none(), reference), gone=st.sampled_from(PROFILES))
def test_a_list_naming_a_deleted_profile_is_a_clear_409_and_the_listings_still_answer(
        client, services, conditions, order_by, gone):
    services.redis.flushdb()
    for pid in PROFILES:
        put_profile(client, pid, [OPEN])
    created = save(client, conditions, order_by)
    assert created.status_code == 201, created.get_json()
    list_id = created.get_json()["id"]
    delete_profile(client, gone)
    names_it = gone == order_by or any(c.get("profile") == gone for c in conditions)

    members = client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH)
    export = client.get(f"/v1/smart-lists/{list_id}/export.csv", headers=AUTH)
    [listed] = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    if names_it:
        for resp in (members, export):
            assert resp.status_code == 409 and resp.mimetype == "application/json"
            body = resp.get_json()
            assert repr(gone) in body["message"] and body["errors"] == {"filter": [listed["problem"]]}
        assert listed["count"] is None and repr(gone) in listed["problem"]
    else:
        assert members.status_code == 200 and export.status_code == 200 and export.mimetype == "text/csv"
        assert isinstance(listed["count"], int) and "problem" not in listed
    assert client.get(f"/v1/smart-lists/{list_id}", headers=AUTH).status_code == 200  # it can be edited
    assert client.delete(f"/v1/smart-lists/{list_id}", headers=AUTH).status_code == 204  # or deleted


@pytest.mark.parametrize("document", [
    pytest.param({"conditions": [{"field": "score", "profile": "nope", "op": "not_empty"}]}, id="in-a-condition"),
    pytest.param({"conditions": [{"field": "band", "profile": "nope", "band": "warm"}]}, id="in-a-band"),
    pytest.param({"conditions": [], "order_by": "nope"}, id="in-order-by"),
])
def test_a_list_naming_a_profile_that_does_not_exist_is_not_saved(client, services, document):
    put_profile(client, "eng", [OPEN])
    resp = client.post("/v1/smart-lists", headers=AUTH, json={"name": "L", "filter": document})
    assert resp.status_code == 404 and resp.get_json()["errors"] == {"filter": ["no profile 'nope'"]}
    assert client.get("/v1/smart-lists", headers=AUTH).get_json()["items"] == []


def test_the_dashboard_shows_the_problem_and_refuses_the_export_before_it_starts(dash, client, two_profiles):
    list_id = save(client, [{"field": "score", "profile": "fit", "op": "gte", "value": 0}], name="Fit").get_json()["id"]
    save(client, [{"field": "score", "profile": "eng", "op": "gte", "value": 0}], name="Eng")
    delete_profile(client, "fit")

    page = text(dash.get("/dashboard/smart-lists"))
    problem = str(escape("Cannot run: names profile 'fit', which no longer exists"))
    assert f'data-testid="list-problem-{list_id}">{problem}' in page
    assert f"/dashboard/smart-lists/{list_id}/export.csv" not in page  # no download offered
    contacts = dash.get("/dashboard/contacts")
    assert contacts.status_code == 200 and f'data-testid="list-count-{list_id}" title="Cannot run' in text(contacts)
    export = dash.get(f"/dashboard/smart-lists/{list_id}/export.csv")
    assert export.status_code == 409 and export.mimetype == "text/html" and "no longer exists" in text(export)


def test_a_download_running_when_its_profile_is_deleted_ends_without_an_error(client, two_profiles, monkeypatch):
    monkeypatch.setattr(contact_directory, "EXPORT_PAGE", 1)  # a page per contact: the deletion falls between pages
    list_id = save(client, [{"field": "score", "profile": "fit", "op": "gte", "value": 0}]).get_json()["id"]
    resp = client.get(f"/v1/smart-lists/{list_id}/export.csv", headers=AUTH, buffered=False)
    assert resp.status_code == 200
    chunks = iter(resp.response)
    received = [next(chunks), next(chunks)]  # the header and the first contact
    delete_profile(client, "fit")
    received += list(chunks)
    resp.close()
    rows = list(csv.reader(io.StringIO("".join(c.decode() if isinstance(c, bytes) else c for c in received))))
    assert rows[0] == ["id", "email", "external_id", "score", "band", "tags"]
    assert rows[1][1] in {"a@x.io", "b@x.io", "c@x.io"} and rows[1][3] == "15"


@pytest.mark.parametrize("gone", ["grade", "its-profile"])
def test_a_list_naming_a_deleted_grade_or_a_profile_of_its_grade_is_a_409_too(client, services, gone):
    put_profile(client, "fit", [{"id": "vp", "points": 10, "where": {"job_title": "VP"}}],
                [{"name": "poor", "min": 0}, {"name": "great", "min": 10}], kind="fit")
    put_profile(client, "eng", [OPEN], [{"name": "cold", "min": 0}, {"name": "hot", "min": 10}])
    lead = {"name": "Lead", "fit_profile": "fit", "engagement_profile": "eng"}
    assert client.put("/v1/grades/lead", headers=AUTH, json=lead).status_code == 200
    list_id = save(client, [{"field": "grade", "grade": "lead", "op": "eq", "cell": "A1"}]).get_json()["id"]
    if gone == "grade":
        assert client.delete("/v1/grades/lead", headers=AUTH).status_code == 204
    else:
        delete_profile(client, "eng")
    named = "grade 'lead'" if gone == "grade" else "profile 'eng'"

    for resp in (client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH),
                 client.get(f"/v1/smart-lists/{list_id}/export.csv", headers=AUTH)):
        assert resp.status_code == 409 and named in resp.get_json()["message"]
    [listed] = client.get("/v1/smart-lists", headers=AUTH).get_json()["items"]
    assert listed["count"] is None and listed["problem"] == f"names {named}, which no longer exists"
