/* Malformed, hostile and lazy clients, on raw TCP sockets.
 *
 * Before login: garbage instead of the handshake response, truncated and
 * oversized handshake packets, a wrong sequence id, a TLS request, clients
 * that send nothing or half a packet (the handshake timeout must close
 * them), clients that vanish mid-handshake, 1000 connections opened and
 * closed without logging in.  After login (libmariadb logs in, then the
 * test writes raw packets on its socket): a command with sequence id != 0,
 * an empty command packet, unknown and unsupported commands (ERR, and the
 * connection stays usable), packets beyond max_allowed_packet (1M here),
 * a client that disconnects in the middle of a large result, and one that
 * never reads a 200 MB result (the proxy's memory must stay bounded and
 * other clients must be served meanwhile).
 *
 * Every case must end with an ERR packet and/or a close - never a hang -
 * and be followed by a normal client working and ringmux_client_connections
 * returning to the number of clients the test holds. */
#include "harness.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

#define MAX_BACKEND 4
#define MAX_PACKET  (1 << 20) /* max_allowed_packet = 1M */

static struct it_proxy P;
static MYSQL *W; /* a witness client, connected throughout: nobody else notices */

/* ---- SHA-1 (for a raw mysql_native_password login), from wolfCrypt ------ */

static void sha1(const uint8_t *data, size_t len, uint8_t out[20])
{
    wc_ShaHash(data, (word32)len, out);
}

/* mysql_native_password: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))). */
static void native_scramble(const char *pw, const uint8_t scramble[20], uint8_t out[20])
{
    uint8_t s1[20], s2[20], s3[20], buf[40];
    sha1((const uint8_t *)pw, strlen(pw), s1);
    sha1(s1, 20, s2);
    memcpy(buf, scramble, 20);
    memcpy(buf + 20, s2, 20);
    sha1(buf, 40, s3);
    for (int i = 0; i < 20; i++)
        out[i] = s1[i] ^ s3[i];
}

/* Wait until the peer closes (EOF or reset), discarding data: seconds
 * waited, or -1 if still open after timeout_ms. */
static double wait_closed(int fd, int timeout_ms)
{
    double t0 = it_now(), deadline = t0 + timeout_ms / 1000.0;
    uint8_t buf[65536];
    for (;;) {
        int left = (int)((deadline - it_now()) * 1000);
        if (left <= 0)
            return -1;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr <= 0)
            return pr == 0 ? -1 : it_now() - t0;
        ssize_t r = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK))
            return it_now() - t0;
    }
}

/* Read until an ERR packet (skipping a greeting); true with *e filled. */
static bool read_err(int fd, struct it_err *e, int timeout_ms, const char *what)
{
    for (int i = 0; i < 4; i++) {
        struct it_pkt k = {0};
        int rc = it_read_packet(fd, &k, timeout_ms);
        if (rc != 1) {
            IT_FAIL("%s: expected an ERR packet, got %s", what,
                    rc == 0    ? "EOF"
                    : rc == -2 ? "nothing (timeout)"
                               : "a reset");
            return false;
        }
        bool greeting = k.seq == 0 && k.len > 0 && k.p[0] == 10 && i == 0;
        bool ok = !greeting && it_parse_err(&k, e);
        unsigned first = k.len ? k.p[0] : 0;
        free(k.p);
        if (ok)
            return true;
        if (!greeting) {
            IT_FAIL("%s: expected an ERR packet, got a packet starting with 0x%02x", what, first);
            return false;
        }
    }
    return false;
}

/* The proxy must answer with ERR `code` whose message contains substr
 * (if given), then close the connection. */
static void expect_err_close(int fd, const char *what, unsigned code, const char *substr)
{
    struct it_err e;
    if (read_err(fd, &e, 5000, what)) {
        IT_CHECK(e.code == code, "%s: ERR %u (%s) '%s', expected code %u", what, e.code, e.state, e.msg, code);
        if (substr)
            IT_CHECK(strstr(e.msg, substr) != NULL, "%s: ERR message '%s' does not mention '%s'", what, e.msg, substr);
        fprintf(stderr, "  %s: ERR %u (%s) %s\n", what, e.code, e.state, e.msg);
    }
    double t = wait_closed(fd, 5000);
    IT_CHECK(t >= 0, "%s: connection still open 5 s after the ERR", what);
}

/* ---- the handshake ---------------------------------------------------------- */

#define CAP_LONG_PASSWORD      0x1u
#define CAP_CONNECT_WITH_DB    0x8u
#define CAP_PROTOCOL_41        0x200u
#define CAP_SSL                0x800u
#define CAP_TRANSACTIONS       0x2000u
#define CAP_SECURE_CONNECTION  0x8000u
#define CAP_MULTI_RESULTS      0x20000u
#define CAP_PLUGIN_AUTH        0x80000u
#define CAP_PLUGIN_AUTH_LENENC 0x200000u
#define CAP_DEPRECATE_EOF      0x1000000u
#define CAPS_BASIC                                                                                                     \
    (CAP_LONG_PASSWORD | CAP_PROTOCOL_41 | CAP_TRANSACTIONS | CAP_SECURE_CONNECTION | CAP_MULTI_RESULTS |              \
     CAP_PLUGIN_AUTH | CAP_PLUGIN_AUTH_LENENC)

