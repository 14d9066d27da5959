/* A minimal MySQL client over wolfSSL for bench/churn --tls (tls_client.h). */
#include "tls_client.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <wolfssl/wolfcrypt/sha.h>

#include <errmsg.h>

/* ---- --tls: the MySQL protocol by hand over wolfSSL ----------------------
 *
 * One blocking socket per connection, a small buffered packet reader on top
 * of recv() (greeting) or wolfSSL_read() (everything after the handshake),
 * one WOLFSSL_CTX per thread. */

/* Capability flags (MySQL protocol). */
#define CAP_LONG_PASSWORD     0x00000001u
#define CAP_CONNECT_WITH_DB   0x00000008u
#define CAP_PROTOCOL_41       0x00000200u
#define CAP_SSL               0x00000800u
#define CAP_TRANSACTIONS      0x00002000u
#define CAP_SECURE_CONNECTION 0x00008000u
#define CAP_PLUGIN_AUTH       0x00080000u
#define STATUS_MORE_RESULTS   0x0008u
#define MAX_PACKET_SIZE       0x01000000u /* sent in the handshake response */
#define CHARSET_UTF8MB4       45
#define SCRAMBLE_LEN          20
#define NATIVE_PLUGIN         "mysql_native_password"
#define IO_TIMEOUT_S          10

/* Record why the connection failed; returns -1 for `return tc_fail(...)`. */
__attribute__((format(printf, 3, 4))) static int tc_fail(struct tconn *c, unsigned code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err, sizeof(c->err), fmt, ap);
    va_end(ap);
    c->err_code = code;
    c->server_err = false;
    return -1;
}

/* Text of a wolfSSL error for an operation that returned rc. */
static const char *tls_reason(WOLFSSL *ssl, int rc, char *buf, size_t len)
{
    int e = wolfSSL_get_error(ssl, rc);
    if (e == WOLFSSL_ERROR_WANT_READ || e == WOLFSSL_ERROR_WANT_WRITE)
        snprintf(buf, len, "timed out after %d s", IO_TIMEOUT_S);
    else if (e == WOLFSSL_ERROR_ZERO_RETURN)
        snprintf(buf, len, "closed by the server");
    else if (e == WOLFSSL_ERROR_SYSCALL || e == SOCKET_ERROR_E)
        snprintf(buf, len, "%s", errno ? strerror(errno) : "connection closed");
    else {
        char tmp[WOLFSSL_MAX_ERROR_SZ];
        wolfSSL_ERR_error_string_n((unsigned long)(e < 0 ? -e : e), tmp, sizeof(tmp));
        snprintf(buf, len, "%s", tmp);
    }
    return buf;
}

/* Read more bytes into rbuf (at least one): 0, or -1. */
static int tc_fill(struct tconn *c)
{
    if (c->rpos == c->rlen)
        c->rpos = c->rlen = 0;
    size_t room = sizeof(c->rbuf) - c->rlen;
    if (c->ssl) {
        errno = 0;
        int n = wolfSSL_read(c->ssl, c->rbuf + c->rlen, (int)room);
        if (n <= 0) {
            char why[160];
            return tc_fail(c, CR_SERVER_LOST, "Lost connection to server (TLS read: %s)",
                           tls_reason(c->ssl, n, why, sizeof(why)));
        }
        c->rlen += (size_t)n;
        return 0;
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->rbuf + c->rlen, room, 0);
        if (n > 0) {
            c->rlen += (size_t)n;
            return 0;
        }
        if (n == 0)
            return tc_fail(c, CR_SERVER_LOST, "Lost connection to server at 'reading initial communication packet'");
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return tc_fail(c, CR_SERVER_LOST, "Lost connection to server (read timed out after %d s)", IO_TIMEOUT_S);
        return tc_fail(c, CR_SERVER_LOST, "Lost connection to server (%s)", strerror(errno));
    }
}

