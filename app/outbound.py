"""Outbound HTTP with an SSRF guard: webhooks and Slack notifications go through ``safe_session``.

A URL's host may name any address, and DNS may answer differently each time it is asked.
So the check is made where the socket connects: the host is resolved once, every address
it resolves to must be public (or inside ``OUTBOUND_ALLOW``), and the socket connects to
exactly the addresses that were checked — there is no second lookup to rebind. Numeric
forms of addresses (``2130706433``, ``0177.0.0.1``, ``[::ffff:127.0.0.1]``) resolve to
the address they spell and are judged as that address.

Refused (unless allowed): loopback, private (RFC 1918, ULA), link-local (169.254.0.0/16,
fe80::/10, cloud metadata), CGNAT (100.64.0.0/10), unspecified (0.0.0.0, ::), multicast,
reserved, and IPv4-mapped IPv6 addresses of any of those. Proxies are never used.
"""
from __future__ import annotations

import ipaddress
import logging
import socket
from collections.abc import Iterable, Sequence
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger(__name__)

#: Seconds to wait for a connection and for each read of a response.
DEFAULT_TIMEOUT_SECONDS = 15.0

#: Setting ``OUTBOUND_ALLOW`` default: CIDR ranges that may be reached although not public.
DEFAULT_OUTBOUND_ALLOW = ""

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Ranges refused in addition to everything Python does not consider global.
_ALWAYS_REFUSED = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
))


class OutboundRefused(Exception):
    """The destination is not allowed. Not an ``OSError``: a refusal is never retried as a network error."""


def parse_allow(text: str | Iterable[str] | None) -> tuple[IPNetwork, ...]:
    """CIDR list (comma or whitespace separated) to networks; raises ValueError naming a bad entry."""
    if not text:
        return ()
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    networks = []
    for item in items:
        try:
            networks.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError as error:
            raise ValueError(f"OUTBOUND_ALLOW: {item!r} is not a CIDR range") from error
    return tuple(networks)


def _candidates(address: IPAddress) -> list[IPAddress]:
    """The address, plus the IPv4 address it embeds when it is IPv4-mapped IPv6."""
    out: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        out.append(address.ipv4_mapped)
    return out


def is_refused(address: IPAddress, allow: Sequence[IPNetwork] = ()) -> bool:
    """Whether ``address`` must not be connected to under this allow list."""
    candidates = _candidates(address)
    if any(c in net for c in candidates for net in allow if c.version == net.version):
        return False
    for c in candidates:
        if not c.is_global or any(c in net for net in _ALWAYS_REFUSED if c.version == net.version):
            return True
    return isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None


def resolve_checked(host: str, port: int, allow: Sequence[IPNetwork] = ()) -> list[tuple[Any, ...]]:
    """``getaddrinfo`` results for ``host``, all of them allowed, or OutboundRefused."""
    try:
        infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise OutboundRefused(f"{host!r} does not resolve: {error}") from error
    if not infos:
        raise OutboundRefused(f"{host!r} does not resolve")
    for _family, _type, _proto, _canon, sockaddr in infos:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if is_refused(address, allow):
            raise OutboundRefused(f"{host!r} resolves to {address}, which is not a public address "
                                  "(add its range to SCOREKEEPER_OUTBOUND_ALLOW to allow it)")
    return infos


def connect_checked(host: str, port: int, timeout: Any, allow: Sequence[IPNetwork],
                    source_address: Any = None, socket_options: Any = None) -> socket.socket:
    """A socket to one of the checked addresses of ``host`` (tried in resolver order)."""
    last_error: OSError | None = None
    for family, type_, proto, _canon, sockaddr in resolve_checked(host, port, allow):
        sock = socket.socket(family, type_, proto)
        try:
            for level, option, value in socket_options or ():
                sock.setsockopt(level, option, value)
            if timeout is not None and timeout is not socket._GLOBAL_DEFAULT_TIMEOUT:  # type: ignore[attr-defined]
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as error:
            last_error = error
            sock.close()
    raise last_error or OSError(f"could not connect to {host}")


def _guarded(connection_cls: type, allow: Sequence[IPNetwork]) -> type:
    def _new_conn(self: Any) -> socket.socket:
        from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

        try:
            return connect_checked(self._dns_host, self.port, self.timeout, allow,
                                   self.source_address, self.socket_options)
        except TimeoutError as error:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from error
        except OSError as error:
            raise NewConnectionError(self, f"Failed to establish a new connection: {error}") from error

    return type(f"Guarded{connection_cls.__name__}", (connection_cls,), {"_new_conn": _new_conn})


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose every connection goes through ``connect_checked``; no proxies."""

    def __init__(self, allow: Sequence[IPNetwork] = ()):
        self.allow = tuple(allow)
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        http_pool = type("GuardedHTTPConnectionPool", (HTTPConnectionPool,),
                         {"ConnectionCls": _guarded(HTTPConnection, self.allow)})
        https_pool = type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,),
                          {"ConnectionCls": _guarded(HTTPSConnection, self.allow)})
        self.poolmanager.pool_classes_by_scheme = {"http": http_pool, "https": https_pool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        raise OutboundRefused("outbound requests never go through a proxy")


class NoRedirectSession(requests.Session):
    """Redirects are never followed: a 3xx is handed back as the response (a redirect could lead anywhere)."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def safe_session(allow: str | Iterable[str] | Sequence[IPNetwork] | None = None) -> requests.Session:
    """A session that refuses non-public destinations (except ``allow``) and ignores proxy settings."""
    if allow and not isinstance(allow, str) and all(isinstance(n, (ipaddress.IPv4Network, ipaddress.IPv6Network))
                                                  for n in allow):
        networks = tuple(allow)  # type: ignore[arg-type]
    else:
        networks = parse_allow(allow)  # type: ignore[arg-type]
    session = NoRedirectSession()
    session.trust_env = False
    adapter = GuardedAdapter(networks)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def session_for(settings: Any) -> requests.Session:
    """``safe_session`` with the ``OUTBOUND_ALLOW`` setting."""
    return safe_session(settings.get("OUTBOUND_ALLOW", DEFAULT_OUTBOUND_ALLOW))


def check_url(url: str) -> str | None:
    """Why ``url`` can never be an outbound destination (scheme, host), or None. No DNS lookup."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as error:
        return f"not a valid URL: {error}"
    if parts.scheme not in ("http", "https"):
        return "must be an http or https URL"
    if not parts.hostname:
        return "must name a host"
    if parts.username or parts.password:
        return "must not carry credentials; use headers"
    return None
