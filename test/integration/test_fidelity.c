/* Fidelity defects real drivers found, each direct vs proxy:
 *   - long data: COM_STMT_SEND_LONG_DATA and COM_STMT_EXECUTE of 16 MiB - 1,
 *     16 MiB, 32 MiB + 1 and 64 MiB - 1 (several packets on the wire) are
 *     stored byte-exact (SHA-256 of what was sent == SHA2() of what is read
 *     back);
 *   - a COM_STMT_EXECUTE with too few parameters gets the server's ERR 1210
 *     and the session goes on; one too short to hold its head gets 1835;
 *   - pipelined COM_STMT_PREPARE + COM_STMT_EXECUTE with statement id
 *     0xFFFFFFFF (mariadb_stmt_execute_direct) works, also after a failed
 *     prepare (the server's ERR 1243 for id 4294967295);
 *   - COMMIT / ROLLBACK with no transaction open are answered at once, the
 *     same as direct, while the only backend connection is busy;
 *   - an autocommit INSERT ... SLEEP(1) whose client disconnects is
 *     committed, as directly (abandoned_statement = finish, the default);
 *     with abandoned_statement = kill it is stopped;
 *   - COM_RESET_CONNECTION and COM_CHANGE_USER leave what the server
 *     leaves (the connect-time IGNORE_SPACE and handshake collation gone),
 *     with several handshake character sets;
 *   - KILL: the id in the handshake equals CONNECTION_ID(); KILL QUERY <id>
 *     from a second client (same worker and other worker) stops a
 *     SELECT SLEEP(10) within 1 s with the same error as direct and the
 *     victim goes on; another user gets ERR 1095, an unknown id 1094;
 *     KILL <id> closes the victim; COM_PROCESS_KILL works; the mariadb
 *     CLI's Ctrl-C interrupts its statement.
 *
 *   test_fidelity [NAME-SUBSTRING]   runs only the cases whose name matches */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>

static struct it_proxy P;
static char T[64];

#define MiB (1024u * 1024u)

static void sha256_hex(const uint8_t *p, size_t n, char out[65])
{
    uint8_t h[32];
    wc_Sha256Hash(p, (word32)n, h);
    for (int i = 0; i < 32; i++)
        sprintf(out + 2 * i, "%02x", h[i]);
}

/* Read back row id: LENGTH(b) and SHA2(b, 256) must match. */
static void check_stored(MYSQL *m, const char *what, int id, size_t n, const char *want)
{
    char q[160], got[80];
    snprintf(q, sizeof q, "SELECT CONCAT(LENGTH(b), ' ', SHA2(b, 256)) FROM %s WHERE id = %d", T, id);
    char expect[96];
    snprintf(expect, sizeof expect, "%zu %s", n, want);
    if (it_scalar(m, q, got, sizeof got) == 1)
        IT_CHECK(strcmp(got, expect) == 0, "%s: stored '%s', sent '%s'", what, got, expect);
    else
        IT_FAIL("%s: row %d not found", what, id);
}

/* One size, one path (long data or a plain parameter), on m. */
static void store_large(MYSQL *m, const char *side, int id, size_t n, bool long_data, const uint8_t *data,
                        const char *hex)
{
    char what[128], q[128];
    snprintf(what, sizeof what, "%s: %s of %zu bytes", side, long_data ? "SEND_LONG_DATA" : "EXECUTE", n);
    snprintf(q, sizeof q, "INSERT INTO %s (id, b) VALUES (?, ?)", T);
    MYSQL_STMT *st = it_prepare(m, q);
    if (!st)
        return;
    MYSQL_BIND b[2];
    memset(b, 0, sizeof b);
    long long idv = id;
    b[0].buffer_type = MYSQL_TYPE_LONGLONG;
    b[0].buffer = &idv;
    unsigned long len = (unsigned long)n;
    b[1].buffer_type = MYSQL_TYPE_LONG_BLOB;
    if (!long_data) {
        b[1].buffer = (void *)data;
        b[1].buffer_length = len;
        b[1].length = &len;
    }
    if (mysql_stmt_bind_param(st, b) != 0) {
        IT_FAIL("%s: bind: %s", what, mysql_stmt_error(st));
    } else if (long_data && mysql_stmt_send_long_data(st, 1, (const char *)data, len) != 0) {
        IT_FAIL("%s: send_long_data: %s", what, mysql_stmt_error(st));
    } else if (mysql_stmt_execute(st) != 0) {
        IT_FAIL("%s: execute: %s", what, mysql_stmt_error(st));
    } else {
        IT_EQ_INT(mysql_stmt_affected_rows(st), 1);
        check_stored(m, what, id, n, hex);
    }
    mysql_stmt_close(st);
}

