/* TLS towards clients ([tls] tls_cert / tls_key / tls_ca / require_tls /
 * min_version), with certificates from scripts/make-test-certs.sh:
 *   - libmariadb in each ssl mode: REQUIRED (encryption only), VERIFY_CA
 *     (chain: the right CA passes, an unrelated one fails), VERIFY_IDENTITY
 *     (chain and host name); large statements and results over TLS;
 *   - the stock mariadb client (--ssl, --ssl-ca, --ssl-verify-server-cert);
 *   - certificate rotation by SIGHUP: a certificate for another host name
 *     passes VERIFY_CA and fails VERIFY_IDENTITY, sessions in TLS go on;
 *   - require_tls: plaintext refused with an error naming the setting;
 *   - mutual TLS (tls_ca): no client certificate, no login;
 *   - openssl s_client -starttls mysql: TLS 1.3, then a resumed session
 *     (ticket); min_version = 1.3 refuses TLS 1.2;
 *   - garbage instead of a TLS handshake: that client is dropped, counted,
 *     and nobody else notices;
 *   - many TLS clients at once, connecting and disconnecting;
 *   - TLS to the backend ([backend] tls) against a MariaDB started with TLS
 *     and require_secure_transport = ON: on, verify_ca, verify_identity
 *     (right name passes, wrong name and unrelated CA fail with the reason
 *     in the client's error), off refused by the server, a client
 *     certificate for a REQUIRE X509 account, TLS on both sides at once. */
#include "harness.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char certs[160]; /* directory made by scripts/make-test-certs.sh */

static const char *cert(const char *name)
{
    static __thread char path[8][240];
    static __thread int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", certs, name);
    return p;
}

enum ssl_mode { MODE_DISABLED, MODE_REQUIRED, MODE_VERIFY_CA, MODE_VERIFY_IDENTITY };

struct tls_opts {
    enum ssl_mode mode;
    const char *ca;   /* file name in certs (VERIFY_*) */
    bool client_cert; /* present client.pem */
    const char *host; /* NULL: the proxy's */
};

/* Connect as a MySQL client in the given ssl mode; NULL with e filled if
 * that failed (nothing recorded: callers decide whether it should have). */
