"""The smart-list page door (``app/api/list_door.py``) answers every request as Flask's path answers it and leaves
Redis as Flask's path leaves it: keys of every scope and workspace, odd paths, queries, headers and methods, drawn
by Hypothesis, each sent once to the door and once (on the same Redis, restored in between) to the Flask app
behind it."""
from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, event, given, settings, strategies as st

from app import smart_lists
from app.api import list_door
from app.services import current_workspace

from .helpers import AUTH, publish_profile, send, settle
from .test_scopes import make_key
from .test_webhook_door import Counting, same_answers
from .test_webhook_door import both as door_and_flask
from .test_workspaces import make_key as make_workspace_key, make_workspace

OPEN = {"id": "open", "on": "email.opened", "points": 5}


@pytest.fixture
def world(app, make_app, client, services):
    """Scored contacts a:5 … e:25, smart lists (one that can run, one naming a profile deleted since), keys of
    each scope and one of workspace ``acme``; the door in front of Flask's path, another app's Flask path alone, and
    how to put Redis back as it was before each request."""
    publish_profile(client, services, "eng", [OPEN])
    publish_profile(client, services, "gone", [OPEN])
    for n, name in enumerate("abcde"):
        send(client, *[{"id": f"{name}{i}", "type": "email.opened", "contact": {"email": f"{name}@x.io"}}
                       for i in range(n + 1)])
    settle(services)
    lists = {}
    for name, body in (("warm", {"profile": "eng", "op": "gte", "value": 10}),
                       ("all", {"profile": "eng", "op": "not_empty"}),
                       ("stale", {"profile": "gone", "op": "gte", "value": 1})):
        made = client.post("/v1/smart-lists", headers=AUTH, json={"name": name, **body})
        assert made.status_code == 201, made.get_json()
        lists[name] = made.get_json()["id"]
    assert client.delete("/v1/profiles/gone", headers=AUTH).status_code in (200, 204)
    make_workspace(client, "acme")
    keys = {"instance": AUTH["Authorization"][7:], "read": make_key(client, "read")["key"],
            "ingest": make_key(client, "ingest")["key"], "acme": make_workspace_key(client, "acme", "read")["key"]}
    redis = services.redis
    saved = {key: redis.dump(key) for key in redis.keys("*")}

    def restore() -> None:
        redis.flushdb()
        for key, value in saved.items():
            redis.restore(key, 0, value)

    other = make_app()
    passed = Counting(lambda environ, start_response: Flask.wsgi_app(app, environ, start_response))
    return {"door": list_door.ListPageDoor(app, passed), "passed": passed,
            "flask": lambda environ, start_response: Flask.wsgi_app(other, environ, start_response),
            "restore": restore, "redis": redis, "lists": lists, "keys": keys}


def both(world: dict, build: dict) -> tuple[tuple, tuple]:
    """The door's answer and Flask's to the same request (``test_webhook_door.both``); a build asking to
    ``forget`` drops the page plans the door's request kept, so Flask's plans its page afresh."""
    return door_and_flask(world, build, smart_lists._planned.clear if build.get("forget") else None)


NUMBERS = ["0", "1", "2", "3", "4", "5", "9", "50", "499", "500"] * 3 + [
    "501", "999", "1000", "007", "-1", "+2", " 2", "", "x", "2.0", "1e2", "%32", "123456789012345", "1234567890123456"]


