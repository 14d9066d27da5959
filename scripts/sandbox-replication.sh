#!/usr/bin/env bash
# Throwaway MariaDB primary + replica pair with real (GTID, semi-synchronous)
# replication, for failover integration tests.  Each server is a
# scripts/sandbox-mariadb.sh sandbox (127.0.0.1 only, random free port in
# 20000-40000, socket/pid/error log/data under its directory, every tool run
# with --no-defaults; the system service and /etc/mysql are never touched).
#
#   sandbox-replication.sh start DIR               fresh pair: DIR/a primary, DIR/b replica of a;
#                                                  prints "PORT_A PORT_B"
#   sandbox-replication.sh stop DIR                stop both (whichever are running)
#   sandbox-replication.sh kill NAME DIR           SIGKILL server NAME (a or b), wait until it is gone
#   sandbox-replication.sh restart NAME DIR        (re)start NAME on the same port and data, read_only=1,
#                                                  no replication configured; prints its port
#   sandbox-replication.sh promote NAME DIR        apply what NAME's relay log holds (and, if its
#                                                  primary is still up, wait for that primary's
#                                                  gtid_binlog_pos), then STOP SLAVE;
#                                                  RESET SLAVE ALL; SET GLOBAL read_only=0
#   sandbox-replication.sh demote NAME DIR         SET GLOBAL read_only=1 (planned switchover)
#   sandbox-replication.sh replicate NAME FROM DIR make NAME a read_only replica of FROM
#                                                  (MASTER_USE_GTID=slave_pos, starting from NAME's
#                                                  own gtid_binlog_pos) and wait until it runs
#   sandbox-replication.sh stop-sql NAME DIR       STOP SLAVE SQL_THREAD (replica lag on purpose)
#   sandbox-replication.sh start-sql NAME DIR      START SLAVE SQL_THREAD
#   sandbox-replication.sh status DIR              one line per server:
#       NAME PORT running|down read_only=0|1|- ROLE io=Yes|No|Connecting|- sql=Yes|No|- [master=PORT]
#     ROLE: primary (writable, no replication), replica (replication configured),
#     read_only (no replication, read_only=1), - (down).  Exit 0 if both run.
#
# `start` always builds a fresh pair: if both servers are already running it
# only prints their ports; otherwise it stops what runs, wipes DIR/a/data and
# DIR/b/data, and sets both up again (the recorded ports are reused when free).
# It returns once b's IO and SQL threads run, a has a semi-sync client, and a
# row inserted on a (rmtest.repl_check) is visible on b.
#
# After start, DIR/env holds `export` lines:
#   RINGMUX_TEST_REPL_DIR, RINGMUX_TEST_REPL_A_PORT, RINGMUX_TEST_REPL_B_PORT,
#   RINGMUX_TEST_REPL_A_SOCKET, RINGMUX_TEST_REPL_B_SOCKET
# (DIR/a/env and DIR/b/env are the single-server env files of sandbox-mariadb.sh.)
#
# Server settings (both servers, identical apart from server_id/read_only):
#   server_id 1 (a) / 2 (b), log_bin, binlog_format=ROW, log_slave_updates,
#   gtid_strict_mode=1 (domain 0), skip_slave_start (replication is only ever
#   started by this script), slave_net_timeout=10, rpl_semi_sync_master_enabled=1,
#   rpl_semi_sync_slave_enabled=1, rpl_semi_sync_master_wait_point=AFTER_SYNC,
#   rpl_semi_sync_master_timeout=$REPL_SEMI_SYNC_TIMEOUT ms (default 10000),
#   rpl_semi_sync_master_wait_no_slave=$REPL_SEMI_SYNC_WAIT_NO_SLAVE (default 0),
#   init_rpl_role MASTER (a at start) or SLAVE (b at start, any `restart`).
#   Semi-sync is built into MariaDB 10.11 (no INSTALL PLUGIN).
# Other knobs: REPL_WAIT_TIMEOUT (s, default 30) bounds every wait below.
#
# Semi-sync fallback: a primary waits for a replica's ACK at most
# rpl_semi_sync_master_timeout; when that expires the commit returns anyway,
# Rpl_semi_sync_master_status turns OFF and later commits are asynchronous
# (no wait) until a semi-sync replica connects and catches up, which turns it
# ON again.  So a primary never hangs for good, and AFTER_SYNC is lossless
# only while the replica ACKs.
# With no replica connected at all (Rpl_semi_sync_master_clients=0), MariaDB's
# default rpl_semi_sync_master_wait_no_slave=ON still waits the full timeout
# once (then falls back to async as above); this script sets it OFF, so such a
# primary -- e.g. the replica just promoted after the primary died, or a
# primary whose replica was killed -- commits asynchronously at once, and
# semi-sync comes back ON when a replica connects (e.g. after `replicate`).
# The reason: a replica also has semi-sync master enabled (so it needs no
# reconfiguration when promoted), and with wait_no_slave=ON its SQL thread
# waits for ACKs from replicas of its own that do not exist: the first
# replicated transaction after each server start stalled it for the full
# timeout (replica lag of 10 s; `start` took 13 s instead of 3).
# REPL_SEMI_SYNC_WAIT_NO_SLAVE=1 restores the MariaDB default: then the first
# transaction a server binlogs with no replica attached (on a replica: the
# first one its SQL thread applies; on a primary whose replica died: its next
# commit) waits the full timeout, once, before the fallback to async.  A
# replica connected but not ACKing (e.g. SIGSTOPped) makes the primary wait up
# to the timeout in either setting.
#
# Lossless failover: with AFTER_SYNC a commit is acknowledged to the client
# only after the replica has the transaction in its relay log, so after a
# SIGKILL of the primary `promote` (which first applies the relay log) has
# every acknowledged row.  A transaction that reached the killed primary's
# binlog but was never acknowledged (it is only prepared in InnoDB) would,
# by default, be committed by crash recovery: the old primary would then hold
# a GTID the new one lacks, and under gtid_strict_mode it could not replicate
# from it (error 1236 "... which is not in the master's binlog").  `restart`
# therefore starts the server with --init-rpl-role=SLAVE (plus
# rpl_semi_sync_slave_enabled=1): MariaDB's semi-sync crash recovery
# (MDEV-21117) then rolls such transactions back and truncates the binlog
# before them ("Successfully truncated binlog file ..." in the error log).  In
# 10.11.19 rpl_semi_sync_slave_enabled=1 alone does NOT do this; the role
# option is required.
#
# Accounts (on both servers, created without binary logging):
#   root@localhost (socket), rmtest/rmtest-pw (ALL on *.*), rmtest2/rmtest2-pw
#   (ALL on rmtest.*) -- from sandbox-mariadb.sh;
#   rmapp/rmapp-pw (ALL on rmtest.*), @127.0.0.1 and @localhost;
#   repl/repl-pw (REPLICATION SLAVE) @127.0.0.1, used by the replicas.
# read_only: in MariaDB 10.11 read_only=1 refuses writes (ERROR 1290) to any
# user without the READ_ONLY ADMIN privilege; SUPER no longer implies it, but
# GRANT ALL ON *.* does.  So root and rmtest CAN write on the replica; rmapp
# and rmtest2 cannot.  Tests that check which server takes writes must use
# rmapp.  Such a write on the replica (by root or rmtest) gets a GTID of the
# replica's server_id: the next transaction from the primary then stops the
# replica's SQL thread under gtid_strict_mode ("An attempt was made to binlog
# GTID 0-1-N which would create an out-of-order sequence number with existing
# GTID 0-2-M").
#
# GTID: everything is in domain 0.  `replicate` sets gtid_slave_pos from the
# server's own gtid_binlog_pos (log_slave_updates puts what it applied there
# too), so the same command works for a former primary, whose gtid_slave_pos
# is empty or stale.  After `promote`, the new primary continues domain 0's
# sequence numbers with its own server_id (0-2-N after 0-1-N-1), which strict
# mode accepts.
set -euo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SANDBOX=$HERE/sandbox-mariadb.sh
SEMI_SYNC_TIMEOUT=${REPL_SEMI_SYNC_TIMEOUT:-10000}
SEMI_SYNC_WAIT_NO_SLAVE=${REPL_SEMI_SYNC_WAIT_NO_SLAVE:-0}
WAIT_TIMEOUT=${REPL_WAIT_TIMEOUT:-30}   # seconds for replication to start / catch up