static int tc_read_bytes(struct tconn *c, unsigned char *dst, size_t n)
{
    while (n > 0) {
        if (c->rpos == c->rlen && tc_fill(c) < 0)
            return -1;
        size_t k = c->rlen - c->rpos;
        if (k > n)
            k = n;
        memcpy(dst, c->rbuf + c->rpos, k);
        c->rpos += k;
        dst += k;
        n -= k;
    }
    return 0;
}

/* Read one packet into c->pkt / c->pkt_len, checking its sequence id:
 * 0, or -1.  Packets of 16 MiB - 1 bytes (which continue in the next
 * packet) are not supported. */
static int tc_read_packet(struct tconn *c)
{
    unsigned char h[4];
    if (tc_read_bytes(c, h, 4) < 0)
        return -1;
    size_t n = (size_t)h[0] | (size_t)h[1] << 8 | (size_t)h[2] << 16;
    if (n == 0xFFFFFF)
        return tc_fail(c, CR_NET_PACKET_TOO_LARGE, "packets of 16 MiB or more are not supported");
    if (h[3] != c->seq)
        return tc_fail(c, CR_MALFORMED_PACKET, "packet sequence id %u, expected %u", h[3], c->seq);
    c->seq++;
    if (n > c->pkt_cap) {
        size_t cap = c->pkt_cap ? c->pkt_cap : 4096;
        while (cap < n)
            cap *= 2;
        unsigned char *p = realloc(c->pkt, cap);
        if (!p)
            return tc_fail(c, CR_OUT_OF_MEMORY, "out of memory (packet of %zu bytes)", n);
        c->pkt = p;
        c->pkt_cap = cap;
    }
    c->pkt_len = n;
    return tc_read_bytes(c, c->pkt, n);
}

/* Start building a packet in wbuf. */
static void tc_begin(struct tconn *c)
{
    c->wlen = 4;
    c->woom = false;
    if (c->wcap < 4) {
        unsigned char *p = realloc(c->wbuf, 256);
        if (!p) {
            c->woom = true;
            c->wlen = 0;
            return;
        }
        c->wbuf = p;
        c->wcap = 256;
    }
}

static void tc_put(struct tconn *c, const void *data, size_t n)
{
    if (c->woom)
        return;
    if (c->wlen + n > c->wcap) {
        size_t cap = c->wcap ? c->wcap : 256;
        while (cap < c->wlen + n)
            cap *= 2;
        unsigned char *p = realloc(c->wbuf, cap);
        if (!p) {
            c->woom = true;
            return;
        }
        c->wbuf = p;
        c->wcap = cap;
    }
    if (n)
        memcpy(c->wbuf + c->wlen, data, n);
    c->wlen += n;
}

static void tc_put_u8(struct tconn *c, unsigned v)
{
    unsigned char b = (unsigned char)v;
    tc_put(c, &b, 1);
}

static void tc_put_u32(struct tconn *c, uint32_t v)
{
    unsigned char b[4] = {(unsigned char)v, (unsigned char)(v >> 8), (unsigned char)(v >> 16),
                          (unsigned char)(v >> 24)};
    tc_put(c, b, 4);
}

static void tc_put_zeros(struct tconn *c, size_t n)
{
    static const unsigned char zeros[32];
    tc_put(c, zeros, n);
}

/* Send the packet built since tc_begin with the next sequence id, over
 * TLS once the handshake is done: 0, or -1. */
