"""The compact ordered index (app/storage/ordered_index.lua and .py) against a plain sorted-set model: random
inserts, moves, removals, range reads (ascending and descending, with offsets and limits), counts over few scores
(many ties, spanning leaves), lexicographic ranges of one-score indexes (search terms), and members of every length
with NUL and 0x01 bytes (which the directory escapes), on Redis and on a 3-master cluster (several buckets, so several slots). Every leaf stays within
its size, so Redis keeps it in the compact listpack encoding."""
from __future__ import annotations

import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.storage.connection import connect
from app.storage.ordered_index import OrderedIndex, check_member
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.also_on_cluster

MEMBERS = st.text(alphabet="a\0\1c", min_size=1, max_size=3)
SCORES = st.integers(-2, 3) | st.sampled_from([-(2 ** 52), 2 ** 52, 1_796_215_272_916])
BOUND = st.one_of(SCORES, st.just(float("-inf")), st.just(float("inf")))
PUT = st.tuples(st.just("put"), MEMBERS, SCORES, st.booleans())
OPS = st.lists(st.one_of(
    PUT, PUT, PUT,
    st.tuples(st.just("remove"), MEMBERS, st.booleans()),
    st.tuples(st.just("range"), BOUND, BOUND, st.integers(0, 12), st.integers(-1, 12)),
    st.tuples(st.just("revrange"), BOUND, BOUND, st.integers(0, 12), st.integers(-1, 12)),
    st.tuples(st.just("count"), BOUND, BOUND),
    st.tuples(st.just("absorb"), st.dictionaries(MEMBERS, SCORES, max_size=30), st.integers(1, 40)),
), min_size=10, max_size=150)
LEX_BOUND = st.one_of(st.just("-"), st.just("+"), st.tuples(st.sampled_from("[("), MEMBERS).map("".join))
LEX_OPS = st.lists(st.one_of(
    st.tuples(st.just("put"), MEMBERS), st.tuples(st.just("put"), MEMBERS),
    st.tuples(st.just("remove"), MEMBERS),
    st.tuples(st.just("lexrange"), LEX_BOUND, LEX_BOUND, st.integers(0, 12), st.integers(-1, 12)),
), min_size=10, max_size=150)


@pytest.fixture
def store(store_url: str):
    client = connect(store_url or TEST_REDIS_URL)
    yield client
    client.close()


def expected_range(model: dict[str, int], low: float, high: float, offset: int, count: int) -> list[tuple[str, int]]:
    ordered = sorted(((s, m.encode()), m) for m, s in model.items() if low <= s <= high)
    chosen = ordered[offset:] if count < 0 else ordered[offset:offset + count]
    return [(m, s) for (s, _b), m in chosen]


def expected_rev_range(model: dict[str, int], high: float, low: float, offset: int,
                       count: int) -> list[tuple[str, int]]:
    ordered = sorted((((s, m.encode()), m) for m, s in model.items() if low <= s <= high), reverse=True)
    chosen = ordered[offset:] if count < 0 else ordered[offset:offset + count]
    return [(m, s) for (s, _b), m in chosen]


def within(member: bytes, low: str, high: str) -> bool:
    """Whether a member is within ZRANGEBYLEX's bounds."""
    if low != "-":
        bound = low[1:].encode()
        if low == "+" or member < bound or (low[0] == "(" and member == bound):
            return False
    if high != "+":
        bound = high[1:].encode()
        if high == "-" or member > bound or (high[0] == "(" and member == bound):
            return False
    return True


