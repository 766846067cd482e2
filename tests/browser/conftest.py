"""Browser fixtures: the app served on a free loopback port in this process, and Debian's Chromium.

The worker's duties (scoring, publish, runs, deliveries) are done by the test itself with
``tests.helpers.settle`` / ``run_until``, so every step is deterministic.
"""
from __future__ import annotations

import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from ..conftest import TEST_REDIS_URL
from ..processes import start_worker, stop
from ..workflow_helpers import FAST

#: Debian's Chromium (the ``chromium`` package); `make test` installs it when missing.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def live_app(make_app):
    return make_app(**FAST)


@pytest.fixture
def live_services(live_app):
    """The app's services, with its context pushed: jobs run by ``settle`` here use this app."""
    with live_app.app_context():
        yield live_app.extensions["scorekeeper"]


@pytest.fixture
def live_worker(live_app):
    """``scorekeeper worker`` in its own process, on the test Redis, as in production (it may call loopback)."""
    process = start_worker(TEST_REDIS_URL, OUTBOUND_ALLOW="127.0.0.1/32")
    yield process
    stop(process)


@pytest.fixture
def server(live_app):
    """The app on http://127.0.0.1:<free port>, served by threads of this process."""
    httpd = make_server("127.0.0.1", 0, live_app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"script error: {error}"))
    page.on("response", lambda response: response.status >= 400 and response.request.resource_type != "document"
            and errors.append(f"{response.status} {response.url}"))  # pages may answer 400; assets may not
    yield page
    context.close()
    assert errors == [], f"browser errors: {errors}"


@pytest.fixture
def shoot(page):
    """``shoot(name)``: a full-page screenshot to artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(name: str, target=None) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        (target or page).screenshot(path=str(path), full_page=True)
        return path

    return take
