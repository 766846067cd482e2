"""Hostile input, class by class, on every route it applies to: a 4xx with the documented error body
(``errors`` an object) and nothing stored — no contact, no stream entry, no profile, list or workflow
change. The Redis database is compared whole before and after each request (only the metrics
counters may move).

The /v1 routes that take a body are read from the app's URL map, so a new route must say here what
a valid body looks like before this suite passes: no route escapes the classes.
"""
from __future__ import annotations

import copy
import re
import time
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .helpers import AUTH, publish_profile, send
from .hook_builders import documented_delivery, schemes, url
from .hostile import (
    bad_header_names,
    bad_header_values,
    huge_integers,
    non_json_literals,
    not_json,
    not_whole,
    out_of_range_timestamps,
    planted,
    planted_anywhere,
    scalars,
    too_deep,
    too_long_durations,
    with_forbidden_char,
)

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
EXAMPLES = settings(max_examples=12, deadline=None, database=None, suppress_health_check=list(HealthCheck))
MORE = settings(max_examples=40, deadline=None, database=None, suppress_health_check=list(HealthCheck))


def interaction(**changes: Any) -> dict[str, Any]:
    return {"id": "evt-1", "type": "email.opened", "contact": {"email": "ann@example.com"},
            "occurred_at": "2026-01-31T09:30:00Z", "properties": {"campaign": "spring", "n": 3}, **changes}


def rule(**changes: Any) -> dict[str, Any]:
    return {"id": "open", "on": "email.opened", "points": 5, "where": {"campaign": "spring"},
            "limit": {"count": 3, "window": "1d"}, "expires_after": "30d", **changes}


def workflow(**changes: Any) -> dict[str, Any]:
    return {"id": "w", "name": "Hot", "enabled": True,
            "trigger": {"type": "score_changed", "profile": "eng", "operator": "gte", "value": 50},
            "steps": [{"type": "add_tag", "tag": "hot"}, {"type": "wait", "duration": "1h"},
                      {"type": "adjust_score", "profile": "eng", "add": 1},
                      {"type": "webhook", "url": "https://crm.example.com/hook", "secret": SECRET,
                       "headers": {"X-Team": "sales"}}],
            **changes}


#: A valid body for each /v1 route that reads one (method, rule as in the URL map).
VALID_BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/v1/interactions"): {"interactions": [interaction(), interaction(id="evt-2")]},
    ("PATCH", "/v1/contacts/<contact_id>"): {"tags": {"add": ["vip"], "remove": []}, "dnd": {"email": False},
                                             "attributes": {"job_title": "VP", "seats": 3, "plan": None}},
    ("POST", "/v1/contacts/<contact_id>/scores/<profile_id>"): {"add": 5, "reason": "call"},
    ("PUT", "/v1/profiles/<profile_id>"): {"name": "Eng", "rules": [rule()], "bands": [{"name": "hot", "min": 50}]},
    ("POST", "/v1/profiles/<profile_id>/publish"): {"fire_triggers": False},
    ("POST", "/v1/profiles/<profile_id>/rollback"): {"version": 1},
    ("POST", "/v1/profiles/<profile_id>/unpublish"): {},
    ("POST", "/v1/profiles/<profile_id>/preview"): {},
    ("POST", "/v1/profiles/<profile_id>/evaluations"): {"from": "2026-01-01T00:00:00Z", "days": 30, "of": ["live"]},
    ("POST", "/v1/smart-lists"): {"name": "Hot", "filter": {"conditions": [
        {"field": "score", "profile": "eng", "op": "gte", "value": 10}, {"field": "tag", "tag": "vip"}]}},
    ("PUT", "/v1/smart-lists/<list_id>"): {"name": "Hot", "profile": "eng", "op": "gte", "value": 10},
    ("POST", "/v1/contacts/search"): {"filter": {"conditions": [{"field": "tag", "tag": "vip"}]}, "limit": 10},
    ("PUT", "/v1/workflows/<workflow_id>"): workflow(),
    ("POST", "/v1/deliveries/<delivery_id>/redeliver"): {},
    ("POST", "/v1/keys"): {"name": "ci", "scopes": ["read"]},
    ("PUT", "/v1/providers/<provider>"): {"secret": "whsec_hostile_input_test"},
    ("PUT", "/v1/grades/<grade_id>"): {"name": "Lead", "fit_profile": "fit", "engagement_profile": "eng"},
    ("POST", "/v1/workspaces"): {"id": "acme", "name": "Acme Inc."},
}
PROVIDERS = [s.provider for s in schemes()]


