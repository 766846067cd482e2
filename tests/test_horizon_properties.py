"""Property: across the hot horizon, scores stay exact. The scenario of tests/test_scoring_properties.py
(interactions in any order and batches, repeats, DND by API and PATCH, time moving on between batches), with
``HOT_HISTORY`` so short that the trim pass (run after every step, as the ticker would) moves each contact's
horizon to one hour back (the longest rule window and expiry: the effective horizon is never shorter):
records older than it leave Redis once archived, late ones older than it are folded again from the archive,
repeats of records that left Redis change nothing, and the publish recompute reads the archive. At every step
each live score is the reference fold's over all history (tests/reference.py), and the recompute agrees. The
interactions carry properties no rule reads, which Redis leaves out of its copies once archived; a version published
last reads them, and its recompute and a late interaction's refold must still be the reference's.

Deterministic (``derandomize``): the same 40 examples every run, on each archive backend (an SQLite file, the real
PostgreSQL).
"""
from __future__ import annotations

import os

import psycopg
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.contact_layout import kept_properties_once
from app.horizon import trim_all
from app.scoring.kept_properties import WHOLE_TYPES, lacks, reads_of
from app.scoring.profiles import profile_from_dict

from . import test_scoring_properties as base
from .clock import ManualClock
from .conftest import TEST_REDIS_URL
from .helpers import AUTH, contact_by_email, expire_due, publish, publish_profile, put_profile, score_of, send, settle
from .reference import reference_score
from .test_fold_properties import RULES

HOUR = 3_600_000
_apps: dict = {}


def app_and_clock(archive_url: str):
    """One app per archive (each example starts from a flushed Redis and an emptied archive)."""
    if archive_url not in _apps:
        clock = ManualClock(base.T0)
        app = create_app({"TESTING": True, "REDIS_URL": TEST_REDIS_URL, "API_KEYS": AUTH["Authorization"][7:],
                          "PARTITIONS": 2, "WORKFLOWS_DIR": "", "SEEN_SECONDS": base.SEEN_SECONDS, "CLOCK": clock,
                          "HOT_HISTORY": "1s", "ARCHIVE_URL": archive_url})
        _apps[archive_url] = (app, clock)
    return _apps[archive_url]


def fresh_archive(services, archive_url: str) -> None:
    """Each example starts with an empty archive (contact ids follow from emails, so they repeat)."""
    services.archive.close()
    if archive_url.startswith("sqlite"):
        path = archive_url.partition("://")[2][1:]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        return
    services.archive.count()  # its schema made
    services.archive.close()
    with psycopg.connect(archive_url, autocommit=True) as conn:
        conn.execute("TRUNCATE interactions")


# A guard against a hang, not a budget (the suite's 120 s is one): 43 s in a fresh clone's suite, 84-148 s under
# load 6-10 (2026-12-04 21:25-21:45 UTC); 45-60 s a backend on 2026-12-06; docs/testing.md.
@pytest.mark.timeout(600)
def test_scores_follow_the_reference_across_the_hot_horizon(archive_url):
    """Every example checks the scores (``one_history``); then the run checks that the examples crossed the
    horizon in each way the issue names, so a generator that drifted (times that never fall behind the horizon)
    cannot pass by checking only hot history: records that left Redis, late interactions older than the horizon
    when they arrived, repeats of records that had left, records on both sides of the horizon when the publish
    recomputes, and copies in Redis without a property the version published last reads."""
    seen: list[dict[str, int]] = []
    one_history(archive_url, seen)
    examples_with = {what: sum(1 for example in seen if example[what]) for what in COVERED}
    # measured 2026-12-06: 29, 11, 21 and 9 of the 40 examples (derandomized: the same every run, but the seed follows
    # the source of one_history, so an edit of it draws other examples: hence a floor, not these numbers)
    assert len(seen) >= 40 and all(examples_with[what] >= 5 for what in COVERED), (len(seen), examples_with)


@st.composite
def across_the_horizon(draw):
    """The steps of ``base.histories``, with the clock moved on further between them: its interactions span three
    hours and the horizon is one hour back, so without it most examples never trimmed anything (9 of 40 had a
    record leave Redis, 3 a late interaction older than the horizon, 1 a repeat of a record that had left); and a
    last step that sends some of them again later."""
    steps = draw(base.histories())
    more = draw(st.lists(st.sampled_from([0, 0, HOUR, 2 * HOUR, 3 * HOUR]), min_size=len(steps), max_size=len(steps)))
    steps = [(advance + extra, [unread(item) for item in batch], patch)
             for (advance, batch, patch), extra in zip(steps, more)]
    # and, often, some of them sent again hours later, when most have left Redis (a repeat must change nothing)
    sent = [item for _advance, batch, _patch in steps for item in batch]
    again = draw(st.lists(st.sampled_from(sent), max_size=3)) if sent else []
    if again:
        steps.append((draw(st.sampled_from([HOUR, 2 * HOUR, 4 * HOUR])), again, None))
    return steps


def unread(item: dict) -> dict:
    """The interaction with properties ``RULES`` does not read, which Redis therefore leaves out of its copy once
    archived (app/scoring/kept_properties.py) and ``RULES_LATER`` reads: a click's or an open's campaign, a
    payment's reference (each a function of the interaction's id, so a repeat carries the same)."""
    pick = sum(map(ord, item["id"]))
    if item["type"] in ("email.clicked", "email.opened"):
        return {**item, "properties": {**item["properties"], "campaign": CAMPAIGNS[pick % 2]}}
    if item["type"] == "payment.succeeded":
        return {**item, "properties": {**item["properties"], "ref": f"ch_3MtwBwLkdIwHu7ix28a3tqP{pick % 3}"}}
    return item


