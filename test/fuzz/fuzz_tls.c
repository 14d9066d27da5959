/* libFuzzer target for TLS as the conn layer's byte filter (src/tls.c):
 * ciphertext in, plaintext MySQL packets out, driven the way conn.c's
 * tls_recv does (tls_conn_feed, then the owner's on_data on c->in, then
 * tls_conn_seal of what the owner queued) but without a worker or a ring.
 *
 * Input: byte 0 picks the mode (% 3), the server context (/ 3 % 2: TLS 1.2
 * or 1.3 minimum) and in mode 2 whether the client's first packet rides
 * with its Finished (/ 6 % 2); byte 1 the size of the slices ciphertext is
 * fed in (0: all at once); the rest depends on the mode:
 *   0  the bytes a client sends to the server side (ClientHello parsing);
 *   1  the bytes a server answers the client side's ClientHello with;
 *   2  a real handshake between a client and a server conn, then a script
 *      of 2-byte steps [op][n] followed by n payload bytes: the client
 *      sends the payload (as is, repeated past a record, or with one
 *      ciphertext byte changed), the server sends it, or the client closes.
 * The server's on_data splits its plaintext into MySQL packets, checks each
 * with the packet codecs and answers an OK per packet.  Besides the
 * sanitizers' checks it asserts that plaintext handed to on_data is exactly
 * what the peer sealed, in order (a changed record never delivers changed
 * bytes), that everything sealed arrives, that a close_notify ends with -2,
 * and that everything is freed (leak detection).
 *
 *   scripts/fuzz.sh fuzz_tls        (or by hand:)
 *   clang -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iinclude src/tls.c src/buf.c \
 *       src/proto/packet.c test/fuzz/fuzz_tls.c $(pkg-config --libs wolfssl) -o /tmp/fuzz_tls
 *
 * Seeds (test/fuzz/seeds/fuzz_tls/): ClientHellos of Python's ssl module
 * (TLS 1.3 and 1.2 only), a server's first flight, a session script. */
#include "ringmux/buf.h"
#include "ringmux/config.h"
#include "ringmux/conn.h"
#include "ringmux/packet.h"
#include "ringmux/tls.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_ASSERT(c)                                                                                                 \
    do {                                                                                                               \
        if (!(c))                                                                                                      \
            abort();                                                                                                   \
    } while (0)

/* Self-signed ECDSA P-256 certificate for CN=fuzz (100 years) and its key,
 * made with: openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256
 *            -nodes -days 36500 -subj /CN=fuzz */
static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\n"
                               "MIIBdTCCARugAwIBAgIUa8vdY6z6EwIuh/VWR79GK49UCmcwCgYIKoZIzj0EAwIw\n"
                               "DzENMAsGA1UEAwwEZnV6ejAgFw0yNjEyMDEwNTE2NTdaGA8yMTI2MTEwNzA1MTY1\n"
                               "N1owDzENMAsGA1UEAwwEZnV6ejBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABM3T\n"
                               "HPuqOkykrzRgu4enP/LHT41nQTUe/qEGlCZF1BYuRvBEa5yfyRY30iY28URtDslo\n"
                               "QaY0dWpF9yqvZDedtwujUzBRMB0GA1UdDgQWBBT5G2D+7rHVFgVu3thgwqru+IZI\n"
                               "RzAfBgNVHSMEGDAWgBT5G2D+7rHVFgVu3thgwqru+IZIRzAPBgNVHRMBAf8EBTAD\n"
                               "AQH/MAoGCCqGSM49BAMCA0gAMEUCIQD9g4U6agY/5PiGX2VW677cR1Y74Dv6QQCw\n"
                               "iobFoYNLKAIgKyc29HKv8x81v561N5xrCNgPF0V59ihHoFto4NUh9A0=\n"
                               "-----END CERTIFICATE-----\n";
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\n"
                              "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgBI1bFic15xPmD2xQ\n"
                              "pC9y7lgZW4bhJTQQq8ELt5ZhWwehRANCAATN0xz7qjpMpK80YLuHpz/yx0+NZ0E1\n"
                              "Hv6hBpQmRdQWLkbwRGucn8kWN9ImNvFEbQ7JaEGmNHVqRfcqr2Q3nbcL\n"
                              "-----END PRIVATE KEY-----\n";

