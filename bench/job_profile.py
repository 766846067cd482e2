"""``python -m bench.job_profile``: what one small RQ job costs a worker (docs/performance.md, row 3).

Row 3's workflow costs two RQ jobs per firing interaction (the run, then its delivery), and row 1's baseline is one
job per interaction; both are bounded by what a worker spends on each job beyond its work. On a busy machine the
rate means little; CPU-seconds per job do. This starts a private redis-server and one real ``scorekeeper worker``
(the bench's settings: the SQLite archive, the 10-rule profile published), queues ``--jobs`` jobs of one kind while
the worker waits, and prints per job: the worker process's CPU (``/proc``), redis-server's CPU, and with
``--commands`` Redis's ``INFO commandstats``. ``--py-spy FILE`` records the worker with ``py-spy record --format
raw`` meanwhile (collapsed stacks). Kinds:

- ``score``: ``bench.jobs.score_one`` (row 1's baseline: ``Scorer.score`` of one interaction);
- ``nothing``: ``bench.jobs.nothing``, a job that does nothing in the app's context: RQ's bookkeeping alone;
- ``workspace``: ``bench.jobs.nothing_in_workspace``, the same through ``app.jobs.in_job_workspace``;
- ``flow``: row 3's flow without HTTP in front: ``--rate`` interactions a second for ``--seconds``, each ingested
  alone in this process through ``app.ingest.ingest`` (as ``POST /v1/interactions`` does), one new contact each,
  every 10th a ``form.submitted`` firing row 3's workflow (a webhook step posting to a local receiver); the
  worker(s) run the drain, run and delivery jobs as they come; per interaction and per job, with the jobs by kind
  and the webhook latency (ingest → received; on a busy machine only a hint);
- ``stages``: each kind of row 3's jobs alone, run by an RQ ``SimpleWorker`` in this process (no ticker), CPU of
  this thread per job (``time.thread_time``): ``--jobs`` drain jobs of one ``form.submitted`` each (ingested, then
  drained one at a time), then the run jobs they queued, then the delivery jobs those queued (to a local receiver
  in another thread), then as many ``nothing`` jobs; ``--cprofile PREFIX`` writes a profile of each stage.

To compare two commits, run each from its own tree (``cd TREE && python -m bench.job_profile``), alternating.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

from rq import Queue
from rq.registry import FailedJobRegistry, FinishedJobRegistry

from . import data
from .drain_profile import process_cpu_s, published_app
from .env import VENV_BIN, bench_world, wait_until

#: The stages of ``--kind stages``, each one job of that kind per firing.
STAGES = ("drain", "run", "delivery", "drain, no workflow", "nothing", "workspace")
KINDS = {"score": "bench.jobs.score_one", "nothing": "bench.jobs.nothing",
         "workspace": "bench.jobs.nothing_in_workspace"}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.job_profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kind", choices=[*sorted(KINDS), "flow", "stages"], default="score")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rate", type=int, default=200, help="flow: interactions a second")
    parser.add_argument("--seconds", type=int, default=20, help="flow: for this long")
    parser.add_argument("--workers", type=int, default=1, help="flow: worker processes")
    parser.add_argument("--cprofile", help="stages: write PREFIX.<stage>.prof")
    parser.add_argument("--wall", action="store_true",
                        help="flow: py-spy samples every thread, idle or not (where the time goes, not the CPU)")
    parser.add_argument("--commands", action="store_true", help="print Redis's INFO commandstats per job")
    parser.add_argument("--py-spy", dest="py_spy", help="record the worker with py-spy (raw, collapsed stacks) here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with bench_world() as bench:
        app = published_app(bench)
        services = app.extensions["scorekeeper"]
        items = list(data.interactions(max(1, args.jobs // 10), args.jobs, seed=9, run="j"))
        with app.app_context():
            contact_ids = services.contacts.resolve_contacts(items)
        env = bench.app_env(LOG_LEVEL="WARNING", WORKFLOWS_DIR="", API_KEYS="k",
                            ARCHIVE_URL=f"sqlite:///{bench.workdir}/archive.sqlite3")
        if args.kind == "flow":
            return flow(args, bench, app, env)
        if args.kind == "stages":
            return stages(args, bench, app)
        worker = bench.start_worker("worker", env)
        queue: Queue = services.queue
        from rq import Worker
        wait_until(lambda: len(Worker.all(queue=queue)) >= 1, timeout=120, what="the worker")
        time.sleep(1.0)  # its start-up work (backfills, the first tick) done
        finished, failed = FinishedJobRegistry(queue=queue), FailedJobRegistry(queue=queue)
        spy = None
        if args.py_spy:
            spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "--format", "raw", "--rate", "250", "--gil",
                                    "--nonblocking", "-o", args.py_spy, "--pid", str(worker.pid)],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        bench.redis.config_resetstat()
        redis_pid = bench.processes[0].pid
        cpu, redis_cpu, wall = process_cpu_s(worker.pid), process_cpu_s(redis_pid), time.perf_counter()
        function = KINDS[args.kind]
        for chunk in data.chunks(iter(zip(contact_ids, items)), 500):
            job_args = [((cid, item.to_record().to_json()) if args.kind == "score" else ()) for cid, item in chunk]
            queue.enqueue_many([Queue.prepare_data(function, a, result_ttl=600) for a in job_args])
        while finished.count + failed.count < args.jobs:
            time.sleep(0.02)
        wall = time.perf_counter() - wall
        cpu, redis_cpu = process_cpu_s(worker.pid) - cpu, process_cpu_s(redis_pid) - redis_cpu
        stats = bench.redis.info("commandstats")
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C, not on SIGTERM
            spy.wait(timeout=30)
        n = args.jobs
        print(f"{args.kind}: {n:,} jobs ({failed.count} failed) in {wall:.2f} s ({n / wall:,.0f}/s wall); load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; tree {Path.cwd()}")
        print(f"worker CPU {cpu:.2f} s: {cpu / n * 1000:.2f} ms per job; redis-server CPU {redis_cpu:.2f} s: "
              f"{redis_cpu / n * 1000:.2f} ms per job")
        if args.commands:
            calls = sum(s["calls"] for s in stats.values())
            print(f"commands per job {calls / n:.1f}")
            for name, stat in sorted(stats.items(), key=lambda kv: -kv[1]["calls"])[:25]:
                print(f"  {name:28} per job {stat['calls'] / n:6.2f}  usec/job {stat['usec'] / n:8.1f}")


def flow(args: argparse.Namespace, bench, app, env: dict[str, str]) -> None:
    import threading

    from rq import Worker

    from app.ingest import ingest
    from app.scoring.interactions import Interaction

    from .tools import Receiver, percentiles

    services = app.extensions["scorekeeper"]
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    with app.app_context():
        bench_workflow(services, receiver)
    env = {**env, "SCOREKEEPER_OUTBOUND_ALLOW": "127.0.0.0/8"}
    workers = [bench.start_worker(f"worker-{i}", env) for i in range(args.workers)]
    wait_until(lambda: len(Worker.all(queue=services.queue)) >= args.workers, timeout=120, what="the workers")
    time.sleep(1.0)
    spy = None
    if args.py_spy:
        how = ["--idle", "--threads"] if args.wall else ["--gil"]
        spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "--format", "raw", "--rate", "100", *how,
                                "--nonblocking", "-o", args.py_spy, "--pid", str(workers[0].pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
    bench.redis.config_resetstat()
    redis_pid = bench.processes[0].pid
    cpu = [process_cpu_s(w.pid) for w in workers]
    redis_cpu, started = process_cpu_s(redis_pid), time.perf_counter()
    total = args.rate * args.seconds
    sent: dict[str, float] = {}
    with app.app_context():
        for n in range(total):
            due = started + n / args.rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            ident = f"F{n}"
            email = f"{ident.lower()}@bench.example"
            ingest(services, [Interaction(ident, "api", "form.submitted" if n % 10 == 0 else "email.clicked",
                                          int(time.time() * 1000), {"message_id": ident}, email=email)])
            if n % 10 == 0:
                sent[services.contacts.new_contact_id("email", email)] = time.time()
        behind = time.perf_counter() - started - args.seconds
        deadline = time.time() + 30
        while time.time() < deadline and (len(receiver.arrivals) < len(sent) or sum(
                services.partitions.partition_depths()) or services.jobs.depth()):
            time.sleep(0.05)
    cpu = sum(process_cpu_s(w.pid) - c for w, c in zip(workers, cpu))
    redis_cpu = process_cpu_s(redis_pid) - redis_cpu
    stats = bench.redis.info("commandstats")
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)
    jobs = sum(w.successful_job_count + w.failed_job_count for w in Worker.all(queue=services.queue))
    hooks = len([c for c in sent if c in receiver.arrivals])
    with app.app_context():
        batches = int(services.stats.all().get("batches", 0))
    latency = percentiles([(receiver.arrivals[c] - at) * 1000 for c, at in sent.items() if c in receiver.arrivals])
    receiver.shutdown()
    with app.app_context():
        stages, delivery_jobs = flow_stages(services, sent, receiver.arrivals)
    drains = jobs - hooks - delivery_jobs
    print(f"flow: {total:,} interactions at {args.rate}/s ({behind:.1f} s behind at the end), {args.workers} "
          f"worker(s); load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; tree {Path.cwd()}")
    print(f"jobs {jobs:,}: ~{drains:,} drains ({batches:,} batches scored), {hooks:,} runs, {delivery_jobs:,} deliveries ({jobs / total:.2f} per "
          f"interaction)")
    print(f"worker CPU {cpu:.2f} s: {cpu / total * 1000:.2f} ms per interaction, {cpu / max(jobs, 1) * 1000:.2f} ms "
          f"per job; redis-server CPU {redis_cpu:.2f} s: {redis_cpu / total * 1000:.2f} ms per interaction")
    print(f"webhook ingest -> received p50 {latency.get('p50', 0):.1f} p95 {latency.get('p95', 0):.1f} "
          f"p99 {latency.get('p99', 0):.1f} ms ({hooks} of {len(sent)})")
    for name, values in stages.items():
        p = percentiles(values)
        print(f"  {name:34} p50 {p.get('p50', 0):7.1f}  p95 {p.get('p95', 0):7.1f}  p99 {p.get('p99', 0):7.1f} ms")
    if args.commands:
        calls = sum(s["calls"] for s in stats.values())
        print(f"commands per interaction {calls / total:.1f}")
        for name, stat in sorted(stats.items(), key=lambda kv: -kv[1]["calls"])[:25]:
            print(f"  {name:28} per interaction {stat['calls'] / total:6.2f}  usec {stat['usec'] / total:8.1f}")


def bench_workflow(services, receiver) -> None:
    """Row 3's workflow: on form.submitted, a webhook step posting to ``receiver``."""
    from app.automation.config import load_workflow
    from app.automation.workflows import save_workflow

    from .context import WEBHOOK_SECRET

    workflow = load_workflow({"id": "bench", "name": "bench",
                              "trigger": {"type": "interaction", "on": "form.submitted", "reentry": True},
                              "steps": [{"type": "webhook", "url": f"http://127.0.0.1:{receiver.server_address[1]}/hook",
                                         "secret": WEBHOOK_SECRET}]})
    save_workflow(services, dict(workflow.config), "api", "bench")


