"""`make test` and `make run` bring what they need on a fresh machine: the Debian packages of the programs
that are missing (as root through apt-get, otherwise one line naming the packages).

The machine's own packages are never touched: each test runs the real Makefile and scripts with a PATH that
hides the programs, and an ``apt-get`` (and, for a user, an ``id``) of its own that records what it was asked.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HIDDEN = {"chromium", "wrk", "redis-server", "apt-get", "pg_ctlcluster"}

FAKE_APT = """#!/bin/sh
echo "$*" >> "{log}"
if [ "$1" = "install" ]; then
  for arg in "$@"; do
    case "$arg" in -*|install) ;; *) printf '#!/bin/sh\\nexit 0\\n' > "{bin}/$arg"; chmod +x "{bin}/$arg" ;; esac
  done
fi
"""


@pytest.fixture
def machine(tmp_path):
    """A PATH with every system program but chromium, wrk, redis-server and apt-get; a recording apt-get."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in ("/usr/local/bin", "/usr/bin", "/bin"):
        for program in Path(folder).iterdir():
            if program.name not in HIDDEN and not (bin_dir / program.name).exists():
                (bin_dir / program.name).symlink_to(program)
    log = tmp_path / "apt-get.log"
    apt = bin_dir / "apt-get"
    apt.write_text(FAKE_APT.format(log=log, bin=bin_dir))
    apt.chmod(0o755)

    class Machine:
        path = bin_dir

        def run(self, *args: str, **env: str) -> subprocess.CompletedProcess:
            return subprocess.run(list(args), cwd=ROOT, capture_output=True, text=True, timeout=60,
                                  env={"PATH": str(bin_dir), "HOME": str(tmp_path), **env})

        def as_user(self) -> None:
            (bin_dir / "id").unlink()
            (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")
            (bin_dir / "id").chmod(0o755)

        def apt_calls(self) -> list[str]:
            return log.read_text().splitlines() if log.exists() else []

    return Machine()


@pytest.fixture
def unused_port():
    from .redis_server import free_port

    return free_port()


def test_make_test_installs_the_missing_packages_as_root(machine):
    result = machine.run("make", "test-packages")
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls()[0] == "update -qq"
    assert machine.apt_calls()[1].split()[-3:] == ["chromium", "wrk", "redis-server"]
    assert "make test needs chromium wrk redis-server" in result.stderr


def test_make_test_names_the_packages_in_one_line_when_not_root(machine):
    machine.as_user()
    result = machine.run("make", "test-packages")
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("make:")]
    assert lines == ["make test needs the package(s) chromium wrk redis-server: install them "
                     "(as root: apt-get install -y chromium wrk redis-server)"]
    assert machine.apt_calls() == []


def test_nothing_is_installed_when_everything_is_there(machine):
    for program in ("chromium", "wrk", "redis-server"):
        (machine.path / program).write_text("#!/bin/sh\n")
        (machine.path / program).chmod(0o755)
    result = machine.run("make", "test-packages")
    assert result.returncode == 0, result.stderr
    assert machine.apt_calls() == []


def test_dry_run_says_what_it_would_install(machine):
    result = machine.run("scripts/ensure-packages.sh", "--dry-run", "wrk", "chromium")
    assert result.returncode == 0
    assert result.stdout.strip() == "would run: apt-get install -y wrk chromium"
    assert machine.apt_calls() == []


def test_make_run_asks_for_redis_server_when_no_redis_answers(machine, unused_port):
    machine.as_user()
    result = machine.run("scripts/ensure-redis.sh", REDIS_URL=f"redis://127.0.0.1:{unused_port}/0")
    assert result.returncode != 0
    assert f"Redis at 127.0.0.1:{unused_port} needs the package(s) redis-server" in result.stderr


def test_make_test_asks_for_postgresql_when_none_answers(machine, unused_port):
    machine.as_user()
    result = machine.run("scripts/ensure-postgres.sh", PGPORT=str(unused_port))
    assert result.returncode != 0
    assert f"PostgreSQL at 127.0.0.1:{unused_port} needs the package(s) postgresql" in result.stderr


@pytest.mark.timeout(90)
def test_make_test_starts_a_private_postgresql_when_none_answers(unused_port):
    """As root on a machine with Debian's postgresql (this one): a trust-auth cluster of its own on the port."""
    import shutil

    import psycopg

    env = {**os.environ, "PGPORT": str(unused_port)}
    env.pop("TMPDIR", None)
    result = subprocess.run(["scripts/ensure-postgres.sh"], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env=env)
    data = Path(f"/tmp/scorekeeper-postgres-{unused_port}")
    try:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"started {data}"
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{unused_port}/postgres") as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        again = subprocess.run(["scripts/ensure-postgres.sh"], cwd=ROOT, capture_output=True, text=True,
                               timeout=60, env=env)
        assert again.returncode == 0 and again.stdout == ""  # one answers now: nothing more is started
    finally:
        pg_ctl = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1]
        subprocess.run(["runuser", "-u", "postgres", "--", str(pg_ctl), "-D", str(data), "stop", "-m", "fast"],
                       capture_output=True, timeout=60)
        shutil.rmtree(data, ignore_errors=True)
        Path(f"{data}.initdb.log").unlink(missing_ok=True)


def test_ci_runs_the_readme_test_command():
    script = [ln for ln in (ROOT / ".ci" / "run").read_text().splitlines() if ln and not ln.startswith("#")]
    assert script[-1] == "make test"
    assert "**`make test`**" in (ROOT / "README.md").read_text()


def test_the_vectors_live_in_the_repository():
    assert not any("/work/" in p.read_text() for p in (ROOT / "tests").glob("test_*.py")
                   if p.name != "test_setup_scripts.py")
    assert os.path.exists(ROOT / "tests" / "data" / "signature-vectors.json")


@pytest.mark.timeout(60)
def test_make_run_serves_with_plain_procfile_commands_and_stops_the_redis_it_started(unused_port):
    """The Procfile says ``gunicorn`` and ``scorekeeper`` (found on PATH through .venv/bin), and Ctrl-C stops
    the web, the worker and the redis-server that ``make run`` had to start."""
    import shutil
    import signal
    import time

    import redis
    import requests

    from .redis_server import free_port

    assert all(" .venv/" not in line for line in (ROOT / "Procfile").read_text().splitlines())
    web_port, redis_port = unused_port, free_port()
    env = {**os.environ, "PORT": str(web_port), "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
           "SCOREKEEPER_WORKFLOWS_DIR": "", "WEB_CONCURRENCY": "1"}
    env.pop("SCOREKEEPER_STORE_URL", None)
    process = subprocess.Popen(["make", "run", f"PORT={web_port}"], cwd=ROOT, env=env, start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 40
        health = None
        while health is None and time.monotonic() < deadline and process.poll() is None:
            try:
                health = requests.get(f"http://127.0.0.1:{web_port}/healthz", timeout=5)
            except (requests.ConnectionError, requests.Timeout):  # still booting
                time.sleep(0.1)
        assert health is not None and health.status_code == 200, process.stderr and process.poll()
        assert redis.Redis(port=redis_port).ping()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert "stopping the redis-server make run started" in stderr
    with pytest.raises(redis.ConnectionError):
        redis.Redis(port=redis_port, socket_connect_timeout=1).ping()
    shutil.rmtree(ROOT / "var" / f"redis-{redis_port}", ignore_errors=True)
