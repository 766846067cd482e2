"""Email identity keys only where they say something (docs/performance.md, row 5a of 2026-12-04): an email names
the contact of its identity key, else the contact it derives (``contact_id_for("email", email)``) when that exists.
On one Redis, once ``identity_once`` is recorded, a contact first seen by its email is created without a key, and
``claim_identities.lua`` / ``ingest_one_trip.lua`` decide who links a new email first by looking at the key and the
derived contact at once; a cluster keeps every key. Whatever the order of requests, each email names exactly one
contact, the one every interaction carrying it was stored for — as with a key for every email."""
from __future__ import annotations

import itertools
import json
import random
import threading

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from app.contact_layout import identity_once
from app.ingest import ingest
from app.scoring.interactions import Interaction
from app.storage.contacts import IDENTITIES_IMPLIED, contact_id_for
from app.storage.timelines import StatesMoved
from tests.helpers import AUTH
from tests.test_compaction import LAYOUT_V1, load_layout_v1
from tests.test_ingest_one_trip import mark_every_partition_woken

pytestmark = pytest.mark.also_on_cluster

AT = 1_790_000_000_000


@pytest.fixture(params=["keyed", "implied"])
def mode(request, services) -> str:
    """``implied``: the upgrade's migration recorded (on a cluster it changes nothing: every key is kept)."""
    if request.param == "implied":
        identity_once(services)
    return request.param


def email_keys(services) -> dict[str, str]:
    prefix = services.keys.identity("email", "")
    return {key[len(prefix):]: services.redis.get(key) for key in scan(services, prefix + "*")}


def scan(services, match: str) -> list[str]:
    redis = services.redis
    if hasattr(redis, "get_nodes"):  # a cluster: every primary's keys
        return [key for node in redis.get_primaries() for key in redis.scan_iter(match=match, target_nodes=node)]
    return list(redis.scan_iter(match=match))


def one(n: int, email: str | None = None, ext: str | None = None) -> Interaction:
    return Interaction(id=f"i{n}", source="test", type="email.opened", occurred_at=AT, email=email, external_id=ext)


def filler(services, beside: Interaction, n: int) -> Interaction:
    """An interaction of a contact in another partition than ``beside``'s: sent with it, the request takes the
    multi-step path."""
    own = services.sharding.partition_of(contact_id_for(*(("email", beside.email) if beside.email
                                                            else ("ext", beside.external_id))))
    for k in range(1000):
        email = f"filler{k}@example.org"
        if services.sharding.partition_of(contact_id_for("email", email)) != own:
            return one(n, email)
    raise AssertionError("one partition")


def store(services, interaction: Interaction, steps: bool = False) -> None:
    """Ingest an interaction alone (one trip on a single Redis) or with a filler (the multi-step path)."""
    batch = [interaction, filler(services, interaction, 10 ** 9 + int(interaction.id[1:]))] if steps else [interaction]
    assert ingest(services, batch).accepted == len(batch)


def stored_for(services) -> dict[str, str]:
    """Interaction id -> the contact its stream entry was stored for."""
    return {entry["r"]["id"]: entry["c"] for p in range(services.sharding.partitions)
            for _, entry in services.partitions.read_partition(p, 10 ** 6)}


def documents_by_email(services) -> dict[str, set[str]]:
    """Email -> the registered contacts whose document holds it."""
    ids = [cid for page in services.contacts.contact_pages(1000) for cid in page]
    out: dict[str, set[str]] = {}
    for cid, contact in zip(ids, services.contacts.get_contacts(ids)):
        if contact and contact["email"]:
            out.setdefault(contact["email"], set()).add(cid)
    return out


def single_redis(services) -> bool:
    return services.contacts.single_node