static void test_long_data(void)
{
    static const size_t sizes[] = {16 * MiB - 1, 16 * MiB, 32 * MiB + 1, 64 * MiB - 1};
    MYSQL *d = it_connect_direct(IT_DB), *m = it_connect_proxy(&P, IT_DB);
    uint8_t *data = malloc(64 * MiB);
    if (!d || !m || !data)
        goto out;
    unsigned x = 2463534242u; /* xorshift: no 0xFF FF FF run a header could hide in */
    for (size_t i = 0; i < 64 * MiB; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        data[i] = (uint8_t)x;
    }
    int id = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char hex[65];
        sha256_hex(data, sizes[i], hex);
        for (int ld = 0; ld < 2; ld++) {
            store_large(d, "direct", ++id, sizes[i], ld, data, hex);
            store_large(m, "proxy", ++id, sizes[i], ld, data, hex);
            it_queryf(d, "DELETE FROM %s", T); /* keep the table small */
        }
    }
out:
    free(data);
    mysql_close(d);
    mysql_close(m);
}

/* Send a raw COM_STMT_EXECUTE on m's socket and read the one packet back. */
static bool raw_execute(MYSQL *m, const uint8_t *payload, size_t n, struct it_err *e, const char *what)
{
    int fd = (int)mysql_get_socket(m);
    struct it_pkt k = {0};
    if (it_send_packet(fd, 0, payload, n) != 0 || it_read_packet(fd, &k, 5000) != 1) {
        IT_FAIL("%s: no answer", what);
        free(k.p);
        return false;
    }
    bool is_err = it_parse_err(&k, e);
    IT_CHECK(is_err, "%s: expected an ERR packet, got one starting 0x%02x", what, k.len ? k.p[0] : 0);
    free(k.p);
    return is_err;
}

static void wrong_params_on(MYSQL *m, const char *side, unsigned *codes)
{
    char what[96];
    MYSQL_STMT *st = it_prepare(m, "SELECT ?");
    if (!st)
        return;
    uint32_t id = (uint32_t)st->stmt_id;
    /* id, flags 0, iterations 1, and nothing else: no null bitmap, no
     * parameter. */
    uint8_t p[16] = {0x17, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24), 0, 1, 0, 0, 0};
    struct it_err e;
    snprintf(what, sizeof what, "%s: EXECUTE of SELECT ? without parameters", side);
    codes[0] = raw_execute(m, p, 10, &e, what) ? e.code : 0;
    snprintf(what, sizeof what, "%s: EXECUTE with a 1-byte null bitmap only", side);
    codes[1] = raw_execute(m, p, 11, &e, what) ? e.code : 0;
    snprintf(what, sizeof what, "%s: EXECUTE of 5 bytes", side);
    codes[2] = raw_execute(m, p, 5, &e, what) ? e.code : 0;
    /* The session goes on: the statement and plain queries work. */
    IT_EQ_INT(it_scalar_int(m, "SELECT 42"), 42);
    MYSQL_BIND b;
    long long v = 7, r = 0;
    memset(&b, 0, sizeof b);
    b.buffer_type = MYSQL_TYPE_LONGLONG;
    b.buffer = &v;
    mysql_stmt_bind_param(st, &b);
    MYSQL_BIND rb;
    memset(&rb, 0, sizeof rb);
    rb.buffer_type = MYSQL_TYPE_LONGLONG;
    rb.buffer = &r;
    if (mysql_stmt_execute(st) || mysql_stmt_bind_result(st, &rb) || mysql_stmt_fetch(st))
        IT_FAIL("%s: the statement does not work after the bad EXECUTEs: %s", side, mysql_stmt_error(st));
    else
        IT_EQ_INT(r, 7);
    mysql_stmt_close(st);
}

