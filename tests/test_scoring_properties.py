"""Property: whatever arrives, in any order, in any batches, repeated within or after the ingest
memory, with time moving on between batches, every contact's live score is the reference fold's
score at that moment (tests/reference.py, independent of app.scoring) — and a publish recompute
gives the same. The ingest's accepted/duplicate answers follow its documented memory: an id is
remembered through the period after the one it was accepted in.

Real API, real Redis, the worker's jobs in this process, time driven by a manual clock (so
expiries are pending at one step and due at the next). Times sit on a 30-minute grid ±1 ms with
1 h expiries and windows, and the ingest period is 30 minutes, so ties, exact edges and repeats
one and two periods later are common. DND arrives both as interactions and as
``PATCH /v1/contacts/{id}``, with mixed channels.

Deterministic (``derandomize``, see tests/conftest.py): every run tests the same 50 examples.
Measured by applying each mutant of issue 19 (docs/testing.md, "Finding the mutants"): the
first failing example is 3 for the PATCH DND recorded as all_channels, 36 for the ingest
forgetting the previous period, 3 for any-channel all_channels, 5 for an expiry reversing the
rule's points, 2 for same-millisecond arrival order, 3 for an expiry after its own
millisecond's entries, 3 for a closed rolling window. 50 examples take about 35 s on two
loaded cores.
"""
from __future__ import annotations

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import create_app
from app.scoring.interactions import format_timestamp

from .clock import ManualClock
from .conftest import TEST_REDIS_URL
from .helpers import AUTH, contact_by_email, expire_due, publish, publish_profile, score_of, send, settle
from .reference import reference_score
from .test_fold_properties import RULES

T0 = 1_700_000_000_000
GRID = 30 * 60_000
SEEN_SECONDS = 1800  # one ingest period = one grid step
EMAILS = ["a@x.io", "b@x.io"]
EXAMPLES = 50  # measured: every mutant of issue 19 fails by example 36 (module docstring)

_app = {}


def app_and_clock():
    """One app for all examples (the database is flushed before each); its clock is reset per example."""
    if not _app:
        clock = ManualClock(T0)
        app = create_app({"TESTING": True, "REDIS_URL": TEST_REDIS_URL, "API_KEYS": AUTH["Authorization"][7:],
                          "PARTITIONS": 2, "WORKFLOWS_DIR": "", "SEEN_SECONDS": SEEN_SECONDS, "CLOCK": clock})
        _app.update(app=app, clock=clock)
    return _app["app"], _app["clock"]


channels = st.dictionaries(st.sampled_from(["email", "sms", "whatsapp"]), st.booleans(), min_size=1, max_size=3)


@st.composite
def interaction(draw):
    kind = draw(st.sampled_from(["email.opened", "email.clicked", "email.clicked", "email.unsubscribed",
                                 "payment.succeeded", "contact.dnd_updated", "form.submitted"]))
    props = {}
    if kind == "payment.succeeded":
        props = {"plan": draw(st.sampled_from(["pro", "free"])), "order": draw(st.sampled_from(["o1", "o2"]))}
    elif kind == "contact.dnd_updated":
        props = {"channels": draw(channels)}
    return {"type": kind, "properties": props, "email": draw(st.sampled_from(EMAILS)),
            "at": T0 + draw(st.integers(0, 4)) * GRID + draw(st.sampled_from([0, 0, 0, -1, 1]))}


@st.composite
def histories(draw):
    """Steps of (clock advance, batch of interactions, optional PATCH of DND channels)."""
    originals = draw(st.lists(interaction(), min_size=3, max_size=12))
    # echoes: the same interaction exactly one or two grid steps (a window, an expiry) later
    echoes = draw(st.lists(st.tuples(st.sampled_from(originals), st.sampled_from([GRID, 2 * GRID])), max_size=3))
    originals += [{**o, "at": o["at"] + shift} for o, shift in echoes]
    ids = draw(st.permutations("abcdefghijklmnop"))  # sort order unrelated to arrival order
    items = [{**o, "source": draw(st.sampled_from(["api", "api-v2"])), "id": id_} for o, id_ in zip(originals, ids)]
    sent = items + draw(st.lists(st.sampled_from(items), max_size=6))  # repeats
    order = draw(st.permutations(sent))
    cuts = sorted(set(draw(st.lists(st.integers(1, len(order)), max_size=3))) | {len(order)})
    steps, start = [], 0
    for cut in cuts:
        advance = draw(st.sampled_from([0, 1, GRID - 1, GRID, 2 * GRID, 3 * GRID]))
        patch = draw(st.none() | st.tuples(st.sampled_from(EMAILS), channels))
        steps.append((advance, order[start:cut], patch))
        start = cut
    return steps


def as_api(item):
    return {"id": item["id"], "source": item["source"], "type": item["type"], "contact": {"email": item["email"]},
            "occurred_at": format_timestamp(item["at"]), "properties": item["properties"]}


def as_record(item):
    return {"id": item["id"], "src": item["source"], "t": item["type"], "at": item["at"], "p": item["properties"]}


def stored_patch_id(services, contact_id, at):
    """The id the API gave the DND change it recorded at ``at`` (only the id is read back)."""
    timeline = services.timelines.read_timelines([contact_id])[contact_id]
    return next(r.id for r in timeline if r.id.startswith("dnd-") and r.at == at)


# A guard against a hang, not a budget (the suite's 120 s is one): 46 s in a fresh clone's suite, 75 s under load 8
# (2026-12-04 21:35 UTC); docs/testing.md.
@pytest.mark.timeout(600)
@settings(max_examples=EXAMPLES, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_live_scores_follow_the_reference_at_every_step_and_after_a_recompute(steps):
    app, clock = app_and_clock()
    redis.Redis.from_url(TEST_REDIS_URL).flushdb()
    clock.ms = T0
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        publish_profile(client, services, "eng", RULES)
        timeline: dict[str, dict[tuple, dict]] = {email: {} for email in EMAILS}
        accepted_in: dict[tuple, int] = {}
        for advance, batch, patch in steps:
            clock.advance(advance)
            period = clock.now_ms() // 1000 // SEEN_SECONDS
            duplicates = 0
            for item in batch:
                key = (item["source"], item["id"])
                if key in accepted_in and period - accepted_in[key] <= 1:
                    duplicates += 1
                else:
                    accepted_in[key] = period
                timeline[item["email"]][key] = as_record(item)
            if batch:
                assert send(client, *map(as_api, batch)) == {"accepted": len(batch) - duplicates,
                                                             "duplicates": duplicates}
            settle(services)
            if patch and timeline[patch[0]]:
                email, given_channels = patch
                cid = contact_by_email(client, email)["id"]
                resp = client.patch(f"/v1/contacts/{cid}", json={"dnd": given_channels}, headers=AUTH)
                assert resp.status_code == 200
                settle(services)
                id_ = stored_patch_id(services, cid, clock.now_ms())
                timeline[email][("api", id_)] = {"id": id_, "src": "api", "t": "contact.dnd_updated",
                                                 "at": clock.now_ms(), "p": {"channels": given_channels}}
            expire_due(services)
            for email in EMAILS:
                mine = list(timeline[email].values())
                expected = reference_score(RULES, mine, now=clock.now_ms(), profile="eng") if mine else None
                assert score_of(client, email, "eng") == expected, (email, clock.now_ms() - T0)
        live = {email: score_of(client, email, "eng") for email in EMAILS}
        publish(client, services, "eng")  # recompute from history: the same scores
        assert {email: score_of(client, email, "eng") for email in EMAILS} == live
