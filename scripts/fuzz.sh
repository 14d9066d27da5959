#!/usr/bin/env bash
# Build and run the libFuzzer targets (test/fuzz/fuzz_*.c).
#
#   scripts/fuzz.sh [NAME...]      e.g. scripts/fuzz.sh fuzz_response
#
#   1. build each target with clang -fsanitize=fuzzer,address,undefined
#      against the src/ files it needs, into build-fuzz/NAME
#   2. run it for FUZZ_SECONDS (default 30) on the corpus build-fuzz/corpus/NAME
#      (kept between runs; test/fuzz/seeds/NAME is read too if it exists)
#   3. a crash leaves its input in build-fuzz/artifacts/, the log in
#      build-fuzz/NAME.log
#
# Environment: FUZZ_SECONDS, CC (default clang), FUZZ_FLAGS (extra libFuzzer
# flags).  Exit status is non-zero if any target failed to build or crashed;
# the last line is a one-line summary.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

PROG=${0##*/}
OUT=$ROOT/build-fuzz
SECS=${FUZZ_SECONDS:-30}
CC=${CC:-clang}
log() { echo "==> $*" >&2; }
die() { echo "$PROG: error: $*" >&2; exit 1; }

[[ $SECS =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a number of seconds, not '$SECS'"
command -v "$CC" >/dev/null || die "$CC not found (libFuzzer needs clang)"

# The sources each target links; a target not listed gets the whole
# protocol layer.  Only what a parser needs, so a half-edited file elsewhere
# in src/ doesn't stop the fuzzers.
PROTO_SRCS="src/proto/packet.c src/proto/auth.c src/proto/handshake.c src/proto/response.c src/proto/track.c
            src/buf.c src/state.c src/stmt.c src/vars.c src/sql/lexer.c src/sql/classify.c"
sources_for() {
    case $1 in
    fuzz_sql) echo "src/sql/lexer.c src/sql/classify.c src/vars.c" ;;
    fuzz_packet) echo "src/proto/packet.c src/proto/track.c src/buf.c" ;;
    fuzz_response) echo "src/proto/response.c src/proto/packet.c src/buf.c" ;;
    fuzz_handshake) echo "src/proto/handshake.c src/proto/packet.c src/proto/auth.c src/buf.c" ;;
    fuzz_token) echo "src/token.c" ;;
    fuzz_tls) echo "src/tls.c src/buf.c src/proto/packet.c" ;;
    *) echo "$PROTO_SRCS" ;;
    esac
}

# Link wolfSSL when auth.c (SHA-1 / SHA-256), token.c (HMAC-SHA256) or
# tls.c is in.
libs_for() {
    case " $(sources_for "$1") " in
    *" src/proto/auth.c "* | *" src/token.c "* | *" src/tls.c "*) pkg-config --libs wolfssl ;;
    esac
}

if [[ $# -gt 0 ]]; then
    TARGETS=("$@")
else
    TARGETS=()
    for f in test/fuzz/fuzz_*.c; do
        n=${f##*/}
        TARGETS+=("${n%.c}")
    done
fi
[[ ${#TARGETS[@]} -gt 0 ]] || die "no targets in test/fuzz/"

CFLAGS=(-std=gnu11 -g -O1 "-fsanitize=fuzzer,address,undefined" -fno-sanitize-recover=undefined
        -fno-omit-frame-pointer -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wformat=2
        -Wno-unused-parameter -Werror -Iinclude)

mkdir -p "$OUT/artifacts"
declare -a SUMMARY=()
FAILED=0

for name in "${TARGETS[@]}"; do
    src=test/fuzz/$name.c
    [[ -f $src ]] || die "no such target: $src"
    bin=$OUT/$name
    log "building $name"
    # shellcheck disable=SC2046  # word splitting of the source and library lists is intended
    if ! "$CC" "${CFLAGS[@]}" $(sources_for "$name") "$src" $(libs_for "$name") -o "$bin"; then
        SUMMARY+=("$name: BUILD FAILED")
        FAILED=1
        continue
    fi

    corpus=$OUT/corpus/$name
    mkdir -p "$corpus"
    dirs=("$corpus")
    [[ -d test/fuzz/seeds/$name ]] && dirs+=("test/fuzz/seeds/$name")
    log "running $name for ${SECS}s (corpus $corpus)"
    rc=0
    # shellcheck disable=SC2086  # FUZZ_FLAGS is a list of flags
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        "$bin" -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$OUT/artifacts/$name-" ${FUZZ_FLAGS:-} "${dirs[@]}" \
        >"$OUT/$name.log" 2>&1 || rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$OUT/$name.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$OUT/$name.log" | tail -1 || true)
    files=$(find "$corpus" -type f | wc -l)
    if [[ $rc -eq 0 ]]; then
        SUMMARY+=("$name: ok (${runs:-?} runs, ${cov:-cov: ?}, corpus $files)")
    else
        FAILED=1
        SUMMARY+=("$name: CRASH (exit $rc, see $OUT/$name.log)")
        echo "---- $name.log (last 40 lines) ----" >&2
        tail -n 40 "$OUT/$name.log" >&2
    fi
done

joined=$(printf '%s; ' "${SUMMARY[@]}")
if [[ $FAILED -eq 0 ]]; then
    echo "fuzz.sh: PASS (${joined%; })"
else
    echo "fuzz.sh: FAIL (${joined%; })"
fi
exit "$FAILED"
