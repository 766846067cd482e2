#!/usr/bin/env bash
# `make run`: the Procfile's processes (web and worker) under honcho, with .venv/bin first on PATH.
# A Redis this script had to start is stopped again when the processes stop (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

started="$(scripts/ensure-redis.sh)"
pidfile="${started#started }"

stop_redis() {
  if [ -n "$started" ] && [ -f "$pidfile" ]; then
    echo "stopping the redis-server make run started (pid $(cat "$pidfile"))" >&2
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$pidfile" ] || break; sleep 0.1; done
  fi
}
trap stop_redis EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

honcho start -f Procfile -p "${PORT:-8000}"
