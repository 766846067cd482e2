"""The hot horizon (app/horizon.py, docs/archive.md "The hot horizon"): history older than ``HOT_HISTORY`` leaves
Redis once the archive holds it, the checkpoint at the horizon keeps every score exact, and whatever needs the
older history (a late interaction before the horizon, a repeat of one that left, a publish) reads the archive.
Run on both archive backends (SQLite, the real PostgreSQL) with the real Redis."""
from __future__ import annotations

import sqlite3

import orjson

import pytest

from app import ledger_history
from app.horizon import effective_horizon_ms, trim_all, trim_step
from app.scoring.interactions import format_timestamp

from .clock import CLOCK_START
from .helpers import AUTH, contact_by_email, publish, publish_profile, put_profile, score_of, send, settle
from .reference import reference_score

DAY = 86_400_000
RULES = [
    {"id": "open", "on": "email.opened", "points": 3},
    {"id": "click", "on": "email.clicked", "points": 7, "expires_after": "20d"},
    {"id": "form", "on": "form.submitted", "points": 5, "limit": {"count": 1, "window": "30d"}},
    {"id": "paid", "on": "payment.succeeded", "points": 20, "limit": {"once_per": "order"}},
]
EMAIL = "h@x.io"


def item(id_: str, type_: str, at: int, **props) -> dict:
    return {"id": id_, "source": "api", "type": type_, "contact": {"email": EMAIL}, "occurred_at": format_timestamp(at),
            "properties": props}


def as_record(sent: dict, at: int) -> dict:
    return {"id": sent["id"], "src": sent["source"], "t": sent["type"], "at": at, "p": sent["properties"]}


class World:
    """An app on the test clock with a 10-day hot horizon (the rules' 30-day window makes it 30 days)."""

    def __init__(self, make_app, clock, archive_url):
        self.app = make_app(CLOCK=clock, HOT_HISTORY="10d", ARCHIVE_URL=archive_url)
        self.clock = clock
        self.client = self.app.test_client()
        self.ctx = self.app.app_context()
        self.ctx.push()
        self.services = self.app.extensions["scorekeeper"]
        self.sent: dict[str, dict] = {}
        publish_profile(self.client, self.services, "eng", RULES)

    def send(self, *items: tuple[str, str, int, dict]) -> None:
        payload = [item(id_, type_, at, **props) for id_, type_, at, props in items]
        send(self.client, *payload)
        for (id_, _t, at, _p), one in zip(items, payload):
            self.sent.setdefault(id_, as_record(one, at))
        settle(self.services)

    def expected(self) -> int:
        return reference_score(RULES, list(self.sent.values()), now=self.clock.now_ms(), profile="eng")

    def reference_at(self, at: int) -> int:
        """The reference score of the records before ``at``, at ``at`` (what a checkpoint there holds)."""
        return reference_score(RULES, [r for r in self.sent.values() if r["at"] < at], now=at, profile="eng")

    def score(self) -> int | None:
        return score_of(self.client, EMAIL, "eng")

    def cid(self) -> str:
        return contact_by_email(self.client, EMAIL)["id"]

    def hot(self) -> dict[str, int]:
        return {r.id: r.at for r in self.services.timelines.read_timelines([self.cid()])[self.cid()]}

    def horizon(self):
        return self.services.timelines.read_horizons([self.cid()])[self.cid()]

    def ledger(self) -> list[dict]:
        from app.ledger_history import hot_ledger

        return hot_ledger(self.services, self.cid(), self.services.profiles.live()["eng"])[0]


@pytest.fixture
def world(make_app, clock, archive_url):
    made = World(make_app, clock, archive_url)
    yield made
    made.services.archive.close()
    made.ctx.pop()


def month_of_history(world: World) -> None:
    """Forty days of interactions, one every fourth day, then the clock at day 60."""
    t0 = CLOCK_START
    world.send(*[(f"o{d}", "email.opened", t0 + d * DAY, {}) for d in range(0, 40, 4)],
               ("c1", "email.clicked", t0 + 2 * DAY, {}), ("f1", "form.submitted", t0 + 3 * DAY, {}),
               ("p1", "payment.succeeded", t0 + 5 * DAY, {"order": "A"}))
    world.clock.advance(60 * DAY)
    settle(world.services)


def test_the_effective_horizon_is_never_shorter_than_a_live_window_expiry_or_decay(world):
    assert effective_horizon_ms(world.services.settings, world.services.profiles.active()) == 30 * DAY