static struct rm_tls_ctx *server_ctx[2]; /* [tls] min_version 1.2, 1.3 */
static struct rm_tls_ctx *client_ctx;    /* [backend] tls = on */

/* One end: a conn as tls.c sees it, plus what the other end sealed for it
 * and this end has not consumed yet (its c.in holds a prefix of that). */
struct peer {
    struct rm_conn c;
    struct rm_buf expect;
    bool checked; /* the other end is ours: compare with expect */
    bool server;  /* split into packets and answer OK */
    int rc;       /* last tls_conn_feed result */
    size_t packets;
};

#define PEER(conn) ((struct peer *)((char *)(conn)-offsetof(struct peer, c)))

static bool inside(const void *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    const uint8_t *b = p;
    if (!b)
        return n == 0;
    return b >= lo && b <= hi && n <= (size_t)(hi - b);
}

/* One packet's payload through the codecs: every view stays inside it. */
static void check_payload(const uint8_t *p, size_t n)
{
    const uint8_t *end = p + n;
    struct pkt_ok_view ok;
    if (pkt_parse_ok(p, n, CLIENT_SESSION_TRACK, &ok) == 0)
        FUZZ_ASSERT(inside(ok.info, ok.info_len, p, end) && inside(ok.state, ok.state_len, p, end));
    struct pkt_err_view er;
    if (pkt_parse_err(p, n, &er) == 0)
        FUZZ_ASSERT(inside(er.msg, er.msg_len, p, end) && strlen(er.sqlstate) <= 5);
    struct pkt_reader r;
    pkt_reader_init(&r, p, n);
    uint8_t cmd = (uint8_t)pkt_read_int(&r, 1);
    FUZZ_ASSERT(pkt_cmd_str(cmd) != NULL);
    size_t len = 0;
    const uint8_t *s;
    if (cmd == COM_INIT_DB || cmd == COM_QUERY)
        s = pkt_read_bytes(&r, len = pkt_left(&r));
    else
        s = pkt_read_lenenc_str(&r, &len);
    FUZZ_ASSERT(r.err ? s == NULL : inside(s, len, p, end));
    FUZZ_ASSERT(r.p >= p && r.p <= end);
}

static void on_data(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used)
{
    struct peer *p = PEER(c);
    FUZZ_ASSERT(len > 0 && data == buf_head(&c->in) && len == buf_avail(&c->in));
    if (p->checked) /* exactly the next bytes the other end sealed */
        FUZZ_ASSERT(len <= buf_avail(&p->expect) && !memcmp(data, buf_head(&p->expect), len));
    if (!p->server) {
        *used = len;
        return;
    }
    size_t off = 0;
    while (len - off >= PKT_HDR) {
        size_t plen = pkt_u24(data + off);
        if (len - off - PKT_HDR < plen)
            break; /* the rest comes with the next record */
        check_payload(data + off + PKT_HDR, plen);
        struct pkt_ok ok = {.affected_rows = plen, .insert_id = p->packets++, .status = SERVER_STATUS_AUTOCOMMIT};
        FUZZ_ASSERT(pkt_write_ok(&c->out, (uint8_t)(data[off + 3] + 1), 0, &ok, 0x00) == 0);
        off += PKT_HDR + plen;
    }
    *used = off;
}

static const struct conn_ops fuzz_ops = {
    .name = "fuzz",
    .on_data = on_data,
    .keep_buffers = false,
};

static void peer_init(struct peer *p, bool server, bool checked)
{
    memset(p, 0, sizeof(*p));
    p->c.ops = &fuzz_ops;
    p->c.fd = -1;
    p->server = server;
    p->checked = checked;
}

