#!/usr/bin/env bash
# Run a command with a throwaway PostgreSQL cluster on loopback (Debian's postgresql package),
# exported as COMPLAINTS_TEST_POSTGRES_URL; the cluster is removed when the command ends.
set -euo pipefail

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
if [ -z "$bindir" ]; then
  echo "PostgreSQL is not installed (make test installs Debian's postgresql)" >&2
  exit 1
fi
dir=$(mktemp -d /tmp/complaints-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
run_as=()
if [ "$(id -u)" = 0 ]; then
  # PostgreSQL refuses to run as root: use the postgres account the package created.
  chown postgres: "$dir"
  run_as=(runuser -u postgres --)
fi
cleanup() {
  "${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${run_as[@]}" "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
"${run_as[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
"${run_as[@]}" "$bindir/createdb" -h 127.0.0.1 -p "$port" -U postgres complaints_test
export COMPLAINTS_TEST_POSTGRES_URL="postgresql+asyncpg://postgres@127.0.0.1:$port/complaints_test"
echo "PostgreSQL test cluster on 127.0.0.1:$port"
"$@"
