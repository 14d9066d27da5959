#!/usr/bin/env bash
# ringmux benchmark driver: everything on one machine, in one go.
#
#   scripts/bench.sh [--quick] [--report] [--peer NAME=HOST:PORT ...]
#   scripts/bench.sh failover      write outage when the primary dies (see
#                                  scripts/bench-failover.sh)
#
# Steps:
#   1. as root with apt-get: install what is missing (sysbench, haproxy,
#      mariadb-server, mariadb-client, libmariadb-dev, curl and the build
#      dependencies); skip with BENCH_SKIP_INSTALL=1
#   2. build ringmux (Release, build-bench/) and the load generators
#      bench/churn.c and bench/idle.c
#   3. start a throwaway MariaDB (scripts/sandbox-mariadb.sh, temp dir) and
#      prepare small sysbench tables (4 x 10000 rows)
#   4. start ringmux (workers = BENCH_PROXY_THREADS, max_backend_connections
#      = 16, max_client_connections = 20000, admin HTTP endpoint for /metrics)
#      and HAProxy in TCP mode (nbthread = BENCH_PROXY_THREADS) as the
#      plain-forwarding reference (if installed)
#   5. run the scenarios against direct / ringmux / haproxy:
#        point_ps    sysbench oltp_point_select, server-side prepared stmts
#                    (--db-ps-mode=auto, sysbench's default)
#        point_text  sysbench oltp_point_select --db-ps-mode=disable
#        rw          sysbench oltp_read_write (--db-ps-mode=auto)
#        rw_text     sysbench oltp_read_write --db-ps-mode=disable
#        churn       bench/churn: connect + SELECT 1 + close in a loop
#        point_tls   point_ps over TLS (sysbench --mysql-ssl=on) at
#                    BENCH_TLS_THREADS: direct = TLS to MariaDB, ringmux =
#                    TLS to ringmux (its backend connections plaintext and
#                    already open), haproxy = TLS through to MariaDB
#        churn_tls   churn with every connection over TLS, a full handshake
#                    each (bench/churn --tls: wolfSSL in the client, so the
#                    client's own TLS cost stays small)
#        churn_tls_resume  the same, each connection resuming the previous
#                    one's TLS session (ticket)
#      TLS rows use an Ed25519 server certificate on both MariaDB and
#      ringmux (make-test-certs.sh server-ed25519.pem).
#        idle        bench/idle: 10000 idle clients through ringmux; the
#                    proxy's VmRSS before/while connected -> KiB per client
#      each sysbench scenario at 16, 64 and 512 client threads.
#   6. print markdown tables (throughput, p95 latency, ratio to direct measured
#      in the same run, backend connections opened and sessions pinned during
#      each ringmux run, CPU time per query or connection spent by MariaDB,
#      by the proxy and by everything else) and write them to bench/results/latest.md with the
#      date, machine, versions and command.  Per-run logs go to
#      bench/results/logs/.
#
# --quick: 5 s per scenario and thread counts 16 and 512 only.
# --report: also write bench/results/<date>.md and PNG plots (gnuplot) of
#   throughput and p95 latency against client threads for every target
#   (bench/results/<date>-<scenario>-qps.png / -p95.png).
# --peer NAME=HOST:PORT: one more target, a proxy you run yourself in front
#   of the benchmark's MariaDB (give it a fixed port with BENCH_DB_PORT;
#   user rmtest / rmtest-pw, database rmtest); repeatable.
# On a machine with 8 or more CPUs the database, the load generators and the
# proxies run on separate CPU sets (taskset), so the proxy's own cost shows:
#   proxies: the first BENCH_PROXY_THREADS CPUs (at least 2 are set aside),
#   MariaDB: the next half of the rest, load generators: the remainder.
#
# Environment:
#   BENCH_TIME=SEC           seconds per run (default 20, --quick 5)
#   BENCH_SCENARIOS=a,b,...  subset of: point_ps,point_text,rw,rw_text,churn,point_tls,churn_tls,
#                            churn_tls_resume,idle
#   BENCH_TLS_THREADS="64"   sysbench thread counts of point_tls (default 64)
#   BENCH_THREADS="16 64"    sysbench thread counts (default "16 64 512")
#   BENCH_TARGETS=a,b        subset of: direct,ringmux,haproxy
#   BENCH_MAX_BACKEND=N      ringmux max_backend_connections (default 16)
#   BENCH_PROXY_THREADS=N    ringmux workers and HAProxy nbthread (default 1:
#                            on a 2-core machine shared with MariaDB and the
#                            load generator, one proxy thread costs both
#                            proxies less CPU per query than two)
#   BENCH_CHURN_THREADS=N    churn client threads (default 16)
#   BENCH_IDLE_CLIENTS=N     idle clients (default 10000; capped by ulimit -n)
#   BENCH_IDLE_HOLD=SEC      how long the idle clients stay idle (default 10)
#   BENCH_SKIP_INSTALL=1     never run apt-get
#   BENCH_DB_PORT=N          the sandbox MariaDB's port (default: a free one)
#
# A scenario that fails shows "failed" (with the first error) in the table
# and the run goes on.  Every process started here is stopped on exit.
# The default run takes about 15-20 minutes; --quick about 5.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROG=${0##*/}
COMMAND_LINE="scripts/$PROG${*:+ $*}"
log() { echo "==> $*" >&2; }
warn() { echo "$PROG: warning: $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

# --- options -----------------------------------------------------------------
# `scripts/bench.sh failover`: the write outage when the primary dies
# (scripts/bench-failover.sh).
if [[ ${1:-} == failover ]]; then
    shift
    exec "$ROOT/scripts/bench-failover.sh" "$@"
fi
# in_list WORD LIST...: 0 if WORD is one of LIST.
in_list() {
    local w=$1 x
    shift
    for x in "$@"; do [[ $x == "$w" ]] && return 0; done
    return 1
}

QUICK=0
REPORT=0
PEERS=() # NAME=HOST:PORT
while [[ $# -gt 0 ]]; do
    case $1 in
    --quick) QUICK=1 ;;
    --report) REPORT=1 ;;
    --peer)
        [[ $# -ge 2 && $2 =~ ^[a-z][a-z0-9_]*=[^:]+:[0-9]+$ ]] ||
            die "--peer needs NAME=HOST:PORT (NAME: lower-case letters, digits, _), got '${2:-}'"
        PEERS+=("$2")
        shift
        ;;
    -h | --help)
        sed -n '2,82p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (try -h)" ;;
    esac
    shift
done

ALL_SCENARIOS=(point_ps point_text rw rw_text churn point_tls churn_tls churn_tls_resume idle)
ALL_TARGETS=(direct ringmux haproxy)
declare -A PEER_ADDR=()
for p in "${PEERS[@]}"; do
    name=${p%%=*}
    in_list "$name" "${ALL_TARGETS[@]}" 2>/dev/null && die "--peer: '$name' is already a target name"
    ALL_TARGETS+=("$name")
    PEER_ADDR[$name]=${p#*=}
done
if ((QUICK)); then
    BENCH_TIME=${BENCH_TIME:-5}
    BENCH_THREADS=${BENCH_THREADS:-16 512}
    BENCH_IDLE_HOLD=${BENCH_IDLE_HOLD:-5}
else
    BENCH_TIME=${BENCH_TIME:-20}
    BENCH_THREADS=${BENCH_THREADS:-16 64 512}
    BENCH_IDLE_HOLD=${BENCH_IDLE_HOLD:-10}
fi
BENCH_SCENARIOS=${BENCH_SCENARIOS:-$(IFS=,; echo "${ALL_SCENARIOS[*]}")}
BENCH_TARGETS=${BENCH_TARGETS:-$(IFS=,; echo "${ALL_TARGETS[*]}")}
BENCH_MAX_BACKEND=${BENCH_MAX_BACKEND:-16}
BENCH_PROXY_THREADS=${BENCH_PROXY_THREADS:-1}
BENCH_CHURN_THREADS=${BENCH_CHURN_THREADS:-16}
BENCH_IDLE_CLIENTS=${BENCH_IDLE_CLIENTS:-10000}
BENCH_THREADS=${BENCH_THREADS//,/ }
BENCH_TLS_THREADS=${BENCH_TLS_THREADS:-64}
BENCH_TLS_THREADS=${BENCH_TLS_THREADS//,/ }

[[ $BENCH_TIME =~ ^[0-9]+$ && $BENCH_TIME -ge 1 ]] || die "BENCH_TIME must be a whole number of seconds >= 1"
for v in BENCH_MAX_BACKEND BENCH_PROXY_THREADS BENCH_CHURN_THREADS BENCH_IDLE_CLIENTS BENCH_IDLE_HOLD; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -ge 1 ]] || die "$v must be a positive integer"
done
((BENCH_IDLE_HOLD >= 3)) || die "BENCH_IDLE_HOLD must be at least 3 (memory is sampled during the hold)"
for t in $BENCH_THREADS $BENCH_TLS_THREADS; do
    [[ $t =~ ^[0-9]+$ && $t -ge 1 ]] || die "BENCH_THREADS / BENCH_TLS_THREADS: bad thread count '$t'"
done


IFS=, read -r -a SCENARIOS <<<"$BENCH_SCENARIOS"
IFS=, read -r -a TARGETS <<<"$BENCH_TARGETS"
for s in "${SCENARIOS[@]}"; do
    in_list "$s" "${ALL_SCENARIOS[@]}" || die "BENCH_SCENARIOS: unknown scenario '$s' (known: ${ALL_SCENARIOS[*]})"
done
for t in "${TARGETS[@]}"; do
    in_list "$t" "${ALL_TARGETS[@]}" || die "BENCH_TARGETS: unknown target '$t' (known: ${ALL_TARGETS[*]})"
done
want_scenario() { in_list "$1" "${SCENARIOS[@]}"; }
want_target() { in_list "$1" "${TARGETS[@]}"; }

# --- 1. dependencies ---------------------------------------------------------
# Debian package -> a file that shows it is installed.
declare -A DEP_PROBE=(
    [sysbench]=/usr/bin/sysbench
    [haproxy]=/usr/sbin/haproxy
    [mariadb-server]=/usr/sbin/mariadbd
    [mariadb-client]=/usr/bin/mariadb
    [libmariadb-dev]=/usr/include/mariadb/mysql.h
    [curl]=/usr/bin/curl
    [cmake]=/usr/bin/cmake
    [gcc]=/usr/bin/gcc
    [pkg-config]=/usr/bin/pkg-config
    [liburing-dev]=/usr/include/liburing.h
    [libwolfssl-dev]=/usr/include/wolfssl/ssl.h
    [libinih-dev]=/usr/include/ini.h
    [procps]=/usr/bin/ps
    [openssl]=/usr/bin/openssl
    [gnuplot-nox]=/usr/bin/gnuplot
)
install_deps() {
    local missing=() p
    for p in "${!DEP_PROBE[@]}"; do
        [[ -e ${DEP_PROBE[$p]} ]] || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    if [[ ${BENCH_SKIP_INSTALL:-0} == 1 || $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        warn "missing packages (not installing: not root with apt-get, or BENCH_SKIP_INSTALL=1): ${missing[*]}"
        return 0
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null || warn "apt-get update failed"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
        warn "apt-get install failed for some of: ${missing[*]}"
}
install_deps
for tool in sysbench curl cmake openssl; do
    command -v "$tool" >/dev/null || die "'$tool' is required (apt-get install $tool)"
done
HAPROXY=$(command -v haproxy 2>/dev/null || { [[ -x /usr/sbin/haproxy ]] && echo /usr/sbin/haproxy; } || true)

# --- state and teardown ------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-bench.XXXXXX")
LOGDIR=$ROOT/bench/results/logs
RESULTS=$ROOT/bench/results/latest.md
rm -rf "$LOGDIR"
mkdir -p "$LOGDIR"
DB_DIR=$WORK/db
DB_PORT=""
RM_PID=""
RM_PORT=""
RM_ADMIN_PORT=""
HA_PID=""
HA_PORT=""
IDLE_PID=""

# Stop one process we started (by pid): SIGTERM, wait up to 10 s, SIGKILL.
stop_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    stop_pid "$IDLE_PID"
    stop_pid "$RM_PID"
    stop_pid "$HA_PID"
    if [[ -d $DB_DIR ]]; then
        cp -f "$DB_DIR/error.log" "$LOGDIR/mariadb-error.log" 2>/dev/null
        "$ROOT/scripts/sandbox-mariadb.sh" stop "$DB_DIR" >/dev/null 2>&1
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- file descriptors --------------------------------------------------------
# 10000 idle clients need 10000+ descriptors in the client and in ringmux;
# both inherit this limit.  Containers may forbid raising the hard limit.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
((NOFILE >= 65536)) || warn "ulimit -n is $NOFILE (could not raise it to 65536)"

# --- 2. build ----------------------------------------------------------------
JOBS=$(nproc 2>/dev/null || echo 2)
BUILD=$ROOT/build-bench
log "building ringmux (Release) in $BUILD"
if ! { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DRINGMUX_TESTS=OFF >"$LOGDIR/build.log" 2>&1 &&
        cmake --build "$BUILD" -j "$JOBS" >>"$LOGDIR/build.log" 2>&1; }; then
    tail -n 30 "$LOGDIR/build.log" >&2
    die "ringmux build failed (log: $LOGDIR/build.log)"
fi
RINGMUX=$BUILD/ringmux
# The load generators: part of the main build once it has add_subdirectory(bench),
# otherwise built on their own from bench/CMakeLists.txt.
if [[ -x $BUILD/bench/churn && -x $BUILD/bench/idle ]]; then
    TOOLS=$BUILD/bench
else
    TOOLS=$BUILD/bench-tools
    if ! { cmake -S "$ROOT/bench" -B "$TOOLS" -DCMAKE_BUILD_TYPE=Release >>"$LOGDIR/build.log" 2>&1 &&
            cmake --build "$TOOLS" -j "$JOBS" >>"$LOGDIR/build.log" 2>&1; }; then
        tail -n 30 "$LOGDIR/build.log" >&2
        die "bench tools build failed (log: $LOGDIR/build.log)"
    fi
fi
CHURN=$TOOLS/churn
IDLE=$TOOLS/idle

# --- helpers -----------------------------------------------------------------
# 0 if nothing listens on 127.0.0.1:$1 (a connect is refused).
port_is_free() {
    ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# A free TCP port below the ephemeral range (32768+), so that the many
# outgoing connections of the benchmark never take it.
pick_port() {
    local port i
    for ((i = 0; i < 200; i++)); do
        port=$((20000 + RANDOM % 12000))
        [[ $port == "$DB_PORT" || $port == "$RM_PORT" || $port == "$RM_ADMIN_PORT" || $port == "$HA_PORT" ]] && continue
        if port_is_free "$port"; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found"
}

# wait_port PORT PID SECONDS: 0 once PORT accepts, 1 if PID exits or time runs out.
wait_port() {
    local port=$1 pid=$2 i
    for ((i = 0; i < $3 * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        port_is_free "$port" || return 0
        sleep 0.1
    done
    return 1
}

# VmRSS of a process in KiB (empty if it is gone).
rss_kib() {
    awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || true
}

SB_COMMON=(--mysql-user=rmtest --mysql-password=rmtest-pw
           --mysql-db=rmtest --tables=4 --table-size=10000)

# --- 3. MariaDB --------------------------------------------------------------
# The sandbox runs with max_connections=2000 and one thread per connection:
# enough for 512 direct sysbench threads and for HAProxy's 1:1 forwarding.
# TLS: throwaway certificates; MariaDB offers TLS (clients choose), ringmux
# too; sysbench --mysql-ssl=on reads cacert.pem, client-cert.pem and
# client-key.pem from its working directory.
CERTS=$WORK/certs
SB_SSL_DIR=$WORK/sysbench-ssl
"$ROOT/scripts/make-test-certs.sh" "$CERTS" >"$LOGDIR/certs.log" 2>&1 ||
    { cat "$LOGDIR/certs.log" >&2; die "could not make TLS certificates"; }
mkdir -p "$SB_SSL_DIR"
cp "$CERTS/ca.pem" "$SB_SSL_DIR/cacert.pem"
cp "$CERTS/client.pem" "$SB_SSL_DIR/client-cert.pem"
cp "$CERTS/client.key" "$SB_SSL_DIR/client-key.pem"

# CPU sets: with 8 or more CPUs the proxies, MariaDB and the load
# generators get their own, so the proxy's cost is not hidden in the noise
# of the others.
NCPU=$(nproc 2>/dev/null || echo 1)
TS_PROXY=() TS_LOAD=() CPU_NOTE="all processes share all $NCPU CPUs"
if ((NCPU >= 8)) && command -v taskset >/dev/null; then
    px=$BENCH_PROXY_THREADS
    ((px < 2)) && px=2
    db=$(((NCPU - px) / 2))
    PROXY_CPUS="0-$((px - 1))" DB_CPUS="$px-$((px + db - 1))" LOAD_CPUS="$((px + db))-$((NCPU - 1))"
    TS_PROXY=(taskset -c "$PROXY_CPUS") TS_LOAD=(taskset -c "$LOAD_CPUS")
    CPU_NOTE="CPU sets: proxies $PROXY_CPUS, MariaDB $DB_CPUS, load generators $LOAD_CPUS"
fi
if [[ -n ${BENCH_DB_PORT:-} ]]; then
    [[ $BENCH_DB_PORT =~ ^[0-9]+$ ]] || die "BENCH_DB_PORT must be a port number"
    mkdir -p "$DB_DIR"
    echo "$BENCH_DB_PORT" >"$DB_DIR/port"
    export SANDBOX_KEEP_PORT=1
fi
log "starting sandbox MariaDB in $DB_DIR"
DB_PORT=$(SANDBOX_EXTRA_ARGS="--ssl-cert=$CERTS/server-ed25519.pem --ssl-key=$CERTS/server-ed25519.key --ssl-ca=$CERTS/ca.pem" \
    "$ROOT/scripts/sandbox-mariadb.sh" start "$DB_DIR" 2>"$LOGDIR/sandbox.log" | tail -n 1) ||
    { cat "$LOGDIR/sandbox.log" >&2; die "could not start the sandbox MariaDB"; }
[[ $DB_PORT =~ ^[0-9]+$ ]] || die "sandbox MariaDB printed no port (log: $LOGDIR/sandbox.log)"
DB_PID=$(cat "$DB_DIR/mariadb.pid" 2>/dev/null || true)
DB_MAXCONN=$(mariadb --no-defaults --protocol=socket --socket="$DB_DIR/mysql.sock" --user=root \
    --batch --skip-column-names -e 'SELECT @@max_connections' 2>/dev/null || echo "?")
log "MariaDB on port $DB_PORT (max_connections $DB_MAXCONN)"
if [[ -n ${DB_CPUS:-} && -n $DB_PID ]]; then
    taskset -a -p -c "$DB_CPUS" "$DB_PID" >/dev/null || warn "could not pin MariaDB to CPUs $DB_CPUS"
fi
log "$CPU_NOTE"

log "preparing sysbench tables (4 x 10000 rows)"
sysbench oltp_read_write "${SB_COMMON[@]}" --mysql-host=127.0.0.1 --mysql-port="$DB_PORT" --threads=4 prepare \
    >"$LOGDIR/sysbench-prepare.log" 2>&1 ||
    { tail -n 20 "$LOGDIR/sysbench-prepare.log" >&2; die "sysbench prepare failed"; }

# --- 4. proxies --------------------------------------------------------------
RM_STARTS=0

# start_ringmux: (re)start ringmux with a fresh config; sets RM_PID.
start_ringmux() {
    stop_pid "$RM_PID"
    RM_PID=""
    [[ -n $RM_PORT ]] || RM_PORT=$(pick_port)
    [[ -n $RM_ADMIN_PORT ]] || RM_ADMIN_PORT=$(pick_port)
    RM_STARTS=$((RM_STARTS + 1))
    cat >"$WORK/ringmux.ini" <<EOF
[ringmux]
listen = 127.0.0.1:$RM_PORT
workers = $BENCH_PROXY_THREADS
log_level = warn
max_client_connections = 20000
admin_listen = 127.0.0.1:$RM_ADMIN_PORT

[backend]
address = 127.0.0.1:$DB_PORT

[pool]
max_backend_connections = $BENCH_MAX_BACKEND

[tls]
tls_cert = $CERTS/server-ed25519.pem
tls_key = $CERTS/server-ed25519.key

[users]
rmtest = rmtest-pw
EOF
    cp -f "$WORK/ringmux.ini" "$LOGDIR/ringmux.ini"
    echo "--- ringmux start #$RM_STARTS $(date -u +%FT%TZ)" >>"$LOGDIR/ringmux.log"
    "${TS_PROXY[@]}" "$RINGMUX" -c "$WORK/ringmux.ini" >>"$LOGDIR/ringmux.log" 2>&1 &
    RM_PID=$!
    if ! wait_port "$RM_PORT" "$RM_PID" 15 || ! wait_port "$RM_ADMIN_PORT" "$RM_PID" 5; then
        tail -n 20 "$LOGDIR/ringmux.log" >&2
        warn "ringmux did not start (log: $LOGDIR/ringmux.log)"
        stop_pid "$RM_PID"
        RM_PID=""
        return 1
    fi
}

# ringmux_alive: 0 if the ringmux we started still runs.
ringmux_alive() {
    [[ -n $RM_PID ]] && kill -0 "$RM_PID" 2>/dev/null
}

# start_haproxy: plain TCP forwarding to MariaDB; sets HA_PID.
start_haproxy() {
    HA_PORT=$(pick_port)
    # Each forwarded connection costs HAProxy two descriptors.
    local maxconn=$(((NOFILE - 200) / 2))
    ((maxconn > 20000)) && maxconn=20000
    cat >"$WORK/haproxy.cfg" <<EOF
global
    maxconn $maxconn
    nbthread $BENCH_PROXY_THREADS

defaults
    mode tcp
    maxconn $maxconn
    timeout connect 5s
    timeout client 1h
    timeout server 1h

frontend mysql_in
    bind 127.0.0.1:$HA_PORT
    default_backend mariadb

backend mariadb
    server db 127.0.0.1:$DB_PORT
EOF
    cp -f "$WORK/haproxy.cfg" "$LOGDIR/haproxy.cfg"
    "${TS_PROXY[@]}" "$HAPROXY" -f "$WORK/haproxy.cfg" -db >>"$LOGDIR/haproxy.log" 2>&1 &
    HA_PID=$!
    if ! wait_port "$HA_PORT" "$HA_PID" 10; then
        tail -n 20 "$LOGDIR/haproxy.log" >&2
        warn "haproxy did not start (log: $LOGDIR/haproxy.log)"
        stop_pid "$HA_PID"
        HA_PID=""
        return 1
    fi
}

if want_target ringmux; then
    log "starting ringmux"
    start_ringmux || true
fi
if want_target haproxy; then
    if [[ -n $HAPROXY ]]; then
        log "starting haproxy (TCP mode)"
        start_haproxy || true
    else
        warn "haproxy is not installed; haproxy rows are skipped"
    fi
fi
RM_RSS_START=""
ringmux_alive && RM_RSS_START=$(rss_kib "$RM_PID")

# --- metrics -----------------------------------------------------------------
# metrics_snapshot FILE: the ringmux /metrics page into FILE (empty on failure).
metrics_snapshot() {
    curl -s --max-time 5 "http://127.0.0.1:$RM_ADMIN_PORT/metrics" >"$1" 2>/dev/null || : >"$1"
}

# metric FILE NAME: value of one sample line (0 if absent).
metric() {
    awk -v n="$2" '$1 == n {print $2; found = 1} END {if (!found) print 0}' "$1"
}

# metrics_delta BEFORE AFTER: sets M_OPENED (backend connections opened),
# M_PINNED (sessions pinned, all reasons), M_PIN_NOTE ("reason=n ...") and
# M_BORROW_TIMEOUTS between the two snapshots; "?" when a snapshot is empty.
metrics_delta() {
    local b=$1 a=$2
    M_PIN_NOTE=""
    if [[ ! -s $b || ! -s $a ]]; then
        M_OPENED="?"
        M_PINNED="?"
        M_BORROW_TIMEOUTS=0
        return
    fi
    M_OPENED=$(($(metric "$a" ringmux_backend_connections_opened_total) - $(metric "$b" ringmux_backend_connections_opened_total)))
    M_BORROW_TIMEOUTS=$(($(metric "$a" ringmux_borrow_timeouts_total) - $(metric "$b" ringmux_borrow_timeouts_total)))
    # Per-reason deltas of ringmux_pins_total{reason="..."}.
    M_PIN_NOTE=$(awk '
        /^ringmux_pins_total\{/ {
            match($1, /reason="[^"]*"/)
            r = substr($1, RSTART + 8, RLENGTH - 9)
            if (FILENAME == ARGV[1]) before[r] = $2; else after[r] = $2
        }
        END {
            for (r in after) if (after[r] - before[r] > 0) printf "%s%s=%d", (n++ ? " " : ""), r, after[r] - before[r]
        }' "$b" "$a")
    M_PINNED=$(awk '
        /^ringmux_pins_total\{/ { if (FILENAME == ARGV[1]) s -= $2; else s += $2 }
        END { print s + 0 }' "$b" "$a")
}

# --- results -----------------------------------------------------------------
# One entry per row; the ratio to direct is computed when printing.
R_SCEN=() R_THR=() R_TGT=() R_VAL=() R_UNIT=() R_P95=() R_OPENED=() R_PINNED=() R_NOTE=() R_CPU=()

# add_row SCENARIO THREADS TARGET VALUE UNIT P95 OPENED PINNED NOTE
# (VALUE empty = failed or skipped; NOTE says why.)  The CPU cell is the
# last cpu_per_op result (CPU_CELL), cleared here.
add_row() {
    R_SCEN+=("$1") R_THR+=("$2") R_TGT+=("$3") R_VAL+=("$4") R_UNIT+=("$5")
    R_P95+=("$6") R_OPENED+=("$7") R_PINNED+=("$8") R_NOTE+=("$9") R_CPU+=("${CPU_CELL:-}")
    CPU_CELL=""
}

# --- CPU accounting ----------------------------------------------------------
# Where the machine's CPU time goes during a run, per query (or connection):
# MariaDB's process, the proxy's process, and the rest (the load generator
# and kernel work not charged to either).  Ticks from /proc; the run's
# connect and disconnect phases are included.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# proc_ticks PID: utime + stime of a process (0 if gone).
proc_ticks() {
    [[ -n $1 ]] && awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat" 2>/dev/null || echo 0
}

# busy_ticks: CPU ticks the machine spent working (user, nice, system, irq,
# softirq; not idle, iowait, or steal: time the hypervisor gave to others).
busy_ticks() {
    awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat
}

# proxy_pid TARGET: the process doing the target's forwarding (none for direct).
proxy_pid() {
    case $1 in
    ringmux) echo "$RM_PID" ;;
    haproxy) echo "$HA_PID" ;;
    esac
}

# cpu_mark TARGET: snapshot before a run.
cpu_mark() {
    CPU_DB0=$(proc_ticks "$DB_PID") CPU_PX0=$(proc_ticks "$(proxy_pid "$1")") CPU_ALL0=$(busy_ticks)
}

# cpu_per_op TARGET OPS: sets CPU_CELL to "db / proxy / rest" in µs per op.
cpu_per_op() {
    local db px all
    db=$(($(proc_ticks "$DB_PID") - CPU_DB0))
    px=$(($(proc_ticks "$(proxy_pid "$1")") - CPU_PX0))
    all=$(($(busy_ticks) - CPU_ALL0))
    [[ $1 == direct || -n ${PEER_ADDR[$1]:-} ]] && px=0 # a peer's process is not ours to measure
    local kind=proxy
    [[ $1 == direct || -n ${PEER_ADDR[$1]:-} ]] && kind=direct # no process of ours forwards
    CPU_CELL=$(awk -v d="$db" -v p="$px" -v a="$all" -v n="$2" -v hz="$CLK_TCK" -v t="$kind" 'BEGIN {
        if (n <= 0) exit
        u = 1e6 / hz / n; r = a - d - p; if (r < 0) r = 0
        if (t == "direct") printf "%.0f / - / %.0f", d * u, r * u
        else printf "%.0f / %.0f / %.0f", d * u, p * u, r * u
    }')
}

# Markdown cells must not contain '|' or newlines.
cell() {
    local s=${1//|//}
    s=${s//$'\n'/ }
    echo "${s:0:140}"
}

# target_port TARGET: the port clients connect to, empty if unavailable.
target_port() {
    case $1 in
    direct) echo "$DB_PORT" ;;
    ringmux) if ringmux_alive; then echo "$RM_PORT"; fi ;;
    haproxy) if [[ -n $HA_PID ]] && kill -0 "$HA_PID" 2>/dev/null; then echo "$HA_PORT"; fi ;;
    *) if [[ -n ${PEER_ADDR[$1]:-} ]]; then echo "${PEER_ADDR[$1]##*:}"; fi ;;
    esac
}

# target_host TARGET: the host clients connect to.
target_host() {
    if [[ -n ${PEER_ADDR[$1]:-} ]]; then echo "${PEER_ADDR[$1]%:*}"; else echo 127.0.0.1; fi
}

# first_error LOG: the most telling error line of a failed run.
first_error() {
    local line
    line=$(grep -m1 -E 'FATAL: MySQL error|error [0-9]+:|ERROR' "$1" 2>/dev/null ||
           grep -m1 -E 'FATAL|[Ee]rror' "$1" 2>/dev/null || true)
    line=${line#FATAL: }
    line=${line% for query *} # sysbench appends the whole statement
    echo "${line:-no output (see $(basename "$1"))}"
}

# before_run TARGET: make sure the target is up and snapshot ringmux metrics.
# Returns 1 (after adding nothing) if the target is unavailable.
before_run() {
    if [[ $1 == ringmux ]] && ! ringmux_alive; then
        warn "ringmux is not running; restarting it"
        start_ringmux || return 1
    fi
    [[ -n $(target_port "$1") ]] || return 1
    [[ $1 == ringmux ]] && metrics_snapshot "$WORK/m.before"
    return 0
}

# after_run TARGET: for ringmux, sets M_* from the metrics and RUN_NOTE about
# crashes / borrow timeouts; for other targets M_* are empty.
after_run() {
    RUN_NOTE=""
    M_OPENED="" M_PINNED="" M_PIN_NOTE="" M_BORROW_TIMEOUTS=0
    [[ $1 == ringmux ]] || return 0
    if ! ringmux_alive; then
        RUN_NOTE="ringmux exited during the run (see logs/ringmux.log)"
        M_OPENED="?" M_PINNED="?"
        start_ringmux || true
        return 0
    fi
    metrics_snapshot "$WORK/m.after"
    metrics_delta "$WORK/m.before" "$WORK/m.after"
    [[ -n $M_PIN_NOTE ]] && RUN_NOTE="pins: $M_PIN_NOTE"
    if ((M_BORROW_TIMEOUTS > 0)); then
        RUN_NOTE="${RUN_NOTE:+$RUN_NOTE; }$M_BORROW_TIMEOUTS borrow timeouts"
    fi
    return 0
}

# settle: wait (at most 30 s) until MariaDB has only the connections of
# ringmux's pool left, so that server threads of a finished 512-client run
# are gone before the next run starts, then pause a second more.
settle() {
    local i n limit=$((BENCH_MAX_BACKEND + 2))
    for ((i = 0; i < 300; i++)); do
        n=$(mariadb --no-defaults --protocol=socket --socket="$DB_DIR/mysql.sock" --user=root \
            --batch --skip-column-names -e "SHOW GLOBAL STATUS LIKE 'Threads_connected'" 2>/dev/null |
            awk '{print $2}')
        [[ -z $n ]] && break
        ((n <= limit)) && break
        sleep 0.1
    done
    sleep 1
}

# unavailable_row SCENARIO THREADS TARGET: a "skipped" row.
unavailable_row() {
    add_row "$1" "$2" "$3" "" "" "" "" "" "skipped: $3 not running"
}

# --- 5a. sysbench scenarios ------------------------------------------------
# run_sysbench SCENARIO THREADS TARGET
run_sysbench() {
    local scen=$1 thr=$2 tgt=$3 test psmode port logf rc=0 ssl=off
    case $scen in
    point_ps) test=oltp_point_select psmode=auto ;;
    point_tls) test=oltp_point_select psmode=auto ssl=on ;;
    point_text) test=oltp_point_select psmode=disable ;;
    rw) test=oltp_read_write psmode=auto ;;
    rw_text) test=oltp_read_write psmode=disable ;;
    esac
    if ! before_run "$tgt"; then
        unavailable_row "$scen" "$thr" "$tgt"
        return
    fi
    port=$(target_port "$tgt")
    logf=$LOGDIR/$scen-$thr-$tgt.log
    log "$scen threads=$thr target=$tgt (${BENCH_TIME}s)"
    cpu_mark "$tgt"
    # timeout: a hung run (e.g. a proxy that stops answering) must not stall
    # the whole benchmark; 512 threads need some time to connect.
    (cd "$SB_SSL_DIR" && timeout -k 10 $((BENCH_TIME + 120)) \
        "${TS_LOAD[@]}" sysbench "$test" "${SB_COMMON[@]}" --mysql-host="$(target_host "$tgt")" --mysql-port="$port" \
        --db-ps-mode="$psmode" --mysql-ssl="$ssl" \
        --threads="$thr" --time="$BENCH_TIME" --report-interval=0 run) >"$logf" 2>&1 || rc=$?
    cpu_per_op "$tgt" "$(awk '/^ *queries:/ {print $2}' "$logf")"
    after_run "$tgt"
    local qps p95 ign note=$RUN_NOTE
    qps=$(awk '/^ *queries:/ {gsub(/[()]/, "", $3); print $3}' "$logf")
    p95=$(awk '/95th percentile:/ {print $3}' "$logf")
    ign=$(awk '/ignored errors:/ {print $3}' "$logf")
    if ((rc != 0)) || [[ -z $qps || -z $p95 ]]; then
        ((rc == 124 || rc == 137)) && note="timed out${note:+; $note}"
        add_row "$scen" "$thr" "$tgt" "" "" "" "$M_OPENED" "$M_PINNED" "${note:+$note; }$(first_error "$logf")"
    else
        [[ -n $ign && $ign != 0 ]] && note="${note:+$note; }$ign ignored errors (deadlocks)"
        add_row "$scen" "$thr" "$tgt" "$qps" "q/s" "$p95" "$M_OPENED" "$M_PINNED" "$note"
    fi
    settle
}

# --- 5b. churn ---------------------------------------------------------------
# run_churn SCENARIO TARGET (SCENARIO churn, churn_tls or churn_tls_resume)
run_churn() {
    local scen=$1 tgt=$2 port logf rc=0 res ssl=()
    [[ $scen == churn_tls ]] && ssl=(--tls)
    [[ $scen == churn_tls_resume ]] && ssl=(--tls-resume)
    if ! before_run "$tgt"; then
        unavailable_row "$scen" "$BENCH_CHURN_THREADS" "$tgt"
        return
    fi
    port=$(target_port "$tgt")
    logf=$LOGDIR/$scen-$BENCH_CHURN_THREADS-$tgt.log
    log "$scen threads=$BENCH_CHURN_THREADS target=$tgt (${BENCH_TIME}s)"
    cpu_mark "$tgt"
    timeout -k 10 $((BENCH_TIME + 60)) \
        "${TS_LOAD[@]}" "$CHURN" --host "$(target_host "$tgt")" --port "$port" --user rmtest --password rmtest-pw --db rmtest \
        --threads "$BENCH_CHURN_THREADS" --duration "$BENCH_TIME" --query select1 "${ssl[@]}" >"$logf" 2>&1 || rc=$?
    cpu_per_op "$tgt" "$(sed -n 's/^RESULT conns=\([0-9]*\).*/\1/p' "$logf")"
    after_run "$tgt"
    local note=$RUN_NOTE rate p95 errs
    res=$(grep '^RESULT ' "$logf" || true)
    rate=$(sed -n 's/.* conn_per_sec=\([0-9.]*\).*/\1/p' <<<"$res")
    p95=$(sed -n 's/.* p95_ms=\([0-9.]*\).*/\1/p' <<<"$res")
    errs=$(sed -n 's/.* errors=\([0-9]*\).*/\1/p' <<<"$res")
    if ((rc != 0)) || [[ -z $rate ]]; then
        add_row "$scen" "$BENCH_CHURN_THREADS" "$tgt" "" "" "" "$M_OPENED" "$M_PINNED" \
            "${note:+$note; }$(first_error "$logf")"
    else
        if [[ -n $errs && $errs != 0 ]]; then
            note="${note:+$note; }$errs errors: $(grep -m1 -E '^  [0-9]+ x error' "$logf" | sed 's/^ *//')"
        fi
        add_row "$scen" "$BENCH_CHURN_THREADS" "$tgt" "$rate" "conn/s" "$p95" "$M_OPENED" "$M_PINNED" "$note"
    fi
    settle
}

# --- 5c. idle clients --------------------------------------------------------
IDLE_ROW=""

# run_idle: N idle clients through a freshly started ringmux; VmRSS before
# (after one warm-up connection) and while all clients are connected.
run_idle() {
    local n=$BENCH_IDLE_CLIENTS logf=$LOGDIR/idle-ringmux.log rc=0 i
    # ringmux and the client each hold one descriptor per client.
    local cap=$((NOFILE - 512))
    if ((n > cap)); then
        warn "idle: capping $n clients to $cap (ulimit -n is $NOFILE)"
        n=$cap
    fi
    log "idle: $n clients through ringmux, held ${BENCH_IDLE_HOLD}s"
    if ! start_ringmux; then
        IDLE_ROW="| idle | $n | ringmux | failed | | | | | ringmux did not start |"
        return
    fi
    # Warm-up: one connection and query, so start-up allocations are counted
    # in the baseline and not per client.
    "$CHURN" --host 127.0.0.1 --port "$RM_PORT" --user rmtest --password rmtest-pw --db rmtest \
        --threads 1 --duration 0.5 >"$LOGDIR/idle-warmup.log" 2>&1 || true
    sleep 1
    local rss_before rss_during=0 r hwm_after
    rss_before=$(rss_kib "$RM_PID")
    metrics_snapshot "$WORK/m.before"
    rm -f "$WORK/idle.ready"
    "${TS_LOAD[@]}" "$IDLE" --host 127.0.0.1 --port "$RM_PORT" --user rmtest --password rmtest-pw --db rmtest \
        --clients "$n" --threads 8 --hold "$BENCH_IDLE_HOLD" --ready-file "$WORK/idle.ready" \
        >"$logf" 2>&1 &
    IDLE_PID=$!
    # Connecting 10000 clients takes a few seconds; allow generously.
    for ((i = 0; i < 1200; i++)); do
        [[ -s $WORK/idle.ready ]] && break
        kill -0 "$IDLE_PID" 2>/dev/null || break
        sleep 0.1
    done
    if [[ -s $WORK/idle.ready ]]; then
        # Sample a few times while every client is connected and idle.
        sleep 1
        for i in 1 2 3; do
            r=$(rss_kib "$RM_PID")
            [[ -n $r ]] && ((r > rss_during)) && rss_during=$r
            sleep 0.5
        done
    fi
    wait "$IDLE_PID" || rc=$?
    IDLE_PID=""
    local res connected alive per="" opened pinned note=""
    res=$(grep '^RESULT ' "$logf" || true)
    connected=$(sed -n 's/.* queried=\([0-9]*\).*/\1/p' <<<"$res")
    alive=$(sed -n 's/.* alive_after_hold=\([0-9]*\).*/\1/p' <<<"$res")
    after_run ringmux
    opened=$M_OPENED pinned=$M_PINNED
    hwm_after=$(awk '/^VmHWM:/ {print $2}' "/proc/$RM_PID/status" 2>/dev/null || true)
    if [[ -n $connected && $connected -gt 0 && -n $rss_before && $rss_during -gt 0 ]]; then
        per=$(awk -v a="$rss_before" -v b="$rss_during" -v n="$connected" 'BEGIN {printf "%.1f", (b - a) / n}')
    fi
    note=$RUN_NOTE
    ((rc != 0)) && note="${note:+$note; }$(first_error "$logf")"
    IDLE_ROW="| $n | ${connected:-failed} | ${alive:-failed} | ${rss_before:-?} | ${rss_during:-?} | ${per:-failed} | ${hwm_after:-?} | ${opened:-?} | ${pinned:-?} | $(cell "$note") |"
}

# --- 5. run ------------------------------------------------------------------
# The targets of one scenario run one after the other; the order rotates from
# one scenario/thread-count group to the next, so that whatever the previous
# run leaves behind (a server still reaping 512 threads, cold caches, a noisy
# neighbour) does not always hit the same target.  Rows print in a fixed order.
ROTATION=0
# rotated_targets: the wanted targets, rotated by ROTATION (then advance it).
rotated_targets() {
    local ordered=() t i n
    for t in "${ALL_TARGETS[@]}"; do
        want_target "$t" && ordered+=("$t")
    done
    n=${#ordered[@]}
    for ((i = 0; i < n; i++)); do
        echo "${ordered[(i + ROTATION) % n]}"
    done
}

START_TS=$(date +%s)
for scen in point_ps point_text rw rw_text; do
    want_scenario "$scen" || continue
    for thr in $BENCH_THREADS; do
        for tgt in $(rotated_targets); do
            run_sysbench "$scen" "$thr" "$tgt"
        done
        ROTATION=$((ROTATION + 1))
    done
done
if want_scenario churn; then
    for tgt in $(rotated_targets); do
        run_churn churn "$tgt"
    done
fi
if want_scenario point_tls; then
    for thr in $BENCH_TLS_THREADS; do
        for tgt in $(rotated_targets); do
            run_sysbench point_tls "$thr" "$tgt"
        done
        ROTATION=$((ROTATION + 1))
    done
fi
for scen in churn_tls churn_tls_resume; do
    want_scenario "$scen" || continue
    for tgt in $(rotated_targets); do
        run_churn "$scen" "$tgt"
    done
done
RM_RSS_END=""
RM_HWM_END=""
if ringmux_alive; then
    RM_RSS_END=$(rss_kib "$RM_PID")
    RM_HWM_END=$(awk '/^VmHWM:/ {print $2}' "/proc/$RM_PID/status" 2>/dev/null || true)
fi
RM_STARTS_BEFORE_IDLE=$RM_STARTS
if want_scenario idle; then
    run_idle
fi
ELAPSED=$(($(date +%s) - START_TS))

# --- 6. report ---------------------------------------------------------------
# Reporting must never abort the run: version probes piped into head would
# die of SIGPIPE under pipefail, and a missing tool is not an error here.
set +e +o pipefail

# throughput_table: the main markdown table on stdout.
throughput_table() {
    local i j ratio val p95 direct
    echo "| scenario | threads | target | throughput | p95 ms | vs direct | CPU µs/op: db / proxy / rest | backend conns opened | pinned | notes |"
    echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---|"
    # Sort rows by scenario, then thread count, then target (in the ALL_* orders).
    local order=() k
    for ((i = 0; i < ${#R_SCEN[@]}; i++)); do
        local si=0 ti=0
        for ((k = 0; k < ${#ALL_SCENARIOS[@]}; k++)); do [[ ${ALL_SCENARIOS[k]} == "${R_SCEN[i]}" ]] && si=$k; done
        for ((k = 0; k < ${#ALL_TARGETS[@]}; k++)); do [[ ${ALL_TARGETS[k]} == "${R_TGT[i]}" ]] && ti=$k; done
        order+=("$(printf '%02d %06d %02d %d' "$si" "${R_THR[i]}" "$ti" "$i")")
    done
    for i in $(printf '%s\n' "${order[@]}" | sort | awk '{print $4}'); do
        direct=""
        for ((j = 0; j < ${#R_SCEN[@]}; j++)); do
            if [[ ${R_SCEN[j]} == "${R_SCEN[i]}" && ${R_THR[j]} == "${R_THR[i]}" && ${R_TGT[j]} == direct ]]; then
                direct=${R_VAL[j]}
            fi
        done
        if [[ -z ${R_VAL[i]} ]]; then
            val="failed"
            [[ ${R_NOTE[i]} == skipped* ]] && val="skipped"
            p95="" ratio=""
        else
            val=$(printf '%.0f %s' "${R_VAL[i]}" "${R_UNIT[i]}")
            p95=${R_P95[i]}
            ratio=""
            if [[ -n $direct ]]; then
                ratio=$(awk -v a="${R_VAL[i]}" -v d="$direct" 'BEGIN {if (d > 0) printf "%.2fx", a / d}')
            fi
        fi
        echo "| ${R_SCEN[i]} | ${R_THR[i]} | ${R_TGT[i]} | $val | $p95 | $ratio | ${R_CPU[i]} | ${R_OPENED[i]} | ${R_PINNED[i]} | $(cell "${R_NOTE[i]}") |"
    done
}

idle_table() {
    echo "| clients | connected+queried | alive after hold | VmRSS before KiB | VmRSS connected KiB | KiB per client | VmHWM KiB | backend conns opened | pinned | notes |"
    echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    echo "$IDLE_ROW"
}

versions() {
    local v
    echo "- ringmux: $("$RINGMUX" --version 2>/dev/null || echo '?'), git $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
    echo "- MariaDB: $(/usr/sbin/mariadbd --version 2>/dev/null | sed 's/^.*Ver //; s/ for .*//' || echo '?') (sandbox, max_connections $DB_MAXCONN)"
    echo "- sysbench: $(sysbench --version 2>/dev/null || echo '?')"
    if [[ -n $HAPROXY ]]; then
        v=$("$HAPROXY" -v 2>/dev/null | head -n 1 | awk '{print $3}')
        echo "- HAProxy: ${v:-?} (mode tcp, nbthread $BENCH_PROXY_THREADS)"
    else
        echo "- HAProxy: not installed"
    fi
    echo "- libmariadb: $(pkg-config --modversion libmariadb 2>/dev/null || echo '?'); compiler: $(gcc --version 2>/dev/null | head -n 1)"
}

report() {
    echo "# ringmux benchmark"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "- machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -n 1)), $(awk '/MemTotal/ {printf "%.1f GiB RAM", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
    echo "- everything co-located on this machine (MariaDB, proxies, load generators): numbers are for comparison within this run only"
    versions
    echo "- command: \`$(for v in BENCH_TIME BENCH_SCENARIOS BENCH_THREADS BENCH_TLS_THREADS BENCH_TARGETS BENCH_DB_PORT BENCH_MAX_BACKEND BENCH_PROXY_THREADS BENCH_CHURN_THREADS BENCH_IDLE_CLIENTS BENCH_IDLE_HOLD; do [[ -n ${!v+x} && -n $(printenv "$v" 2>/dev/null) ]] && printf '%s=%q ' "$v" "$(printenv "$v")"; done)$COMMAND_LINE\`"
    echo "- $CPU_NOTE"
    echo "- settings: ${BENCH_TIME}s per run; sysbench threads: $BENCH_THREADS (point_tls: $BENCH_TLS_THREADS); 4 tables x 10000 rows; ringmux workers and HAProxy nbthread=$BENCH_PROXY_THREADS, max_backend_connections=$BENCH_MAX_BACKEND; churn threads=$BENCH_CHURN_THREADS; ulimit -n $NOFILE; total time ${ELAPSED}s"
    echo
    if ((${#R_SCEN[@]})); then
        echo "## Throughput"
        echo
        echo "Throughput is sysbench queries/s (churn: connections/s, each = connect + SELECT 1 + close); _tls rows"
        echo "use TLS from the client (to MariaDB for direct and haproxy, to ringmux for ringmux); p95 is"
        echo "sysbench's 95th percentile event latency (churn: connect + query). \"vs direct\" = throughput / direct"
        echo "throughput in this run. Backend conns opened / pinned: ringmux_backend_connections_opened_total and"
        echo "ringmux_pins_total deltas over the run (ringmux rows only). CPU µs/op: CPU time per query (churn: per"
        echo "connection) of the MariaDB process, of the proxy process, and of everything else on the machine (the"
        echo "load generator and kernel work charged to neither), from /proc tick counters over the whole run."
        echo
        throughput_table
        echo
    fi
    if [[ -n $IDLE_ROW ]]; then
        echo "## Idle clients through ringmux"
        echo
        echo "Each client connects, runs SELECT 1 and stays idle for ${BENCH_IDLE_HOLD}s (fresh ringmux; baseline after one"
        echo "warm-up connection). KiB per client = (VmRSS connected - VmRSS before) / connected clients; kernel"
        echo "socket buffers are not part of VmRSS."
        echo
        idle_table
        echo
    fi
    if [[ -n $RM_RSS_START || -n $RM_RSS_END ]]; then
        echo "ringmux VmRSS over the throughput scenarios: ${RM_RSS_START:-?} KiB at start, ${RM_RSS_END:-?} KiB at end (VmHWM ${RM_HWM_END:-?} KiB); ringmux starts: $RM_STARTS_BEFORE_IDLE."
        echo
    fi
    echo "Logs of every run: bench/results/logs/"
}

mkdir -p "$(dirname "$RESULTS")"
report >"$RESULTS.tmp"
mv -f "$RESULTS.tmp" "$RESULTS"

# --- 7. --report: a dated copy with plots ------------------------------------
# plot_scenario SCENARIO STEM: PNGs of throughput and p95 against threads,
# one line per target; echoes the markdown that shows them.
plot_scenario() {
    local scen=$1 stem=$2 dat=$WORK/$1.dat i t thr targets=() threads
    threads=$(for ((i = 0; i < ${#R_SCEN[@]}; i++)); do [[ ${R_SCEN[i]} == "$scen" ]] && echo "${R_THR[i]}"; done |
        sort -n | uniq)
    for t in "${ALL_TARGETS[@]}"; do
        for ((i = 0; i < ${#R_SCEN[@]}; i++)); do
            if [[ ${R_SCEN[i]} == "$scen" && ${R_TGT[i]} == "$t" && -n ${R_VAL[i]} ]]; then
                targets+=("$t")
                break
            fi
        done
    done
    ((${#targets[@]})) || return 0
    [[ -n $threads ]] || return 0
    # rows: threads, then throughput and p95 per target ("?" when missing)
    for thr in $threads; do
        printf '%s' "$thr"
        for t in "${targets[@]}"; do
            local q="?" p="?"
            for ((i = 0; i < ${#R_SCEN[@]}; i++)); do
                if [[ ${R_SCEN[i]} == "$scen" && ${R_THR[i]} == "$thr" && ${R_TGT[i]} == "$t" && -n ${R_VAL[i]} ]]; then
                    q=${R_VAL[i]} p=${R_P95[i]}
                fi
            done
            printf ' %s %s' "$q" "$p"
        done
        echo
    done >"$dat"
    local metric col plot what unit
    for metric in qps p95; do
        plot=""
        for ((i = 0; i < ${#targets[@]}; i++)); do
            col=$((2 + 2 * i))
            [[ $metric == p95 ]] && col=$((col + 1))
            plot+="${plot:+, }'$dat' using 1:$col with linespoints lw 2 title '${targets[i]}'"
        done
        if [[ $metric == qps ]]; then what="throughput" unit="queries/s"; else what="p95 latency" unit="p95 ms"; fi
        gnuplot >>"$LOGDIR/gnuplot.log" 2>&1 <<GP || warn "gnuplot failed for $scen $metric (log: $LOGDIR/gnuplot.log)"
set terminal pngcairo size 900,500 font ",11" noenhanced
set output "$ROOT/bench/results/$stem-$scen-$metric.png"
set datafile missing "?"
set title "$scen: $what vs client threads ($(nproc) CPUs)"
set xlabel "client threads"
set ylabel "$unit"
set logscale x 2
set yrange [0:*]
set grid
set key below
plot $plot
GP
    done
    echo "![$scen throughput]($stem-$scen-qps.png) ![$scen p95]($stem-$scen-p95.png)"
    echo
}

if ((REPORT)); then
    STEM=$(date -u +%F)
    DATED=$ROOT/bench/results/$STEM.md
    if command -v gnuplot >/dev/null; then
        {
            cat "$RESULTS"
            echo
            echo "## Plots"
            echo
            for scen in point_ps point_text rw rw_text point_tls; do
                plot_scenario "$scen" "$STEM"
            done
        } >"$DATED"
    else
        warn "gnuplot is not installed (apt-get install gnuplot-nox): $DATED has no plots"
        cp "$RESULTS" "$DATED"
    fi
    log "report: $DATED"
fi

echo
cat "$RESULTS"
