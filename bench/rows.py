"""The rows of the suite. Each returns ``Row`` objects; ``Context`` holds the run's world."""
from __future__ import annotations

import http.server
import itertools
import os
import random
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from app import create_app
from app.scoring.fold import FoldState
from app.storage.contacts import contact_id_for

from . import data
from .env import Bench, wait_until
from .report import Row
from .signed import STRIPE_SECRET, sendgrid_key_pair, write_sendgrid, write_stripe

API_KEY = "bench-key"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
WEBHOOK_SECRET = "whsec_" + "YmVuY2gtYmVuY2gtYmVuY2gtYmVuY2gtYmVuY2g="
WRK = Path(__file__).resolve().parent / "wrk"


@dataclass(frozen=True)
class Size:
    contacts: int  # row 1 and 4
    interactions: int
    baseline_jobs: int
    http_seconds: int
    stripe_requests: int
    sendgrid_batches: int
    batch_events: int
    latency_rate: int
    latency_seconds: int
    list_contacts: int  # row 6
    query_seconds: int
    memory_contacts: int  # row 5


SIZES = {
    "tiny": Size(300, 3_000, 100, 1, 500, 8, 100, 50, 3, 3_000, 1, 300),
    "small": Size(10_000, 100_000, 1_000, 8, 20_000, 60, 500, 500, 20, 100_000, 5, 5_000),
    "full": Size(100_000, 1_000_000, 3_000, 15, 40_000, 200, 500, 500, 60, 1_000_000, 10, 20_000),
}


@dataclass
class Context:
    bench: Bench
    size: Size
    web_workers: int
    web_class: str
    web_threads: int
    latency_workers: int
    log: list[str] = field(default_factory=list)
    app: Any = None
    api_url: str = ""
    hello_url: str = ""
    sendgrid_key: Any = None

    def say(self, text: str) -> None:
        line = f"[{time.strftime('%H:%M:%S')}] {text}"
        self.log.append(line)
        print(line, file=sys.stderr, flush=True)

    # --- the world ---------------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        return {"API_KEYS": API_KEY, "STRIPE_SECRET": STRIPE_SECRET, "SENDGRID_PUBLIC_KEY": self.sendgrid_public,
                "OUTBOUND_ALLOW": "127.0.0.0/8", "LOG_LEVEL": "WARNING", "WORKFLOWS_DIR": ""}

    def start(self) -> None:
        self.sendgrid_key, self.sendgrid_public = sendgrid_key_pair()
        env = self.bench.app_env(**self.settings())
        self.app = create_app({"REDIS_URL": self.bench.redis_url, **self.settings()})
        self.api_url = self.bench.start_gunicorn("web", "app:create_app()", self.web_workers, self.web_class,
                                                 self.web_threads, env)
        self.hello_url = self.bench.start_gunicorn("hello", "bench.hello:app", self.web_workers, self.web_class,
                                                   self.web_threads, env)

    @property
    def services(self) -> Any:
        return self.app.extensions["scorekeeper"]

    def fresh(self) -> None:
        """An empty store with the 10-rule profile published (version 1)."""
        self.bench.redis.flushall()
        publish(self, data.profile_draft())

    def worker_env(self, **extra: str) -> dict[str, str]:
        return self.bench.app_env(**{**self.settings(), **extra})


def publish(ctx: Context, draft: dict[str, Any], app: Any = None) -> int:
    """Publish in this process (an empty or small store) of ``app`` (default: the run's); returns the version."""
    from app.api.schemas import ProfileDraftSchema
    from app.storage.profiles import ProfileStore
    from app.publish import run_publish, start_publish

    app = app or ctx.app
    with app.app_context():
        services = app.extensions["scorekeeper"]
        services.profiles.put_draft({"id": data.PROFILE_ID,
                                                               **ProfileDraftSchema().load(draft)})
        job = start_publish(services, data.PROFILE_ID)
        services.queue.empty()
        run_publish(services, data.PROFILE_ID, job["version"], job["id"], False)
        return job["version"]


def depth(ctx: Context, services: Any = None) -> int:
    return sum((services or ctx.services).partitions.partition_depths())


def wait_workers(ctx: Context, count: int) -> None:
    from rq import Worker

    wait_until(lambda: len(Worker.all(queue=ctx.services.queue)) >= count, what=f"{count} RQ worker(s)")


