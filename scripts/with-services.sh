#!/usr/bin/env bash
# Runs a command with Redis and PostgreSQL available: REDIS_URL and
# DATABASE_URL as given, or else a throwaway redis-server and a throwaway
# PostgreSQL cluster (initdb) on free loopback ports, stopped afterwards.
# Usage: scripts/with-services.sh COMMAND [ARG...]
set -euo pipefail

tmp=$(mktemp -d "${TMPDIR:-/tmp}/callback-dispatcher.XXXXXX")
pids=()
pgdata=""
pg_ctl_bin=""
cleanup() {
  if [[ -n "$pgdata" ]]; then
    as_postgres "$pg_ctl_bin" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.1
  done
}

if [[ -z "${REDIS_URL:-}" ]]; then
  command -v redis-server >/dev/null || {
    echo "with-services: redis-server is not installed and REDIS_URL is not set" >&2
    echo "with-services: install it (apt-get install redis-server) or set REDIS_URL" >&2
    exit 1
  }
  port=$(free_port)
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
    --databases 1024 --dir "$tmp" --logfile "$tmp/redis.log" &
  pids+=($!)
  if ! wait_for 10 redis-cli -p "$port" ping; then
    echo "with-services: redis-server did not start; its log:" >&2
    cat "$tmp/redis.log" >&2
    exit 1
  fi
  export REDIS_URL="redis://127.0.0.1:$port/0"
  echo "with-services: throwaway redis-server on 127.0.0.1:$port" >&2
fi

# initdb refuses to run as root: run PostgreSQL as the postgres user then.
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_bin() { # pg_bin NAME: the PostgreSQL program NAME, from PATH or Debian's directory
  if command -v "$1" >/dev/null; then command -v "$1"; return; fi
  ls -d /usr/lib/postgresql/*/bin/"$1" 2>/dev/null | sort -V | tail -n 1
}

if [[ -z "${DATABASE_URL:-}" ]]; then
  initdb_bin=$(pg_bin initdb)
  pg_ctl_bin=$(pg_bin pg_ctl)
  if [[ -z "$initdb_bin" || -z "$pg_ctl_bin" ]]; then
    echo "with-services: PostgreSQL is not installed and DATABASE_URL is not set" >&2
    echo "with-services: install it (apt-get install postgresql) or set DATABASE_URL" >&2
    exit 1
  fi
  port=$(free_port)
  pgdata="$tmp/pgdata"
  mkdir -p "$pgdata" "$tmp/pgsock"
  if [[ $(id -u) -eq 0 ]]; then chown postgres "$tmp" "$pgdata" "$tmp/pgsock"; chmod 755 "$tmp"; fi
  as_postgres "$initdb_bin" -D "$pgdata" -U postgres -A trust --no-sync >"$tmp/initdb.log" 2>&1 || {
    echo "with-services: initdb failed; its log:" >&2; cat "$tmp/initdb.log" >&2; exit 1; }
  if ! as_postgres "$pg_ctl_bin" -D "$pgdata" -l "$tmp/pgsock/postgres.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $tmp/pgsock -c fsync=off -c max_connections=300" \
    start >/dev/null; then
    echo "with-services: PostgreSQL did not start; its log:" >&2
    cat "$tmp/pgsock/postgres.log" >&2
    pgdata=""
    exit 1
  fi
  export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  echo "with-services: throwaway PostgreSQL on 127.0.0.1:$port" >&2
fi

"$@"
