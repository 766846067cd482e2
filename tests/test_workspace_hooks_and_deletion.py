"""Provider webhooks per workspace (``/w/{workspace}/hooks/...``, each verified with its workspace's secret and
stored there only), and deleting a workspace: a job that removes everything of it, with progress, and leaves
every other workspace as it was — on one Redis and on a Redis Cluster."""
from __future__ import annotations

import time

import pytest

from app.services import DEFAULT_WORKSPACE

from .helpers import AUTH, publish_profile, settle
from .hook_builders import DOCUMENTED_TYPE, documented_delivery, schemes, url
from .test_workspaces import as_admin_in, bearer, make_key, make_workspace, services_of

PROVIDERS = [pytest.param(p, id=p) for p in DOCUMENTED_TYPE]


@pytest.fixture
def hook_schemes():
    return {s.provider: s for s in schemes()}


@pytest.fixture
def app(make_app, hook_schemes):
    """``default`` keeps its secrets in the environment, as before workspaces."""
    return make_app(**{s.setting: s.config_value for s in hook_schemes.values()})


def deliver(client, scheme, path: str, payload, secret: str):
    body, headers = scheme.sign(payload, secret, int(time.time()))
    return client.post(path, data=body, headers={"Content-Type": "application/json", **headers})


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_workspace_takes_webhooks_at_its_own_url_with_its_own_secret(app, client, hook_schemes, provider):
    scheme = hook_schemes[provider]
    fresh = next(s for s in schemes() if s.provider == provider)  # SendGrid: a second key pair
    own_secret, own_config = ((fresh.secret, fresh.config_value) if provider == "sendgrid"
                              else (scheme.wrong_secret, scheme.wrong_secret))  # acme's: not default's
    make_workspace(client, "acme")
    acme = bearer(make_key(client, "acme", "admin"))
    workspace_url = "/w/acme" + url(provider)
    with app.app_context():
        acme_services, default_services = services_of(app, "acme"), services_of(app, DEFAULT_WORKSPACE)
        # no secret in acme yet: the environment's are default's only
        assert deliver(client, scheme, workspace_url, documented_delivery(provider, "a@acme.io"),
                       scheme.secret).status_code == 404
        assert client.put(f"/v1/providers/{provider}", json={"secret": own_config},
                          headers=acme).status_code == 200
        publish_profile(client, default_services, "engagement",
                        [{"id": "r", "on": DOCUMENTED_TYPE[provider], "points": 7}])
        for headers in (acme,):
            assert client.put("/v1/profiles/engagement", headers=headers, json={
                "name": "E", "rules": [{"id": "r", "on": DOCUMENTED_TYPE[provider], "points": 3}]}).status_code == 200
            client.post("/v1/profiles/engagement/publish", headers=headers, json={})
        settle(acme_services)
        # acme's URL with default's secret, and default's URL with acme's: refused, nothing stored
        assert deliver(client, scheme, workspace_url, documented_delivery(provider, "x@acme.io"),
                       scheme.secret).status_code == 401
        assert deliver(client, scheme, url(provider), documented_delivery(provider, "y@acme.io"),
                       own_secret).status_code == 401
        # each URL with its own secret: stored and scored in its own workspace only
        accepted = deliver(client, scheme, workspace_url, documented_delivery(provider, "ann@acme.io"), own_secret)
        assert accepted.status_code == 202, accepted.get_json()
        assert deliver(client, scheme, url(provider), documented_delivery(provider, "dee@default.io"),
                       scheme.secret).status_code == 202
        settle(acme_services)
        settle(default_services)
        assert acme_services.contacts.find_contact(email="ann@acme.io")
        assert default_services.contacts.find_contact(email="ann@acme.io") is None
        assert acme_services.contacts.find_contact(email="dee@default.io") is None
        for contacts, email, points in ((client.get("/v1/contacts?email=ann@acme.io", headers=acme), "ann", 3),
                                        (client.get("/v1/contacts?email=dee@default.io", headers=AUTH), "dee", 7)):
            [found] = contacts.get_json()["items"]
            assert found["scores"]["engagement"]["score"] == points, email


