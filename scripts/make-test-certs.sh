#!/usr/bin/env bash
# Throwaway certificates for the TLS tests (never for production):
#   ca.pem/ca.key            the test CA
#   server.pem/server.key    signed by it, for 127.0.0.1, ::1 and localhost
#   elsewhere.pem/.key       signed by it, for elsewhere.invalid only (identity checks fail)
#   server-ed25519.pem/.key  as server.pem, with an Ed25519 key (cheap handshakes: benchmarks)
#   client.pem/client.key    a client certificate signed by it (mutual TLS)
#   other-ca.pem/.key        an unrelated CA (verification fails)
#   rsa-public.pem/rsa-private.pem   an RSA key pair (caching_sha2_password without TLS)
# Usage: scripts/make-test-certs.sh DIR   (created if missing; 2 days validity)
set -euo pipefail
dir=${1:?usage: make-test-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
days=2
quiet() { "$@" >/dev/null 2>&1 || { echo "make-test-certs.sh: failed: $*" >&2; "$@"; exit 1; }; }

ca() { # name subject
    quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.pem" -days $days -subj "$2" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign
}
leaf() { # name subject extensions-file-content
    quiet openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "$2"
    printf '%s\n' "$3" >"$1.ext"
    quiet openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" -days $days \
        -extfile "$1.ext"
    rm -f "$1.csr" "$1.ext"
}

ca ca "/CN=ringmux test CA"
ca other-ca "/CN=ringmux unrelated CA"
leaf server "/CN=localhost" "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost
extendedKeyUsage=serverAuth"
# leaf with an Ed25519 key instead of RSA
quiet openssl genpkey -algorithm ed25519 -out server-ed25519.key
quiet openssl req -new -key server-ed25519.key -subj "/CN=localhost" -out server-ed25519.csr
printf '%s\n' "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost" "extendedKeyUsage=serverAuth" >server-ed25519.ext
quiet openssl x509 -req -in server-ed25519.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server-ed25519.pem \
    -days $days -extfile server-ed25519.ext
rm -f server-ed25519.csr server-ed25519.ext
leaf elsewhere "/CN=elsewhere.invalid" "subjectAltName=DNS:elsewhere.invalid
extendedKeyUsage=serverAuth"
leaf client "/CN=rmtest" "extendedKeyUsage=clientAuth"
quiet openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa-private.pem
quiet openssl rsa -in rsa-private.pem -pubout -out rsa-public.pem
chmod 600 ./*.key rsa-private.pem
echo "make-test-certs.sh: certificates in $dir"