static void test_wrong_params(void)
{
    MYSQL *d = it_connect_direct(IT_DB), *m = it_connect_proxy(&P, IT_DB);
    if (d && m) {
        unsigned dc[3] = {0}, pc[3] = {0};
        wrong_params_on(d, "direct", dc);
        wrong_params_on(m, "proxy", pc);
        IT_EQ_INT(dc[0], 1210);
        for (int i = 0; i < 3; i++)
            IT_CHECK(dc[i] == pc[i], "bad EXECUTE %d: direct ERR %u, proxy ERR %u", i, dc[i], pc[i]);
    }
    mysql_close(d);
    mysql_close(m);
}

/* mariadb_stmt_execute_direct: PREPARE and EXECUTE(id 0xFFFFFFFF) pipelined. */
static char *execute_direct(MYSQL *m, const char *sql, long long param)
{
    MYSQL_STMT *st = mysql_stmt_init(m);
    MYSQL_BIND b, r;
    long long out = 0;
    unsigned int n = 1;
    memset(&b, 0, sizeof b);
    b.buffer_type = MYSQL_TYPE_LONGLONG;
    b.buffer = &param;
    mysql_stmt_attr_set(st, STMT_ATTR_PREBIND_PARAMS, &n);
    mysql_stmt_bind_param(st, &b);
    char *res = NULL;
    if (mariadb_stmt_execute_direct(st, sql, strlen(sql)) != 0) {
        asprintf(&res, "ERR %u %s", mysql_stmt_errno(st), mysql_stmt_error(st));
    } else {
        memset(&r, 0, sizeof r);
        r.buffer_type = MYSQL_TYPE_LONGLONG;
        r.buffer = &out;
        if (mysql_stmt_bind_result(st, &r) || mysql_stmt_fetch(st))
            asprintf(&res, "fetch ERR %u %s", mysql_stmt_errno(st), mysql_stmt_error(st));
        else
            asprintf(&res, "row %lld", out);
    }
    mysql_stmt_close(st);
    return res;
}

/* The same on the wire, as the node mariadb connector does it whatever the
 * server advertises: PREPARE and EXECUTE(0xFFFFFFFF) sent together.
 * Returns "ok <value>" / "ERR <code> <message>" for prepare and execute. */
static char *raw_pipelined(MYSQL *m, const char *sql)
{
    int fd = (int)mysql_get_socket(m);
    uint8_t buf[256];
    size_t n = strlen(sql);
    buf[0] = 0x16;
    memcpy(buf + 1, sql, n);
    static const uint8_t exec[] = {0x17, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0};
    char *res = NULL;
    if (it_send_packet(fd, 0, buf, n + 1) != 0 || it_send_packet(fd, 0, exec, sizeof exec) != 0)
        return strdup("send failed");
    struct it_pkt k = {0};
    struct it_err e;
    /* The prepare's answer: OK + column definitions + EOF, or ERR. */
    if (it_read_packet(fd, &k, 5000) != 1)
        return strdup("no prepare answer");
    bool prep_ok = k.len >= 12 && k.p[0] == 0x00;
    unsigned cols = prep_ok ? (unsigned)(k.p[5] | k.p[6] << 8) : 0;
    char prep[600];
    if (!prep_ok && it_parse_err(&k, &e))
        snprintf(prep, sizeof prep, "prepare ERR %u %s", e.code, e.msg);
    else
        snprintf(prep, sizeof prep, "prepare %s, %u columns", prep_ok ? "ok" : "?", cols);
    free(k.p);
    for (unsigned i = 0; prep_ok && cols && i < cols + 1; i++) {
        it_read_packet(fd, &k, 5000);
        free(k.p);
    }
    /* The execute's answer. */
    if (it_read_packet(fd, &k, 5000) != 1)
        return strdup("no execute answer");
    if (it_parse_err(&k, &e)) {
        asprintf(&res, "%s; execute ERR %u %s", prep, e.code, e.msg);
        free(k.p);
        return res;
    }
    free(k.p);
    /* Column definitions (unless the server skips them: MariaDB's metadata
     * cache), EOF, the binary row, EOF. */
    long long v = -1;
    bool row = false;
    for (int i = 0; i < 8; i++) {
        if (it_read_packet(fd, &k, 5000) != 1)
            break;
        bool eof = k.len > 0 && k.len < 9 && k.p[0] == 0xfe;
        if (!row && k.len >= 6 && k.p[0] == 0x00) { /* 0, null bitmap, the value */
            row = true;
            v = 0;
            for (int b = (int)k.len - 3; b >= 0; b--)
                v = v << 8 | k.p[2 + b];
        }
        free(k.p);
        if (eof && row)
            break;
    }
    asprintf(&res, "%s; execute row %lld", prep, v);
    return res;
}

