"""Provider webhooks: ``POST /hooks/{provider}`` and ``POST /hooks/standard/{source}`` (workspace ``default``),
``POST /w/{workspace}/hooks/{provider}`` and ``POST /w/{workspace}/hooks/standard/{source}`` (any other).

The view only wires the steps: workspace -> size check -> verify the raw bytes -> JSON -> parse -> store -> 202.
Each provider's scheme and mapping live in its own module, listed in :mod:`.registry`. A workspace's webhooks
are verified with that workspace's provider secret (``registry.provider_secret``), and what they carry is
stored in that workspace only. An unknown workspace is a 404 like an unconfigured provider, so the URL tells a
stranger nothing more than whether a workspace takes that provider's webhooks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import flask
import orjson
from flask import current_app, request
from werkzeug.datastructures import EnvironHeaders
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.wsgi import get_content_length, get_input_stream

from .. import json_bodies, metrics
from ..errors import NotFound, PayloadTooLarge, SignatureError, ValidationError
from ..services import DEFAULT_WORKSPACE, enter_request_workspace, get_services
from ..workspaces import exists
from . import registry, secrets
from .intake import StaleSecret, deliver

try:  # the server the app is deployed with (pyproject): its request body, known to end at the declared length
    from gunicorn.http.body import Body as _GunicornBody, LengthReader as _LengthReader
except ImportError:  # pragma: no cover - another server: every body is read until a read gives nothing
    _GunicornBody = _LengthReader = None  # type: ignore[assignment, misc]

bp = flask.Blueprint("hooks", __name__, url_prefix="/hooks")
#: The same webhooks for another workspace than ``default``.
workspace_bp = flask.Blueprint("workspace_hooks", __name__, url_prefix="/w/<workspace>/hooks")


@bp.post("/<provider>")
def receive(provider: str):
    return handle(registry.lookup(provider), source=provider)


@bp.post("/standard/<source>")
def receive_standard(source: str):
    return handle(registry.STANDARD, source=source)


@workspace_bp.url_value_preprocessor
def enter_workspace(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """``/w/{workspace}/hooks/...`` acts in that workspace; one that does not exist (or is ``default``, which
    keeps ``/hooks``) is a 404 before anything is read."""
    workspace = (values or {}).pop("workspace", "")
    if workspace == DEFAULT_WORKSPACE or not exists(get_services(), workspace):
        raise NotFound("No such webhook endpoint here.")
    enter_request_workspace(workspace)


@workspace_bp.post("/<provider>")
def receive_in_workspace(provider: str):
    return handle(registry.lookup(provider), source=provider)


@workspace_bp.post("/standard/<source>")
def receive_standard_in_workspace(source: str):
    return handle(registry.STANDARD, source=source)


#: Deliveries verified again because the provider secret changed while one was being handled, at most.
SECRET_CHANGES = 3


def handle(provider: registry.Provider, source: str) -> flask.Response:
    """The Flask views' answer (a request the webhook door, ``fast.py``, left to Flask)."""
    return current_app.response_class(receive_delivery(get_services(), current_app.config, provider, source,
                                                       request.environ), status=202, mimetype="application/json")


def receive_delivery(services: Any, config: Mapping[str, Any], provider: registry.Provider, source: str,
                     environ: dict[str, Any]) -> bytes:
    """Size check -> verify the raw bytes -> JSON -> parse -> store: the 202's body, or the exception that
    answers (the same code whether Flask or the webhook door serves the request)."""
    secret = secrets.delivery_secret(services, provider)  # this process's last read: checked when storing
    raw = read_body(environ, provider.body_limit(config))
    headers = EnvironHeaders(environ)
    for _ in range(SECRET_CHANGES):
        secret = verify(services, provider, raw, headers, secret)
        try:
            result = provider.module.parse(parse_json(raw), source)
        except ValidationError:
            metrics.count_rejected(services, source, None)
            raise
        try:
            return accepted(deliver(services, provider.name, result, secret.digest).to_json())
        except StaleSecret:  # the secret changed since this process read it: verify with the stored one
            secret = secrets.delivery_secret(services, provider, remembered=False)
    raise SignatureError("The provider secret kept changing; retry the delivery.")


def accepted(body: dict[str, int]) -> bytes:
    """The 202's body, as Flask's JSON provider writes it (compact, keys in order, a newline), made without it: a
    flat object of counts needs none of its conversions."""
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS) + b"\n"


def verify(services: Any, provider: registry.Provider, raw: bytes, headers: Mapping[str, str],
           secret: secrets.DeliverySecret) -> secrets.DeliverySecret:
    """The secret the delivery verifies with; a delivery that does not verify with a remembered secret is
    verified again with the one stored now (it may have just been set) before it is refused."""
    try:
        provider.module.verify(raw, headers, secret.value, time.time())
        return secret
    except SignatureError:
        if secret.remembered:
            current = secrets.delivery_secret(services, provider, remembered=False)
            if current.digest != secret.digest:
                return verify(services, provider, raw, headers, current)
        metrics.count_verification_failure(services, provider.name)
        raise


#: Bytes ``read_body`` asks the stream for at a time (what werkzeug's ``LimitedStream`` asks).
READ_STEP = 64 * 1024


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The raw body, or PayloadTooLarge once it passes ``limit`` bytes (declared or streamed): what
    ``request.get_data()`` reads with ``request.max_content_length = limit``, read from the WSGI environ.

    A server that ends the input stream itself (``wsgi.input_terminated``: gunicorn's, at the declared length or
    the chunked body's end) is read here directly as werkzeug's ``LimitedStream(stream, limit, is_max=True)``
    reads it — up to ``limit`` bytes, asking for at most ``READ_STEP`` at a time, until a read gives nothing (or
    would be sure to: ``_used_up``), a failed read a ``ClientDisconnected`` — without the wrapper's layers; any
    other goes through werkzeug."""
    length = get_content_length(environ) if "CONTENT_LENGTH" in environ or "HTTP_TRANSFER_ENCODING" in environ \
        else None
    if length is not None and length > limit:
        raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.", {"limit": limit})
    if "wsgi.input_terminated" in environ and limit > 0:
        stream = environ["wsgi.input"]
        chunks = []
        read = 0
        while read < limit:
            try:
                chunk = stream.read(min(READ_STEP, limit - read))
            except (OSError, ValueError) as exc:
                raise ClientDisconnected() from exc
            if not chunk:
                break
            chunks.append(chunk)
            read += len(chunk)
            if _used_up(stream):
                break
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        return get_input_stream(environ, max_content_length=limit).read()
    except RequestEntityTooLarge as exc:
        raise PayloadTooLarge(f"The body is over the limit of {limit} bytes.", {"limit": limit}) from exc


def _used_up(stream: Any) -> bool:
    """Whether the next read of ``stream`` is sure to give nothing without reading the socket: gunicorn's body of a
    declared length with all of it read (its ``LengthReader`` has no length left and nothing is buffered; its next
    ``read`` answers ``b""`` at once). ``read_body`` then skips that read, which cost gunicorn ~4 µs of buffers."""
    if type(stream) is not _GunicornBody:
        return False
    reader = stream.reader
    return type(reader) is _LengthReader and reader.length == 0 and stream.buf.tell() == 0


def parse_json(raw: bytes) -> Any:
    """The verified body as JSON, checked at the door like every body (depth, 64-bit integers)."""
    return json_bodies.loads(raw)
