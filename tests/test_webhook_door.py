"""The webhook door (``app/hooks/fast.py``) answers every request as Flask's path answers it, and leaves Redis as
Flask's path leaves it: hostile bodies, headers, paths and methods, drawn by Hypothesis, each sent once to the
door and once (on the same Redis, restored in between) to the Flask app behind it."""
from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from flask import Request
from gunicorn.http.body import Body, LengthReader
from gunicorn.http.unreader import Unreader
from hypothesis import HealthCheck, assume, event, given, settings, strategies as st
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.test import EnvironBuilder

from app import logs
from app.hooks import fast, read_body, secrets
from app.errors import PayloadTooLarge
from app.services import current_workspace

from .hook_builders import documented_delivery, schemes, stripe_event, stripe_payment_intent
from .hostile import too_deep
from .test_workspaces import make_workspace

WORKSPACE = "acme"


@pytest.fixture(scope="module")
def hook_schemes():
    return {s.provider: s for s in schemes()}


@pytest.fixture
def app(make_app, hook_schemes):
    return make_app(**{s.setting: s.config_value for s in hook_schemes.values()})


class Counting:
    """Flask's path, counting the requests the door passed to it."""

    def __init__(self, wsgi: Any):
        self.wsgi = wsgi
        self.calls = 0

    def __call__(self, environ, start_response):
        self.calls += 1
        return self.wsgi(environ, start_response)


@pytest.fixture
def world(app, make_app, client, hook_schemes):
    """Two apps (two processes, each with what it remembers: the door's, ``app``, and Flask's path alone) with
    workspace ``acme`` (its own Stripe secret), and how to put Redis back as it was before each request."""
    make_workspace(client, WORKSPACE)
    tenancy = app.extensions["scorekeeper.tenancy"]
    with app.app_context():
        secrets.set_secret(tenancy.get(WORKSPACE), "stripe", hook_schemes["stripe"].secret, "test")
    redis = tenancy.default.redis
    saved = {key: redis.dump(key) for key in redis.keys("*")}

    def restore() -> None:
        redis.flushdb()
        for key, value in saved.items():
            redis.restore(key, 0, value)

    other = make_app(**{s.setting: s.config_value for s in hook_schemes.values()})
    passed = Counting(app.wsgi_app.flask_app)
    return {"door": fast.WebhookDoor(app, passed), "passed": passed, "flask": other.wsgi_app.flask_app,
            "restore": restore, "redis": redis}


def answer(wsgi: Any, environ: dict) -> tuple[str, list[tuple[str, str]], bytes]:
    started = {}

    def start_response(status, headers, exc_info=None):
        started.update(status=status, headers=headers)

    body = b"".join(wsgi(environ, start_response))
    return started["status"], list(started["headers"]), body


def stored(redis: Any) -> dict:
    """Every key, its type and size (times inside values differ by the milliseconds between the two requests)."""
    out: dict = {}
    for key in redis.keys("*"):
        kind = redis.type(key)
        size = {"hash": redis.hlen, "stream": redis.xlen, "set": redis.scard, "zset": redis.zcard,
                "list": redis.llen}.get(kind)
        name = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "UUID", key)  # RQ's job ids
        out.setdefault(name, []).append((kind, size(key) if size else None))
    return out


def both(world: dict, build: dict, between: Callable[[], None] | None = None) -> tuple[tuple, tuple]:
    """The door's answer and Flask's to the same request, each on the Redis of before; Redis after each.
    ``between`` runs after the door's answer, before Flask's (to forget what the door's request left in memory)."""
    world["restore"]()
    calls = world["passed"].calls
    door = answer(world["door"], EnvironBuilder(**build["request"]).get_environ() | build["environ"])
    served = world["passed"].calls == calls
    door_redis = stored(world["redis"])
    world["restore"]()
    if between is not None:
        between()
    flask = answer(world["flask"], EnvironBuilder(**build["request"]).get_environ() | build["environ"])
    return (door, door_redis, served), (flask, stored(world["redis"]))


def same_answers(door: tuple, flask: tuple) -> None:
    (status, headers, body), (f_status, f_headers, f_body) = door, flask
    ids = [value for name, value in headers if name == "X-Request-ID"]
    f_ids = [value for name, value in f_headers if name == "X-Request-ID"]
    assert len(ids) == len(f_ids) <= 1
    if ids and ids != f_ids:  # both made a new one: 32 random hex digits each
        assert len(ids[0]) == len(f_ids[0]) == 32 and int(ids[0], 16) >= 0 and int(f_ids[0], 16) >= 0
        headers = [(n, v) for n, v in headers if n != "X-Request-ID"]
        f_headers = [(n, v) for n, v in f_headers if n != "X-Request-ID"]
    assert (status, headers, body) == (f_status, f_headers, f_body)