def stop_workers(ctx: Context, processes: list) -> None:
    from .env import stop

    started = time.perf_counter()
    for process in processes:  # the measurement is over: a worker gets 3 s to finish, then is killed
        stop(process, timeout=3)
        ctx.bench.processes.remove(process)
    ctx.say(f"stopped {len(processes)} worker(s) in {time.perf_counter() - started:.1f} s")


def wake_all(ctx: Context, services: Any = None) -> None:
    from app.ingest import wake_partition

    services = services or ctx.services
    for partition in range(services.sharding.partitions):
        services.partitions.clear_wake(partition)
        wake_partition(services, partition)


# --- 1 and 4: scoring throughput, its baseline, and the publish recompute -------------------
def rows_scoring(ctx: Context, want: set[str]) -> list[Row]:
    size = ctx.size
    ctx.fresh()
    ctx.say(f"row 1: loading {size.interactions:,} interactions over {size.contacts:,} contacts (in-process ingest)")
    started = time.perf_counter()
    with ctx.app.app_context():
        loaded = data.load(ctx.services, data.interactions(size.contacts, size.interactions))
    load_s = time.perf_counter() - started
    ctx.say(f"row 1: loaded {loaded:,} in {load_s:.1f} s ({loaded / load_s:,.0f}/s)")
    ctx.services.queue.empty()
    worker = ctx.bench.start_worker("worker-1", ctx.worker_env())
    rows: list[Row] = []
    try:
        wait_workers(ctx, 1)
        started = time.perf_counter()
        wake_all(ctx)
        last = time.perf_counter()
        while depth(ctx):
            time.sleep(0.05)
            if time.perf_counter() - last > 10:
                ctx.say(f"row 1: {depth(ctx):,} left")
                last = time.perf_counter()
        elapsed = time.perf_counter() - started
        rate = loaded / elapsed
        ctx.say(f"row 1: one worker scored {loaded:,} in {elapsed:.1f} s ({rate:,.0f}/s)")
        stats = ctx.bench.redis.hgetall(ctx.services.keys.stats())
        baseline, base_note = baseline_one_job_per_interaction(ctx)
        if "1" in want:
            rows.append(Row("1", "scoring, one worker process, 10 rules", rate, "interactions/s", baseline,
                            "one RQ job per interaction", "≥ 10,000/s and ≥ 50×",
                            rate >= 10_000 and baseline is not None and rate / baseline >= 50,
                            [(f"{loaded:,} interactions over {size.contacts:,} contacts, in time order (a batch of "
                             f"1,000 touches ~1,000 contacts); loaded through app.ingest in {load_s:.1f} s "
                             f"({loaded / load_s:,.0f}/s) before the worker started"),
                             f"{stats.get('batches', '?')} batches; timed from the wake-up to empty streams",
                             base_note]))
        if "4" in want:
            rows.append(publish_recompute(ctx))
    finally:
        stop_workers(ctx, [worker])
    return rows