static int tc_send(struct tconn *c)
{
    if (c->woom)
        return tc_fail(c, CR_OUT_OF_MEMORY, "out of memory building a packet");
    size_t n = c->wlen - 4;
    if (n >= 0xFFFFFF)
        return tc_fail(c, CR_NET_PACKET_TOO_LARGE, "packets of 16 MiB or more are not supported");
    c->wbuf[0] = (unsigned char)n;
    c->wbuf[1] = (unsigned char)(n >> 8);
    c->wbuf[2] = (unsigned char)(n >> 16);
    c->wbuf[3] = c->seq++;
    if (c->ssl) {
        errno = 0;
        int rc = wolfSSL_write(c->ssl, c->wbuf, (int)c->wlen);
        if (rc != (int)c->wlen) {
            char why[160];
            return tc_fail(c, CR_SERVER_LOST, "Lost connection to server (TLS write: %s)",
                           tls_reason(c->ssl, rc, why, sizeof(why)));
        }
        return 0;
    }
    size_t off = 0;
    while (off < c->wlen) {
        ssize_t k = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return tc_fail(c, CR_SERVER_LOST, "Lost connection to server (write: %s)",
                           errno == EAGAIN || errno == EWOULDBLOCK ? "timed out" : strerror(errno));
        }
        off += (size_t)k;
    }
    return 0;
}

/* If the last packet is an ERR packet, record it and return -1; else 0.
 * ERR: 0xFF, u16 code, ['#', 5-byte SQLSTATE], message. */
static int tc_check_err(struct tconn *c)
{
    const unsigned char *p = c->pkt;
    size_t n = c->pkt_len;
    if (n == 0 || p[0] != 0xFF)
        return 0;
    if (n < 3)
        return tc_fail(c, CR_MALFORMED_PACKET, "malformed ERR packet");
    unsigned code = p[1] | (unsigned)p[2] << 8;
    size_t off = 3;
    if (n >= 9 && p[3] == '#')
        off = 9;
    tc_fail(c, code, "%.*s", (int)(n - off), (const char *)p + off);
    c->server_err = true;
    return -1;
}

/* Read a length-encoded integer at *off of the last packet: 0, or -1. */
static int tc_lenenc(struct tconn *c, size_t *off, uint64_t *v)
{
    const unsigned char *p = c->pkt;
    size_t n = c->pkt_len, o = *off, w;
    if (o >= n)
        return tc_fail(c, CR_MALFORMED_PACKET, "truncated length-encoded integer");
    if (p[o] < 0xFB) {
        *v = p[o];
        *off = o + 1;
        return 0;
    }
    if (p[o] == 0xFC)
        w = 2;
    else if (p[o] == 0xFD)
        w = 3;
    else if (p[o] == 0xFE)
        w = 8;
    else
        return tc_fail(c, CR_MALFORMED_PACKET, "bad length-encoded integer 0x%02x", p[o]);
    if (n - o - 1 < w)
        return tc_fail(c, CR_MALFORMED_PACKET, "truncated length-encoded integer");
    uint64_t x = 0;
    for (size_t i = 0; i < w; i++)
        x |= (uint64_t)p[o + 1 + i] << (8 * i);
    *v = x;
    *off = o + 1 + w;
    return 0;
}

/* mysql_native_password: SHA1(pw) XOR SHA1(scramble || SHA1(SHA1(pw))).
 * 0, or -1 if wolfCrypt fails. */
static int native_proof(const char *pw, const unsigned char scramble[SCRAMBLE_LEN],
                        unsigned char out[WC_SHA_DIGEST_SIZE])
{
    unsigned char h1[WC_SHA_DIGEST_SIZE], h2[WC_SHA_DIGEST_SIZE], h3[WC_SHA_DIGEST_SIZE];
    wc_Sha sha;
    int rc = -1;
    if (wc_ShaHash((const byte *)pw, (word32)strlen(pw), h1) != 0 || wc_ShaHash(h1, sizeof(h1), h2) != 0)
        return -1;
    if (wc_InitSha(&sha) != 0)
        return -1;
    if (wc_ShaUpdate(&sha, scramble, SCRAMBLE_LEN) == 0 && wc_ShaUpdate(&sha, h2, sizeof(h2)) == 0 &&
        wc_ShaFinal(&sha, h3) == 0) {
        for (size_t i = 0; i < sizeof(h3); i++)
            out[i] = h1[i] ^ h3[i];
        rc = 0;
    }
    wc_ShaFree(&sha);
    return rc;
}