die() { echo "$PROG: error: $*" >&2; exit 1; }
log() { echo "$PROG: $*" >&2; }

usage() {
    cat >&2 <<EOF
usage: $PROG start|stop|status DIR
       $PROG kill|restart|promote|demote|stop-sql|start-sql NAME DIR
       $PROG replicate NAME FROM DIR
NAME, FROM: a or b
EOF
    exit 2
}

server_id() { [[ $1 == a ]] && echo 1 || echo 2; }
check_name() { [[ $1 == a || $1 == b ]] || die "server name must be a or b, not '$1'"; }

sock() { echo "$DIR/$1/mysql.sock"; }

port_of() {
    [[ -s $DIR/$1/port ]] || die "$DIR/$1/port is missing (was the pair started?)"
    cat "$DIR/$1/port"
}

# pid of server $1 if it is running, empty otherwise (as sandbox-mariadb.sh).
running_pid() {
    local pidfile=$DIR/$1/mariadb.pid pid
    [[ -s $pidfile ]] || return 0
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        echo "$pid"
    fi
}

is_up() {
    [[ -n $(running_pid "$1") ]] &&
        mariadb-admin --no-defaults --protocol=socket --socket="$(sock "$1")" \
            --user=root --connect-timeout=2 ping >/dev/null 2>&1
}

