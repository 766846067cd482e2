"""The SSRF guard: refusals at connect time, allow lists, and the safe session's behaviour."""
from __future__ import annotations

import ipaddress
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.outbound import OutboundRefused, check_url, is_refused, parse_allow, resolve_checked, safe_session


@pytest.fixture
def loopback_port():
    """The port of a real HTTP server on 127.0.0.1 answering 200 to anything."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        do_POST = do_GET

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("address", [
    pytest.param("127.0.0.1", id="loopback"),
    pytest.param("127.8.9.10", id="loopback-range"),
    pytest.param("10.1.2.3", id="rfc1918-10"),
    pytest.param("172.16.0.1", id="rfc1918-172"),
    pytest.param("192.168.1.1", id="rfc1918-192"),
    pytest.param("169.254.169.254", id="metadata-link-local"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("100.127.255.254", id="cgnat-top"),
    pytest.param("0.0.0.0", id="unspecified"),
    pytest.param("::", id="unspecified-v6"),
    pytest.param("::1", id="loopback-v6"),
    pytest.param("fd00::1", id="ula-v6"),
    pytest.param("fe80::1", id="link-local-v6"),
    pytest.param("::ffff:127.0.0.1", id="mapped-loopback"),
    pytest.param("::ffff:8.8.8.8", id="mapped-public"),
    pytest.param("224.0.0.1", id="multicast"),
])
def test_non_public_addresses_are_refused(address):
    assert is_refused(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "100.128.0.1"])
def test_public_addresses_pass(address):
    assert not is_refused(ipaddress.ip_address(address))


def test_allow_list_admits_its_ranges_only():
    allow = parse_allow("127.0.0.1/32, 10.0.0.0/8")
    assert not is_refused(ipaddress.ip_address("127.0.0.1"), allow)
    assert not is_refused(ipaddress.ip_address("10.200.0.1"), allow)
    assert not is_refused(ipaddress.ip_address("::ffff:127.0.0.1"), allow)
    assert is_refused(ipaddress.ip_address("127.0.0.2"), allow)
    assert is_refused(ipaddress.ip_address("192.168.0.1"), allow)


def test_a_bad_allow_entry_names_itself():
    with pytest.raises(ValueError, match="'nope'"):
        parse_allow("127.0.0.1/32,nope")


@pytest.mark.parametrize("host", [
    pytest.param("127.0.0.1", id="dotted"),
    pytest.param("2130706433", id="decimal"),
    pytest.param("0x7f000001", id="hex"),
    pytest.param("0177.0.0.1", id="octal"),
    pytest.param("127.1", id="short"),
    pytest.param("[::1]", id="v6-loopback"),
    pytest.param("[::ffff:127.0.0.1]", id="v6-mapped"),
    pytest.param("localhost", id="name-resolving-to-loopback"),
    pytest.param("169.254.169.254", id="metadata"),
    pytest.param("100.64.0.1", id="cgnat"),
    pytest.param("0.0.0.0", id="unspecified"),
    pytest.param("10.0.0.1", id="rfc1918"),
])
def test_requests_to_internal_hosts_are_refused_before_connecting(loopback_port, host):
    with pytest.raises(OutboundRefused):
        safe_session().post(f"http://{host}:{loopback_port}/hook", json={}, timeout=2)


def test_a_name_resolving_to_a_private_address_is_refused(monkeypatch):
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "crm.example.test":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.10.5", 443))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    with pytest.raises(OutboundRefused, match="192.168.10.5"):
        safe_session().post("https://crm.example.test/hook", json={}, timeout=2)


def test_no_dns_rebinding_the_checked_address_is_the_one_connected(loopback_port, monkeypatch):
    """The first answer is public, a second lookup would say loopback: only one lookup happens."""
    answers = iter([("93.184.216.34", loopback_port), ("127.0.0.1", loopback_port)])
    lookups = []
    real = socket.getaddrinfo

    def fake(host, *args, **kwargs):
        if host == "rebind.example.test":
            address = next(answers)
            lookups.append(address[0])
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address)]
        return real(host, *args, **kwargs)

    connected = []
    real_connect = socket.socket.connect

    def spy(self, address):
        connected.append(address[0])
        raise ConnectionRefusedError("test: not really connecting")

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    monkeypatch.setattr(socket.socket, "connect", spy)
    with pytest.raises(requests.ConnectionError):
        safe_session().get(f"http://rebind.example.test:{loopback_port}/", timeout=2)
    monkeypatch.setattr(socket.socket, "connect", real_connect)
    assert lookups == ["93.184.216.34"]
    assert connected == ["93.184.216.34"]


def test_allowed_loopback_is_reached(loopback_port):
    response = safe_session("127.0.0.1/32").post(f"http://127.0.0.1:{loopback_port}/hook", json={}, timeout=2)
    assert response.status_code == 200


def test_environment_proxies_are_ignored(loopback_port, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://10.9.9.9:3128")
    response = safe_session("127.0.0.1/32").get(f"http://127.0.0.1:{loopback_port}/", timeout=2)
    assert response.status_code == 200


def test_an_explicit_proxy_is_refused(loopback_port):
    with pytest.raises(OutboundRefused, match="proxy"):
        safe_session("127.0.0.1/32").get(f"http://127.0.0.1:{loopback_port}/", timeout=2,
                                         proxies={"http": "http://127.0.0.1:1"})


def test_resolve_checked_refuses_unresolvable_names():
    with pytest.raises(OutboundRefused, match="does not resolve"):
        resolve_checked("no-such-host.invalid", 80)


@pytest.mark.parametrize(("url", "problem"), [
    pytest.param("ftp://example.com/", "http or https", id="scheme"),
    pytest.param("http:///path", "host", id="no-host"),
    pytest.param("https://user:pw@example.com/", "credentials", id="credentials"),
    pytest.param("https://example.com:99999/", "valid URL", id="port"),
])
def test_check_url_names_static_problems(url, problem):
    assert problem in check_url(url)


def test_check_url_accepts_https():
    assert check_url("https://hooks.slack.com/services/T/B/X") is None
