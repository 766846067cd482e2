"""The sign-in throttle slows guessing without handing a stranger the power to lock an owner out: failures
count per account *and* address (that address is refused), and per account (untrusted clients slowed to one
attempt per turn, never locked; a browser that signed in to the account before is not slowed)."""
from __future__ import annotations

from app.people import create_first_owner
from app.signin_guard import ACCOUNT_FAILURES_SLOW, PAIR_FAILURES_MAX, SLOW_TURN_SECONDS, account_of

from .dashboard_helpers import csrf_of, text

PASSWORD = "correct horse battery"
EMAIL = "ana@agency.com"


def attempt(client, password: str, address: str, email: str = EMAIL):
    client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"email": email, "password": password,
                                                  "csrf_token": csrf_of(client)},
                       environ_overrides={"REMOTE_ADDR": address})


def test_failures_from_one_address_refuse_that_address_and_not_the_owners(app, services):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    attacker = app.test_client()
    for n in range(PAIR_FAILURES_MAX):
        assert attempt(attacker, f"wrong {n}", "10.0.0.66").status_code == 401
    refused = attempt(attacker, PASSWORD, "10.0.0.66")
    assert refused.status_code == 429 and "from your address" in text(refused)
    assert attempt(app.test_client(), PASSWORD, "10.0.0.7").status_code == 302  # the owner, elsewhere


def test_a_flood_from_many_addresses_slows_new_devices_but_never_locks_the_owner(app, services):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    owner = app.test_client()
    assert attempt(owner, PASSWORD, "10.0.0.7").status_code == 302  # this browser is now trusted
    owner.post("/dashboard/signout", data={"csrf_token": csrf_of(owner)})
    for n in range(ACCOUNT_FAILURES_SLOW):  # a distributed guessing run: each address stays under its limit
        assert attempt(app.test_client(), f"wrong {n}", f"10.1.{n}.1").status_code == 401
    first = attempt(app.test_client(), "still wrong", "10.2.0.1")
    assert first.status_code == 401  # admitted: the turn is taken
    slowed = attempt(app.test_client(), PASSWORD, "10.2.0.2")
    assert slowed.status_code == 429 and f"one attempt every {SLOW_TURN_SECONDS} seconds" in text(slowed)
    turn = services.keys.signin_slow_turn(account_of(EMAIL))
    assert 0 < services.redis.ttl(turn) <= SLOW_TURN_SECONDS  # not a lock: the turn comes back
    assert attempt(owner, PASSWORD, "10.0.0.7").status_code == 302  # the owner's browser is not slowed
    services.redis.delete(turn)  # the turn lapsed
    assert attempt(app.test_client(), PASSWORD, "10.3.0.1").status_code == 302  # a new device gets in, slowly


def test_a_forged_device_cookie_is_not_trusted(app, services):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    for n in range(ACCOUNT_FAILURES_SLOW + 1):
        attempt(app.test_client(), f"wrong {n}", f"10.1.{n}.1")
    forger = app.test_client()
    forger.set_cookie("sk_device", f'["{account_of(EMAIL)[:32]}"]', path="/dashboard")
    assert attempt(forger, PASSWORD, "10.4.0.1").status_code == 429


def test_an_unknown_account_is_throttled_alike_so_the_throttle_tells_nothing(app, services):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    answers = []
    for email in (EMAIL, "nobody@agency.com"):
        client = app.test_client()
        codes = [attempt(client, "wrong", "10.0.0.66", email).status_code for _ in range(PAIR_FAILURES_MAX + 1)]
        answers.append(codes)
    assert answers[0] == answers[1] == [401] * PAIR_FAILURES_MAX + [429]


def test_a_password_reset_lifts_the_slowing(runner, app, services):
    from app.cli import main

    create_first_owner(services, EMAIL, PASSWORD, "test")
    for n in range(ACCOUNT_FAILURES_SLOW + 1):
        attempt(app.test_client(), f"wrong {n}", f"10.1.{n}.1")
    assert attempt(app.test_client(), "x", "10.5.0.1").status_code == 429
    result = runner.invoke(main, ["users", "reset-password", "--email", EMAIL, "--password-stdin"],
                           input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    assert attempt(app.test_client(), "a brand new passphrase", "10.5.0.2").status_code == 302
