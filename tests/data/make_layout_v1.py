"""Write tests/data/layout-v1.json: a small store as the release before the compact layout wrote it, for
tests/test_compaction.py (the migration is tested on data written by that release, not on a re-creation).

Run once, with that release's code first on the path (commit f5a5edb), against an empty Redis database:

    git worktree add --detach /tmp/layout-v1 f5a5edb
    PYTHONPATH=/tmp/layout-v1 SCOREKEEPER_TEST_REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python tests/data/make_layout_v1.py tests/data/layout-v1.json

It publishes a profile with every kind of rule the fold keeps state for (limits, once-per, expiry, decay), scores
interactions of 40 contacts (with attribute records and a custom type), lets expiries fall, makes manual changes
with notes, and dumps every key under the prefix by type.
"""
from __future__ import annotations

import json
import os
import sys
import tempfile
from datetime import datetime, timezone

from app import create_app
from app.scoring_service import tick
from tests.helpers import AUTH, API_KEY, contact_by_email, publish_profile, settle

RULES = [
    {"id": "open", "on": "email.opened", "points": 1, "where": {"machine_open": {"ne": True}},
     "limit": {"count": 3, "window": "1d"}},
    {"id": "click", "on": "email.clicked", "points": 3, "limit": {"once_per": "message_id"}},
    {"id": "click-recent", "on": "email.clicked", "points": 2, "expires_after": "2d"},
    {"id": "form", "on": "form.submitted", "points": 10, "decay": {"percent": 50, "every": "1d"}},
    {"id": "paid", "on": "payment.succeeded", "points": 50, "where": {"plan": {"in": ["pro", "team"]}}},
    {"id": "unsub", "on": "email.unsubscribed", "points": -20},
    {"id": "page", "on": "custom.page_view", "points": 1, "where": {"path": {"exists": True}}},
]
TYPES = ["email.opened", "email.clicked", "email.delivered", "custom.page_view", "form.submitted",
         "payment.succeeded", "email.unsubscribed", "email.opened", "email.clicked"]
DAY = 86_400_000


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat().replace("+00:00", "Z")


def main(out: str) -> None:
    url = os.environ["SCOREKEEPER_TEST_REDIS_URL"]
    tmp = tempfile.mkdtemp()
    app = create_app({"TESTING": True, "REDIS_URL": url, "API_KEYS": API_KEY, "PARTITIONS": 4, "WORKFLOWS_DIR": "",
                      "ARCHIVE_URL": f"sqlite:///{tmp}/archive.sqlite3", "HOT_HISTORY": "0"})
    client = app.test_client()
    with app.app_context():
        services = app.extensions["scorekeeper"]
        assert not services.redis.dbsize(), "needs an empty database"
        publish_profile(client, services, "engagement", RULES, [{"name": "cold", "min": 0}, {"name": "hot", "min": 20}])
        now = services.clock.now_ms()
        items = []
        for c in range(40):
            for i in range(12):
                type_ = TYPES[(c + i) % len(TYPES)]
                props = {"message_id": f"m{i % 3}", "machine_open": i % 5 == 0} if type_.startswith("email.") else \
                    {"path": f"/p/{i}"} if type_ == "custom.page_view" else \
                    {"plan": ["free", "pro", "team"][i % 3], "amount": 4900} if type_ == "payment.succeeded" else {}
                item = {"id": f"e{c}-{i}", "source": "crm", "type": type_, "contact": {"email": f"u{c}@example.com"},
                        "occurred_at": iso(now - 5 * DAY + i * 7 * 3_600_000 + c * 1000), "properties": props}
                if i == 4:
                    item["attributes"] = {"plan": "pro", "seats": c}
                items.append(item)
        for start in range(0, len(items), 100):
            resp = client.post("/v1/interactions", json={"interactions": items[start:start + 100]}, headers=AUTH)
            assert resp.status_code == 202, resp.get_json()
        settle(services)
        tick(services)
        settle(services)
        for c in range(0, 40, 7):
            cid = contact_by_email(client, f"u{c}@example.com")["id"]
            resp = client.post(f"/v1/contacts/{cid}/scores/engagement", headers=AUTH,
                               json={"add": 5, "reason": "met at a fair"})
            assert resp.status_code == 200, resp.get_json()
        settle(services)
        redis, prefix = services.redis, services.keys.prefix
        dump = {}
        for key in sorted(redis.scan_iter(match=f"{prefix}:*", count=1000)):
            kind = redis.type(key)
            value = {"hash": redis.hgetall, "list": lambda k: redis.lrange(k, 0, -1),
                     "set": lambda k: sorted(redis.smembers(k)), "string": redis.get,
                     "zset": lambda k: redis.zrange(k, 0, -1, withscores=True)}.get(kind)
            if value is not None:
                dump[key] = [kind, value(key)]
    with open(out, "w") as f:
        json.dump({"written_by": "f5a5edb", "settings": {"PARTITIONS": 4}, "keys": dump}, f, indent=0,
                  sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
