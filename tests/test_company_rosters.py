"""Company rosters written by the release before this layout (tests/data/layout-v1.json: every contact at 0 in
its company's roster, and a set of members per company and contact bucket beside it): the company filter and
the company's page read them exactly; ``rosters_once`` rewrites them into the form this release writes (each
contact at its contact bucket + 1) and drops the sets, on one Redis and on a cluster, and they read the same."""
from __future__ import annotations

import json

import pytest

from app.indexes import ROSTER_MIGRATION, rosters_once
from tests.helpers import AUTH
from tests.test_compaction import load_layout_v1

pytestmark = [pytest.mark.app_settings(HOT_HISTORY="0"), pytest.mark.also_on_cluster]


def company_filter(client, op: str) -> list[str]:
    """Every contact the API's ``company`` filter gives, page after page (newest contact first)."""
    document = json.dumps({"conditions": [{"field": "company", "op": op, "company": "example.com"}]})
    found, cursor = [], 0
    while cursor is not None:
        page = client.get("/v1/contacts", query_string={"filter": document, "limit": 7, "cursor": cursor},
                          headers=AUTH).get_json()
        found += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
    return found


def test_rosters_of_the_release_before_read_the_same_before_and_after_their_rewrite(client, services):
    contact_ids = load_layout_v1(services)
    roster = services.companies.roster_key("example.com")
    assert services.redis.zcount(roster, 0, 0) == len(contact_ids) == 40  # the old form: every contact at 0
    sets = [services.keys.company_members("example.com", b) for b in range(services.sharding.buckets)]
    assert sum(services.redis.scard(k) for k in sets) == 40
    page = client.get("/v1/companies/example.com?limit=15&cursor=10", headers=AUTH).get_json()
    assert page["contact_ids"] == sorted(contact_ids)[10:25] and page["contacts"] == 40
    members = company_filter(client, "eq")
    assert sorted(members) == sorted(contact_ids) and company_filter(client, "ne") == []

    assert rosters_once(services) == 40
    assert all(score == services.sharding.bucket_of(cid) + 1
               for cid, score in services.redis.zrange(roster, 0, -1, withscores=True))
    assert not any(services.redis.exists(k) for k in sets)
    assert services.jobs.migration_done(ROSTER_MIGRATION) and rosters_once(services) is None
    assert client.get("/v1/companies/example.com?limit=15&cursor=10", headers=AUTH).get_json() == page
    assert company_filter(client, "eq") == members and company_filter(client, "ne") == []


@pytest.mark.parametrize("companies_at_once", [1, 4, 100])
def test_the_rewrite_takes_companies_in_chunks_and_rosters_longer_than_a_page(services, companies_at_once):
    """Eleven companies of the old form, spread over the company buckets, with rosters of 0 to 9 contacts (a page
    is 3): every contact ends at its bucket + 1, every old member set is gone, whatever the chunk size."""
    companies = services.companies
    expected: dict[str, dict[str, int]] = {}
    sets = []
    for n in range(11):
        company = f"co{n}.example"
        bucket = companies.bucket_of(company)
        roster = services.keys.company_roster(company, bucket)
        members = {f"c{n}x{i:02d}": 0 for i in range(n % 10)}
        services.redis.zadd(services.keys.companies(bucket), {company: 1})
        if members:
            services.redis.zadd(roster, members)
        for cid in members:
            key = services.keys.company_members(company, services.sharding.bucket_of(cid))
            services.redis.sadd(key, cid)
            sets.append(key)
        expected[roster] = {cid: services.sharding.bucket_of(cid) + 1 for cid in members}

    assert companies.place_rosters(page=3, companies_at_once=companies_at_once) == sum(map(len, expected.values()))
    for roster, scores in expected.items():
        assert {cid: int(s) for cid, s in services.redis.zrange(roster, 0, -1, withscores=True)} == scores
    assert sets and not any(services.redis.exists(key) for key in sets)
    assert companies.place_rosters(page=3, companies_at_once=companies_at_once) == 0