def test_an_unknown_workspace_url_is_a_404_that_reveals_nothing(client, hook_schemes):
    make_workspace(client, "acme")
    scheme = hook_schemes["stripe"]
    for path in ("/w/nope/hooks/stripe", "/w/default/hooks/stripe", "/w/ACME/hooks/stripe", "/w/acme/hooks/stripe",
                 "/w/nope/hooks/standard/crm"):
        response = deliver(client, scheme, path, documented_delivery("stripe"), scheme.secret)
        assert response.status_code == 404, path
        assert response.get_json()["message"] in ("No such webhook endpoint here.",
                                                  "No webhook provider 'stripe' is configured here.")


def keys_of(services, prefix: str) -> list[str]:
    found: list[str] = []
    for page in services.workspaces.scan_prefix(prefix):
        found += page
    return found


@pytest.mark.also_on_cluster
def test_deleting_a_workspace_removes_all_of_it_with_progress_and_nothing_else(app, client):
    make_workspace(client, "acme")
    make_workspace(client, "acme-2")  # a prefix of it starts like acme's: it must stay
    acme_key = make_key(client, "acme", "write")
    with app.app_context():
        acme_services = services_of(app, "acme")
        other = services_of(app, "acme-2")
        default_services = services_of(app, DEFAULT_WORKSPACE)
        for headers, services in ((bearer(acme_key), acme_services), (as_admin_in("acme-2"), other),
                                  (AUTH, default_services)):
            assert client.put("/v1/profiles/e", headers=headers, json={
                "name": "E", "rules": [{"id": "r", "on": "email.opened", "points": 1}]}).status_code == 200
            client.post("/v1/profiles/e/publish", headers=headers, json={})
            for n in range(30):
                client.post("/v1/interactions", headers=headers, json={
                    "id": f"o{n}", "type": "email.opened", "contact": {"email": f"c{n}@x.io"}})
            settle(services)
        before_other = sorted(keys_of(other, "sk:w:acme-2"))
        before_default = client.get("/v1/contacts?limit=100", headers=AUTH).get_json()["items"]
        assert len(keys_of(acme_services, "sk:w:acme")) > 60
        response = client.delete("/v1/workspaces/acme", headers=AUTH)
        assert response.status_code == 202, response.get_json()
        job = response.get_json()["job"]
        assert job["kind"] == "workspace.delete" and job["status"] == "queued"
        # from now on acme answers nowhere: its key, the admin's header, its webhooks
        assert client.get("/v1/contacts", headers=bearer(acme_key)).status_code == 401
        assert client.get("/v1/contacts", headers=as_admin_in("acme")).status_code == 404
        assert client.get("/v1/workspaces/acme", headers=AUTH).get_json()["status"] == "deleting"
        assert client.delete("/v1/workspaces/acme", headers=AUTH).status_code == 409
        assert client.post("/v1/workspaces", json={"id": "acme", "name": "again"}, headers=AUTH).status_code == 409
        settle(default_services)
        done = client.get(f"/v1/jobs/{job['id']}", headers=AUTH).get_json()
        assert done["status"] == "finished" and done["progress"] == 1.0 and done["done"] >= 60, done
        assert keys_of(acme_services, "sk:w:acme") == []
        assert sorted(keys_of(other, "sk:w:acme-2")) == before_other
        assert client.get("/v1/contacts?limit=100", headers=AUTH).get_json()["items"] == before_default
        assert [w["id"] for w in client.get("/v1/workspaces", headers=AUTH).get_json()["items"]] == [
            "default", "acme-2"]
        assert acme_key["id"] not in {k["id"] for k in default_services.api_keys.all()}
        assert client.delete("/v1/workspaces/default", headers=AUTH).status_code == 409
        # a write that raced the deletion (accepted by a process that had not seen it yet): its drain job finds
        # the workspace gone and scores nothing
        from app.ingest import ingest
        from app.interaction_schema import load_interaction

        ingest(acme_services, [load_interaction({"id": "late", "type": "email.opened",
                                                 "contact": {"email": "late@acme.io"}}, source="api")])
        late = acme_services.contacts.find_contact(email="late@acme.io")
        settle(default_services)
        assert not acme_services.redis.exists(acme_services.keys.timeline(late))
        acme_services.workspaces.remove_prefix("sk:w:acme", lambda n: None)
        # the id is free again, and the new acme starts empty
        make_workspace(client, "acme")
        assert client.get("/v1/contacts", headers=as_admin_in("acme")).get_json()["items"] == []