def test_history_before_the_horizon_leaves_redis_once_archived_and_scores_stay_exact(world):
    month_of_history(world)
    before = world.score()
    assert before == world.expected() == 10 * 3 + 5 + 20  # the click expired
    assert len(world.ledger()) == 14  # 13 matches and the click's expiry
    counts = trim_all(world.services, world.clock.now_ms())
    horizon = world.clock.now_ms() - 30 * DAY
    assert counts["contacts"] == 1 and counts["waiting"] == 0
    assert world.horizon().at == horizon
    assert sorted(world.hot()) == ["o32", "o36"]  # day 32 and 36: from the horizon (day 30) on
    assert [e["interaction_id"] for e in world.ledger()] == ["o36", "o32"]
    assert world.score() == before
    assert world.horizon().checkpoints["eng@1"].score == before - 6
    # the checkpoint (longer than a listpack value) is stored in pieces: the horizon hash stays compact
    stored = world.services.redis.hgetall(world.services.keys.horizon(world.cid()))
    assert "eng@1#1" in stored and world.services.redis.object("encoding", world.services.keys.horizon(world.cid())) \
        == "listpack"
    # a late interaction after the horizon folds again from the checkpoint; one before it, from the archive
    world.send(("late-hot", "form.submitted", CLOCK_START + 31 * DAY, {}))
    assert world.score() == world.expected() == before  # limited: the form at day 3 is more than 30 days back
    world.send(("late-old", "payment.succeeded", CLOCK_START + 6 * DAY, {"order": "A"}),
               ("late-old2", "email.opened", CLOCK_START + 7 * DAY, {}))
    assert world.score() == world.expected() == before + 3  # once per order A: limited; the open scores
    assert world.horizon().checkpoints["eng@1"].score == before - 6 + 3
    trim_all(world.services, world.clock.now_ms())
    assert "late-old2" not in world.hot()  # archived by now: it leaves too


def test_a_record_exactly_at_the_horizon_is_in_the_next_checkpoint(world):
    """A record at the horizon's very moment stays hot (only records before it leave); when the horizon moves on,
    the new checkpoint folds it in, so a late interaction that refolds from that checkpoint still counts it."""
    world.send(("edge", "email.opened", CLOCK_START + 30 * DAY, {}))
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    assert world.horizon().at == CLOCK_START + 30 * DAY and "edge" in world.hot()
    world.clock.advance(5 * DAY)
    trim_all(world.services, world.clock.now_ms())
    assert world.horizon().at == CLOCK_START + 35 * DAY and "edge" not in world.hot()
    # after the horizon, before o36 (the newest applied): refolded from the checkpoint and the hot records
    world.send(("late", "email.opened", CLOCK_START + 35 * DAY + 1, {}))
    assert world.score() == world.expected()
    # a millisecond before the horizon: from the archive, into the checkpoint; at it: from the checkpoint
    world.send(("late-before", "email.opened", CLOCK_START + 35 * DAY - 1, {}))
    assert world.score() == world.expected() and world.horizon().checkpoints["eng@1"].score == world.reference_at(
        CLOCK_START + 35 * DAY)
    world.send(("late-at", "email.opened", CLOCK_START + 35 * DAY, {}))
    assert world.score() == world.expected() and "late-at" in world.hot()


def test_a_repeat_of_an_interaction_that_left_redis_changes_nothing(world):
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    score = world.score()
    world.send(("o0", "email.opened", CLOCK_START + 59 * DAY, {}), ("p1", "payment.succeeded", CLOCK_START + 59 * DAY,
                                                                    {"order": "B"}))
    assert world.score() == score == world.expected()
    assert "o0" not in world.hot() and "p1" not in world.hot()


