#!/usr/bin/env bash
# Make sure a Redis answers at $REDIS_URL (default redis://localhost:6379/0).
# Starts a local redis-server with AOF persistence under ./var/ when none answers;
# installs the Debian package first when ALLOW_APT=1 (CI) and the binary is missing.
set -euo pipefail
url="${REDIS_URL:-redis://localhost:6379/0}"
hostport="${url#*://}"; hostport="${hostport#*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$host" = "$hostport" ] && port=6379
[ -n "$port" ] || port=6379

ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    redis-cli -h "$host" -p "$port" ping 2>/dev/null | grep -q PONG
  else
    (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2>/dev/null
  fi
}

ping && exit 0

if ! command -v redis-server >/dev/null 2>&1; then
  if [ "${ALLOW_APT:-0}" = "1" ] && command -v apt-get >/dev/null 2>&1; then
    echo "redis-server not found: installing the Debian package" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server) >&2
  else
    echo "No Redis answers at $url and redis-server is not installed: install it (apt-get install redis-server, brew install redis) or set REDIS_URL." >&2
    exit 1
  fi
fi

mkdir -p var
echo "No Redis at $url: starting redis-server on $host:$port with AOF under ./var/" >&2
redis-server --daemonize yes --bind "$host" --port "$port" --dir "$PWD/var" \
  --appendonly yes --appendfsync everysec --save "" --logfile "$PWD/var/redis.log"
for _ in $(seq 1 50); do ping && exit 0; sleep 0.1; done
echo "redis-server did not answer on $host:$port; see var/redis.log" >&2
exit 1