@st.composite
def requests(draw, world: dict) -> dict:
    lists = world["lists"]
    list_id = draw(st.sampled_from([lists["warm"]] * 4 + [lists["all"], lists["stale"], "nope", "a" * 64, "a" * 65,
                                                           "caf\u00c3\u00a9", "x y", ""]))
    path = draw(st.sampled_from([f"/v1/smart-lists/{list_id}/contacts"] * 15 + [
        f"/v1/smart-lists/{list_id}/contacts/", f"/v1/smart-lists/{list_id}", f"/v1//smart-lists/{list_id}/contacts",
        f"/v1/Smart-lists/{list_id}/contacts", f"/v1/smart-lists/{list_id}/export.csv"]))
    if draw(st.integers(0, 4)):  # a page as clients ask for it
        path = f"/v1/smart-lists/{draw(st.sampled_from([lists['warm'], lists['all'], lists['stale'], 'nope']))}/contacts"
        parts = draw(st.sampled_from([[], ["limit"], ["cursor"], ["limit", "cursor"], ["cursor", "limit"]]))
        values = {"limit": ["1", "2", "3", "50", "500"], "cursor": ["0", "1", "2", "3", "5", "50", "007"]}
        query = "&".join(f"{name}={draw(st.sampled_from(values[name]))}" for name in parts)
        extras = False
    else:
        parts = draw(st.lists(st.sampled_from(["limit", "cursor"]) | st.sampled_from(["q", "limit ", "LIMIT", ""]),
                              max_size=3))
        query = "&".join(f"{name}={draw(st.sampled_from(NUMBERS))}" if draw(st.integers(0, 19)) else name
                         for name in parts)
        extras = True
    key = draw(st.sampled_from(["instance", "instance", "read", "ingest", "acme", "wrong", "none"]))
    headers: dict[str, str] = {}
    if key == "wrong":
        headers["Authorization"] = draw(st.sampled_from(["Bearer nope", "Basic abc", "Bearer ", "bearer sk_x.y"]))
    elif key != "none":
        scheme = draw(st.sampled_from(["Bearer", "Bearer", "bearer", "BEARER"]))
        headers["Authorization"] = f"{scheme} {world['keys'][key]}"
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(st.sampled_from(["req-1", "a" * 128, "a" * 129, "bad id", ""]))
    if extras and draw(st.integers(0, 9)) == 0:
        headers["Cookie"] = "session=x"
    if extras and draw(st.integers(0, 9)) == 0:
        headers["X-Scorekeeper-Workspace"] = draw(st.sampled_from(["acme", "default", "nope", ""]))
    environ: dict[str, Any] = {}
    data = b""
    if extras and draw(st.integers(0, 9)) == 0:
        data = b'{"x": 1}'
        headers["Content-Type"] = draw(st.sampled_from(["application/json", "text/plain"]))
    method = draw(st.sampled_from(["GET"] * 12 + ["POST", "HEAD", "OPTIONS", "PUT"])) if extras else "GET"
    return {"request": {"path": path, "method": method, "query_string": query, "headers": headers, "data": data},
            "environ": environ, "forget": draw(st.booleans())}


def plain(build: dict, world: dict) -> bool:
    """Whether the door should serve the request itself (every other request is Flask's)."""
    request = build["request"]
    headers = request["headers"]
    path = request["path"]
    asked = list_door.page_query(request["query_string"])
    return (request["method"] == "GET" and list_door.PATH.fullmatch(path) is not None and asked is not None
            and "Cookie" not in headers and "X-Scorekeeper-Workspace" not in headers and not request["data"]
            and not any(headers.get("Authorization", "") == f"{s} {world['keys']['ingest']}"
                        for s in ("Bearer", "bearer", "BEARER")))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_the_door_answers_and_stores_as_flask_does(world, data):
    build = data.draw(requests(world))
    (door, door_redis, served), (flask, flask_redis) = both(world, build)
    same_answers(door, flask)
    assert door_redis == flask_redis
    assert served == plain(build, world), (build["request"], door[0])
    assert current_workspace() == "default"  # a workspace entered for the request was left
    event(f"{door[0]}, {'the door' if served else 'Flask'}")


def test_a_page_is_served_by_the_door_alone(world):
    build = {"request": {"path": f"/v1/smart-lists/{world['lists']['warm']}/contacts", "method": "GET",
                         "query_string": "limit=2&cursor=1", "headers": {**AUTH, "X-Request-ID": "r-1"}},
             "environ": {}}
    (door, door_redis, served), (flask, flask_redis) = both(world, build)
    assert served and door == flask and door_redis == flask_redis
    status, headers, body = door
    assert status == "200 OK" and ("X-Request-ID", "r-1") in headers
    assert body.startswith(b'{"items":[{') and b'"email":"c@x.io"' in body and b'"next_cursor":"3","total":4}' in body


def test_the_query_is_read_as_the_schema_reads_it():
    """What the door takes of ``limit`` and ``cursor`` is what flask-smorest's schema would load; anything else
    (repeated, unknown, out of range, not plain digits) is left to Flask."""
    assert list_door.page_query("") == (50, 0)
    assert list_door.page_query("limit=7") == (7, 0)
    assert list_door.page_query("cursor=12&limit=500") == (500, 12)
    for query in ("limit=0", "limit=501", "limit=07", "limit=+7", "limit=", "limit", "limit=7&limit=7", "q=a",
                  "cursor=-1", "cursor=1234567890123456", "limit=%37", "&", "limit=7&"):
        assert list_door.page_query(query) is None, query


def test_install_refuses_an_app_with_a_request_hook_it_would_skip(make_app):
    app = make_app()
    app.before_request(lambda: None)
    with pytest.raises(RuntimeError, match="replicates the request hooks"):
        list_door.install(app)