static void test_execute_direct(void)
{
    MYSQL *d0 = it_connect_direct(IT_DB), *m0 = it_connect_proxy(&P, IT_DB);
    static const char *const raws[] = {"SELECT 7", "SELEC 7", "SELECT 8"};
    for (size_t i = 0; d0 && m0 && i < sizeof raws / sizeof raws[0]; i++) {
        char *a = raw_pipelined(d0, raws[i]), *b = raw_pipelined(m0, raws[i]);
        IT_CHECK(strcmp(a, b) == 0, "pipelined '%s': direct '%s', proxy '%s'", raws[i], a, b);
        free(a);
        free(b);
    }
    if (m0)
        IT_EQ_INT(it_scalar_int(m0, "SELECT 6"), 6);
    mysql_close(d0);
    mysql_close(m0);

    MYSQL *d = it_connect_direct(IT_DB), *m = it_connect_proxy(&P, IT_DB);
    static const char *const sqls[] = {"SELECT ? + 1", "SELECT ? * 2", "SELEC ? broken", "SELECT ? - 3",
                                       "SELECT ? + 1"};
    for (size_t i = 0; d && m && i < sizeof sqls / sizeof sqls[0]; i++) {
        char *a = execute_direct(d, sqls[i], 20 + (long long)i);
        char *b = execute_direct(m, sqls[i], 20 + (long long)i);
        IT_CHECK(strcmp(a, b) == 0, "execute_direct '%s': direct '%s', proxy '%s'", sqls[i], a, b);
        free(a);
        free(b);
    }
    if (m)
        IT_EQ_INT(it_scalar_int(m, "SELECT 5"), 5);
    mysql_close(d);
    mysql_close(m);
}

/* Run the statements one by one and describe everything the client saw. */
static char *capture_all(MYSQL *m, const char *const *sqls, size_t n)
{
    char *all = strdup("");
    for (size_t i = 0; i < n; i++) {
        char *c = it_capture(m, sqls[i]), *next = NULL;
        asprintf(&next, "%s-- %s\n%s", all, sqls[i], c ? c : "(null)\n");
        free(all);
        free(c);
        all = next;
    }
    return all;
}

static void test_txn_end_without_txn(void)
{
    static const char *const sqls[] = {
        "ROLLBACK", "COMMIT", "rollback work ;", "/* c */ COMMIT WORK", "SELECT CAST('1x' AS SIGNED)",
        "ROLLBACK", "SHOW WARNINGS", "SET autocommit = 0", "ROLLBACK", "COMMIT", "SELECT ROW_COUNT()",
        "SET autocommit = 1", "ROLLBACK",
    };
    const size_t n = sizeof sqls / sizeof sqls[0];
    MYSQL *d = it_connect_direct(IT_DB);
    char *want = d ? capture_all(d, sqls, n) : NULL;
    mysql_close(d);
    struct it_proxy Q;
    if (it_direct_mode()) {
        it_skip("ROLLBACK while the pool is busy: a proxy property");
    } else if (it_proxy_start(&Q, "max_backend_connections = 1\nconnection_borrow_timeout = 3s\n") == 0) {
        MYSQL *a = it_connect_proxy(&Q, IT_DB), *b = it_connect_proxy(&Q, IT_DB);
        if (a && b && want) {
            /* a holds the only backend connection in a transaction. */
            it_query(a, "BEGIN");
            it_queryf(a, "SELECT COUNT(*) FROM %s FOR UPDATE", T);
            mysql_free_result(mysql_store_result(a));
            double t0 = it_now();
            IT_CHECK(it_try_query(b, "ROLLBACK") == 0, "ROLLBACK failed: %s", mysql_error(b));
            unsigned int status = 0;
            mariadb_get_infov(b, MARIADB_CONNECTION_SERVER_STATUS, &status);
            IT_EQ_INT(status & IT_STATUS_MASK, SERVER_STATUS_AUTOCOMMIT);
            IT_CHECK(it_try_query(b, "COMMIT") == 0, "COMMIT failed: %s", mysql_error(b));
            IT_CHECK(it_now() - t0 < 0.5, "COMMIT/ROLLBACK without a transaction waited %.2f s for a backend",
                     it_now() - t0);
            it_query(a, "ROLLBACK");
            char *got = capture_all(b, sqls, n);
            it_same("COMMIT/ROLLBACK with nothing open", want, got);
            free(got);
        }
        mysql_close(a);
        mysql_close(b);
        IT_CHECK(it_proxy_stop(&Q) == 0, "proxy did not stop cleanly");
    } else {
        IT_FAIL("proxy (max_backend_connections = 1) did not start");
    }
    free(want);
}