static void peer_free(struct peer *p)
{
    tls_conn_free(&p->c);
    FUZZ_ASSERT(p->c.tls == NULL);
    buf_free(&p->c.in);
    buf_free(&p->c.out);
    buf_free(&p->expect);
}

/* Seal what p's owner queued (once the handshake is done); a copy goes to
 * the other end's expectations. */
static void seal(struct peer *p, struct peer *to)
{
    if (!tls_conn_ready(&p->c) || !buf_avail(&p->c.out))
        return;
    size_t wire = buf_avail(tls_conn_wire(&p->c)), n = buf_avail(&p->c.out);
    if (to && to->checked)
        FUZZ_ASSERT(buf_append(&to->expect, buf_head(&p->c.out), n) == 0);
    FUZZ_ASSERT(tls_conn_seal(&p->c) == 0);
    FUZZ_ASSERT(buf_avail(&p->c.out) == 0 && p->c.out.data == NULL); /* !keep_buffers */
    FUZZ_ASSERT(buf_avail(tls_conn_wire(&p->c)) > wire + n);         /* records are longer */
}

/* Ciphertext for p, in slices of chunk bytes, each handled as conn.c's
 * tls_recv does; stops at a failure or close_notify.  back: the other end,
 * which gets copies of what p's on_data answers. */
static void feed(struct peer *p, const uint8_t *d, size_t n, size_t chunk, struct peer *back)
{
    char why[128];
    if (!chunk)
        chunk = n ? n : 1;
    for (size_t off = 0; off < n && p->rc >= 0; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        bool was_ready = tls_conn_ready(&p->c), done;
        p->rc = tls_conn_feed(&p->c, d + off, k, &done);
        FUZZ_ASSERT(p->rc >= -2 && p->rc <= 0);
        /* done: the handshake ended in this call, whatever else happened */
        FUZZ_ASSERT(done == (!was_ready && tls_conn_ready(&p->c)));
        if (p->rc == -1) {
            FUZZ_ASSERT(tls_conn_error(&p->c, why, sizeof(why)) == why && strlen(why) < sizeof(why));
            return;
        }
        if (done)
            FUZZ_ASSERT(tls_conn_describe(&p->c, why, sizeof(why)) == why && strncmp(why, "TLS", 3) == 0);
        if (buf_avail(&p->c.in)) {
            FUZZ_ASSERT(tls_conn_ready(&p->c));
            size_t used = 0;
            size_t avail = buf_avail(&p->c.in);
            p->c.ops->on_data(&p->c, buf_head(&p->c.in), avail, &used);
            FUZZ_ASSERT(used <= avail);
            buf_consume(&p->c.in, used);
            if (p->checked)
                buf_consume(&p->expect, used);
        }
        seal(p, back);
    }
}

/* Move what from has queued on the wire to `to` (NULL: drop it); with
 * flip != 0, byte at % length is changed by it first. */
static void deliver(struct peer *from, struct peer *to, size_t chunk, size_t at, uint8_t flip)
{
    struct rm_buf *w = tls_conn_wire(&from->c);
    if (to && to->rc >= 0 && buf_avail(w)) {
        if (flip)
            buf_head(w)[at % buf_avail(w)] ^= flip;
        feed(to, buf_head(w), buf_avail(w), chunk, from);
    }
    buf_reset(w);
}

/* Everything sealed for p has reached it: consumed, or waiting in c.in. */
static void all_arrived(const struct peer *p)
{
    FUZZ_ASSERT(p->rc >= 0 && buf_avail(&p->expect) == buf_avail(&p->c.in));
}

static void mode_server(const uint8_t *d, size_t n, size_t chunk, struct rm_tls_ctx *sx)
{
    struct peer s;
    peer_init(&s, true, false);
    FUZZ_ASSERT(tls_conn_start(&s.c, sx, NULL) == 0);
    feed(&s, d, n, chunk, NULL);
    deliver(&s, NULL, 0, 0, 0);
    if (s.rc >= 0)
        tls_conn_close_notify(&s.c);
    peer_free(&s);
}

