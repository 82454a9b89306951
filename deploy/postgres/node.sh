#!/usr/bin/env bash
# Runs a PostgreSQL server of its own in the foreground (postgres replaces this shell, so its
# pid is this script's), for tests that stop and restart the database under load: data in
# DIR (initialised on first use, trust authentication, loopback and a socket in DIR only).
#
#   bash deploy/postgres/node.sh DIR PORT
#
# As root it runs the server as the `postgres` user, as PostgreSQL requires.
source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

dir=$1 port=$2
bin="$(postgres_bin_dir)"
mkdir -p "$dir"
as_owner=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  as_owner=(setpriv --reuid=postgres --regid=postgres --init-groups --)
fi
if [ ! -f "$dir/PG_VERSION" ]; then
  "${as_owner[@]}" "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >&2
fi
# fsync=off: these servers are killed, never the machine; a killed server loses nothing the
# kernel was given.
exec "${as_owner[@]}" "$bin/postgres" -D "$dir" -p "$port" -k "$dir" \
  -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100
