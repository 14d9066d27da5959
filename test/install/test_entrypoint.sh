#!/usr/bin/env bash
# The container entrypoint (scripts/docker-entrypoint.sh), run directly
# (there is no Docker engine on the test machines), and a static check of
# the Dockerfile (hadolint is not a Debian package):
#   - a configuration from the environment alone: ringmux --check accepts
#     it; a user without RINGMUX_PASSWORD_<USER> is refused (an empty
#     password would let anyone in); bad RINGMUX_BACKENDS is refused;
#   - started from the environment alone against the test MariaDB: a
#     client logs in through it, /readyz says ready, logs are JSON;
#   - a mounted configuration file wins over the environment;
#   - Dockerfile: multi-stage, pinned base images, non-root USER before the
#     ENTRYPOINT, no ADD, apt lists removed, every COPY source exists.
# Usage: test_entrypoint.sh RINGMUX_BINARY
# shellcheck disable=SC2015  # "check && ok || bad": ok never fails
set -euo pipefail
bin=${1:?usage: test_entrypoint.sh RINGMUX_BINARY}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ep=$root/scripts/docker-entrypoint.sh
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringmux-entrypoint.XXXXXX")
pid=""
cleanup() {
    [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }

free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 20000))
        (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
    done
    echo 0
}
http_get() { # port path -> "STATUS BODY"
    exec 3<>"/dev/tcp/127.0.0.1/$1"
    printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3
    local resp
    resp=$(cat <&3)
    exec 3<&-
    printf '%s %s' "$(sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' <<<"$resp")" "$(sed '1,/^\r\{0,1\}$/d' <<<"$resp")"
}

export RINGMUX_BIN=$bin

# 1. generated configuration
env -i PATH="$PATH" RINGMUX_CONFIG=/nonexistent RINGMUX_USERS=app,rep.ro RINGMUX_PASSWORD_APP=a-pw \
    RINGMUX_PASSWORD_REP_RO=r-pw RINGMUX_BACKENDS=db1=10.0.0.1:3306,db2=10.0.0.2:3306 \
    RINGMUX_READER_LISTEN=127.0.0.1:6034 RINGMUX_MAX_BACKEND_CONNECTIONS=8 "$ep" --print-config >"$tmp/gen.ini" &&
    ok || bad "--print-config failed"
if env -i PATH="$PATH" RINGMUX_PASSWORD_APP=a-pw RINGMUX_PASSWORD_REP_RO=r-pw "$bin" --check -c "$tmp/gen.ini" >/dev/null; then
    ok
else
    bad "generated config rejected: $(cat "$tmp/gen.ini")"
fi
grep -q '^\[backend.db2\]' "$tmp/gen.ini" && grep -q '^max_backend_connections = 8' "$tmp/gen.ini" &&
    grep -q '^log_format = json' "$tmp/gen.ini" && ok || bad "generated config lacks settings: $(cat "$tmp/gen.ini")"
if out=$(env -i PATH="$PATH" RINGMUX_CONFIG=/nonexistent RINGMUX_USERS=app RINGMUX_BACKEND=db:3306 "$ep" --print-config 2>&1); then
    bad "a user without a password was accepted"
else
    grep -q 'RINGMUX_PASSWORD_APP is not set' <<<"$out" && ok || bad "unclear refusal: $out"
fi
if out=$(env -i PATH="$PATH" RINGMUX_CONFIG=/nonexistent RINGMUX_USERS=app RINGMUX_PASSWORD_APP=x \
    RINGMUX_BACKENDS=justahost "$ep" --print-config 2>&1); then
    bad "RINGMUX_BACKENDS=justahost accepted"
else
    grep -q "is not name=host:port" <<<"$out" && ok || bad "unclear refusal: $out"
fi
if out=$(env -i PATH="$PATH" RINGMUX_CONFIG=/nonexistent "$ep" 2>&1); then
    bad "started with no configuration at all"
else
    grep -q "RINGMUX_USERS is not set" <<<"$out" && ok || bad "unclear refusal: $out"
fi

