"""What the drain does to go fast, kept honest: the cyclic collector waits while a batch is scored
(docs/performance.md, "Scoring, again"; a drain's runs after every ``COLLECT_EVERY_BATCHES``-th batch, "Row 1
(2026-12-06, second session)", and at a drain job's end only once its scorer is gone, "Row 1 (2026-12-06, fourth
session)"), and is on again afterwards whatever happened; the fold states a scorer
wrote are kept decoded only under the exact text they are read back as (docs/performance.md, "Row 1 (2026-12-03
evening)")."""
from __future__ import annotations

import gc
import weakref

import pytest

from app import scoring_service
from app.scorer import DecodedStates
from app.scoring.events import Interest
from app.scoring.fold import FoldState
from app.scoring.profiles import profile_from_dict
from app.scoring.records import TimelineRecord
from app.scoring_service import DRAIN_BATCHES, BatchCollector, collector_paused, drain
from app.storage.redis_tools import dumps, loads

from .helpers import contact_by_email, drain_ready, score_of, send

RULES = [{"id": "open", "on": "email.opened", "points": 5}]


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    gc.enable() if was else gc.disable()


def test_the_collector_waits_inside_and_runs_again_after(collector_on):
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()


def test_the_collector_runs_again_after_an_error(collector_on):
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_a_nested_pause_leaves_the_outer_one_in_charge(collector_on):
    with collector_paused():
        with collector_paused():
            pass
        assert not gc.isenabled()  # the inner one found it off and left it so
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off(collector_on):
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()


def test_a_drain_s_collector_waits_over_its_batches_and_runs_after_every_nth(collector_on):
    collector = BatchCollector(every=3)
    seen = []
    for _ in range(7):
        with collector.batch():
            seen.append(gc.isenabled())
        seen.append(gc.isenabled())
    assert seen == [False, False, False, False, False, True] * 2 + [False, False]  # on after the 3rd and the 6th
    collector.resume()  # the drain's end
    assert gc.isenabled()


def test_a_drain_s_collector_runs_again_after_a_batch_that_raised(collector_on):
    collector = BatchCollector(every=10)
    with collector.batch():
        pass
    with pytest.raises(RuntimeError), collector.batch():
        raise RuntimeError("the batch failed")
    assert gc.isenabled()


def test_a_drain_s_collector_turned_off_by_the_caller_stays_off(collector_on):
    gc.disable()
    collector = BatchCollector(every=1)
    with collector.batch():
        pass
    collector.resume()
    assert not gc.isenabled()


class CollectorWatch:
    """A listener that notes whether the collector ran while the scorer asked it what it wants to hear."""

    def __init__(self, inner):
        self.inner = inner
        self.seen: list[bool] = []

    def interest(self) -> Interest:
        self.seen.append(gc.isenabled())
        return self.inner.interest()

    def handle(self, events) -> None:
        self.inner.handle(events)


def test_a_drain_scores_each_batch_with_the_collector_waiting_and_turns_it_on_after(
        make_app, collector_on):
    with drain_ready(make_app, RULES, BATCH_SIZE=4) as (client, services):
        send(client, *({"id": f"o{n}", "type": "email.opened", "contact": {"email": "a@x.io"}} for n in range(10)))
        watch = services.events = CollectorWatch(services.events)
        assert drain(services, 0) == 10
        assert watch.seen == [False, False, False]  # three batches (4, 4, 2), each scored with it waiting
        assert gc.isenabled()
        assert score_of(client, "a@x.io", "eng") == 50


def test_a_drain_job_lets_the_collector_run_at_its_end_not_between_its_batches(make_app, collector_on, monkeypatch):
    """The fold states kept decoded stay alive across a drain's batches, so each collection let run between them
    walked them again (docs/performance.md, "Row 1 (2026-12-06, fourth session)"): a drain job of as many batches
    as a job takes (its first read not one of them) turns the collector on again only once they are all scored."""
    n = DRAIN_BATCHES
    with drain_ready(make_app, RULES, BATCH_SIZE=1) as (client, services):
        send(client, *({"id": f"o{i}", "type": "email.opened", "contact": {"email": "a@x.io"}} for i in range(n)))
        watch = services.events = CollectorWatch(services.events)
        enabled: list[int] = []  # the batches begun each time the collector is turned on again
        enable = gc.enable

        def noted() -> None:
            enabled.append(len(watch.seen))
            enable()

        monkeypatch.setattr(gc, "enable", noted)
        assert drain(services, 0) == n
        monkeypatch.undo()
        assert len(watch.seen) == n and not any(watch.seen)
        assert enabled == [n]  # after the last batch only
        assert gc.isenabled()
        assert score_of(client, "a@x.io", "eng") == 5 * n