# sql NAME STATEMENTS: run as root over the socket, tab-separated, no header.
sql() {
    mariadb --no-defaults --protocol=socket --socket="$(sock "$1")" \
        --user=root --batch --skip-column-names -e "$2"
}

# One field of SHOW SLAVE STATUS on NAME (empty if no replication configured).
slave_field() {
    mariadb --no-defaults --protocol=socket --socket="$(sock "$1")" \
        --user=root --batch -e "SHOW SLAVE STATUS" 2>/dev/null |
        awk -F '\t' -v f="$2" '
            NR == 1 { for (i = 1; i <= NF; i++) if ($i == f) c = i; next }
            NR == 2 && c { print $c; exit }'
}

mariadbd_args() { # NAME READ_ONLY ROLE
    echo "--log-bin=mariadb-bin --log-bin-index=mariadb-bin.index" \
        "--relay-log=relay-bin --relay-log-index=relay-bin.index" \
        "--binlog-format=ROW --log-slave-updates=1" \
        "--gtid-domain-id=0 --gtid-strict-mode=1" \
        "--skip-slave-start --slave-net-timeout=10" \
        "--rpl-semi-sync-master-enabled=1 --rpl-semi-sync-slave-enabled=1" \
        "--rpl-semi-sync-master-wait-point=AFTER_SYNC" \
        "--rpl-semi-sync-master-timeout=$SEMI_SYNC_TIMEOUT" \
        "--rpl-semi-sync-master-wait-no-slave=$SEMI_SYNC_WAIT_NO_SLAVE" \
        "--report-host=127.0.0.1" \
        "--read-only=$2 --init-rpl-role=$3"
}

# sandbox_start NAME READ_ONLY ROLE [KEEP_PORT]: start NAME through sandbox-mariadb.sh.
sandbox_start() {
    SANDBOX_SERVER_ID=$(server_id "$1") \
        SANDBOX_EXTRA_ARGS=$(mariadbd_args "$1" "$2" "$3") \
        SANDBOX_KEEP_PORT=${4:-0} \
        "$SANDBOX" start "$DIR/$1" >/dev/null
}

# Accounts this script adds on every server, never binary-logged.
provision() {
    sql "$1" "
        SET sql_log_bin=0;
        CREATE USER IF NOT EXISTS 'repl'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('repl-pw');
        GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1';
        CREATE USER IF NOT EXISTS 'rmapp'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmapp-pw');
        CREATE USER IF NOT EXISTS 'rmapp'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('rmapp-pw');
        GRANT ALL ON rmtest.* TO 'rmapp'@'127.0.0.1';
        GRANT ALL ON rmtest.* TO 'rmapp'@'localhost';
        FLUSH LOCAL PRIVILEGES;" ||
        die "provisioning $1 failed (error log: $DIR/$1/error.log)"
}

write_env() {
    local tmp=$DIR/env.tmp
    {
        echo "export RINGMUX_TEST_REPL_DIR=$DIR"
        echo "export RINGMUX_TEST_REPL_A_PORT=$(port_of a)"
        echo "export RINGMUX_TEST_REPL_B_PORT=$(port_of b)"
        echo "export RINGMUX_TEST_REPL_A_SOCKET=$(sock a)"
        echo "export RINGMUX_TEST_REPL_B_SOCKET=$(sock b)"
    } >"$tmp"
    mv -f "$tmp" "$DIR/env"
}

