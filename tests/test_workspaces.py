"""Workspaces: made and listed by instance admins only; each holds its own contacts, profiles, workflows,
smart lists, runs, deliveries, notifications, keys and audit trail, and nothing of one is visible or
changeable from another — walked over every /v1 route with another workspace's ids.

Real Redis, the real API, real RQ jobs run in this process, a real webhook receiver."""
from __future__ import annotations

import json
import re

import pytest

from app.scoring.interactions import format_timestamp
from app.services import DEFAULT_WORKSPACE

from .helpers import AUTH, settle
from .workflow_helpers import FAST, SECRET, Reply, run_until

pytestmark = pytest.mark.app_settings(**FAST)

HEADER = "X-Scorekeeper-Workspace"


def as_admin_in(workspace: str) -> dict[str, str]:
    return {**AUTH, HEADER: workspace}


def bearer(key: dict) -> dict[str, str]:
    return {"Authorization": f"Bearer {key['key']}"}


def make_workspace(client, workspace: str, name: str = "Client") -> dict:
    response = client.post("/v1/workspaces", json={"id": workspace, "name": name}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def make_key(client, workspace: str, *scopes: str) -> dict:
    response = client.post("/v1/keys", json={"name": f"{workspace}-script", "scopes": list(scopes) or ["admin"],
                                             "workspace": workspace}, headers=AUTH)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["workspace"] == workspace
    return response.get_json()


def services_of(app, workspace: str):
    return app.extensions["scorekeeper.tenancy"].get(workspace)


def seed(client, headers: dict, services, receiver, email: str, profile: str, flow: str) -> dict[str, str]:
    """Something of every kind in one workspace, through its API; a value for each kind of id in a URL."""
    crm = receiver.on(f"/crm-{services.workspace}", Reply(200))
    assert client.put(f"/v1/profiles/{profile}", headers=headers, json={
        "name": "Engagement", "rules": [{"id": "click", "on": "email.clicked", "points": 10}],
        "bands": [{"name": "cold", "min": 0}, {"name": "hot", "min": 10}]}).status_code == 200
    job = client.post(f"/v1/profiles/{profile}/publish", headers=headers, json={}).get_json()["job"]["id"]
    settle(services)
    assert client.put(f"/v1/workflows/{flow}", headers=headers, json={
        "id": flow, "name": "Hot lead", "trigger": {"type": "score_changed", "profile": profile,
                                                     "operator": "gte", "value": 10},
        "steps": [{"type": "add_tag", "tag": "hot-lead"},
                  {"type": "notify", "channel": "inbox", "message": "{{ contact.email }} is hot"},
                  {"type": "webhook", "url": crm, "secret": SECRET}]}).status_code in (200, 201)
    list_id = client.post("/v1/smart-lists", headers=headers, json={
        "name": "Hot", "profile": profile, "op": "gte", "value": 10}).get_json()["id"]
    sent = client.post("/v1/interactions", headers=headers, json={
        "id": f"click-{services.workspace}", "type": "email.clicked", "contact": {"email": email}})
    assert sent.status_code == 202, sent.get_json()
    store = services.automation
    run_until(services, lambda: (found := store.delivery_ids(0, 1)) and
              store.get_delivery(found[0])["status"] == "succeeded")
    evaluation = client.post(f"/v1/profiles/{profile}/evaluations", headers=headers, json={
        "from": format_timestamp(services.clock.now_ms() - 3_600_000), "of": ["live"]})
    assert evaluation.status_code == 202, evaluation.get_json()
    settle(services)
    key = client.post("/v1/keys", headers=headers, json={"name": "reader", "scopes": ["read"]}).get_json()
    assert client.put(f"/v1/profiles/{profile}-fit", headers=headers, json={
        "name": "Fit", "kind": "fit", "rules": [{"id": "vp", "where": {"title": "VP"}, "points": 20}],
        "bands": [{"name": "C", "min": 0}, {"name": "A", "min": 20}]}).status_code == 200
    grade = client.put(f"/v1/grades/{profile}-grade", headers=headers, json={
        "name": "Grade", "fit_profile": f"{profile}-fit", "engagement_profile": profile})
    assert grade.status_code in (200, 201), grade.get_json()
    company = email.split("@")[1]
    assert client.get(f"/v1/companies/{company}", headers=headers).status_code == 200
    return {"company_id": company, "contact_id": services.contacts.find_contact(email=email), "profile_id": profile, "version": "1",
            "job_id": job, "evaluation_id": evaluation.get_json()["id"], "list_id": list_id,
            "workflow_id": flow, "run_id": store.workflow_runs(flow, 0, 1)[0]["id"],
            "delivery_id": store.delivery_ids(0, 1)[0], "key_id": key["id"], "email": email,
            "grade_id": f"{profile}-grade"}


@pytest.fixture
def two(app, client, receiver):
    """Workspace ``default`` and ``acme``, each seeded; acme's admin key."""
    make_workspace(client, "acme", "Acme Inc.")
    acme_key = make_key(client, "acme", "admin")
    with app.app_context():
        default = seed(client, AUTH, services_of(app, DEFAULT_WORKSPACE), receiver, "dee@default.io",
                       "engagement", "hot")
        acme = seed(client, bearer(acme_key), services_of(app, "acme"), receiver, "ann@acme.io", "acme-eng",
                    "acme-hot")
    return default, acme, acme_key


def test_only_instance_admins_make_list_and_read_workspaces(client):
    assert make_workspace(client, "acme", "Acme Inc.")["status"] == "active"
    listed = client.get("/v1/workspaces", headers=AUTH).get_json()["items"]
    assert [(w["id"], w["name"]) for w in listed] == [("default", "Default"), ("acme", "Acme Inc.")]
    assert client.get("/v1/workspaces/acme", headers=AUTH).get_json()["name"] == "Acme Inc."
    again = client.post("/v1/workspaces", json={"id": "acme", "name": "Other"}, headers=AUTH)
    assert again.status_code == 409
    assert client.post("/v1/workspaces", json={"id": "default", "name": "x"}, headers=AUTH).status_code == 409
    for bad in ("Acme", "a:b", "", "-x", "x" * 41, "a b"):
        response = client.post("/v1/workspaces", json={"id": bad, "name": "x"}, headers=AUTH)
        assert response.status_code == 400 and response.get_json()["errors"], bad
    admin_of_default = client.post("/v1/keys", json={"name": "adm", "scopes": ["admin"]}, headers=AUTH).get_json()
    for method, path in (("GET", "/v1/workspaces"), ("POST", "/v1/workspaces"), ("GET", "/v1/workspaces/acme"),
                         ("DELETE", "/v1/workspaces/acme")):
        response = client.open(path, method=method, headers=bearer(admin_of_default), json={"id": "b", "name": "B"})
        assert response.status_code == 403, (method, path)
    assert [w["id"] for w in client.get("/v1/workspaces", headers=AUTH).get_json()["items"]] == ["default", "acme"]


def test_a_key_acts_only_in_its_workspace(client):
    make_workspace(client, "acme")
    make_workspace(client, "beta")
    acme = make_key(client, "acme", "write")
    acme_admin = make_key(client, "acme", "admin")
    # its own workspace, said or not
    assert client.get("/v1/contacts", headers=bearer(acme)).status_code == 200
    assert client.get("/v1/contacts", headers={**bearer(acme), HEADER: "acme"}).status_code == 200
    # another workspace: 403 whether it exists or not (a key learns nothing of other workspaces)
    for other in ("default", "beta", "nope"):
        response = client.get("/v1/contacts", headers={**bearer(acme), HEADER: other})
        assert response.status_code == 403, other
        assert response.get_json()["errors"] == {"workspace": ["not this key's workspace"]}
    # an admin key of acme makes keys of acme only, and lists only acme's
    own = client.post("/v1/keys", json={"name": "k", "scopes": ["read"]}, headers=bearer(acme_admin))
    assert own.status_code == 201 and own.get_json()["workspace"] == "acme"
    elsewhere = client.post("/v1/keys", json={"name": "k", "scopes": ["read"], "workspace": "beta"},
                            headers=bearer(acme_admin))
    assert elsewhere.status_code == 403
    listed = client.get("/v1/keys", headers=bearer(acme_admin)).get_json()["items"]
    assert {k["workspace"] for k in listed} == {"acme"} and len(listed) == 3
    assert client.get("/v1/keys", headers=AUTH).get_json()["items"] == []  # default has none of them
    # the instance admin: any workspace by the header, an unknown one is a 404
    assert len(client.get("/v1/keys", headers=as_admin_in("acme")).get_json()["items"]) == 3
    missing = client.get("/v1/contacts", headers=as_admin_in("nope"))
    assert missing.status_code == 404 and missing.get_json()["errors"] == {"workspace": ["no such workspace"]}
    assert client.post("/v1/keys", json={"name": "k", "scopes": ["read"], "workspace": "nope"},
                       headers=AUTH).status_code == 404
    # a revoke from another workspace does not find the key
    assert client.delete(f"/v1/keys/{acme['id']}", headers=AUTH).status_code == 404
    assert client.get("/v1/contacts", headers=bearer(acme)).status_code == 200
    assert client.delete(f"/v1/keys/{acme['id']}", headers=as_admin_in("acme")).status_code == 204
    assert client.get("/v1/contacts", headers=bearer(acme)).status_code == 401


def v1_gets(app):
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/v1") and "GET" in rule.methods:
            yield rule


def build(rule, ids: dict[str, str]) -> str:
    values = {name: ids["evaluation_id"] if (name == "job_id" and "evaluations" in rule.rule) else
              ids["provider"] if name == "provider" else ids[name] for name in rule.arguments}
    return rule.build(values)[1]


def test_no_v1_route_shows_or_changes_what_another_workspace_holds(app, client, two):
    default, acme, acme_key = two
    acme_reads = bearer(acme_key)
    walked = 0
    for ids, headers, foreign in ((default, acme_reads, acme), (acme, AUTH, default)):
        # `ids` belong to one workspace; `headers` act in the other, whose own ids are `foreign`
        ids = {**ids, "provider": "stripe", "workspace": "acme"}
        for rule in v1_gets(app):
            if rule.endpoint.startswith(("workspaces.", "providers.", "processes.")):
                continue  # instance-wide (admins only) and per-workspace settings by provider name: below
            path = build(rule, ids)
            response = client.get(path, headers=headers)
            if rule.arguments:
                assert response.status_code in (403, 404), (path, response.status_code)
            else:  # a list: 200, and nothing of the other workspace in it
                assert response.status_code == 200, (path, response.get_json())
                body = response.get_data(as_text=True)
                for kind in ("contact_id", "job_id", "run_id", "delivery_id", "list_id", "key_id", "email"):
                    assert ids[kind] not in body, (path, kind)
                # ... while the acting workspace sees its own (contacts, runs, keys, lists)
                if rule.endpoint == "contacts.list_contacts":
                    assert foreign["contact_id"] in body
            walked += 1
    assert walked > 40
    # the deployment's processes are instance-wide: a workspace's key is refused them
    refused = client.get("/v1/processes", headers=acme_reads)
    assert refused.status_code == 403 and "acme" not in refused.get_data(as_text=True)
    # changes by id from the other workspace find nothing
    for method, path, body in (
            ("PATCH", f"/v1/contacts/{default['contact_id']}", {"tags": {"add": ["x"]}}),
            ("POST", f"/v1/contacts/{default['contact_id']}/scores/engagement", {"set": 1, "reason": "x"}),
            ("DELETE", "/v1/workflows/hot", None), ("DELETE", "/v1/profiles/engagement", None),
            ("POST", "/v1/profiles/engagement/publish", {}), ("DELETE", f"/v1/smart-lists/{default['list_id']}", None),
            ("POST", f"/v1/deliveries/{default['delivery_id']}/redeliver", {}),
            ("DELETE", f"/v1/keys/{default['key_id']}", None)):
        response = client.open(path, method=method, headers=acme_reads, json=body)
        assert response.status_code == 404, (method, path, response.get_json())
    assert client.get("/v1/workflows/hot", headers=AUTH).status_code == 200
    assert client.get("/v1/profiles/engagement", headers=AUTH).status_code == 200
    # finding by identity, by prefix or by a filter finds nothing of the other workspace
    for query in ("email=dee@default.io", "q=dee", "tag=hot-lead"):
        found = client.get(f"/v1/contacts?{query}", headers=acme_reads)
        assert found.status_code == 200 and "dee@default.io" not in found.get_data(as_text=True), query
    search = client.post("/v1/contacts/search", headers=acme_reads,
                         json={"filter": {"conditions": [{"field": "tag", "tag": "hot-lead"}]}})
    assert search.status_code == 200, search.get_json()
    assert [c["id"] for c in search.get_json()["items"]] == [acme["contact_id"]]
    export = client.get(f"/v1/smart-lists/{acme['list_id']}/export.csv", headers=acme_reads).get_data(as_text=True)
    assert "ann@acme.io" in export and "dee@default.io" not in export
    # the audit trail is per workspace: acme's key creation is in acme's, not in default's
    acme_trail = client.get("/v1/audit", headers=acme_reads).get_json()["items"]
    default_trail = client.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert f"key:{acme['key_id']}" in {e["target"] for e in acme_trail}
    assert f"key:{acme['key_id']}" not in {e["target"] for e in default_trail}


def test_jobs_act_in_the_workspace_they_were_queued_for(app, client, two):
    default, acme, _ = two
    with app.app_context():
        acme_services, default_services = services_of(app, "acme"), services_of(app, DEFAULT_WORKSPACE)
        # the drain, publish, run and delivery jobs were queued by acme and ran in acme: its keys hold them
        assert acme_services.contacts.find_contact(email="ann@acme.io") == acme["contact_id"]
        assert default_services.contacts.find_contact(email="ann@acme.io") is None
        assert acme_services.automation.get_delivery(acme["delivery_id"])["status"] == "succeeded"
        assert default_services.automation.get_delivery(acme["delivery_id"]) is None
        assert "hot-lead" in acme_services.contacts.get_contact(acme["contact_id"])["tags"]
        # the archive keeps each workspace's records under its own name
        archive = acme_services.archive
        assert [r.id for r in archive.history(acme["contact_id"], workspace="acme")] == ["click-acme"]
        assert archive.history(acme["contact_id"]) == []
        assert [r.id for r in archive.history(default["contact_id"])] == ["click-default"]
    keys = [k for k in acme_services.redis.scan_iter(match="*") if acme["contact_id"] in k]
    assert keys and all(k.startswith("sk:w:acme:{c:") for k in keys)


#: The score index's base and stale set (``storage/score_base.py``): named inside the hash tag of the bucket's hot set,
#: whose name (a release before's, kept) has no tag of its own, so the tag is that whole name, prefix included.
SCORE_BASE_NAMES = {"score_base", "score_stale"}


def slot_of(name: str) -> int:
    from redis.crc import key_slot
    return key_slot(name.encode())


def test_every_workspace_key_keeps_its_hash_tag_after_the_prefix(app):
    from app.keys import Keys
    from app.services import workspace_prefix

    plain, acme = Keys(workspace_prefix("sk", "default")), Keys(workspace_prefix("sk", "acme"))
    names = [name for name in dir(Keys) if not name.startswith("_") and callable(getattr(Keys, name))]
    checked = 0
    for name in names:
        method = getattr(Keys, name)
        argc = method.__code__.co_argcount - 1
        args = [("c" + "1" * 20) if i == 0 else 3 for i in range(argc)]
        try:
            a, b = method(plain, *args), method(acme, *args)
        except TypeError:
            continue
        if isinstance(a, tuple):  # a name's parts before and after its bucket (``activity_parts``): bucket 3's name
            a, b = "3".join(a), "3".join(b)
        if name in SCORE_BASE_NAMES:  # its hash tag is the hot set's whole name, the prefix in it: that set's slot
            for keys, got in ((plain, a), (acme, b)):
                hot = keys.score_index(*args)
                assert got == getattr(keys, name + "_of")(hot) and slot_of(got) == slot_of(hot), name
            checked += 1
            continue
        assert b == "sk:w:acme" + a[len("sk"):], name
        tag = re.search(r"\{[^}]*\}", a)
        assert (tag.group(0) if tag else None) == (m.group(0) if (m := re.search(r"\{[^}]*\}", b)) else None)
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("contact_id", ["c1", "c" + "1" * 20, "a}b", "x\x00y", "\u00e9t\u00e9"])
def test_a_contact_hash_name_is_its_parts_around_the_id(contact_id):
    """``Keys.contact_parts``: what the scripts that reach a contact's hash by its id (apply_batch.lua,
    activity_index.lua, filter_bucket.lua, registry_ops.lua) make its name from, in every workspace."""
    from app.keys import Keys
    from app.services import workspace_prefix

    for keys in (Keys(workspace_prefix("sk", "default")), Keys(workspace_prefix("sk", "acme"))):
        head, tail = keys.contact_parts()
        assert head + contact_id + tail == keys.contact(contact_id)


def test_a_wait_in_a_workspace_resumes_there_through_the_scheduler(app, client):
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    make_workspace(client, "acme")
    acme = as_admin_in("acme")
    with app.app_context():
        services = services_of(app, "acme")
        assert client.put("/v1/profiles/eng", headers=acme, json={
            "name": "E", "rules": [{"id": "click", "on": "email.clicked", "points": 10}]}).status_code == 200
        client.post("/v1/profiles/eng/publish", headers=acme, json={})
        settle(services)
        assert client.put("/v1/workflows/later", headers=acme, json={
            "id": "later", "name": "Later", "trigger": {"type": "score_changed", "profile": "eng", "operator": "gte",
                                                        "value": 10},
            "steps": [{"type": "wait", "duration": "1s"}, {"type": "add_tag", "tag": "later"}]}).status_code in (
                200, 201)
        client.post("/v1/interactions", headers=acme, json={"id": "c1", "type": "email.clicked",
                                                           "contact": {"email": "ann@acme.io"}})
        settle(services)
        [scheduled] = ScheduledJobRegistry(queue=services.jobs.workflow_queue).get_job_ids()
        assert Job.fetch(scheduled, connection=services.queue.connection).meta == {"workspace": "acme", "leaf": 1}
        cid = services.contacts.find_contact(email="ann@acme.io")
        run_until(services, lambda: "later" in services.contacts.get_contact(cid)["tags"], timeout=20)
        [run] = client.get("/v1/workflows/later/runs", headers=acme).get_json()["items"]
        assert run["status"] == "succeeded"
        assert client.get("/v1/workflows/later/runs", headers=AUTH).status_code == 404


@pytest.mark.parametrize("states_moved", [True, False])
@pytest.mark.parametrize("contact_id", ["c1", "a}b:timeline", "x\x00y", "\u00e9t\u00e9"])
def test_the_drains_scripts_reach_every_key_of_a_contact_in_its_workspace(app, contact_id, states_moved):
    """On one Redis ``read_batch.lua`` and ``apply_batch.lua`` get each contact's id, not its keys, and make every
    name from the workspace's parts (``Keys.contact_parts``...): a contact scored in ``acme`` has each key read and
    written under acme's name — its hash, timeline hash, horizon, outbox, the ledger list and the fold states'
    hash of releases before — and nothing is made under another name."""
    from app.scoring.records import ContactWrite, LedgerWrite
    from app.storage.timelines import RECORD_MARKER, hash_records

    acme = services_of(app, "acme")
    keys, store, redis = acme.keys, acme.timelines, acme.redis
    assert store.single_node and keys.contact(contact_id).startswith(keys.prefix + ":") and keys.prefix != "sk"
    store.states_moved = lambda recheck=False: states_moved
    redis.rpush(keys.ledger(contact_id, "p", 1), "stale")
    redis.hset(keys.horizon(contact_id), mapping={"c": "5", "p@2": "{}"})
    if not states_moved:
        redis.hset(keys.states_before(contact_id), mapping={"_rev": "3", "p@1": '{"s": 1}', "p@2": "{}"})
    before = set(redis.keys("*"))
    states, present, horizon = store.read_for_scoring({contact_id: []})()[contact_id]
    rev = "" if states_moved else "3"
    assert (states, present, horizon) == ({} if states_moved else {"_rev": "3", "p@1": '{"s": 1}', "p@2": "{}"},
                                          0, 5)
    small, big = json.dumps([1, 1_700_000_000_000]), json.dumps([2, 1_700_000_000_000, "v" * 80])
    write = ContactWrite(contact_id, rev, {"crm:1": small, "crm:2": big}, {"p@1": '{"s": 2}'}, ["p@2"],
                         [LedgerWrite("p", 1, False, [])], ['{"e": 1}'], {"email": "ann@acme.io"}, {"p@3": "{}"})
    [new_rev] = store.apply_many([write], active={contact_id: (1_700_000_000_000, 0)})()
    assert new_rev == int(rev or 0) + 1
    hash_ = redis.hgetall(keys.contact(contact_id))
    states_hash = hash_ if states_moved else redis.hgetall(keys.states_before(contact_id))
    assert hash_records(hash_) == {"crm:1": small} and RECORD_MARKER in hash_ and hash_["email"] == "ann@acme.io"
    assert hash_["la"] == "1700000000000"
    assert states_hash["_rev"] == str(new_rev) and states_hash["p@1"] == '{"s": 2}' and "p@2" not in states_hash
    assert redis.hgetall(keys.timeline(contact_id)) == {"crm:2": big}
    assert redis.hgetall(keys.horizon(contact_id)) == {"c": "5", "p@3": "{}"}
    assert redis.lrange(keys.outbox(contact_id), 0, -1) == ['{"e": 1}']
    assert not redis.exists(keys.ledger(contact_id, "p", 1))
    states, present, horizon = store.read_for_scoring({contact_id: ["crm:1", "crm:2", "crm:3"]})()[contact_id]
    assert (states["_rev"], present, horizon) == (str(new_rev), [small, big, None], 5)
    made = {k for k in set(redis.keys("*")) - before if contact_id in k}
    assert made == {keys.contact(contact_id), keys.timeline(contact_id), keys.outbox(contact_id)} - before
