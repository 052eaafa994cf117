#!/usr/bin/env bash
# Runs a command with Redis available: REDIS_URL as given, or else a
# throwaway redis-server on a free loopback port, stopped afterwards.
# Usage: scripts/with-services.sh COMMAND [ARG...]
set -euo pipefail

tmp=$(mktemp -d "${TMPDIR:-/tmp}/callback-dispatcher.XXXXXX")
pids=()
cleanup() {
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

"$@"