@pytest.fixture
def world(make_app):
    """An app with every provider configured and something in every store: a published profile, a
    scored contact, a smart list, a workflow. ``unchanged()`` compares the whole database."""
    by_provider = {s.provider: s for s in schemes()}
    app = make_app(**{s.setting: s.config_value for s in by_provider.values()})
    client = app.test_client()
    services = app.extensions["scorekeeper"]
    with app.app_context():
        publish_profile(client, services, "eng", [rule()], [{"name": "hot", "min": 50}])
        send(client, interaction())
        from .helpers import settle

        settle(services)
    contact_id = client.get("/v1/contacts", query_string={"email": "ann@example.com"},
                            headers=AUTH).get_json()["items"][0]["id"]
    list_id = client.post("/v1/smart-lists", json={"name": "L", "tag": "x"}, headers=AUTH).get_json()["id"]
    assert client.put("/v1/workflows/w", json=workflow(), headers=AUTH).status_code == 201
    ids = {"contact_id": contact_id, "profile_id": "eng", "list_id": list_id, "workflow_id": "w",
           "delivery_id": "msg_none", "grade_id": "lead", "provider": "stripe"}
    return World(app, client, services, by_provider, ids)


class World:
    def __init__(self, app, client, services, schemes_by_provider, ids):
        self.app, self.client, self.services, self.schemes, self.ids = app, client, services, schemes_by_provider, ids

    def snapshot(self) -> dict:
        redis = self.services.redis
        stats = {self.services.keys.stats(), self.services.keys.stats().encode()}
        return {key: redis.dump(key) for key in redis.keys("*") if key not in stats}

    def post_v1(self, method: str, rule: str, body: bytes, content_type: str | None = "application/json"):
        path = rule
        for name, value in self.ids.items():
            path = path.replace(f"<{name}>", value)
        headers = dict(AUTH)
        if content_type:
            headers["Content-Type"] = content_type
        return self.client.open(path, method=method, data=body, headers=headers)

    def post_hook(self, provider: str, payload: Any = None, raw: bytes | None = None):
        scheme = self.schemes[provider]
        body, headers = scheme.sign(payload, scheme.secret, int(time.time()))
        if raw is not None:  # sign the raw bytes as they are (the header schemes sign the body)
            body, headers = raw, _resign(scheme, raw)
        return self.client.post(url(provider), data=body, headers={"Content-Type": "application/json", **headers})