def stages(args: argparse.Namespace, bench, app) -> None:
    import cProfile
    import threading

    from app.ingest import ingest
    from app.scoring.interactions import Interaction
    from redis.connection import AbstractConnection

    from app.storage.connection import queue_connection

    from .tools import Receiver

    app.config["OUTBOUND_ALLOW"] = "127.0.0.0/8"
    services = app.extensions["scorekeeper"]
    services.settings["OUTBOUND_ALLOW"] = "127.0.0.0/8"
    receiver = Receiver()
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    n = args.jobs
    with app.app_context():
        bench_workflow(services, receiver)
        try:
            from workers.main import worker_class_for  # the worker process's own class
            worker_class = worker_class_for("simple")
        except ImportError:  # a tree from before worker_class_for
            from rq import SimpleWorker
            worker_class = SimpleWorker
        queues = getattr(services.jobs, "queues", [services.queue])  # the workflow queue first, where there is one
        worker = worker_class(queues, connection=queue_connection(app.config["REDIS_URL"]))

        profiles = {name: cProfile.Profile() for name in STAGES} if args.cprofile else {}
        spent = {name: [0, 0.0, 0.0] for name in STAGES}
        redis_pid = bench.processes[0].pid

        trips = {name: 0 for name in STAGES}
        sent = AbstractConnection.send_packed_command
        current = [""]

        def counted(connection, command, check_health=True):  # every round trip of this thread
            if threading.current_thread() is threading.main_thread():
                trips[current[0]] = trips.get(current[0], 0) + 1
            return sent(connection, command, check_health)

        AbstractConnection.send_packed_command = counted  # type: ignore[method-assign]

        def one_job(stage: str) -> None:
            if not sum(queue.count for queue in queues):
                return
            current[0] = stage
            cpu, redis_cpu = time.thread_time(), process_cpu_s(redis_pid)
            if profiles:
                profiles[stage].enable()
            worker.check_for_suspension(True)  # one turn of RQ's work loop (Worker.work), as the worker does it
            job, queue = worker.dequeue_job_and_maintain_ttl(None)
            worker.execute_job(job, queue)
            worker.heartbeat()
            if profiles:
                profiles[stage].disable()
            spent[stage][0] += 1
            spent[stage][1] += time.thread_time() - cpu
            spent[stage][2] += process_cpu_s(redis_pid) - redis_cpu
            current[0] = ""

        worker.bootstrap("WARNING")
        for i in range(n):
            ingest(services, [Interaction(f"S{i}", "api", "form.submitted", int(time.time() * 1000),
                                          {"message_id": f"S{i}"}, email=f"s{i}@bench.example")])
            for stage in ("drain", "run", "delivery"):
                one_job(stage)
            ingest(services, [Interaction(f"C{i}", "api", "email.clicked", int(time.time() * 1000),
                                          {"message_id": f"C{i}"}, email=f"c{i}@bench.example")])
            one_job("drain, no workflow")
            services.queue.enqueue(KINDS["nothing"], result_ttl=0)
            one_job("nothing")
            services.queue.enqueue(KINDS["workspace"], result_ttl=0)
            one_job("workspace")
        worker.teardown()
        AbstractConnection.send_packed_command = sent  # type: ignore[method-assign]
        for name, profile in profiles.items():
            profile.dump_stats(f"{args.cprofile}.{name.split(',')[0]}.prof")
    receiver.shutdown()
    print(f"stages: {n:,} firings, {len(receiver.arrivals):,} webhooks received; load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; tree {Path.cwd()}")
    for stage, (count, cpu, redis_cpu) in spent.items():  # type: ignore[misc]
        print(f"  {stage:20} {count:6,} jobs  CPU {cpu / max(count, 1) * 1000:6.2f} ms per job  redis-server "
              f"{redis_cpu / max(count, 1) * 1000:5.2f} ms per job  round trips {trips[stage] / max(count, 1):5.1f}")