def test_a_drain_lets_the_collector_run_once_its_scorer_is_gone(make_app, collector_on, monkeypatch):
    """The collection at a drain's end walks what outlives the drain, not the fold states its scorer kept decoded:
    the scorer is freed (reference counting) before the collector is on again."""
    with drain_ready(make_app, RULES, BATCH_SIZE=2) as (client, services):
        send(client, *({"id": f"o{n}", "type": "email.opened", "contact": {"email": f"c{n % 3}@x.io"}}
                       for n in range(6)))
        made: list[weakref.ref] = []
        make = scoring_service.make_scorer

        def tracked(services_):
            scorer = make(services_)
            made.append(weakref.ref(scorer))
            return scorer

        gone: list[bool] = []  # whether the drain's scorer was freed, each time the collector is turned on again
        enable = gc.enable

        def noted() -> None:
            gone.append(bool(made) and made[0]() is None)
            enable()

        monkeypatch.setattr(scoring_service, "make_scorer", tracked)
        monkeypatch.setattr(gc, "enable", noted)
        assert drain(services, 0) == 6
        monkeypatch.undo()
        assert len(made) == 1 and gone == [True]
        assert [score_of(client, f"c{n}@x.io", "eng") for n in range(3)] == [10, 10, 10]


def test_a_drain_tells_the_vocabulary_each_pair_once_and_still_learns_what_a_later_batch_brings(make_app):
    with drain_ready(make_app, RULES, BATCH_SIZE=2) as (client, services):
        send(client, *({"id": f"o{n}", "type": "email.opened", "contact": {"email": "a@x.io"},
                         "properties": {"message_id": f"m{n}"}} for n in range(4)),
             {"id": "c1", "type": "email.clicked", "contact": {"email": "a@x.io"}, "properties": {"url": "u"}})
        assert drain(services, 0) == 5  # three batches: the third brings a type and a property not seen before
        assert services.vocabulary.all() == {"email.opened": {"message_id"}, "email.clicked": {"url"}}


def test_the_drain_profile_scores_everything_it_loads_and_says_what_it_cost(capsys, tmp_path):
    from bench.drain_profile import main

    main(["--contacts", "50", "--interactions", "300", "--commands", "--cprofile", str(tmp_path / "drain.prof")])
    out = capsys.readouterr().out
    assert "300 of 300 interactions scored over 50 contacts" in out
    assert "interactions per CPU-second" in out and "redis-server CPU" in out and "cmdstat_evalsha" in out
    assert (tmp_path / "drain.prof").stat().st_size > 0


def test_the_recompute_profile_refolds_every_contact_from_the_archive_exactly(capsys, tmp_path):
    from bench.recompute_profile import main

    main(["--contacts", "50", "--interactions", "300", "--stages", "--commands", "--check",
          "--cprofile", str(tmp_path / "recompute.prof")])
    out = capsys.readouterr().out
    assert "300 interactions scored over 50 contacts, 300 records moved to the archive" in out
    assert "recompute finished, 50 contacts" in out
    assert "check: 50 contacts, 0 whose score is not the reference fold's" in out
    assert "SqliteArchive.histories" in out and "cmdstat_evalsha" in out
    assert (tmp_path / "recompute.prof").stat().st_size > 0


