"""Measuring tools the rows share: the wrk runner and its parser, a local HTTP receiver for webhook
deliveries, and percentiles."""
from __future__ import annotations

import http.server
import re
import time
from pathlib import Path
from typing import Any

import orjson

from .context import Context


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
    out = ctx.bench.run(argv, timeout=seconds + 120)
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