/* Append the auth response for scramble: empty for an empty password,
 * else the 20-byte native proof.  lenenc_u8: prefix it with its length
 * (HandshakeResponse41); otherwise it is the whole payload (auth switch
 * response).  0, or -1. */
static int tc_put_auth(struct tconn *c, const char *pw, const unsigned char scramble[SCRAMBLE_LEN], bool len_prefix)
{
    unsigned char proof[WC_SHA_DIGEST_SIZE];
    size_t n = 0;
    if (*pw) {
        if (native_proof(pw, scramble, proof) < 0)
            return tc_fail(c, CR_UNKNOWN_ERROR, "wolfCrypt SHA-1 failed");
        n = sizeof(proof);
    }
    if (len_prefix)
        tc_put_u8(c, (unsigned)n);
    tc_put(c, proof, n);
    return 0;
}

/* Greeting (plain), SSL request, TLS handshake, HandshakeResponse41,
 * authentication: 0 once the server said OK, or -1. */
int tc_connect(struct tconn *c, const struct tc_target *o, WOLFSSL_CTX *ctx, WOLFSSL_SESSION *sess)
{
    c->fd = socket(o->addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c->fd < 0)
        return tc_fail(c, CR_CONN_HOST_ERROR, "socket: %s", strerror(errno));
    struct timeval tv = {.tv_sec = IO_TIMEOUT_S};
    int one = 1;
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(c->fd, (const struct sockaddr *)&o->addr, o->addr_len) < 0)
        return tc_fail(c, CR_CONN_HOST_ERROR, "Can't connect to server on '%s' (%d: %s)", o->host, errno,
                       strerror(errno));

    /* HandshakeV10. */
    if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
        return -1;
    const unsigned char *p = c->pkt;
    size_t n = c->pkt_len;
    if (n < 1 || p[0] != 10)
        return tc_fail(c, CR_SERVER_HANDSHAKE_ERR, "unsupported protocol version %d in the greeting", n ? p[0] : -1);
    const unsigned char *nul = memchr(p + 1, 0, n - 1);
    if (!nul)
        return tc_fail(c, CR_MALFORMED_PACKET, "greeting: server version not terminated");
    size_t off = (size_t)(nul - p) + 1;
    /* conn id 4, scramble 8, filler 1, caps 2, charset 1, status 2, caps 2,
     * auth data length 1, reserved 10. */
    if (n - off < 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10)
        return tc_fail(c, CR_MALFORMED_PACKET, "greeting too short");
    unsigned char scramble[SCRAMBLE_LEN];
    memcpy(scramble, p + off + 4, 8);
    off += 4 + 8 + 1;
    uint32_t caps = p[off] | (uint32_t)p[off + 1] << 8;
    caps |= (uint32_t)p[off + 5] << 16 | (uint32_t)p[off + 6] << 24;
    unsigned auth_len = p[off + 7];
    off += 2 + 1 + 2 + 2 + 1 + 10;
    size_t part2 = auth_len > 8 + 13 ? auth_len - 8u : 13u;
    if (n - off < part2)
        return tc_fail(c, CR_MALFORMED_PACKET, "greeting: scramble truncated");
    memcpy(scramble + 8, p + off, SCRAMBLE_LEN - 8);
    uint32_t need = CAP_PROTOCOL_41 | CAP_SECURE_CONNECTION;
    if ((caps & need) != need)
        return tc_fail(c, CR_SERVER_HANDSHAKE_ERR, "server lacks CLIENT_PROTOCOL_41/CLIENT_SECURE_CONNECTION");
    if (!(caps & CAP_SSL))
        return tc_fail(c, CR_SSL_CONNECTION_ERROR, "SSL connection error: server does not offer TLS (no CLIENT_SSL)");
    uint32_t mine = CAP_PROTOCOL_41 | CAP_SSL | CAP_SECURE_CONNECTION | CAP_LONG_PASSWORD | CAP_TRANSACTIONS |
                    (caps & CAP_PLUGIN_AUTH) | (o->db ? CAP_CONNECT_WITH_DB : 0);

    /* SSL request, then the TLS handshake on the same socket. */
    tc_begin(c);
    tc_put_u32(c, mine);
    tc_put_u32(c, MAX_PACKET_SIZE);
    tc_put_u8(c, CHARSET_UTF8MB4);
    tc_put_zeros(c, 23);
    if (tc_send(c) < 0)
        return -1;
    if (c->rpos != c->rlen)
        return tc_fail(c, CR_MALFORMED_PACKET, "server sent data after the greeting");
    c->ssl = wolfSSL_new(ctx);
    if (!c->ssl)
        return tc_fail(c, CR_OUT_OF_MEMORY, "wolfSSL_new failed");
    if (wolfSSL_set_fd(c->ssl, c->fd) != WOLFSSL_SUCCESS)
        return tc_fail(c, CR_SSL_CONNECTION_ERROR, "wolfSSL_set_fd failed");
    if (sess)
        wolfSSL_set_session(c->ssl, sess); /* a stale session only costs a full handshake */
    errno = 0;
    int rc = wolfSSL_connect(c->ssl);
    if (rc != WOLFSSL_SUCCESS) {
        char why[160];
        return tc_fail(c, CR_SSL_CONNECTION_ERROR, "SSL connection error: %s",
                       tls_reason(c->ssl, rc, why, sizeof(why)));
    }

    /* HandshakeResponse41. */
    tc_begin(c);
    tc_put_u32(c, mine);
    tc_put_u32(c, MAX_PACKET_SIZE);
    tc_put_u8(c, CHARSET_UTF8MB4);
    tc_put_zeros(c, 23);
    tc_put(c, o->user, strlen(o->user) + 1);
    if (tc_put_auth(c, o->password, scramble, true) < 0)
        return -1;
    if (o->db)
        tc_put(c, o->db, strlen(o->db) + 1);
    if (mine & CAP_PLUGIN_AUTH)
        tc_put(c, NATIVE_PLUGIN, sizeof(NATIVE_PLUGIN));
    if (tc_send(c) < 0)
        return -1;

    /* OK, ERR, auth switch, or caching_sha2 "fast auth ok" then more. */
    for (int round = 0; round < 8; round++) {
        if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
            return -1;
        p = c->pkt;
        n = c->pkt_len;
        if (n >= 1 && p[0] == 0x00)
            return 0;
        if (n >= 2 && p[0] == 0x01 && p[1] == 0x03)
            continue;
        if (n >= 1 && p[0] == 0xFE) {
            const unsigned char *pe = n > 1 ? memchr(p + 1, 0, n - 1) : NULL;
            if (!pe)
                return tc_fail(c, CR_AUTH_PLUGIN_CANNOT_LOAD,
                               "old-style auth switch (mysql_old_password) not supported");
            const char *plugin = (const char *)p + 1;
            if (strcmp(plugin, NATIVE_PLUGIN) != 0)
                return tc_fail(c, CR_AUTH_PLUGIN_CANNOT_LOAD, "auth plugin '%s' not supported by --tls", plugin);
            size_t d = (size_t)(pe - p) + 1;
            if (n - d < SCRAMBLE_LEN)
                return tc_fail(c, CR_MALFORMED_PACKET, "auth switch: scramble truncated");
            memcpy(scramble, p + d, SCRAMBLE_LEN);
            tc_begin(c);
            if (tc_put_auth(c, o->password, scramble, false) < 0 || tc_send(c) < 0)
                return -1;
            continue;
        }
        return tc_fail(c, CR_MALFORMED_PACKET, "unexpected packet 0x%02x during authentication", n ? p[0] : 0);
    }
    return tc_fail(c, CR_MALFORMED_PACKET, "authentication did not finish");
}

