from .helpers import AUTH, publish_profile, score_of, send, settle


def test_an_interaction_is_scored_after_publish(client, services):
    publish_profile(client, services, "engagement", [{"id": "open", "on": "email.opened", "points": 5}])
    send(client, {"id": "e1", "type": "email.opened", "contact": {"email": "Ann@Example.com "}})
    settle(services)
    assert score_of(client, "ann@example.com", "engagement") == 5
    contact = client.get("/v1/contacts", query_string={"email": "ann@example.com"}, headers=AUTH).get_json()["items"][0]
    ledger = client.get(f"/v1/contacts/{contact['id']}/scores/engagement/history", headers=AUTH).get_json()
    assert ledger["items"][0]["change"] == 5
