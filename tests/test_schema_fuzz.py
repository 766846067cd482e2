"""The API matches /openapi.json: schemathesis with every check, positive and negative data, against a
live server (the app served by werkzeug on a free port, on the test Redis database).

Every phase runs (coverage, fuzzing, stateful), bounded by ``EXAMPLES`` cases per operation and phase
and a fixed seed, so a run takes one to three minutes on two busy cores and fails the same way twice.
``positive_data_acceptance`` runs as tests/schemathesis_checks.py's wrapper, which also accepts the
400s of the few rules JSON Schema cannot state (listed there with the reason); every other check is
the built-in one. Set ``SCHEMATHESIS_SEED`` to try other data.
"""
from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from .helpers import API_KEY

ROOT = Path(__file__).resolve().parent.parent
#: Generated cases per operation and phase.
EXAMPLES = 6
SEED = os.environ.get("SCHEMATHESIS_SEED", "1")
#: The run's wall-clock limit, in seconds (it ends well before on an idle machine).
TIMEOUT_SECONDS = 600


@pytest.mark.timeout(TIMEOUT_SECONDS + 60)  # the suite's 120 s is too short on two loaded cores
def test_every_operation_matches_its_documented_schema_against_a_live_server(app, tmp_path):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_port}"
    command = [str(Path(sys.executable).parent / "st"), "run", f"{base}/openapi.json",
               "--checks", "all", "--exclude-checks", "positive_data_acceptance", "--mode", "all",
               "--max-examples", str(EXAMPLES), "--seed", SEED, "--workers", "1",
               "--generation-database", "none", "--no-color", "--request-timeout", "30",
               "--header", f"Authorization: Bearer {API_KEY}"]
    try:
        # run in a scratch directory (schemathesis keeps a cache where it runs); the hooks import from ROOT
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.schemathesis_checks",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                                env=env)
    finally:
        server.shutdown()
        thread.join(timeout=10)
    summary = result.stdout[result.stdout.rfind("SUMMARY"):]
    assert result.returncode == 0, result.stdout[-12000:]
    assert "Stateful" in summary and "passed" in summary, summary
