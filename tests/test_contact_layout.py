"""The contact hash (app/contact_layout.py): a contact's fold states live in its hash beside its document, one key
fewer than releases before kept. On data written by the release before (tests/data/layout-v1.json), every reader
gives the same before, during and after the move, scoring goes on exactly wherever a contact's states are, and the
move leaves every hash in its compact encoding."""
from __future__ import annotations

import json
import queue
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from rq import SimpleWorker

from app.compaction import short_states_once
from app.contact_layout import (MIGRATION, WORKER_PREFIX, activity_derived_once, await_workers_before, companies_once,
                                created_once, email_once, identity_once, kept_properties_once, once_keys_once, short_ids_once, states_once, timelines_once,
                                workers_before)
from app.indexes import activity_once, roster_index_once, score_base_once, search_short_once, sizes_once
from app.scoring.fold import FoldState, fold
from app.storage.queries import ContactQuery
from app.storage.timelines import PIECE_BYTES, is_state_field, join_states
from tests.helpers import AUTH, settle
from tests.test_compaction import everything, load_layout_v1, post_and_score, to_each_contact
from workers.main import new_worker, worker_class_for

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]


def readers(client, services, contact_ids):
    """``everything`` (API contact and ledger, timelines, whole fold states) and what a list page and a backup read."""
    query = ContactQuery(services.scores, services.contacts, services.companies)
    shown = query.shown_contacts(contact_ids, ["engagement@1"])
    lists = client.get("/v1/smart-lists", headers=AUTH).get_json()
    list_id = next((x["id"] for x in lists.get("items", lists) if x["name"] == "all"), None) if lists else None
    if list_id is None:
        made = client.post("/v1/smart-lists", json={"name": "all", "profile": "engagement", "op": "gte",
                                                    "value": -1000}, headers=AUTH)
        assert made.status_code == 201, made.get_json()
        list_id = made.get_json()["id"]
    page = client.get(f"/v1/smart-lists/{list_id}/contacts?limit=50", headers=AUTH).get_json()  # index_page.lua's read
    assert page["items"]
    backup = {c.id: (c.doc, sorted(c.tags), c.timeline, join_states(c.states), c.horizon)
              for page in services.snapshot.contacts() for c in page}
    return everything(client, services, contact_ids), shown, backup, page


def old_state_keys(services, contact_ids):
    return sum(services.redis.exists(services.keys.states_before(cid)) for cid in contact_ids)


def test_every_reader_gives_the_same_before_during_and_after_the_move(client, services):
    contact_ids = load_layout_v1(services)
    assert old_state_keys(services, contact_ids) == 40
    before = readers(client, services, contact_ids)
    assert all(s is not None and s["states"] for s in before[1])

    assert services.timelines.move_states(contact_ids[:15]) == 15  # a run cut short
    assert old_state_keys(services, contact_ids) == 25
    assert readers(client, services, contact_ids) == before

    assert states_once(services) == 25
    assert old_state_keys(services, contact_ids) == 0
    assert readers(client, services, contact_ids) == before
    assert services.jobs.migration_done(MIGRATION) and states_once(services) is None
    for cid in contact_ids:
        stored = services.redis.hgetall(services.keys.contact(cid))
        assert "email" in stored and "_rev" in stored and "engagement@1" in stored
        # the old release's whole states went in pieces: the hash stays a listpack
        assert services.redis.object("encoding", services.keys.contact(cid)) == "listpack"


def test_scoring_goes_on_exactly_wherever_a_contacts_states_are(client, services):
    contact_ids = load_layout_v1(services)
    services.timelines.move_states(contact_ids[::2])
    revs = {cid: services.timelines.read_states([cid])[cid]["_rev"] for cid in contact_ids}
    now = services.clock.now_ms()
    items = to_each_contact(client, contact_ids, ("email.clicked", "form.submitted"))
    post_and_score(client, services, items)
    profile = services.profiles.active()[0].profile
    timelines = services.timelines.read_timelines(contact_ids)
    states = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        assert int(states[cid]["_rev"]) > int(revs[cid])  # the optimistic lock went on from where it was
        assert FoldState.from_json(json.loads(states[cid]["engagement@1"])).score == \
            fold(profile, timelines[cid], now)[0].score
    # a writer writes where the states are: the unmoved ones stay in the old hash, none comes back
    assert old_state_keys(services, contact_ids) == 20
    assert not any(is_state_field(f) for cid in contact_ids[1::2]
                   for f in services.redis.hkeys(services.keys.contact(cid)))

    # once the move is recorded finished, the drain sends no old hash's key: scoring goes on exactly from the hashes
    assert not services.timelines.states_moved()
    assert states_once(services) == 20 and services.timelines.states_moved()
    post_and_score(client, services, [{**item, "id": f"later-{n}"} for n, item in enumerate(items)])
    timelines = services.timelines.read_timelines(contact_ids)
    after = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        assert int(after[cid]["_rev"]) > int(states[cid]["_rev"])
        assert FoldState.from_json(json.loads(after[cid]["engagement@1"])).score == \
            fold(profile, timelines[cid], now)[0].score
    assert old_state_keys(services, contact_ids) == 0


