"""Shared parts of the workflow tests (no tests, no fixtures: the ``receiver`` fixture is in conftest.py):
a real webhook receiver, a real SMTP server, running RQ jobs (and the RQ scheduler) in this process, and
workflow builders."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

from .helpers import AUTH, publish_profile, send, settle, wait_for

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
FAST = {"WEBHOOK_RETRY_SCHEDULE": "10ms,10ms,10ms", "STEP_RETRY_SCHEDULE": "10ms", "OUTBOUND_ALLOW": "127.0.0.1/32",
        "WORKFLOWS_DIR": "", "WEBHOOK_TIMEOUT_SECONDS": 1.0}


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    at: float


class Receiver:
    """A real HTTP server on 127.0.0.1 that checks Standard Webhooks signatures with the package.

    ``script[path]`` is a list of replies used in order (the last one repeats).
    """

    def __init__(self, secret: str = SECRET):
        self.secret = secret
        self.script: dict[str, list[Reply]] = {}
        self.received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except WebhookVerificationError:
                    verified = False
                replies = receiver.script.get(self.path) or [Reply()]
                reply = replies.pop(0) if len(replies) > 1 else replies[0]
                receiver.received.append(Received(self.path, headers, body, verified, time.time()))
                if reply.delay:
                    time.sleep(reply.delay)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def on(self, path: str, *replies: Reply) -> str:
        self.script[path] = list(replies)
        return self.url(path)

    def hits(self, path: str) -> list[Received]:
        return [r for r in self.received if r.path == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 keeping what it receives."""

    def __init__(self):
        from aiosmtpd.controller import Controller

        self.messages: list[Any] = []
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                sink.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content)))
                return "250 OK"

        with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting to the port)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def close(self) -> None:
        self.controller.stop()


def run_jobs(services: Any) -> None:
    """Move due scheduled jobs to the queue (the RQ scheduler's duty) and run every queued job."""
    from rq.scheduler import RQScheduler

    from .helpers import BurstWorker

    scheduler = RQScheduler([queue.name for queue in services.jobs.queues], connection=services.queue.connection)
    scheduler.acquire_locks()
    try:
        scheduler.enqueue_scheduled_jobs()
    finally:
        scheduler.release_locks()
    BurstWorker(services.jobs.queues, connection=services.queue.connection).work(burst=True)


def scheduled_count(services: Any) -> int:
    from rq.registry import ScheduledJobRegistry

    return sum(ScheduledJobRegistry(queue=queue).count for queue in services.jobs.queues)


def run_until(services: Any, condition: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Keep running due jobs until ``condition()`` holds."""

    def step():
        run_jobs(services)
        return condition()

    return wait_for(step, timeout=timeout, interval=0.01)


def put_workflow(client, doc: dict[str, Any]) -> dict[str, Any]:
    resp = client.put(f"/v1/workflows/{doc['id']}", json=doc, headers=AUTH)
    assert resp.status_code in (200, 201), resp.get_json()
    return resp.get_json()


def workflow(wid: str, steps: list[dict[str, Any]], **trigger: Any) -> dict[str, Any]:
    base = {"type": "score_changed", "profile": "engagement", "operator": "gte", "value": 10}
    base.update(trigger)
    return {"id": wid, "name": wid.title(), "trigger": base, "steps": steps}


def setup_profile(client, services) -> None:
    publish_profile(client, services, "engagement", [
        {"id": "open", "on": "email.opened", "points": 5},
        {"id": "click", "on": "email.clicked", "points": 10},
        {"id": "bounce", "on": "email.bounced", "points": -10},
    ])


def interact(client, services, email: str, type_: str, iid: str, **properties: Any) -> None:
    send(client, {"id": iid, "type": type_, "contact": {"email": email}, "properties": properties})
    settle(services)


def contact_id(services, email: str) -> str:
    return services.contacts.find_contact(email=email)


def runs_of(client, wid: str) -> list[dict[str, Any]]:
    resp = client.get(f"/v1/workflows/{wid}/runs", headers=AUTH)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["items"]


# --- one webhook step fired, and its delivery (test_deliveries, test_dashboard_run_status) ------------------
def hook(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "webhook", "url": url, "secret": SECRET, **extra}


def fire(client, services, url: str, email: str = "ann@example.com", **extra: Any) -> dict[str, Any]:
    """A hot-lead workflow with one webhook step, fired for ``email``; returns its run."""
    setup_profile(client, services)
    put_workflow(client, workflow("hot", [hook(url, **extra)]))
    interact(client, services, email, "email.clicked", "c1")
    [run] = runs_of(client, "hot")
    return run


def delivery_of(client, run: dict[str, Any]) -> dict[str, Any]:
    delivery_id = run["steps"][0]["delivery_id"]
    return client.get(f"/v1/deliveries/{delivery_id}", headers=AUTH).get_json()


def settled(client, services, run: dict[str, Any], status: str, timeout: float = 10.0) -> dict[str, Any]:
    return run_until(services, lambda: (d := delivery_of(client, run))["status"] == status and d, timeout)


def run_now(client, run: dict[str, Any]) -> dict[str, Any]:
    return client.get(f"/v1/runs/{run['id']}", headers=AUTH).get_json()