def baseline_one_job_per_interaction(ctx: Context) -> tuple[float | None, str]:
    from rq import Queue

    jobs = ctx.size.baseline_jobs
    items = list(data.interactions(max(1, jobs // 10), jobs, seed=9, run="b"))
    with ctx.app.app_context():
        contact_ids = ctx.services.contacts.resolve_contacts(items)
    queue = ctx.services.queue
    finished = FinishedJobRegistry(queue=queue)
    failed = FailedJobRegistry(queue=queue)
    before = finished.count
    started = time.perf_counter()
    for chunk in data.chunks(iter(zip(contact_ids, items)), 500):
        queue.enqueue_many([Queue.prepare_data("bench.jobs.score_one", (cid, item.to_record()), result_ttl=600)
                            for cid, item in chunk])
    while finished.count + failed.count - before < jobs:
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if failed.count:
        return None, f"baseline: {failed.count} jobs failed"
    rate = jobs / elapsed
    ctx.say(f"row 1 baseline: {jobs:,} jobs in {elapsed:.1f} s ({rate:,.0f}/s)")
    return rate, (f"baseline: {jobs:,} RQ jobs (`bench.jobs.score_one`: `Scorer.score` of one interaction) "
                  f"on the same worker process (RQ SimpleWorker, as the app's default), {elapsed:.1f} s")


def publish_recompute(ctx: Context) -> Row:
    from app.api.schemas import ProfileDraftSchema
    from app.storage.profiles import ProfileStore
    from app.publish import get_job, start_publish

    services = ctx.services
    with ctx.app.app_context():
        draft = data.profile_draft()
        draft["rules"] = [{**r, "points": r["points"] * 2} for r in draft["rules"]]
        services.profiles.put_draft({"id": data.PROFILE_ID,
                                                               **ProfileDraftSchema().load(draft)})
        contacts = services.contacts.contact_count()
        started = time.perf_counter()
        job = start_publish(services, data.PROFILE_ID)
        last = 0.0
        while job["status"] not in ("finished", "failed"):
            time.sleep(0.2)
            job = get_job(services, job["id"])
            if time.perf_counter() - last > 5:
                ctx.say(f"row 4: recompute {job['progress'] * 100:.0f}% ({job['done']:,}/{job['total']:,})")
                last = time.perf_counter()
        elapsed = time.perf_counter() - started
    ok = job["status"] == "finished"
    ctx.say(f"row 4: publish recompute {job['status']} in {elapsed:.1f} s")
    interactions = ctx.size.interactions + ctx.size.baseline_jobs
    return Row("4", "publish recompute", elapsed if ok else None, "s", target="≤ 60 s",
               met=ok and elapsed <= 60,
               notes=[(f"{contacts:,} contacts, {interactions:,} stored interactions, one worker process; "
                      f"progress was followed through GET /v1/jobs (logged below)")])


# --- 2: HTTP ingestion ------------------------------------------------------------------------
def wrk(ctx: Context, url: str, seconds: int, threads: int, connections: int, script: Path | None = None,
        args: list[str] | None = None, headers: dict[str, str] | None = None, latency: bool = False) -> dict:
    argv = ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{seconds}s", "--timeout", "10s"]
    if latency:
        argv.append("--latency")
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script:
        argv += ["-s", str(script)]
    argv.append(url)
    if args:
        argv += ["--", *args]
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 120, check=False).stdout
    return parse_wrk(out)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_wrk(out: str) -> dict:
    result: dict[str, Any] = {"raw": out}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        result["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    result["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non2xx"] = int(m.group(1)) if m else 0
    for pct in ("50", "75", "90", "99"):
        if m := re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.MULTILINE):
            result[f"p{pct}_ms"] = float(m.group(1)) * _UNITS[m.group(2)]
    return result


def rows_http(ctx: Context) -> list[Row]:
    size = ctx.size
    ctx.bench.redis.flushall()
    gen = ctx.bench.workdir
    settings = f"{ctx.web_workers} × {ctx.web_class}" + (f" ({ctx.web_threads} threads)" if ctx.web_class == "gthread"
                                                         else "")
    hello = wrk(ctx, ctx.hello_url + "/", size.http_seconds, 2, 8)
    ctx.say(f"row 2: hello-world {hello.get('rps', 0):,.0f} req/s")
    stripe_file = write_stripe(gen / "stripe.txt", size.stripe_requests, run=str(int(time.time())))
    stripe = wrk(ctx, ctx.api_url + "/hooks/stripe", size.http_seconds, 2, 8, WRK / "replay.lua",
                 [str(stripe_file), "stripe"])
    ctx.say(f"row 2: stripe {stripe.get('rps', 0):,.0f} req/s, non-2xx {stripe['non2xx']}")
    sg_file = write_sendgrid(gen / "sendgrid.txt", size.sendgrid_batches, size.batch_events, ctx.sendgrid_key,
                             run=str(int(time.time())))
    sendgrid = wrk(ctx, ctx.api_url + "/hooks/sendgrid", size.http_seconds, 2, 4, WRK / "replay.lua",
                   [str(sg_file), "sendgrid"])
    events = sendgrid.get("rps", 0) * size.batch_events
    ctx.say(f"row 2: sendgrid {sendgrid.get('rps', 0):,.1f} batches/s = {events:,.0f} events/s, "
            f"non-2xx {sendgrid['non2xx']}")
    stored = depth(ctx)
    share = "; ".join([(f"wrk -t2 -c8 for {size.http_seconds} s; gunicorn {settings} workers, "
                       "no scoring worker running (this row is the web tier only)"),
                       ("requests are signed ahead of time with the current time (within the providers' 300 s "
                       "tolerance), so every signature is verified for real")])
    wrap = ""
    if stripe["requests"] > size.stripe_requests:
        wrap = f"; {stripe['requests'] - size.stripe_requests:,} requests re-sent bodies already sent (duplicates)"
    rows = [
        Row("2a", f"Stripe signed webhook, 1 interaction, gunicorn {settings}", stripe.get("rps"), "req/s",
            hello.get("rps"), "Flask hello-world, same gunicorn", "≥ 0.5× hello-world",
            bool(stripe.get("rps") and hello.get("rps") and stripe["rps"] >= 0.5 * hello["rps"])
            and not stripe["non2xx"],
            [share + wrap, f"non-2xx answers: {stripe['non2xx']}; interactions now in the streams: {stored:,}"]),
        Row("2b", f"SendGrid signed batches of {size.batch_events}, gunicorn {settings}", events, "events/s",
            hello.get("rps"), "hello-world req/s", "≥ 20,000 events/s",
            events >= 20_000 and not sendgrid["non2xx"],
            [(f"wrk -t2 -c4; {sendgrid.get('rps', 0):.1f} batches/s; non-2xx answers: {sendgrid['non2xx']}; "
             f"{size.sendgrid_batches} distinct signed batches")]),
    ]
    return rows


# --- 3: latency -------------------------------------------------------------------------------
class Receiver(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        at = time.time()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        try:
            contact = orjson.loads(body)["contact"]["id"]
        except (ValueError, KeyError, TypeError):
            return
        self.server.arrivals.setdefault(contact, at)  # type: ignore[attr-defined]

    def log_message(self, *args: Any) -> None:
        pass


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": ordered[-1]}


def rows_latency(ctx: Context) -> list[Row]:
    size = ctx.size
    ctx.fresh()
    every = 10
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    workflow = {"name": "bench", "trigger": {"type": "interaction", "on": "form.submitted", "reentry": True},
                "steps": [{"type": "webhook", "url": hook_url, "secret": WEBHOOK_SECRET}]}
    resp = requests.put(ctx.api_url + "/v1/workflows/bench", json=workflow, headers=AUTH, timeout=10)
    resp.raise_for_status()
    redis = ctx.bench.redis
    redis.config_set("notify-keyspace-events", "Kh")
    visible: dict[str, float] = {}
    pubsub = redis.pubsub(ignore_subscribe_messages=True)
    prefix = f"__keyspace@0__:{ctx.services.keys.states('')}".replace("{c:}", "{c:*}")
    pubsub.psubscribe(prefix)
    stop = threading.Event()

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message:
                channel = message["channel"]
                cid = channel[channel.index("{c:") + 3:channel.index("}")]
                visible.setdefault(cid, time.time())

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    workers = [ctx.bench.start_worker(f"worker-lat-{i}", ctx.worker_env()) for i in range(ctx.latency_workers)]
    try:
        wait_workers(ctx, ctx.latency_workers)
        out = ctx.bench.workdir / "paced"
        threads = 8  # one connection each, so each 202 is matched to its request
        result = wrk(ctx, ctx.api_url, size.latency_seconds, threads, threads, WRK / "paced.lua",
                     [str(size.latency_rate), API_KEY, str(out), str(every), str(threads)])
        sent: dict[str, float] = {}
        for path in ctx.bench.workdir.glob("paced.*"):
            for line in path.read_text().splitlines():
                ident, at_us = line.split("\t")
                sent[ident] = int(at_us) / 1e6
        expected_hooks = sum(1 for ident in sent if int(ident.split("-")[1]) % every == 0)
        ctx.say("row 3: load done; waiting for the last scores and webhooks")
        deadline = time.time() + 15
        while time.time() < deadline and (len(visible) < len(sent) or len(receiver.arrivals) < expected_hooks):
            time.sleep(0.1)
    finally:
        stop_workers(ctx, workers)
        stop.set()
        listener.join(timeout=2)
        pubsub.close()
        receiver.shutdown()
        receiver.server_close()
    rate = len(sent) / size.latency_seconds
    score_lat, hook_lat, missing = [], [], 0
    for ident, at in sent.items():
        cid = contact_id_for("email", ident.lower() + "@bench.example")
        if cid in visible:
            score_lat.append(max(0.0, visible[cid] - at) * 1000)
        else:
            missing += 1
        if int(ident.split("-")[1]) % every == 0 and cid in receiver.arrivals:
            hook_lat.append(max(0.0, receiver.arrivals[cid] - at) * 1000)
    s, h = percentiles(score_lat), percentiles(hook_lat)
    ctx.say(f"row 3: sent {len(sent):,} ({rate:,.0f}/s); score p50/p95/p99 {s.get('p50', 0):.1f}/"
            f"{s.get('p95', 0):.1f}/{s.get('p99', 0):.1f} ms; webhook {h.get('p50', 0):.1f}/{h.get('p95', 0):.1f}/"
            f"{h.get('p99', 0):.1f} ms ({len(hook_lat)}/{expected_hooks})")
    common = (f"wrk, 8 threads × 1 connection each, paced open-loop to {size.latency_rate}/s for {size.latency_seconds} s "
              f"(achieved {rate:,.0f}/s); one new contact per interaction; {ctx.latency_workers} worker processes; "
              f"the 202 is timed by wrk when the response arrives; non-2xx answers: {result['non2xx']}")

    def row(key: str, name: str, p: dict[str, float], target: float, note: str) -> Row:
        return Row(key, f"{name} p50 / p95 / p99", p.get("p99"), "ms (p99)", target=f"p99 ≤ {target:.0f} ms",
                   met=bool(p) and p["p99"] <= target and rate >= 0.9 * size.latency_rate,
                   notes=[(f"p50 {p.get('p50', 0):.1f} ms, p95 {p.get('p95', 0):.1f} ms, p99 {p.get('p99', 0):.1f} ms, "
                          f"max {p.get('max', 0):.1f} ms"), common, note])

    return [
        row("3a", "202 → score visible", s, 100,
            f"visible = the contact's fold state committed (what GET /v1/contacts/{{id}} reads), seen through a "
            f"Redis keyspace notification; {missing} of {len(sent):,} not seen within 15 s"),
        row("3b", "202 → workflow webhook received", h, 250,
            f"every {every}th interaction is a form.submitted that fires a workflow whose webhook step posts to a "
            f"local receiver ({len(hook_lat)} of {expected_hooks} arrived); signed, through the SSRF guard"),
    ]


# --- 5: memory --------------------------------------------------------------------------------
def rows_memory(ctx: Context) -> list[Row]:
    from app.scoring_service import drain

    contacts = ctx.size.memory_contacts
    per_contact_later = 9
    ctx.fresh()
    redis = ctx.bench.redis
    services = ctx.services

    def settle() -> None:
        services.queue.empty()
        for p in range(services.sharding.partitions):
            drain(services, p, max_batches=10 ** 6)
        services.queue.empty()
        for p in range(services.sharding.partitions):
            services.partitions.clear_wake(p)

    def used() -> int:
        return int(redis.info("memory")["used_memory"])

    stream = data.interactions(contacts, contacts * (1 + per_contact_later), seed=11)
    with ctx.app.app_context():
        settle()
        m0 = used()
        data.load(services, itertools.islice(stream, contacts))
        settle()
        m1 = used()
        data.load(services, stream)
        settle()
        m2 = used()
    per_interaction = (m2 - m1) / (contacts * per_contact_later)
    per_contact = (m1 - m0) / contacts - per_interaction
    ctx.say(f"row 5: {per_contact:,.0f} B per contact, {per_interaction:,.0f} B per interaction")
    breakdown = memory_breakdown(ctx, contacts)
    method = (f"INFO used_memory deltas: {contacts:,} contacts each with 1 interaction scored (Δ₁), then 9 more "
              f"each (Δ₂); per interaction = Δ₂ / {contacts * per_contact_later:,}; per contact = Δ₁ / {contacts:,} − "
              f"per interaction")
    return [
        Row("5a", "Redis memory per contact, one scored profile", per_contact, "B", target="≤ 500 B",
            met=per_contact <= 500, notes=[method, breakdown]),
        Row("5b", "Redis memory per stored interaction", per_interaction, "B", target="≤ 150 B",
            met=per_interaction <= 150, notes=[("includes its timeline record, its ledger entries, its idempotency "
                                               "key (kept for ever) and the stream's leftovers")]),
    ]


def memory_breakdown(ctx: Context, contacts: int) -> str:
    """MEMORY USAGE summed by key kind over every key, per contact: where the bytes go."""
    redis = ctx.bench.redis
    kinds: dict[str, int] = {}
    for key in redis.scan_iter(count=1000):
        kind = re.sub(r"\{c:[^}]+\}", "{c}", re.sub(r"\{p:\d+\}", "{p}", key))
        kind = re.sub(r":id:email:.*", ":id:email:*", kind)
        kind = re.sub(r":\d+$", ":N", kind)
        kinds[kind] = kinds.get(kind, 0) + int(redis.memory_usage(key, samples=0) or 0)
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:8]
    return (f"MEMORY USAGE by key kind, summed over every key and divided by the {contacts:,} contacts (each with "
            f"10 interactions): " + ", ".join(f"`{k}` {v / contacts:,.0f} B" for k, v in top))


# --- 6: smart-list query ----------------------------------------------------------------------
def rows_smart_list(ctx: Context) -> list[Row]:
    from app.api.contacts import run_filter
    from app.contact_filter import from_legacy
    from app.scoring.interactions import Interaction

    n = ctx.size.list_contacts
    ctx.fresh()
    services = ctx.services
    rng = random.Random(6)
    ctx.say(f"row 6: writing {n:,} scored contacts through the store")
    field_ = f"{data.PROFILE_ID}@1"
    with ctx.app.app_context():
        for start in range(0, n, 5000):
            items = [Interaction(id="x", source="bench", type="email.opened", occurred_at=0,
                                 email=data.email_of(i, "s")) for i in range(start, min(n, start + 5000))]
            ids = services.contacts.resolve_contacts(items)
            scores = {cid: rng.randint(0, 200) for cid in ids}
            pipe = services.redis.pipeline(transaction=False)
            for cid, score in scores.items():
                pipe.hset(services.keys.states(cid), mapping={
                    field_: orjson.dumps(FoldState(score=score).to_json()).decode(), "_rev": 1})
            pipe.execute()
            services.scores.update_indexes({(data.PROFILE_ID, 1): scores}, {})
    resp = requests.post(ctx.api_url + "/v1/smart-lists", json={"name": "hot", "profile": data.PROFILE_ID,
                                                                "op": "gte", "value": 50}, headers=AUTH, timeout=10)
    resp.raise_for_status()
    list_id = resp.json()["id"]
    url = f"{ctx.api_url}/v1/smart-lists/{list_id}/contacts?limit=50"
    check = requests.get(url, headers=AUTH, timeout=10).json()
    assert len(check["items"]) == 50 and check["total"] > 0, check
    result = wrk(ctx, url, ctx.size.query_seconds, 1, 1, headers=AUTH, latency=True)
    flt = from_legacy({"profile": data.PROFILE_ID, "op": "gte", "value": 50})
    timings = []
    with ctx.app.test_request_context():
        for _ in range(300):
            t = time.perf_counter()
            run_filter(services, flt, 50, 0)
            timings.append((time.perf_counter() - t) * 1000)
    local = percentiles(timings)
    from app.storage.queries import ContactQuery

    query_only = []
    live = {data.PROFILE_ID: (services.profiles.live()[data.PROFILE_ID].profile, 1)}
    for _ in range(300):
        t = time.perf_counter()
        ContactQuery(services.scores, services.contacts).run(flt, live, 50, 0, 0)
        query_only.append((time.perf_counter() - t) * 1000)
    query = percentiles(query_only)
    ctx.say(f"row 6: HTTP p50 {result.get('p50_ms', 0):.2f} ms p99 {result.get('p99_ms', 0):.2f} ms; "
            f"in-process p99 {local['p99']:.2f} ms")
    p99 = result.get("p99_ms")
    return [Row("6", f"smart list over {n:,} contacts: page of 50 + count", p99, "ms (p99)", target="p99 ≤ 5 ms",
                met=p99 is not None and p99 <= 5,
                notes=[(f"GET /v1/smart-lists/{{id}}/contacts?limit=50 (score ≥ 50: {check['total']:,} match) through "
                       f"gunicorn, wrk 1 connection for {ctx.size.query_seconds} s: p50 {result.get('p50_ms', 0):.2f} "
                       f"ms, p99 {p99 or 0:.2f} ms, {result.get('rps', 0):,.0f} req/s"),
                       f"the same call in-process (no HTTP): p50 {local['p50']:.2f} ms, p99 {local['p99']:.2f} ms",
                       (f"of which the index query alone (ContactQuery.run: page of 50 + count over "
                       f"{services.sharding.buckets} buckets): p50 {query['p50']:.2f} ms, p99 {query['p99']:.2f} ms; the rest is "
                       f"reading and rendering the 50 contacts (one pipeline) and the live profiles"),
                       ("contacts and scores were written through the store (resolve_contacts, fold states, "
                       "update_indexes), not by scoring 1M interactions")])]


# --- 7: scale-out: more worker processes, and the store on a Redis Cluster ------------------
def drain_rate(ctx: Context, app: Any, loaded: int, workers: int, env: dict[str, str]) -> float:
    """Interactions/s for ``workers`` worker processes to empty the streams of ``app``'s store."""
    services = app.extensions["scorekeeper"]
    services.queue.empty()
    processes = [ctx.bench.start_worker(f"scale-{workers}-{i}", env) for i in range(workers)]
    try:
        wait_workers(ctx, workers)
        started = time.perf_counter()
        wake_all(ctx, services)
        while depth(ctx, services):
            time.sleep(0.05)
        return loaded / (time.perf_counter() - started)
    finally:
        stop_workers(ctx, processes)


def rows_scale(ctx: Context) -> list[Row]:
    """The same load (a fifth of row 1's) drained by 1, 2 and 4 workers, and by 1 worker on a cluster."""
    from app import create_app

    from .cluster import Cluster

    contacts, interactions = max(ctx.size.contacts // 5, 100), max(ctx.size.interactions // 5, 1_000)
    note = (f"{interactions:,} interactions over {contacts:,} contacts, loaded before the workers start; "
            f"{os.cpu_count()} cores shared by the workers, Redis and this process, so more worker processes "
            "than cores cannot add throughput on this machine")

    def loaded_into(app: Any) -> int:
        with app.app_context():
            return data.load(app.extensions["scorekeeper"], data.interactions(contacts, interactions))

    rates = {}
    for workers in (1, 2, 4):
        ctx.fresh()
        loaded = loaded_into(ctx.app)
        rates[workers] = drain_rate(ctx, ctx.app, loaded, workers, ctx.worker_env())
        ctx.say(f"row 7: {workers} worker(s): {rates[workers]:,.0f}/s")
    cluster = Cluster().start()
    try:
        ctx.bench.redis.flushall()
        settings = {**ctx.settings(), "STORE_URL": cluster.url}
        app = create_app({"REDIS_URL": ctx.bench.redis_url, **settings})
        publish(ctx, data.profile_draft(), app)
        loaded = loaded_into(app)
        on_cluster = drain_rate(ctx, app, loaded, 1, ctx.bench.app_env(**settings))
        ctx.say(f"row 7: 1 worker, store on a 3-master cluster: {on_cluster:,.0f}/s")
    finally:
        cluster.stop()
    return [
        Row("7a", "scoring, 2 worker processes", rates[2], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7b", "scoring, 4 worker processes", rates[4], "interactions/s", rates[1], "1 worker", notes=[note]),
        Row("7c", "scoring, 1 worker, store on a 3-master Redis Cluster", on_cluster, "interactions/s", rates[1],
            "1 worker, single Redis",
            notes=["the cluster's 3 redis-server processes run on the same cores; a batch's writes go out as "
                   "one script call per contact, pipelined per node, instead of 250 contacts per call"]),
    ]


# --- 8: dashboard pages, server time -------------------------------------------------------
DASHBOARD_REQUESTS = 20


#: Dashboard endpoints that are not pages (files, JSON for scripts, the sign-in form).
NOT_PAGES = {"dashboard.static", "dashboard.export_contacts", "dashboard.job_json", "dashboard.sign_in",
             "dashboard.home"}


def other_dashboard_pages(app: Any, known: set[str]) -> dict[str, str]:
    """Every other dashboard page without arguments in its path, so a new page is measured as well."""
    found = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") and rule.endpoint not in NOT_PAGES and "GET" in rule.methods \
                and not rule.arguments and rule.rule not in known:
            found[rule.rule.removeprefix("/dashboard/")] = rule.rule
    return found


def console_data(ctx: Context, client: Any) -> dict[str, str]:
    """Two smart lists (shown as tabs with live counts on the contacts page), a workflow, and the contacts
    and workflow pages that need them: the filter builder's cheapest and dearest shapes."""
    p = data.PROFILE_ID
    score_and_band = {"conditions": [{"field": "score", "profile": p, "op": "gte", "value": 10},
                                     {"field": "band", "profile": p, "band": "warm"}]}
    recent = {"conditions": [{"field": "activity", "op": "within", "days": 30}]}
    for name, flt in (("Warm", score_and_band), ("Active this month", recent)):
        client.post("/v1/smart-lists", json={"name": name, "filter": flt}, headers=AUTH)
    client.put("/v1/workflows/hot", headers=AUTH, json={
        "id": "hot", "name": "Hot lead", "trigger": {"type": "score_changed", "profile": p, "operator": "gte",
                                                     "value": 50},
        "steps": [{"type": "add_tag", "tag": "hot-lead"}, {"type": "notify", "channel": "inbox", "message": "hot"}]})
    both = f"c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10&c-1-kind=band&c-1-profile={p}&c-1-value=warm"
    return {
        "contacts, score ≥ 10 and band warm (one index range)": f"/dashboard/contacts?{both}",
        "contacts, score ≥ 10 and not tagged vip (walks the range)":
            f"/dashboard/contacts?c-0-kind=score&c-0-profile={p}&c-0-op=gte&c-0-value=10"
            "&c-1-kind=tag_has_not&c-1-value=vip",
        "search suggestions": "/dashboard/contacts/suggest?q=u12",
        "workflow page": "/dashboard/workflows/hot",
        "workflow builder (edit)": "/dashboard/workflows/hot/edit",
    }


def rows_dashboard(ctx: Context) -> list[Row]:
    """Server time of each dashboard page (in-process, signed in) with row 1's number of contacts."""
    contacts = ctx.size.contacts
    ctx.fresh()
    with ctx.app.app_context():
        loaded = data.load(ctx.services, data.interactions(contacts, contacts * 3))
    drain_rate(ctx, ctx.app, loaded, 1, ctx.worker_env())
    client = ctx.app.test_client()
    client.get("/dashboard/signin")
    with client.session_transaction() as session:
        csrf = session["csrf"]
    client.post("/dashboard/signin", data={"api_key": API_KEY, "csrf_token": csrf})
    with ctx.app.app_context():
        top = ctx.services.contacts.get_contacts(
            [cid for cid, _ in ctx.services.redis.zrevrange(
                ctx.services.scores.score_indexes(data.PROFILE_ID, 1)[0], 0, 0, withscores=True)])[0]
    with ctx.app.app_context():
        profile = ctx.services.profiles.require(data.PROFILE_ID)
        job = ctx.services.profiles.version_record(data.PROFILE_ID, profile["live_version"]).job
    rule = profile["draft"]["rules"][0]["id"]
    base = f"/dashboard/profiles/{data.PROFILE_ID}"
    console_pages = console_data(ctx, client)
    pages = {
        "profiles": "/dashboard/profiles",
        "profile page": base,
        "contacts (default)": "/dashboard/contacts",
        "contacts, score ≥ 10": f"/dashboard/contacts?profile={data.PROFILE_ID}&op=gte&value=10",
        "contact page": f"/dashboard/contacts/{top['id']}",
        "smart lists": "/dashboard/smart-lists",
        "workflows": "/dashboard/workflows",
        "deliveries": "/dashboard/deliveries",
        "inbox": "/dashboard/notifications",
        "new profile": "/dashboard/profiles/new",
        "rule builder (new)": f"{base}/rules/new",
        "rule builder (edit)": f"{base}/rules/{rule}",
        "versions": f"{base}/versions",
        "publish summary": f"/dashboard/jobs/{job}",
        "delete confirmation": f"{base}/delete",
    }
    pages.update(console_pages)
    pages.update(other_dashboard_pages(ctx.app, set(pages.values())))
    worst: tuple[str, float] = ("", 0.0)
    notes = []
    for name, url in pages.items():
        client.get(url)  # not timed: the first request of a page compiles its templates once per process
        times = []
        for _ in range(DASHBOARD_REQUESTS):
            started = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"row 8: {url} answered {response.status_code}")
        spread = percentiles(times)
        p99 = spread["p99"]
        notes.append(f"{name}: p50 {spread['p50']:.1f} ms, p99 {p99:.1f} ms")
        worst = max(worst, (name, p99), key=lambda w: w[1])
    ctx.say(f"row 8: slowest page {worst[0]}: p99 {worst[1]:.1f} ms")
    notes.insert(0, f"{contacts:,} scored contacts; {DASHBOARD_REQUESTS} requests per page through the Flask "
                    "app in-process (server time, no network), signed in")
    return [Row("8", f"dashboard, slowest page ({worst[0]})", worst[1], "ms (p99)", target="≤ 200 ms",
                met=worst[1] <= 200, notes=notes)]
