"""What a page of contacts reads, in one script call each on a single Redis: the page off one bucketed index
(index_page.lua) answers exactly what two pipelined round trips and the merge in Python answer (a cluster's
way, and any page deeper than ``SCRIPT_PAGE_ROWS``), and both what sorting every entry answers; the page's
contacts (read_contacts.lua) read as a pipeline reads them."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.storage import queries
from app.storage.queries import ContactQuery
from app.storage.redis_tools import call_script

#: Score ranges as ZRANGE ... BYSCORE REV takes them, highest first: one, two ("not equal"), excluded bounds.
RANGES = [
    [("+inf", "-inf")],
    [("+inf", "2")],
    [("+inf", "(3"), ("(3", "-inf")],
    [("6", "2")],
    [("(6", "(2"), ("(1.5", "-1")],
]

#: Members: short ones, and long ones that share their first six bytes (the script compares those as one number,
#: the rest byte by byte), one a prefix of another, bytes beyond ASCII.
MEMBERS = ["c1", "c2", "c10", "ca", "cb", "b", "c", "cé", "c\u00ff", "c0ffee", "c0ffee1", "c0ffee12", "c0ffeé",
           "c0ffee\u00ff", "c0ffe", "c0ffef"]

entries = st.lists(st.tuples(st.sampled_from(MEMBERS),
                             st.integers(min_value=0, max_value=40),
                             st.sampled_from([0.0, 1.0, 1.5, 2.0, 3.0, 6.0, -1.0, 1e15, float("inf")])),
                   max_size=60)


def expected_page(rows: dict[str, float], ranges, limit: int, cursor: int) -> tuple[list, int]:
    """Every entry sorted: the ranges one after the other, score then member descending within one."""
    def inside(score: float, high: str, low: str) -> bool:
        def bound(text: str) -> tuple[float, bool]:
            return (float(text[1:]), True) if text.startswith("(") else (float(text), False)
        (hi, hi_open), (lo, lo_open) = bound(high), bound(low)
        return (score > lo if lo_open else score >= lo) and (score < hi if hi_open else score <= hi)
    ordered = []
    for high, low in ranges:
        ordered += sorted(((m, s) for m, s in rows.items() if inside(s, high, low)),
                          key=lambda r: (r[1], r[0]), reverse=True)
    return [(m, int(s)) for m, s in ordered[cursor:cursor + limit]], len(ordered)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=entries, ranges=st.sampled_from(RANGES), limit=st.integers(min_value=1, max_value=12),
       cursor=st.integers(min_value=0, max_value=70), deep=st.booleans(), buckets=st.sampled_from([1, 2, 4, 7]))
def test_the_script_pages_as_python_merges_and_as_sorting_everything(services, monkeypatch, rows, ranges,
                                                                    limit, cursor, deep, buckets):
    keys = [f"test:index-page:{b}" for b in range(buckets)]
    services.redis.delete(*[f"test:index-page:{b}" for b in range(7)])
    stored: dict[str, float] = {}
    for member, bucket_seed, score in rows:
        member = f"{member}{bucket_seed}"
        if score == float("inf"):
            score = 7.0  # ZRANGE's "+inf" bound is tested by RANGES; an infinite score never is an index's
        stored[member] = score
        services.redis.zadd(keys[bucket_seed % buckets], {member: score})
        for other in keys:
            if other != keys[bucket_seed % buckets]:
                services.redis.zrem(other, member)
    query = ContactQuery(services.scores, services.contacts)
    with monkeypatch.context() as patch:
        if deep:  # every page deeper than the script's limit: the Python merge
            patch.setattr(queries, "SCRIPT_PAGE_ROWS", 0)
        script = query._ranged(keys, ranges, limit, cursor)
    query.single_node = False
    python = query._ranged(keys, ranges, limit, cursor)
    assert script == python
    items, total = expected_page(stored, ranges, limit, cursor)
    assert script["total"] == total
    assert script["items"] == items
    assert script["next_cursor"] == (cursor + len(items) if cursor + len(items) < total else None)
    if len(ranges) == 1 and cursor + limit <= queries.SCRIPT_PAGE_ROWS:
        # a smart list's kept plan: the page uncounted, then its count asked for by a call of its own
        query.single_node = True
        uncounted = call_script(services.redis, query._index_page, keys, query._page_args(limit, cursor, ranges, None,
                                                                                          counted=False))
        count = call_script(services.redis, query._index_page, keys, query._page_args(0, 0, ranges, None))
        assert uncounted[0] == -1 and count == [total, []]
        assert ContactQuery._page_of([count[0], uncounted[1]], cursor, True, None) == script


def test_members_that_share_their_first_bytes_order_byte_by_byte(services):
    """Ties of score between members whose first six bytes are the same: the script orders them by the bytes after
    (a member that begins another comes after it, as ZRANGE ... REV orders them)."""
    keys = [f"test:index-page:tie:{b}" for b in range(5)]
    services.redis.delete(*keys)
    members = [f"c0ffee{n}" for n in range(40)] + ["c0ffe", "c0ffee", "c0ffeé", "c0ffee\u00ff1", "c0ffef"]
    for n, member in enumerate(members):
        services.redis.zadd(keys[n % 5], {member: 3.0 if n % 3 else 2.0})
    query = ContactQuery(services.scores, services.contacts)
    rows = {m: (3.0 if n % 3 else 2.0) for n, m in enumerate(members)}
    for cursor, limit in ((0, 50), (0, 7), (11, 9), (30, 20)):
        items, total = expected_page(rows, [("+inf", "-inf")], limit, cursor)
        page = query._ranged(keys, [("+inf", "-inf")], limit, cursor)
        assert page["items"] == items and page["total"] == total == len(members)


def test_the_registry_pages_newest_first_with_creation_times_as_scores(services):
    """Without a sort profile the registry's scores are creation times (seconds, with a fraction): the script
    orders and returns them as the Python merge does, with no score."""
    keys = [f"test:index-page:reg:{b}" for b in range(3)]
    services.redis.delete(*keys)
    for n in range(30):
        services.redis.zadd(keys[n % 3], {f"c{n:02d}": 1764690000.123456 + (n % 7) * 0.000001})
    query = ContactQuery(services.scores, services.contacts)
    for cursor in (0, 5, 29, 30):
        script = query._ranged(keys, [("+inf", "-inf")], 7, cursor, scored=False)
        query.single_node = False
        assert script == query._ranged(keys, [("+inf", "-inf")], 7, cursor, scored=False)
        query.single_node = True
        assert all(score is None for _cid, score in script["items"])


def test_a_page_of_contacts_reads_the_same_in_one_script_call_as_pipelined(client, services):
    """get_contacts on a single Redis (read_contacts.lua) and on a cluster (a pipeline) give the same
    documents: tags, DND, attributes, a missing contact, a state stored whole, one in pieces and one marked
    outside."""
    from app.scoring.fold import FoldState
    from app.storage.redis_tools import dumps
    from app.storage.timelines import PIECE_MARK, state_pieces

    from .helpers import AUTH, contact_by_email, send, settle

    for n in range(3):
        send(client, {"id": f"e{n}", "type": "email.opened", "contact": {"email": f"page{n}@example.com"},
                      "occurred_at": "2026-11-01T00:00:00Z"})
    settle(services)
    ids = [contact_by_email(client, f"page{n}@example.com")["id"] for n in range(3)]
    services.contacts.change_tags(ids[0], ["vip", "with space"])
    client.patch(f"/v1/contacts/{ids[1]}", headers=AUTH,
                 json={"dnd": {"email": True}, "attributes": {"plan": "pro"}})
    long_state = FoldState(score=42, hits={f"rule-{k}": [k, k + 1] for k in range(12)})
    pieces = state_pieces(dumps(long_state.to_json()))
    assert len(pieces) > 1
    services.redis.hset(services.keys.contact(ids[0]), mapping={
        "long@1": pieces[0], **{f"long@1{PIECE_MARK}{i}": p for i, p in enumerate(pieces[1:], 1)}})
    services.redis.hset(services.keys.contact(ids[2]), mapping={
        "short@1": dumps(FoldState(score=7).to_json()),
        "gone@1": dumps(FoldState(score=9, outside=True).to_json())})
    wanted = [ids[2], "c-no-such-contact", ids[0], ids[1]]
    script = services.contacts.get_contacts(wanted)
    services.contacts.single_node = False
    try:
        assert services.contacts.get_contacts(wanted) == script
    finally:
        services.contacts.single_node = True
    assert script[1] is None
    assert script[2]["states"]["long@1"] == long_state and script[2]["tags"] == ["vip", "with space"]
    assert script[3]["dnd"] == {"email": True} and script[3]["attributes"] == {"plan": "pro"}
    assert script[0]["states"]["short@1"].score == 7 and "gone@1" not in script[0]["states"]
    assert services.contacts.get_contacts([]) == []

    # What a page of a filter reads (ContactQuery.shown_contacts): the same documents, and of the fold states
    # only the fields asked for, each its score (none where outside or absent), on one Redis and on a cluster
    fields = ["long@1", "short@1", "gone@1", "absent@1"]
    query = ContactQuery(services.scores, services.contacts)
    shown = query.shown_contacts(wanted, fields)
    query.single_node = False
    assert query.shown_contacts(wanted, fields) == shown
    expected = [None if c is None else {**c, "states": {f: queries.Shown(c["states"][f].score)
                                                         for f in fields if f in c["states"]}} for c in script]
    assert shown == expected
    assert shown[0]["states"] == {"short@1": queries.Shown(7)} and shown[2]["states"] == {"long@1": queries.Shown(42)}
    assert query.shown_contacts([], fields) == []


def test_a_page_read_off_an_index_reads_its_contacts_in_the_same_call(client, services):
    """``ContactQuery.run`` with ``fields``: on a single Redis, index_page.lua returns the page's contacts with
    the page (their keys made from the key-name parts it is sent); they read as ``shown_contacts`` reads them,
    and as a cluster's way (pipelines, the merge in Python) reads them, page after page."""
    from app.contact_filter import ContactFilter
    from app.scoring.fold import FoldState
    from app.storage.redis_tools import dumps

    from .helpers import contact_by_email, send, settle

    for n in range(7):
        send(client, {"id": f"p{n}", "type": "email.opened", "contact": {"email": f"same-call{n}@example.com"},
                      "occurred_at": "2026-11-01T00:00:00Z"})
    settle(services)
    ids = [contact_by_email(client, f"same-call{n}@example.com")["id"] for n in range(7)]
    services.contacts.change_tags(ids[3], ["vip"])
    services.redis.hset(services.keys.contact(ids[5]), mapping={"x@1": dumps(FoldState(score=5).to_json())})
    fields = ["x@1"]
    query = ContactQuery(services.scores, services.contacts)
    seen = []
    for cursor in (0, 3, 6, 9):
        query.single_node = True
        page = query.run(ContactFilter(), {}, 3, cursor, 0, fields)
        assert page["contacts"] == query.shown_contacts([cid for cid, _ in page["items"]], fields)
        assert [c["id"] for c in page["contacts"]] == [cid for cid, _ in page["items"]]
        query.single_node = False
        assert query.run(ContactFilter(), {}, 3, cursor, 0, fields) == page
        assert "contacts" not in query.run(ContactFilter(), {}, 3, cursor, 0)
        seen += page["contacts"]
    assert sorted(c["id"] for c in seen) == sorted(ids)
    by_id = {c["id"]: c for c in seen}
    assert by_id[ids[3]]["tags"] == ["vip"] and by_id[ids[5]]["states"] == {"x@1": queries.Shown(5)}