# --- what is drawn --------------------------------------------------------------------------------------------
PROVIDER_PATHS = {"stripe": "/hooks/stripe", "sendgrid": "/hooks/sendgrid", "mailgun": "/hooks/mailgun",
                  "postmark": "/hooks/postmark", "standard": "/hooks/standard/crm", "tally": "/hooks/tally"}
ODD_PATHS = ["/hooks/nope", "/hooks/standard", "/hooks/standard/", "/hooks/stripe/", "/hooks//stripe",
             "/hooks/Stripe", "/w/acme/hooks/stripe", "/w/acme/hooks/standard/crm", "/w/nope/hooks/stripe",
             "/w/default/hooks/stripe", "/w/ACME/hooks/stripe", "/w/acme/hooks/nope", "/w//hooks/stripe",
             "/w/acme/hooks/stripe/x", "/hooks/standard/cr/m", "/hooks/standard/caf\u00c3\u00a9"]
path_text = st.text(st.characters(codec="latin-1", exclude_characters="?#"), max_size=12)
PATHS = (st.sampled_from(list(PROVIDER_PATHS.values())) | st.sampled_from(list(PROVIDER_PATHS.values()))
         | st.sampled_from(list(PROVIDER_PATHS.values()) + ODD_PATHS)
         | st.builds(lambda a: "/hooks/" + a, path_text)
         | st.builds(lambda a, b: f"/w/{a}/hooks/{b}", path_text, path_text))
header_text = st.text(st.characters(codec="latin-1", exclude_categories=("Cc",)), max_size=40)
JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                    max_leaves=12)


def signed(hook_schemes: dict, provider: str, payload: Any, when: int) -> tuple[bytes, dict[str, str]]:
    scheme = hook_schemes[provider]
    return scheme.sign(payload, scheme.secret, when)


@st.composite
def requests(draw, hook_schemes: dict) -> dict:
    provider = draw(st.sampled_from(sorted(PROVIDER_PATHS)))
    own = [PROVIDER_PATHS[provider]] + (["/w/acme/hooks/stripe"] if provider == "stripe" else [])
    path = draw(st.sampled_from(own) | st.sampled_from(own) | PATHS)
    payload: Any = documented_delivery(provider, draw(st.sampled_from(["ann@example.com", "bo@example.com", ""])))
    kind = draw(st.sampled_from(["signed"] * 5 + ["hostile-json", "too-deep", "bytes", "json", "unsigned"]))
    when = int(time.time()) + draw(st.sampled_from([0] * 6 + [-10_000, 10_000]))
    headers: dict[str, str] = {}
    if kind == "signed":
        body, headers = signed(hook_schemes, provider, payload, when)
    elif kind in ("hostile-json", "too-deep"):
        value = draw(JSON if kind == "hostile-json" else too_deep())
        if provider == "mailgun":  # its signature is inside the body, around the event
            payload = {"event-data": value if kind == "too-deep" else {**payload["event-data"], "event": value}}
        else:
            payload = value if kind == "too-deep" else (
                {**payload, "data": value} if isinstance(payload, dict) else [value])
        body, headers = signed(hook_schemes, provider, payload, when)
    elif kind == "bytes":
        body = draw(st.binary(max_size=64))
        headers = {"Stripe-Signature": draw(header_text)}
    elif kind == "json":
        body = json.dumps(draw(JSON)).encode()
    else:
        body = json.dumps(payload).encode()
        headers = {"Stripe-Signature": f"t={when},v1={'0' * 64}"}
    if draw(st.booleans()):
        headers["X-Request-ID"] = draw(st.sampled_from(["req-1", "a" * 128, "a" * 129, "bad id", ""]) | header_text)
    if draw(st.integers(0, 9)) == 0:
        headers["Cookie"] = "session=x"
    if draw(st.integers(0, 4)) == 0:
        headers["Content-Type"] = draw(st.sampled_from(["text/plain", "application/x-www-form-urlencoded"])
                                       | header_text)
    for name in draw(st.sampled_from([[]] * 6 + [sorted(headers)[:1], sorted(headers)[-1:]])):
        headers[name] = draw(header_text)  # a signed delivery with one header spoiled
    environ: dict[str, Any] = {}
    if draw(st.integers(0, 5)) == 0:
        environ["CONTENT_LENGTH"] = draw(st.sampled_from(["", "abc", "-1", "0", str(len(body) - 1),
                                                          str(len(body) + 5), str(6 * 1024 * 1024)]))
    if draw(st.booleans()):
        environ["wsgi.input_terminated"] = True  # as gunicorn says
    method = draw(st.sampled_from(["POST"] * 16 + ["GET", "PUT", "OPTIONS", "HEAD"]))
    return {"request": {"path": path, "method": method, "data": body, "headers": headers}, "environ": environ}


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(data=st.data())
def test_the_door_answers_and_stores_as_flask_does(world, hook_schemes, data):
    build = data.draw(requests(hook_schemes))
    (door, door_redis, served), (flask, flask_redis) = both(world, build)
    same_answers(door, flask)
    assert door_redis == flask_redis
    request = build["request"]
    found = fast.route(request["path"])  # the door takes a delivery to a workspace that exists (any other: Flask's
    takes = (request["method"] == "POST" and "Cookie" not in request["headers"]  # 404 — "/w/nope/", a drawn "/w/0/")
             and found is not None and found[0] in ("default", WORKSPACE))
    assert served == takes, (request["path"], door[0])
    event(f"{door[0]}, {'the door' if served else 'Flask'}")