def test_a_contact_first_seen_by_its_email_has_a_key_only_before_the_upgrade(services, mode, client):
    store(services, one(1, "ann@example.com"))  # one trip
    store(services, one(2, "bob@example.com"), steps=True)
    ann, bob = contact_id_for("email", "ann@example.com"), contact_id_for("email", "bob@example.com")
    implied = mode == "implied" and single_redis(services)
    keys = email_keys(services)
    assert ("ann@example.com" in keys, "bob@example.com" in keys) == (not implied, not implied)
    assert services.contacts.find_contact(email="ann@example.com") == ann
    assert services.contacts.find_contact(email="bob@example.com") == bob
    found = client.get("/v1/contacts", query_string={"email": "Ann@Example.com"}, headers=AUTH).get_json()["items"]
    assert [c["id"] for c in found] == [ann]
    store(services, one(3, "ann@example.com", "u-ann"))
    store(services, one(4, "bob@example.com"))
    assert services.contacts.find_contact(external_id="u-ann") == ann
    stored = stored_for(services)
    assert [stored[i] for i in ("i1", "i2", "i3", "i4")] == [ann, bob, ann, bob]
    assert services.contacts.contact_count() == 2 + 1  # and the filler's


@pytest.mark.parametrize("steps", [False, True], ids=["one-trip", "steps"])
def test_an_email_linked_to_a_contact_known_by_its_external_id_keeps_its_key(services, mode, steps):
    store(services, one(1, ext="u-7"))
    known = contact_id_for("ext", "u-7")
    store(services, one(2, "cat@example.com", "u-7"), steps=steps)  # the email joins the contact of u-7
    assert email_keys(services)["cat@example.com"] == known
    store(services, one(3, "cat@example.com"), steps=steps)
    assert services.contacts.find_contact(email="cat@example.com") == known
    assert {k: v for k, v in stored_for(services).items() if k in ("i1", "i2", "i3")} == dict.fromkeys(
        ("i1", "i2", "i3"), known)
    assert not services.contacts.contact_exists(contact_id_for("email", "cat@example.com"))


def test_an_email_whose_own_contact_exists_is_not_linked_elsewhere(services, mode):
    store(services, one(1, ext="u-8"))
    store(services, one(2, "dan@example.com"))
    dan = contact_id_for("email", "dan@example.com")
    for steps in (False, True):
        store(services, one(3 + steps, "dan@example.com", "u-8"), steps=steps)  # the email wins
    assert stored_for(services)["i3"] == stored_for(services)["i4"] == dan
    assert services.contacts.find_contact(email="dan@example.com") == dan


def test_the_claim_decides_between_a_link_elsewhere_and_the_emails_own_contact(services, mode):
    """What each request sends after reading an email as new, when another request got there first: the link to a
    contact known by its external id finds the email's own contact created, and the other way round."""
    contacts = services.contacts
    own = contact_id_for("email", "eve@example.com")
    store(services, one(1, "eve@example.com"))
    assert contacts.claim_identities({("email", "eve@example.com"): "cOTHER"}) == {("email", "eve@example.com"): own}
    assert "eve@example.com" not in email_keys(services) or email_keys(services)["eve@example.com"] == own

    fay = contact_id_for("email", "fay@example.com")
    assert contacts.claim_identities({("email", "fay@example.com"): "cOTHER"}) == {("email", "fay@example.com"):
                                                                                 "cOTHER"}
    assert contacts.claim_identities({("email", "fay@example.com"): fay}) == {("email", "fay@example.com"): "cOTHER"}
    store(services, one(2, "fay@example.com"))  # the one-trip script finds the key: the steps store it
    assert stored_for(services)["i2"] == "cOTHER"
    assert not contacts.contact_exists(fay)


@pytest.mark.single_redis  # one trip is a single Redis's
def test_a_known_contact_without_a_key_is_still_one_round_trip(services, round_trips):
    """The one-trip script finds an email's contact by its existence: no second call, no steps."""
    assert services.partitions.one_trip
    identity_once(services)
    store(services, one(1, "hal@example.com"))
    store(services, one(2, ext="u-hal"))
    mark_every_partition_woken(services)
    for n, ext in ((3, None), (4, "u-hal")):  # the external id names another contact: the email wins
        round_trips.clear()
        store(services, one(n, "hal@example.com", ext))
        assert len(round_trips) == 1
    assert set(email_keys(services)) == set()
    stored = stored_for(services)
    assert stored["i3"] == stored["i4"] == contact_id_for("email", "hal@example.com")