/* Read the greeting; the 20-byte scramble into scramble.  true if sane. */
static bool read_greeting(int fd, uint8_t scramble[20], const char *what)
{
    struct it_pkt k = {0};
    int rc = it_read_packet(fd, &k, 5000);
    if (rc != 1) {
        IT_FAIL("%s: no greeting (%d)", what, rc);
        return false;
    }
    bool ok = false;
    const uint8_t *p = k.p, *end = k.p + k.len;
    if (k.seq == 0 && k.len > 40 && p[0] == 10) {
        const uint8_t *v = memchr(p + 1, 0, k.len - 1);
        if (v && end - v > 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10 + 12) {
            const uint8_t *q = v + 1 + 4;
            memcpy(scramble, q, 8);
            q += 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10;
            memcpy(scramble + 8, q, 12);
            ok = true;
        }
    }
    IT_CHECK(ok, "%s: malformed greeting (%zu bytes, seq %u)", what, k.len, k.seq);
    free(k.p);
    return ok;
}

/* A HandshakeResponse41 payload into out (>= 512 bytes); its length. */
static size_t hs_response(uint8_t *out, uint32_t caps, const char *user, const uint8_t *auth, size_t auth_len,
                          const char *db)
{
    size_t n = 0;
    if (db)
        caps |= CAP_CONNECT_WITH_DB;
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(caps >> (8 * i));
    uint32_t maxp = 1u << 24;
    for (int i = 0; i < 4; i++)
        out[n++] = (uint8_t)(maxp >> (8 * i));
    out[n++] = 45; /* utf8mb4_general_ci */
    memset(out + n, 0, 23);
    n += 23;
    size_t ul = strlen(user) + 1;
    memcpy(out + n, user, ul);
    n += ul;
    out[n++] = (uint8_t)auth_len; /* lenenc or 1-byte length: same for < 251 */
    if (auth_len)
        memcpy(out + n, auth, auth_len);
    n += auth_len;
    if (db) {
        size_t dl = strlen(db) + 1;
        memcpy(out + n, db, dl);
        n += dl;
    }
    static const char plugin[] = "mysql_native_password";
    memcpy(out + n, plugin, sizeof plugin);
    n += sizeof plugin;
    return n;
}