show_repl_errors() {
    local n=$1
    log "$n: Slave_IO_Running=$(slave_field "$n" Slave_IO_Running)" \
        "Slave_SQL_Running=$(slave_field "$n" Slave_SQL_Running)"
    log "$n: Last_IO_Error: $(slave_field "$n" Last_IO_Error)"
    log "$n: Last_SQL_Error: $(slave_field "$n" Last_SQL_Error)"
    log "$n: gtid_binlog_pos=$(sql "$n" 'SELECT @@gtid_binlog_pos' 2>/dev/null)" \
        "gtid_slave_pos=$(sql "$n" 'SELECT @@gtid_slave_pos' 2>/dev/null)"
}

# wait_threads NAME IO SQL: until Slave_IO_Running/Slave_SQL_Running are
# both as given (IO "-" = don't care).
wait_threads() {
    local n=$1 want_io=$2 want_sql=$3 i io sq
    for ((i = 0; i < WAIT_TIMEOUT * 10; i++)); do
        io=$(slave_field "$n" Slave_IO_Running)
        sq=$(slave_field "$n" Slave_SQL_Running)
        if [[ ($want_io == - || $io == "$want_io") && $sq == "$want_sql" ]]; then
            return 0
        fi
        # A thread that stopped on an error will not come back by itself.
        if [[ $want_io == Yes && $io == No && -n $(slave_field "$n" Last_IO_Error) ]] ||
           [[ $want_sql == Yes && $sq == No && -n $(slave_field "$n" Last_SQL_Error) ]]; then
            break
        fi
        sleep 0.1
    done
    show_repl_errors "$n"
    die "$n: replication threads did not reach IO=$want_io SQL=$want_sql"
}

# ---------------------------------------------------------------------------

do_replicate() { # NAME FROM
    local n=$1 from=$2 from_port
    [[ $n != "$from" ]] || die "a server cannot replicate from itself"
    is_up "$n" || die "$n is not running (use: $PROG restart $n DIR)"
    is_up "$from" || die "$from is not running"
    from_port=$(port_of "$from")
    # The GTID position NAME has is its binlog position (log_slave_updates
    # puts everything it applied there too); for a former primary
    # gtid_slave_pos would be stale or empty, so take the binlog's.
    sql "$n" "
        SET GLOBAL read_only=1;
        STOP SLAVE;
        RESET SLAVE ALL;
        SET GLOBAL gtid_slave_pos=@@GLOBAL.gtid_binlog_pos;
        CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=$from_port,
            MASTER_USER='repl', MASTER_PASSWORD='repl-pw',
            MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1,
            MASTER_HEARTBEAT_PERIOD=1;
        START SLAVE;" ||
        die "configuring $n as a replica of $from failed"
    wait_threads "$n" Yes Yes
    log "$n replicates from $from (port $from_port)"
}

# Wait until the SQL thread of NAME has applied everything its relay log holds
# (and, if its primary is still up, everything that primary has: planned
# switchover after `demote`).
drain_relay_log() {
    local n=$1 i state rd ex mf rf mport m pos
    mport=$(slave_field "$n" Master_Port)
    [[ -n $mport ]] || return 0
    for m in a b; do
        [[ $m != "$n" && -s $DIR/$m/port && $(<"$DIR/$m/port") == "$mport" ]] || continue
        is_up "$m" || continue
        [[ $(slave_field "$n" Slave_IO_Running) == Yes ]] || continue
        pos=$(sql "$m" "SELECT @@GLOBAL.gtid_binlog_pos") || continue
        if [[ $(sql "$n" "SELECT MASTER_GTID_WAIT('$pos', $WAIT_TIMEOUT)") != 0 ]]; then
            show_repl_errors "$n"
            die "$n did not reach its primary $m's position $pos within ${WAIT_TIMEOUT}s"
        fi
    done
    # No more events from a (possibly dead or demoted) primary.
    sql "$n" "STOP SLAVE IO_THREAD" >/dev/null || true
    [[ $(slave_field "$n" Slave_SQL_Running) == Yes ]] ||
        sql "$n" "START SLAVE SQL_THREAD" || true
    for ((i = 0; i < WAIT_TIMEOUT * 10; i++)); do
        state=$(slave_field "$n" Slave_SQL_Running_State)
        rd=$(slave_field "$n" Read_Master_Log_Pos)
        ex=$(slave_field "$n" Exec_Master_Log_Pos)
        mf=$(slave_field "$n" Master_Log_File)
        rf=$(slave_field "$n" Relay_Master_Log_File)
        if [[ $rd == "$ex" && $mf == "$rf" ]] ||
           [[ $state == *"read all relay log"* ]]; then
            return 0
        fi
        if [[ $(slave_field "$n" Slave_SQL_Running) != Yes ]]; then
            show_repl_errors "$n"
            die "$n: the SQL thread stopped before applying its relay log"
        fi
        sleep 0.1
    done
    show_repl_errors "$n"
    die "$n: relay log not applied within ${WAIT_TIMEOUT}s"
}