@pytest.mark.parametrize("path", ["/hooks/stripe", f"/w/{WORKSPACE}/hooks/stripe"])
def test_a_signed_webhook_is_stored_by_the_door_alone(world, hook_schemes, path):
    body, headers = signed(hook_schemes, "stripe", stripe_event("payment_intent.succeeded",
                                                                stripe_payment_intent("ann@example.com")),
                           int(time.time()))
    build = {"request": {"path": path, "method": "POST", "data": body,
                         "headers": {**headers, "X-Request-ID": "r-1"}}, "environ": {}}
    (door, door_redis, served), (flask, flask_redis) = both(world, build)
    assert served and door == flask and door_redis == flask_redis
    assert door[0] == "202 ACCEPTED" and door[2] == b'{"accepted":1,"duplicates":0,"skipped":0}\n'
    assert door[1] == [("Content-Type", "application/json"), ("Content-Length", "42"), ("X-Request-ID", "r-1")]
    assert current_workspace() == "default"  # the workspace entered for the request was left


# --- routing ---------------------------------------------------------------------------------------------------
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=PATHS)
def test_a_path_the_door_takes_is_routed_by_flask_to_the_same_view(app, path):
    found = fast.route(path)
    assume(found is not None)
    workspace, provider, source, blueprint = found
    endpoint, args = app.url_map.bind("x").match(path, method="POST")
    assert endpoint.split(".")[0] == blueprint
    assert args.get("workspace", "default") == workspace
    assert (args.get("provider") or "standard") == provider.name and args.get("source", args.get("provider")) == source


def test_install_refuses_an_app_with_a_request_hook_it_would_skip(make_app):
    app = make_app()
    app.before_request(lambda: None)
    with pytest.raises(RuntimeError, match="replicates the request hooks"):
        fast.install(app)


# --- the body, the request id ----------------------------------------------------------------------------------
class ReadOnlyStream:
    """A server's input stream with ``read`` only (gunicorn's ``Body``), giving at most ``step`` bytes a read, and
    failing (OSError, as a reset connection) once ``fails_at`` bytes were read."""

    def __init__(self, data: bytes, step: int, fails_at: int | None):
        self.data, self.step, self.fails_at, self.pos = data, step, fails_at, 0

    def read(self, size: int = -1) -> bytes:
        if self.fails_at is not None and self.pos >= self.fails_at:
            raise OSError("connection reset")
        size = len(self.data) if size is None or size < 0 else size
        chunk = self.data[self.pos:self.pos + min(size, self.step)]
        self.pos += len(chunk)
        return chunk


def outcome(read: Callable[[], bytes]) -> tuple[str, Any]:
    """What reading a body gave: its bytes, or the class of the exception that refused it."""
    try:
        return "read", read()
    except Exception as exc:  # noqa: BLE001 — the class is what is compared
        return "refused", type(exc).__name__