def run_at_once(jobs: list, app) -> None:
    """Each job in a thread of its own, started together."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job) -> None:
        with app.app_context():
            barrier.wait()
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


def new_emails_at_once(app, services, rounds: int, rng: random.Random, before=lambda r: None,
                       wrap=lambda job: job) -> dict[str, str]:
    """Round ``r``: four requests at once for a new email ``r{r}@example.com``, each alone or with the external id
    ``x{r}`` (made first, after ``before(r)``), each in one trip or in steps (``wrap`` may add to each job). Returns
    each interaction's id -> its email."""
    sent = {}
    for r in range(rounds):
        before(r)
        store(services, one(10_000 + r, ext=f"x{r}"))
    for r in range(rounds):
        email, jobs = f"r{r}@example.com", []
        for t in range(4):
            n = 100 * r + t
            interaction = one(n, email, f"x{r}" if rng.random() < 0.5 else None)
            sent[f"i{n}"] = email
            steps = rng.random() < 0.5
            jobs.append(wrap(lambda i=interaction, s=steps: store(services, i, steps=s)))
        run_at_once(jobs, app)
    return sent


def test_requests_at_once_leave_one_contact_per_email(app, services, mode):
    """Rounds of four requests at once for a new email: alone or with an external id known as another contact,
    each in one trip or in steps. Afterwards every interaction with the email was stored for the contact it
    names, and that contact's document is the only one holding it."""
    rounds = 24
    sent = new_emails_at_once(app, services, rounds, random.Random(17))
    stored, documents = stored_for(services), documents_by_email(services)
    for r in range(rounds):
        email = f"r{r}@example.com"
        named = services.contacts.find_contact(email=email)
        assert named in (contact_id_for("email", email), contact_id_for("ext", f"x{r}"))
        assert {stored[i] for i, e in sent.items() if e == email} == {named}
        assert documents[email] == {named}
        assert services.contacts.find_contact(external_id=f"x{r}") == contact_id_for("ext", f"x{r}")


def test_the_upgrade_drops_only_keys_the_contacts_say(services, client):
    """tests/data/layout-v1.json (every email keyed) read the same before, half way through and after
    ``identity_once``; an email linked elsewhere, and a key whose contact is missing, keep theirs."""
    contact_ids = load_layout_v1(services)
    store(services, one(1, ext="u-9"))
    store(services, one(2, "gus@example.com", "u-9"))
    services.redis.set(services.keys.identity("email", "lost@example.com"), contact_id_for("email", "lost@example.com"))
    # two requests at once, {email, external id} and {email} for another contact, can leave the email's own contact
    # made by its external id's link while the email names the other: that key says something
    services.redis.set(services.keys.identity("email", "gus@example.com"), contact_id_for("ext", "u-9"))
    services.redis.hset(services.keys.contact(contact_id_for("email", "gus@example.com")), "external_id", "u-gus")
    emails = [e for e in json.loads(LAYOUT_V1.read_text())["keys"] if ":id:email:" in e]
    emails = [e.split(":id:email:", 1)[1] for e in emails]

    def named() -> dict[str, str | None]:
        return {e: services.contacts.find_contact(email=e) for e in [*emails, "gus@example.com", "lost@example.com"]}

    def looked_up() -> dict[str, str]:
        return {e: client.get("/v1/contacts", query_string={"email": e}, headers=AUTH).get_json()["items"][0]["id"]
                for e in emails}

    before, api_before = named(), looked_up()
    assert sorted(before[e] for e in emails) == sorted(contact_ids)
    dropped = 0
    if single_redis(services):
        dropped = services.contacts.drop_implied_identities(page=15, pages=1)  # a walk cut short
        assert 13 <= dropped <= 15 and len(email_keys(services)) == 42 - dropped
        assert (named(), looked_up()) == (before, api_before)
    assert identity_once(services) == (40 - dropped if single_redis(services) else 0)
    assert identity_once(services) is None
    left = email_keys(services)
    assert set(left) == ({"gus@example.com", "lost@example.com"} if single_redis(services)
                         else {*emails, "gus@example.com", "lost@example.com"})
    assert (named(), looked_up()) == (before, api_before)
    for n, email in enumerate(emails):  # later interactions go to the same contacts
        store(services, one(100 + n, email), steps=n % 2 == 1)
    stored = stored_for(services)
    assert [stored[f"i{100 + n}"] for n in range(len(emails))] == [before[e] for e in emails]
    assert named() == before