def test_a_drain_learns_the_names_inside_an_object_where_a_batch_before_had_a_plain_value(make_app):
    with drain_ready(make_app, RULES, BATCH_SIZE=1) as (client, services):
        send(client, {"id": "o1", "type": "email.opened", "contact": {"email": "a@x.io"}, "properties": {"meta": "x"}},
             {"id": "o2", "type": "email.opened", "contact": {"email": "a@x.io"}, "properties": {"meta": "y"}},
             {"id": "o3", "type": "email.opened", "contact": {"email": "a@x.io"},
              "properties": {"meta": {"campaign": "c"}}})
        assert drain(services, 0) == 3  # three batches of one
        assert services.vocabulary.all() == {"email.opened": {"meta", "meta.campaign"}}


def test_a_scorer_reads_back_a_state_another_writer_changed_not_the_one_it_kept(make_app):
    """The scorer keeps the states it wrote decoded under their text (``DecodedStates``); a state changed since by
    someone else (a manual change) is read back as another text, so the kept one is not used."""
    from app.manual_scores import change_score
    from app.scoring_service import make_scorer

    with drain_ready(make_app, RULES) as (client, services):
        send(client, {"id": "o1", "type": "email.opened", "contact": {"email": "a@x.io"}})
        cid = contact_by_email(client, "a@x.io")["id"]
        scorer = make_scorer(services)
        now = services.clock.now_ms()
        scorer.score({cid: [TimelineRecord("o1", "api", "email.opened", now, {})]}, now)
        change_score(services, cid, "eng", "add", 100, "by hand")  # written by another scorer
        scorer.score({cid: [TimelineRecord("o2", "api", "email.opened", now + 1, {})]}, now + 1)
        assert score_of(client, "a@x.io", "eng") == 110


_KEPT = profile_from_dict({"id": "p", "name": "P", "rules": [
    {"id": "open", "on": "email.opened", "points": 1}, {"id": "click", "on": "email.clicked", "points": 7}]})


def test_a_state_kept_decoded_is_handed_out_once():
    kept = DecodedStates()
    state = FoldState(score=3, last=(5, 1, "api:o1"))
    text = dumps(state.to_json(_KEPT))
    kept.keep(text, state, _KEPT)
    assert kept.take(text, _KEPT) is state
    again = kept.take(text, _KEPT)  # decoded: the kept one may be changed by the fold that took it
    assert again == state and again is not state


def test_a_state_kept_for_other_rules_is_decoded_with_the_rules_asked_for():
    """A rule id is stored as its index in the version's rules: the same text is another state in a version whose
    rules are in another order."""
    kept = DecodedStates()
    state = FoldState(score=7, last=(5, 1, "api:o1"), pending=[[100, "api:o1", "click", 7, "o1", "email.clicked"]])
    text = dumps(state.to_json(_KEPT))
    kept.keep(text, state, _KEPT)
    other = profile_from_dict({"id": "p", "name": "P", "rules": [
        {"id": "x", "on": "email.clicked", "points": 7}, {"id": "click2", "on": "email.clicked", "points": 7}]})
    taken = kept.take(text, other)
    assert taken is not state and taken.pending[0][2] == "click2"
    assert FoldState.from_json(loads(text), _KEPT) == state


def test_a_state_whose_timed_entries_do_not_come_back_from_its_text_is_not_kept():
    """A source with ``:`` (never one the edge takes): the interaction id after the key's first ``:`` is not the id."""
    kept = DecodedStates()
    state = FoldState(score=7, last=(5, 1, "a:b:o1"), pending=[[100, "a:b:o1", "click", 7, "o1", "email.clicked"]])
    text = dumps(state.to_json(_KEPT))
    kept.keep(text, state, _KEPT)
    assert kept.take(text, _KEPT) is not state
    assert FoldState.from_json(loads(text), _KEPT).pending == [[100, "a:b:o1", "click", 7, "b:o1", "email.clicked"]]


def test_a_full_store_of_decoded_states_starts_again_empty():
    kept = DecodedStates(limit=2)
    states = [FoldState(score=n) for n in range(3)]
    texts = [dumps(s.to_json(_KEPT)) for s in states]
    for text, state in zip(texts, states):
        kept.keep(text, state, _KEPT)
    assert kept.take(texts[2], _KEPT) is states[2]  # the third started it again
    assert kept.take(texts[0], _KEPT) is not states[0]