def test_a_batch_scored_again_across_the_horizon_changes_nothing(world):
    """A replay: a worker scored and archived a batch for a contact with a horizon (a late interaction older than
    the horizon, one after it, one in order) and died before deleting its stream entries; the trim pass moved the
    archived ones out of Redis meanwhile; the next drain scores the same entries again: nothing counts twice."""
    from app.archiving import archive_batch
    from app.scoring_service import make_scorer, score_entries

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    items = [("r-old", "email.opened", CLOCK_START + 6 * DAY, {}), ("r-hot", "email.opened", CLOCK_START + 33 * DAY, {}),
             ("r-new", "form.submitted", CLOCK_START + 59 * DAY, {})]
    send(world.client, *[item(id_, type_, at, **props) for id_, type_, at, props in items])
    for id_, _type, at, _props in items:
        world.sent[id_] = as_record(item(id_, _type, at), at)
    services = world.services
    partition = next(p for p, depth in enumerate(services.partitions.partition_depths()) if depth)
    entries = services.partitions.read_partition(partition, 1000)
    _count, batch = score_entries(services, make_scorer(services), entries)
    assert archive_batch(services, batch)  # then the worker died: its entries are still in the stream
    scored, archived = world.score(), services.archive.count()
    assert scored == world.expected()
    trim_all(services, world.clock.now_ms())
    assert "r-old" not in world.hot()
    settle(services)  # the replay
    assert not any(services.partitions.partition_depths())
    assert world.score() == scored == world.expected() and services.archive.count() == archived
    publish(world.client, services, "eng")  # and the recompute agrees
    assert world.score() == scored


def test_an_interaction_before_the_horizon_that_is_not_late_goes_into_the_checkpoint(world):
    world.send(("a", "email.opened", CLOCK_START, {}))
    world.clock.advance(60 * DAY)
    trim_all(world.services, world.clock.now_ms())
    assert world.hot() == {}
    world.send(("b", "email.opened", CLOCK_START + 10 * DAY, {}))  # after the last applied, before the horizon
    assert world.horizon().checkpoints["eng@1"].score == 6
    world.send(("c", "email.opened", CLOCK_START + 50 * DAY, {}), ("d", "email.opened", CLOCK_START + 40 * DAY, {}))
    assert world.score() == world.expected() == 12


def test_nothing_the_archive_does_not_hold_leaves_redis(world, archive_url):
    if not archive_url.startswith("sqlite"):
        return  # the archive file is edited by hand: SQLite only (the other tests run on both)
    month_of_history(world)
    path = archive_url.partition("://")[2][1:]
    with sqlite3.connect(path) as conn:  # as if o8's append had not happened yet (late, or in the backlog)
        conn.execute("DELETE FROM interactions WHERE id = 'o8'")
    counts = trim_all(world.services, world.clock.now_ms())
    assert counts["waiting"] == 1
    assert world.horizon().at == CLOCK_START + 8 * DAY  # stops just before it
    assert sorted(world.hot()) == ["o12", "o16", "o20", "o24", "o28", "o32", "o36", "o8"]
    assert world.score() == world.expected()
    with sqlite3.connect(path) as conn:  # history from before the archive existed: none of it is archived
        conn.execute("DELETE FROM interactions")
    world.clock.advance(10 * DAY)
    hot, horizon = world.hot(), world.horizon()
    assert trim_all(world.services, world.clock.now_ms())["contacts"] == 0
    assert world.hot() == hot and world.horizon() == horizon  # it stays in Redis, the horizon where it was


def test_a_publish_recomputes_from_the_archive(world):
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    score = world.score()
    publish(world.client, world.services, "eng")
    assert world.score() == score
    assert "eng@2" in world.horizon().checkpoints
    world.send(("late", "email.opened", CLOCK_START + 45 * DAY, {}))  # the new version folds from its checkpoint
    assert world.score() == world.expected() == score + 3


def test_the_ticker_trims_in_bounded_chunks(world):
    month_of_history(world)
    for n in range(5):
        world.send((f"x{n}", "email.opened", CLOCK_START + n * DAY, {}))
    steps = []
    while (counts := trim_step(world.services, world.clock.now_ms(), chunk=1)) is not None:
        steps.append(counts)
    assert sorted(world.hot()) == ["o32", "o36"]
    assert trim_step(world.services, world.clock.now_ms()) is None  # the next pass waits RETENTION_SWEEP_SECONDS
    assert len(steps) >= world.services.sharding.buckets


