"""The optional TOTP second factor: turned on from the account page with a real code, asked for at sign-in,
each code working once, the step before and after accepted and nothing further, recovery codes working once,
code attempts throttled like passwords, turned off with a code or by the CLI's password reset."""
from __future__ import annotations

import re

import pyotp
import pytest
from cryptography.fernet import Fernet

from app.cli import main
from app.people import create_first_owner
from app.signin_guard import PAIR_FAILURES_MAX

from .clock import CLOCK_START, ManualClock
from .dashboard_helpers import csrf_of, post, sign_in, text
from .helpers import AUTH

PASSWORD = "correct horse battery"
EMAIL = "ana@agency.com"
STEP_MS = 30_000


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(CLOCK_START)


@pytest.fixture
def app(make_app, clock):
    return make_app(CLOCK=clock)


def password_step(client, email: str = EMAIL, password: str = PASSWORD, address: str = "127.0.0.1"):
    client.get("/dashboard/signin")
    return client.post("/dashboard/signin", data={"email": email, "password": password,
                                                  "csrf_token": csrf_of(client)},
                       environ_overrides={"REMOTE_ADDR": address})


def code_step(client, code: str, address: str = "127.0.0.1"):
    return client.post("/dashboard/signin/code", data={"code": code, "csrf_token": csrf_of(client)},
                       environ_overrides={"REMOTE_ADDR": address})


def is_signed_in(client) -> bool:
    return client.get("/dashboard/contacts").status_code == 200


def code_at(seed: str, clock: ManualClock, steps: int = 0) -> str:
    """The code an authenticator app shows ``steps`` steps from the app's clock (pyotp, as a phone would)."""
    return pyotp.TOTP(seed).at(clock.now_ms() / 1000 + steps * 30)


def turn_on(app, clock) -> tuple[str, list[str]]:
    """Sign in, set up two-step sign-in with a real code; the seed and the recovery codes shown."""
    client = app.test_client()
    assert password_step(client).status_code == 302
    assert post(client, "/dashboard/account/totp/start").status_code == 303
    page = text(client.get("/dashboard/account"))
    assert "<svg" in page and "otpauth://totp/Scorekeeper:ana%40agency.com" in page
    seed = re.search(r'class="totp-seed">([A-Z2-7]+)<', page).group(1)
    shown = post(client, "/dashboard/account/totp/confirm", {"code": code_at(seed, clock)})
    assert shown.status_code == 200, text(shown)
    codes = re.findall(r"\b[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}-[A-Z2-7]{4}\b", text(shown))
    assert len(codes) == 10 and "shown only now" in text(shown)
    clock.advance(STEP_MS)  # the confirming code is used: sign-ins below start at the next step
    return seed, codes


@pytest.fixture
def seed_and_codes(app, services, clock):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    return turn_on(app, clock)


def test_with_the_factor_on_the_password_alone_does_not_sign_in_and_the_current_code_does(app, clock,
                                                                                          seed_and_codes):
    seed, _ = seed_and_codes
    admin = app.test_client()
    sign_in(admin)
    assert "<td>on</td>" in text(admin.get("/dashboard/members"))  # admins see who has it
    client = app.test_client()
    asked = password_step(client)
    assert asked.status_code == 303 and "/dashboard/signin/code" in asked.headers["Location"]
    assert not is_signed_in(client)
    valid = {code_at(seed, clock, steps) for steps in (-1, 0, 1)}
    wrong = code_step(client, next(code for code in ("000000", "111111", "222222", "333333") if code not in valid))
    assert wrong.status_code == 401 and "That code is not right" in text(wrong)
    assert code_step(client, code_at(seed, clock)).status_code == 302
    assert is_signed_in(client)


def test_a_code_works_once_even_within_its_own_step(app, clock, seed_and_codes):
    seed, _ = seed_and_codes
    code = code_at(seed, clock)
    first, second = app.test_client(), app.test_client()
    password_step(first)
    password_step(second)
    assert code_step(first, code).status_code == 302
    assert code_step(second, code).status_code == 401  # the same step, seconds later: refused
    clock.advance(STEP_MS)
    assert code_step(second, code_at(seed, clock)).status_code == 302  # the next step's code works


@pytest.mark.parametrize("phone_steps, accepted", [
    pytest.param(-1, True, id="phone-one-step-behind"),
    pytest.param(+1, True, id="phone-one-step-ahead"),
    pytest.param(-2, False, id="two-steps-behind"),
    pytest.param(+2, False, id="two-steps-ahead"),
    pytest.param(-10, False, id="an-old-code"),
])
def test_the_step_either_side_is_accepted_and_nothing_further(app, clock, seed_and_codes, phone_steps, accepted):
    seed, _ = seed_and_codes
    clock.advance(5 * STEP_MS)  # so no earlier step was used by the set-up
    client = app.test_client()
    password_step(client)
    assert (code_step(client, code_at(seed, clock, phone_steps)).status_code == 302) is accepted


def test_an_older_step_is_refused_once_a_later_one_was_used(app, clock, seed_and_codes):
    seed, _ = seed_and_codes
    clock.advance(5 * STEP_MS)
    ahead, behind = app.test_client(), app.test_client()
    password_step(ahead)
    password_step(behind)
    assert code_step(ahead, code_at(seed, clock, +1)).status_code == 302
    assert code_step(behind, code_at(seed, clock)).status_code == 401