/* A client sends "INSERT ... SLEEP(1)" on its own and disconnects 200 ms
 * later; 1.5 s after that, is the row there? */
static bool abandoned_insert_kept(const char *host, int port, int id)
{
    MYSQL *m = it_connect_ex(host, port, IT_USER, IT_PASSWORD, IT_DB, 0);
    if (!m)
        return false;
    int fd = (int)mysql_get_socket(m);
    char q[160];
    int n = snprintf(q + 1, sizeof q - 1, "INSERT INTO %s (id, b) SELECT %d, SLEEP(1)", T, id);
    q[0] = 0x03;
    it_send_packet(fd, 0, q, (size_t)n + 1);
    it_usleep(200000);
    shutdown(fd, SHUT_RDWR);
    mysql_close(m);
    it_usleep(1500000);
    MYSQL *d = it_connect_direct(IT_DB);
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE id = %d", T, id);
    long long c = d ? it_scalar_int(d, sql) : -1;
    mysql_close(d);
    return c == 1;
}

static void test_abandoned_statement(void)
{
    IT_CHECK(abandoned_insert_kept(it_backend_host(), it_backend_port(), 9001),
             "direct: the abandoned INSERT was not committed");
    IT_CHECK(abandoned_insert_kept(P.host, P.port, 9002),
             "proxy (abandoned_statement = finish): the abandoned INSERT was not committed, unlike direct");
    if (it_direct_mode())
        return;
    struct it_proxy Q;
    if (it_proxy_start(&Q, "abandoned_statement = kill\n") != 0) {
        IT_FAIL("proxy with abandoned_statement = kill did not start");
        return;
    }
    IT_CHECK(!abandoned_insert_kept(Q.host, Q.port, 9003),
             "proxy (abandoned_statement = kill): the abandoned INSERT was committed");
    /* The proxy is still fine. */
    MYSQL *m = it_connect_proxy(&Q, IT_DB);
    if (m)
        IT_EQ_INT(it_scalar_int(m, "SELECT 3"), 3);
    mysql_close(m);
    IT_CHECK(it_proxy_stop(&Q) == 0, "proxy did not stop cleanly");
}

/* Connect with a handshake character set and flags, change the session,
 * reset it (COM_RESET_CONNECTION) and change user (COM_CHANGE_USER): what
 * the session looks like after each step. */
