#!/usr/bin/env bash
# Quickstart: install the dependencies, build ringmux, start a throwaway
# MariaDB and ringmux in front of it, and print the line to connect through
# the proxy.  Everything stops on Ctrl-C (the MariaDB data lives in a temp dir).
#
#   scripts/quickstart.sh            # build, start, wait for Ctrl-C
#   RINGMUX_SKIP_INSTALL=1 scripts/quickstart.sh   # don't apt-get install
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { echo "==> $*" >&2; }

DEPS=(build-essential cmake pkg-config liburing-dev libwolfssl-dev libmariadb-dev
      libinih-dev mariadb-server mariadb-client)
if [[ ${RINGMUX_SKIP_INSTALL:-0} != 1 ]] && command -v apt-get >/dev/null && [[ $(id -u) -eq 0 ]]; then
    log "installing dependencies"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # Keep the mariadb-server package from starting the system service.
    POLICY=/usr/sbin/policy-rc.d
    created=0
    if [[ ! -e $POLICY ]]; then printf '#!/bin/sh\nexit 101\n' >"$POLICY"; chmod +x "$POLICY"; created=1; fi
    apt-get install -y -qq --no-install-recommends "${DEPS[@]}" >/dev/null || { [[ $created == 1 ]] && rm -f "$POLICY"; exit 1; }
    [[ $created == 1 ]] && rm -f "$POLICY"
fi

log "building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGMUX_TESTS=OFF >/dev/null
cmake --build build -j"$(nproc)" >/dev/null

WORK=$(mktemp -d /tmp/ringmux-quickstart.XXXXXX)
PROXY_PID=
cleanup() {
    [[ -n $PROXY_PID ]] && kill "$PROXY_PID" 2>/dev/null && wait "$PROXY_PID" 2>/dev/null || true
    scripts/sandbox-mariadb.sh stop "$WORK/mariadb" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

log "starting a throwaway MariaDB in $WORK/mariadb"
scripts/sandbox-mariadb.sh start "$WORK/mariadb" >/dev/null
# shellcheck disable=SC1091
. "$WORK/mariadb/env"

# A free loopback port for the proxy and one for its metrics endpoint.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
PORT=$(free_port)
ADMIN=$(free_port)
cat >"$WORK/ringmux.ini" <<INI
[ringmux]
listen = 127.0.0.1:$PORT
admin_listen = 127.0.0.1:$ADMIN
[backend]
address = 127.0.0.1:$RINGMUX_TEST_MYSQL_PORT
[pool]
max_backend_connections = 8
[users]
rmtest = rmtest-pw
INI
build/ringmux --check -c "$WORK/ringmux.ini" >/dev/null
build/ringmux -c "$WORK/ringmux.ini" 2>"$WORK/ringmux.log" &
PROXY_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done

cat <<MSG

ringmux is running in front of MariaDB 127.0.0.1:$RINGMUX_TEST_MYSQL_PORT.
Connect through the proxy:

    mariadb -h127.0.0.1 -P$PORT -urmtest -prmtest-pw rmtest

Metrics: curl -s http://127.0.0.1:$ADMIN/metrics
Config:  $WORK/ringmux.ini     Log: $WORK/ringmux.log
Press Ctrl-C to stop both.
MSG
wait "$PROXY_PID"
