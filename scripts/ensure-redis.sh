#!/usr/bin/env bash
# Make sure a Redis answers at $REDIS_URL (default redis://localhost:6379/0); any reply counts (a Redis that
# wants a password answers -NOAUTH). When none answers on this machine, starts a local redis-server with AOF
# under ./var/redis-PORT/ (pid in redis.pid there) and prints "started PIDFILE" on stdout, so a caller can stop what it
# started. The redis-server package is installed first when it is missing (ensure-packages.sh: as root through
# apt-get, otherwise a one-line message naming the package).
set -euo pipefail
url="${REDIS_URL:-redis://localhost:6379/0}"
hostport="${url#*://}"; hostport="${hostport##*@}"; hostport="${hostport%%/*}"
host="${hostport%%:*}"; port="${hostport##*:}"
[ "$host" = "$hostport" ] && port=6379
[ -n "$port" ] || port=6379
[ -n "$host" ] || host=localhost

ping() {
  (exec 3<>"/dev/tcp/$host/$port" && printf 'PING\r\n' >&3 && timeout 2 head -c 1 <&3 | grep -q '[+-]') 2>/dev/null
}

ping && exit 0

case "$host" in
  localhost|127.*|::1) ;;
  *) echo "No Redis answers at $host:$port (REDIS_URL): start it, or unset REDIS_URL for a local one." >&2; exit 1 ;;
esac

"$(dirname "$0")/ensure-packages.sh" --for "Redis at $host:$port" redis-server

dir="$PWD/var/redis-$port"
mkdir -p "$dir"
pidfile="$dir/redis.pid"
echo "No Redis at $host:$port: starting redis-server there with AOF under ./var/redis-$port/" >&2
redis-server --daemonize yes --bind "$host" --port "$port" --dir "$dir" --pidfile "$pidfile" \
  --appendonly yes --appendfsync everysec --save "" --logfile "$dir/redis.log"
for _ in $(seq 1 100); do
  if ping; then echo "started $pidfile"; exit 0; fi
  sleep 0.1
done
echo "redis-server did not answer on $host:$port; see var/redis-$port/redis.log" >&2
exit 1
