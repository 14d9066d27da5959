#!/usr/bin/env bash
# Throwaway MariaDB server for tests and benchmarks.
#
#   scripts/sandbox-mariadb.sh start   DIR   create (if needed) and start; prints the port
#   scripts/sandbox-mariadb.sh stop    DIR   shut down and wait for the process to exit
#   scripts/sandbox-mariadb.sh restart DIR   stop, then start again on the same port and data
#   scripts/sandbox-mariadb.sh status  DIR   exit 0 if running (prints the port)
#
# The server listens on 127.0.0.1 only, on a free port picked at random in
# 20000-40000 (kept in DIR/port so a restart reuses it), with its socket,
# pid file, error log and data under DIR.  It never touches the system
# MariaDB service or /etc/mysql (every tool runs with --no-defaults).
#
# After start, DIR/env holds `export` lines for the test harness:
#   RINGMUX_TEST_MYSQL_HOST, RINGMUX_TEST_MYSQL_PORT, RINGMUX_TEST_MYSQL_SOCKET,
#   RINGMUX_TEST_SANDBOX
# Accounts: root@localhost (socket, no password), rmtest/rmtest-pw (ALL on *.*),
# rmtest2/rmtest2-pw (ALL on rmtest.*), each @127.0.0.1 and @localhost,
# mysql_native_password.  Database: rmtest.
#
# Optional environment (both unset: exactly the behaviour above), used by
# scripts/sandbox-replication.sh:
#   SANDBOX_EXTRA_ARGS  extra mariadbd arguments, split on whitespace (no
#                       globbing, no quoting), appended to its command line
#   SANDBOX_SERVER_ID   --server-id=N; the server is a replication member, so
#                       the provisioning of accounts/database above runs with
#                       sql_log_bin=0 (a restart must not put local GTIDs in its
#                       binary log that the other members never see)
set -euo pipefail

PROG=${0##*/}
START_TIMEOUT=60   # seconds to wait for the server to answer
STOP_TIMEOUT=60    # seconds to wait for the server process to exit

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
    echo "usage: $PROG start|stop|restart|status DIR" >&2
    exit 2
}

need_tool() {
    command -v "$1" >/dev/null 2>&1 ||
        die "'$1' not found; install mariadb-server and mariadb-client (apt-get install mariadb-server mariadb-client)"
}

# Locate the server binary (mariadbd is in /usr/sbin on Debian, which may not
# be in a non-root PATH).
find_mariadbd() {
    local c
    for c in "$(command -v mariadbd 2>/dev/null || true)" /usr/sbin/mariadbd \
             "$(command -v mysqld 2>/dev/null || true)" /usr/sbin/mysqld; do
        if [[ -n "$c" && -x "$c" ]]; then
            echo "$c"
            return 0
        fi
    done
    die "mariadbd not found; install mariadb-server"
}

