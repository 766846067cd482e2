"""Pre-signed request files for wrk: one request per line, ``header<TAB>...<TAB>body``.

Signatures are made before the run starts (wrk's Lua cannot sign ECDSA), each with the
current time: Stripe and SendGrid accept a 300 s clock difference, and a row runs for far
less, so every request verifies for real. Every body carries distinct event ids, so the
requests are accepted, not counted as duplicates (a thread that wraps around its share
sends duplicates, which the table notes).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path

import orjson
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

STRIPE_SECRET = "whsec_bench_" + "k" * 24
WRK_DIR = Path(__file__).resolve().parent / "wrk"


def sendgrid_key_pair() -> tuple[ec.EllipticCurvePrivateKey, str]:
    private_key = ec.generate_private_key(ec.SECP256R1())
    der = private_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    return private_key, base64.b64encode(der).decode()


def stripe_event(n: int, run: str) -> bytes:
    pi = f"pi_bench{run}{n}"
    obj = {"id": pi, "object": "payment_intent", "amount": 4900, "amount_received": 4900, "currency": "usd",
           "customer": None, "description": None, "metadata": {}, "receipt_email": f"s{n % 5000}{run}@bench.example",
           "status": "succeeded", "created": int(time.time())}
    return orjson.dumps({"id": f"evt_bench{run}{n}", "object": "event", "api_version": "2022-11-15",
                         "created": int(time.time()), "data": {"object": obj}, "livemode": False,
                         "pending_webhooks": 0, "type": "payment_intent.succeeded"})


def write_stripe(path: Path, count: int, run: str = "") -> Path:
    now = int(time.time())
    with open(path, "wb") as out:
        for n in range(count):
            body = stripe_event(n, run)
            mac = hmac.new(STRIPE_SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
            out.write(f"t={now},v1={mac}\t".encode() + body + b"\n")
    return path


def sendgrid_batch(n: int, size: int, run: str) -> bytes:
    kinds = ["delivered", "open", "open", "click", "delivered", "open"]
    events = []
    for i in range(size):
        kind = kinds[i % len(kinds)]
        events.append({"email": f"g{(n * size + i) % 20000}{run}@bench.example", "timestamp": int(time.time()),
                       "event": kind, "sg_event_id": f"sg{run}-{n}-{i}", "sg_message_id": f"msg{n}.filter0001",
                       "sg_machine_open": False, "category": "bench"})
    return orjson.dumps(events)


def write_sendgrid(path: Path, count: int, size: int, private_key: ec.EllipticCurvePrivateKey, run: str = "") -> Path:
    now = str(int(time.time()))
    with open(path, "wb") as out:
        for n in range(count):
            body = sendgrid_batch(n, size, run)
            signature = private_key.sign(now.encode() + body, ec.ECDSA(hashes.SHA256()))
            out.write(base64.b64encode(signature) + f"\t{now}\t".encode() + body + b"\n")
    return path
