"""Instructions per request through gunicorn, counted by callgrind (exact whatever the machine's load).

``python -m bench.hook_cost [--requests 300] [--contacts new|known] [--hello] [--migrated] [--redis-url URL]``

One gunicorn sync worker runs under ``valgrind --tool=callgrind`` with collection off; after a warm-up its
collection is switched on (``callgrind_control -i on``), ``--requests`` signed Stripe webhooks (or GETs of the
hello-world app) are sent one after another over fresh connections as wrk sends them, and the worker's
instructions are dumped: the figure is instructions per request, gunicorn's parsing and writing included. The
client is this process (not counted). ``--contacts known``: every measured webhook's contact was stored by the
warm-up through the same worker.
"""
from __future__ import annotations

import argparse
import glob
import hashlib
import hmac
import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

from .env import ROOT, VENV_BIN, free_port
from .signed import STRIPE_SECRET, sendgrid_batch, sendgrid_key_pair, stripe_event

def stripe_request(n: int, run: str, host: str, email_of: int | None = None) -> bytes:
    body = stripe_event(n if email_of is None else email_of, run)
    if email_of is not None:  # a distinct event for a contact an earlier request stored
        body = body.replace(f"evt_bench{run}{email_of}".encode(), f"evt_bench{run}x{n}".encode()).replace(
            f"pi_bench{run}{email_of}".encode(), f"pi_bench{run}x{n}".encode())
    now = int(time.time())
    mac = hmac.new(STRIPE_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    head = (f"POST /hooks/stripe HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: application/json\r\nStripe-Signature: t={now},v1={mac}\r\n\r\n")
    return head.encode() + body


def sendgrid_request(n: int, run: str, host: str, private_key: object, size: int = 500) -> bytes:
    import base64

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec

    body = sendgrid_batch(n, size, run)
    now = str(int(time.time()))
    signature = base64.b64encode(private_key.sign(now.encode() + body, ec.ECDSA(hashes.SHA256()))).decode()
    head = (f"POST /hooks/sendgrid HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n"
            f"Content-Type: application/json\r\nX-Twilio-Email-Event-Webhook-Signature: {signature}\r\n"
            f"X-Twilio-Email-Event-Webhook-Timestamp: {now}\r\n\r\n")
    return head.encode() + body


def send(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=120) as s:
        s.sendall(request)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def worker_pid(master: int) -> int:
    for _ in range(600):
        out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout.split()
        if out:
            return int(out[0])
        time.sleep(0.5)
    raise RuntimeError("no gunicorn worker")



def private_redis(prefix: list[str], wait_s: float) -> tuple[subprocess.Popen, str]:
    """A redis-server of this run's own on a free port (under ``prefix``, e.g. callgrind), once it answers, and its
    URL: the tool never flushes a database someone else uses. Under callgrind its cron runs once a second (``--hz
    1``): at callgrind's pace the default ten a second counted as much again as the webhooks' own work."""
    port = free_port()
    process = subprocess.Popen([*prefix, "redis-server", "--port", str(port), "--save", "", "--appendonly", "no",
                                *(["--hz", "1"] if prefix else [])],
                               start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + wait_s
    while True:
        try:
            redis.Redis.from_url(url).ping()
            return process, url
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=60)
    parser.add_argument("--contacts", choices=("new", "known"), default="new")
    parser.add_argument("--hello", action="store_true", help="the hello-world app, GET /")
    parser.add_argument("--sendgrid", action="store_true", help="signed SendGrid batches of 500 events instead")
    parser.add_argument("--redis-url", help="a Redis database to flush and use (default: a private redis-server)")
    parser.add_argument("--app", default="app:create_app()")
    parser.add_argument("--annotate", action="store_true", help="print callgrind_annotate's top functions")
    parser.add_argument("--migrated", action="store_true",
                        help="every layout migration recorded first, as a worker's start leaves a new store")
    parser.add_argument("--count-redis", action="store_true",
                        help="a private redis-server under callgrind too: its instructions per request")
    args = parser.parse_args()

    port = free_port()
    out_dir = tempfile.mkdtemp(prefix="hook_cost.")
    server = plain = None
    if args.redis_url is None and not args.count_redis:  # never someone else's database: a private server
        plain, args.redis_url = private_redis([], wait_s=10)
    if args.count_redis:
        server, args.redis_url = private_redis(["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                                f"--callgrind-out-file={out_dir}/redis.%p"], wait_s=120)
    redis.Redis.from_url(args.redis_url).flushdb()
    if args.migrated:
        from app.contact_layout import LAYOUT_MIGRATIONS
        from app.keys import Keys
        redis.Redis.from_url(args.redis_url).hset(Keys().migrations(), mapping=dict.fromkeys(LAYOUT_MIGRATIONS, 1))
    env = {**os.environ, "REDIS_URL": args.redis_url, "SCOREKEEPER_WORKFLOWS_DIR": "",
           "SCOREKEEPER_LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0",
           "SCOREKEEPER_API_KEYS": "bench-key-" + "x" * 24, "SCOREKEEPER_STRIPE_SECRET": STRIPE_SECRET,
           "SCOREKEEPER_ARCHIVE_URL": f"sqlite:///{out_dir}/archive.sqlite3"}
    private_key = None
    if args.sendgrid:
        private_key, env["SCOREKEEPER_SENDGRID_PUBLIC_KEY"] = sendgrid_key_pair()
    app = "bench.hello:app" if args.hello else args.app
    argv = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--trace-children=yes",
            f"--callgrind-out-file={out_dir}/cg.%p", str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{port}",
            "--workers", "1", "--worker-class", "sync", "--log-level", "warning", "--timeout", "600", app]
    master = subprocess.Popen(argv, env=env, cwd=ROOT, start_new_session=True, stderr=subprocess.DEVNULL)
    try:
        worker = worker_pid(master.pid)
        host = f"127.0.0.1:{port}"
        hello = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
        run = str(int(time.time()))
        for _ in range(1200):
            try:
                send(port, hello if args.hello else b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                break
            except OSError:
                time.sleep(0.5)
        for n in range(args.warmup):
            reply = send(port, hello if args.hello else sendgrid_request(n, run, host, private_key)
                         if args.sendgrid else stripe_request(n, run, host))
            assert reply.startswith(b"HTTP/1.1 20"), reply[:300]
        if args.sendgrid:
            requests = [sendgrid_request(args.warmup + n, run, host, private_key) for n in range(args.requests)]
        elif args.hello:
            requests = [hello] * args.requests
        elif args.contacts == "known":
            requests = [stripe_request(args.warmup + n, run, host, email_of=n % args.warmup)
                        for n in range(args.requests)]
        else:
            requests = [stripe_request(args.warmup + n, run, host) for n in range(args.requests)]
        counted = [worker] + ([server.pid] if server else [])
        for pid in counted:
            subprocess.run(["callgrind_control", "-i", "on", str(pid)], check=True, capture_output=True)
        for request in requests:
            reply = send(port, request)
            assert reply.startswith(b"HTTP/1.1 20"), reply[:300]
            if not args.hello:
                assert b'"accepted":' + (b"500" if args.sendgrid else b"1") in reply, reply[-200:]
        for pid in counted:
            subprocess.run(["callgrind_control", "-i", "off", str(pid)], check=True, capture_output=True)
            subprocess.run(["callgrind_control", "-d", str(pid)], check=True, capture_output=True)
        dumps = sorted(glob.glob(f"{out_dir}/cg.{worker}*"), key=os.path.getmtime)
        total = instructions(dumps[-1])
        what = ("hello-world GET /" if args.hello else "signed SendGrid batch of 500" if args.sendgrid
                else f"signed Stripe webhook ({args.contacts} contact)")
        print(f"{what}: {total / args.requests / 1e6:.3f} M instructions per request in the gunicorn worker "
              f"({args.requests} requests, {total:,} in all; dump {dumps[-1]})")
        if server:
            dumps = sorted(glob.glob(f"{out_dir}/redis.{server.pid}*"), key=os.path.getmtime)
            total = instructions(dumps[-1])
            print(f"  redis-server: {total / args.requests / 1e6:.3f} M instructions per request")
        if args.annotate:
            print(subprocess.run(["callgrind_annotate", "--inclusive=no", dumps[-1]], capture_output=True,
                                 text=True).stdout[:6000])
    finally:
        for process in (master, server, plain):
            if process is not None:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=60)


def instructions(dump: str) -> int:
    return int(re.search(r"^totals: (\d+)", Path(dump).read_text(errors="replace"), re.MULTILINE).group(1))


if __name__ == "__main__":
    main()
