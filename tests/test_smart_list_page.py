"""A smart list's page in one round trip (app/smart_lists.py): the page its documents planned last time is read
with the documents, and kept only while they are the same text; any change to the list, the profiles or the grades
plans the page again from what was just read, and the answer is always the one planning afresh gives."""
from __future__ import annotations

import pytest

from app import smart_lists
from app.storage import queries

from .helpers import AUTH, publish_profile, put_profile, send, settle

OPEN = {"id": "open", "on": "email.opened", "points": 5}


@pytest.fixture
def scored(client, services):
    """a:5 b:10 c:15 d:20 e:25 in profile eng."""
    publish_profile(client, services, "eng", [OPEN])
    for n, name in enumerate("abcde"):
        send(client, *[{"id": f"{name}{i}", "type": "email.opened", "contact": {"email": f"{name}@x.io"}}
                       for i in range(n + 1)])
    settle(services)


def page(client, list_id, **query):
    resp = client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH, query_string=query)
    return resp.status_code, resp.get_json()


def fresh(client, list_id, **query):
    """The same page with nothing kept from earlier requests."""
    smart_lists._planned.clear()
    return page(client, list_id, **query)


def emails(body):
    return [c["email"] for c in body["items"]]


def test_a_planned_page_is_one_round_trip_and_reads_as_planning_afresh(client, services, scored, monkeypatch):
    list_id = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "Warm", "profile": "eng", "op": "gte", "value": 10}).get_json()["id"]
    expected = {(limit, cursor): fresh(client, list_id, limit=limit, cursor=cursor)
                for limit in (1, 2, 50) for cursor in (0, 2, 3, 4, 9)}
    assert emails(expected[2, 0][1]) == ["e@x.io", "d@x.io"] and expected[2, 0][1]["total"] == 4
    assert emails(expected[2, 2][1]) == ["c@x.io", "b@x.io"] and expected[2, 2][1]["next_cursor"] is None
    assert any(key[1] == list_id for key in smart_lists._planned)
    with monkeypatch.context() as patch:  # the page kept: no documents read apart, no filter run
        patch.setattr(queries.ContactQuery, "documents", lambda *a: pytest.fail("a round trip more"))
        patch.setattr(smart_lists, "run_filter", lambda *a: pytest.fail("planned again"))
        for (limit, cursor), answer in expected.items():
            assert page(client, list_id, limit=limit, cursor=cursor) == answer


def test_what_changes_the_documents_plans_the_page_again(client, services, scored):
    list_id = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "Warm", "profile": "eng", "op": "gte", "value": 10}).get_json()["id"]
    assert emails(page(client, list_id)[1]) == ["e@x.io", "d@x.io", "c@x.io", "b@x.io"]
    # the list's filter changes
    client.put(f"/v1/smart-lists/{list_id}", headers=AUTH, json={"name": "Hot", "profile": "eng", "op": "gt",
                                                                 "value": 15})
    assert emails(page(client, list_id)[1]) == ["e@x.io", "d@x.io"]
    # the profile is published again (its points doubled: another version, other score indexes)
    publish_profile(client, services, "eng", [{**OPEN, "points": 10}])
    settle(services)
    body = page(client, list_id)[1]
    assert body == fresh(client, list_id)[1]
    assert [c["scores"]["eng"]["score"] for c in body["items"]] == [50, 40, 30, 20]
    # another profile's draft is saved (the profiles hash changes)
    page(client, list_id)
    put_profile(client, "other", [OPEN])
    assert page(client, list_id) == fresh(client, list_id)
    # the list is deleted
    page(client, list_id)
    assert client.delete(f"/v1/smart-lists/{list_id}", headers=AUTH).status_code == 204
    assert page(client, list_id)[0] == 404


def test_a_script_the_server_lost_plans_the_page_again(client, services, scored):
    list_id = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "Warm", "profile": "eng", "op": "gte", "value": 10}).get_json()["id"]
    expected = fresh(client, list_id)
    services.redis.script_flush()
    assert page(client, list_id) == expected
    assert page(client, list_id) == expected


def test_the_count_is_read_after_the_page_and_nothing_is_left_unread(client, services, scored, monkeypatch):
    """A kept plan of one score range asks for the count apart, read once the page is rendered; when rendering
    fails, the count's reply is still read before the connection goes back to the pool (the next command reads
    its own reply)."""
    from app import contact_directory
    from app.storage.queries import PlannedPage

    list_id = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "Warm", "profile": "eng", "op": "gte", "value": 10}).get_json()["id"]
    expected = fresh(client, list_id, limit=2)
    order = []
    renderer, counted = contact_directory._page_renderer, PlannedPage.counted

    def logged(live, grades):  # a page's renderer that says when it renders a contact
        render = renderer(live, grades)
        return lambda contact: order.append("render") or render(contact)

    with monkeypatch.context() as patch:
        patch.setattr(contact_directory, "_page_renderer", logged)
        patch.setattr(PlannedPage, "counted", lambda self: order.append(("count", self._unread)) or counted(self))
        assert page(client, list_id, limit=2) == expected
    assert order == ["render", "render", ("count", 1)]  # the count's reply still waiting, read after the page
    with monkeypatch.context() as patch:
        patch.setattr(contact_directory, "_page_renderer", lambda live, grades: lambda contact: 1 / 0)
        with pytest.raises(ZeroDivisionError):
            smart_lists.list_members(services, list_id, 2, 0)
    services.redis.set("test:after", "mine")
    assert services.redis.get("test:after") == "mine"
    assert page(client, list_id, limit=2) == expected
    assert all(not c._sock or not c.can_read() for c in services.redis.connection_pool._available_connections)