def test_a_backup_holds_one_workspace_and_restores_into_another(app, client, tmp_path):
    from .test_backup import cli
    from .conftest import TEST_REDIS_URL

    make_workspace(client, "acme")
    make_workspace(client, "copy")
    with app.app_context():
        for headers, services, email in ((as_admin_in("acme"), services_of(app, "acme"), "ann@acme.io"),
                                         (AUTH, services_of(app, DEFAULT_WORKSPACE), "dee@default.io")):
            assert client.put("/v1/profiles/e", headers=headers, json={
                "name": "E", "rules": [{"id": "r", "on": "email.opened", "points": 4}]}).status_code == 200
            client.post("/v1/profiles/e/publish", headers=headers, json={})
            client.post("/v1/interactions", headers=headers, json={
                "id": "o1", "type": "email.opened", "contact": {"email": email}})
            settle(services)
    acme_file, default_file = tmp_path / "acme.gz", tmp_path / "default.gz"
    settings = {"PARTITIONS": "4", "STORE_URL": ""}
    made = cli(TEST_REDIS_URL, "--workspace", "acme", "backup", str(acme_file), **settings)
    assert made.exit_code == 0 and "workspace 'acme'" in made.stdout and "1 contact" in made.stdout, made.output
    assert cli(TEST_REDIS_URL, "backup", str(default_file), **settings).exit_code == 0
    import gzip

    acme_text, default_text = gzip.open(acme_file).read().decode(), gzip.open(default_file).read().decode()
    assert "ann@acme.io" in acme_text and "dee@default.io" not in acme_text
    assert "dee@default.io" in default_text and "ann@acme.io" not in default_text
    # restoring into default (which holds data) is refused; into the empty workspace "copy" it works
    assert cli(TEST_REDIS_URL, "restore", str(acme_file), **settings).exit_code != 0
    assert cli(TEST_REDIS_URL, "--workspace", "nope", "backup", str(tmp_path / "x.gz"), **settings).exit_code != 0
    restored = cli(TEST_REDIS_URL, "--workspace", "copy", "restore", str(acme_file), **settings)
    assert restored.exit_code == 0, restored.output
    [contact] = client.get("/v1/contacts", headers=as_admin_in("copy")).get_json()["items"]
    assert contact["email"] == "ann@acme.io" and contact["scores"]["e"]["score"] == 4
    assert [c["email"] for c in client.get("/v1/contacts", headers=AUTH).get_json()["items"]] == ["dee@default.io"]


def test_the_ticker_visits_every_workspace_and_its_jobs_carry_the_workspace(app, client):
    from rq.job import Job

    from workers.main import tick_every_workspace

    make_workspace(client, "acme")
    with app.app_context():
        default_services, acme_services = services_of(app, DEFAULT_WORKSPACE), services_of(app, "acme")
        assert client.post("/v1/interactions", headers=as_admin_in("acme"), json={
            "id": "o1", "type": "email.opened", "contact": {"email": "a@acme.io"}}).status_code == 202
        [queued] = Job.fetch_many(default_services.queue.job_ids, connection=default_services.queue.connection)
        assert queued.func_name == "app.jobs.drain_partition" and queued.meta == {"workspace": "acme", "leaf": 1}
        # the drain job is lost (a killed worker): the ticker finds acme's stalled partition and wakes it
        default_services.queue.empty()
        for partition in range(acme_services.sharding.partitions):
            acme_services.partitions.clear_wake(partition)
        tick_every_workspace(default_services)
        woken = Job.fetch_many(default_services.queue.job_ids, connection=default_services.queue.connection)
        assert [(j.func_name, j.meta) for j in woken] == [("app.jobs.drain_partition", {"workspace": "acme", "leaf": 1})]
        settle(default_services)
        assert acme_services.contacts.find_contact(email="a@acme.io")
        assert default_services.contacts.find_contact(email="a@acme.io") is None