/* COM_QUERY q, then read every result to its end (text protocol, no
 * CLIENT_DEPRECATE_EOF): 0, or -1. */
int tc_query(struct tconn *c, const char *q)
{
    c->seq = 0;
    tc_begin(c);
    tc_put_u8(c, 0x03);
    tc_put(c, q, strlen(q));
    if (tc_send(c) < 0)
        return -1;
    for (;;) {
        if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
            return -1;
        unsigned status;
        if (c->pkt_len >= 1 && c->pkt[0] == 0x00) {
            /* OK: 0x00, affected rows, insert id, status u16, warnings u16. */
            size_t off = 1;
            uint64_t v;
            if (tc_lenenc(c, &off, &v) < 0 || tc_lenenc(c, &off, &v) < 0)
                return -1;
            if (c->pkt_len - off < 2)
                return tc_fail(c, CR_MALFORMED_PACKET, "truncated OK packet");
            status = c->pkt[off] | (unsigned)c->pkt[off + 1] << 8;
        } else {
            if (c->pkt_len >= 1 && c->pkt[0] == 0xFB)
                return tc_fail(c, CR_MALFORMED_PACKET, "LOAD DATA LOCAL INFILE not supported by --tls");
            size_t off = 0;
            uint64_t ncols;
            if (tc_lenenc(c, &off, &ncols) < 0)
                return -1;
            for (uint64_t i = 0; i < ncols; i++)
                if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
                    return -1;
            if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
                return -1;
            if (c->pkt_len >= 9 || c->pkt_len < 1 || c->pkt[0] != 0xFE)
                return tc_fail(c, CR_MALFORMED_PACKET, "no EOF after the column definitions");
            for (;;) {
                if (tc_read_packet(c) < 0 || tc_check_err(c) < 0)
                    return -1;
                if (c->pkt_len >= 1 && c->pkt_len < 9 && c->pkt[0] == 0xFE)
                    break;
            }
            /* EOF: 0xFE, warnings u16, status u16. */
            status = c->pkt_len >= 5 ? (c->pkt[3] | (unsigned)c->pkt[4] << 8) : 0;
        }
        if (!(status & STATUS_MORE_RESULTS))
            return 0;
    }
}