static void mode_client(const uint8_t *d, size_t n, size_t chunk)
{
    struct peer c;
    peer_init(&c, false, false);
    /* queued before TLS starts: goes out in the clear, ahead of the ClientHello */
    FUZZ_ASSERT(buf_append(&c.c.out, "\x20\0\0\1", 4) == 0);
    FUZZ_ASSERT(tls_conn_start(&c.c, client_ctx, "fuzz.example") == 0);
    FUZZ_ASSERT(buf_avail(&c.c.out) == 0 && buf_avail(tls_conn_wire(&c.c)) == 4);
    bool done;
    FUZZ_ASSERT(tls_conn_feed(&c.c, NULL, 0, &done) == 0 && !done && !tls_conn_ready(&c.c));
    struct rm_buf *w = tls_conn_wire(&c.c);
    FUZZ_ASSERT(buf_avail(w) > 4 + 5 && !memcmp(buf_head(w), "\x20\0\0\1\x16\x03", 6)); /* then a handshake record */
    buf_reset(w);
    feed(&c, d, n, chunk, NULL);
    deliver(&c, NULL, 0, 0, 0);
    peer_free(&c);
}

#define PAYLOAD_MAX 20000 /* more than one record's plaintext (16384) */

/* early: the client's first packet rides with its Finished, so the server
 * completes the handshake and gets plaintext in one tls_conn_feed. */