static MYSQL *tls_connect(struct it_proxy *P, const struct tls_opts *o, struct it_error *e)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 10;
    my_bool yes = 1, no = 0;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    unsigned int tcp = MYSQL_PROTOCOL_TCP; /* "localhost" too */
    mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
    if (o->mode == MODE_DISABLED) {
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &no);
    } else {
        mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &yes);
        if (o->mode >= MODE_VERIFY_CA)
            mysql_options(m, MYSQL_OPT_SSL_CA, cert(o->ca ? o->ca : "ca.pem"));
        mysql_options(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, o->mode == MODE_VERIFY_IDENTITY ? &yes : &no);
        if (o->client_cert) {
            mysql_options(m, MYSQL_OPT_SSL_CERT, cert("client.pem"));
            mysql_options(m, MYSQL_OPT_SSL_KEY, cert("client.key"));
        }
    }
    unsigned long max_packet = 64ul << 20;
    mysql_options(m, MYSQL_OPT_MAX_ALLOWED_PACKET, &max_packet);
    if (!mysql_real_connect(m, o->host ? o->host : P->host, IT_USER, IT_PASSWORD, IT_DB, (unsigned)P->port, NULL, 0)) {
        if (e)
            it_error_get(m, e);
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* Connect that must work, over TLS unless mode is DISABLED. */
static MYSQL *tls_must(struct it_proxy *P, const struct tls_opts *o, const char *what)
{
    struct it_error e = {0};
    MYSQL *m = tls_connect(P, o, &e);
    if (!m) {
        IT_FAIL("%s: connect failed: %u %s", what, e.code, e.message);
        return NULL;
    }
    const char *cipher = mysql_get_ssl_cipher(m);
    if (o->mode == MODE_DISABLED)
        IT_CHECK(cipher == NULL, "%s: plaintext connection reports cipher %s", what, cipher);
    else
        IT_CHECK(cipher != NULL, "%s: no TLS cipher in use", what);
    IT_EQ_INT(it_scalar_int(m, "SELECT 40 + 2"), 42);
    return m;
}

/* A connect that must fail with code (0: any error). */
static void tls_refused(struct it_proxy *P, const struct tls_opts *o, unsigned code, const char *needle,
                        const char *what)
{
    struct it_error e = {0};
    MYSQL *m = tls_connect(P, o, &e);
    if (m) {
        IT_FAIL("%s: connected, expected a refusal", what);
        mysql_close(m);
        return;
    }
    fprintf(stderr, "%s: refused as expected: %u %s\n", what, e.code, e.message);
    if (code)
        IT_EQ_INT(e.code, code);
    if (needle)
        IT_CHECK(strstr(e.message, needle) != NULL, "%s: error \"%s\" does not mention %s", what, e.message, needle);
}

/* A proxy with [tls] for the pair NAME.pem / NAME.key, plus extra [tls] lines. */
static int start_tls_proxy(struct it_proxy *P, const char *name, const char *extra)
{
    char ini[1024], crt[64], key[64];
    snprintf(crt, sizeof crt, "%s.pem", name);
    snprintf(key, sizeof key, "%s.key", name);
    snprintf(ini, sizeof ini, "[tls]\ntls_cert = %s\ntls_key = %s\n%s", cert(crt), cert(key), extra ? extra : "");
    return it_proxy_start_ex(P, ini, NULL);
}

/* Statements and results larger than a TLS record, both ways. */
static void big_round_trips(MYSQL *m, const char *what)
{
    size_t n = 5u << 20;
    char *sql = malloc(n + 64);
    int k = snprintf(sql, 64, "SELECT LENGTH('");
    memset(sql + k, 'q', n);
    strcpy(sql + k + n, "')");
    char buf[64];
    if (it_scalar(m, sql, buf, sizeof buf) == 0)
        IT_EQ_INT(atol(buf), (long)n);
    free(sql);
    if (mysql_query(m, "SELECT REPEAT('r', 6000000), 7") == 0) {
        MYSQL_RES *r = mysql_store_result(m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        unsigned long *lens = row ? mysql_fetch_lengths(r) : NULL;
        IT_CHECK(lens && lens[0] == 6000000 && row[0][5999999] == 'r' && strcmp(row[1], "7") == 0,
                 "%s: 6 MB result damaged (%s, length %lu)", what, r ? "a row" : mysql_error(m), lens ? lens[0] : 0);
        if (r)
            mysql_free_result(r);
    } else {
        IT_FAIL("%s: SELECT REPEAT over TLS: %s", what, mysql_error(m));
    }
}

static void test_ssl_modes(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", NULL) != 0) {
        IT_FAIL("ssl modes: proxy did not start");
        return;
    }
    MYSQL *m;
    if ((m = tls_must(&P, &(struct tls_opts){.mode = MODE_REQUIRED}, "REQUIRED"))) {
        big_round_trips(m, "REQUIRED");
        /* A prepared statement over TLS. */
        MYSQL_STMT *st = mysql_stmt_init(m);
        IT_CHECK(mysql_stmt_prepare(st, "SELECT ? + 1", 12) == 0, "prepare over TLS: %s", mysql_stmt_error(st));
        mysql_stmt_close(st);
        mysql_close(m);
    }
    if ((m = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_CA, .ca = "ca.pem"}, "VERIFY_CA")))
        mysql_close(m);
    if ((m = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem"},
                      "VERIFY_IDENTITY 127.0.0.1")))
        mysql_close(m);
    if ((m = tls_must(&P,
                      &(struct tls_opts){
                          .mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem", .client_cert = false, .host = "localhost"},
                      "VERIFY_IDENTITY localhost")))
        mysql_close(m);
    tls_refused(&P, &(struct tls_opts){.mode = MODE_VERIFY_CA, .ca = "other-ca.pem"}, 2026, NULL,
                "VERIFY_CA, unrelated CA");
    tls_refused(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "other-ca.pem"}, 2026, NULL,
                "VERIFY_IDENTITY, unrelated CA");
    if ((m = tls_must(&P, &(struct tls_opts){.mode = MODE_DISABLED}, "plaintext, TLS optional")))
        mysql_close(m);

    /* The stock client. */
    char cmd[1024], out[4096];
    const char *base = "mariadb -h127.0.0.1 -u" IT_USER " -p" IT_PASSWORD " " IT_DB " -N -B";
    snprintf(cmd, sizeof cmd, "%s -P%d --ssl -e \"SHOW SESSION STATUS LIKE 'Ssl_cipher'; SELECT 'cli-ok'\" 2>&1", base,
             P.port);
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0 && strstr(out, "cli-ok"), "mariadb --ssl: %s", out);
    snprintf(cmd, sizeof cmd, "%s -P%d --ssl-ca=%s --ssl-verify-server-cert -e \"\\s\" 2>&1", base, P.port,
             cert("ca.pem"));
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0 && strstr(out, "Cipher in use is TLS"),
             "mariadb --ssl-ca --ssl-verify-server-cert: %s", out);
    snprintf(cmd, sizeof cmd, "%s -P%d --ssl-ca=%s -e \"SELECT 1\" 2>&1", base, P.port, cert("other-ca.pem"));
    IT_CHECK(it_shell(cmd, out, sizeof out) != 0 && strstr(out, "2026"), "mariadb --ssl-ca=other-ca: %s", out);
    IT_CHECK(it_metric(&P, "ringmux_tls_handshakes_total") >= 6, "handshakes not counted: %.0f",
             it_metric(&P, "ringmux_tls_handshakes_total"));
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* A certificate for another name, swapped in by SIGHUP. */
static void test_identity_and_rotation(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", NULL) != 0) {
        IT_FAIL("rotation: proxy did not start");
        return;
    }
    MYSQL *before = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem"}, "before rotation");
    char ini[1024];
    FILE *f = fopen(P.ini, "r");
    size_t n = f ? fread(ini, 1, sizeof ini - 1, f) : 0;
    ini[n] = '\0';
    if (f)
        fclose(f);
    /* Point tls_cert / tls_key at the elsewhere.invalid pair. */
    char *text = NULL;
    size_t tl = 0;
    FILE *mf = open_memstream(&text, &tl);
    for (char *line = strtok(ini, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "tls_cert", 8) == 0)
            fprintf(mf, "tls_cert = %s\n", cert("elsewhere.pem"));
        else if (strncmp(line, "tls_key", 7) == 0)
            fprintf(mf, "tls_key = %s\n", cert("elsewhere.key"));
        else
            fprintf(mf, "%s\n", line);
    }
    fclose(mf);
    f = fopen(P.ini, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    free(text);
    it_proxy_signal(&P, SIGHUP);
    it_usleep(500000);
    MYSQL *m;
    if ((m = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_CA, .ca = "ca.pem"}, "VERIFY_CA, other host name")))
        mysql_close(m);
    tls_refused(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem"}, 2026, NULL,
                "VERIFY_IDENTITY, certificate for elsewhere.invalid");
    if (before) { /* its TLS session is untouched by the new certificate */
        IT_EQ_INT(it_scalar_int(before, "SELECT 5"), 5);
        mysql_close(before);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_require_tls(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", "require_tls = on\n") != 0) {
        IT_FAIL("require_tls: proxy did not start");
        return;
    }
    tls_refused(&P, &(struct tls_opts){.mode = MODE_DISABLED}, 1045, "require_tls", "plaintext under require_tls");
    MYSQL *m = tls_must(&P, &(struct tls_opts){.mode = MODE_REQUIRED}, "TLS under require_tls");
    if (m)
        mysql_close(m);
    IT_EQ_INT((long)it_metric(&P, "ringmux_tls_required_refused_total"), 1);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_mutual_tls(void)
{
    struct it_proxy P;
    char extra[300];
    snprintf(extra, sizeof extra, "tls_ca = %s\n", cert("ca.pem"));
    if (start_tls_proxy(&P, "server", extra) != 0) {
        IT_FAIL("mutual TLS: proxy did not start");
        return;
    }
    tls_refused(&P, &(struct tls_opts){.mode = MODE_VERIFY_CA, .ca = "ca.pem"}, 0, NULL, "no client certificate");
    MYSQL *m = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem", .client_cert = true},
                        "client certificate");
    if (m)
        mysql_close(m);
    IT_CHECK(it_metric(&P, "ringmux_tls_failures_total") >= 1, "the refused handshake is not counted");
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_openssl_resume(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", NULL) != 0) {
        IT_FAIL("s_client: proxy did not start");
        return;
    }
    char sess[200], cmd[1024], out[16384];
    snprintf(sess, sizeof sess, "%s/s_client.sess", certs);
    /* stdin stays open a moment so the TLS 1.3 ticket arrives before it quits. */
    snprintf(cmd, sizeof cmd,
             "sleep 1 | timeout 10 openssl s_client -starttls mysql -connect 127.0.0.1:%d -CAfile %s "
             "-verify_return_error -sess_out %s 2>&1",
             P.port, cert("ca.pem"), sess);
    it_shell(cmd, out, sizeof out);
    IT_CHECK(strstr(out, "New, TLSv1.3") && strstr(out, "Verify return code: 0 (ok)"),
             "s_client: no verified TLS 1.3 session: %.2000s", out);
    snprintf(cmd, sizeof cmd,
             "sleep 1 | timeout 10 openssl s_client -starttls mysql -connect 127.0.0.1:%d -CAfile %s "
             "-sess_in %s 2>&1",
             P.port, cert("ca.pem"), sess);
    it_shell(cmd, out, sizeof out);
    IT_CHECK(strstr(out, "Reused, TLSv1.3") != NULL, "s_client: session not resumed: %.2000s", out);
    IT_CHECK(it_metric(&P, "ringmux_tls_resumed_total") >= 1, "resumption not counted");
    IT_EQ_INT(it_proxy_stop(&P), 0);

    if (start_tls_proxy(&P, "server", "min_version = 1.3\n") != 0) {
        IT_FAIL("min_version: proxy did not start");
        return;
    }
    snprintf(cmd, sizeof cmd,
             "timeout 10 openssl s_client -tls1_2 -starttls mysql -connect 127.0.0.1:%d 2>&1 </dev/null", P.port);
    it_shell(cmd, out, sizeof out);
    IT_CHECK(!strstr(out, "New, TLSv1.2"), "min_version = 1.3 let TLS 1.2 through: %.2000s", out);
    snprintf(cmd, sizeof cmd, "sleep 1 | timeout 10 openssl s_client -starttls mysql -connect 127.0.0.1:%d 2>&1",
             P.port);
    it_shell(cmd, out, sizeof out);
    IT_CHECK(strstr(out, "New, TLSv1.3") != NULL, "min_version = 1.3: no TLS 1.3: %.2000s", out);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* Read the greeting and send an SSL request; the fd, or -1. */
static int ssl_requested(struct it_proxy *P, const char *what)
{
    int fd = it_raw_connect(P, 5000);
    if (fd < 0) {
        IT_FAIL("%s: cannot connect: %s", what, strerror(errno));
        return -1;
    }
    struct it_pkt k = {0};
    if (it_read_packet(fd, &k, 5000) != 1 || k.len < 40) {
        IT_FAIL("%s: no greeting", what);
        free(k.p);
        close(fd);
        return -1;
    }
    /* capability flags (lower 16 bits) follow version, id, scramble part 1, filler */
    size_t vlen = strlen((const char *)k.p + 1);
    uint16_t caps = (uint16_t)(k.p[1 + vlen + 1 + 4 + 8 + 1] | k.p[1 + vlen + 1 + 4 + 8 + 2] << 8);
    IT_CHECK(caps & CLIENT_SSL, "%s: the greeting does not offer CLIENT_SSL", what);
    free(k.p);
    uint8_t req[32] = {0};
    uint32_t c = CLIENT_PROTOCOL_41 | CLIENT_SSL | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH;
    memcpy(req, &c, 4);
    req[7] = 1; /* max packet 16 MiB */
    req[8] = 45;
    it_send_packet(fd, 1, req, sizeof req);
    return fd;
}

static void test_bad_tls_input(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", NULL) != 0) {
        IT_FAIL("bad input: proxy did not start");
        return;
    }
    MYSQL *w = tls_must(&P, &(struct tls_opts){.mode = MODE_REQUIRED}, "witness");
    /* Not a TLS record. */
    int fd = ssl_requested(&P, "garbage");
    if (fd >= 0) {
        const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n0123456789abcdef0123456789abcdef";
        it_raw_write(fd, junk, sizeof junk, 2000);
        uint8_t b[256];
        ssize_t r;
        double t0 = it_now();
        while ((r = it_raw_read(fd, b, 1, 3000)) > 0) /* an alert may come first */
            ;
        IT_CHECK(r == 0 || r == -1, "garbage: the connection stayed open (%zd)", r);
        IT_CHECK(it_now() - t0 < 3, "garbage: the proxy took %.1f s to drop it", it_now() - t0);
        close(fd);
    }
    /* A ClientHello cut short, then the client leaves. */
    fd = ssl_requested(&P, "cut hello");
    if (fd >= 0) {
        const uint8_t part[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03};
        it_raw_write(fd, part, sizeof part, 2000);
        close(fd);
    }
    /* A record header announcing 64 KiB (beyond the TLS maximum). */
    fd = ssl_requested(&P, "huge record");
    if (fd >= 0) {
        const uint8_t hdr[] = {0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0x02, 0x03};
        it_raw_write(fd, hdr, sizeof hdr, 2000);
        uint8_t b[64];
        ssize_t r;
        while ((r = it_raw_read(fd, b, 1, 3000)) > 0)
            ;
        IT_CHECK(r == 0 || r == -1, "huge record: the connection stayed open (%zd)", r);
        close(fd);
    }
    IT_CHECK(it_metric_wait(&P, "ringmux_tls_failures_total", 2, 3) >= 2, "failed handshakes not counted: %.0f",
             it_metric(&P, "ringmux_tls_failures_total"));
    if (w) {
        IT_EQ_INT(it_scalar_int(w, "SELECT 9"), 9);
        mysql_close(w);
    }
    IT_CHECK(it_proxy_alive(&P), "the proxy died");
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static struct it_proxy *g_many;

static void *many_worker(void *arg)
{
    long id = (long)arg;
    for (int i = 0; i < 8; i++) {
        MYSQL *m = tls_must(
            g_many, &(struct tls_opts){.mode = (id + i) % 2 ? MODE_REQUIRED : MODE_VERIFY_CA, .ca = "ca.pem"}, "many");
        if (!m)
            return NULL;
        for (int q = 0; q < 10; q++)
            IT_EQ_INT(it_scalar_int(m, "SELECT 1 + 1"), 2);
        mysql_close(m);
    }
    return NULL;
}

static void test_many_clients(void)
{
    struct it_proxy P;
    if (start_tls_proxy(&P, "server", NULL) != 0) {
        IT_FAIL("many: proxy did not start");
        return;
    }
    g_many = &P;
    pthread_t t[16];
    for (long i = 0; i < 16; i++)
        pthread_create(&t[i], NULL, many_worker, (void *)i);
    for (int i = 0; i < 16; i++)
        pthread_join(t[i], NULL);
    IT_CHECK(it_metric(&P, "ringmux_tls_handshakes_total") >= 128, "handshakes: %.0f",
             it_metric(&P, "ringmux_tls_handshakes_total"));
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ---- TLS to the backend --------------------------------------------------- */

static char tlsdb_dir[160];
static int tlsdb_port;

/* A MariaDB that takes TLS only (require_secure_transport = ON). */
static bool tlsdb_start(void)
{
    if (tlsdb_port)
        return true;
    char cmd[1024], out[4096];
    snprintf(tlsdb_dir, sizeof tlsdb_dir, "/tmp/ringmux-tlsdb.%d", (int)getpid());
    snprintf(cmd, sizeof cmd,
             "SANDBOX_EXTRA_ARGS='--ssl-cert=%s --ssl-key=%s --ssl-ca=%s --require-secure-transport=ON' "
             "%s/scripts/sandbox-mariadb.sh start %s 2>&1 | tail -n 5",
             cert("server.pem"), cert("server.key"), cert("ca.pem"), RINGMUX_SOURCE_DIR, tlsdb_dir);
    if (it_shell(cmd, out, sizeof out) != 0) {
        IT_FAIL("cannot start the TLS-only MariaDB: %s", out);
        return false;
    }
    char path[200];
    snprintf(path, sizeof path, "%s/port", tlsdb_dir);
    FILE *f = fopen(path, "r");
    if (!f || fscanf(f, "%d", &tlsdb_port) != 1) {
        IT_FAIL("no port in %s", path);
        if (f)
            fclose(f);
        return false;
    }
    fclose(f);
    /* An account that must show a client certificate. */
    snprintf(cmd, sizeof cmd,
             "mariadb --no-defaults --protocol=socket --socket=%s/mysql.sock -uroot -e \"CREATE USER IF NOT EXISTS "
             "'rmx509'@'127.0.0.1' IDENTIFIED BY 'x509-pw' REQUIRE X509; GRANT ALL ON rmtest.* TO "
             "'rmx509'@'127.0.0.1'\" 2>&1",
             tlsdb_dir);
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0, "cannot create the X509 account: %s", out);
    return true;
}

static void tlsdb_stop(void)
{
    if (!tlsdb_port)
        return;
    char cmd[512], out[2048];
    snprintf(cmd, sizeof cmd, "%s/scripts/sandbox-mariadb.sh stop %s 2>&1 && rm -rf %s", RINGMUX_SOURCE_DIR, tlsdb_dir,
             tlsdb_dir);
    it_shell(cmd, out, sizeof out);
    tlsdb_port = 0;
}

/* A proxy whose one backend is the TLS-only server with these [backend]
 * lines; the client side gets TLS too when client_tls. */
static int start_backend_proxy(struct it_proxy *P, const char *backend_lines, const char *users, bool client_tls)
{
    char be[1024], rm[600] = "", pool[300];
    snprintf(be, sizeof be, "[backend]\n%s\n[monitor]\nuser = " IT_USER "\n", backend_lines);
    snprintf(pool, sizeof pool, "connection_borrow_timeout = 2s\n%s", users ? users : "");
    if (client_tls)
        snprintf(rm, sizeof rm, "[tls]\ntls_cert = %s\ntls_key = %s\n", cert("server.pem"), cert("server.key"));
    return it_proxy_start_full(P, rm, be, pool);
}

/* What a client of the proxy sees at login (the database is checked on the
 * backend then): "" if it worked, else "CODE message". */
static void first_statement(struct it_proxy *P, const char *user, const char *pw, char *err, size_t len)
{
    struct it_error e = {0};
    err[0] = '\0';
    if (it_connect_error(P->host, P->port, user, pw, IT_DB, &e) == 0)
        snprintf(err, len, "%u %s", e.code, e.message);
}

static void test_backend_tls(void)
{
    if (!tlsdb_start())
        return;
    char lines[600], err[600];
    struct it_proxy P;
    static const char *const modes[] = {"on", "verify_ca"};
    for (int i = 0; i < 2; i++) {
        snprintf(lines, sizeof lines, "address = 127.0.0.1:%d\ntls = %s\ntls_ca = %s\n", tlsdb_port, modes[i],
                 cert("ca.pem"));
        if (i == 0)
            snprintf(lines, sizeof lines, "address = 127.0.0.1:%d\ntls = on\n", tlsdb_port);
        if (start_backend_proxy(&P, lines, NULL, false) != 0) {
            IT_FAIL("backend tls = %s: proxy did not start", modes[i]);
            continue;
        }
        MYSQL *m = it_connect_proxy(&P, IT_DB);
        if (m) {
            char v[64] = "";
            it_scalar(m,
                      "SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = "
                      "'SSL_VERSION'",
                      v, sizeof v);
            IT_CHECK(strncmp(v, "TLSv1", 5) == 0, "backend tls = %s: the backend link is not TLS (%s)", modes[i], v);
            big_round_trips(m, modes[i]);
            MYSQL_STMT *st = mysql_stmt_init(m);
            IT_CHECK(mysql_stmt_prepare(st, "SELECT ? + 1", 12) == 0, "prepare over backend TLS: %s",
                     mysql_stmt_error(st));
            mysql_stmt_close(st);
            mysql_close(m);
        }
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    /* verify_identity: "localhost" is in the certificate... */
    snprintf(lines, sizeof lines, "address = localhost:%d\ntls = verify_identity\ntls_ca = %s\n", tlsdb_port,
             cert("ca.pem"));
    if (start_backend_proxy(&P, lines, NULL, true) == 0) {
        MYSQL *m = tls_must(&P, &(struct tls_opts){.mode = MODE_VERIFY_IDENTITY, .ca = "ca.pem"}, "TLS on both sides");
        if (m) {
            big_round_trips(m, "both sides");
            mysql_close(m);
        }
        IT_EQ_INT(it_proxy_stop(&P), 0);
    } else {
        IT_FAIL("verify_identity: proxy did not start");
    }
    /* ...wrongname.test is not (the test resolver maps it to the same server). */
    char hosts[200];
    snprintf(hosts, sizeof hosts, "%s/hosts", certs);
    FILE *f = fopen(hosts, "w");
    if (f) {
        fprintf(f, "127.0.0.1:%d wrongname.test\n", tlsdb_port);
        fclose(f);
    }
    setenv("RINGMUX_TEST_HOSTS", hosts, 1);
    snprintf(lines, sizeof lines, "address = wrongname.test:%d\ntls = verify_identity\ntls_ca = %s\n", tlsdb_port,
             cert("ca.pem"));
    int rc = start_backend_proxy(&P, lines, NULL, false);
    unsetenv("RINGMUX_TEST_HOSTS");
    if (rc == 0) {
        first_statement(&P, IT_USER, IT_PASSWORD, err, sizeof err);
        fprintf(stderr, "wrong name: %s\n", err);
        IT_CHECK(strstr(err, "TLS with the server failed") != NULL, "wrong name: %s", err);
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    /* An unrelated CA. */
    snprintf(lines, sizeof lines, "address = 127.0.0.1:%d\ntls = verify_ca\ntls_ca = %s\n", tlsdb_port,
             cert("other-ca.pem"));
    if (start_backend_proxy(&P, lines, NULL, false) == 0) {
        first_statement(&P, IT_USER, IT_PASSWORD, err, sizeof err);
        fprintf(stderr, "unrelated CA: %s\n", err);
        IT_CHECK(strstr(err, "TLS with the server failed") && strstr(err, "verify"), "unrelated CA: %s", err);
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    /* tls = off: the server refuses the plaintext login. */
    snprintf(lines, sizeof lines, "address = 127.0.0.1:%d\n", tlsdb_port);
    if (start_backend_proxy(&P, lines, NULL, false) == 0) {
        first_statement(&P, IT_USER, IT_PASSWORD, err, sizeof err);
        IT_CHECK(strstr(err, "1045") != NULL, "tls = off against require_secure_transport: %s", err);
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
    /* A REQUIRE X509 account: only with the client certificate. */
    for (int with = 0; with < 2; with++) {
        if (with)
            snprintf(lines, sizeof lines,
                     "address = 127.0.0.1:%d\ntls = verify_ca\ntls_ca = %s\ntls_cert = %s\ntls_key = %s\n", tlsdb_port,
                     cert("ca.pem"), cert("client.pem"), cert("client.key"));
        else
            snprintf(lines, sizeof lines, "address = 127.0.0.1:%d\ntls = verify_ca\ntls_ca = %s\n", tlsdb_port,
                     cert("ca.pem"));
        if (start_backend_proxy(&P, lines, "[users]\nrmx509 = x509-pw\n", false) != 0) {
            IT_FAIL("x509: proxy did not start");
            continue;
        }
        first_statement(&P, "rmx509", "x509-pw", err, sizeof err);
        if (with)
            IT_CHECK(err[0] == '\0', "client certificate: %s", err);
        else
            IT_CHECK(strstr(err, "1045") != NULL, "no client certificate: %s", err);
        IT_EQ_INT(it_proxy_stop(&P), 0);
    }
}

int main(int argc, char **argv)
{
    it_watchdog(300);
    if (it_direct_mode()) {
        it_skip("test_tls: the proxy's TLS");
        return 0;
    }
    snprintf(certs, sizeof certs, "/tmp/ringmux-certs.%d", (int)getpid());
    char cmd[512];
    if (it_make_certs(certs) < 0)
        return it_done();
    static const struct it_case cases[] = {
        {"ssl modes", test_ssl_modes},           {"identity and rotation", test_identity_and_rotation},
        {"require tls", test_require_tls},       {"mutual tls", test_mutual_tls},
        {"openssl resume", test_openssl_resume}, {"bad tls input", test_bad_tls_input},
        {"many clients", test_many_clients},     {"backend tls", test_backend_tls},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    tlsdb_stop();
    snprintf(cmd, sizeof cmd, "rm -rf %s", certs);
    system(cmd);
    return it_done();
}