static char *reset_story(const char *host, int port, const char *charset, unsigned long flags)
{
    static const char q[] = "SELECT @@sql_mode, @@collation_connection, @@character_set_client, "
                            "@@character_set_results, @@autocommit, DATABASE(), @@time_zone";
    MYSQL *m = mysql_init(NULL);
    unsigned timeout = 10;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, charset);
    if (!mysql_real_connect(m, host, IT_USER, IT_PASSWORD, IT_DB, (unsigned)port, NULL, flags)) {
        IT_FAIL("connect with %s: %s", charset, mysql_error(m));
        mysql_close(m);
        return strdup("");
    }
    char *out = NULL, *c;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    fprintf(f, "connect: %s", c = it_capture(m, q));
    free(c);
    it_query(m, "SET NAMES latin1");
    it_query(m, "SET sql_mode = 'ANSI', time_zone = '+03:00', autocommit = 0");
    fprintf(f, "changed: %s", c = it_capture(m, q));
    free(c);
    if (mysql_reset_connection(m) != 0)
        IT_FAIL("mysql_reset_connection: %s", mysql_error(m));
    fprintf(f, "reset: %s", c = it_capture(m, q));
    free(c);
    it_query(m, "SET sql_mode = 'TRADITIONAL', collation_connection = 'latin1_bin'");
    if (mysql_change_user(m, IT_USER, IT_PASSWORD, IT_DB) != 0)
        IT_FAIL("mysql_change_user: %s", mysql_error(m));
    fprintf(f, "change user: %s", c = it_capture(m, q));
    free(c);
    if (mysql_reset_connection(m) != 0) /* right after: before any statement */
        IT_FAIL("mysql_reset_connection: %s", mysql_error(m));
    fprintf(f, "reset again: %s", c = it_capture(m, q));
    free(c);
    fclose(f);
    mysql_close(m);
    return out;
}

static void test_reset_state(void)
{
    static const struct {
        const char *charset;
        unsigned long flags;
    } cases[] = {
        {"utf8mb4", CLIENT_IGNORE_SPACE},
        {"utf8mb4", 0},
        {"latin1", CLIENT_IGNORE_SPACE},
        {"utf8mb3", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char what[96];
        snprintf(what, sizeof what, "reset/change user with %s%s", cases[i].charset,
                 cases[i].flags ? " and IGNORE_SPACE" : "");
        char *a = reset_story(it_backend_host(), it_backend_port(), cases[i].charset, cases[i].flags);
        char *b = reset_story(P.host, P.port, cases[i].charset, cases[i].flags);
        it_same(what, a, b);
        free(a);
        free(b);
    }
}

struct sleeper {
    MYSQL *m;
    pthread_t thread;
    unsigned err;
    double took;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *sl = arg;
    double t0 = it_now();
    sl->err = it_try_query(sl->m, "SELECT SLEEP(10)");
    sl->took = it_now() - t0;
    return NULL;
}

/* Start victim on "SELECT SLEEP(10)", let killer run kill_sql 300 ms
 * later; the victim's error code (0 if its statement was not stopped)
 * and the killer's. */
static unsigned kill_while_sleeping(MYSQL *victim, MYSQL *killer, const char *kill_sql, unsigned *killer_err,
                                    double *after_kill)
{
    struct sleeper sl = {.m = victim};
    pthread_create(&sl.thread, NULL, sleeper_main, &sl);
    it_usleep(300000);
    double t0 = it_now();
    *killer_err = it_try_query(killer, kill_sql);
    pthread_join(sl.thread, NULL);
    *after_kill = it_now() - t0;
    return sl.err;
}

/* The proxy's worker of a session (2 workers: ids alternate). */
static int worker_of(MYSQL *m)
{
    return (int)(mysql_thread_id(m) % 2);
}

static void kill_query_case(MYSQL *victim, MYSQL *killer, const char *side)
{
    char sql[64];
    unsigned kerr = 0;
    double after = 0;
    snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(victim));
    unsigned verr = kill_while_sleeping(victim, killer, sql, &kerr, &after);
    IT_CHECK(kerr == 0, "%s: %s failed: %u %s", side, sql, kerr, mysql_error(killer));
    IT_CHECK(verr == 1317, "%s: the killed SELECT SLEEP(10) got %u, expected ERR 1317", side, verr);
    IT_CHECK(after < 1.0, "%s: the victim ended %.2f s after the KILL", side, after);
    IT_EQ_INT(it_scalar_int(victim, "SELECT 11"), 11);
}