def _is_text(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _resign(scheme, raw: bytes) -> dict[str, str]:
    """Headers signing ``raw`` exactly (each header scheme signs the body bytes it is given)."""
    import tests.hook_builders as hb

    signers = {"sendgrid": hb.sign_sendgrid, "calendly": hb.sign_calendly, "calcom": hb.sign_calcom,
               "typeform": hb.sign_typeform, "tally": hb.sign_tally, "stripe": hb.sign_stripe,
               "standard": hb.sign_standard}
    if scheme.provider == "postmark":
        return hb.postmark_headers(scheme.secret)
    return signers[scheme.provider](raw, scheme.secret, int(time.time()))


def body_routes(app) -> list[tuple[str, str]]:
    routes = []
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1/"):
            plain = re.sub(r"<\w+:", "<", rule.rule)  # "<slug:profile_id>" -> "<profile_id>"
            routes += [(m, plain) for m in sorted(rule.methods & {"POST", "PUT", "PATCH"})]
    return sorted(routes)


def assert_refused(response, before, world, status=400):
    body = response.get_json()
    assert response.status_code == status, (response.status_code, body)
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status, body
    assert isinstance(body["errors"], dict), body
    assert world.snapshot() == before, "a refused request changed the store"
    return body


# --- the route table is complete ------------------------------------------------------------------
def test_every_v1_route_with_a_body_is_covered(app):
    assert set(body_routes(app)) == set(VALID_BODIES)


V1_ROUTES = [pytest.param(m, r, id=f"{m} {r}") for m, r in sorted(VALID_BODIES)]
#: Routes whose body is empty by design (``{}`` documents that): what they are sent is not read.
NO_BODY_READ = {rule for (_m, rule), body in VALID_BODIES.items() if body == {}}
HOOKS = [pytest.param(p, id=p) for p in sorted({s.provider for s in schemes()})]


def _hook_document(provider: str) -> Any:
    doc = documented_delivery(provider)
    return doc["event-data"] if provider == "mailgun" else doc


def _hook_payload(provider: str, document: Any) -> Any:
    return {"event-data": document} if provider == "mailgun" else document


# --- nesting depth ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method,rule", V1_ROUTES)
def test_v1_bodies_nested_too_deep_are_refused_at_the_door(world, method, rule):
    @given(body=planted_anywhere(VALID_BODIES[(method, rule)], too_deep()) | too_deep())
    @EXAMPLES
    def check(body):
        before = world.snapshot()
        refused = assert_refused(world.post_v1(method, rule, _dumps(body)), before, world)
        assert "_body" in refused["errors"] and "nested deeper" in refused["message"]

    check()


@pytest.mark.parametrize("provider", HOOKS)
def test_webhook_bodies_nested_too_deep_are_refused_before_anything_is_stored(world, provider):
    @given(document=planted_anywhere(_hook_document(provider), too_deep()))
    @EXAMPLES
    def check(document):
        before = world.snapshot()
        refused = assert_refused(world.post_hook(provider, _hook_payload(provider, document)), before, world)
        assert "nested deeper" in refused["message"]

    check()


def test_a_batch_with_one_deep_item_creates_no_contact(world):
    @given(deep=too_deep(), position=st.integers(0, 4))
    @EXAMPLES
    def check(deep, position):
        items = [interaction(id=f"n{i}", contact={"email": f"new{i}@example.com"}) for i in range(5)]
        items[position]["properties"] = {"x": deep}
        before = world.snapshot()
        assert_refused(world.post_v1("POST", "/v1/interactions", _dumps({"interactions": items})), before, world)

    check()


# --- numbers ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("method,rule", V1_ROUTES)
def test_v1_integers_beyond_64_bits_are_refused_anywhere_in_a_body(world, method, rule):
    @given(body=planted_anywhere(VALID_BODIES[(method, rule)], huge_integers))
    @EXAMPLES
    def check(body):
        before = world.snapshot()
        refused = assert_refused(world.post_v1(method, rule, _dumps(body)), before, world)
        assert "64 bits" in refused["message"]

    check()


def _dumps(value: Any) -> bytes:
    """JSON text with integers of any size written as integer literals (orjson refuses them)."""
    import json

    return json.dumps(value).encode()


@pytest.mark.parametrize("provider", HOOKS)
def test_webhook_integers_beyond_64_bits_are_refused(world, provider):
    @given(document=planted_anywhere(_hook_document(provider), huge_integers))
    @EXAMPLES
    def check(document):
        before = world.snapshot()
        raw = _dumps(_hook_payload(provider, document))
        response = world.post_hook(provider, raw=raw) if provider != "mailgun" else world.post_hook(
            provider, _hook_payload(provider, document))
        assert_refused(response, before, world)

    check()


@pytest.mark.parametrize("method,rule", V1_ROUTES)
def test_v1_nan_and_infinity_literals_are_refused(world, method, rule):
    @given(literal=non_json_literals, data=st.data())
    @EXAMPLES
    def check(literal, data):
        marker = "__hostile__"
        body = data.draw(planted_anywhere(VALID_BODIES[(method, rule)], st.just(marker)))
        raw = _dumps(body).replace(f'"{marker}"'.encode(), literal.encode())
        before = world.snapshot()
        assert_refused(world.post_v1(method, rule, raw), before, world)

    check()


@pytest.mark.parametrize("path", [
    pytest.param(("rules", 0, "points"), id="rule-points"),
    pytest.param(("rules", 0, "limit", "count"), id="limit-count"),
    pytest.param(("bands", 0, "min"), id="band-min"),
])
def test_profile_numbers_must_be_whole(world, path):
    @given(number=not_whole)
    @MORE
    def check(number):
        before = world.snapshot()
        body = planted(VALID_BODIES[("PUT", "/v1/profiles/<profile_id>")], path, number)
        refused = assert_refused(world.post_v1("PUT", "/v1/profiles/<profile_id>", _dumps(body)), before, world)
        assert path[0] in refused["errors"]

    check()


@pytest.mark.parametrize("field", ["add", "set"])
def test_manual_score_changes_must_be_whole(world, field):
    @given(number=not_whole)
    @MORE
    def check(number):
        before = world.snapshot()
        body = {field: number, "reason": "call"}
        refused = assert_refused(world.post_v1("POST", "/v1/contacts/<contact_id>/scores/<profile_id>",
                                               _dumps(body)), before, world)
        assert field in refused["errors"]

    check()


@pytest.mark.parametrize("path", [
    pytest.param(("steps", 2, "add"), id="adjust-add"),
    pytest.param(("trigger", "value"), id="trigger-value"),
])
def test_workflow_numbers_must_be_whole(world, path):
    @given(number=not_whole)
    @MORE
    def check(number):
        before = world.snapshot()
        body = planted(workflow(), path, number)
        assert_refused(world.post_v1("PUT", "/v1/workflows/<workflow_id>", _dumps(body)), before, world)

    check()


# --- timestamps --------------------------------------------------------------------------------------
def test_api_timestamps_outside_the_supported_range_are_refused(world):
    @given(moment=out_of_range_timestamps(), batched=st.booleans())
    @MORE
    def check(moment, batched):
        item = interaction(id="t", contact={"email": "new@example.com"}, occurred_at=moment)
        body = {"interactions": [interaction(id="ok", contact={"email": "ok@example.com"}), item]} if batched else item
        before = world.snapshot()
        refused = assert_refused(world.post_v1("POST", "/v1/interactions", _dumps(body)), before, world)
        errors = refused["errors"]["interactions"]["1"] if batched else refused["errors"]
        assert "occurred_at" in errors

    check()


def test_standard_webhook_timestamps_outside_the_range_are_refused(world):
    @given(moment=out_of_range_timestamps())
    @MORE
    def check(moment):
        before = world.snapshot()
        doc = interaction(id="t", contact={"email": "new@example.com"}, occurred_at=moment)
        assert_refused(world.post_hook("standard", doc), before, world)

    check()


def test_stripe_creation_times_outside_the_range_are_refused(world):
    @given(seconds=st.integers(max_value=-1) | st.integers(min_value=250_246_627_200))
    @MORE
    def check(seconds):
        before = world.snapshot()
        doc = {**documented_delivery("stripe"), "created": seconds}
        assert_refused(world.post_hook("stripe", doc), before, world)

    check()


# --- control characters ------------------------------------------------------------------------------
IDENTITY_FIELDS = [
    pytest.param(("id",), "evt-1", id="interaction-id"),
    pytest.param(("contact", "email"), "new@example.com", id="email"),
    pytest.param(("contact", "external_id"), "crm-42", id="external-id"),
]


@pytest.mark.parametrize("path,base", IDENTITY_FIELDS)
def test_control_characters_in_identities_and_ids_are_refused(world, path, base):
    @given(value=with_forbidden_char(base), standard=st.booleans())
    @MORE
    def check(value, standard):
        doc = planted(interaction(contact={"email": "new@example.com", "external_id": "crm-1"}), path, value)
        before = world.snapshot()
        response = world.post_hook("standard", doc) if standard else world.post_v1(
            "POST", "/v1/interactions", _dumps(doc))
        refused = assert_refused(response, before, world)
        assert path[0] in str(refused["errors"])

    check()


@pytest.mark.parametrize("path", [
    pytest.param(("tags", "add", 0), id="contact-tag"),
])
def test_control_characters_in_tags_are_refused(world, path):
    @given(value=with_forbidden_char("vip"))
    @MORE
    def check(value):
        body = planted(VALID_BODIES[("PATCH", "/v1/contacts/<contact_id>")], path, value)
        before = world.snapshot()
        assert_refused(world.post_v1("PATCH", "/v1/contacts/<contact_id>", _dumps(body)), before, world)

    check()


@pytest.mark.parametrize("path", [
    pytest.param(("steps", 0, "tag"), id="step-tag"),
    pytest.param(("trigger", "filters"), id="filter-tag"),
    pytest.param(("id",), id="workflow-id"),
])
def test_control_characters_in_workflow_tags_and_ids_are_refused(world, path):
    @given(value=with_forbidden_char("hot"))
    @MORE
    def check(value):
        target = {"tags_none": [value]} if path[-1] == "filters" else value
        body = planted(workflow(), path, target)
        before = world.snapshot()
        assert_refused(world.post_v1("PUT", "/v1/workflows/<workflow_id>", _dumps(body)), before, world)

    check()


@pytest.mark.parametrize("provider", ["stripe", "calendly", "typeform"])
def test_provider_emails_with_control_characters_create_no_contact(world, provider):
    @given(value=with_forbidden_char("new@example.com", inside=True))
    @MORE
    def check(value):
        before = world.snapshot()
        response = world.post_hook(provider, documented_delivery(provider, email=value))
        assert response.status_code in (202, 400), response.get_json()
        if response.status_code == 202:
            assert response.get_json()["accepted"] == 0
        assert world.snapshot() == before, "the event with an unusable email stored something"

    check()


# --- durations ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route,path", [
    pytest.param(("PUT", "/v1/profiles/<profile_id>"), ("rules", 0, "expires_after"), id="expires-after"),
    pytest.param(("PUT", "/v1/profiles/<profile_id>"), ("rules", 0, "limit", "window"), id="limit-window"),
    pytest.param(("PUT", "/v1/workflows/<workflow_id>"), ("steps", 1, "duration"), id="wait"),
])
def test_durations_beyond_ten_years_are_refused(world, route, path):
    @given(duration=too_long_durations)
    @MORE
    def check(duration):
        body = planted(VALID_BODIES[route], path, duration)
        before = world.snapshot()
        assert_refused(world.post_v1(*route, _dumps(body)), before, world)

    check()


