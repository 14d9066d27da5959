#!/usr/bin/env bash
# Run one driver's test program against MariaDB directly and through a real
# ringmux, as ctest's drivers.* tests do.
#
#   test/drivers/run.sh RINGMUX_BIN DRIVER
#
# DRIVER is one of: node-mariadb node-mysql2 java go pymysql.  The backend
# comes from scripts/sandbox-mariadb.sh's env (RINGMUX_TEST_MYSQL_HOST/PORT).
# This script starts ringmux on free ports with a config of its own, exports
#   RM_DIRECT_HOST RM_DIRECT_PORT   MariaDB itself
#   RM_PROXY_HOST  RM_PROXY_PORT    ringmux
#   RM_ADMIN_PORT                   ringmux's /metrics
#   RM_USER RM_PASSWORD RM_DB       rmtest / rmtest-pw / rmtest
#   RM_USER2 RM_PASSWORD2           rmtest2 / rmtest2-pw
# runs the program, then stops ringmux with SIGTERM and requires a clean exit
# (under ASan a leak or a crash at shutdown fails the test).  The program
# prints one "ok - NAME" or "not ok - NAME: why" line per check and ends with
# "N passed, N failed"; it exits non-zero when a check failed.  A program that
# ran no check fails too.
set -euo pipefail

BIN=${1:?usage: run.sh RINGMUX_BIN DRIVER}
DRIVER=${2:?usage: run.sh RINGMUX_BIN DRIVER}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${RINGMUX_TEST_MYSQL_PORT:?not set: run scripts/test.sh, or start scripts/sandbox-mariadb.sh and source its env}"
HOST=${RINGMUX_TEST_MYSQL_HOST:-127.0.0.1}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-drv.XXXXXX")
PID=
cleanup() {
    local rc=$?
    if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
        kill -KILL "$PID" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -f $WORK/ringmux.log ]]; then
        echo "----- ringmux.log (last 60 lines) -----" >&2
        tail -n 60 "$WORK/ringmux.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT

PORT=$(free_port)
ADMIN=$(free_port)
while [[ $ADMIN == "$PORT" ]]; do ADMIN=$(free_port); done
cat >"$WORK/ringmux.ini" <<INI
[ringmux]
listen = 127.0.0.1:$PORT
admin_listen = 127.0.0.1:$ADMIN
log_level = info
workers = 2
max_allowed_packet = 256M
[backend]
address = $HOST:$RINGMUX_TEST_MYSQL_PORT
[pool]
max_backend_connections = 4
connection_borrow_timeout = 5s
[users]
rmtest = rmtest-pw
rmtest2 = rmtest2-pw
INI

"$BIN" -c "$WORK/ringmux.ini" >"$WORK/ringmux.log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "run.sh: ringmux exited during start-up" >&2
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        break
    fi
    sleep 0.1
done

export RM_DIRECT_HOST=$HOST RM_DIRECT_PORT=$RINGMUX_TEST_MYSQL_PORT
export RM_PROXY_HOST=127.0.0.1 RM_PROXY_PORT=$PORT RM_ADMIN_PORT=$ADMIN
export RM_USER=rmtest RM_PASSWORD=rmtest-pw RM_DB=rmtest
export RM_USER2=rmtest2 RM_PASSWORD2=rmtest2-pw

OUT=$WORK/out.txt
rc=0
case $DRIVER in
node-mariadb | node-mysql2)
    NODE_PATH=${RINGMUX_NODE_MODULES:-$HERE/node/node_modules} \
        node "$HERE/node/${DRIVER#node-}.test.js" 2>&1 | tee "$OUT" || rc=$?
    ;;
java)
    CP=/usr/share/java/mariadb-java-client.jar
    mkdir -p "$WORK/classes"
    javac -d "$WORK/classes" -cp "$CP" "$HERE/java/DriverTest.java"
    java -cp "$WORK/classes:$CP" DriverTest 2>&1 | tee "$OUT" || rc=$?
    ;;
go)
    mkdir -p "$WORK/gopath/src/drivertest" "$WORK/gocache"
    cp "$HERE/go/main.go" "$WORK/gopath/src/drivertest/"
    (cd "$WORK/gopath/src/drivertest" &&
        GO111MODULE=off GOPATH="$WORK/gopath:/usr/share/gocode" GOCACHE="$WORK/gocache" GOFLAGS= \
            go build -o "$WORK/drivertest" .)
    "$WORK/drivertest" 2>&1 | tee "$OUT" || rc=$?
    ;;
pymysql)
    /usr/bin/python3 "$HERE/python/test_pymysql.py" 2>&1 | tee "$OUT" || rc=$?
    ;;
*)
    echo "run.sh: unknown driver '$DRIVER'" >&2
    exit 2
    ;;
esac
# pipefail: rc is the program's status (tee succeeds).

if ! grep -Eq '^[0-9]+ passed, [0-9]+ failed' "$OUT"; then
    echo "run.sh: $DRIVER printed no summary line: it ran no check" >&2
    rc=1
elif grep -Eq '^0 passed, 0 failed' "$OUT"; then
    echo "run.sh: $DRIVER ran no check" >&2
    rc=1
fi

if ! kill -0 "$PID" 2>/dev/null; then
    echo "run.sh: ringmux died during the test" >&2
    exit 1
fi
kill -TERM "$PID"
st=0
wait "$PID" || st=$?
PID=
if [[ $st -ne 0 ]]; then
    echo "run.sh: ringmux exited with status $st after SIGTERM" >&2
    exit 1
fi
exit "$rc"
