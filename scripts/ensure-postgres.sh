#!/usr/bin/env bash
# Make sure a PostgreSQL answers on 127.0.0.1:$PGPORT (default 5432) with trust auth for the user postgres: the
# archive tests create (and drop) a database of their own there. On this project's machines one is running
# already. When none answers, installs Debian's postgresql package (ensure-packages.sh) and starts a private
# cluster (initdb --auth=trust, as the postgres user when run as root) under ${TMPDIR:-/tmp}/scorekeeper-postgres-PORT,
# printing "started DATADIR" on stdout so a caller can stop it (pg_ctl -D DATADIR stop).
set -euo pipefail
host=127.0.0.1
port="${PGPORT:-5432}"

ready() { (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; }
ready && exit 0

"$(dirname "$0")/ensure-packages.sh" --for "PostgreSQL at $host:$port" pg_ctlcluster=postgresql
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
dir="${TMPDIR:-/tmp}/scorekeeper-postgres-$port"
as_postgres=()
if [ "$(id -u)" = "0" ]; then as_postgres=(runuser -u postgres --); fi
mkdir -p "$dir"
[ "$(id -u)" = "0" ] && chown postgres "$dir" && chmod 700 "$dir"
if [ ! -s "$dir/PG_VERSION" ]; then
  "${as_postgres[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust >"$dir.initdb.log" 2>&1 \
    || { echo "initdb failed; see $dir.initdb.log" >&2; exit 1; }
fi
echo "No PostgreSQL at $host:$port: starting a private cluster in $dir" >&2
"${as_postgres[@]}" "$bin/pg_ctl" -D "$dir" -l "$dir/postgres.log" -w -t 30 \
  -o "-c listen_addresses=$host -p $port -k $dir" start >/dev/null
ready || { echo "PostgreSQL did not answer on $host:$port; see $dir/postgres.log" >&2; exit 1; }
echo "started $dir"
