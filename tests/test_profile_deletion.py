"""Deleting a score profile while interactions are scored, and creating one again under the same id.

A drain reads the profile documents, then the rules of the versions they name: a profile deleted between the
two reads is simply not active (its states are dropped by the deletion's own retirement job), not a failed job.
A profile created again under a deleted one's id never reuses its version numbers: fold states store rule ids
as their index in their version's rules, so a state of the deleted profile left behind (its retirement still
queued, or never run) must never be read as one of the new profile's versions, nor the deleted profile's
retirement drop the new one's states.
"""
from __future__ import annotations

from typing import Any

import pytest

from app.publish import delete_profile, deleted_versions_once, retire
from app.scoring_service import drain, make_scorer
from app.storage.profiles import ActiveVersion

from .helpers import AUTH, drain_ready, publish, put_profile, run_jobs, send, settle

pytestmark = pytest.mark.also_on_cluster

RULES = [{"id": "open", "on": "email.opened", "points": 2}, {"id": "click", "on": "email.clicked", "points": 5}]
#: the new profile's rules: one rule, so an index of the old one's second rule is past its end
ONE_RULE = [{"id": "visit", "on": "form.submitted", "points": 7}]
EMAIL = "gone@x.io"


def interaction(n: int, kind: str) -> dict[str, Any]:
    return {"id": f"e{n}", "type": kind, "contact": {"email": EMAIL}, "occurred_at": f"2026-01-01T00:0{n}:00Z"}


def deleted_between_the_reads(monkeypatch, services) -> list[bool]:
    """``eng`` deleted (as the API does) once, just after the next reader read the profile documents and before it
    reads their versions' rules; whether it happened."""
    read_docs = services.profiles.all
    deleted: list[bool] = []

    def then_delete():
        docs = read_docs()
        if not deleted and "eng" in docs:
            deleted.append(True)
            delete_profile(services, "eng")
        return docs

    monkeypatch.setattr(services.profiles, "all", then_delete)
    return deleted


def test_a_drain_whose_profile_is_deleted_between_its_reads_scores_without_it(make_app, monkeypatch):
    with drain_ready(make_app, RULES) as (client, services):
        put_profile(client, "other", ONE_RULE)
        assert client.post("/v1/profiles/other/publish", json={}, headers=AUTH).status_code == 202
        settle(services)
        send(client, interaction(1, "form.submitted"))
        services.queue.empty()
        deleted = deleted_between_the_reads(monkeypatch, services)
        assert drain(services, 0) == 1  # (KeyError: 'eng@1' before)
        assert deleted
        cid = services.contacts.find_contact(email=EMAIL)
        assert services.timelines.read_scores([cid], "other@1")[cid] == 7  # the profile still there scored it
        assert services.timelines.read_scores([cid], "eng@1")[cid] is None  # the deleted one wrote nothing


@pytest.mark.parametrize("reader", [
    pytest.param(lambda services: services.profiles.active(), id="active"),
    pytest.param(lambda services: services.profiles.live(), id="live"),
])
def test_a_profile_deleted_between_the_documents_and_the_rules_is_not_active(make_app, monkeypatch, reader):
    with drain_ready(make_app, RULES) as (_client, services):
        deleted_between_the_reads(monkeypatch, services)
        assert list(reader(services)) == []


def test_a_version_missing_under_a_profile_that_still_names_it_is_still_an_error(make_app):
    with drain_ready(make_app, RULES) as (_client, services):
        services.profiles.forget_versions(services.profiles.get("eng"))  # not a deletion: the document is still there
        with pytest.raises(KeyError):
            services.profiles.active()


def old_states_left(client, services) -> str:
    """``eng`` (two rules) scored a contact by its second rule, then deleted, its retirement not run (taken out of
    the queue: still to come, or lost): the contact's id."""
    send(client, interaction(1, "email.clicked"))
    settle(services)
    cid = services.contacts.find_contact(email=EMAIL)
    assert services.timelines.read_scores([cid], "eng@1")[cid] == 5
    delete_profile(services, "eng")
    services.queue.empty()
    assert "eng@1" in services.timelines.read_states([cid])[cid]
    return cid


def test_a_profile_created_again_under_a_deleted_ones_id_never_reuses_its_version_numbers(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        old_states_left(client, services)
        put_profile(client, "eng", ONE_RULE)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        assert job["version"] == 2  # (1 again before)
        settle(services)
        history = client.get("/v1/profiles/eng/versions", headers=AUTH)
        assert history.status_code == 200, history.get_json()
        assert [v["version"] for v in history.get_json()["items"]] == [2]
        assert client.get("/v1/profiles/eng/versions/1", headers=AUTH).status_code == 404
        assert client.get("/v1/profiles/eng/versions/2", headers=AUTH).status_code == 200
        rollback = client.post("/v1/profiles/eng/rollback", json={"version": 1}, headers=AUTH)
        assert rollback.status_code == 404, rollback.get_json()


def made_again_and_published(client, services) -> str:
    """``old_states_left``, then ``eng`` made again with one rule, its publish queued and an interaction of that
    rule sent for the contact: the contact's id."""
    cid = old_states_left(client, services)
    put_profile(client, "eng", ONE_RULE)
    assert client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).status_code == 202
    send(client, interaction(2, "form.submitted"))
    return cid


