"""The compact layout's migration (app/compaction.py, ``scorekeeper compact``), on data written by the release
before it (tests/data/layout-v1.json, made by tests/data/make_layout_v1.py with that release's code): every
score, ledger, timeline and fold state reads back exactly the same after it, the stored forms are the compact
ones and take less memory, scoring goes on exactly from them, and a contact that changes while it is being
rewritten is not overwritten."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.cli import main
from app.compaction import MIGRATION, SHORT_STATES, compact_all, compact_page, short_states_once
from app.ledger_history import hot_ledger
from app.scoring.fold import FoldState, fold
from app.scoring.profiles import parse_version_field
from app.scoring.records import is_compact_record
from app.storage.timelines import join_states
from tests.helpers import AUTH, settle

LAYOUT_V1 = Path(__file__).resolve().parent / "data" / "layout-v1.json"

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]


def load_layout_v1(services) -> list[str]:
    """Write the old release's keys as they were; returns the contact ids."""
    dump = json.loads(LAYOUT_V1.read_text())
    assert dump["settings"]["PARTITIONS"] == services.sharding.partitions
    pipe = services.redis.pipeline(transaction=False)
    old_prefix = "sk:"
    for key, (kind, value) in dump["keys"].items():
        key = services.keys.prefix + ":" + key[len(old_prefix):]
        if kind == "hash":
            pipe.hset(key, mapping=value)
        elif kind == "list":
            pipe.rpush(key, *value)
        elif kind == "set":
            pipe.sadd(key, *value)
        elif kind == "zset":
            pipe.zadd(key, dict(value))
        else:
            pipe.set(key, value)
    pipe.execute()
    return [cid for page in services.contacts.contact_pages(1000) for cid in page]


def layout_v1_written_ms() -> int:
    """When the dump was written (its contacts' latest ``created_at``): a test whose answer depends on expiries and
    decay falling due reads the dump with its clock there, so it answers the same on any day after."""
    keys = json.loads(LAYOUT_V1.read_text())["keys"]
    return max(int(value["created_at"]) for kind, value in keys.values()
               if kind == "hash" and isinstance(value, dict) and "created_at" in value)


def to_each_contact(client, contact_ids, types) -> list[dict]:
    """An interaction of each of these types to each contact, which it names by its email (read through the API)."""
    emails = [client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["email"] for cid in contact_ids]
    return [{"id": f"late-{i}", "source": "crm", "type": t, "contact": {"email": email},
             "properties": {"message_id": "m9", "path": "/x", "plan": "pro"}}
            for i, email in enumerate(emails) for t in types]


def post_and_score(client, services, items) -> None:
    """Send the interactions through the API and score them."""
    assert client.post("/v1/interactions", json={"interactions": items}, headers=AUTH).status_code == 202
    settle(services)


def everything(client, services, contact_ids):
    """What readers give back for each contact: the API's contact (scores) and ledger, the decoded timeline,
    the fold states and each ledger as its reader gives it (the stored list while there is one, else the fold of
    the timeline: app/ledger_history.py)."""
    out = {}
    timelines = services.timelines.read_timelines(contact_ids)
    states = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        contact = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()
        history = client.get(f"/v1/contacts/{cid}/scores/engagement/history?limit=1000", headers=AUTH).get_json()
        out[cid] = {
            "contact": contact, "history": history,
            "timeline": sorted(timelines[cid], key=lambda r: r.key),
            "states": {f: FoldState.from_json(json.loads(v), services.profiles.version(*parse_version_field(f)))
                       for f, v in states[cid].items() if f != "_rev"},  # rule ids read with the version's rules
            "rev": states[cid]["_rev"],
            "ledger": hot_ledger(services, cid, services.profiles.live()["engagement"])[0],
        }
    return out


def memory(services, contact_ids) -> int:
    return sum(services.redis.memory_usage(key, samples=0) or 0 for cid in contact_ids
               for key in (services.keys.timeline(cid), services.keys.states_before(cid), services.keys.contact(cid),
                           services.keys.ledger(cid, "engagement", 1)))


