"""Row 3: latency from an accepted interaction to its workflow's webhook delivery."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import requests


from .report import Row
from .context import API_KEY, AUTH, Context, stop_workers, wait_workers, WEBHOOK_SECRET, WRK
from .tools import wrk, Receiver, percentiles


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
    # the contact's hash: its records, fold states and `_rev` are written there together (apply_batch.lua), but
    # ingest writes a new contact's document there first, so an event counts once `_rev` is there
    prefix = f"__keyspace@0__:{ctx.services.keys.contact('')}".replace("{c:}", "{c:*}")
    pubsub.psubscribe(prefix)
    stop = threading.Event()
    looker = ctx.bench.redis

    def listen() -> None:
        while not stop.is_set():
            message = pubsub.get_message(timeout=0.2)
            if message:
                channel = message["channel"]
                if not channel.endswith("}"):
                    continue  # another key of the contact (tags, outbox...)
                cid = channel[channel.index("{c:") + 3:-1]
                if cid not in visible and looker.hexists(ctx.services.keys.contact(cid), "_rev"):
                    visible[cid] = time.time()

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    workers = [ctx.bench.start_worker(f"worker-lat-{i}", ctx.worker_env()) for i in range(ctx.latency_workers)]
    try:
        wait_workers(ctx, ctx.latency_workers)
        out = ctx.bench.workdir / "paced"
        threads = 8  # one connection each, so each 202 is matched to its request
        cpu = Spent(ctx, workers)
        result = wrk(ctx, ctx.api_url, size.latency_seconds, threads, threads, WRK / "paced.lua",
                     [str(size.latency_rate), API_KEY, str(out), str(every), str(threads)])
        spent = cpu.since()
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
        jobs = worker_jobs(ctx)
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
        cid = ctx.services.contacts.new_contact_id("email", ident.lower() + "@bench.example")
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
    per_second = {k: v / size.latency_seconds for k, v in spent.items()}
    cpu_note = (f"CPU-seconds per second of the load: workers {per_second['workers']:.2f}, gunicorn "
                f"{per_second['gunicorn']:.2f}, redis-server {per_second['redis']:.2f}, the whole machine "
                f"{per_second['machine']:.2f} of {os.cpu_count()}; worker CPU per interaction sent "
                f"{spent['workers'] / max(len(sent), 1) * 1000:.2f} ms; {jobs:,} RQ jobs run "
                f"({jobs / max(len(sent), 1):.2f} per interaction), {spent['workers'] / max(jobs, 1) * 1000:.2f} ms "
                f"of worker CPU per job")
    ctx.say(f"row 3: {cpu_note}")
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


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds so far of the live processes of one process group (Linux ``/proc``)."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """CPU seconds the whole machine spent busy so far (``/proc/stat``: all but idle and iowait)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


class Spent:
    """CPU spent from now by the row's workers, the app's gunicorn, the run's redis-server and the machine."""

    def __init__(self, ctx: Context, workers: list) -> None:
        web = next(p for p in ctx.bench.processes if "app:create_app()" in p.args)
        self.groups = {"workers": [w.pid for w in workers], "gunicorn": [web.pid],
                       "redis": [ctx.bench.processes[0].pid]}
        self.start = self._now()

    def _now(self) -> dict[str, float]:
        now = {name: sum(group_cpu_s(pid) for pid in pids) for name, pids in self.groups.items()}
        now["machine"] = machine_cpu_s()
        return now

    def since(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - self.start[name] for name in now}


def worker_jobs(ctx: Context) -> int:
    """Jobs the row's workers finished, failed or not (RQ's count per worker)."""
    from rq import Worker

    return sum(w.successful_job_count + w.failed_job_count for w in Worker.all(queue=ctx.services.queue))
