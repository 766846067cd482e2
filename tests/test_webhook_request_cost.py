"""What the webhook path does more cheaply must do the same: sessions opened only for a request that brings the
session cookie (``app/sessions.py``), the signature header read from the request's environ, the body door's walk,
and the one-trip script sent on a pooled connection (``redis_tools.call_script``)."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from werkzeug.datastructures import EnvironHeaders

from app import json_bodies
from app.errors import SignatureError, ValidationError
from app.hooks import signing
from app.ingest import _payload
from app.scoring.interactions import Interaction
from app.scoring.records import TimelineRecord
from app.storage.redis_tools import call_script

from .dashboard_helpers import sign_in
from .hook_builders import sign_stripe, stripe_event, stripe_payment_intent

STRIPE_SECRET = "whsec_test_secret"


@pytest.fixture
def app(make_app):
    return make_app(STRIPE_SECRET=STRIPE_SECRET)


def post_stripe(client, pi: str = "pi_1", email: str = "ann@example.com", headers: dict | None = None):
    body = json.dumps(stripe_event("payment_intent.succeeded", stripe_payment_intent(email, pi=pi),
                                   event_id=f"evt_{pi}")).encode()
    return client.post("/hooks/stripe", data=body, headers={"Content-Type": "application/json",
                                                             **sign_stripe(body, STRIPE_SECRET, int(time.time())),
                                                             **(headers or {})})


# --- sessions ----------------------------------------------------------------------------------------
def test_a_webhook_without_a_cookie_gets_no_session_cookie_and_no_vary(client):
    response = post_stripe(client)
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_dashboard_session_still_signs_in_and_stays_signed_in(app):
    client = app.test_client()
    assert sign_in(client).status_code == 302
    assert client.get("/dashboard/profiles").status_code == 200  # the cookie set at sign-in is read back
    assert app.test_client().get("/dashboard/profiles").status_code == 303  # without it: to the sign-in page


def test_a_request_with_a_foreign_cookie_only_opens_an_empty_session(app):
    client = app.test_client()
    client.set_cookie("other", "1")
    response = post_stripe(client)
    assert response.status_code == 202
    assert "Set-Cookie" not in response.headers


@pytest.mark.app_settings(API_KEYS="")
def test_sessions_signed_with_the_stored_secret_still_work(app, make_app, services):
    """No SECRET_KEY and no API keys: the secret is made in Redis when a session is first opened or saved, and
    another process reads a session with it."""
    client = app.test_client()
    assert post_stripe(client).status_code == 202
    with client.session_transaction() as session:
        session["csrf"] = "token"
    assert app.secret_key == services.users.session_secret()
    other = make_app(STRIPE_SECRET=STRIPE_SECRET).test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    with other.session_transaction() as session:
        assert session["csrf"] == "token"


# --- the signature header ----------------------------------------------------------------------------
@pytest.mark.parametrize("environ, found", [
    pytest.param({"HTTP_STRIPE_SIGNATURE": " t=1,v1=ab "}, "t=1,v1=ab", id="trimmed"),
    pytest.param({"HTTP_STRIPE_SIGNATURE": "   "}, None, id="blank"),
    pytest.param({}, None, id="missing"),
])
def test_a_request_header_is_read_from_the_environ_like_any_mapping(environ, found):
    for headers in (EnvironHeaders(environ), {k[5:].replace("_", "-").title(): v for k, v in environ.items()}):
        if found is None:
            with pytest.raises(SignatureError, match="Missing the Stripe-Signature header"):
                signing.header(headers, "Stripe-Signature")
        else:
            assert signing.header(headers, "stripe-signature") == found


def test_a_webhook_with_a_blank_signature_header_is_refused(client):
    response = post_stripe(client, headers={"Stripe-Signature": " "})
    assert response.status_code == 401
    assert response.get_json()["message"] == "Missing the Stripe-Signature header."


# --- the body door's walk ----------------------------------------------------------------------------
NUMBERS = st.one_of(st.integers(min_value=-2**66, max_value=2**66), st.floats(allow_nan=True),
                    st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, float(-2**63), float(2**63)]))
JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.text(max_size=3), NUMBERS),
                    lambda inner: st.one_of(st.lists(inner, max_size=3),
                                            st.dictionaries(st.text(max_size=2), inner, max_size=3)),
                    max_leaves=30)


def nested(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def verdict(check, value):
    try:
        return "ok", check(value)
    except ValidationError as exc:
        return "refused", exc.message, exc.errors


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_first_walk_judges_every_value_as_the_naming_walk_does(value):
    assert verdict(json_bodies.check, value) == verdict(json_bodies._check_naming, value)


@pytest.mark.parametrize("value", [
    pytest.param(nested(json_bodies.MAX_DEPTH), id="deepest-allowed"),
    pytest.param(nested(json_bodies.MAX_DEPTH + 1), id="too-deep"),
    pytest.param({"a": [1, {"b": 2**64}]}, id="too-big-inside"),
    pytest.param([float(-2**63)], id="recheck"),
    pytest.param(2**64, id="too-big-root"),
    pytest.param(type("Sub", (int,), {})(2**64), id="int-subclass"),
    pytest.param(type("D", (dict,), {})(a=2**64), id="dict-subclass"),
])
def test_the_first_walk_judges_edges_and_subclasses_as_the_naming_walk_does(value):
    assert verdict(json_bodies.check, value) == verdict(json_bodies._check_naming, value)


# --- the script on a pooled connection ---------------------------------------------------------------
@pytest.fixture
def echo(services):
    return services.redis.register_script("return {KEYS[1], ARGV[1], #KEYS, #ARGV}")


def test_a_script_call_answers_as_the_client_does(services, echo):
    assert call_script(services.redis, echo, ["k"], ["a", 2]) == echo(keys=["k"], args=["a", 2])


def test_a_script_the_server_forgot_is_loaded_again(services, echo):
    services.redis.script_flush()
    assert call_script(services.redis, echo, ["k"], ["a"]) == ["k", "a", 1, 1]


def kill_this_databases_clients(redis) -> int:
    """Close every connection to this test's database, the caller's too, and no other: a suite running beside this
    one on its own database of the same server keeps its connections (killing every client broke theirs)."""
    db = str(redis.connection_pool.connection_kwargs.get("db", 0))
    ids = [client["id"] for client in redis.client_list() if client.get("db") == db]
    for id_ in ids:
        redis.client_kill_filter(_id=id_, skipme=False)
    return len(ids)


def test_a_connection_the_server_closed_is_opened_again(services, echo):
    assert call_script(services.redis, echo, ["k"], ["a"]) == ["k", "a", 1, 1]
    assert kill_this_databases_clients(services.redis) >= 2  # the kept connection and the one asking
    assert call_script(services.redis, echo, ["k"], ["b"]) == ["k", "b", 1, 1]


def test_the_connection_is_kept_between_calls_and_shared_by_threads_one_at_a_time(services, echo):
    """A connection goes back to the kept ones after its reply was read: one thread's calls reuse one, and threads
    calling at once each get one of their own (every reply is its own call's)."""
    import threading

    from app.storage import redis_tools

    call_script(services.redis, echo, ["k"], ["warm"])
    kept = redis_tools._kept(services.redis.connection_pool)
    assert kept is not None and len(kept) == 1
    first = kept[0]
    for n in range(5):
        assert call_script(services.redis, echo, ["k"], [f"a{n}"]) == ["k", f"a{n}", 1, 1]
    assert kept == [first]
    wrong: list = []
    start = threading.Barrier(6)

    def calls(t: int) -> None:
        start.wait()
        for n in range(60):
            reply = call_script(services.redis, echo, [f"k{t}"], [f"{t}-{n}"])
            if reply != [f"k{t}", f"{t}-{n}", 1, 1]:
                wrong.append(reply)

    threads = [threading.Thread(target=calls, args=(t,)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong
    assert 1 <= len(kept) <= 6 and len(set(map(id, kept))) == len(kept)


def test_an_error_reply_leaves_the_connection_ready_and_an_interrupted_call_does_not_keep_it(services, echo,
                                                                                            monkeypatch):
    import redis as redis_py

    from app.storage import redis_tools

    failing = services.redis.register_script("return redis.error_reply('NOPE no')")
    call_script(services.redis, echo, ["k"], ["warm"])
    with pytest.raises(redis_py.ResponseError, match="no"):
        call_script(services.redis, failing, ["k"], [])
    assert call_script(services.redis, echo, ["k"], ["after"]) == ["k", "after", 1, 1]
    kept = redis_tools._kept(services.redis.connection_pool)
    connection = kept[-1]

    def interrupted(*_a, **_k):  # as a worker's timeout would, between the command sent and its reply read
        raise KeyboardInterrupt

    monkeypatch.setattr(connection, "read_response", interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_script(services.redis, echo, ["k"], ["lost"])
    assert connection not in kept  # its reply still waits on it: never handed to the next call
    monkeypatch.undo()
    assert call_script(services.redis, echo, ["k"], ["next"]) == ["k", "next", 1, 1]


def test_a_kept_connection_the_pool_disconnected_connects_again(services, echo):
    call_script(services.redis, echo, ["k"], ["warm"])
    services.redis.connection_pool.disconnect()  # every connection, the kept one included
    assert call_script(services.redis, echo, ["k"], ["again"]) == ["k", "again", 1, 1]


def test_a_resp3_pool_keeps_no_connection(echo):
    import redis as redis_py

    from app.storage import redis_tools
    from .conftest import TEST_REDIS_URL

    client = redis_py.Redis.from_url(TEST_REDIS_URL, decode_responses=True, protocol=3)
    try:
        script = client.register_script(echo.script)
        assert call_script(client, script, ["k"], ["a"]) == ["k", "a", 1, 1]
        assert redis_tools._kept(client.connection_pool) is None
    finally:
        client.close()


def test_a_forked_process_keeps_none_of_its_parents_connections(services, echo, monkeypatch):
    from app.storage import redis_tools

    call_script(services.redis, echo, ["k"], ["warm"])
    parents = redis_tools._kept(services.redis.connection_pool)
    assert parents
    monkeypatch.setattr(redis_tools.os, "getpid", lambda: -1)
    assert redis_tools._kept(services.redis.connection_pool) == []


def test_a_webhook_still_takes_one_round_trip_after_the_script_was_flushed(client, services):
    assert post_stripe(client, "pi_a").status_code == 202
    services.redis.script_flush()
    response = post_stripe(client, "pi_b")
    assert response.status_code == 202
    assert response.get_json() == {"accepted": 1, "duplicates": 0, "skipped": 0}


def test_the_202_is_written_as_flasks_json_provider_writes_it(app, client):
    response = post_stripe(client)
    assert response.status_code == 202
    assert response.mimetype == "application/json"
    with app.app_context():
        expected = app.json.response({"skipped": 0, "accepted": 1, "duplicates": 0}).get_data()
    assert response.get_data() == expected == b'{"accepted":1,"duplicates":0,"skipped":0}\n'


# --- the counter fields, remembered per process ------------------------------------------------------------
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kinds=st.lists(st.tuples(st.sampled_from(["stripe", "crm", "api", "bad source!", "x" * 101]),
                                st.sampled_from(["payment.succeeded", "email.opened", "custom.a", "custom.b",
                                                 "no.such.type", "custom.!"])), min_size=1, max_size=4))
def test_the_remembered_counter_fields_are_the_metrics_fields(services, kinds):
    from app import ingest, metrics
    from app.scoring.interactions import Interaction

    interactions = [Interaction(id="i", source=source, type=type_, occurred_at=0, properties={}, email="a@b.co")
                    for source, type_ in kinds]
    for _ in range(2):  # computed, then (where it may be) remembered
        assert ingest._counter_fields(services, interactions) == metrics.interaction_fields(services, kinds)
    assert not any(type_.startswith("custom.") for _source, type_ in ingest._FIELDS)


def test_webhooks_served_by_short_lived_threads_leave_no_connection_open(client, services):
    """A threaded server (werkzeug's, say) serves each request in a thread of its own that then ends: whatever
    connection a webhook used goes back to the client's pool, so the Redis server's clients do not grow with the
    requests (a connection kept per thread was never given back, and 503s followed once Redis refused clients)."""
    import threading

    def connected() -> int:
        return int(services.redis.info("clients")["connected_clients"])

    assert post_stripe(client, pi="pi_warm").status_code == 202
    before = connected()
    statuses: list[int] = []
    for n in range(40):
        thread = threading.Thread(target=lambda n=n: statuses.append(post_stripe(client, pi=f"pi_t{n}").status_code))
        thread.start()
        thread.join()
    assert statuses == [202] * 40
    assert connected() <= before + 2


# --- a webhook's stream entry, made without its timeline record -------------------------------------------------
@settings(max_examples=200, deadline=None)
@given(id_=st.text(min_size=1, max_size=8), source=st.text(min_size=1, max_size=8),
       type_=st.sampled_from(["payment.succeeded", "email.opened", "custom.x"]), at=st.integers(0, 2**50),
       properties=st.dictionaries(st.text(max_size=4), st.integers() | st.text(max_size=4), max_size=4),
       attributes=st.none() | st.dictionaries(st.text(min_size=1, max_size=4), st.text(max_size=4), max_size=2),
       email=st.none() | st.emails())
def test_a_stream_entry_is_its_interactions_timeline_record(id_, source, type_, at, properties, attributes, email):
    """``ingest._payload`` writes ``record_json`` of the interaction's fields: what its ``TimelineRecord``'s
    ``to_json`` writes, which the drain reads back (``from_json``) as the same record."""
    interaction = Interaction(id_, source, type_, at, properties, email, None, attributes)
    payload = _payload(interaction, "c0123")
    expected = {"c": "c0123", "r": interaction.to_record().to_json()}
    if interaction.attribute_record() is not None:
        expected["a"] = interaction.attribute_record().to_json()
    assert payload == expected
    assert TimelineRecord.from_json(payload["r"]) == interaction.to_record()