/* Close the connection: COM_QUIT and close_notify (best effort, without
 * waiting for the server) when the session is up, then free everything
 * that belongs to this connection. */
void tc_close(struct tconn *c, bool quit)
{
    if (c->ssl) {
        if (quit) {
            c->seq = 0;
            tc_begin(c);
            tc_put_u8(c, 0x01);
            if (tc_send(c) == 0)
                wolfSSL_shutdown(c->ssl);
        }
        wolfSSL_free(c->ssl);
        c->ssl = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* A client context for one thread: TLS 1.2 or newer, no certificate
 * verification, no session cache (sessions are kept by hand). */
WOLFSSL_CTX *tc_thread_ctx(void)
{
    WOLFSSL_CTX *ctx = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (!ctx)
        return NULL;
    if (wolfSSL_CTX_SetMinVersion(ctx, WOLFSSL_TLSV1_2) != WOLFSSL_SUCCESS) {
        wolfSSL_CTX_free(ctx);
        return NULL;
    }
    wolfSSL_CTX_set_verify(ctx, WOLFSSL_VERIFY_NONE, NULL);
    wolfSSL_CTX_set_session_cache_mode(ctx, WOLFSSL_SESS_CACHE_OFF);
    /* X25519 first (the TLS 1.3 key share), as OpenSSL 3 and browsers do;
     * it is also far cheaper for this client than P-256 in wolfSSL builds
     * without SP ECC (Debian's), which would otherwise make the client the
     * bottleneck again.  P-256/P-384 remain for servers without X25519. */
    int groups[] = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
    if (wolfSSL_CTX_set_groups(ctx, groups, (int)(sizeof(groups) / sizeof(groups[0]))) != WOLFSSL_SUCCESS) {
        int fallback[] = {WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1};
        wolfSSL_CTX_set_groups(ctx, fallback, 2);
    }
    return ctx;
}
