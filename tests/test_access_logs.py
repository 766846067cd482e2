"""Real gunicorn with every secret configured: no secret reaches any log line (access, error, worker).

Requests carry credentials every way they arrive — Bearer API keys (right and wrong), Postmark's
Basic auth, every provider's signed webhook, the metrics token, a dashboard sign-in, and a key pasted
into a query string — and the logs are read whole afterwards.
"""
from __future__ import annotations

import base64
import os
import re
import signal
import socket
import subprocess
import sys
import time

import requests

from .conftest import TEST_REDIS_URL
from .helpers import wait_for
from .hook_builders import documented_delivery, schemes, url
from .processes import ROOT

API_KEY = "sk-live-0f9e8d7c6b5a4f3e2d1c"
METRICS_TOKEN = "metrics-tok-9a8b7c6d5e4f"
SECRET_KEY = "session-signing-key-5e6f7a8b"
POSTMARK_USER, POSTMARK_PASSWORD = "pm-user-7f3a9c", "pm-pass-1b2d4f6h"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_no_configured_secret_appears_in_any_log_line(tmp_path, make_app):
    by_provider = {s.provider: s for s in schemes()}
    by_provider["postmark"].secret = f"{POSTMARK_USER}:{POSTMARK_PASSWORD}"
    secrets = {s.setting: s.config_value for s in by_provider.values()}
    secrets.update({"API_KEYS": API_KEY, "METRICS_TOKEN": METRICS_TOKEN, "SECRET_KEY": SECRET_KEY})
    env = {**os.environ, "REDIS_URL": TEST_REDIS_URL, "SCOREKEEPER_WORKFLOWS_DIR": "", "SCOREKEEPER_LOG_LEVEL": "DEBUG",
           **{f"SCOREKEEPER_{name}": value for name, value in secrets.items()}}
    port = free_port()
    access, errors, output = tmp_path / "access.log", tmp_path / "error.log", tmp_path / "output.log"
    with open(output, "wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
             "--access-logfile", str(access), "--error-logfile", str(errors), "--log-level", "debug",
             "app:create_app()"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=30)
        bearer = {"Authorization": f"Bearer {API_KEY}"}
        assert requests.get(f"{base}/v1/contacts", headers=bearer).status_code == 200
        assert requests.get(f"{base}/v1/contacts", headers={"Authorization": f"Bearer {API_KEY}x"}).status_code == 401
        assert requests.get(f"{base}/v1/profiles?api_key={API_KEY}", headers=bearer).status_code == 200
        assert requests.post(f"{base}/v1/interactions", headers=bearer, json={"id": "1", "type": "email.opened",
                             "contact": {"email": "ann@example.com"}}).status_code == 202
        assert requests.get(f"{base}/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).status_code == 200
        for provider, scheme in by_provider.items():
            body, headers = scheme.sign(documented_delivery(provider), scheme.secret, int(time.time()))
            response = requests.post(base + url(provider), data=body,
                                     headers={"Content-Type": "application/json", **headers})
            assert response.status_code == 202, (provider, response.text)
        basic = base64.b64encode(f"{POSTMARK_USER}:wrong".encode()).decode()
        assert requests.post(base + url("postmark"), data=b"{}", headers={"Authorization": f"Basic {basic}"}
                             ).status_code == 401
        session = requests.Session()
        page = session.get(f"{base}/dashboard/signin")
        assert page.status_code == 200
        signed_in = session.post(f"{base}/dashboard/signin", data={"api_key": API_KEY, "csrf_token": _csrf(page.text)},
                                 allow_redirects=False)
        assert signed_in.status_code == 302, signed_in.text
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    lines = [line for path in (access, errors, output) for line in path.read_text(errors="replace").splitlines()]
    access_lines = access.read_text().splitlines()
    assert len(access_lines) >= 12 and any('"POST /hooks/postmark HTTP/1.1" 202' in line for line in access_lines)
    forbidden = {*secrets.values(), POSTMARK_USER, POSTMARK_PASSWORD,
                 base64.b64encode(f"{POSTMARK_USER}:{POSTMARK_PASSWORD}".encode()).decode()}
    leaks = [(secret, line) for line in lines for secret in forbidden if secret and secret in line]
    assert not leaks, leaks[:3]


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the sign-in page"
    return match.group(1)


def _answers(address: str) -> bool:
    try:
        return requests.get(address, timeout=5).status_code == 200
    except requests.RequestException:
        return False