def check_leaves(store, base: str, leaf_entries: int, model: dict[str, int], sized: bool = False) -> None:
    """Every leaf within its size and compact; each entry in the leaf the directory gives it; nothing else; the sizes
    (``BASE:z``) each leaf's and the total, when ``sized`` (else there are none)."""
    directory = store.zrange(base + ":d", 0, -1)
    assert directory and directory[0].startswith("\0")  # the first leaf, covering everything below the second
    held = {}
    sizes = {"t": str(len(model))}
    for entry in directory:
        leaf = f"{base}:l:{entry.rsplit(chr(0), 1)[1]}"
        pairs = store.zrange(leaf, 0, -1, withscores=True)
        sizes[entry.rsplit(chr(0), 1)[1]] = str(len(pairs))
        assert len(pairs) <= leaf_entries
        if pairs:
            assert store.object("encoding", leaf) == "listpack"
        for member, score in pairs:
            assert member not in held
            held[member] = int(score)
    assert held == model
    assert store.hgetall(base + ":z") == (sizes if sized else {})


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS, leaf_entries=st.integers(2, 5), bucket=st.integers(0, 15), unsized=st.integers(0, 160))
def test_the_index_reads_as_a_sorted_set_would(store, ops, leaf_entries, bucket, unsized):
    """The first ``unsized`` ops write the index as a release before did, without its sizes (``BASE:z`` deleted after
    each: counts walk the leaves); then ``sizes`` writes them (at 0: an index about to be made, as roster.lua makes
    one), and the rest of the ops keep them (counts read them)."""
    index = OrderedIndex(store, leaf_entries=leaf_entries)
    base = f"t{uuid.uuid4().hex[:8]}:{{xp:{bucket}}}"
    model: dict[str, int] = {}
    for i, op in enumerate(ops):
        if i == unsized:
            assert index.sizes(base) == len(model)
        if op[0] == "put":  # a move when the member is there: removed by its old score, added at the new one, or
            _, member, score, in_one = op  # moved in one step from the score it is held at (in place within a leaf)
            if member in model and in_one:
                assert index.move(base, [(model[member], score, member)]) == 1
            else:
                if member in model:
                    assert index.remove(base, [(model[member], member)]) == 1
                assert index.add(base, [(score, member)]) == 1
            model[member] = score
        elif op[0] == "remove":
            _, member, right_score = op
            if member in model and right_score:
                assert index.remove(base, [(model.pop(member), member)]) == 1
            elif member in model:  # at another score: not removed
                assert index.remove(base, [(model[member] + (1 if model[member] < 0 else -1), member)]) == 0
            else:
                assert index.remove(base, [(0, member)]) == 0
        elif op[0] == "range":
            _, low, high, offset, count = op
            assert index.range(base, low, high, offset, count) == expected_range(model, low, high, offset, count)
        elif op[0] == "absorb":  # many moved in from a sorted set beside (in runs, leaves rebuilt when full)
            _, pairs, page = op
            for member in pairs:
                if member in model:
                    assert index.remove(base, [(model.pop(member), member)]) == 1
            beside = base.replace(":{", ":b:{")  # (the same hash tag)
            if pairs:
                store.zadd(beside, pairs)
            while index.absorb(base, beside, page):
                pass
            assert not store.exists(beside)
            model.update(pairs)
        elif op[0] == "revrange":
            _, high, low, offset, count = op
            assert index.rev_range(base, high, low, offset, count) == expected_rev_range(model, high, low, offset, count)
        else:
            _, low, high = op
            assert index.count(base, low, high) == len(expected_range(model, low, high, 0, -1))
        if i < unsized:
            store.delete(base + ":z")
    assert index.range(base) == expected_range(model, float("-inf"), float("inf"), 0, -1)
    for low in range(-2, 4):  # every range of the small scores, at the end
        for high in range(low, 4):
            assert index.range(base, low, high) == expected_range(model, low, high, 0, -1)
    for high in range(-2, 4):  # and read from the top
        for low in range(-2, high + 1):
            assert index.rev_range(base, high, low) == expected_rev_range(model, high, low, 0, -1)
    assert index.rev_range(base) == expected_rev_range(model, float("inf"), float("-inf"), 0, -1)
    for low in (float("-inf"), *range(-2, 4)):  # every count of the small scores
        for high in (*range(low if low > -3 else -2, 4), float("inf")):
            assert index.count(base, low, high) == len(expected_range(model, low, high, 0, -1))
    if model:
        check_leaves(store, base, leaf_entries, model, sized=unsized < len(ops))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=LEX_OPS, leaf_entries=st.integers(2, 5), bucket=st.integers(0, 15))
def test_a_one_score_index_reads_lexicographic_ranges_as_a_sorted_set_would(store, ops, leaf_entries, bucket):
    index = OrderedIndex(store, leaf_entries=leaf_entries)
    base = f"t{uuid.uuid4().hex[:8]}:{{xp:{bucket}}}"
    model: set[str] = set()
    for op in ops:
        if op[0] == "put":
            assert index.add(base, [(0, op[1])]) == (op[1] not in model)
            model.add(op[1])
        elif op[0] == "remove":
            assert index.remove(base, [(0, op[1])]) == (op[1] in model)
            model.discard(op[1])
        else:
            _, low, high, offset, count = op
            ordered = sorted(m.encode() for m in model if within(m.encode(), low, high))
            chosen = ordered[offset:] if count < 0 else ordered[offset:offset + count]
            assert index.lex_range(base, low, high, offset, count) == [m.decode() for m in chosen]
    everything = sorted(m.encode() for m in model)
    assert index.lex_range(base) == [m.decode() for m in everything]
    for member in everything:  # a prefix, as search asks it
        low, high = b"[" + member, b"[" + member + b"\xff"
        assert index.lex_range(base, low, high, 0, 3) == [m.decode() for m in everything if m.startswith(member)][:3]
    if model:
        check_leaves(store, base, leaf_entries, {m: 0 for m in model})


