"""Shared parts of the dashboard tests (no tests, no fixtures: ``dash`` and ``wf_dash`` are in conftest.py):
signing in, posting a form with its CSRF token, and a published profile with engaged contacts."""
from __future__ import annotations

from .helpers import API_KEY, publish_profile, send, settle

RULES = [{"id": "open", "on": "email.opened", "points": 5},
         {"id": "click", "on": "email.clicked", "points": 10}]
BANDS = [{"name": "warm", "min": 10}, {"name": "hot", "min": 30}]


def csrf_of(client) -> str:
    with client.session_transaction() as session:
        return session["csrf"]


def sign_in(client, key: str = API_KEY):
    client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"api_key": key, "csrf_token": csrf_of(client)})


def post(client, url: str, data: dict | None = None, **kwargs):
    return client.post(url, data={**(data or {}), "csrf_token": csrf_of(client)}, **kwargs)


def text(resp) -> str:
    return resp.get_data(as_text=True)


def engaged(client, services, *people: tuple[str, int]) -> None:
    """Publish ``engagement`` and give each email that many clicks (10 points each)."""
    publish_profile(client, services, "engagement", RULES, BANDS)
    for email, clicks in people:
        for n in range(clicks):
            send(client, {"id": f"{email}-{n}", "type": "email.clicked", "contact": {"email": email}})
    settle(services)


def contact_id(services, email: str) -> str:
    return services.contacts.find_contact(email=email)
