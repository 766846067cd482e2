"""A smart list's page as the API renders it (docs/performance.md, "Row 6 (2026-12-06, fourth session)"): its
contacts come back from index_page.lua as one JSON text, are read by ``_shown`` and rendered in place by the page's
renderer; whatever a contact's hash holds, the page is the one the generic reading gives — each contact read by
``ContactStore.get_contacts`` and rendered by ``render_contact``, in the order of the score index."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app import smart_lists
from app.contact_directory import render_contact
from app.scoring.fold import FoldState
from app.scoring.interactions import Interaction
from app.storage.redis_tools import dumps
from app.storage.timelines import PIECE_MARK, state_pieces

from .helpers import AUTH, publish_profile

#: Text as people and providers write it: quotes, backslashes, slashes, control characters, NUL, beyond ASCII
#: and beyond the BMP (what a JSON text escapes, or passes through as UTF-8).
TEXT = st.text(alphabet=st.sampled_from(['a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', '\x00', '\x01', '\x7f',
                                         'é', 'ß', '€', '\u2028', '😀', '@', '.', '%', '~']), max_size=12)

contact = st.fixed_dictionaries({
    "score": st.integers(min_value=0, max_value=60),
    "state": st.sampled_from(["whole", "pieces", "outside", "absent"]),
    "name": st.none() | TEXT,
    "external_id": st.none() | TEXT,
    "company": st.sampled_from([None, "", "acme.io", "Acme Ltd"]),
    "email_form": st.sampled_from(["short", "long", "both"]),
    "dnd": st.dictionaries(st.sampled_from(["email", "sms", "call"]), st.booleans(), max_size=2),
    "attributes": st.none() | st.dictionaries(TEXT, TEXT | st.integers(min_value=-2**53, max_value=2**53) | st.booleans(),
                                                 max_size=3),
    "tags": st.lists(TEXT.filter(bool), max_size=3, unique=True),
    "records": st.integers(min_value=0, max_value=2),
    "gone": st.booleans(),
})


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(contacts=st.lists(contact, min_size=1, max_size=8), limit=st.integers(min_value=1, max_value=9),
       cursor=st.integers(min_value=0, max_value=4))
def test_a_list_page_renders_as_each_contact_read_and_rendered_alone(client, services, contacts, limit, cursor):
    services.redis.flushdb()
    smart_lists._planned.clear()
    publish_profile(client, services, "eng", [{"id": "open", "on": "email.opened", "points": 1}],
                    bands=[{"name": "cold", "min": 0}, {"name": "warm", "min": 20}, {"name": "hot", "min": 40}])
    live = services.profiles.live()
    field = live["eng"].field
    emails = [f"p{n}@acme.io" for n in range(len(contacts))]
    ids = services.contacts.resolve_contacts([Interaction(id="x", source="t", type="email.opened", occurred_at=0,
                                                          email=email) for email in emails])
    keys = services.keys
    for cid, email, drawn in zip(ids, emails, contacts):
        hash_key = keys.contact(cid)
        stored = services.redis.hgetall(hash_key)
        email_field = next(f for f in stored if stored[f] == email)
        if drawn["email_form"] != "short":  # the other field of the email beside it, or instead of it
            other = "email" if email_field != "email" else "e"
            services.redis.hset(hash_key, other, email)
            if drawn["email_form"] == "long":
                services.redis.hdel(hash_key, email_field)
        state = dumps(FoldState(score=drawn["score"], outside=drawn["state"] == "outside").to_json())
        if drawn["state"] == "pieces":
            state = dumps(FoldState(score=drawn["score"], hits={f"rule-{k}": [k, k + 1] for k in range(12)}).to_json())
            pieces = state_pieces(state)
            services.redis.hset(hash_key, mapping={field: pieces[0],
                                                   **{f"{field}{PIECE_MARK}{i}": p for i, p in enumerate(pieces[1:], 1)}})
        elif drawn["state"] != "absent":
            services.redis.hset(hash_key, field, state)
        document = {"name": drawn["name"], "external_id": drawn["external_id"], "company": drawn["company"],
                    "attributes": dumps(drawn["attributes"]) if drawn["attributes"] is not None else None,
                    **{f"dnd:{channel}": "1" if on else "0" for channel, on in drawn["dnd"].items()},
                    **{f"~t:r{k}": dumps({"n": k}) for k in range(drawn["records"])}}
        if any(v is not None for v in document.values()):
            services.redis.hset(hash_key, mapping={k: v for k, v in document.items() if v is not None})
        if drawn["tags"]:
            services.contacts.change_tags(cid, drawn["tags"])
        if drawn["gone"]:
            services.redis.delete(hash_key)
    services.scores.update_indexes({("eng", live["eng"].version): {cid: c["score"] for cid, c in zip(ids, contacts)}}, {})
    list_id = client.post("/v1/smart-lists", headers=AUTH,
                          json={"name": "all", "profile": "eng", "op": "gte", "value": 0}).get_json()["id"]

    by_score = sorted(zip(ids, contacts), key=lambda pair: (pair[1]["score"], pair[0]), reverse=True)
    wanted = [cid for cid, _drawn in by_score][cursor:cursor + limit]
    expected = [render_contact(services, c, live, services.grades.all())
                for c in services.contacts.get_contacts(wanted) if c is not None]
    for _ in range(2):  # planned afresh, then the page its documents planned (documents_and_page)
        resp = client.get(f"/v1/smart-lists/{list_id}/contacts", headers=AUTH,
                          query_string={"limit": limit, "cursor": cursor})
        assert resp.status_code == 200
        body = resp.get_json()
        assert body["items"] == expected
        assert body["total"] == len(contacts)
