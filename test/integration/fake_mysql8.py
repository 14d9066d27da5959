#!/usr/bin/env python3
"""A scripted MySQL 8 front for the tests (Debian ships no MySQL 8).

It speaks MySQL 8's login with caching_sha2_password as the default plugin,
including full authentication, then relays the session to a real MariaDB:

  * greeting: version 8.0.36-fake, caching_sha2_password, MySQL-style
    capabilities (CLIENT_LONG_PASSWORD set, no MariaDB extensions), plus
    CLIENT_SSL when --cert/--key are given (an SSL request then wraps the
    socket in TLS);
  * the cache: like MySQL 8 after a restart it starts empty, so the first
    login of a user needs full authentication; a user who passed it is
    cached and later logins succeed on the fast path (0x01 0x03).  SIGUSR1
    empties the cache (a server restart, as far as logins go);
  * full authentication (0x01 0x04): inside TLS the client sends the
    password in the clear; without TLS it sends it RSA-OAEP encrypted with
    --rsa-public (it may first ask for the key with 0x02); the password is
    decrypted with `openssl pkeyutl` (no Python packages needed);
    without TLS and without an RSA key the login is refused;
  * the password it learnt logs it in to the MariaDB behind it
    (mysql_native_password, the client's capabilities); that server's answer
    is the login's answer, and afterwards bytes are relayed both ways.

Usage: fake_mysql8.py --backend HOST:PORT [--cert PEM --key PEM]
       [--rsa-public PEM --rsa-private PEM] [--port-file FILE]
Prints "listening PORT" on stdout; counts full and fast authentications in
FILE.stats (one line: "full N fast M") after every login.
"""
import argparse
import hashlib
import os
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading

CLIENT_LONG_PASSWORD = 1
CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_PROTOCOL_41 = 1 << 9
CLIENT_SSL = 1 << 11
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_LENENC_DATA = 1 << 21

lock = threading.Lock()
cache = {}  # user -> password (what MySQL 8 keeps is a hash; the relay needs the password)
stats = {"full": 0, "fast": 0}
args = None


def recv_exact(s, n):
    b = b""
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def read_packet(s):
    hdr = recv_exact(s, 4)
    n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
    return hdr[3], recv_exact(s, n)


def write_packet(s, seq, payload):
    s.sendall(struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload)


def err_packet(code, state, msg):
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + msg.encode()


def sha256(b):
    return hashlib.sha256(b).digest()


def sha1(b):
    return hashlib.sha1(b).digest()


def native_proof(pw, scramble):
    if not pw:
        return b""
    h1 = sha1(pw)
    return bytes(a ^ b for a, b in zip(h1, sha1(scramble + sha1(h1))))


def sha2_fast_ok(pw, scramble, proof):
    if not pw:
        return proof == b""
    h1 = sha256(pw)
    expect = bytes(a ^ b for a, b in zip(h1, sha256(sha256(h1) + scramble)))
    return proof == expect


def lenenc(b, i):
    c = b[i]
    if c < 0xFB:
        return c, i + 1
    if c == 0xFC:
        return b[i + 1] | b[i + 2] << 8, i + 3
    if c == 0xFD:
        return b[i + 1] | b[i + 2] << 8 | b[i + 3] << 16, i + 4
    return struct.unpack("<Q", b[i + 1:i + 9])[0], i + 9


def parse_response(p):
    caps, = struct.unpack("<I", p[:4])
    collation = p[8]
    i = 32
    end = p.index(b"\0", i)
    user = p[i:end].decode()
    i = end + 1
    if caps & CLIENT_LENENC_DATA:
        n, i = lenenc(p, i)
    else:
        n = p[i]
        i += 1
    auth = p[i:i + n]
    i += n
    db = None
    if caps & CLIENT_CONNECT_WITH_DB and i < len(p):
        end = p.index(b"\0", i)
        db = p[i:end]
    return caps, collation, user, auth, db


def rsa_decrypt(data):
    r = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", args.rsa_private, "-pkeyopt",
                        "rsa_padding_mode:oaep"], input=data, capture_output=True)
    if r.returncode != 0:
        return None
    return r.stdout


def backend_login(caps, collation, user, pw, db):
    """Log in to the MariaDB behind; returns (socket, None) or (None, err payload)."""
    host, port = args.backend.rsplit(":", 1)
    b = socket.create_connection((host, int(port)))
    _, g = read_packet(b)
    i = g.index(b"\0", 1) + 1 + 4
    scramble = g[i:i + 8]
    i += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10
    scramble += g[i:i + 12]
    proof = native_proof(pw.encode(), scramble)
    c = (caps & ~(CLIENT_SSL | CLIENT_CONNECT_ATTRS | CLIENT_LENENC_DATA)) | CLIENT_PLUGIN_AUTH | CLIENT_SECURE_CONNECTION
    if db:
        c |= CLIENT_CONNECT_WITH_DB
    else:
        c &= ~CLIENT_CONNECT_WITH_DB
    resp = struct.pack("<IIB", c, 1 << 24, collation) + b"\0" * 23 + user.encode() + b"\0"
    resp += bytes([len(proof)]) + proof
    if db:
        resp += db + b"\0"
    resp += b"mysql_native_password\0"
    write_packet(b, 1, resp)
    _, r = read_packet(b)
    if r[:1] != b"\x00":
        b.close()
        return None, r
    return b, r


