"""A contact that lost its write race is scored again with the profile versions as they are then, not as the batch
found them when it started (app/scorer.py, ``Scorer._score``).

The race a drain loses most often to a publish is the publish's own recompute writing the contact between the
drain's read and its write. The drain's second round then reads states the recompute wrote; scored with the versions
read before the publish, it deleted the new version's state (a version it did not know is one to drop) or, once
the publish had switched and the old version was retired, wrote the retired version's state and score back, until
the contact's next interaction. Each test makes that happen once, deterministically: the drain's first write is
held back while the publish runs, on a real Redis and on a cluster."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from app.publish import retire
from app.scoring_service import drain, make_scorer
from app.storage.profiles import ActiveVersion

from .helpers import AUTH, drain_ready, put_profile, run_jobs, send

pytestmark = pytest.mark.also_on_cluster

RULES = [{"id": "open", "on": "email.opened", "points": 2}]
DOUBLED = [{**rule, "points": rule["points"] * 2} for rule in RULES]
EMAIL = "race@x.io"


def opened(n: int) -> dict[str, Any]:
    return {"id": f"e{n}", "type": "email.opened", "contact": {"email": EMAIL},
            "occurred_at": f"2026-01-01T00:0{n}:00Z"}


def second_open_waiting(client, services) -> str:
    """The contact's first open scored by version 1 (2 points), the draft doubled, its second open waiting in the
    partition (no job queued: the test drains); the contact's id."""
    send(client, opened(1))
    assert drain(services, 0) == 1
    put_profile(client, "eng", DOUBLED)
    send(client, opened(2))
    services.queue.empty()
    return services.contacts.find_contact(email=EMAIL)


def start_publish(client) -> str:
    """The draft (doubled points) published: version 2 building, its job queued, not run."""
    resp = client.post("/v1/profiles/eng/publish", json={}, headers=AUTH)
    assert resp.status_code == 202, resp.get_json()
    return resp.get_json()["job"]["id"]


def recompute(services, contact_id: str) -> None:
    """What a publish part does to one contact: version 2 (building) folded from its whole timeline, written."""
    target = ActiveVersion(services.profiles.version("eng", 2), 2, live=False)
    make_scorer(services).score({contact_id: []}, services.clock.now_ms(), versions=[target], full=True)


def publish_finished(client, services, contact_id: str) -> None:
    """The whole publish: its recompute, the switch (version 2 live) and version 1's retirement."""
    start_publish(client)
    run_jobs(services)  # (the drain job queued by the send finds the partition's lease held and does nothing)
    assert services.profiles.get("eng")["live_version"] == 2


def publish_building(client, services, contact_id: str) -> None:
    """A publish under way: version 2 building and this contact recomputed into it, not switched yet."""
    start_publish(client)
    recompute(services, contact_id)
    assert services.profiles.get("eng")["building_version"] == 2


def drain_with_publish_before_first_write(monkeypatch, services, publish: Callable[[], None]) -> list[int]:
    """Drain partition 0, running ``publish`` once, after the drain read its batch's contacts and versions and
    before its first write: the publish's recompute writes the contact, so that write loses its race. Returns
    that first write's replies (0: lost)."""
    apply_many = services.timelines.apply_many
    first: list[int] = []
    held_back: list[bool] = []

    def held(writes, *args, **kwargs):
        if held_back:  # the publish's own writes, and the drain's second round
            return apply_many(writes, *args, **kwargs)
        held_back.append(True)
        publish()
        replies = apply_many(writes, *args, **kwargs)

        def read() -> list[int]:
            first.extend(replies())
            return first
        return read

    monkeypatch.setattr(services.timelines, "apply_many", held)
    assert drain(services, 0) == 1
    return first


def drain_with_switch_after_versions_read(monkeypatch, services) -> bool:
    """Drain partition 0, switching version 2 live and retiring version 1 once, just after the drain read the
    profile documents (its batch's versions); whether it happened."""
    all_docs = services.profiles.all
    retired: list[bool] = []

    def then_switch_and_retire():
        docs = all_docs()
        if not retired:
            retired.append(True)
            doc = services.profiles.get("eng")
            doc.update(live_version=2, building_version=None, building_job=None)
            services.profiles.save(doc)  # (what the last part's switch writes)
            retire(services, "eng", 1)
        return docs

    monkeypatch.setattr(services.profiles, "all", then_switch_and_retire)
    assert drain(services, 0) == 1
    return bool(retired)