#: Decay periods outside 1d..3650d: past ten years in every unit, or shorter than a day.
decay_periods_out_of_range = too_long_durations | st.sampled_from([("s", 86_399), ("m", 1_439), ("h", 23)]).flatmap(
    lambda unit: st.integers(1, unit[1]).map(lambda n: f"{n}{unit[0]}"))


@pytest.mark.parametrize("where", ["rule", "group"])
def test_decay_periods_outside_a_day_to_ten_years_are_refused(world, where):
    route = ("PUT", "/v1/profiles/<profile_id>")

    @given(every=decay_periods_out_of_range)
    @MORE
    def check(every):
        body = copy.deepcopy(VALID_BODIES[route])
        decay = {"percent": 50, "every": every}
        rule = {k: v for k, v in body["rules"][0].items() if k != "expires_after"}
        if where == "rule":
            body["rules"] = [{**rule, "decay": decay}]
        else:
            body["rules"], body["groups"] = [{**rule, "group": "g"}], [{"id": "g", "max_points": 10, "decay": decay}]
        before = world.snapshot()
        refused = assert_refused(world.post_v1(*route, _dumps(body)), before, world)
        assert "between 1d and 3650d" in str(refused["errors"])

    check()


# --- header injection -----------------------------------------------------------------------------------
def test_webhook_header_names_http_forbids_are_refused_when_saved(world):
    @given(name=bad_header_names)
    @MORE
    def check(name):
        body = planted(workflow(), ("steps", 3, "headers"), {name: "x"})
        before = world.snapshot()
        refused = assert_refused(world.post_v1("PUT", "/v1/workflows/<workflow_id>", _dumps(body)), before, world)
        assert "steps" in refused["errors"]

    check()


