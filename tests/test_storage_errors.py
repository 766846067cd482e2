"""Storage errors leave the storage layer as its own exceptions, and become HTTP in one place:
a store that does not answer is a 503 with Retry-After (JSON for the API, a page for the dashboard),
a command the store refuses is a logged 500."""
from __future__ import annotations

import socket

import pytest

from app.storage.errors import StoreError, StoreUnavailable

from .helpers import AUTH


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def down_app(make_app):
    """An app whose score store is a Redis that is not there."""
    return make_app(STORE_URL=f"redis://127.0.0.1:{_closed_port()}/0")


def test_a_gateway_raises_store_unavailable_chained_to_the_client_error(down_app):
    services = down_app.extensions["scorekeeper"]
    with pytest.raises(StoreUnavailable) as caught:
        services.contacts.get_contact("c1")
    assert caught.value.status == 503
    assert type(caught.value.__cause__).__module__.startswith("redis")


def test_a_generator_gateway_method_translates_too(down_app):
    services = down_app.extensions["scorekeeper"]
    with pytest.raises(StoreUnavailable):
        next(services.contacts.contact_pages(10))


def test_the_api_answers_503_with_retry_after_when_the_store_does_not_answer(down_app):
    response = down_app.test_client().get("/v1/contacts/c0123456789abcdef0123", headers=AUTH)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.get_json() == {"code": 503, "status": "Service Unavailable",
                                   "message": "The store is unavailable; retry later.", "errors": {}}


def test_health_reports_the_store_down(down_app):
    response = down_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"] is False


def test_a_command_the_store_refuses_is_a_store_error_and_a_500(app, services):
    services.redis.set(services.keys.profiles(), "not a hash")  # WRONGTYPE for every profile read
    with pytest.raises(StoreError) as caught:
        services.profiles.all()
    assert not isinstance(caught.value, StoreUnavailable)
    response = app.test_client().get("/v1/profiles", headers=AUTH)
    assert response.status_code == 500
    assert response.get_json()["message"] == "Internal error; it has been logged."


def test_the_dashboard_shows_a_503_page_when_the_store_does_not_answer(down_app):
    from .dashboard_helpers import sign_in

    response = sign_in(down_app.test_client())  # the sign-in throttle reads the store
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Store unavailable" in response.get_data(as_text=True)