def test_a_deleted_profiles_state_is_never_read_as_the_new_ones_while_it_is_built(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        cid = made_again_and_published(client, services)
        services.queue.empty()
        # (12 before: the deleted profile's state of 5 points, read as the new version's, went on)
        assert drain(services, 0) == 1
        building = services.profiles.get("eng")["building_version"]
        assert services.timelines.read_scores([cid], f"eng@{building}")[cid] == 7


def test_a_deleted_profiles_retirement_run_late_leaves_the_new_ones_scores(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        cid = made_again_and_published(client, services)
        settle(services)
        live = services.profiles.get("eng")["live_version"]
        assert services.timelines.read_scores([cid], f"eng@{live}")[cid] == 7
        retire(services, "eng", 1)  # the deleted profile's retirement, run at last
        assert services.timelines.read_scores([cid], f"eng@{live}")[cid] == 7


def test_a_publish_whose_profile_is_deleted_stops_and_writes_nothing_of_it(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        send(client, interaction(1, "email.clicked"))
        settle(services)
        cid = services.contacts.find_contact(email=EMAIL)
        put_profile(client, "eng", ONE_RULE)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        delete_profile(services, "eng")  # its parts and the retirements queued after them
        run_jobs(services)
        assert services.jobs.status(job["id"])["status"] == "failed"
        assert services.timelines.read_states([cid])[cid].keys() <= {"_rev"}
        assert not services.redis.exists(services.keys.profile_versions("eng"))  # no record written again


def test_a_version_given_to_the_scorer_is_not_written_once_its_profile_is_deleted(make_app):
    with drain_ready(make_app, RULES) as (client, services):
        target = ActiveVersion(services.profiles.version("eng", 1), 1, live=False)  # as a publish part holds it
        cid = old_states_left(client, services)
        retire(services, "eng", 1)
        make_scorer(services).score({cid: []}, services.clock.now_ms(), versions=[target], full=True)
        assert "eng@1" not in services.timelines.read_states([cid])[cid]  # (written back before)


def test_a_profile_deleted_before_the_record_has_its_last_number_recorded_from_what_it_left(make_app, monkeypatch):
    """A release before this one deleted a profile without keeping its last version number and its retirement
    never ran: ``deleted_versions_once`` reads that number from the score indexes it left — the highest, where
    versions before it left theirs too — so the profile made again numbers its versions after it; a profile that
    still exists is not recorded. Run again, it does nothing."""
    with drain_ready(make_app, RULES) as (client, services):
        put_profile(client, "other", ONE_RULE)
        publish(client, services, "other")
        send(client, interaction(1, "email.clicked"))
        settle(services)
        put_profile(client, "eng", ONE_RULE + RULES)
        with monkeypatch.context() as patch:  # version 2 live, version 1's retirement never run (its index left)
            patch.setattr(services.enqueue, "retire_version", lambda profile_id, version, once=None: None)
            publish(client, services, "eng")
        assert {k.split(":")[-2] for page in services.workspaces.scan_prefix(services.keys.score_indexes())
                for k in page if "eng@" in k} == {"eng@1", "eng@2"}
        services.queue.empty()
        doc = services.profiles.get("eng")
        services.profiles.forget_versions(doc)  # deleted as a release before did: no number kept, nothing retired
        services.profiles.docs.delete("eng")
        cid = services.contacts.find_contact(email=EMAIL)
        assert services.timelines.read_scores([cid], "eng@2")[cid] == 5  # its states and index left
        assert deleted_versions_once(services) == ["eng"]
        assert services.redis.hgetall(services.keys.deleted_profiles()) == {"eng": "2"}
        put_profile(client, "eng", ONE_RULE)
        job = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).get_json()["job"]
        assert job["version"] == 3  # (1 before the record: eng@2, the deleted one's state, read as its own later)
        assert deleted_versions_once(services) is None


def test_a_deletion_between_the_records_read_and_its_write_keeps_its_higher_number(services, monkeypatch):
    """``deleted_versions_once``'s record (``ProfileStore.record_deleted``) reads the kept numbers, checks each id has
    no document, then writes: a deletion by this release between the two kept its own last number, higher where its
    newest versions scored no contact (no index), and the record lowered it to the highest indexed one — a profile
    made again then numbered over those. The number is now raised only, in one step. Failed before: "2" kept."""
    kept = services.keys.deleted_profiles()

    def deleted_meanwhile(profile_id):  # ProfileStore.delete's record, then no document (None)
        services.redis.hset(kept, profile_id, 3)

    monkeypatch.setattr(services.profiles, "get", deleted_meanwhile)
    assert services.profiles.record_deleted({"eng": 2}) == []
    assert services.redis.hget(kept, "eng") == "3"
    assert services.profiles.record_deleted({"eng": 4}) == ["eng"]
    assert services.redis.hget(kept, "eng") == "4"