/* Connect raw and read the greeting; fd or -1 (recorded). */
static int raw_greeted(uint8_t scramble[20], const char *what)
{
    int fd = it_raw_connect(&P, 5000);
    if (fd < 0) {
        IT_FAIL("%s: cannot connect: %s", what, strerror(errno));
        return -1;
    }
    if (!read_greeting(fd, scramble, what)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* A valid response for rmtest to the greeting's scramble. */
static size_t good_response(uint8_t *out, const uint8_t scramble[20], const char *db)
{
    uint8_t auth[20];
    native_scramble(IT_PASSWORD, scramble, auth);
    return hs_response(out, CAPS_BASIC, IT_USER, auth, 20, db);
}

/* ---- after each case ---------------------------------------------------------- */

static double g_clients_base; /* ringmux_client_connections with only W open */

static void after_case(const char *what)
{
    IT_CHECK(it_proxy_alive(&P), "%s: the proxy died", what);
    /* The witness, connected all along, still works. */
    char buf[32];
    if (it_scalar(W, "SELECT 'witness'", buf, sizeof buf) >= 0)
        IT_EQ_STR(buf, "witness");
    /* So does a new client. */
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (m) {
        IT_EQ_INT(it_scalar_int(m, "SELECT 6 * 7"), 42);
        mysql_close(m);
    } else {
        IT_FAIL("%s: a normal client cannot connect afterwards", what);
    }
    if (!it_direct_mode()) {
        double c = it_metric_wait(&P, "ringmux_client_connections", g_clients_base, 5);
        IT_CHECK(c == g_clients_base, "%s: ringmux_client_connections = %g 5 s later, expected %g", what, c,
                 g_clients_base);
        /* A KILL may have used the worker's one extra connection beyond
         * the cap: it closes once no KILL waits for it. */
        double b = -1, t0 = it_now();
        while ((b = it_metric(&P, "ringmux_backend_connections")) > MAX_BACKEND && it_now() - t0 < 5)
            it_usleep(50000);
        IT_CHECK(b >= 0 && b <= MAX_BACKEND, "%s: ringmux_backend_connections = %g 5 s later, max %d", what, b,
                 MAX_BACKEND);
    }
}

/* ---- before login ---------------------------------------------------------------- */

struct lazy {
    const char *what;
    int mode;      /* 0 nothing, 1 greeting read then nothing, 2 half a header, 3 half a packet */
    double closed; /* seconds until the proxy closed it, -1 never */
    pthread_t thread;
};

static void *lazy_main(void *arg)
{
    struct lazy *z = arg;
    z->closed = -1;
    int fd = it_raw_connect(&P, 5000);
    if (fd < 0)
        return NULL;
    double t0 = it_now();
    uint8_t scramble[20];
    if (z->mode >= 1 && !read_greeting(fd, scramble, z->what)) {
        close(fd);
        return NULL;
    }
    if (z->mode == 2)
        it_raw_write(fd, "\x50\x00", 2, 1000);
    if (z->mode == 3) {
        uint8_t b[54] = {200, 0, 0, 1}; /* declares 200 bytes, sends 50 */
        memset(b + 4, 0x41, 50);
        it_raw_write(fd, b, sizeof b, 1000);
    }
    if (wait_closed(fd, 20000) >= 0)
        z->closed = it_now() - t0;
    close(fd);
    return NULL;
}

/* Clients that never finish the handshake are closed by the proxy's
 * handshake timeout (10 s), while others are served meanwhile. */
static void test_handshake_timeout(void)
{
    struct lazy z[] = {
        {"connects and sends nothing", 0, 0, 0},
        {"reads the greeting and sends nothing", 1, 0, 0},
        {"sends half a packet header", 2, 0, 0},
        {"sends 50 of the 200 bytes it declares", 3, 0, 0},
    };
    int n = (int)(sizeof z / sizeof z[0]);
    for (int i = 0; i < n; i++)
        pthread_create(&z[i].thread, NULL, lazy_main, &z[i]);
    /* Meanwhile normal clients come and go. */
    double t0 = it_now();
    int served = 0;
    while (it_now() - t0 < 6) {
        MYSQL *m = it_connect_proxy(&P, IT_DB);
        if (m) {
            IT_EQ_INT(it_scalar_int(m, "SELECT 1"), 1);
            mysql_close(m);
            served++;
        }
        it_usleep(100000);
    }
    IT_CHECK(served >= 20, "only %d clients served while lazy clients were connected", served);
    for (int i = 0; i < n; i++) {
        pthread_join(z[i].thread, NULL);
        IT_CHECK(z[i].closed >= 0 && z[i].closed <= 15,
                 "client that %s: closed after %.1f s (-1 = not within 20 s), expected within 15 s", z[i].what,
                 z[i].closed);
        IT_CHECK(z[i].closed < 0 || z[i].closed >= 5,
                 "client that %s: closed after only %.1f s (handshake timeout is 10 s)", z[i].what, z[i].closed);
        fprintf(stderr, "  client that %s: closed after %.1f s\n", z[i].what, z[i].closed);
    }
    after_case("handshake timeout");
}

/* A raw login with a correct response works: the packet builder is right,
 * so the failures below are the proxy's verdicts on what was changed. */
static void test_raw_login_ok(void)
{
    const char *what = "raw login (positive control)";
    uint8_t scramble[20], resp[512];
    int fd = raw_greeted(scramble, what);
    if (fd < 0)
        return;
    size_t n = good_response(resp, scramble, IT_DB);
    it_send_packet(fd, 1, resp, n);
    struct it_pkt k = {0};
    if (it_read_packet(fd, &k, 5000) == 1) {
        struct it_err e;
        bool is_err = it_parse_err(&k, &e);
        IT_CHECK(k.len > 0 && k.p[0] == 0x00 && k.seq == 2, "%s: expected OK seq 2, got 0x%02x seq %u%s%s", what,
                 k.len ? k.p[0] : 0, k.seq, is_err ? ": " : "", e.msg);
        free(k.p);
        /* COM_QUERY SELECT 1: column count 1, ..., a row "1". */
        static const char q[] = "\x03SELECT 1";
        it_send_packet(fd, 0, q, sizeof q - 1);
        bool saw_row = false;
        for (int i = 0; i < 8; i++) {
            if (it_read_packet(fd, &k, 5000) != 1)
                break;
            if (k.len == 2 && k.p[0] == 1 && k.p[1] == '1')
                saw_row = true;
            bool eof = k.p[0] == 0xfe && k.len < 9;
            free(k.p);
            if (eof && saw_row)
                break;
        }
        IT_CHECK(saw_row, "%s: SELECT 1 over the raw connection returned no row '1'", what);
        it_send_packet(fd, 0, "\x01", 1); /* COM_QUIT */
        IT_CHECK(wait_closed(fd, 5000) >= 0, "%s: not closed after COM_QUIT", what);
    } else {
        IT_FAIL("%s: no answer to a valid handshake response", what);
    }
    close(fd);
    /* Same, with a wrong password: ERR 1045. */
    fd = raw_greeted(scramble, "raw login, wrong password");
    if (fd >= 0) {
        uint8_t auth[20];
        native_scramble("not-the-password", scramble, auth);
        n = hs_response(resp, CAPS_BASIC, IT_USER, auth, 20, NULL);
        it_send_packet(fd, 1, resp, n);
        expect_err_close(fd, "raw login, wrong password", 1045, "Access denied");
        close(fd);
    }
    after_case(what);
}

/* One text result read raw under CLIENT_DEPRECATE_EOF (no EOF after the
 * columns; an OK with header 0xFE ends the rows): the rows as
 * "a|b|...;" into rows, the terminator's status and warnings. */
static bool raw_result_deprecate_eof(int fd, const char *what, char *rows, size_t cap, unsigned *status,
                                     unsigned *warnings)
{
    struct it_pkt k = {0};
    if (it_read_packet(fd, &k, 5000) != 1) {
        IT_FAIL("%s: no response", what);
        return false;
    }
    unsigned ncols = k.len ? k.p[0] : 0;
    bool ok = k.len == 1 && ncols > 0 && ncols < 251;
    free(k.p);
    if (!IT_CHECK(ok, "%s: expected a result set", what))
        return false;
    for (unsigned i = 0; i < ncols; i++) {
        if (it_read_packet(fd, &k, 5000) != 1)
            return IT_CHECK(false, "%s: column %u missing", what, i);
        free(k.p);
    }
    size_t at = 0;
    rows[0] = 0;
    for (;;) {
        if (it_read_packet(fd, &k, 5000) != 1)
            return IT_CHECK(false, "%s: rows cut short", what);
        if (k.len >= 7 && k.len < 9 && k.p[0] == 0xfe) { /* fe, 0 affected, 0 insert id, status, warnings */
            *status = k.p[3] | (unsigned)k.p[4] << 8;
            *warnings = k.p[5] | (unsigned)k.p[6] << 8;
            free(k.p);
            return true;
        }
        ok = k.len > 0 && k.p[0] != 0xff;
        for (size_t i = 0; ok && i < k.len;) { /* lenenc strings; short ones only */
            size_t l = k.p[i] == 0xfb ? 0 : k.p[i];
            ok = k.p[i] < 251 || k.p[i] == 0xfb;
            if (ok && i + 1 + l <= k.len && at + l + 2 < cap) {
                memcpy(rows + at, k.p + i + 1, l);
                at += l;
                rows[at++] = i + 1 + l < k.len ? '|' : ';';
                rows[at] = 0;
            }
            i += 1 + l;
        }
        free(k.p);
        if (!IT_CHECK(ok, "%s: unexpected packet among the rows", what))
            return false;
    }
}

/* A raw client with CLIENT_DEPRECATE_EOF gets warnings, goes quiet while
 * every other conn is busy and a session waits: the proxy gives its conn
 * away and answers its SHOW WARNINGS from the stash - byte for byte what
 * the server said while the conn was still held (the stash's terminator is
 * an OK, not an EOF, under DEPRECATE_EOF). */
static void test_deprecate_eof_warnings(void)
{
    const char *what = "late SHOW WARNINGS, DEPRECATE_EOF";
    uint8_t scramble[20], resp[512], auth[20];
    int fd = raw_greeted(scramble, what);
    if (fd < 0)
        return;
    native_scramble(IT_PASSWORD, scramble, auth);
    size_t n = hs_response(resp, CAPS_BASIC | CAP_DEPRECATE_EOF, IT_USER, auth, 20, IT_DB);
    it_send_packet(fd, 1, resp, n);
    struct it_pkt k = {0};
    bool logged_in = it_read_packet(fd, &k, 5000) == 1 && k.len > 0 && k.p[0] == 0x00;
    free(k.p);
    MYSQL *hold[MAX_BACKEND] = {NULL};
    if (!IT_CHECK(logged_in, "%s: login failed", what))
        goto out;
    static const char warn[] = "\x03SELECT CAST('rawdep' AS SIGNED), 1/0";
    static const char show[] = "\x03SHOW WARNINGS";
    char rows[2][512], res[512];
    unsigned st[2] = {0}, wc[2] = {0}, s0, w0;
    for (int round = 0; round < 2; round++) {
        it_send_packet(fd, 0, warn, sizeof warn - 1);
        if (!raw_result_deprecate_eof(fd, what, res, sizeof res, &s0, &w0))
            goto out;
        IT_EQ_INT(w0, 2);
        double yields0 = it_metric(&P, "ringmux_diagnostics_yields_total");
        if (round == 1) { /* every conn busy in a transaction: the last one waits for ours */
            for (int i = 0; i < MAX_BACKEND; i++) {
                hold[i] = it_connect_proxy(&P, IT_DB);
                if (hold[i])
                    it_query(hold[i], "BEGIN");
            }
            if (!it_direct_mode())
                IT_CHECK(it_metric(&P, "ringmux_diagnostics_yields_total") > yields0,
                         "%s: the held conn was not given up", what);
        }
        it_send_packet(fd, 0, show, sizeof show - 1);
        if (!raw_result_deprecate_eof(fd, what, rows[round], sizeof rows[round], &st[round], &wc[round]))
            goto out;
    }
    IT_CHECK(strstr(rows[0], "1292|Truncated incorrect INTEGER value: 'rawdep'") && strstr(rows[0], "1365|"),
             "%s: SHOW WARNINGS on the held conn: [%s]", what, rows[0]);
    IT_CHECK(strcmp(rows[0], rows[1]) == 0, "%s: stashed [%s], the server said [%s]", what, rows[1], rows[0]);
    IT_EQ_INT(wc[1], wc[0]);
    IT_EQ_INT(st[1], st[0]);
out:
    for (int i = 0; i < MAX_BACKEND; i++)
        mysql_close(hold[i]);      /* NULL is fine */
    it_send_packet(fd, 0, "\x01", 1); /* COM_QUIT */
    close(fd);
    after_case(what);
}

/* Bytes that are no handshake response at all. */
static void test_garbage_handshake(void)
{
    /* An HTTP request instead of the response (read as a 5.5 MB packet),
     * sent before even reading the greeting. */
    int fd = it_raw_connect(&P, 5000);
    if (fd >= 0) {
        static const char http[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        it_raw_write(fd, http, sizeof http - 1, 2000);
        expect_err_close(fd, "HTTP request instead of a handshake response", 1043, "handshake");
        close(fd);
    }
    after_case("HTTP garbage");

    /* A small packet of junk: parsed, rejected. */
    uint8_t scramble[20];
    fd = raw_greeted(scramble, "junk handshake packet");
    if (fd >= 0) {
        uint8_t junk[10];
        memset(junk, 0xab, sizeof junk);
        it_send_packet(fd, 1, junk, sizeof junk);
        expect_err_close(fd, "junk handshake packet", 1043, "handshake");
        close(fd);
    }
    after_case("junk handshake packet");

    /* Random bytes, many times, each on its own connection. */
    unsigned rng = it_seed() ^ 0xbad;
    for (int i = 0; i < 50; i++) {
        fd = it_raw_connect(&P, 5000);
        if (fd < 0) {
            IT_FAIL("random garbage %d: cannot connect", i);
            continue;
        }
        uint8_t b[300];
        size_t n = 1 + it_rand(&rng) % sizeof b;
        for (size_t k = 0; k < n; k++)
            b[k] = (uint8_t)it_rand(&rng);
        it_raw_write(fd, b, n, 2000);
        /* An ERR or a close, or - when the junk declares a packet longer
         * than it sent - the handshake timeout: shut our side instead. */
        shutdown(fd, SHUT_WR);
        double t = wait_closed(fd, 5000);
        IT_CHECK(t >= 0, "random garbage %d (%zu bytes): connection still open after 5 s", i, n);
        close(fd);
    }
    after_case("random garbage");
}

/* Handshake responses that are damaged in one way each. */
static void test_bad_handshake_packets(void)
{
    uint8_t scramble[20], resp[512];
    int fd;

    /* Truncated: a valid response cut after 20 bytes (framed as 20). */
    if ((fd = raw_greeted(scramble, "truncated handshake response")) >= 0) {
        good_response(resp, scramble, NULL);
        it_send_packet(fd, 1, resp, 20);
        expect_err_close(fd, "truncated handshake response", 1043, "truncated");
        close(fd);
    }
    after_case("truncated handshake response");

    /* The auth response declares more bytes than the packet holds. */
    if ((fd = raw_greeted(scramble, "oversized auth length")) >= 0) {
        size_t n = good_response(resp, scramble, NULL);
        size_t at = 4 + 4 + 1 + 23 + strlen(IT_USER) + 1;
        resp[at] = 0xfc; /* lenenc: 2-byte length follows */
        resp[at + 1] = 0xff;
        resp[at + 2] = 0x7f;
        it_send_packet(fd, 1, resp, n);
        expect_err_close(fd, "oversized auth length", 1043, "auth");
        close(fd);
    }
    after_case("oversized auth length");

    /* A handshake packet header declaring far more than a handshake needs. */
    if ((fd = raw_greeted(scramble, "oversized handshake packet")) >= 0) {
        uint8_t h[4] = {0x00, 0x00, 0x10, 1}; /* 1 MiB */
        it_raw_write(fd, h, 4, 2000);
        expect_err_close(fd, "oversized handshake packet", 1043, "too large");
        close(fd);
    }
    after_case("oversized handshake packet");

    /* A valid response with the wrong sequence id. */
    if ((fd = raw_greeted(scramble, "wrong sequence id")) >= 0) {
        size_t n = good_response(resp, scramble, IT_DB);
        it_send_packet(fd, 5, resp, n);
        expect_err_close(fd, "handshake response with sequence id 5", 1043, "sequence");
        close(fd);
    }
    after_case("wrong sequence id");

    /* Without CLIENT_PROTOCOL_41. */
    if ((fd = raw_greeted(scramble, "no CLIENT_PROTOCOL_41")) >= 0) {
        uint8_t auth[20];
        native_scramble(IT_PASSWORD, scramble, auth);
        size_t n = hs_response(resp, CAPS_BASIC & ~CAP_PROTOCOL_41, IT_USER, auth, 20, NULL);
        it_send_packet(fd, 1, resp, n);
        expect_err_close(fd, "handshake without CLIENT_PROTOCOL_41", 1043, "4.1");
        close(fd);
    }
    after_case("no CLIENT_PROTOCOL_41");

    /* An SSL request (the listener has no TLS). */
    if ((fd = raw_greeted(scramble, "SSL request")) >= 0) {
        hs_response(resp, CAPS_BASIC | CAP_SSL, IT_USER, NULL, 0, NULL);
        it_send_packet(fd, 1, resp, 32);
        expect_err_close(fd, "SSL request", 1043, "TLS");
        close(fd);
    }
    after_case("SSL request");
}

/* Clients that vanish during the handshake, in every way. */
static void test_disconnect_mid_handshake(void)
{
    for (int i = 0; i < 40; i++) {
        uint8_t scramble[20], resp[512];
        int fd = it_raw_connect(&P, 5000);
        if (fd < 0) {
            IT_FAIL("mid-handshake %d: cannot connect", i);
            continue;
        }
        int mode = i % 5;
        if (mode >= 1 && !read_greeting(fd, scramble, "mid-handshake")) {
            close(fd);
            continue;
        }
        size_t n = mode >= 2 ? good_response(resp, scramble, IT_DB) : 0;
        if (mode == 2) { /* half the response */
            uint8_t b[4 + 512];
            b[0] = (uint8_t)n, b[1] = 0, b[2] = 0, b[3] = 1;
            memcpy(b + 4, resp, n);
            it_raw_write(fd, b, 4 + n / 2, 2000);
        } else if (mode >= 3) { /* the whole response, gone before the OK */
            it_send_packet(fd, 1, resp, n);
        }
        if (mode == 4) { /* reset instead of FIN */
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    after_case("disconnect mid-handshake");
}

/* 1000 connections opened and closed without logging in. */
static void test_connection_churn(void)
{
    double acc0 = it_metric(&P, "ringmux_clients_accepted_total");
    int fails = 0;
    double t0 = it_now();
    for (int i = 0; i < 1000; i++) {
        int fd = it_raw_connect(&P, 5000);
        if (fd < 0) {
            fails++;
            continue;
        }
        if (i % 3 == 1) {
            uint8_t b[128];
            it_raw_read(fd, b, 4, 2000); /* the greeting's header */
        }
        if (i % 3 == 2) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(fd);
    }
    fprintf(stderr, "  1000 connections opened and closed in %.2f s\n", it_now() - t0);
    IT_CHECK(fails == 0, "connection churn: %d of 1000 connects failed", fails);
    if (!it_direct_mode()) {
        /* The last ones may still sit in the accept queue: let it drain. */
        double acc = it_metric_wait(&P, "ringmux_clients_accepted_total", acc0 + 1000 - fails, 5);
        IT_CHECK(acc - acc0 >= 1000 - fails, "connection churn: ringmux_clients_accepted_total grew by %g, expected %d",
                 acc - acc0, 1000 - fails);
    }
    after_case("1000 connections opened and closed");
}

/* ---- after login ----------------------------------------------------------------- */

/* A logged-in client whose socket the test writes on directly. */
static MYSQL *logged_in(int *fd)
{
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    *fd = (int)mysql_get_socket(m);
    return m;
}

/* Drop a taken-over connection: shut the socket, then let libmariadb free
 * it (its COM_QUIT goes nowhere). */
static void drop(MYSQL *m, int fd)
{
    shutdown(fd, SHUT_RDWR);
    mysql_close(m);
}

static void test_bad_commands(void)
{
    int fd;
    MYSQL *m;

    /* A command with sequence id 3. */
    if ((m = logged_in(&fd))) {
        static const char q[] = "\x03SELECT 1";
        uint8_t b[4 + sizeof q] = {sizeof q - 1, 0, 0, 3};
        memcpy(b + 4, q, sizeof q - 1);
        it_raw_write(fd, b, 4 + sizeof q - 1, 2000);
        expect_err_close(fd, "command with sequence id 3", 1156, "sequence");
        drop(m, fd);
    }
    after_case("command with sequence id 3");

    /* An empty command packet. */
    if ((m = logged_in(&fd))) {
        it_raw_write(fd, "\0\0\0\0", 4, 2000);
        expect_err_close(fd, "empty command packet", 1156, "empty");
        drop(m, fd);
    }
    after_case("empty command packet");

    /* Unknown and unsupported commands: ERR, and the connection goes on.
     * COM_SHUTDOWN must never reach the server (COM_PROCESS_KILL is the
     * proxy's own: test_fidelity). */
    static const struct {
        uint8_t cmd;
        const char *name;
        const char *body;
        size_t body_len;
    } cmds[] = {
        {0xee, "0xEE (unknown)", "", 0},
        {0x12, "COM_BINLOG_DUMP", "\x04\x00\x00\x00\x00\x00\x01\x00\x00\x00", 10},
        {0x1e, "COM_BINLOG_DUMP_GTID", "\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00", 10},
        {0x15, "COM_REGISTER_SLAVE", "\x01\x00\x00\x00\x00\x00\x00\x00", 8},
        {0x08, "COM_SHUTDOWN", "\x00", 1},
        {0x00, "COM_SLEEP", "", 0},
        {0x0b, "COM_CONNECT", "", 0},
        {0x0f, "COM_TIME", "", 0},
        {0x10, "COM_DELAYED_INSERT", "", 0},
        {0x13, "COM_TABLE_DUMP", "", 0},
        {0x14, "COM_CONNECT_OUT", "", 0},
        {0x1d, "COM_DAEMON", "", 0},
        {0x05, "COM_CREATE_DB", "rm_bad_db", 9},
        {0x06, "COM_DROP_DB", "rm_no_such_db", 13},
        {0xff, "0xFF (unknown)", "xyz", 3},
    };
    if ((m = logged_in(&fd))) {
        for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            uint8_t b[64];
            b[0] = cmds[i].cmd;
            memcpy(b + 1, cmds[i].body, cmds[i].body_len);
            it_send_packet(fd, 0, b, 1 + cmds[i].body_len);
            struct it_pkt k = {0};
            int rc = it_read_packet(fd, &k, 5000);
            struct it_err e;
            if (rc != 1) {
                IT_FAIL("%s: no answer (%d)", cmds[i].name, rc);
                break;
            }
            bool is_err = it_parse_err(&k, &e);
            IT_CHECK(is_err && e.code == 1047 && e.seq == 1,
                     "%s: expected ERR 1047 with sequence id 1, got %s %u seq %u '%s'", cmds[i].name,
                     is_err ? "ERR" : "non-ERR packet", is_err ? e.code : k.p[0], k.seq, e.msg);
            free(k.p);
            /* The same connection keeps working. */
            char buf[32];
            if (it_scalar(m, "SELECT 'still here'", buf, sizeof buf) >= 0)
                IT_EQ_STR(buf, "still here");
        }
        drop(m, fd);
    }
    /* The server is up and the schema is still there. */
    MYSQL *d = it_connect_direct(IT_DB);
    IT_CHECK(d != NULL, "the backend is gone after unsupported commands");
    if (d)
        mysql_close(d);
    after_case("unknown and unsupported commands");
}

/* Packets beyond max_allowed_packet (1M). */
static void test_max_allowed_packet(void)
{
    int fd;
    MYSQL *m;

    /* Just below the limit: a 1,000,000-byte string literal goes through. */
    if ((m = it_connect_proxy(&P, IT_DB))) {
        size_t n = 1000000;
        char *sql = malloc(n + 64);
        int k = sprintf(sql, "SELECT LENGTH('");
        memset(sql + k, 'x', n);
        strcpy(sql + k + n, "')");
        IT_EQ_INT(it_scalar_int(m, sql), (long long)n);
        free(sql);
        mysql_close(m);
    }

    /* A header declaring a 16 MiB piece (a continuation chain) - refused
     * at once, without waiting for the bytes. */
    if ((m = logged_in(&fd))) {
        uint8_t h[5] = {0xff, 0xff, 0xff, 0, 0x03};
        it_raw_write(fd, h, 5, 2000);
        expect_err_close(fd, "16 MiB packet header", 1153, "max_allowed_packet");
        drop(m, fd);
    }
    after_case("16 MiB packet header");

    /* One byte over the limit. */
    if ((m = logged_in(&fd))) {
        uint32_t len = MAX_PACKET + 1;
        uint8_t h[5] = {(uint8_t)len, (uint8_t)(len >> 8), (uint8_t)(len >> 16), 0, 0x03};
        it_raw_write(fd, h, 5, 2000);
        expect_err_close(fd, "packet of max_allowed_packet + 1 bytes", 1153, "max_allowed_packet");
        drop(m, fd);
    }
    after_case("max_allowed_packet + 1");

    /* A continuation chain actually being sent: the proxy must not buffer
     * it; the connection ends (an ERR may be lost to the reset). */
    if ((m = logged_in(&fd))) {
        size_t chunk = 1 << 20;
        uint8_t *b = malloc(chunk);
        memset(b, 'a', chunk);
        uint8_t h[5] = {0xff, 0xff, 0xff, 0, 0x03};
        long rss0 = it_proxy_rss_kb(&P);
        it_raw_write(fd, h, 5, 2000);
        size_t sent = 0;
        for (int i = 0; i < 40; i++) {
            if (it_raw_write(fd, b, chunk, 500) != 0)
                break;
            sent += chunk;
        }
        free(b);
        IT_CHECK(wait_closed(fd, 5000) >= 0, "16 MiB chain being sent: connection still open");
        long rss1 = it_proxy_rss_kb(&P);
        fprintf(stderr, "  16 MiB chain: %zu bytes written before the close, RSS %ld -> %ld KiB\n", sent, rss0, rss1);
        if (rss0 > 0 && rss1 > 0)
            IT_CHECK(rss1 - rss0 < 32 * 1024, "16 MiB chain: proxy RSS grew by %ld KiB", rss1 - rss0);
        drop(m, fd);
    }
    after_case("16 MiB chain");
}

/* Rows of `pattern` still running on the backend. */
static long long backend_running(MYSQL *d, const char *pattern)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE '%s%%'", pattern);
    return it_scalar_int(d, sql);
}

/* Wait (up to timeout_s) until no backend thread runs pattern. */
static void expect_backend_done(const char *what, const char *pattern, double timeout_s)
{
    MYSQL *d = it_connect_direct(NULL);
    if (!d)
        return;
    double deadline = it_now() + timeout_s;
    long long n;
    while ((n = backend_running(d, pattern)) > 0 && it_now() < deadline)
        it_usleep(100000);
    IT_CHECK(n == 0, "%s: %lld backend statements still running %.0f s after the client left", what, n, timeout_s);
    mysql_close(d);
}

/* Clients that go away in the middle of a large result. */
static void test_disconnect_mid_result(void)
{
    static const char q[] = "\x03SELECT REPEAT('z', 1024*1024) FROM seq_1_to_100";
    for (int i = 0; i < 6; i++) {
        int fd;
        MYSQL *m = logged_in(&fd);
        if (!m)
            continue;
        it_send_packet(fd, 0, q, sizeof q - 1);
        uint8_t buf[65536];
        size_t want = (size_t)(i + 1) * 300000, got = 0;
        while (got < want) {
            ssize_t r = it_raw_read(fd, buf, sizeof buf < want - got ? sizeof buf : want - got, 5000);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        /* (Since the proxy drains abandoned responses to their end - see
         * test_abandon_long_statement - a slow build such as ASan can leave
         * this client waiting for an earlier 100 MB result to be drained:
         * ERR 1040 instead of rows.) */
        IT_CHECK(got == want, "mid-result %d: read only %zu of %zu bytes", i, got, want);
        if (i % 2) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        drop(m, fd);
        if (!it_direct_mode()) {
            double b = it_metric(&P, "ringmux_backend_connections");
            IT_CHECK(b <= MAX_BACKEND, "mid-result %d: %g backend connections", i, b);
        }
    }
    expect_backend_done("disconnect mid-result", "SELECT REPEAT(''z''", 10);
    after_case("disconnect mid-result");
}

/* Clients that give up during a long statement: the pool must not stay
 * blocked until their statements end on the backend. */
struct prober {
    pthread_t thread;
    unsigned err;
    char errmsg[256];
};

static void *prober_main(void *arg)
{
    struct prober *pr = arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m) {
        pr->err = 1;
        snprintf(pr->errmsg, sizeof pr->errmsg, "could not connect");
        return NULL;
    }
    if (mysql_query(m, "SELECT 1") != 0) {
        pr->err = mysql_errno(m);
        snprintf(pr->errmsg, sizeof pr->errmsg, "%s", mysql_error(m));
    } else {
        mysql_free_result(mysql_store_result(m));
    }
    mysql_close(m);
    return NULL;
}

static void test_abandon_long_statement(void)
{
    const char *what = "clients gone during SELECT SLEEP(10)";
    MYSQL *m[MAX_BACKEND];
    int fd[MAX_BACKEND];
    static const char q[] = "\x03SELECT SLEEP(10)";
    for (int i = 0; i < MAX_BACKEND; i++)
        if ((m[i] = logged_in(&fd[i])))
            it_send_packet(fd[i], 0, q, sizeof q - 1);
    it_usleep(500000); /* they run */
    for (int i = 0; i < MAX_BACKEND; i++)
        if (m[i])
            drop(m[i], fd[i]);
    it_usleep(300000);
    /* New clients, on both workers, are served right away: the proxy
     * interrupts a vanished client's statement (KILL QUERY) or closes its
     * backend connection rather than waiting for the statement to end. */
    struct prober pr[8];
    memset(pr, 0, sizeof pr);
    double t0 = it_now();
    for (int i = 0; i < 8; i++)
        pthread_create(&pr[i].thread, NULL, prober_main, &pr[i]);
    int failed = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(pr[i].thread, NULL);
        if (pr[i].err) {
            if (failed++ == 0)
                fprintf(stderr, "  %s: a new client got %u %s\n", what, pr[i].err, pr[i].errmsg);
        }
    }
    IT_CHECK(failed == 0, "%s: %d of 8 new clients failed (%.1f s)", what, failed, it_now() - t0);
    /* Let the abandoned statements finish before the next case. */
    expect_backend_done(what, "SELECT SLEEP(10)", 12);
    after_case(what);
}

/* ---- a client that never reads ------------------------------------------------- */

static atomic_int g_others_run;
static atomic_long g_others_ok;

static void *other_main(void *arg)
{
    (void)arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    while (atomic_load(&g_others_run)) {
        if (it_scalar_int(m, "SELECT COUNT(*) FROM seq_1_to_1000") == 1000)
            atomic_fetch_add(&g_others_ok, 1);
        if (it_scalar_int(m, "SELECT LENGTH(REPEAT('y', 200000))") == 200000)
            atomic_fetch_add(&g_others_ok, 1);
        it_usleep(20000);
    }
    mysql_close(m);
    return NULL;
}

static void test_never_reads(void)
{
    const char *what = "client that never reads a 200 MB result";
    int fd;
    MYSQL *m = logged_in(&fd);
    if (!m)
        return;
    long rss0 = it_proxy_rss_kb(&P);
    static const char q[] = "\x03SELECT REPEAT('x', 1024*1024) FROM seq_1_to_200";
    it_send_packet(fd, 0, q, sizeof q - 1);
    atomic_store(&g_others_run, 1);
    pthread_t others[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&others[i], NULL, other_main, NULL);
    long rss_max = rss0;
    double t0 = it_now();
    while (it_now() - t0 < 6) {
        long r = it_proxy_rss_kb(&P);
        if (r > rss_max)
            rss_max = r;
        it_usleep(100000);
    }
    atomic_store(&g_others_run, 0);
    for (int i = 0; i < 3; i++)
        pthread_join(others[i], NULL);
    fprintf(stderr, "  %s: proxy RSS %ld KiB before, at most %ld KiB; %ld statements of others\n", what, rss0, rss_max,
            atomic_load(&g_others_ok));
    if (!it_direct_mode())
        IT_CHECK(rss_max - rss0 < 64 * 1024, "%s: proxy RSS grew by %ld KiB (limit 64 MiB)", what, rss_max - rss0);
    IT_CHECK(atomic_load(&g_others_ok) >= 60, "%s: other clients completed only %ld statements in 6 s", what,
             atomic_load(&g_others_ok));
    /* The slow client is still there: it can read its first rows now. */
    uint8_t buf[4];
    IT_CHECK(it_raw_read(fd, buf, 4, 2000) == 4, "%s: no data for the slow client", what);
    drop(m, fd);
    expect_backend_done(what, "SELECT REPEAT(''x''", 10);
    after_case(what);
}

int main(int argc, char **argv)
{
    it_watchdog(170);
    signal(SIGPIPE, SIG_IGN);
    char pool[128];
    /* abandoned_statement = kill: "abandon long statement" checks that the
     * proxy stops a vanished client's statement (the default, finish, lets
     * it run as the server would: test_fidelity). */
    snprintf(pool, sizeof pool, "max_backend_connections = %d\nabandoned_statement = kill\n", MAX_BACKEND);
    if (it_proxy_start_ex(&P, "max_allowed_packet = 1M\n", pool) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    /* The SHA-1 above must be right for the raw login to mean anything. */
    uint8_t d[20];
    sha1((const uint8_t *)"abc", 3, d);
    IT_CHECK(memcmp(d,
                    "\xa9\x99\x3e\x36\x47\x06\x81\x6a\xba\x3e\x25\x71\x78\x50\xc2\x6c\x9c\xd0"
                    "\xd8\x9d",
                    20) == 0,
             "SHA-1 self-test failed");

    W = it_connect_proxy(&P, IT_DB);
    if (W) {
        g_clients_base = it_metric_wait(&P, "ringmux_client_connections", 1, 5);
        if (!it_direct_mode())
            IT_CHECK(g_clients_base == 1, "ringmux_client_connections = %g with one client", g_clients_base);
        static const struct it_case cases[] = {
            {"handshake timeout", test_handshake_timeout},
            {"raw login", test_raw_login_ok},
            {"DEPRECATE_EOF warnings", test_deprecate_eof_warnings},
            {"garbage handshake", test_garbage_handshake},
            {"bad handshake packets", test_bad_handshake_packets},
            {"disconnect mid-handshake", test_disconnect_mid_handshake},
            {"bad commands", test_bad_commands},
            {"max_allowed_packet", test_max_allowed_packet},
            {"disconnect mid-result", test_disconnect_mid_result},
            {"abandon long statement", test_abandon_long_statement},
            {"never reads", test_never_reads},
            {"connection churn", test_connection_churn},
        };
        bool all = it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
        if (all && !it_direct_mode()) {
            double pe = it_metric(&P, "ringmux_protocol_errors_total");
            IT_CHECK(pe >= 10, "ringmux_protocol_errors_total = %g after all that", pe);
        }
        mysql_close(W);
    }
    IT_CHECK(it_proxy_alive(&P), "proxy died during the test");
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