def relay(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def save_stats():
    if args.port_file:
        with open(args.port_file + ".stats", "w") as f:
            f.write("full %d fast %d\n" % (stats["full"], stats["fast"]))


def serve(c, conn_id, greeting_caps):
    scramble = bytes((x % 94) + 33 for x in os.urandom(20))
    g = b"\x0a" + b"8.0.36-fake\0" + struct.pack("<I", conn_id) + scramble[:8] + b"\0"
    g += struct.pack("<HBHH", greeting_caps & 0xFFFF, 45, 2, greeting_caps >> 16)
    g += bytes([21]) + b"\0" * 10 + scramble[8:] + b"\0" + b"caching_sha2_password\0"
    write_packet(c, 0, g)
    seq, p = read_packet(c)
    tls = False
    if len(p) == 32 and struct.unpack("<I", p[:4])[0] & CLIENT_SSL:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.cert, args.key)
        c = ctx.wrap_socket(c, server_side=True)
        tls = True
        seq, p = read_packet(c)
    print("fake_mysql8: response %r" % p[:40], file=sys.stderr, flush=True)
    caps, collation, user, auth, db = parse_response(p)
    seq += 1
    with lock:
        cached = cache.get(user)
    pw = None
    if cached is not None and sha2_fast_ok(cached.encode(), scramble, auth):
        write_packet(c, seq, b"\x01\x03")
        seq += 1
        pw = cached
        with lock:
            stats["fast"] += 1
    else:
        write_packet(c, seq, b"\x01\x04")  # perform full authentication
        seq += 1
        rseq, data = read_packet(c)
        seq = rseq + 1
        if tls:
            pw = data.rstrip(b"\0").decode()
        elif args.rsa_private:
            if data == b"\x02":  # the client asks for the public key
                with open(args.rsa_public, "rb") as f:
                    write_packet(c, seq, b"\x01" + f.read())
                rseq, data = read_packet(c)
                seq = rseq + 1
            plain = rsa_decrypt(data)
            if plain is None:
                write_packet(c, seq, err_packet(1045, "28000", "Access denied (RSA decryption failed)"))
                c.close()
                return
            plain = bytes(x ^ scramble[i % 20] for i, x in enumerate(plain))
            pw = plain.rstrip(b"\0").decode()
        else:
            write_packet(c, seq, err_packet(2061, "HY000", "Authentication requires secure connection."))
            c.close()
            return
        with lock:
            stats["full"] += 1
    b, answer = backend_login(caps, collation, user, pw, db)
    write_packet(c, seq, answer)  # the MariaDB's OK or ERR is the login's answer
    if b is None:
        c.close()
        return
    with lock:
        cache[user] = pw
        save_stats()
    t = threading.Thread(target=relay, args=(b, c), daemon=True)
    t.start()
    relay(c, b)


def main():
    global args
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", required=True)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--rsa-public")
    ap.add_argument("--rsa-private")
    ap.add_argument("--port-file")
    args = ap.parse_args()

    def flush(signum, frame):
        with lock:
            cache.clear()

    signal.signal(signal.SIGUSR1, flush)
    # The greeting's capabilities: the MariaDB behind's, MySQL-style.
    host, port = args.backend.rsplit(":", 1)
    b = socket.create_connection((host, int(port)))
    _, g = read_packet(b)
    b.close()
    i = g.index(b"\0", 1) + 1 + 4 + 8 + 1
    lo, = struct.unpack("<H", g[i:i + 2])
    hi, = struct.unpack("<H", g[i + 5:i + 7])
    caps = (lo | hi << 16) | CLIENT_LONG_PASSWORD | CLIENT_PLUGIN_AUTH
    caps &= ~CLIENT_SSL
    if args.cert:
        caps |= CLIENT_SSL
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(128)
    port = ls.getsockname()[1]
    if args.port_file:
        with open(args.port_file + ".tmp", "w") as f:
            f.write("%d\n" % port)
        os.rename(args.port_file + ".tmp", args.port_file)
    print("listening %d" % port, flush=True)
    n = 100
    while True:
        c, _ = ls.accept()
        n += 1

        def run(c=c, n=n):
            try:
                serve(c, n, caps)
            except (EOFError, OSError, ValueError, IndexError, ssl.SSLError) as e:
                print("fake_mysql8: connection %d: %s" % (n, e), file=sys.stderr, flush=True)
                try:
                    c.close()
                except OSError:
                    pass

        threading.Thread(target=run, daemon=True).start()


if __name__ == "__main__":
    main()