# 2. started from the environment alone, against the test MariaDB
if [[ -n ${RINGMUX_TEST_MYSQL_PORT:-} ]]; then
    port=$(free_port) admin=$(free_port)
    env -i PATH="$PATH" RINGMUX_BIN="$bin" RINGMUX_CONFIG=/nonexistent TMPDIR="$tmp" \
        RINGMUX_LISTEN="127.0.0.1:$port" RINGMUX_ADMIN_LISTEN="127.0.0.1:$admin" RINGMUX_WORKERS=1 \
        RINGMUX_BACKEND="${RINGMUX_TEST_MYSQL_HOST:-127.0.0.1}:$RINGMUX_TEST_MYSQL_PORT" \
        RINGMUX_USERS=rmtest RINGMUX_PASSWORD_RMTEST=rmtest-pw "$ep" >"$tmp/run.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
    if out=$(mariadb --no-defaults -h127.0.0.1 -P"$port" -urmtest -prmtest-pw -N -B -e "SELECT 'through-entrypoint'" 2>&1) &&
        [[ $out == through-entrypoint ]]; then
        ok
    else
        bad "client through the env-configured proxy: $out; log: $(cat "$tmp/run.log")"
    fi
    ready=""
    for _ in $(seq 50); do
        ready=$(http_get "$admin" /readyz)
        [[ $ready == 200* ]] && break
        sleep 0.1
    done
    [[ $ready == "200 ready: writer default" ]] && ok || bad "/readyz: $ready"
    [[ $(stat -c %a "$tmp/ringmux.ini") == 600 ]] && ok || bad "generated config is not mode 0600"
    if python3 -c 'import json,sys; [json.loads(l) for l in open(sys.argv[1])]' "$tmp/run.log" 2>"$tmp/json.err"; then
        ok
    else
        bad "log is not JSON: $(cat "$tmp/json.err")"
    fi
    kill "$pid"
    wait "$pid" && ok || bad "ringmux did not stop cleanly"
    pid=""
else
    echo "note: RINGMUX_TEST_MYSQL_PORT unset: the live start is not tested" >&2
fi

# 3. a mounted configuration file wins
printf '[backend]\naddress = 127.0.0.1:1\n[users]\nfromfile = pw\n' >"$tmp/mounted.ini"
out=$(env -i PATH="$PATH" RINGMUX_BIN="$bin" RINGMUX_CONFIG="$tmp/mounted.ini" RINGMUX_USERS=ignored "$ep" --check 2>&1) &&
    grep -q "mounted.ini: configuration is valid" <<<"$out" && ok || bad "mounted config not used: $out"

# 4. Dockerfile, statically
df=$root/Dockerfile
[[ $(grep -c '^FROM ' "$df") -ge 2 ]] && ok || bad "Dockerfile is not multi-stage"
grep '^FROM ' "$df" | grep -qv -e ':latest' -e '^FROM [^:]*$' && ! grep '^FROM ' "$df" | grep -q -e ':latest' && ok ||
    bad "a base image is not pinned"
last_user=$(grep -n '^USER ' "$df" | tail -1 | cut -d: -f1)
entry=$(grep -n '^ENTRYPOINT ' "$df" | tail -1 | cut -d: -f1)
[[ -n $last_user && -n $entry && $last_user -lt $entry ]] && ! grep -q '^USER \(root\|0\)' "$df" && ok ||
    bad "no non-root USER before ENTRYPOINT"
! grep -q '^ADD ' "$df" && ok || bad "ADD used (COPY expected)"
[[ $(grep -c 'rm -rf /var/lib/apt/lists' "$df") -eq $(grep -c 'apt-get install' "$df") ]] && ok ||
    bad "apt lists not removed after every install"
grep 'apt-get install' "$df" | grep -qv -- '--no-install-recommends' && bad "apt-get install without --no-install-recommends" || ok
while read -r src; do
    [[ -e $root/$src ]] && ok || bad "COPY source $src does not exist"
done < <(sed -n 's/^COPY \([^-][^ ]*\) .*/\1/p' "$df")

# 5. deploy/: the Kubernetes and compose files parse, probe /readyz and
# /healthz, take secrets from a Secret volume, and run as non-root.
if out=$(python3 - "$root/deploy" <<'PY' 2>&1
import sys, yaml
d = sys.argv[1]
for name in ("kubernetes/sidecar-pod.yaml", "kubernetes/shared-deployment.yaml"):
    docs = list(yaml.safe_load_all(open(f"{d}/{name}")))
    pods = [x["spec"] if x["kind"] == "Pod" else x["spec"]["template"]["spec"] for x in docs if x["kind"] in ("Pod", "Deployment")]
    assert pods, f"{name}: no pod spec"
    for spec in pods:
        assert spec["securityContext"]["runAsNonRoot"], f"{name}: may run as root"
        rm = [c for c in spec["containers"] if c["name"] == "ringmux"][0]
        assert rm["readinessProbe"]["httpGet"]["path"] == "/readyz", f"{name}: readiness probe"
        assert rm["livenessProbe"]["httpGet"]["path"] == "/healthz", f"{name}: liveness probe"
        vols = {v["name"]: v for v in spec["volumes"]}
        assert any("secret" in v for v in vols.values()), f"{name}: no Secret volume"
        assert oct(next(v for v in vols.values() if "secret" in v)["secret"]["defaultMode"]) in ("0o440", "0o400"), f"{name}: secret mode"
compose = yaml.safe_load(open(f"{d}/compose.yaml"))
assert compose["services"]["ringmux"]["environment"]["RINGMUX_BACKEND"], "compose: no backend"
print("deploy ok")
PY
); then
    ok
else
    bad "deploy/: $out"
fi

echo "test_entrypoint: $pass passed, $fails failed"
[[ $fails -eq 0 && $pass -gt 0 ]]