do_promote() {
    local n=$1
    is_up "$n" || die "$n is not running"
    drain_relay_log "$n"
    sql "$n" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=0;" ||
        die "promoting $n failed"
    log "$n promoted (gtid_binlog_pos $(sql "$n" 'SELECT @@gtid_binlog_pos'))"
}

do_demote() {
    is_up "$1" || die "$1 is not running"
    sql "$1" "SET GLOBAL read_only=1" || die "demoting $1 failed"
    log "$1 is read_only"
}

do_stop_sql() {
    is_up "$1" || die "$1 is not running"
    sql "$1" "STOP SLAVE SQL_THREAD" || die "STOP SLAVE SQL_THREAD on $1 failed"
    wait_threads "$1" - No
}

do_start_sql() {
    is_up "$1" || die "$1 is not running"
    sql "$1" "START SLAVE SQL_THREAD" || die "START SLAVE SQL_THREAD on $1 failed"
    wait_threads "$1" - Yes
}

# Is process $1 running (present and not a zombie)?
alive() {
    local state
    state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n $state && $state != Z ]]
}

do_kill() {
    local n=$1 pid i
    pid=$(running_pid "$n")
    if [[ -z $pid ]]; then
        log "$n is not running"
        return 0
    fi
    kill -KILL "$pid" 2>/dev/null || true
    # Dead once it is a zombie: its sockets are closed by then, and whoever
    # reaps it (init, here) may take its time (kill -0 still succeeds).
    for ((i = 0; i < 400; i++)); do
        alive "$pid" || break
        sleep 0.01
    done
    alive "$pid" && die "mariadbd $pid ($n) survived SIGKILL"
    rm -f "$DIR/$n/mariadb.pid"
    log "$n killed (pid $pid)"
}

do_restart() {
    local n=$1
    [[ -s $DIR/$n/port && -d $DIR/$n/data ]] || die "$DIR/$n has no server to restart"
    if [[ -n $(running_pid "$n") ]]; then
        "$SANDBOX" stop "$DIR/$n" >/dev/null 2>&1 || die "stopping $n failed"
    fi
    # init_rpl_role=SLAVE: crash recovery cuts unacknowledged transactions
    # off the binlog (see the header).
    sandbox_start "$n" 1 SLAVE 1 || die "starting $n failed (error log: $DIR/$n/error.log)"
    sql "$n" "STOP SLAVE; RESET SLAVE ALL; SET GLOBAL read_only=1;" ||
        die "clearing the replication configuration of $n failed"
    provision "$n"
    log "$n restarted read_only (port $(port_of "$n"))"
    port_of "$n"
}

do_stop() {
    local n
    [[ -d $DIR ]] || { log "$DIR does not exist, nothing to stop"; return 0; }
    # In parallel: each waits for its own process to exit.
    for n in a b; do
        [[ -d $DIR/$n ]] || continue
        "$SANDBOX" stop "$DIR/$n" 2>/dev/null || log "stopping $n failed" &
    done
    wait
    log "stopped ($DIR)"
}