def test_webhook_header_values_with_cr_lf_or_controls_are_refused_when_saved(world):
    @given(value=bad_header_values())
    @MORE
    def check(value):
        body = planted(workflow(), ("steps", 3, "headers"), {"X-Team": value})
        before = world.snapshot()
        refused = assert_refused(world.post_v1("PUT", "/v1/workflows/<workflow_id>", _dumps(body)), before, world)
        assert "steps" in refused["errors"]

    check()


# --- error shape: not JSON, wrong Content-Type -------------------------------------------------------------
@pytest.mark.parametrize("method,rule", V1_ROUTES)
def test_v1_bodies_that_are_not_json_are_a_400_with_errors_an_object(world, method, rule):
    @given(raw=not_json)
    @EXAMPLES
    def check(raw):
        before = world.snapshot()
        refused = assert_refused(world.post_v1(method, rule, raw), before, world)
        assert refused["message"] == "The body is not valid JSON."

    check()


#: JSON that is not an object: a body of the wrong shape altogether.
not_an_object = st.one_of(st.lists(scalars, max_size=3), scalars.filter(lambda v: v is not None), st.none())


@pytest.mark.parametrize("method,rule", [r for r in V1_ROUTES if r.values[1] not in NO_BODY_READ])
def test_v1_bodies_that_are_json_but_not_an_object_are_a_400_with_errors_an_object(world, method, rule):
    @given(value=not_an_object)
    @EXAMPLES
    def check(value):
        before = world.snapshot()
        assert_refused(world.post_v1(method, rule, orjson.dumps(value)), before, world)

    check()