@pytest.mark.parametrize("publish", [
    pytest.param(publish_building, id="publish-building"),
    pytest.param(publish_finished, id="publish-switched-and-retired"),
])
def test_a_contact_scored_again_after_a_publish_is_scored_into_the_versions_active_then(
        make_app, monkeypatch, publish):
    with drain_ready(make_app, RULES) as (client, services):
        contact_id = second_open_waiting(client, services)

        first_write = drain_with_publish_before_first_write(monkeypatch, services,
                                                            lambda: publish(client, services, contact_id))

        assert first_write == [0]  # the drain's first write lost its race to the publish: the contact was scored again
        states = services.contacts.get_contact(contact_id)["states"]
        doc = services.profiles.get("eng")
        if doc["live_version"] == 2:  # switched: version 1 retired, nothing of it left
            assert set(states) == {"eng@2"}
            assert services.scores.scores_of("eng", 1) == {}
        else:  # building: both versions scored, each with both interactions
            assert set(states) == {"eng@1", "eng@2"}
            assert states["eng@1"].score == 4
            assert services.scores.scores_of("eng", 1) == {contact_id: 4}
        assert states["eng@2"].score == 8
        assert services.scores.scores_of("eng", 2) == {contact_id: 8}


def test_a_batch_reads_its_contacts_states_before_the_versions_it_scores_them_into(make_app, monkeypatch):
    """A publish that starts and recomputes the contact just after the batch read the versions: had the batch read
    its states after that, it would see the new version's state, know nothing of the version and drop it; read
    before, the recompute's write makes the batch's write lose its race, and the round after knows the version."""
    with drain_ready(make_app, RULES) as (client, services):
        contact_id = second_open_waiting(client, services)
        all_docs = services.profiles.all
        published: list[bool] = []

        def then_publish():
            docs = all_docs()
            if not published:  # (the recompute reads them too)
                published.append(True)
                publish_building(client, services, contact_id)
            return docs

        monkeypatch.setattr(services.profiles, "all", then_publish)
        assert drain(services, 0) == 1

        assert published
        states = services.contacts.get_contact(contact_id)["states"]
        assert {field: state.score for field, state in states.items()} == {"eng@1": 4, "eng@2": 8}
        assert services.scores.scores_of("eng", 2) == {contact_id: 8}


def test_a_batch_that_read_a_version_retired_before_its_write_does_not_write_it_back(make_app, monkeypatch):
    """The publish switches and retires the old version after the batch read the versions, and no recompute
    writes the contact meanwhile (it was recomputed before): the retirement moves the contact's ``_rev``, so the
    batch's write, made with the old version, loses its race and the round after drops that version's state."""
    with drain_ready(make_app, RULES) as (client, services):
        contact_id = second_open_waiting(client, services)
        publish_building(client, services, contact_id)
        assert drain_with_switch_after_versions_read(monkeypatch, services)
        states = services.contacts.get_contact(contact_id)["states"]
        assert {field: state.score for field, state in states.items()} == {"eng@2": 8}
        assert services.scores.scores_of("eng", 1) == {}
        assert services.scores.scores_of("eng", 2) == {contact_id: 8}


def test_a_new_contact_scored_into_a_version_retired_before_its_write_does_not_keep_it(make_app, monkeypatch):
    """The contact's first interaction: it holds no state of the version the retirement drops, so there is nothing
    of it to delete when the retirement passes it. The retirement still moves its ``_rev``: the batch, which read
    the versions before the switch, loses its write's race and the round after scores only the live version (the
    retirement once moved ``_rev`` only where it deleted a piece, and the retired state stayed)."""
    with drain_ready(make_app, RULES) as (client, services):
        put_profile(client, "eng", DOUBLED)
        start_publish(client)  # version 2 building, its job not run
        send(client, opened(1))  # a new contact: no state in any version yet
        services.queue.empty()
        assert drain_with_switch_after_versions_read(monkeypatch, services)
        contact_id = services.contacts.find_contact(email=EMAIL)
        states = services.contacts.get_contact(contact_id)["states"]
        assert {field: state.score for field, state in states.items()} == {"eng@2": 4}
        assert services.scores.scores_of("eng", 1) == {}
        assert services.scores.scores_of("eng", 2) == {contact_id: 4}