do_start() {
    local n i t0 gtid
    t0=$(date +%s.%N)
    mkdir -p "$DIR"
    DIR=$(cd "$DIR" && pwd)
    if is_up a && is_up b; then
        write_env
        log "already running"
        echo "$(port_of a) $(port_of b)"
        return 0
    fi
    do_stop >/dev/null 2>&1
    rm -rf "$DIR/a/data" "$DIR/b/data" "$DIR/env"
    mkdir -p "$DIR/a" "$DIR/b"

    # a first: b's port pick then sees a's port in use.
    sandbox_start a 0 MASTER || die "starting a failed (error log: $DIR/a/error.log)"
    sandbox_start b 1 SLAVE || die "starting b failed (error log: $DIR/b/error.log)"
    for n in a b; do
        provision "$n"
        # Nothing above went to the binary logs; make sure both start empty.
        sql "$n" "RESET MASTER" || die "RESET MASTER on $n failed"
    done
    do_replicate b a

    # Semi-sync needs the replica registered as a semi-sync client on a.
    for ((i = 0; i < WAIT_TIMEOUT * 10; i++)); do
        [[ $(sql a "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_clients'" | cut -f2) -ge 1 ]] && break
        sleep 0.1
    done
    ((i < WAIT_TIMEOUT * 10)) || die "b never connected to a as a semi-sync replica"

    sql a "CREATE TABLE IF NOT EXISTS rmtest.repl_check (
               id INT AUTO_INCREMENT PRIMARY KEY,
               note VARCHAR(64) NOT NULL,
               at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)) ENGINE=InnoDB;
           INSERT INTO rmtest.repl_check (note) VALUES ('start');" ||
        die "write on a failed"
    gtid=$(sql a "SELECT @@gtid_binlog_pos")
    [[ $(sql b "SELECT MASTER_GTID_WAIT('$gtid', $WAIT_TIMEOUT)") == 0 ]] || {
        show_repl_errors b
        die "b did not reach a's position $gtid within ${WAIT_TIMEOUT}s"
    }
    [[ $(sql b "SELECT COUNT(*) FROM rmtest.repl_check WHERE note='start'") -ge 1 ]] ||
        die "the row written on a is not on b"

    write_env
    log "pair ready in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s:" \
        "a port $(port_of a) (primary), b port $(port_of b) (replica), dir $DIR"
    echo "$(port_of a) $(port_of b)"
}

do_status() {
    local n port pid ro role io sq mport rc=0
    [[ -d $DIR ]] || { log "$DIR does not exist"; return 1; }
    for n in a b; do
        port=$(cat "$DIR/$n/port" 2>/dev/null || echo -)
        if ! is_up "$n"; then
            echo "$n $port down read_only=- - io=- sql=-"
            rc=1
            continue
        fi
        ro=$(sql "$n" "SELECT @@GLOBAL.read_only")
        mport=$(slave_field "$n" Master_Port)
        if [[ -n $mport ]]; then
            io=$(slave_field "$n" Slave_IO_Running)
            sq=$(slave_field "$n" Slave_SQL_Running)
            echo "$n $port running read_only=$ro replica io=$io sql=$sq master=$mport"
        else
            [[ $ro == 0 ]] && role=primary || role=read_only
            echo "$n $port running read_only=$ro $role io=- sql=-"
        fi
    done
    return $rc
}

# ---------------------------------------------------------------------------

if ! command -v mariadb >/dev/null 2>&1 || ! command -v mariadb-admin >/dev/null 2>&1; then
    die "mariadb client not found; install mariadb-server and mariadb-client"
fi
[[ -x $SANDBOX ]] || die "$SANDBOX not found"

[[ $# -ge 2 ]] || usage
CMD=$1
case $CMD in
start | stop | status)
    [[ $# -eq 2 ]] || usage
    DIR=$2
    ;;
kill | restart | promote | demote | stop-sql | start-sql)
    [[ $# -eq 3 ]] || usage
    NAME=$2
    DIR=$3
    check_name "$NAME"
    ;;
replicate)
    [[ $# -eq 4 ]] || usage
    NAME=$2
    FROM=$3
    DIR=$4
    check_name "$NAME"
    check_name "$FROM"
    ;;
*) usage ;;
esac
[[ -n $DIR ]] || usage
if [[ $CMD != start && $CMD != stop && $CMD != status ]]; then
    [[ -d $DIR ]] || die "$DIR does not exist"
fi
[[ -d $DIR ]] && DIR=$(cd "$DIR" && pwd)

case $CMD in
start) do_start ;;
stop) do_stop ;;
status) do_status ;;
kill) do_kill "$NAME" ;;
restart) do_restart "$NAME" ;;
promote) do_promote "$NAME" ;;
demote) do_demote "$NAME" ;;
replicate) do_replicate "$NAME" "$FROM" ;;
stop-sql) do_stop_sql "$NAME" ;;
start-sql) do_start_sql "$NAME" ;;
esac
