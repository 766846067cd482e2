"""The ledger is not stored (app/ledger_history.py): it is the fold of the contact's timeline, made when it is read,
up to the moment the contact's fold state reached. It reads what the scorer's writes used to store — an expiry the
ticker has not applied yet is not in it, one it applied is — and a ledger list an earlier release stored reads as
it was until the contact is scored again, which deletes it; the ledger then goes on from the timeline exactly."""
from __future__ import annotations

import json

import pytest

from app.ledger_history import hot_ledger
from app.scoring.fold import fold
from app.scoring.interactions import format_timestamp

from .clock import CLOCK_START, ManualClock
from .conftest import TEST_REDIS_URL
from .helpers import AUTH, contact_by_email, expire_due, publish_profile, send, settle
from .test_compaction import layout_v1_written_ms, load_layout_v1

DAY = 86_400_000
RULES = [{"id": "open", "on": "email.opened", "points": 1},
         {"id": "click", "on": "email.clicked", "points": 5, "expires_after": "2d"}]


def history(client, cid: str, profile: str) -> list[tuple]:
    items = client.get(f"/v1/contacts/{cid}/scores/{profile}/history?limit=1000", headers=AUTH).get_json()["items"]
    return [(e["interaction_id"], e["reason"], e["change"], e["score"]) for e in items]


@pytest.mark.app_settings(HOT_HISTORY="0")
def test_an_expiry_shows_in_the_ledger_once_the_ticker_applied_it_not_before(make_app, clock):
    app = make_app(CLOCK=clock)
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", RULES)
        send(client, *[{"id": id_, "source": "api", "type": t, "contact": {"email": "l@x.io"},
                        "occurred_at": format_timestamp(CLOCK_START + i * 1000)}
                       for i, (id_, t) in enumerate([("o1", "email.opened"), ("c1", "email.clicked")])])
        settle(services)
        cid = contact_by_email(client, "l@x.io")["id"]
        assert history(client, cid, "eng") == [("c1", "matched", 5, 6), ("o1", "matched", 1, 1)]
        clock.advance(3 * DAY)  # the click's expiry is due, but nothing has applied it yet
        assert history(client, cid, "eng") == [("c1", "matched", 5, 6), ("o1", "matched", 1, 1)]
        assert services.redis.keys("*ledger*") == []  # nothing stores a ledger
        expire_due(services)
        assert history(client, cid, "eng") == [("c1", "expired", -5, 1), ("c1", "matched", 5, 6),
                                               ("o1", "matched", 1, 1)]
        score = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["scores"]["eng"]["score"]
        assert score == 1




# the dump's own time: its stored lists end there, and a fold on a later day would add the expiries due since
@pytest.mark.app_settings(HOT_HISTORY="0", CLOCK=ManualClock(layout_v1_written_ms()))
@pytest.mark.also_on_cluster
def test_an_earlier_releases_ledger_list_reads_as_it_was_until_the_contact_is_scored_again(client, services):
    contact_ids = load_layout_v1(services)
    version = services.profiles.live()["engagement"]
    before = {cid: history(client, cid, "engagement") for cid in contact_ids}
    stored = {cid: services.timelines.ledger(cid, "engagement", 1, 0, 10_000) for cid in contact_ids}
    assert all(stored.values())  # the old release's lists, read as they are
    cid = contact_ids[2]
    email = client.get(f"/v1/contacts/{cid}", headers=AUTH).get_json()["email"]
    send(client, {"id": "after-upgrade", "source": "crm", "type": "form.submitted", "contact": {"email": email},
                  "occurred_at": format_timestamp(layout_v1_written_ms() + 1000)})
    settle(services)
    assert services.timelines.ledger(cid, "engagement", 1, 0, 10_000) == []  # gone with the contact's next write
    after = history(client, cid, "engagement")
    assert after[0][:2] == ("after-upgrade", "matched") and after[1:] == before[cid]
    timeline = services.timelines.read_timelines([cid])[cid]
    state = services.timelines.read_states([cid])[cid]["engagement@1"]
    _state, ledger = fold(version.profile, timeline, json.loads(state)["l"][0])
    assert after == [(e.interaction_id, e.reason, e.change, e.score) for e in reversed(ledger)]
    assert hot_ledger(services, cid, version)[1]  # whole: no horizon
    for other in contact_ids:  # the others still read their lists
        if other != cid:
            assert services.timelines.ledger(other, "engagement", 1, 0, 10_000) == stored[other]
            assert history(client, other, "engagement") == before[other]


def everything_stored(ours_only: bool = False) -> bytes:
    """Every key, field, member and value in the test's Redis database, as one byte string (``ours_only``: of
    Scorekeeper's keys that have no expiry, which stay until it deletes them; not RQ's, whose job records lapse
    and whose registries its workers clean)."""
    import redis

    raw = redis.Redis.from_url(TEST_REDIS_URL)  # bytes: some values are binary
    parts: list[bytes] = []
    for key in raw.scan_iter(count=1000):
        if ours_only and (key.startswith(b"rq:") or raw.ttl(key) != -1):
            continue
        kind = raw.type(key)
        parts.append(key)
        if kind == b"string":
            parts.append(raw.get(key))
        elif kind == b"hash":
            parts += [f + b"=" + v for f, v in raw.hgetall(key).items()]
        elif kind == b"list":
            parts += raw.lrange(key, 0, -1)
        elif kind == b"set":
            parts += raw.smembers(key)
        elif kind == b"zset":
            parts += raw.zrange(key, 0, -1)
        elif kind == b"stream":
            parts += [repr(fields).encode() for _id, fields in raw.xrange(key)]
    return b"\n".join(parts)


def test_an_interaction_is_stored_once_and_its_ledger_entries_are_not(client, services):
    """A ledger entry points at its interaction (the fold of the timeline makes it on read): after scoring, an
    interaction's properties are in Redis once (its timeline record; the stream entry left once archived), and no
    ledger is stored, though the ledger shows an entry for it, and one for its expiry. (The rules read ``campaign``:
    Redis keeps only the properties a rule reads, test_kept_properties.py.)"""
    publish_profile(client, services, "eng", [{**rule, "where": {"campaign": {"exists": True}}} for rule in RULES])
    marker = "campaign-7f3a9c"
    send(client, {"id": "c1", "type": "email.clicked", "contact": {"email": "l@x.io"},
                  "properties": {"campaign": marker}},
         {"id": "o1", "type": "email.opened", "contact": {"email": "l@x.io"}, "properties": {"campaign": marker}})
    settle(services)
    cid = contact_by_email(client, "l@x.io")["id"]
    assert sorted((i, r) for i, r, _c, _s in history(client, cid, "eng")) == [("c1", "matched"), ("o1", "matched")]
    stored = everything_stored()
    assert stored.count(marker.encode()) == 2  # the two records, each once
    assert not services.redis.exists(services.keys.ledger(cid, "eng", 1))
    assert b":ledger:" not in stored