EMAILS = [f"m{i}@example.com" for i in range(4)]
EXAMPLES = itertools.count(1)
EXTS = [f"e{i}" for i in range(3)]


class IdentityModel(RuleBasedStateMachine):
    """Any sequence of ingests (an email, an external id or both; one trip or steps), cut-short migration walks and
    the upgrade, against the model: the contact an interaction is for is its email's, else its external id's, else
    the one its email (else external id) derives; each identity new to the model joins that contact."""

    services = None  # set by the test

    @initialize()
    def fresh(self) -> None:
        services = type(self).services
        services.redis.hdel(services.keys.migrations(), IDENTITIES_IMPLIED)
        services.contacts.identities_implied = StatesMoved(services.redis, services.keys, IDENTITIES_IMPLIED)
        self.salt = next(EXAMPLES)  # this example's own identities (Hypothesis seeds ``random`` alike each time)
        self.named: dict[tuple[str, str], str] = {}
        self.n = self.salt * 1000  # interaction ids of its own too

    def ident(self, kind: str, value: str) -> tuple[str, str]:
        return kind, (f"{self.salt}-{value}" if kind == "email" else f"{value}-{self.salt}")

    @rule(email=st.sampled_from([None, *EMAILS]), ext=st.sampled_from([None, *EXTS]), steps=st.booleans())
    def ingest(self, email, ext, steps) -> None:
        if email is None and ext is None:
            return
        idents = [self.ident(k, v) for k, v in (("email", email), ("ext", ext)) if v is not None]
        expected = next((self.named[i] for i in idents if i in self.named), None) or contact_id_for(*idents[0])
        for ident in idents:
            self.named.setdefault(ident, expected)
        self.n += 1
        values = dict(idents)
        store(type(self).services, one(self.n, values.get("email"), values.get("ext")), steps=steps)
        assert stored_for(type(self).services)[f"i{self.n}"] == expected

    @precondition(lambda self: not type(self).services.contacts.identities_implied())
    @rule()
    def walk_cut_short(self) -> None:
        if type(self).services.contacts.single_node:
            type(self).services.contacts.drop_implied_identities(page=2, pages=1)

    @rule()
    def upgrade(self) -> None:
        identity_once(type(self).services)

    @invariant()
    def every_identity_names_its_contact(self) -> None:
        contacts = type(self).services.contacts
        for (kind, value), contact_id in self.named.items():
            found = contacts.find_contact(**{"email" if kind == "email" else "external_id": value})
            assert found == contact_id, (kind, value)


def test_any_sequence_of_ingests_and_upgrades_resolves_as_the_model(services):
    IdentityModel.services = services
    run = IdentityModel.TestCase()
    run.settings = settings(max_examples=25, stateful_step_count=14, deadline=None,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    run.runTest()


@pytest.mark.single_redis  # a cluster links in two steps (the key and the contact are in other slots)
@pytest.mark.parametrize("ident", [("email", "ida@example.com"), ("ext", "u-ida")])
def test_a_request_cut_short_after_its_claim_leaves_a_whole_contact(services, mode, ident):
    """The multi-step path's claim is the step that links a new identity; were the contact's document, registry
    entry and search term written by another step after it, a process dying between the two would leave an
    identity naming a contact that is nowhere listed, and the request's retry, finding the identity linked,
    would never write them."""
    contacts = services.contacts
    own = contact_id_for(*ident)
    assert contacts.claim_identities({ident: own}) == {ident: own}  # the process dies here
    interaction = one(1, ident[1]) if ident[0] == "email" else one(1, ext=ident[1])
    assert contacts.resolve_contacts([interaction]) == [own]  # the provider's retry
    contact = contacts.get_contact(own)
    assert contact is not None and contact["created_at"] > 0
    assert contact["email" if ident[0] == "email" else "external_id"] == ident[1]
    assert contacts.contact_count() == 1 and [cid for page in contacts.contact_pages(10) for cid in page] == [own]
    assert contacts.search_contacts(ident[1][:3], 10) == [own]
