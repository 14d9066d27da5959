#!/usr/bin/env bash
# Client-visible write outage when the primary dies: through ringmux versus
# an application that reconnects to the new primary itself.
#
#   scripts/bench.sh failover        (or this script directly)
#
# For each of the two runs a fresh primary/replica pair is started
# (scripts/sandbox-replication.sh: GTID, semi-synchronous AFTER_SYNC), a
# table is created on the primary, and bench/failover runs
# BENCH_FO_CLIENTS clients (default 16) writing autocommit INSERTs in a loop
# for BENCH_FO_SECONDS (default 14).  After BENCH_FO_KILL_AT seconds
# (default 4) the load generator is marked (SIGUSR1), the primary is
# SIGKILLed and the replica promoted at once (what an orchestrator does).
#   ringmux:   every client on one connection to ringmux ([backend.a],
#              [backend.b], [monitor] interval = BENCH_FO_INTERVAL, default
#              500ms); a broken client connection would be counted
#   reconnect: every client connected to the primary directly; on a lost
#              connection it tries both servers in turn with exponential
#              backoff (100 ms doubling to 2 s) until one takes writes
# Outage per client: the longest time between two of its successful writes,
# the later one after the mark.  The median and the longest are reported, with errors and
# broken client connections, in a table printed and written to
# bench/results/failover.md.  Needs: the build tools and mariadb-server
# (scripts/test.sh or scripts/bench.sh install them).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
PROG=${0##*/}
log() { echo "==> $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

CLIENTS=${BENCH_FO_CLIENTS:-16}
SECONDS_RUN=${BENCH_FO_SECONDS:-14}
KILL_AT=${BENCH_FO_KILL_AT:-4}
INTERVAL=${BENCH_FO_INTERVAL:-500ms}
OUT=bench/results/failover.md
LOGDIR=bench/results/logs
mkdir -p "$LOGDIR"

log "building ringmux and bench/failover (Release, build-bench/)"
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DRINGMUX_TESTS=OFF >"$LOGDIR/failover-build.log" 2>&1 ||
    die "cmake failed (log: $LOGDIR/failover-build.log)"
cmake --build build-bench -j"$(nproc)" --target ringmux bench_failover >>"$LOGDIR/failover-build.log" 2>&1 ||
    die "build failed (log: $LOGDIR/failover-build.log)"
RINGMUX=$ROOT/build-bench/ringmux
TOOL=$ROOT/build-bench/bench/failover

WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-bench-failover.XXXXXX")
RM_PID=""
cleanup() {
    [[ -n $RM_PID ]] && kill "$RM_PID" 2>/dev/null && wait "$RM_PID" 2>/dev/null || true
    scripts/sandbox-replication.sh stop "$WORK/pair" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fresh_pair() {
    scripts/sandbox-replication.sh stop "$WORK/pair" >/dev/null 2>&1 || true
    read -r PORT_A PORT_B < <(scripts/sandbox-replication.sh start "$WORK/pair" 2>>"$LOGDIR/failover-pair.log")
    [[ -n ${PORT_B:-} ]] || die "replication pair did not start (log: $LOGDIR/failover-pair.log)"
    mariadb --no-defaults --protocol=socket --socket="$WORK/pair/a/mysql.sock" --user=root \
        -e "CREATE TABLE rmtest.failover_bench (id BIGINT PRIMARY KEY) ENGINE=InnoDB"
    sleep 0.5 # replicated to b
}

# run MODE PORT [ALT_PORT]: load, kill a and promote b at KILL_AT, results in $WORK/MODE.out
run() {
    local mode=$1 port=$2 alt=${3:-0} pid
    "$TOOL" --mode "$mode" --port "$port" --alt-port "$alt" --user rmapp --password rmapp-pw --db rmtest \
        --clients "$CLIENTS" --seconds "$SECONDS_RUN" >"$WORK/$mode.out" 2>"$LOGDIR/failover-$mode.log" &
    pid=$!
    sleep "$KILL_AT"
    kill -USR1 "$pid"
    scripts/sandbox-replication.sh kill a "$WORK/pair" >>"$LOGDIR/failover-pair.log" 2>&1
    scripts/sandbox-replication.sh promote b "$WORK/pair" >>"$LOGDIR/failover-pair.log" 2>&1
    kill -USR2 "$pid"
    wait "$pid" || die "bench/failover ($mode) failed (log: $LOGDIR/failover-$mode.log)"
}

val() { sed -n "s/^$2=//p" "$WORK/$1.out"; }

# --- through ringmux ---------------------------------------------------------
log "run 1: ringmux ($CLIENTS clients, monitor interval $INTERVAL)"
fresh_pair
RM_PORT=$(free_port)
ADMIN_PORT=$(free_port)
cat >"$WORK/ringmux.ini" <<EOF
[ringmux]
listen = 127.0.0.1:$RM_PORT
admin_listen = 127.0.0.1:$ADMIN_PORT
workers = 1
log_level = info
[backend.a]
address = 127.0.0.1:$PORT_A
[backend.b]
address = 127.0.0.1:$PORT_B
[pool]
max_backend_connections = 16
connection_borrow_timeout = 30s
[monitor]
interval = $INTERVAL
user = rmtest
[users]
rmtest = rmtest-pw
rmapp = rmapp-pw
EOF
"$RINGMUX" -c "$WORK/ringmux.ini" >"$LOGDIR/failover-ringmux.log" 2>&1 &
RM_PID=$!
for _ in $(seq 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$RM_PORT") 2>/dev/null && break
    sleep 0.1
done
run proxy "$RM_PORT"
WRITER_CHANGES=$(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics" | sed -n 's/^ringmux_writer_changes_total //p')
kill "$RM_PID"
wait "$RM_PID" 2>/dev/null || true
RM_PID=""

# --- an application reconnecting itself ----------------------------------------
log "run 2: clients reconnecting themselves ($CLIENTS clients)"
fresh_pair
run reconnect "$PORT_A" "$PORT_B"

P_MED=$(val proxy outage_median_s)
P_MAX=$(val proxy outage_max_s)
R_MED=$(val reconnect outage_median_s)
R_MAX=$(val reconnect outage_max_s)
SHORTER=$(awk -v p="$P_MAX" -v r="$R_MAX" 'BEGIN { if (r > 0) printf "%.0f%%", 100 * (1 - p / r); else print "-" }')
{
    echo "# Failover: client-visible write outage"
    echo
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $(mariadbd --version 2>/dev/null | awk '{print $3}'),"
    echo "ringmux $(git rev-parse --short HEAD 2>/dev/null || echo '?'); command: \`scripts/bench.sh failover\`"
    echo "(BENCH_FO_CLIENTS=$CLIENTS BENCH_FO_INTERVAL=$INTERVAL BENCH_FO_KILL_AT=$KILL_AT BENCH_FO_SECONDS=$SECONDS_RUN)."
    echo
    echo "| clients | outage median | outage max | kill + promotion | last client writing again after the promotion | errors | broken client connections | writes ok |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    echo "| through ringmux (monitor interval $INTERVAL) | $P_MED s | $P_MAX s | $(val proxy promotion_s) s | $(val proxy after_promotion_max_s) s | $(val proxy errors) | $(val proxy broken_connections) | $(val proxy writes_ok) |"
    echo "| reconnecting themselves (backoff 100 ms .. 2 s) | $R_MED s | $R_MAX s | $(val reconnect promotion_s) s | $(val reconnect after_promotion_max_s) s | $(val reconnect errors) | $(val reconnect broken_connections) | $(val reconnect writes_ok) |"
    echo
    echo "Longest outage through ringmux is $SHORTER shorter than the reconnecting clients'; writer changes seen by"
    echo "ringmux: ${WRITER_CHANGES:-?}.  Outage: the longest time a client went between two successful"
    echo "writes across the kill.  The primary is SIGKILLed, and the replica promoted as soon as the"
    echo "process is gone; \"writing again\" counts from the end of the promotion."
} | tee "$OUT"