static void test_kill(void)
{
    if (it_direct_mode()) {
        it_skip("KILL through the proxy");
        return;
    }
    MYSQL *d = it_connect_direct(IT_DB), *d2 = it_connect_direct(IT_DB);
    MYSQL *other_d = it_connect_ex(it_backend_host(), it_backend_port(), IT_USER2, IT_PASSWORD2, IT_DB, 0);
    /* Proxy clients on both workers. */
    MYSQL *c[8] = {0};
    for (int i = 0; i < 8; i++)
        c[i] = it_connect_proxy(&P, IT_DB);
    MYSQL *other = it_connect_ex(P.host, P.port, IT_USER2, IT_PASSWORD2, IT_DB, 0);
    if (!d || !d2 || !other_d || !other)
        goto out;
    for (int i = 0; i < 8; i++)
        if (!c[i])
            goto out;
    /* The handshake's id is CONNECTION_ID(), in every form. */
    for (int i = 0; i < 8; i++) {
        IT_EQ_INT(it_scalar_int(c[i], "SELECT CONNECTION_ID()"), mysql_thread_id(c[i]));
        IT_EQ_INT(it_scalar_int(c[i], "SELECT CONNECTION_ID() + 0 FROM DUAL WHERE CONNECTION_ID() > 0"),
                  mysql_thread_id(c[i]));
    }
    char *want = it_capture(d, "SELECT CONNECTION_ID() IS NOT NULL, connection_id() > 0 AS pos");
    char *got = it_capture(c[0], "SELECT CONNECTION_ID() IS NOT NULL, connection_id() > 0 AS pos");
    it_same("CONNECTION_ID() in expressions", want, got);
    free(want);
    free(got);
    MYSQL *victim = c[0], *same = NULL, *cross = NULL;
    for (int i = 1; i < 8; i++) {
        if (!same && worker_of(c[i]) == worker_of(victim))
            same = c[i];
        if (!cross && worker_of(c[i]) != worker_of(victim))
            cross = c[i];
    }
    kill_query_case(d, d2, "direct");
    if (IT_CHECK(same != NULL, "no second client on the victim's worker"))
        kill_query_case(victim, same, "proxy, same worker");
    if (IT_CHECK(cross != NULL, "no client on the other worker"))
        kill_query_case(victim, cross, "proxy, other worker");
    /* KILL QUERY of an idle session: nothing happens to it. */
    char sql[64];
    snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(victim));
    IT_EQ_INT(it_try_query(cross ? cross : same, sql), 0);
    IT_EQ_INT(it_scalar_int(victim, "SELECT 12"), 12);
    /* Another user may not; an unknown id is unknown. */
    snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(d));
    IT_EQ_INT(it_try_query(other_d, sql), 1095);
    snprintf(sql, sizeof sql, "KILL QUERY %lu", mysql_thread_id(victim));
    IT_EQ_INT(it_try_query(other, sql), 1095);
    snprintf(sql, sizeof sql, "KILL %lu", mysql_thread_id(victim));
    IT_EQ_INT(it_try_query(other, sql), 1095);
    IT_EQ_INT(it_try_query(d, "KILL 4000000001"), 1094);
    IT_EQ_INT(it_try_query(c[1], "KILL 4000000001"), 1094);
    IT_EQ_INT(it_try_query(c[1], "KILL 4000000000"), 1094);
    IT_EQ_INT(it_scalar_int(victim, "SELECT 13"), 13);
    /* KILL QUERY of oneself: the KILL itself is interrupted. */
    IT_EQ_INT(it_try_query(d, "KILL QUERY CONNECTION_ID()"), 1317);
    IT_EQ_INT(it_try_query(c[1], "KILL QUERY CONNECTION_ID()"), 1317);
    IT_EQ_INT(it_scalar_int(c[1], "SELECT 14"), 14);
    /* KILL <id> while it runs: the victim's connection is gone (direct:
     * closed without an answer) and its statement stopped. */
    unsigned kerr = 0;
    double after = 0;
    snprintf(sql, sizeof sql, "KILL %lu", mysql_thread_id(victim));
    unsigned verr = kill_while_sleeping(victim, cross ? cross : same, sql, &kerr, &after);
    IT_EQ_INT(kerr, 0);
    IT_CHECK(verr == 2013 || verr == 2006 || verr == 1927, "killed connection: victim got %u", verr);
    IT_CHECK(after < 1.0, "killed connection: the victim ended %.2f s after the KILL", after);
    IT_CHECK(it_try_query(victim, "SELECT 1") != 0, "the killed connection still answers");
    /* KILL CONNECTION of an idle session, and COM_PROCESS_KILL. */
    snprintf(sql, sizeof sql, "KILL CONNECTION %lu", mysql_thread_id(c[2]));
    IT_EQ_INT(it_try_query(c[3], sql), 0);
    IT_CHECK(it_try_query(c[2], "SELECT 1") != 0, "KILL CONNECTION of an idle client: it still answers");
    {
        uint32_t id = (uint32_t)mysql_thread_id(c[4]);
        uint8_t pk[5] = {0x0c, (uint8_t)id, (uint8_t)(id >> 8), (uint8_t)(id >> 16), (uint8_t)(id >> 24)};
        int fd = (int)mysql_get_socket(c[5]);
        struct it_pkt k = {0};
        if (it_send_packet(fd, 0, pk, 5) == 0 && it_read_packet(fd, &k, 5000) == 1)
            IT_CHECK(k.len > 0 && k.p[0] == 0x00, "COM_PROCESS_KILL: expected OK, got 0x%02x", k.len ? k.p[0] : 0);
        else
            IT_FAIL("COM_PROCESS_KILL: no answer");
        free(k.p);
        IT_CHECK(it_try_query(c[4], "SELECT 1") != 0, "COM_PROCESS_KILL: the target still answers");
        IT_EQ_INT(it_scalar_int(c[5], "SELECT 15"), 15);
    }
    /* No SLEEP left running on the server. */
    double t0 = it_now();
    long long left = 1;
    while (it_now() - t0 < 3 && left > 0) {
        left = it_scalar_int(d, "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'SELECT SLEEP(10)%'");
        if (left > 0)
            it_usleep(100000);
    }
    IT_EQ_INT(left, 0);
