"""The dashboard's preview says how often each cap of the draft bites over history (as the API's preview does):
docs/scoring-models.md, "Groups and caps"."""
from __future__ import annotations

from .dashboard_helpers import post
from .helpers import AUTH, publish, put_profile, send, settle

OPEN = {"id": "open", "on": "email.opened", "points": 12, "group": "email"}


def test_the_preview_says_how_often_each_cap_bites(client, services, dash):
    put_profile(client, "engagement", [OPEN], groups=[{"id": "email", "max_points": 30}], max_score=100)
    publish(client, services, "engagement")
    for i in range(4):  # 12, 12, 6 (capped), 0 (capped)
        send(client, {"id": f"o{i}", "type": "email.opened", "contact": {"email": "ann@example.com"}})
    settle(services)
    api = client.post("/v1/profiles/engagement/preview", headers=AUTH).get_json()["caps"]
    assert api == [{"cap": "group:email", "max": 30, "entries": 2, "contacts": 1},
                   {"cap": "max_score", "max": 100, "entries": 0, "contacts": 0}]
    page = post(dash, "/dashboard/profiles/engagement/preview", {
        "name": "Engagement", "bands_rows": "0", "groups_rows": "1", "groups-0-id": "email", "groups-0-max": "30",
        "groups-0-was": "email", "max_score": "100"}).get_data(as_text=True)
    assert "Group email (30): cut 2 ledger entries for 1 contact" in page
    assert "The maximum score (100): never bites over history" in page
