#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests of the PostgreSQL event log, on 127.0.0.1.
#
#   scripts/postgres-server.sh start    initdb into a temp folder, start it on a free port, write the env file
#   scripts/postgres-server.sh stop     stop it, remove its data and the env file
#   scripts/postgres-server.sh status   say whether it runs
#
# The env file ($PG_ENV_FILE, default .postgres-server.env at the repo root)
# holds PG_URL, a superuser URL of the `postgres` database that
# tests/pg_fixtures.py reads to make one database per test. A cluster that
# cannot be made is left out with a warning, so its tests skip locally; with
# CI set, that is an error instead.
#
# PostgreSQL refuses to run as root: as root the cluster belongs to the
# `postgres` user Debian's package creates, and runs as that user. This script
# touches nothing but its state folder ($PG_STATE_DIR) and the env file, and
# `stop` stops only the cluster in that folder.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ENV_FILE=${PG_ENV_FILE:-$ROOT/.postgres-server.env}
STATE=${PG_STATE_DIR:-${TMPDIR:-/tmp}/shotfarm-pg-$(id -u)-$(printf %s "$ROOT" | cksum | cut -d' ' -f1)}
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || PY=$(command -v python3)

say() { echo "postgres-server: $*" >&2; }
in_ci() { [[ -n "${CI:-}" && "${CI,,}" != "false" && "${CI}" != "0" ]]; }
unavailable() {
    if in_ci; then say "CI is set and $1"; exit 1; fi
    say "$1; the PostgreSQL tests will skip"
    exit 0
}

# Debian keeps the server binaries off PATH, under /usr/lib/postgresql/VERSION/bin.
bindir() {
    local initdb
    initdb=$(command -v initdb || true)
    [[ -n "$initdb" ]] || initdb=$(ls /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [[ -n "$initdb" ]] && dirname "$(readlink -f "$initdb")"
}

as_owner() {
    if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    local bin port
    bin=$(bindir) || unavailable "PostgreSQL is not installed (apt-get install postgresql)"
    if [[ -s "$STATE/port" ]] && as_owner "$bin/pg_ctl" -D "$STATE/data" status >/dev/null 2>&1; then
        port=$(cat "$STATE/port")
        say "already running on 127.0.0.1:$port"
    else
        rm -rf "$STATE"
        mkdir -p "$STATE"
        [[ $(id -u) == 0 ]] && chown postgres: "$STATE"
        as_owner "$bin/initdb" -D "$STATE/data" -U shotfarm -A trust --no-sync -E UTF8 >"$STATE/initdb.log" 2>&1 \
            || unavailable "initdb failed (see $STATE/initdb.log)"
        port=$(free_port)
        as_owner "$bin/pg_ctl" -D "$STATE/data" -l "$STATE/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -k $STATE -c max_connections=200" start >/dev/null \
            || unavailable "the cluster did not start (see $STATE/server.log)"
        echo "$port" >"$STATE/port"
    fi
    printf 'PG_URL=postgresql://shotfarm@127.0.0.1:%s/postgres\nPG_BIN=%s\n' "$port" "$bin" >"$ENV_FILE"
    say "running on 127.0.0.1:$port ($ENV_FILE)"
}

stop() {
    local bin
    if [[ -d "$STATE/data" ]] && bin=$(bindir); then
        as_owner "$bin/pg_ctl" -D "$STATE/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$STATE" "$ENV_FILE"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if [[ -s "$STATE/port" ]]; then echo "running on 127.0.0.1:$(cat "$STATE/port")"; else echo "not running"; fi ;;
    *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
