#!/usr/bin/env bash
# Self-check of scripts/sandbox-replication.sh: starts a pair in a temporary
# directory, exercises replication, semi-sync, read_only, a SIGKILL failover
# with a writer running, the old primary's rejoin and replica lag, then stops
# everything and removes the directory.  One line per check; exit 0 only if
# every check passed.
#
#   scripts/sandbox-replication-selftest.sh
#
# The conditions given to check ... eval '...' expand when evaluated, on purpose.
# shellcheck disable=SC2016,SC2034
set -uo pipefail

PROG=${0##*/}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPL=$HERE/sandbox-replication.sh
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-repl-selftest.XXXXXX") || exit 1
LOG=$DIR/selftest.log   # stderr of the commands run
PASSED=0
FAILED=0
WRITER=""

cleanup() {
    [[ -n $WRITER ]] && kill "$WRITER" 2>/dev/null
    "$REPL" stop "$DIR" >/dev/null 2>&1
    if ((FAILED)); then
        # Keep the evidence: copy the logs next to the temp dir's name.
        local keep=${DIR}.logs
        mkdir -p "$keep"
        cp "$LOG" "$keep/" 2>/dev/null
        cp "$DIR/a/error.log" "$keep/a-error.log" 2>/dev/null
        cp "$DIR/b/error.log" "$keep/b-error.log" 2>/dev/null
        echo "logs kept in $keep" >&2
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

ok() { PASSED=$((PASSED + 1)); echo "ok   $*"; }
bad() { FAILED=$((FAILED + 1)); echo "FAIL $*"; }
# check "what" "detail" CONDITION...: CONDITION is run as a command.
check() {
    local what=$1 detail=$2
    shift 2
    if "$@"; then ok "$what${detail:+ ($detail)}"; else bad "$what${detail:+ ($detail)}"; fi
}

repl() { "$REPL" "$@" 2>>"$LOG"; }
port() { cat "$DIR/$1/port"; }
# root over the socket
rq() { mariadb --no-defaults --protocol=socket --socket="$DIR/$1/mysql.sock" -uroot -BN -e "$2" 2>>"$LOG"; }
# rmapp over TCP (what a test client through the proxy would be)
app() {
    mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$(port "$1")" -urmapp -prmapp-pw \
        -BN -e "$2" 2>&1
}
var() { rq "$1" "SELECT @@GLOBAL.$2"; }
stat() { rq "$1" "SHOW GLOBAL STATUS LIKE '$2'" | cut -f2; }
slave() { # NAME FIELD
    mariadb --no-defaults --protocol=socket --socket="$DIR/$1/mysql.sock" -uroot -B \
        -e "SHOW SLAVE STATUS" 2>>"$LOG" |
        awk -F '\t' -v f="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == f) c = i; next }
                               NR == 2 && c { print $c }'
}
gtid_wait() { # NAME POS: 0 once NAME applied POS
    [[ $(rq "$1" "SELECT MASTER_GTID_WAIT('$2', 20)") == 0 ]]
}
status_line() { repl status "$DIR" | awk -v n="$1" '$1 == n'; }
eq() { [[ $1 == "$2" ]]; }
pid_gone() { ! kill -0 "$1" 2>/dev/null; }

echo "# $PROG: dir $DIR, $(mariadbd --version 2>/dev/null || /usr/sbin/mariadbd --version)"

# --- 1. start ----------------------------------------------------------------
t=$(now)
ports=$(repl start "$DIR")
rc=$?
dt=$(since "$t")
if ((rc != 0)) || ! [[ $ports =~ ^[0-9]+\ [0-9]+$ ]]; then
    bad "start: exit $rc, printed '$ports' (see $LOG)"
    cat "$LOG" >&2
    exit 1
fi
read -r PA PB <<<"$ports"
check "start: pair up in ${dt}s, prints ports" "a=$PA b=$PB" \
    eq "$PA $PB" "$(port a) $(port b)"
check "start: well under 30 s" "${dt}s" awk -v d="$dt" 'BEGIN { exit !(d < 30) }'

env_expect="export RINGMUX_TEST_REPL_DIR=$DIR
export RINGMUX_TEST_REPL_A_PORT=$PA
export RINGMUX_TEST_REPL_B_PORT=$PB
export RINGMUX_TEST_REPL_A_SOCKET=$DIR/a/mysql.sock
export RINGMUX_TEST_REPL_B_SOCKET=$DIR/b/mysql.sock"
check "env: DIR/env has the 5 RINGMUX_TEST_REPL_* exports" "" \
    eq "$(cat "$DIR/env" 2>/dev/null)" "$env_expect"

check "status: a primary, b replica of a with IO/SQL running" "$(repl status "$DIR" | tr '\n' ';')" \
    eq "$(repl status "$DIR")" "a $PA running read_only=0 primary io=- sql=-
b $PB running read_only=1 replica io=Yes sql=Yes master=$PA"

# --- 2. server configuration ------------------------------------------------
for n in a b; do
    cfg=$(rq "$n" "SELECT CONCAT_WS(' ', @@server_id, @@log_bin, @@binlog_format, @@log_slave_updates,
                   @@gtid_strict_mode, @@rpl_semi_sync_master_enabled, @@rpl_semi_sync_slave_enabled,
                   @@rpl_semi_sync_master_wait_point, @@rpl_semi_sync_master_timeout)")
    sid=1; [[ $n == b ]] && sid=2
    check "config $n: server_id log_bin ROW log_slave_updates gtid_strict semi-sync master+slave AFTER_SYNC timeout" \
        "$cfg" eq "$cfg" "$sid ON ROW ON ON ON ON AFTER_SYNC 10000"
done
nvars=$(rq a "SHOW VARIABLES LIKE 'rpl_semi_sync%'" | wc -l)
check "semi-sync built in (no INSTALL PLUGIN)" "$nvars rpl_semi_sync_* variables, mysql.plugin empty" \
    eval '((nvars >= 9)) && [[ $(rq a "SELECT COUNT(*) FROM mysql.plugin") == 0 ]]'

# --- 3. replication and semi-sync -------------------------------------------
check "semi-sync ON on a with b connected" \
    "Rpl_semi_sync_master_status=$(stat a Rpl_semi_sync_master_status) clients=$(stat a Rpl_semi_sync_master_clients)" \
    eq "$(stat a Rpl_semi_sync_master_status) $(stat a Rpl_semi_sync_master_clients)" "ON 1"
check "semi-sync slave ON on b" "Rpl_semi_sync_slave_status=$(stat b Rpl_semi_sync_slave_status)" \
    eq "$(stat b Rpl_semi_sync_slave_status)" ON

yes0=$(stat a Rpl_semi_sync_master_yes_tx)
no0=$(stat a Rpl_semi_sync_master_no_tx)
out=$(app a "CREATE TABLE rmtest.selftest (id INT PRIMARY KEY, note VARCHAR(32)) ENGINE=InnoDB;
             INSERT INTO rmtest.selftest VALUES (1, 'on a');")
gtid=$(var a gtid_binlog_pos)
gtid_wait b "$gtid"
check "write on a (rmapp) is read on b" "${out:+$out; }a at $gtid" \
    eq "$(rq b "SELECT note FROM rmtest.selftest WHERE id=1")" "on a"
check "a's commits waited for b's ACK (semi-sync, not async)" \
    "yes_tx $yes0->$(stat a Rpl_semi_sync_master_yes_tx), no_tx $no0->$(stat a Rpl_semi_sync_master_no_tx)" \
    eq "$(stat a Rpl_semi_sync_master_no_tx) $(($(stat a Rpl_semi_sync_master_yes_tx) >= yes0 + 2))" "$no0 1"

out=$(app b "INSERT INTO rmtest.selftest VALUES (2, 'on b')")
check "rmapp cannot write on replica b" "$(grep -o 'ERROR 1290.*' <<<"$out")" eval '[[ $out == *"ERROR 1290"* ]]'

# --- 4. failover: SIGKILL a while a writer runs, promote b -----------------
app a "CREATE TABLE rmtest.acked (id INT PRIMARY KEY) ENGINE=InnoDB" >/dev/null
# One client, statements in order: "SELECT i" prints only once INSERT i was
# acknowledged to the client (-n: flush after each statement).
seq 1 10000000 | awk '{ print "INSERT INTO rmtest.acked VALUES (" $1 "); SELECT " $1 ";" }' |
    mariadb --no-defaults --protocol=tcp -h127.0.0.1 -P"$PA" -urmapp -prmapp-pw -BN -n \
        >"$DIR/acked.txt" 2>"$DIR/writer.err" &
WRITER=$!
for ((i = 0; i < 200; i++)); do
    (($(wc -l <"$DIR/acked.txt") >= 500)) && break
    sleep 0.05
done
pid_a=$(cat "$DIR/a/mariadb.pid")
t=$(now)
repl kill a "$DIR"
rc=$?
dt=$(since "$t")
wait "$WRITER" 2>/dev/null
WRITER=""
check "kill a: SIGKILL, process gone" "exit $rc, pid $pid_a, ${dt}s" eval '((rc == 0)) && pid_gone "$pid_a"'
check "writer lost its connection" "$(grep -o 'ERROR.*' "$DIR/writer.err" | head -n 1)" \
    eval 'grep -q "ERROR 20[01][0-9]" "$DIR/writer.err"'
check "status: a down" "$(status_line a)" eq "$(status_line a)" "a $PA down read_only=- - io=- sql=-"

t=$(now)
repl promote b "$DIR"
rc=$?
check "promote b" "exit $rc, $(since "$t")s, b at $(var b gtid_binlog_pos)" \
    eq "$rc $(status_line b)" "0 b $PB running read_only=0 primary io=- sql=-"

nacked=$(wc -l <"$DIR/acked.txt")
rq b "SELECT id FROM rmtest.acked ORDER BY id" >"$DIR/on_b.txt"
missing=$(comm -23 <(sort "$DIR/acked.txt") <(sort "$DIR/on_b.txt") | wc -l)
extra=$(comm -13 <(sort "$DIR/acked.txt") <(sort "$DIR/on_b.txt") | tr '\n' ' ')
check "every row acknowledged on a before the kill is on b" \
    "$nacked acknowledged, $missing missing, not-acknowledged but on b: ${extra:-none}" \
    eval '((nacked >= 500 && missing == 0))'

t=$(now)
out=$(app b "INSERT INTO rmtest.selftest VALUES (3, 'on promoted b')")
dt=$(since "$t")
check "rmapp can write on promoted b, without a semi-sync stall" "${out:+$out, }${dt}s" \
    eval '[[ -z $out ]] && awk -v d="$dt" "BEGIN { exit !(d < 2) }"'

# --- 5. old primary rejoins as a replica of b ------------------------------
t=$(now)
out=$(repl restart a "$DIR")
rc=$?
a_pos=$(var a gtid_binlog_pos)
check "restart a: same port, read_only, no replication" "exit $rc, $(since "$t")s, a at $a_pos" \
    eq "$rc $out $(status_line a)" "0 $PA a $PA running read_only=1 read_only io=- sql=-"
rq a "SELECT id FROM rmtest.acked ORDER BY id" >"$DIR/on_a.txt"
only_a=$(comm -23 <(sort "$DIR/on_a.txt") <(sort "$DIR/on_b.txt") | wc -l)
trunc=$(grep -i "truncat" "$DIR/a/error.log" | tail -n 1 | sed 's/^.*\] //' | cut -c 1-150)
check "a has no row that b lacks (an unacknowledged tail is rolled back at restart)" \
    "rows on a $(wc -l <"$DIR/on_a.txt"), on b $(wc -l <"$DIR/on_b.txt"), only on a $only_a; a's log: ${trunc:-no truncation}" \
    eval '((only_a == 0))'

t=$(now)
repl replicate a b "$DIR"
rc=$?
check "replicate a b: a replica of b, IO/SQL running" "exit $rc, $(since "$t")s" \
    eq "$rc $(status_line a)" "0 a $PA running read_only=1 replica io=Yes sql=Yes master=$PB"
app b "INSERT INTO rmtest.selftest VALUES (4, 'on b after rejoin')" >/dev/null
gtid_wait a "$(var b gtid_binlog_pos)"
check "write on b is read on a" "" eq "$(rq a "SELECT note FROM rmtest.selftest WHERE id=4")" "on b after rejoin"
sum_a=$(rq a "CHECKSUM TABLE rmtest.acked, rmtest.selftest" | cut -f2 | tr '\n' ' ')
sum_b=$(rq b "CHECKSUM TABLE rmtest.acked, rmtest.selftest" | cut -f2 | tr '\n' ' ')
check "a and b hold the same rows" "checksums a: $sum_a b: $sum_b" eq "$sum_a" "$sum_b"
check "semi-sync ON on b with a connected" \
    "Rpl_semi_sync_master_status=$(stat b Rpl_semi_sync_master_status) clients=$(stat b Rpl_semi_sync_master_clients)" \
    eq "$(stat b Rpl_semi_sync_master_status) $(stat b Rpl_semi_sync_master_clients)" "ON 1"
out=$(app a "INSERT INTO rmtest.selftest VALUES (5, 'on a')")
check "rmapp cannot write on replica a" "$(grep -o 'ERROR 1290.*' <<<"$out")" eval '[[ $out == *"ERROR 1290"* ]]'

# --- 6. replica lag: stop-sql / start-sql ---------------------------------
repl stop-sql a "$DIR"
rc=$?
check "stop-sql a: SQL thread stopped, IO running" "exit $rc, $(status_line a)" \
    eq "$rc $(slave a Slave_IO_Running) $(slave a Slave_SQL_Running)" "0 Yes No"
no0=$(stat b Rpl_semi_sync_master_no_tx)
t=$(now)
app b "INSERT INTO rmtest.selftest VALUES (6, 'lagging')" >/dev/null
dt=$(since "$t")
sleep 0.5
check "while stopped, a write on b is acked but not applied on a" \
    "${dt}s, no_tx $no0->$(stat b Rpl_semi_sync_master_no_tx), rows on a with id 6: $(rq a "SELECT COUNT(*) FROM rmtest.selftest WHERE id=6")" \
    eq "$(rq a "SELECT COUNT(*) FROM rmtest.selftest WHERE id=6") $(stat b Rpl_semi_sync_master_no_tx)" "0 $no0"
repl start-sql a "$DIR"
rc=$?
gtid_wait a "$(var b gtid_binlog_pos)"
check "start-sql a: SQL thread runs, lag gone" "exit $rc" \
    eq "$rc $(slave a Slave_SQL_Running) $(rq a "SELECT note FROM rmtest.selftest WHERE id=6")" "0 Yes lagging"

# --- 7. reverse failover with a transaction that was never acknowledged ----
# b (primary) waits for an ACK that cannot come: a's IO thread is stopped
# and wait_no_slave=ON keeps semi-sync on without replicas.  The transaction
# is in b's binlog (AFTER_SYNC) but not on a, and its client gets no OK.
rq b "SET GLOBAL rpl_semi_sync_master_wait_no_slave=ON"
rq a "STOP SLAVE IO_THREAD"
for ((i = 0; i < 100; i++)); do
    [[ $(stat b Rpl_semi_sync_master_clients) == 0 ]] && break
    sleep 0.05
done
app b "INSERT INTO rmtest.selftest VALUES (7, 'never acknowledged')" >"$DIR/stuck.out" &
stuck=$!
for ((i = 0; i < 100; i++)); do
    [[ $(stat b Rpl_semi_sync_master_wait_sessions) == 1 ]] && break
    sleep 0.05
done
pos_b=$(var b gtid_binlog_pos)
check "b's commit is in its binlog, waiting for an ACK" \
    "wait_sessions=$(stat b Rpl_semi_sync_master_wait_sessions), b at $pos_b, a at $(var a gtid_slave_pos)" \
    eq "$(stat b Rpl_semi_sync_master_wait_sessions)" 1
repl kill b "$DIR"
wait "$stuck"
check "kill b: the waiting client got no OK" "$(grep -o 'ERROR.*' "$DIR/stuck.out")" \
    eval 'grep -q "ERROR 20[01][0-9]" "$DIR/stuck.out"'
repl promote a "$DIR"
rc=$?
check "promote a" "exit $rc, a at $(var a gtid_binlog_pos)" \
    eq "$rc $(status_line a) $(rq a "SELECT COUNT(*) FROM rmtest.selftest WHERE id=7")" \
    "0 a $PA running read_only=0 primary io=- sql=- 0"
out=$(repl restart b "$DIR")
rc=$?
trunc=$(grep -i "truncat" "$DIR/b/error.log" | tail -n 1 | sed 's/^.*\] //' | cut -c 1-150)
check "restart b: the unacknowledged transaction is rolled back and cut from its binlog" \
    "exit $rc, b at $(var b gtid_binlog_pos) (was $pos_b); ${trunc:-no truncation logged}" \
    eq "$rc $(rq b "SELECT COUNT(*) FROM rmtest.selftest WHERE id=7") $(var b gtid_binlog_pos)" \
    "0 0 $(var a gtid_binlog_pos)"
repl replicate b a "$DIR"
rc=$?
app a "INSERT INTO rmtest.selftest VALUES (8, 'on a after reverse failover')" >/dev/null
gtid_wait b "$(var a gtid_binlog_pos)"
sum_a=$(rq a "CHECKSUM TABLE rmtest.acked, rmtest.selftest" | cut -f2 | tr '\n' ' ')
sum_b=$(rq b "CHECKSUM TABLE rmtest.acked, rmtest.selftest" | cut -f2 | tr '\n' ' ')
check "replicate b a: b catches up, same rows on both" "exit $rc, $(status_line b)" \
    eq "$rc $sum_a $(rq b "SELECT note FROM rmtest.selftest WHERE id=8")" \
    "0 $sum_b on a after reverse failover"
check "semi-sync ON on a (restarted with init_rpl_role=SLAVE, then promoted) with b connected" \
    "Rpl_semi_sync_master_status=$(stat a Rpl_semi_sync_master_status) clients=$(stat a Rpl_semi_sync_master_clients)" \
    eq "$(stat a Rpl_semi_sync_master_status) $(stat a Rpl_semi_sync_master_clients)" "ON 1"

# --- 8. stop, start again, stop -------------------------------------------
pid_a=$(cat "$DIR/a/mariadb.pid")
pid_b=$(cat "$DIR/b/mariadb.pid")
t=$(now)
repl stop "$DIR"
rc=$?
check "stop: both servers gone" "exit $rc, $(since "$t")s" \
    eval '((rc == 0)) && pid_gone "$pid_a" && pid_gone "$pid_b" && [[ $(repl status "$DIR" | grep -c " down ") == 2 ]]'
repl stop "$DIR"
rc1=$?
repl kill b "$DIR"
rc2=$?
check "stop / kill again on stopped servers are no-ops" "exit $rc1 $rc2" eq "$rc1 $rc2" "0 0"

t=$(now)
ports=$(repl start "$DIR")
rc=$?
dt=$(since "$t")
check "start after stop: fresh pair, same ports" "exit $rc, ${dt}s, $ports" \
    eq "$rc $ports $(status_line b)" "0 $PA $PB b $PB running read_only=1 replica io=Yes sql=Yes master=$PA"
repl kill a "$DIR"
t=$(now)
repl stop "$DIR"
rc=$?
check "stop with a already killed" "exit $rc, $(since "$t")s" \
    eval '((rc == 0)) && [[ $(repl status "$DIR" | grep -c " down ") == 2 ]]'

echo "# $((PASSED + FAILED)) checks: $PASSED passed, $FAILED failed"
((FAILED == 0))