def test_a_lexicographic_range_reads_a_sorted_set_beside_the_index_as_one(store):
    index = OrderedIndex(store, leaf_entries=2)
    base, beside = "{t:lex}", "t:lex"  # the index's hash tag is the set's name: one slot
    index.add(base, [(0, m) for m in "acegi"])
    store.zadd(beside, {m: 0 for m in "bdfg"})  # g in both (written again, not yet moved): read once
    assert index.lex_range(base, beside=beside) == list("abcdefgi")
    assert index.lex_range(base, "[b", "(g", offset=1, count=3, beside=beside) == list("cde")
    assert index.lex_range(base, "(c", "+", offset=3, beside=beside) == list("gi")
    assert index.absorb(base, beside, 3) == 3 and store.zrange(beside, 0, -1) == ["g"]
    assert index.lex_range(base, beside=beside) == list("abcdefgi")


def test_ties_at_one_score_span_many_leaves_and_read_in_member_order(store):
    index = OrderedIndex(store, leaf_entries=4)
    base = "t:{xp:1}"
    members = [f"c{i:03d}" for i in range(50)]
    index.add(base, [(7, m) for m in reversed(members)])
    assert store.zcard(base + ":d") > 10
    assert [m for m, _s in index.range(base, 7, 7)] == members
    assert [m for m, _s in index.range(base, 7, 7, offset=21, count=5)] == members[21:26]
    assert index.count(base, 7, 7) == 50 and index.count(base, 8, 9) == 0
    assert [m for m, _s in index.rev_range(base, 7, 7, offset=21, count=5)] == members[::-1][21:26]
    assert index.remove(base, [(7, m) for m in members[10:40]]) == 30
    assert [m for m, _s in index.range(base)] == members[:10] + members[40:]
    index.remove(base, [(7, m) for m in members])
    assert store.zcard(base + ":d") == 1  # the first leaf's entry stays; every other empty leaf left


def test_scores_at_the_encoding_s_ends_read_from_the_top(store):
    index = OrderedIndex(store, leaf_entries=2)
    base = "t:{xp:3}"
    index.add(base, [(2 ** 52, "a"), (2 ** 52, "b"), (2 ** 52 - 1, "c"), (-(2 ** 52), "d"), (0, "e")])
    assert [m for m, _s in index.rev_range(base, 2 ** 52, 2 ** 52 - 1)] == ["b", "a", "c"]
    assert [m for m, _s in index.rev_range(base, 2 ** 52 - 1, -(2 ** 52))] == ["c", "e", "d"]


def test_members_and_scores_outside_the_encoding_are_refused(store):
    index = OrderedIndex(store)
    with pytest.raises(ValueError):
        check_member("")
    with pytest.raises(ValueError):
        index.add("t:{xp:2}", [(2 ** 52 + 1, "a")])


@pytest.mark.parametrize("leaf_entries", [2, 3])
def test_a_move_out_of_a_leaf_whose_sep_ties_its_score_leaves_nothing_behind(store, leaf_entries):
    """A move from a score that a leaf's SEP shares, of a member below that SEP's, is no move in place: the leaf of
    the new key does not cover the old one (a check of the SEP's score alone, ``<=``, kept the old entry too)."""
    index = OrderedIndex(store, leaf_entries=leaf_entries)
    base = f"t{uuid.uuid4().hex[:8]}:{{xp:1}}"
    model = {m: 1 for m in "abcdefg"} | {"x": 2, "y": 3}
    index.add(base, [(s, m) for m, s in model.items()])
    for member in "abcdefg":
        for new in (2, 1, 3, 1):
            assert index.move(base, [(model[member], new, member)]) == 1
            model[member] = new
            check_leaves(store, base, leaf_entries, model)
            assert index.range(base) == expected_range(model, float("-inf"), float("inf"), 0, -1)