def test_a_backup_holds_the_history_that_left_redis_and_a_restore_scores_from_it(world, make_app, tmp_path):
    from app.backup import read_records, restore_archive, write_archive

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    score = world.score()
    path = tmp_path / "backup.jsonl.gz"
    write_archive(world.services.snapshot, path, world.app.config, history=world.services.archive)
    contact = next(r for r in read_records(path) if r.get("kind") == "contact")
    assert sorted(r["id"] for r in contact["archived"]) == sorted(set(world.sent) - {"o32", "o36"})
    assert contact["horizon"]["c"] == str(world.clock.now_ms() - 30 * DAY)
    restored = make_app(CLOCK=world.clock, HOT_HISTORY="10d", KEY_PREFIX="restored",
                        ARCHIVE_URL=f"sqlite:///{tmp_path}/restored.sqlite3")
    with restored.app_context():
        services = restored.extensions["scorekeeper"]
        restore_archive(services, path)
        assert services.archive.count() == len(world.sent)
        client = restored.test_client()
        assert score_of(client, EMAIL, "eng") == score
        send(client, item("late", "email.opened", CLOCK_START + 1 * DAY))  # before the horizon: from the archive
        settle(services)
        world.sent["late"] = as_record(item("late", "email.opened", CLOCK_START + DAY), CLOCK_START + DAY)
        assert score_of(client, EMAIL, "eng") == world.expected() == score + 3
        services.archive.close()


def test_the_ledger_pages_on_from_redis_into_the_archive_with_one_cursor(world):
    month_of_history(world)
    whole = [(e["interaction_id"], e["reason"]) for e in world.ledger()]
    trim_all(world.services, world.clock.now_ms())
    assert len(world.ledger()) == 2
    url = f"/v1/contacts/{world.cid()}/scores/eng/history"
    # every page size: pages that end inside Redis's entries, exactly at their end, and past it
    for follow, limit in [(f, n) for f in ("next_before", "next_cursor") for n in range(1, len(whole) + 2)]:
        seen, args = [], {"limit": limit}
        while True:
            resp = world.client.get(url, query_string=args, headers=AUTH)
            assert resp.status_code == 200, resp.get_json()
            body = resp.get_json()
            seen += [(e["interaction_id"], e["reason"]) for e in body["items"]]
            if body[follow] is None:
                break
            args = {"limit": limit, follow.removeprefix("next_"): body[follow]}
        assert seen == whole, (follow, limit)
    resp = world.client.get(url, query_string={"before": "not-a-cursor"}, headers=AUTH)
    assert resp.status_code == 400 and "before" in resp.get_json()["errors"]


def test_the_dashboard_contact_page_shows_older_ledger_pages_from_the_archive(world):
    from .dashboard_helpers import sign_in, text

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    dash = world.app.test_client()
    assert sign_in(dash).status_code == 302
    page = text(dash.get(f"/dashboard/contacts/{world.cid()}", query_string={"profile": "eng", "ledger_cursor": 10}))
    assert "api:o0" in page and "Newer" in page  # day 0's open, the oldest entry: read from the archive