def test_each_recovery_code_signs_in_once_typed_any_way(app, client, clock, seed_and_codes):
    _, codes = seed_and_codes
    first = app.test_client()
    password_step(first)
    assert code_step(first, codes[0].lower().replace("-", " ")).status_code == 302
    again = app.test_client()
    password_step(again)
    assert code_step(again, codes[0]).status_code == 401
    assert code_step(again, codes[1]).status_code == 302
    page = text(again.get("/dashboard/account"))
    assert "8 recovery codes left" in page
    trail = client.get("/v1/audit", headers=AUTH).get_json()["items"]
    assert [e["action"] for e in trail if e["action"].startswith("member.")][:3] == [
        "member.recovery_code", "member.recovery_code", "member.totp_on"]


def test_only_hashes_of_recovery_codes_are_stored_and_the_seed_is_encrypted_with_secrets_key(make_app, clock):
    app = make_app(CLOCK=clock, SECRETS_KEY=Fernet.generate_key().decode())
    with app.app_context():
        services = app.extensions["scorekeeper"]
        create_first_owner(services, EMAIL, PASSWORD, "test")
        seed, codes = turn_on(app, clock)
        stored = repr({key: services.redis.dump(key) for key in services.redis.keys("*")})
    assert seed not in stored
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    client = app.test_client()
    password_step(client)
    assert code_step(client, code_at(seed, clock)).status_code == 302


def test_wrong_codes_are_throttled_like_passwords_for_that_address_only(app, clock, seed_and_codes):
    seed, _ = seed_and_codes
    attacker = app.test_client()
    password_step(attacker, address="10.0.0.66")
    valid = {code_at(seed, clock, steps) for steps in (-1, 0, 1)}
    wrong = [code for code in (f"{n:06d}" for n in range(100)) if code not in valid][:PAIR_FAILURES_MAX]
    for code in wrong:
        assert code_step(attacker, code, address="10.0.0.66").status_code == 401
    throttled = code_step(attacker, code_at(seed, clock), address="10.0.0.66")
    assert throttled.status_code == 429 and "Too many failed sign-ins" in text(throttled)
    owner = app.test_client()
    password_step(owner, address="10.0.0.7")
    assert code_step(owner, code_at(seed, clock), address="10.0.0.7").status_code == 302


def test_turning_it_off_needs_a_current_code(app, clock, seed_and_codes):
    seed, _ = seed_and_codes
    client = app.test_client()
    password_step(client)
    code_step(client, code_at(seed, clock))
    clock.advance(STEP_MS)
    refused = post(client, "/dashboard/account/totp/off", {"code": "12345"})
    assert refused.status_code == 400 and "That code is not right" in text(refused)
    assert post(client, "/dashboard/account/totp/off", {"code": code_at(seed, clock)}).status_code == 303
    fresh = app.test_client()
    assert password_step(fresh).status_code == 302 and is_signed_in(fresh)


@pytest.mark.parametrize("clear", [True, False], ids=["with-clear-totp", "password-only"])
def test_the_cli_password_reset_can_also_clear_the_factor(runner, app, client, seed_and_codes, clear):
    args = ["users", "reset-password", "--email", EMAIL, "--password-stdin"] + (["--clear-totp"] if clear else [])
    result = runner.invoke(main, args, input="a brand new passphrase\n")
    assert result.exit_code == 0, result.output
    fresh = app.test_client()
    response = password_step(fresh, password="a brand new passphrase")
    if clear:
        assert response.status_code == 302 and is_signed_in(fresh)
        actions = [e["action"] for e in client.get("/v1/audit", headers=AUTH).get_json()["items"][:2]]
        assert actions == ["member.totp_off", "member.password"]
    else:
        assert response.status_code == 303 and not is_signed_in(fresh)


def test_a_wrong_first_code_does_not_turn_it_on(app, services, clock):
    create_first_owner(services, EMAIL, PASSWORD, "test")
    client = app.test_client()
    password_step(client)
    post(client, "/dashboard/account/totp/start")
    seed = re.search(r'class="totp-seed">([A-Z2-7]+)<', text(client.get("/dashboard/account"))).group(1)
    valid = {code_at(seed, clock, steps) for steps in (-1, 0, 1)}
    wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
    refused = post(client, "/dashboard/account/totp/confirm", {"code": wrong})
    assert refused.status_code == 400 and "not the current code of your authenticator app" in text(refused)
    assert "<svg" in text(refused)  # still waiting, the QR code still there
    fresh = app.test_client()
    assert password_step(fresh).status_code == 302


def test_the_server_key_session_has_no_account_to_protect(dash):
    assert "has no account" in text(dash.get("/dashboard/account"))
    assert post(dash, "/dashboard/account/totp/start").status_code == 404


def test_seeds_codes_and_recovery_codes_never_reach_the_logs(app, services, clock, caplog):
    import logging

    from app.logs import JsonFormatter

    create_first_owner(services, EMAIL, PASSWORD, "test")
    with caplog.at_level(logging.DEBUG):
        seed, codes = turn_on(app, clock)
        client = app.test_client()
        password_step(client)
        code_step(client, "999999")
        typed = code_at(seed, clock)
        code_step(client, typed)
        other = app.test_client()
        password_step(other)
        code_step(other, codes[0])
    logged = "\n".join(JsonFormatter().format(record) for record in caplog.records)
    assert "recovery code used" in logged  # something was logged, and searched
    for secret in (seed, typed, PASSWORD, *codes, *(c.replace("-", "") for c in codes)):
        assert secret not in logged
