"""Score semantics that live outside the pure fold: the ingest memory and DND changes made by hand.

Real Redis, the real API and dashboard; every expected value is written out by hand.
"""
from __future__ import annotations

import pytest

from app.scoring.interactions import format_timestamp

from .clock import CLOCK_START
from .helpers import AUTH, contact_by_email, publish_profile, score_of, send, settle
from .dashboard_helpers import post, sign_in

T0 = CLOCK_START  # where the clock fixture starts
PERIOD_S = 100
OPEN = {"id": "open", "on": "email.opened", "points": 5}
DND_ALL = {"id": "dnd-all", "on": "contact.dnd_updated", "points": -3, "where": {"all_channels": True}}


def opened(id_, email="r@x.io"):
    return {"id": id_, "type": "email.opened", "contact": {"email": email}, "occurred_at": format_timestamp(T0)}


@pytest.fixture
def timed(make_app, clock):
    app = make_app(CLOCK=clock, SEEN_SECONDS=PERIOD_S)
    with app.app_context():
        yield app.test_client(), app.extensions["scorekeeper"]


def test_ingest_remembers_an_id_through_the_next_period(timed, clock):
    client, services = timed
    publish_profile(client, services, "eng", [OPEN])
    assert send(client, opened("x")) == {"accepted": 1, "duplicates": 0}
    clock.advance(PERIOD_S * 1000 - 1)  # last ms of the same period
    assert send(client, opened("x")) == {"accepted": 0, "duplicates": 1}
    clock.advance(1)  # first ms of the next period: answered from the previous period's ids
    assert send(client, opened("x")) == {"accepted": 0, "duplicates": 1}
    clock.advance(PERIOD_S * 1000 - 1)  # last ms of the next period
    assert send(client, opened("x")) == {"accepted": 0, "duplicates": 1}
    settle(services)
    assert score_of(client, "r@x.io", "eng") == 5


def test_a_repeat_after_the_ingest_memory_is_accepted_but_scored_once(timed, clock):
    client, services = timed
    publish_profile(client, services, "eng", [OPEN])
    send(client, opened("x"))
    settle(services)
    clock.advance(2 * PERIOD_S * 1000)  # two periods on: the ingest memory has forgotten "x"
    assert send(client, opened("x")) == {"accepted": 1, "duplicates": 0}
    settle(services)
    assert score_of(client, "r@x.io", "eng") == 5
    cid = contact_by_email(client, "r@x.io")["id"]
    ledger = client.get(f"/v1/contacts/{cid}/scores/eng/history", headers=AUTH).get_json()["items"]
    assert [(e["interaction_id"], e["change"]) for e in ledger] == [("x", 5)]


def dnd_records(services, cid):
    timeline = services.timelines.read_timelines([cid])[cid]
    return [(r.properties["channels"], r.properties["all_channels"]) for r in timeline if r.type == "contact.dnd_updated"]


@pytest.fixture
def contact(client, services):
    publish_profile(client, services, "eng", [OPEN, DND_ALL])
    send(client, opened("o1", "d@x.io"), opened("o2", "d@x.io"))
    settle(services)
    return contact_by_email(client, "d@x.io")["id"]


def test_a_dnd_patch_with_one_channel_of_two_on_is_not_all_channels(client, services, contact):
    resp = client.patch(f"/v1/contacts/{contact}", headers=AUTH, json={"dnd": {"email": True, "sms": False}})
    assert resp.status_code == 200
    settle(services)
    assert dnd_records(services, contact) == [({"email": True, "sms": False}, False)]
    assert score_of(client, "d@x.io", "eng") == 10


def test_a_dnd_patch_with_every_channel_given_on_is_all_channels(client, services, contact):
    client.patch(f"/v1/contacts/{contact}", headers=AUTH, json={"dnd": {"email": True, "sms": True}})
    settle(services)
    assert dnd_records(services, contact) == [({"email": True, "sms": True}, True)]
    assert score_of(client, "d@x.io", "eng") == 7


def test_a_dashboard_dnd_change_records_every_shown_channel(app, client, services, contact):
    dash = app.test_client()
    assert sign_in(dash).status_code == 302
    post(dash, f"/dashboard/contacts/{contact}/dnd", {"channel": ["email", "sms"], "dnd-email": "on"})
    settle(services)
    assert dnd_records(services, contact) == [({"email": True, "sms": False}, False)]
    assert score_of(client, "d@x.io", "eng") == 10
    post(dash, f"/dashboard/contacts/{contact}/dnd", {"channel": ["email", "sms"], "dnd-email": "on", "dnd-sms": "on"})
    settle(services)
    assert ({"email": True, "sms": True}, True) in dnd_records(services, contact)
    assert score_of(client, "d@x.io", "eng") == 7


def test_an_unchanged_dashboard_dnd_form_records_nothing(app, services, contact):
    dash = app.test_client()
    assert sign_in(dash).status_code == 302
    post(dash, f"/dashboard/contacts/{contact}/dnd", {"channel": ["email", "sms"]})
    settle(services)
    assert dnd_records(services, contact) == []