def flasks_read(environ: dict, limit: int) -> bytes:
    """What the view read before the door (app/hooks/__init__.py at d747cf9): Flask's request's body."""
    request = Request(environ)
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge("too large")
    request.max_content_length = limit
    try:
        return request.get_data(cache=True)
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge("too large") from exc


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=40), length=st.none() | st.sampled_from(["", "x", "-3", "0", "5", "39", "41", "99"]),
       chunked=st.booleans(), terminated=st.booleans(), limit=st.integers(1, 45),
       stream=st.none() | st.tuples(st.integers(1, 50), st.none() | st.integers(0, 45)))
def test_the_body_is_read_as_flasks_request_reads_it(body, length, chunked, terminated, limit, stream):
    """Over werkzeug's own stream (a BytesIO) and a read-only one that reads short or fails (gunicorn's kind)."""
    def environ() -> dict:
        env = EnvironBuilder(method="POST", data=body).get_environ()
        env.pop("CONTENT_LENGTH", None)
        if stream is not None:
            env["wsgi.input"] = ReadOnlyStream(body, *stream)
        if length is not None:
            env["CONTENT_LENGTH"] = length
        if chunked:
            env["HTTP_TRANSFER_ENCODING"] = "chunked"
        if terminated:
            env["wsgi.input_terminated"] = True
        return env

    assert outcome(lambda: read_body(environ(), limit)) == outcome(lambda: flasks_read(environ(), limit))


class SourceUnreader(Unreader):
    """gunicorn's unreader over a client that sends ``data`` (then closes) ``step`` bytes at a time, the connection
    failing (OSError) once ``fails_at`` bytes were sent."""

    def __init__(self, data: bytes, step: int, fails_at: int | None):
        super().__init__()
        self.data, self.step, self.fails_at, self.pos = data, step, fails_at, 0

    def chunk(self, size_hint: int | None = None) -> bytes:
        if self.fails_at is not None and self.pos >= self.fails_at:
            raise OSError("connection reset")
        chunk = self.data[self.pos:self.pos + self.step]
        self.pos += len(chunk)
        return chunk


@settings(max_examples=300, deadline=None)
@given(sent=st.binary(max_size=40), declared=st.integers(0, 45), limit=st.integers(1, 45), step=st.integers(1, 50),
       fails_at=st.none() | st.integers(0, 45))
def test_gunicorns_body_of_a_declared_length_is_read_as_flasks_request_reads_it(sent, declared, limit, step,
                                                                               fails_at):
    """gunicorn's own ``Body`` of a declared length (``read_body`` stops once it is all read, without the read that
    would give nothing: ``_used_up``), over a client that sends less, as much or more, in steps, or fails part-way."""
    def environ() -> dict:
        env = EnvironBuilder(method="POST").get_environ()
        env.update({"CONTENT_LENGTH": str(declared), "wsgi.input_terminated": True,
                    "wsgi.input": Body(LengthReader(SourceUnreader(sent, step, fails_at), declared))})
        return env

    assert outcome(lambda: read_body(environ(), limit)) == outcome(lambda: flasks_read(environ(), limit))


def test_gunicorns_body_is_read_without_the_read_that_gives_nothing():
    """What ``_used_up`` saves, and that it fails if gunicorn's body no longer has the parts it looks at."""
    body = Body(LengthReader(SourceUnreader(b"x" * 620, 620, None), 620))
    reads = []
    read = body.read
    body.read = lambda size: reads.append(size) or read(size)  # type: ignore[method-assign]
    env = {**EnvironBuilder(method="POST").get_environ(), "CONTENT_LENGTH": "620", "wsgi.input_terminated": True,
           "wsgi.input": body}
    assert read_body(env, 65536) == b"x" * 620
    assert reads == [65536]


def test_log_lines_written_while_the_door_serves_carry_the_request_id(client, hook_schemes):
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.INFO)
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(logs.RequestIdFilter())
    logger = logging.getLogger("app.hooks.intake")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        body, headers = signed(hook_schemes, "stripe", stripe_event("customer.created", {
            "id": "cus_1", "object": "customer", "email": "ann@example.com"}), int(time.time()))
        response = client.post("/hooks/stripe", data=body, headers={**headers, "X-Request-ID": "door-7"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert response.status_code == 202 and response.get_json()["skipped"] == 1
    assert [(r.getMessage(), r.request_id) for r in records] == [("webhook event skipped", "door-7")]
    record = logging.makeLogRecord({"msg": "after"})
    logs.RequestIdFilter().filter(record)
    assert not hasattr(record, "request_id")  # the request's id ended with it