static void mode_session(const uint8_t *d, size_t n, size_t chunk, struct rm_tls_ctx *sx, bool early)
{
    struct peer s, c;
    peer_init(&s, true, true);
    peer_init(&c, false, true);
    FUZZ_ASSERT(tls_conn_start(&s.c, sx, NULL) == 0 && tls_conn_start(&c.c, client_ctx, "fuzz.example") == 0);
    bool done;
    FUZZ_ASSERT(tls_conn_feed(&c.c, NULL, 0, &done) == 0 && !done);
    for (int i = 0; i < 8 && !(tls_conn_ready(&s.c) && tls_conn_ready(&c.c)); i++) {
        if (early && tls_conn_ready(&c.c) && !tls_conn_ready(&s.c) && s.packets == 0) {
            FUZZ_ASSERT(buf_append(&c.c.out, "\1\0\0\0\x0e", 5) == 0); /* COM_PING */
            seal(&c, &s);
        }
        deliver(&c, &s, chunk, 0, 0);
        deliver(&s, &c, chunk, 0, 0);
    }
    FUZZ_ASSERT(tls_conn_ready(&s.c) && tls_conn_ready(&c.c) && s.rc >= 0 && c.rc >= 0);
    FUZZ_ASSERT(!tls_conn_resumed(&s.c) && !tls_conn_resumed(&c.c));
    deliver(&s, &c, chunk, 0, 0); /* session ticket, the OK */
    FUZZ_ASSERT(s.packets == (early ? 1u : 0u));
    all_arrived(&s);
    all_arrived(&c);

    uint8_t *big = malloc(PAYLOAD_MAX);
    bool closed = false;
    size_t i = 0;
    while (i + 2 <= n && !closed && s.rc >= 0 && c.rc >= 0) {
        uint8_t op = d[i], len = d[i + 1];
        i += 2;
        size_t plen = n - i < len ? n - i : len;
        const uint8_t *pl = d + i;
        i += plen;
        switch (op % 5) {
        case 0: /* client -> server, as is */
            FUZZ_ASSERT(buf_append(&c.c.out, pl, plen) == 0);
            seal(&c, &s);
            deliver(&c, &s, chunk, 0, 0);
            all_arrived(&s);
            deliver(&s, &c, chunk, 0, 0); /* the OKs */
            all_arrived(&c);
            break;
        case 1: { /* client -> server, repeated past one record */
            size_t k = 0;
            while (plen && k < PAYLOAD_MAX) {
                size_t m = PAYLOAD_MAX - k < plen ? PAYLOAD_MAX - k : plen;
                memcpy(big + k, pl, m);
                k += m;
            }
            FUZZ_ASSERT(buf_append(&c.c.out, big, k) == 0);
            seal(&c, &s);
            deliver(&c, &s, chunk, 0, 0);
            all_arrived(&s);
            deliver(&s, &c, chunk, 0, 0);
            all_arrived(&c);
            break;
        }
        case 2: { /* client -> server with one ciphertext byte changed: never
                   * other plaintext (on_data checks); the session ends */
            FUZZ_ASSERT(buf_append(&c.c.out, pl, plen) == 0);
            seal(&c, &s);
            size_t at = plen ? pl[0] | (size_t)op << 8 : op;
            deliver(&c, &s, chunk, at, (uint8_t)(op | 1));
            FUZZ_ASSERT(s.rc != -2); /* not a close_notify either (truncation) */
            closed = true;
            break;
        }
        case 3: /* server -> client */
            FUZZ_ASSERT(buf_append(&s.c.out, pl, plen) == 0);
            seal(&s, &c);
            deliver(&s, &c, chunk, 0, 0);
            all_arrived(&c);
            break;
        default: /* client close_notify (after what it queued) */
            FUZZ_ASSERT(buf_append(&c.c.out, pl, plen) == 0);
            if (plen)
                FUZZ_ASSERT(buf_append(&s.expect, pl, plen) == 0);
            tls_conn_close_notify(&c.c);
            FUZZ_ASSERT(buf_avail(&c.c.out) == 0);
            deliver(&c, &s, chunk, 0, 0);
            FUZZ_ASSERT(s.rc == -2 && buf_avail(&s.expect) == buf_avail(&s.c.in));
            closed = true;
            break;
        }
    }
    FUZZ_ASSERT(closed || (s.rc >= 0 && c.rc >= 0));
    free(big);
    peer_free(&s);
    peer_free(&c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char err[256];
    static char cert_name[] = "fuzz-cert.pem", key_name[] = "fuzz-key.pem";
    for (int v = 0; v < 2; v++) {
        struct rm_config cfg;
        memset(&cfg, 0, sizeof(cfg));
        cfg.tls_cert = cert_name;
        cfg.tls_key = key_name;
        cfg.tls_cert_pem = (struct rm_pem){(uint8_t *)cert_pem, sizeof(cert_pem) - 1};
        cfg.tls_key_pem = (struct rm_pem){(uint8_t *)key_pem, sizeof(key_pem) - 1};
        cfg.tls_min_version = v;
        server_ctx[v] = tls_server_ctx_new(&cfg, err, sizeof(err));
        FUZZ_ASSERT(server_ctx[v] && tls_ctx_is_server(server_ctx[v]));
    }
    struct rm_backend_cfg b;
    memset(&b, 0, sizeof(b));
    strcpy(b.name, "fuzz");
    b.tls = BACKEND_TLS_ON;
    client_ctx = tls_client_ctx_new(&b, "backend.fuzz", err, sizeof(err));
    FUZZ_ASSERT(client_ctx && !tls_ctx_is_server(client_ctx));
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    struct rm_tls_ctx *sx = server_ctx[data[0] / 3 % 2];
    size_t chunk = data[1];
    /* a copy of exactly the input bytes, so ASan sees any overread */
    size_t n = size - 2;
    uint8_t *p = malloc(n ? n : 1);
    memcpy(p, data + 2, n);
    switch (data[0] % 3) {
    case 0: mode_server(p, n, chunk, sx); break;
    case 1: mode_client(p, n, chunk); break;
    default: mode_session(p, n, chunk, sx, data[0] / 6 % 2); break;
    }
    free(p);
    return 0;
}