def test_the_migration_rewrites_the_old_releases_data_into_the_compact_forms_and_every_reader_gives_the_same(
        runner, monkeypatch, client, services):
    contact_ids = load_layout_v1(services)
    assert len(contact_ids) == 40
    before = everything(client, services, contact_ids)
    assert all(b["history"]["items"] and b["contact"]["scores"] for b in before.values())
    old_bytes = memory(services, contact_ids)
    stored = services.timelines.read_stored(contact_ids)
    old_forms = sum(not is_compact_record(json.loads(v)) for c in stored.values() for v in c.timeline.values())
    assert old_forms > 400  # all but the custom type's (stored by name either way)

    monkeypatch.setenv("SCOREKEEPER_STORE_URL", services.settings["STORE_URL"])  # the cluster, when it runs on one
    result = runner.invoke(main, ["compact"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"contacts rewritten 40: timeline records {old_forms}," in result.output
    assert "compacting" in result.output  # the progress bar

    assert everything(client, services, contact_ids) == before  # scores, ledgers, timelines, states; _rev kept
    stored = services.timelines.read_stored(contact_ids)
    assert all(is_compact_record(json.loads(v)) for c in stored.values() for v in c.timeline.values())
    # the fold of each timeline gives its stored ledger exactly: every list is dropped (nothing stores one now)
    assert "ledgers dropped 40" in result.output
    assert not any(c.ledgers.get("engagement@1") for c in stored.values())
    assert memory(services, contact_ids) < 0.75 * old_bytes
    # every fold state longer than a listpack value is stored in pieces: each states hash keeps the compact encoding
    assert {services.redis.object("encoding", services.keys.states_before(cid)) for cid in contact_ids} == {"listpack"}
    assert services.jobs.migration_done(MIGRATION)
    assert compact_all(services)["contacts"] == 0  # again: nothing left to rewrite


def test_a_migration_stopped_half_way_serves_the_same_meanwhile_and_the_next_run_finishes_it(
        runner, monkeypatch, client, services):
    """Stopped after half the contacts (a killed command: each contact is rewritten whole, atomically, or not at
    all), the store holds both forms: every reader gives what it gave before; the command run again rewrites only
    the rest and records the migration, and a third run rewrites nothing."""
    contact_ids = load_layout_v1(services)
    before = everything(client, services, contact_ids)
    half = contact_ids[: len(contact_ids) // 2]
    assert compact_page(services, half)["contacts"] == len(half)  # what the stopped run did
    assert not services.jobs.migration_done(MIGRATION)
    assert everything(client, services, contact_ids) == before  # served the same while it is half done
    monkeypatch.setenv("SCOREKEEPER_STORE_URL", services.settings["STORE_URL"])  # the cluster, when it runs on one
    result = runner.invoke(main, ["compact"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"contacts rewritten {len(contact_ids) - len(half)}:" in result.output
    assert everything(client, services, contact_ids) == before
    assert services.jobs.migration_done(MIGRATION)
    result = runner.invoke(main, ["compact"], catch_exceptions=False)
    assert "contacts rewritten 0:" in result.output


def test_scoring_goes_on_exactly_from_the_compacted_states(client, services):
    contact_ids = load_layout_v1(services)
    compact_all(services)
    now = services.clock.now_ms()
    post_and_score(client, services,
                   to_each_contact(client, contact_ids, ("email.clicked", "form.submitted", "email.opened")))
    profile = services.profiles.active()[0].profile
    timelines = services.timelines.read_timelines(contact_ids)
    states = services.timelines.read_states(contact_ids)
    for cid in contact_ids:
        state, ledger = fold(profile, timelines[cid], now)
        assert FoldState.from_json(json.loads(states[cid]["engagement@1"])).score == state.score
        stored, _whole = hot_ledger(services, cid, services.profiles.live()["engagement"])
        assert [(e["interaction_id"], e["reason"], e["score"]) for e in stored][:3] == \
            [(e.interaction_id, e.reason, e.score) for e in reversed(ledger)][:3]


def test_a_contact_that_changes_while_it_is_rewritten_is_read_again_not_overwritten(client, services):
    contact_ids = load_layout_v1(services)
    cid = contact_ids[0]
    email = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["email"]
    read = services.timelines.read_stored([cid])[cid]
    item = {"id": "meanwhile", "source": "crm", "type": "form.submitted", "contact": {"email": email}}
    assert client.post("/v1/interactions", json=item, headers=AUTH).status_code == 202
    settle(services)  # scored between the migration's read and its write: `_rev` moved
    assert not services.timelines.rewrite_stored(cid, read.rev, {k: "[0,0]" for k in read.timeline}, {}, {}, {})
    now = services.timelines.read_stored([cid])[cid].timeline
    assert {k: v for k, v in now.items() if k != "crm:meanwhile"} == read.timeline  # untouched

    before = everything(client, services, [cid])
    assert compact_page(services, [cid])["contacts"] == 1  # read again, then rewritten
    after = everything(client, services, [cid])
    assert after == before
    assert [e["interaction_id"] for e in after[cid]["ledger"]][0] == "meanwhile"


def test_a_checkpoint_at_the_hot_horizon_in_the_old_form_is_compacted_and_reads_the_same(services):
    contact_ids = load_layout_v1(services)
    cid = contact_ids[1]
    old_state = services.timelines.read_states([cid])[cid]["engagement@1"]  # as the old release wrote it
    assert FoldState.from_json(json.loads(old_state)).to_json() != json.loads(old_state)  # the long form
    services.redis.hset(services.keys.horizon(cid), mapping={"c": "5", "a": '{"plan":"pro"}',
                                                             "engagement@1": old_state})
    before = services.timelines.read_horizons([cid])[cid]
    assert compact_page(services, [cid])["contacts"] == 1
    stored = services.redis.hgetall(services.keys.horizon(cid))
    whole = join_states(stored)  # a checkpoint longer than a listpack value is stored in pieces, like a fold state
    assert len(whole["engagement@1"]) < len(old_state) and whole["c"] == "5" and whole["a"] == '{"plan":"pro"}'
    assert len(stored) > len(whole) and services.redis.object("encoding", services.keys.horizon(cid)) == "listpack"
    after = services.timelines.read_horizons([cid])[cid]
    after.checkpoints["engagement@1"].bind(services.profiles.version("engagement", 1))  # the rule ids: their index
    assert after == before


def test_the_states_migration_interns_the_old_releases_rule_ids_and_every_reader_gives_the_same(client, services):
    """``short_states_once`` (a layout migration: app/contact_layout.py) rewrites the fold states, each rule id as
    its index in the version's rules; scores, ledgers, timelines and states read the same, in fewer bytes."""
    contact_ids = load_layout_v1(services)
    before = everything(client, services, contact_ids)
    old_bytes = memory(services, contact_ids)
    assert short_states_once(services) == 40
    assert everything(client, services, contact_ids) == before
    assert memory(services, contact_ids) < old_bytes
    for states in services.timelines.read_states(contact_ids).values():
        for vfield, raw in states.items():
            assert vfield == "_rev" or not {"h", "H", "o", "p", "P", "d", "D", "f"} & json.loads(raw).keys()
    assert services.jobs.migration_done(SHORT_STATES) and short_states_once(services) is None


#: What a fold state holds in the release before's form (which its workers read), and what only this release reads.
FORM_BEFORE, FORM_INTERNED = {"H", "o", "P", "D", "f"}, {"T", "O", "E", "K", "F"}


def stored_forms(services, contact_ids) -> set[str]:
    """The rule-bearing fields of every stored fold state of these contacts, and ``l3`` for a whole ``l``."""
    keys: set[str] = set()
    for states in services.timelines.read_states(contact_ids).values():
        for vfield, raw in states.items():
            if vfield != "_rev":
                data = json.loads(raw)
                keys |= (data.keys() & (FORM_BEFORE | FORM_INTERNED)) | ({"l3"} if len(data.get("l", ())) == 3 else set())
    return keys


def test_states_are_written_in_the_release_befores_form_until_the_migration_is_recorded(client, services):
    """A process of this release writes before its workers' wait ends (a web process's manual change or attribute
    change, scored at once), while workers of the release before still fold, and they read none of the interned
    fields: until ``short_states_once`` is recorded, states are written in their form (it read every field of it
    the same); from then on, interned."""
    contact_ids = load_layout_v1(services)
    before = everything(client, services, contact_ids)
    types = ("email.clicked", "form.submitted", "email.opened")
    post_and_score(client, services, to_each_contact(client, contact_ids, types))
    written = stored_forms(services, contact_ids)
    assert written & FORM_BEFORE and "l3" in written and not written & FORM_INTERNED
    assert everything(client, services, contact_ids) != before  # (scored: the states were written again)

    assert short_states_once(services) is not None
    post_and_score(client, services, [{**item, "id": f"{item['id']}-{n}-2"}
                                      for n, item in enumerate(to_each_contact(client, contact_ids, types))])
    written = stored_forms(services, contact_ids)
    assert written & FORM_INTERNED and not written & FORM_BEFORE and "l3" not in written


@pytest.mark.parametrize("recorded", [pytest.param(False, id="before-the-record"),
                                      pytest.param(True, id="after-the-record")])
def test_compact_writes_states_in_the_form_the_scorer_writes(runner, monkeypatch, client, services, recorded):
    """``scorekeeper compact`` run by hand during a rolling deploy, while workers of the release before still fold:
    until ``short_states_once`` is recorded, the states it rewrites are in their form (every field of it the same),
    as the scorer's are; from then on, interned."""
    contact_ids = load_layout_v1(services)
    before = everything(client, services, contact_ids)
    if recorded:
        services.jobs.record_migration(SHORT_STATES, services.clock.now_ms())
    monkeypatch.setenv("SCOREKEEPER_STORE_URL", services.settings["STORE_URL"])  # the cluster, when it runs on one
    result = runner.invoke(main, ["compact"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "fold states 0," not in result.output  # (the old release's states are rewritten either way)
    assert everything(client, services, contact_ids) == before
    written = stored_forms(services, contact_ids)
    if recorded:
        assert written & FORM_INTERNED and not written & FORM_BEFORE
    else:  # (interned before: the workers of the release before read none of those fields)
        assert {"H", "D"} <= written and "l3" in written and not written & FORM_INTERNED  # ("h", "d" in the old)