def test_the_draft_preview_folds_the_history_that_left_redis(world):
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    # the draft as it stands is the live rules: no contact moves, although most of its history left Redis
    resp = world.client.post("/v1/profiles/eng/preview", json={}, headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["movers"] == []


def test_the_ledger_read_while_the_horizon_moves_is_whole(world, monkeypatch):
    """The ticker moves a contact's horizon whenever it likes, also between the reads that make its ledger. A real
    trim pass is run right after the ledger's first read of the timeline or of the horizon, whichever comes first:
    the ledger must still be the one read without it (the timeline read after the horizon lost the moved records)."""
    month_of_history(world)
    whole = ledger_history.page(world.services, world.cid(), world.services.profiles.live()["eng"], 1000).items
    timelines = world.services.timelines
    moved = []

    def trimming_after(read):
        def wrapped(contact_ids):
            result = read(contact_ids)
            if not moved:
                moved.append(trim_all(world.services, world.clock.now_ms()))
            return result
        return wrapped

    monkeypatch.setattr(timelines, "read_timelines", trimming_after(timelines.read_timelines))
    monkeypatch.setattr(timelines, "read_horizons", trimming_after(timelines.read_horizons))
    during = ledger_history.page(world.services, world.cid(), world.services.profiles.live()["eng"], 1000).items
    assert moved and moved[0]["records"] > 0  # the trim did move history out between the reads
    assert during == whole and len(whole) == 14


# --- the pass reads no bucket with nothing older than the horizon (each bucket's bound on its oldest record) ----

def counting_reads(world: World, monkeypatch) -> list[int]:
    """The contacts the trim pass reads, per call of ``read_for_trim``."""
    timelines, calls = world.services.timelines, []
    read = timelines.read_for_trim

    def counted(contact_ids):
        calls.append(len(contact_ids))
        return read(contact_ids)
    monkeypatch.setattr(timelines, "read_for_trim", counted)
    return calls


def whole_pass(world: World, chunk: int = 500) -> list[dict]:
    """One whole ticker pass (the next pass due at once: the clock moved past the period first)."""
    world.clock.advance(int(world.services.settings["RETENTION_SWEEP_SECONDS"]) * 1000)
    steps = []
    while (counts := trim_step(world.services, world.clock.now_ms(), chunk=chunk)) is not None:
        steps.append(counts)
    return steps


def test_a_pass_reads_no_bucket_whose_records_are_all_within_the_horizon(world, monkeypatch):
    world.send(*[(f"o{d}", "email.opened", CLOCK_START + d * DAY, {}) for d in range(5)])
    world.clock.advance(10 * DAY)
    reads = counting_reads(world, monkeypatch)
    first = whole_pass(world)  # a store whose bounds do not cover every record yet (no pass walked it): all read
    assert reads and sum(c["skipped"] for c in first) == 0
    reads.clear()
    steps = whole_pass(world)
    assert reads == [] and [c["skipped"] for c in steps] == [world.services.sharding.buckets]
    world.clock.advance(20 * DAY + 12 * 3_600_000)  # day 30.6: the record of day 0 is older than the 30-day horizon
    reads.clear()
    steps = whole_pass(world)
    assert reads == [1] and sum(c["skipped"] for c in steps) == world.services.sharding.buckets - 1
    assert sorted(world.hot()) == ["o1", "o2", "o3", "o4"] and world.score() == world.expected()


def test_a_late_interaction_older_than_the_horizon_leaves_after_passes_that_skipped(world, monkeypatch):
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    reads = counting_reads(world, monkeypatch)
    assert trim_all(world.services, world.clock.now_ms())["skipped"] == world.services.sharding.buckets
    assert whole_pass(world) and reads == []
    world.send(("late-old", "email.opened", CLOCK_START + 7 * DAY, {}))  # before the horizon: archived, then hot
    assert "late-old" in world.hot() and world.score() == world.expected()
    steps = whole_pass(world)
    assert reads == [1] and sum(c["records"] for c in steps) == 1
    assert "late-old" not in world.hot() and world.score() == world.expected()


def test_a_record_written_during_the_walk_of_its_bucket_is_not_missed(world, monkeypatch):
    """The pass walks a bucket over several ticks; a contact it already read gets a record older than the
    horizon meanwhile: the bucket's bound (taken when the walk began, lowered by the write) keeps it, so the next
    pass reads the bucket again and the record leaves."""
    services = world.services

    def send_to(email: str, id_: str, day: int) -> None:
        payload = item(id_, "email.opened", CLOCK_START + day * DAY)
        payload["contact"] = {"email": email}
        send(world.client, payload)
        settle(services)

    def hot_ids(cid: str) -> list[str]:
        return [r.id for r in services.timelines.read_timelines([cid])[cid]]

    emails = [f"w{n}@x.io" for n in range(40)]
    for email in emails:
        send_to(email, f"r-{email}", 50)
    cids = {contact_by_email(world.client, email)["id"]: email for email in emails}
    by_bucket: dict[int, list[str]] = {}
    for cid in cids:
        by_bucket.setdefault(services.sharding.bucket_of(cid), []).append(cid)
    bucket = max(by_bucket, key=lambda b: len(by_bucket[b]))
    first, last = services.contacts.contact_page(bucket, 0, 1)[0], services.contacts.contact_page(bucket, -1, 1)[0]
    assert first != last
    world.clock.advance(60 * DAY)  # day 60: the horizon is day 30
    whole_pass(world)  # the first pass: the bounds cover every record from now on
    send_to(cids[last], "old-last", 10)  # something old in the bucket: the next pass walks it
    world.clock.advance(int(services.settings["RETENTION_SWEEP_SECONDS"]) * 1000)
    while True:  # one contact a tick, up to the bucket's first contact read
        step = trim_step(services, world.clock.now_ms(), chunk=1)
        position = services.jobs.horizon_pass()
        assert step is not None, (position, services.timelines.oldest_bounds(), bucket, world.clock.now_ms())
        if position["bucket"] == bucket and position["start"] == 1:
            break
    send_to(cids[first], "late-w", 12)  # older than the horizon, to a contact the walk already read
    while trim_step(services, world.clock.now_ms(), chunk=1) is not None:  # the rest of the pass
        pass
    assert "old-last" not in hot_ids(last) and "late-w" in hot_ids(first)
    reads = counting_reads(world, monkeypatch)
    whole_pass(world)
    assert reads and "late-w" not in hot_ids(first)
    assert world.services.timelines.oldest_bounds()[1].get(bucket, float("inf")) >= CLOCK_START + 50 * DAY


# --- every kind of span a rule can have keeps the horizon back, also in a version published after it was set -----

HOT_SETTINGS = {"HOT_HISTORY": "10d"}
LONG = "400d"  # longer than HOT_HISTORY and than any other span below


@pytest.mark.parametrize("document", [
    pytest.param({"rules": [{"id": "r", "on": "a", "points": 1, "limit": {"count": 1, "window": LONG}}]},
                 id="limit-window"),
    pytest.param({"rules": [{"id": "r", "on": "a", "points": 1, "expires_after": LONG}]}, id="expiry"),
    pytest.param({"rules": [{"id": "r", "on": "a", "points": 1, "decay": {"percent": 10, "every": LONG}}]},
                 id="decay"),
    pytest.param({"groups": [{"id": "g", "max_points": 50, "decay": {"percent": 10, "every": LONG}}],
                  "rules": [{"id": "r", "on": "a", "points": 1, "group": "g"}]}, id="group-decay"),
    pytest.param({"rules": [{"id": "r", "on": "a", "points": 1, "limit": {"count": 1, "window": "1d"}},
                            {"id": "s", "on": "b", "points": 1, "expires_after": LONG}]},
                 id="longest-of-several-rules"),
])
@pytest.mark.parametrize("live", [pytest.param(True, id="live"), pytest.param(False, id="being-built")])
def test_every_kind_of_rule_span_keeps_the_horizon_back(document, live):
    from app.scoring.profiles import profile_from_dict
    from app.storage.profiles import ActiveVersion

    other = ActiveVersion(profile_from_dict({"id": "plain", "rules": [{"id": "o", "on": "a", "points": 1}]}), 1, True)
    version = ActiveVersion(profile_from_dict({"id": "p", **document}), 2, live)
    assert effective_horizon_ms(HOT_SETTINGS, [other, version]) == 400 * DAY
    assert effective_horizon_ms(HOT_SETTINGS, [other]) == 10 * DAY  # without it: HOT_HISTORY
    assert effective_horizon_ms({"HOT_HISTORY": "0"}, [other, version]) is None  # 0 keeps everything


def test_the_horizon_knows_every_span_a_rule_has():
    """A new kind of span on a rule (a field in ms) must be taken into the horizon: this lists the ones it takes.
    Triggers and smart lists hold no span over history (they read scores, types, properties, tags and the latest
    activity's time); a fit profile's rules read attributes, not time."""
    import dataclasses

    from app.scoring.profiles import Rule, profile_from_dict
    from app.storage.profiles import ActiveVersion

    spans = [f.name for f in dataclasses.fields(Rule) if f.name.endswith("_ms")]
    assert spans == ["limit_window_ms", "expires_after_ms", "decay_every_ms"]
    for name in spans:
        rule = dataclasses.replace(Rule(id="r", on="a", points=1), **{name: 400 * DAY})
        profile = dataclasses.replace(profile_from_dict({"id": "p", "rules": []}), rules=(rule,))
        assert effective_horizon_ms(HOT_SETTINGS, [ActiveVersion(profile, 1, True)]) == 400 * DAY, name


LATER_RULES = RULES[:3] + [
    # reads a property no rule read before, of interactions that left Redis: scored from the archive's copy
    {"id": "paid-pro", "on": "payment.succeeded", "points": 11, "where": {"plan": "pro"}},
    # a window longer than any of the first version's (30 days): the horizon stays back 45 days from now on
    {"id": "form-45", "on": "form.submitted", "points": 2, "limit": {"count": 1, "window": "45d"}},
]


def test_a_version_published_after_the_horizon_was_set_scores_exactly_and_holds_the_horizon_back(world):
    """The horizon was set by the first version's 30-day window; a version published later reads a property of
    interactions that left Redis, and has a 45-day window: its recompute reads the archive (the properties come
    back from it), late interactions on either side of the horizon score exactly, and from then on the trim pass
    keeps 45 days in Redis."""
    def expected() -> int:
        return reference_score(LATER_RULES, list(world.sent.values()), now=world.clock.now_ms(), profile="eng")

    world.send(("pay-pro", "payment.succeeded", CLOCK_START + 1 * DAY, {"order": "Z", "plan": "pro"}),
               ("pay-free", "payment.succeeded", CLOCK_START + 2 * DAY, {"order": "Y", "plan": "free"}))
    month_of_history(world)  # to day 60
    trim_all(world.services, world.clock.now_ms())
    assert world.horizon().at == CLOCK_START + 30 * DAY and "pay-pro" not in world.hot()
    put_profile(world.client, "eng", LATER_RULES)
    publish(world.client, world.services, "eng")
    assert effective_horizon_ms(world.services.settings, world.services.profiles.active()) == 45 * DAY
    assert world.score() == expected() == 10 * 3 + 5 + 11 + 2  # opens, form, pay-pro, form-45 (no "paid" rule now)
    world.send(("late-hot", "form.submitted", CLOCK_START + 40 * DAY, {}),  # after the horizon: limited by form-45
               # before the horizon (day 30), within the new version's reach (from day 15): scored from the archive
               ("late-old", "payment.succeeded", CLOCK_START + 20 * DAY, {"order": "X", "plan": "pro"}))
    assert world.score() == expected()
    # the horizon never moves back; late-old stays hot until the new version's reach passes it (day 65): its bucket's
    # bound (day 20) is not before the pass's horizon (day 15), so the pass does not read it (it is archived)
    trim_all(world.services, world.clock.now_ms())
    assert world.horizon().at == CLOCK_START + 30 * DAY
    assert sorted(world.hot()) == ["late-hot", "late-old", "o32", "o36"]
    world.clock.advance(20 * DAY)  # day 80: the first version would keep from day 50, this one from day 35
    trim_all(world.services, world.clock.now_ms())
    assert world.horizon().at == CLOCK_START + 35 * DAY
    assert sorted(world.hot()) == ["late-hot", "o36"]
    assert world.score() == expected()
    ledger = [(e["interaction_id"], e["rule_id"]) for e in ledger_history.whole_ledger(
        world.services, world.cid(), world.services.profiles.live()["eng"])]
    assert ("pay-pro", "paid-pro") in ledger and ("late-old", "paid-pro") in ledger
    assert ("pay-free", "paid-pro") not in ledger


# --- hostile values for the ledger's pages: a 4xx with the error body, never a 500 --------------------------------

def _b64(raw: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _hostile_history_args():
    from hypothesis import strategies as st

    from .hostile import huge_integers, not_whole

    numbers = st.one_of(st.integers(max_value=-1).map(str), huge_integers.map(str), not_whole.map(repr),
                        st.sampled_from(["", " ", "1e3", "NaN", "inf", "0x10", "1.0", "+-1"]))
    not_a_position = st.one_of(  # base64 of JSON that is not [moment, source, id, rule, timed]
        st.recursive(st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=4),
                     lambda inner: st.lists(inner, max_size=6), max_leaves=8).map(
            lambda v: _b64(orjson.dumps(v))).filter(lambda t: t != ""),
        st.lists(st.integers(), min_size=0, max_size=4).map(lambda v: _b64(orjson.dumps(v))))
    garbage = st.one_of(st.text(min_size=1, max_size=40), st.binary(min_size=1, max_size=30).map(_b64),
                        st.text(min_size=2001, max_size=2100), numbers)
    refused = st.one_of(st.tuples(st.just("before"), st.one_of(garbage, not_a_position)),
                        st.tuples(st.sampled_from(["limit", "cursor"]), numbers),
                        st.tuples(st.just("limit"), st.sampled_from(["0", "1001"])))
    return refused


def _any_position(near: list[int]):
    """Well-formed positions naming entries that need not exist: any moment (or one of ``near`` give or take a
    millisecond), any JSON in the other four places; drawn as ``(moment, before)``."""
    from hypothesis import strategies as st

    int64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
    anything = st.none() | st.booleans() | int64 | st.text(max_size=8) | st.lists(int64, max_size=2)
    moments = int64 | st.builds(
        lambda at, delta: at + delta, st.sampled_from(near), st.sampled_from([-1, 0, 1]))
    return st.tuples(moments, anything, anything, anything, anything).map(
        lambda v: (v[0], _b64(orjson.dumps(list(v)))))


def test_hostile_ledger_page_arguments_are_refused_with_the_error_body(world):
    """``before`` garbage (text, base64 of anything, too long, numbers of every bad kind, empty), ``limit`` and
    ``cursor`` negative, huge, fractional, empty: each a 400 or 422 with ``{code, status, message, errors}``,
    ``errors`` an object naming the argument; never a 500. Contacts whose history left Redis, so a page that got
    through would fold the archive."""
    from hypothesis import HealthCheck, given, settings

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    url = f"/v1/contacts/{world.cid()}/scores/eng/history"

    @settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_hostile_history_args())
    def refused(arg):
        name, value = arg
        resp = world.client.get(url, query_string={name: value}, headers=AUTH)
        body = resp.get_json()
        assert resp.status_code in (400, 422), (name, value, resp.status_code, body)
        assert set(body) == {"code", "status", "message", "errors"} and body["code"] == resp.status_code, body
        assert isinstance(body["errors"], dict) and name in str(body["errors"]), (name, value, body)

    refused()


