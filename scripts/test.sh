#!/usr/bin/env bash
# The project's test command: install dependencies, build, run every test.
#
#   scripts/test.sh [-R REGEX] [-E REGEX] [-L LABEL] [-- extra ctest args]
#
#   1. as root with apt-get: install every build/test dependency
#      (skip with RINGMUX_SKIP_INSTALL=1)
#   2. build build/ (Release, as the README documents) and build-asan/
#      (Debug, ASan+UBSan), tests always on; npm packages for the driver tests
#      go to test/drivers/node/node_modules
#   3. start a throwaway MariaDB (scripts/sandbox-mariadb.sh) and a primary/
#      replica pair (scripts/sandbox-replication.sh), torn down on exit
#   4. ctest in build/, then in build-asan/ (skip the latter with RINGMUX_TEST_FAST=1)
#   5. a 10 s libFuzzer smoke run per fuzz target (scripts/fuzz.sh)
#
# -R / -E / -L and anything after `--` go to ctest unchanged.  Exit status is
# non-zero if any build or test failed; the last line is a one-line summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROG=${0##*/}
log() { echo "==> $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

CTEST_ARGS=()
while [[ $# -gt 0 ]]; do
    case $1 in
    -R | -E | -L | -LE)
        [[ $# -ge 2 ]] || die "$1 needs an argument"
        CTEST_ARGS+=("$1" "$2")
        shift 2
        ;;
    --)
        shift
        CTEST_ARGS+=("$@")
        break
        ;;
    -h | --help)
        sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *) die "unknown argument '$1' (try -h)" ;;
    esac
done

JOBS=$(nproc 2>/dev/null || echo 2)

# --- 1. dependencies -------------------------------------------------------
DEPS=(build-essential cmake pkg-config clang liburing-dev libwolfssl-dev
      libmariadb-dev libinih-dev mariadb-server mariadb-client sysbench
      python3 python3-yaml procps openssl groff-base
      # client drivers for test/drivers: PyMySQL, go-sql-driver, Connector/J
      python3-pymysql golang-go golang-github-go-sql-driver-mysql-dev
      libmariadb-java default-jdk-headless)
# Node.js may come from elsewhere (with its own npm, which conflicts with
# Debian's npm package): install Debian's only where none is there.
command -v node >/dev/null 2>&1 || DEPS+=(nodejs)
command -v npm >/dev/null 2>&1 || DEPS+=(npm)
if [[ ${RINGMUX_SKIP_INSTALL:-0} == 1 ]]; then
    log "RINGMUX_SKIP_INSTALL=1: not installing packages"
elif command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
    log "installing build/test dependencies"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # policy-rc.d 101: the mariadb-server package must not start (or restart)
    # the system service; tests only ever use their own sandbox server.
    POLICY=/usr/sbin/policy-rc.d
    POLICY_CREATED=0
    if [[ ! -e $POLICY ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY"
        chmod +x "$POLICY"
        POLICY_CREATED=1
    fi
    rc=0
    apt-get install -y --no-install-recommends "${DEPS[@]}" || rc=$?
    [[ $POLICY_CREATED == 1 ]] && rm -f "$POLICY"
    [[ $rc -eq 0 ]] || die "apt-get install failed (exit $rc)"
else
    log "not root or no apt-get: assuming dependencies are installed (${DEPS[*]})"
fi

# --- 2. build --------------------------------------------------------------
build_tree() { # dir, cmake args...
    local dir=$1
    shift
    log "configuring $dir ($*)"
    cmake -S "$ROOT" -B "$ROOT/$dir" "$@"
    log "building $dir (-j$JOBS)"
    cmake --build "$ROOT/$dir" -j"$JOBS"
}

# Tests are forced on: a build/ left by scripts/quickstart.sh has them off.
build_tree build -DCMAKE_BUILD_TYPE=Release -DRINGMUX_TESTS=ON
if [[ ${RINGMUX_TEST_FAST:-0} != 1 ]]; then
    build_tree build-asan -DCMAKE_BUILD_TYPE=Debug -DRINGMUX_SANITIZE=ON -DRINGMUX_TESTS=ON
fi

log "installing the node driver packages (npm ci in test/drivers/node)"
(cd "$ROOT/test/drivers/node" && npm ci --no-audit --no-fund --loglevel=error) ||
    die "npm ci in test/drivers/node failed"

# --- 3. sandbox MariaDB, and a primary/replica pair -------------------------
SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-sandbox.XXXXXX")
REPL=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-repl.XXXXXX")
# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
    local rc=$?
    "$ROOT/scripts/sandbox-mariadb.sh" stop "$SANDBOX" >/dev/null 2>&1 ||
        echo "$PROG: warning: stopping the sandbox in $SANDBOX failed" >&2
    "$ROOT/scripts/sandbox-replication.sh" stop "$REPL" >/dev/null 2>&1 ||
        echo "$PROG: warning: stopping the replication pair in $REPL failed" >&2
    rm -rf "$SANDBOX" "$REPL"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting sandbox MariaDB in $SANDBOX"
"$ROOT/scripts/sandbox-mariadb.sh" start "$SANDBOX" >/dev/null
# shellcheck disable=SC1091
. "$SANDBOX/env"
log "MariaDB on $RINGMUX_TEST_MYSQL_HOST:$RINGMUX_TEST_MYSQL_PORT"
# Failover tests (test_topology): GTID, semi-synchronous AFTER_SYNC.
log "starting a primary/replica pair in $REPL"
"$ROOT/scripts/sandbox-replication.sh" start "$REPL" >/dev/null ||
    die "could not start the replication pair (scripts/sandbox-replication.sh)"
# shellcheck disable=SC1091
. "$REPL/env"
log "primary on 127.0.0.1:$RINGMUX_TEST_REPL_A_PORT, replica on 127.0.0.1:$RINGMUX_TEST_REPL_B_PORT"

# --- 4. tests --------------------------------------------------------------
declare -a SUMMARY=()
FAILED=0

run_ctest() { # dir, label
    local dir=$1 label=$2 rc=0
    log "ctest in $dir"
    # --no-tests=error: a tree (or a filter) that runs no test fails.
    (cd "$ROOT/$dir" && ctest --output-on-failure --no-tests=error "${CTEST_ARGS[@]}") || rc=$?
    if [[ $rc -eq 0 ]]; then
        SUMMARY+=("$label: ok")
    else
        SUMMARY+=("$label: FAILED")
        FAILED=1
    fi
}

run_ctest build release
if [[ ${RINGMUX_TEST_FAST:-0} != 1 ]]; then
    # A fresh pair: whatever a failed failover case left behind does not
    # carry over into the second tree's run.
    "$ROOT/scripts/sandbox-replication.sh" stop "$REPL" >/dev/null 2>&1 || true
    "$ROOT/scripts/sandbox-replication.sh" start "$REPL" >/dev/null ||
        die "could not restart the replication pair"
    # A small quarantine: RSS-bound tests (slow readers) measure the proxy,
    # not ASan's hold on freed memory.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=16 \
    LSAN_OPTIONS=suppressions=$ROOT/test/lsan.supp:print_suppressions=0 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run_ctest build-asan asan
else
    SUMMARY+=("asan: skipped (RINGMUX_TEST_FAST=1)")
fi

# A short libFuzzer smoke run of every parser of untrusted bytes (longer
# runs: scripts/fuzz.sh with FUZZ_SECONDS).  Skipped with a filter or
# RINGMUX_TEST_FAST=1.
if [[ ${RINGMUX_TEST_FAST:-0} != 1 && ${#CTEST_ARGS[@]} -eq 0 ]]; then
    if FUZZ_SECONDS=${RINGMUX_FUZZ_SECONDS:-10} scripts/fuzz.sh; then
        SUMMARY+=("fuzz: ok")
    else
        SUMMARY+=("fuzz: FAILED")
        FAILED=1
    fi
fi

joined=$(printf '%s; ' "${SUMMARY[@]}")
if [[ $FAILED -eq 0 ]]; then
    echo "test.sh: PASS (${joined%; })"
else
    echo "test.sh: FAIL (${joined%; })"
fi
exit "$FAILED"