def flow_stages(services, sent: dict[str, float], arrivals: dict[str, float]) -> tuple[dict[str, list[float]], int]:
    """Where each firing's time went, from the RQ records of its run and delivery jobs (ms): ingest → run
    created (the drain), its job waiting and running, the delivery job waiting and running, → received."""
    from rq.job import Job

    from app.automation.deliveries import delivery_id_for

    stages: dict[str, list[float]] = {}
    delivery_jobs = 0
    runs = services.automation.workflow_runs("bench", 0, len(sent) + 10)
    for run in runs:
        at = sent.get(run["contact_id"])
        arrived = arrivals.get(run["contact_id"])
        if at is None or arrived is None:
            continue
        start, deliver = Job.fetch_many([f"{run['id']}-start", f"{delivery_id_for(run['id'], 0)}-0-1"],
                                        connection=services.queue.connection)
        delivery_jobs += deliver is not None
        if start is None or start.started_at is None or start.ended_at is None:
            continue
        marks = [("ingest -> run created (drain)", at, run["created_at"] / 1000),
                 ("run job waiting", start.enqueued_at.timestamp(), start.started_at.timestamp())]
        if deliver is None:  # the first attempt made by the run job
            marks += [("run job start -> received", start.started_at.timestamp(), arrived)]
        elif deliver.started_at is not None:
            marks += [("run job running", start.started_at.timestamp(), start.ended_at.timestamp()),
                      ("delivery job waiting", deliver.enqueued_at.timestamp(), deliver.started_at.timestamp()),
                      ("delivery job start -> received", deliver.started_at.timestamp(), arrived)]
        marks += [("ingest -> received", at, arrived)]
        for name, begin, end in marks:
            stages.setdefault(name, []).append((end - begin) * 1000)
    return stages, delivery_jobs


if __name__ == "__main__":
    main()