def test_any_well_formed_ledger_position_gives_a_page(world):
    """A ``before`` of the right shape that names no entry (made up, or its entry gone after a refold) goes on
    from its moment: a 200 page of exactly the entries strictly older, whatever the other four values are."""
    from hypothesis import HealthCheck, given, settings

    from app.scoring.interactions import parse_timestamp_ms

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    url = f"/v1/contacts/{world.cid()}/scores/eng/history"
    ledger = world.client.get(url, query_string={"limit": 1000}, headers=AUTH).get_json()["items"]
    moments = [parse_timestamp_ms(e["at"]) for e in ledger]

    @settings(max_examples=100, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(_any_position(moments))
    def a_page(drawn):
        moment, before = drawn
        resp = world.client.get(url, query_string={"before": before, "limit": 1000}, headers=AUTH)
        assert resp.status_code == 200, (before, resp.get_json())
        assert resp.get_json()["items"] == [e for e, at in zip(ledger, moments) if at < moment]
    a_page()


def test_any_ledger_cursor_on_the_dashboards_contact_page_shows_a_page(world):
    """The dashboard's older ledger pages (which fold the archive) take any ``ledger_cursor``: a number past the
    ledger, negative, fractional or not a number at all shows a page (the first, or an empty one), never a 500."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from .dashboard_helpers import sign_in

    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    dash = world.app.test_client()
    assert sign_in(dash).status_code == 302
    url = f"/dashboard/contacts/{world.cid()}"

    @settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.integers().map(str), st.floats().map(repr), st.text(max_size=30)))
    def shown(cursor):
        assert dash.get(url, query_string={"profile": "eng", "ledger_cursor": cursor}).status_code == 200, cursor
    shown()


def test_interactions_scored_while_a_version_is_being_built_agree_with_its_recompute(world):
    """A version being built is scored live beside the live one before its recompute reaches the contact: for a
    contact whose history left Redis it has no checkpoint yet, so that fold reads the archive. Interactions in
    order and late ones before the horizon arrive, and a trim pass runs, while the publish waits; then the
    recompute runs: every score is the reference's under the new rules."""
    from .helpers import drain_all, run_jobs

    def expected() -> int:
        return reference_score(LATER_RULES, list(world.sent.values()), now=world.clock.now_ms(), profile="eng")

    world.send(("pay-pro", "payment.succeeded", CLOCK_START + 1 * DAY, {"order": "Z", "plan": "pro"}))
    month_of_history(world)
    trim_all(world.services, world.clock.now_ms())
    put_profile(world.client, "eng", LATER_RULES)
    assert world.client.post("/v1/profiles/eng/publish", json={}, headers=AUTH).status_code == 202
    assert world.services.profiles.get("eng")["building_version"] == 2
    for id_, type_, at, props in [("b-new", "form.submitted", CLOCK_START + 59 * DAY, {}),  # in order
                                  ("b-old", "payment.succeeded", CLOCK_START + 8 * DAY, {"order": "W", "plan": "pro"})]:
        send(world.client, item(id_, type_, at, **props))
        world.sent[id_] = as_record(item(id_, type_, at, **props), at)
        drain_all(world.services)  # scored into version 1 and into version 2, not yet recomputed
        assert world.services.contacts.get_contact(world.cid())["states"]["eng@2"].score == expected(), id_
    trim_all(world.services, world.clock.now_ms())
    run_jobs(world.services)  # the recompute
    settle(world.services)
    assert world.services.profiles.get("eng")["live_version"] == 2
    assert world.score() == expected()