# pid of the sandbox server if it is running, empty otherwise.
running_pid() {
    local pidfile=$DIR/mariadb.pid pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

# 0 if nothing listens on 127.0.0.1:$1 and we could bind it.
port_is_free() {
    local port=$1
    if command -v python3 >/dev/null 2>&1; then
        python3 - "$port" <<'EOF' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
# Same as mariadbd: connections left in TIME_WAIT do not make the port busy.
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
finally:
    s.close()
EOF
        return
    fi
    # No python: free if a connect is refused.
    ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

pick_port() {
    local tries port
    port=$((20000 + RANDOM % 20000))
    for ((tries = 0; tries < 500; tries++)); do
        if port_is_free "$port"; then
            echo "$port"
            return 0
        fi
        port=$((port + 1))
        ((port >= 40000)) && port=20000
    done
    die "no free port found in 20000-40000"
}

admin() {
    mariadb-admin --no-defaults --protocol=socket --socket="$DIR/mysql.sock" \
        --user=root --connect-timeout=2 "$@"
}

sql_root() {
    mariadb --no-defaults --protocol=socket --socket="$DIR/mysql.sock" \
        --user=root --batch --skip-column-names -e "$1"
}

write_env() {
    local port=$1 tmp=$DIR/env.tmp
    {
        echo "export RINGMUX_TEST_MYSQL_HOST=127.0.0.1"
        echo "export RINGMUX_TEST_MYSQL_PORT=$port"
        echo "export RINGMUX_TEST_MYSQL_SOCKET=$DIR/mysql.sock"
        echo "export RINGMUX_TEST_SANDBOX=$DIR"
    } >"$tmp"
    mv -f "$tmp" "$DIR/env"
}

do_install() {
    [[ -d $DIR/data/mysql ]] && return 0
    need_tool mariadb-install-db
    log "initialising data directory $DIR/data"
    rm -rf "$DIR/data"
    mkdir -p "$DIR/data"
    if ! mariadb-install-db --no-defaults --datadir="$DIR/data" --user=root \
            --auth-root-authentication-method=normal --skip-test-db \
            >"$DIR/install.log" 2>&1; then
        cat "$DIR/install.log" >&2
        rm -rf "$DIR/data"
        die "mariadb-install-db failed (log above, also in $DIR/install.log)"
    fi
}

# Accounts and database; idempotent so it also heals an old data dir.
do_provision() {
    local nobinlog=""
    [[ -n ${SANDBOX_SERVER_ID:-} ]] && nobinlog="SET sql_log_bin=0;"
    sql_root "$nobinlog
        CREATE DATABASE IF NOT EXISTS rmtest;
        CREATE USER IF NOT EXISTS 'rmtest'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmtest-pw');
        CREATE USER IF NOT EXISTS 'rmtest'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmtest-pw');
        GRANT ALL ON *.* TO 'rmtest'@'127.0.0.1' WITH GRANT OPTION;
        GRANT ALL ON *.* TO 'rmtest'@'localhost' WITH GRANT OPTION;
        CREATE USER IF NOT EXISTS 'rmtest2'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmtest2-pw');
        CREATE USER IF NOT EXISTS 'rmtest2'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmtest2-pw');
        GRANT ALL ON rmtest.* TO 'rmtest2'@'127.0.0.1';
        GRANT ALL ON rmtest.* TO 'rmtest2'@'localhost';
        FLUSH PRIVILEGES;" ||
        die "provisioning users/database failed (error log: $DIR/error.log)"
}

do_start() {
    local pid port mariadbd i
    need_tool mariadb
    need_tool mariadb-admin
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)

    pid=$(running_pid)
    if [[ -n $pid ]]; then
        [[ -s $DIR/port ]] || die "server pid $pid runs but $DIR/port is missing"
        port=$(<"$DIR/port")
        write_env "$port"
        log "already running (pid $pid, port $port)"
        echo "$port"
        return 0
    fi

    mariadbd=$(find_mariadbd)
    do_install

    # Reuse the recorded port (restart keeps it); pick a fresh one otherwise.
    port=""
    if [[ -s $DIR/port ]]; then
        port=$(<"$DIR/port")
        if ! port_is_free "$port"; then
            if [[ ${SANDBOX_KEEP_PORT:-0} == 1 ]]; then
                die "port $port (recorded in $DIR/port) is in use by another process"
            fi
            log "recorded port $port is busy, picking another"
            port=""
        fi
    fi
    [[ -n $port ]] || port=$(pick_port)
    echo "$port" >"$DIR/port"

    rm -f "$DIR/mysql.sock" "$DIR/mysql.sock.lock" "$DIR/mariadb.pid"
    : >>"$DIR/error.log"
    local log_start
    log_start=$(wc -c <"$DIR/error.log")

    local extra=() words=()
    if [[ -n ${SANDBOX_SERVER_ID:-} ]]; then
        [[ $SANDBOX_SERVER_ID =~ ^[0-9]+$ ]] || die "SANDBOX_SERVER_ID must be a number"
        extra+=(--server-id="$SANDBOX_SERVER_ID")
    fi
    if [[ -n ${SANDBOX_EXTRA_ARGS:-} ]]; then
        # -d '': all lines; read returns 1 at the end of its input.
        read -r -d '' -a words <<<"$SANDBOX_EXTRA_ARGS" || true
        extra+=("${words[@]}")
    fi

    # setsid: the server must not die with the shell that started it, and
    # must not receive a Ctrl-C aimed at the test run.
    setsid "$mariadbd" --no-defaults --user=root \
        --datadir="$DIR/data" \
        --bind-address=127.0.0.1 --port="$port" \
        --socket="$DIR/mysql.sock" \
        --pid-file="$DIR/mariadb.pid" \
        --log-error="$DIR/error.log" \
        --skip-name-resolve \
        --max-connections=2000 \
        --max-allowed-packet=256M \
        --innodb-buffer-pool-size=256M \
        --innodb-flush-log-at-trx-commit=2 \
        --local-infile=1 \
        --max-prepared-stmt-count=100000 \
        --thread-handling=one-thread-per-connection \
        ${extra[@]+"${extra[@]}"} \
        </dev/null >>"$DIR/error.log" 2>&1 &
    local spid=$!

    for ((i = 0; i < START_TIMEOUT * 5; i++)); do
        if admin ping >/dev/null 2>&1; then
            break
        fi
        if ! kill -0 "$spid" 2>/dev/null; then
            tail -c +$((log_start + 1)) "$DIR/error.log" | tail -n 40 >&2
            die "mariadbd exited during start-up (error log above, full log in $DIR/error.log)"
        fi
        sleep 0.2
    done
    if ! admin ping >/dev/null 2>&1; then
        tail -c +$((log_start + 1)) "$DIR/error.log" | tail -n 40 >&2
        kill -9 "$spid" 2>/dev/null || true
        die "mariadbd did not answer within ${START_TIMEOUT}s (error log above)"
    fi
    # The pid file is written before the server answers; fall back to $! anyway.
    [[ -s $DIR/mariadb.pid ]] || echo "$spid" >"$DIR/mariadb.pid"

    do_provision
    write_env "$port"
    log "started (pid $(<"$DIR/mariadb.pid"), port $port, dir $DIR)"
    echo "$port"
}

do_stop() {
    local pid i
    if [[ ! -d $DIR ]]; then
        log "$DIR does not exist, nothing to stop"
        return 0
    fi
    DIR=$(cd "$DIR" && pwd)
    pid=$(running_pid)
    if [[ -z $pid ]]; then
        log "not running"
        return 0
    fi
    if ! admin shutdown >/dev/null 2>&1; then
        log "mariadb-admin shutdown failed, sending SIGTERM to $pid"
        kill -TERM "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "mariadbd $pid did not exit within ${STOP_TIMEOUT}s, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && die "mariadbd $pid survived SIGKILL"
    fi
    rm -f "$DIR/mariadb.pid"
    log "stopped"
}

do_status() {
    local pid
    [[ -d $DIR ]] || { log "$DIR does not exist"; return 1; }
    pid=$(running_pid)
    if [[ -n $pid ]] && admin ping >/dev/null 2>&1; then
        cat "$DIR/port"
        return 0
    fi
    log "not running"
    return 1
}

[[ $# -eq 2 ]] || usage
CMD=$1
DIR=$2
[[ -n $DIR ]] || usage

case $CMD in
start) do_start ;;
stop) do_stop ;;
restart)
    do_stop
    SANDBOX_KEEP_PORT=1 do_start
    ;;
status) do_status ;;
*) usage ;;
esac