def test_a_new_contact_has_no_states_key_and_its_document_shows_no_state(client, services):
    item = {"id": "e1", "source": "crm", "type": "form.submitted", "contact": {"email": "ada@example.com"}}
    services.profiles  # noqa: B018 - the default profile set-up is the conftest's
    assert client.post("/v1/interactions", json=item, headers=AUTH).status_code == 202
    settle(services)
    [cid] = [cid for page in services.contacts.contact_pages(10) for cid in page]
    assert not services.redis.exists(services.keys.states_before(cid))
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert stored["email"] == "ada@example.com" and stored["_rev"] == "1"
    [contact] = services.contacts.get_contacts([cid])
    assert contact is not None and contact["email"] == "ada@example.com"
    assert set(contact["states"]) == {f for f in stored if is_state_field(f) and f != "_rev"}


@pytest.mark.parametrize("field", ["_rev", "engagement@1", "engagement@12#3", "fit-2@1"])
def test_fold_state_fields(field):
    assert is_state_field(field)


@pytest.mark.parametrize("field", ["email", "external_id", "name", "company", "created_at", "attributes",
                                   "dnd:email", "dnd:a@b"])
def test_document_fields(field):
    assert not is_state_field(field)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])  # keys reset in the test
@given(st.text(st.sampled_from("aé€😀") | st.characters(), min_size=20, max_size=200))
def test_the_move_splits_a_whole_state_into_pieces_of_whole_characters_that_join_back(services, text):
    cid = "cx"
    services.redis.delete(services.keys.contact(cid), services.keys.states_before(cid))
    services.redis.hset(services.keys.states_before(cid), mapping={"p@1": text or "-", "_rev": "3"})
    services.redis.hset(services.keys.contact(cid), "email", "x@example.com")
    assert services.timelines.move_states([cid]) == 1
    stored = services.redis.hgetall(services.keys.contact(cid))
    assert all(len(v.encode()) <= PIECE_BYTES for f, v in stored.items() if is_state_field(f))
    assert join_states(stored)["p@1"] == (text or "-") and stored["_rev"] == "3" and stored["email"] == "x@example.com"
    assert not services.redis.exists(services.keys.states_before(cid))


def registered(services, name: str | None = None) -> SimpleWorker:
    """A worker registered in RQ's registry on the app's queues, as a running one is (``name``: RQ's own when None,
    as the workers of releases before were named)."""
    worker = SimpleWorker(services.jobs.queues, connection=services.queue.connection, name=name)
    worker.register_birth()
    return worker


def test_a_worker_of_this_release_is_named_as_one(services):
    assert new_worker(services, worker_class_for("simple")).name.startswith(WORKER_PREFIX)


def test_the_move_waits_until_the_workers_of_a_release_before_are_gone(client, services):
    """A worker of the release before writes fold states only to the old hash: the move, and the new workers'
    scoring, wait at start until none is alive (rolling deploys)."""
    contact_ids = load_layout_v1(services)
    old, ours = registered(services), registered(services, WORKER_PREFIX + "x")
    assert workers_before(services) == {old.name}
    told: queue.Queue = queue.Queue()
    stop, outcome = threading.Event(), []
    waiting = threading.Thread(target=lambda: outcome.append(
        await_workers_before([services], stop, period_s=0.05, on_wait=told.put)))
    waiting.start()
    assert told.get(timeout=30) == {old.name}
    assert waiting.is_alive() and old_state_keys(services, contact_ids) == 40  # nothing moved meanwhile
    old.register_death()
    waiting.join(timeout=30)
    assert outcome == [True]
    assert states_once(services) == 40
    ours.register_death()


def test_a_killed_worker_of_a_release_before_is_waited_for_until_its_key_lapses(services):
    old = registered(services)
    assert workers_before(services) == {old.name}
    services.queue.connection.delete(old.key)  # what RQ's key expiry does 8 minutes after a SIGKILL
    assert workers_before(services) == set()


def test_once_every_layout_migration_is_recorded_nothing_waits(services):
    assert states_once(services) == 0
    old, waited = registered(services), []

    def let_go(names: set[str]) -> None:
        waited.append(names)
        old.register_death()

    assert await_workers_before([services], threading.Event(), period_s=0.01, on_wait=let_go) is True
    assert waited == [{old.name}]  # the identity keys' migration (LAYOUT_MIGRATIONS) was not recorded yet
    assert identity_once(services) == 0
    assert roster_index_once(services) == 0  # nor the rosters'
    assert activity_once(services) == 0
    assert sizes_once(services) is not None  # (the indexes of a new store started with their sizes: written anew)
    assert timelines_once(services) == 0
    assert companies_once(services) == 0
    assert search_short_once(services) == 0
    assert created_once(services) == 0
    assert short_states_once(services) == 0
    assert email_once(services) == 0
    score_base_once(services)  # (nothing to move: the score index's absorb may run)
    assert activity_derived_once(services) == 0
    assert short_ids_once(services) is True
    assert kept_properties_once(services) is True  # (nothing moves: the drains trim archived copies from now on)
    assert once_keys_once(services) is True  # (nothing moves: long once-per values are keyed as they are read)
    old = registered(services)
    told: list = []
    gave_up = threading.Event()  # a migration left unrecorded above must fail here, not wait for ever

    def waits(names: set[str]) -> None:
        told.append(names)
        gave_up.set()

    assert await_workers_before([services], gave_up, on_wait=waits) is True, "a LAYOUT_MIGRATIONS record is missing"
    assert told == []
    old.register_death()


def test_a_stop_ends_the_wait(services):
    old = registered(services)
    stop = threading.Event()
    stop.set()
    assert await_workers_before([services], stop, period_s=30) is False
    old.register_death()