@pytest.mark.parametrize("provider", [p for p in HOOKS if p.values[0] != "mailgun"])
def test_webhook_bodies_that_are_not_json_are_a_400_with_errors_an_object(world, provider):
    # Standard Webhooks sign text: a body that is not UTF-8 cannot be signed (it is a 401, tested there).
    bodies = not_json.filter(_is_text) if provider == "standard" else not_json

    @given(raw=bodies)
    @EXAMPLES
    def check(raw):
        before = world.snapshot()
        assert_refused(world.post_hook(provider, raw=raw), before, world)

    check()


@pytest.mark.parametrize("method,rule", V1_ROUTES)
def test_v1_bodies_in_another_format_are_a_415_that_says_so(world, method, rule):
    @given(content_type=st.sampled_from([None, "text/plain", "application/x-www-form-urlencoded",
                                         "multipart/form-data; boundary=x", "application/xml", "text/json"]))
    @EXAMPLES
    def check(content_type):
        before = world.snapshot()
        raw = _dumps(VALID_BODIES[(method, rule)])
        refused = assert_refused(world.post_v1(method, rule, raw, content_type=content_type), before, world, 415)
        assert "Content-Type" in refused["errors"] and "application/json" in refused["message"]

    check()


# --- 405 -------------------------------------------------------------------------------------------------------
def test_every_405_says_which_methods_are_allowed(app):
    client = app.test_client()
    methods_of: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(("/v1/", "/hooks/")):
            methods_of.setdefault(rule.rule, set()).update(rule.methods)
    assert methods_of
    for rule, allowed in methods_of.items():
        path = re.sub(r"<contact:[^>]+>", "c" + "0" * 20, rule)
        path = re.sub(r"<[^>]+>", "1", path)  # "1" fits every other converter (text, slug and int)
        for method in {"GET", "POST", "PUT", "PATCH", "DELETE"} - allowed:
            response = client.open(path, method=method, headers=AUTH)
            assert response.status_code == 405, (method, path, response.status_code)
            assert set(response.headers["Allow"].split(", ")) == allowed, (method, path)
            assert isinstance(response.get_json()["errors"], dict)


# --- query strings and the dashboard's JSON ------------------------------------------------------------
@given(document=st.one_of(too_deep().map(lambda deep: {"conditions": deep}),
                          huge_integers.map(lambda n: {"conditions": [{"field": "score", "profile": "eng",
                                                                       "op": "gt", "value": n}]})))
@EXAMPLES
def test_a_filter_in_the_query_string_follows_the_doors_rules(client, document):
    resp = client.get("/v1/contacts", headers=AUTH, query_string={"filter": json_text(document)})
    body = resp.get_json()
    assert resp.status_code == 400 and body["message"] == "Invalid filter." and set(body["errors"]) == {"filter"}


def json_text(value: Any) -> str:
    """JSON text of any value, integers beyond 64 bits included (orjson refuses to write them)."""
    import json

    return json.dumps(value)


@given(cursor=st.integers(min_value=10**15) | st.integers(max_value=-1))
@EXAMPLES
def test_a_dashboard_page_offset_past_any_list_is_an_empty_page(app, cursor):
    from .dashboard_helpers import sign_in

    dash = app.test_client()
    assert sign_in(dash).status_code == 302
    for page in ("/dashboard/deliveries", "/dashboard/notifications", "/dashboard/contacts"):
        assert dash.get(page, query_string={"cursor": str(cursor)}).status_code == 200, page


def test_the_dashboards_json_errors_have_the_error_body(app):
    from .dashboard_helpers import sign_in

    anonymous, dash = app.test_client(), app.test_client()
    assert sign_in(dash).status_code == 302
    for client, status in ((anonymous, 401), (dash, 404)):
        body = client.get("/dashboard/jobs/nope.json").get_json()
        assert body["code"] == status and set(body) == {"code", "status", "message", "errors"}
        assert isinstance(body["errors"], dict)


def test_control_characters_in_tags_typed_in_the_dashboard_are_refused(world):
    from .dashboard_helpers import post, sign_in

    dash = world.app.test_client()
    assert sign_in(dash).status_code == 302

    @given(tag=with_forbidden_char("big spender", inside=True))
    @EXAMPLES
    def check(tag):
        before = world.snapshot()
        resp = post(dash, f"/dashboard/contacts/{world.ids['contact_id']}/tags", {"add": f"ok, {tag}"})
        assert resp.status_code == 400 and "no control characters" in resp.get_data(as_text=True)
        assert world.snapshot() == before, "a refused tag changed the store"

    check()