out:
    for (int i = 0; i < 8; i++)
        mysql_close(c[i]);
    mysql_close(other);
    mysql_close(other_d);
    mysql_close(d);
    mysql_close(d2);
}

/* The mariadb CLI's Ctrl-C sends KILL QUERY <its connection id> on a new
 * connection: through the proxy too it stops the statement. */
static void test_cli_ctrl_c(void)
{
    char port[16];
    snprintf(port, sizeof port, "-P%d", P.port);
    int pfd[2];
    if (!IT_CHECK(pipe(pfd) == 0, "pipe"))
        return;
    double t0 = it_now();
    pid_t pid = fork();
    if (pid == 0) {
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[0]);
        execlp("mariadb", "mariadb", "-h", P.host, port, "-u" IT_USER, "-p" IT_PASSWORD, IT_DB, "-e",
               "SELECT SLEEP(10)", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    it_usleep(700000);
    kill(pid, SIGINT);
    char out[4096];
    size_t n = 0;
    ssize_t k;
    while ((k = read(pfd[0], out + n, sizeof out - 1 - n)) > 0 && n + 1 < sizeof out)
        n += (size_t)k;
    out[n] = '\0';
    close(pfd[0]);
    int st = 0;
    waitpid(pid, &st, 0);
    IT_CHECK(it_now() - t0 < 3, "mariadb CLI: Ctrl-C took %.1f s to end SELECT SLEEP(10)", it_now() - t0);
    IT_CHECK(strstr(out, "Query execution was interrupted") != NULL, "mariadb CLI after Ctrl-C said:\n%s", out);
}

int main(int argc, char **argv)
{
    it_watchdog(300);
    snprintf(T, sizeof T, "fid_%d", (int)getpid());
    MYSQL *d = it_connect_direct(IT_DB);
    if (!d)
        return it_done();
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d, "CREATE TABLE %s (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB", T);
    if (it_proxy_start_ex(&P, "max_allowed_packet = 256M\n", NULL) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    static const struct it_case cases[] = {
        {"long data", test_long_data},
        {"wrong parameter count", test_wrong_params},
        {"pipelined prepare and execute", test_execute_direct},
        {"COMMIT/ROLLBACK without a transaction", test_txn_end_without_txn},
        {"abandoned statement", test_abandoned_statement},
        {"reset state", test_reset_state},
        {"KILL", test_kill},
        {"mariadb CLI Ctrl-C", test_cli_ctrl_c},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not stop cleanly");
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    mysql_close(d);
    return it_done();
}