#: Long enough that leaving them out of a copy is worth it (``kept_properties.MIN_SAVED_BYTES``).
CAMPAIGNS = ("spring-newsletter-week-12", "autumn-newsletter-week-40")


#: A version published after the history, reading names ``RULES`` did not (so no copy in Redis kept them).
RULES_LATER = [*RULES, {"id": "spring", "on": "email.clicked", "points": 4, "where": {"campaign": CAMPAIGNS[0]}},
               {"id": "ref", "on": "payment.succeeded", "points": 6, "limit": {"once_per": "ref"}}]

#: What an example may do across the horizon (counted per example by ``one_history``).
COVERED = ("left_redis", "late_before_horizon", "repeat_of_left", "recompute_across", "hot_copy_lacks_later_read")


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                   HealthCheck.function_scoped_fixture])
@given(steps=across_the_horizon())
def one_history(archive_url, seen, steps):
    app, clock = app_and_clock(archive_url)
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    clock.ms = base.T0
    client = app.test_client()
    covered = dict.fromkeys(COVERED, 0)
    left: set[tuple[str, str, str]] = set()  # (email, source, id) of records that left Redis
    with app.app_context():
        services = app.extensions["scorekeeper"]
        fresh_archive(services, archive_url)
        kept_properties_once(services)  # (as a worker's start does: Redis keeps only what the rules read)
        publish_profile(client, services, "eng", RULES)
        timeline: dict[str, dict[tuple, dict]] = {email: {} for email in base.EMAILS}
        for advance, batch, patch in steps:
            clock.advance(advance)
            for item in batch:
                key = (item["email"], item["source"], item["id"])
                covered["repeat_of_left"] += key in left
                contact = contact_by_email(client, item["email"])
                horizon = services.timelines.read_horizons([contact["id"]])[contact["id"]] if contact else None
                covered["late_before_horizon"] += bool(horizon and item["at"] < horizon.at
                                                       and (item["source"], item["id"]) not in timeline[item["email"]])
                timeline[item["email"]].setdefault((item["source"], item["id"]), base.as_record(item))
            if batch:
                send(client, *map(base.as_api, batch))
            settle(services)
            if patch and timeline[patch[0]]:
                email, given_channels = patch
                cid = contact_by_email(client, email)["id"]
                assert client.patch(f"/v1/contacts/{cid}", json={"dnd": given_channels}, headers=AUTH).status_code == 200
                settle(services)
                id_ = base.stored_patch_id(services, cid, clock.now_ms())
                timeline[email][("api", id_)] = {"id": id_, "src": "api", "t": "contact.dnd_updated",
                                                 "at": clock.now_ms(), "p": {"channels": given_channels}}
            expire_due(services)
            trim_all(services, clock.now_ms())  # the ticker's trim pass
            for email in base.EMAILS:
                mine = list(timeline[email].values())
                expected = reference_score(RULES, mine, now=clock.now_ms(), profile="eng") if mine else None
                assert score_of(client, email, "eng") == expected, (email, clock.now_ms() - base.T0)
                contact = contact_by_email(client, email)
                if contact:  # what Redis still holds is from the horizon on (nothing waits for the archive here)
                    hot = services.timelines.read_timelines([contact["id"]])[contact["id"]]
                    oldest = min((r.at for r in hot), default=None)
                    assert oldest is None or oldest >= clock.now_ms() - HOUR
                    # and of each interaction only what the rules read (all of it is archived)
                    assert all(set(r.properties) <= READ.get(r.type, set()) for r in hot if r.type not in WHOLE_TYPES)
                    gone = {(email, source, id_) for source, id_ in timeline[email]} - {
                        (email, r.source, r.id) for r in hot}
                    covered["left_redis"] += len(gone - left)
                    left |= gone
        for email in base.EMAILS:
            contact = contact_by_email(client, email)
            if contact:
                hot = services.timelines.read_timelines([contact["id"]])[contact["id"]]
                covered["recompute_across"] += bool(hot) and any(key[0] == email for key in left)
        live = {email: score_of(client, email, "eng") for email in base.EMAILS}
        publish(client, services, "eng")  # recompute from the archive: the same scores
        assert {email: score_of(client, email, "eng") for email in base.EMAILS} == live
        # a version reading what Redis left out: its recompute, then a late click inside the horizon (a refold)
        later_reads = reads_of([profile_from_dict({"id": "eng", "rules": RULES_LATER})])
        for email in base.EMAILS:
            contact = contact_by_email(client, email)
            if contact:
                hot = services.timelines.read_timelines([contact["id"]])[contact["id"]]
                covered["hot_copy_lacks_later_read"] += lacks(hot, later_reads)
        put_profile(client, "eng", RULES_LATER)
        publish(client, services, "eng")
        expect_later(client, timeline, clock.now_ms())
        email = base.EMAILS[0]
        late = {"id": "late", "source": "api", "type": "email.clicked", "email": email,
                "at": clock.now_ms() - HOUR // 2, "properties": {"campaign": CAMPAIGNS[0]}}
        timeline[email].setdefault(("api", "late"), base.as_record(late))
        send(client, base.as_api(late))
        settle(services)
        expect_later(client, timeline, clock.now_ms())
    seen.append(covered)


#: What ``RULES`` reads of each type (what Redis keeps of an interaction once archived).
READ = {type_: set(names) for type_, names in reads_of([profile_from_dict({"id": "eng", "rules": RULES})]).items()}


def expect_later(client, timeline: dict, now: int) -> None:
    for email in base.EMAILS:
        mine = list(timeline[email].values())
        expected = reference_score(RULES_LATER, mine, now=now, profile="eng") if mine else None
        assert score_of(client, email, "eng") == expected, email
