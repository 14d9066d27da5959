/* Large packets and backpressure.
 *
 *  - a 20 MB LONGBLOB written (a >16 MiB command, split into several
 *    protocol packets) and read back (a >16 MiB row), byte for byte;
 *  - packets of exactly 0xFFFFFF bytes (which need an empty trailing
 *    packet): a query and a row of that size;
 *  - a 5 MB query text;
 *  - a slow reader: ~300 MB result read with mysql_use_result, sleeping
 *    between rows at first, while the proxy's RSS must stay bounded (it must
 *    stop reading from the backend instead of buffering) and another client
 *    keeps getting answers. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOB_SIZE (20 * 1024 * 1024)
#define QUERY_TEXT_SIZE (5 * 1024 * 1024)
#define SLOW_ROWS 300
#define SLOW_ROW_SIZE (1024 * 1024)
#define RSS_GROWTH_LIMIT_KB (64 * 1024)
#define MAX_PACKET 0xFFFFFF

static struct it_proxy P;
static char T[64];

static void fill_random(unsigned char *p, size_t n, unsigned int seed)
{
    unsigned int s = seed ? seed : 1;
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)(it_rand(&s) >> 7);
    /* Make sure the bytes that need escaping are there. */
    if (n > 8) {
        p[0] = 0;
        p[1] = '\'';
        p[2] = '\\';
        p[3] = '"';
        p[4] = 0x1a;
        p[5] = '\n';
    }
}

static void test_blob(MYSQL *x, MYSQL *d)
{
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d, "CREATE TABLE %s (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB", T);

    unsigned char *blob = malloc(BLOB_SIZE);
    char *sql = malloc(2 * (size_t)BLOB_SIZE + 256);
    if (!blob || !sql)
        abort();
    fill_random(blob, BLOB_SIZE, it_seed());
    int n = sprintf(sql, "INSERT INTO %s VALUES (1, '", T);
    n += (int)mysql_real_escape_string(x, sql + n, (const char *)blob, BLOB_SIZE);
    n += sprintf(sql + n, "')");
    fprintf(stderr, "blob insert: %d byte query\n", n);
    if (IT_CHECK(mysql_real_query(x, sql, (unsigned long)n) == 0,
                 "INSERT of a 20 MB blob failed: %u (%s) %s", mysql_errno(x), mysql_sqlstate(x),
                 mysql_error(x)))
        IT_EQ_INT(mysql_affected_rows(x), 1);
    free(sql);

    /* Read back through the proxy, and check on the server side too. */
    char q[256];
    snprintf(q, sizeof q, "SELECT b, LENGTH(b), MD5(b) FROM %s WHERE id = 1", T);
    char md5_direct[64] = "";
    if (mysql_query(d, q) == 0) {
        MYSQL_RES *r = mysql_store_result(d);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (IT_CHECK(row != NULL, "direct read of the blob: %s", mysql_error(d))) {
            IT_EQ_STR(row[1], "20971520");
            snprintf(md5_direct, sizeof md5_direct, "%s", row[2]);
            unsigned long *len = mysql_fetch_lengths(r);
            IT_CHECK(len[0] == BLOB_SIZE && memcmp(row[0], blob, BLOB_SIZE) == 0,
                     "direct: blob differs from what was written");
        }
        if (r)
            mysql_free_result(r);
    } else {
        IT_FAIL("%s: %s", q, mysql_error(d));
    }
    for (int pass = 0; pass < 2; pass++) {
        /* pass 0 buffered, pass 1 unbuffered */
        if (mysql_query(x, q) != 0) {
            IT_FAIL("proxy: %s: %s", q, mysql_error(x));
            continue;
        }
        MYSQL_RES *r = pass ? mysql_use_result(x) : mysql_store_result(x);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (IT_CHECK(row != NULL, "proxy read of the blob (%s): %s",
                     pass ? "use_result" : "store_result", mysql_error(x))) {
            unsigned long *len = mysql_fetch_lengths(r);
            size_t first_diff = 0;
            if (len[0] == BLOB_SIZE)
                while (first_diff < BLOB_SIZE &&
                       (unsigned char)row[0][first_diff] == blob[first_diff])
                    first_diff++;
            IT_CHECK(len[0] == BLOB_SIZE && first_diff == BLOB_SIZE,
                     "proxy (%s): blob of %lu bytes read back, first difference at %zu",
                     pass ? "use_result" : "store_result", len[0], first_diff);
            IT_EQ_STR(row[2], md5_direct);
            if (pass)
                IT_CHECK(mysql_fetch_row(r) == NULL && mysql_errno(x) == 0,
                         "extra row or error after the blob: %s", mysql_error(x));
        }
        if (r)
            mysql_free_result(r);
    }
    free(blob);
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
}

/* A command whose payload (command byte + SQL) is exactly 0xFFFFFF bytes,
 * then a row packet of exactly 0xFFFFFF bytes, and one byte either side. */
static void test_packet_boundaries(MYSQL *x)
{
    static const char head[] = "SELECT LENGTH('";
    static const char tail[] = "')";
    for (int delta = -1; delta <= 1; delta++) {
        size_t sql_len = (size_t)MAX_PACKET - 1 + (size_t)delta; /* + 1 command byte */
        size_t fill = sql_len - (sizeof head - 1) - (sizeof tail - 1);
        char *sql = malloc(sql_len + 1);
        memcpy(sql, head, sizeof head - 1);
        memset(sql + sizeof head - 1, 'q', fill);
        memcpy(sql + sizeof head - 1 + fill, tail, sizeof tail);
        long long got = it_scalar_int(x, sql);
        IT_CHECK(got == (long long)fill,
                 "query of %zu bytes (payload 0x%zx): LENGTH = %lld, "
                 "expected %zu",
                 sql_len, sql_len + 1, got, fill);
        free(sql);
    }
    for (int delta = -1; delta <= 1; delta++) {
        /* Row payload = 4-byte length prefix (0xfd + 3 bytes) + data. */
        long n = MAX_PACKET - 4 + delta;
        char q[128];
        snprintf(q, sizeof q, "SELECT REPEAT('r', %ld)", n);
        if (mysql_query(x, q) != 0) {
            IT_FAIL("%s: %s", q, mysql_error(x));
            continue;
        }
        MYSQL_RES *r = mysql_store_result(x);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        unsigned long *len = row ? mysql_fetch_lengths(r) : NULL;
        bool ok = row && len[0] == (unsigned long)n && row[0][0] == 'r' && row[0][n - 1] == 'r';
        IT_CHECK(ok, "%s: got %lu bytes (%s)", q, len ? len[0] : 0UL, mysql_error(x));
        if (r)
            mysql_free_result(r);
        IT_EQ_INT(it_scalar_int(x, "SELECT 9"), 9);
    }
}

static void test_big_query_text(MYSQL *x, MYSQL *d)
{
    /* SELECT LENGTH('xxxx...'), with a 5 MB literal. */
    char *sql = malloc(QUERY_TEXT_SIZE + 256);
    int n = sprintf(sql, "SELECT LENGTH('");
    for (int i = 0; i < QUERY_TEXT_SIZE; i++)
        sql[n + i] = (char)('a' + i % 26);
    n += QUERY_TEXT_SIZE;
    n += sprintf(sql + n, "'), 'tail'");
    long long got = it_scalar_int(x, sql);
    IT_EQ_INT(got, QUERY_TEXT_SIZE);

    /* And a multi-row INSERT of about the same size. */
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d, "CREATE TABLE %s (id INT PRIMARY KEY, s VARCHAR(100)) ENGINE=InnoDB", T);
    n = sprintf(sql, "INSERT INTO %s VALUES ", T);
    int rows = 0;
    while (n < QUERY_TEXT_SIZE - 200) {
        n += sprintf(sql + n, "%s(%d, '%090d')", rows ? "," : "", rows, rows);
        rows++;
    }
    if (IT_CHECK(mysql_real_query(x, sql, (unsigned long)n) == 0, "INSERT of %d bytes: %s", n,
                 mysql_error(x))) {
        IT_EQ_INT(mysql_affected_rows(x), rows);
        char q[128];
        snprintf(q, sizeof q, "SELECT COUNT(*) + SUM(LENGTH(s)) FROM %s", T);
        IT_EQ_INT(it_scalar_int(d, q), rows + 90LL * rows);
    }
    free(sql);
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
}

/* Another client must keep getting answers while the slow reader holds a
 * backend connection. */
static atomic_int g_slow_running;
static atomic_long g_other_queries;

static void *other_client(void *arg)
{
    (void)arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    int i = 0;
    while (atomic_load(&g_slow_running)) {
        long long v = it_scalar_int(m, "SELECT 1000 + 1");
        if (v != 1001)
            break;
        atomic_fetch_add(&g_other_queries, 1);
        if (++i % 50 == 0)
            it_usleep(10000);
    }
    mysql_close(m);
    return NULL;
}

static void test_slow_reader(MYSQL *x)
{
    long rss_start = it_proxy_rss_kb(&P), rss_max = rss_start;
    pthread_t other;
    atomic_store(&g_slow_running, 1);
    pthread_create(&other, NULL, other_client, NULL);

    char q[128];
    snprintf(q, sizeof q, "SELECT seq, REPEAT('x', %d) FROM seq_1_to_%d", SLOW_ROW_SIZE, SLOW_ROWS);
    double t0 = it_now();
    if (!IT_CHECK(mysql_query(x, q) == 0, "%s: %s", q, mysql_error(x))) {
        atomic_store(&g_slow_running, 0);
        pthread_join(other, NULL);
        return;
    }
    MYSQL_RES *r = mysql_use_result(x);
    long rows = 0, bad = 0;
    unsigned long long bytes = 0;
    MYSQL_ROW row;
    while (r && (row = mysql_fetch_row(r)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(r);
        rows++;
        bytes += len[1];
        if (atol(row[0]) != rows || len[1] != SLOW_ROW_SIZE || row[1][0] != 'x' ||
            row[1][SLOW_ROW_SIZE - 1] != 'x')
            bad++;
        if (rows <= 20)
            it_usleep(100000); /* slow start: the backend side fills up */
        else if (rows <= 100)
            it_usleep(5000);
        long rss = it_proxy_rss_kb(&P);
        if (rss > rss_max)
            rss_max = rss;
    }
    IT_CHECK(r != NULL && mysql_errno(x) == 0, "slow read ended with error %u: %s", mysql_errno(x),
             mysql_error(x));
    if (r)
        mysql_free_result(r);
    double dt = it_now() - t0;
    atomic_store(&g_slow_running, 0);
    pthread_join(other, NULL);
    IT_EQ_INT(rows, SLOW_ROWS);
    IT_EQ_INT(bad, 0);
    fprintf(stderr,
            "slow reader: %ld rows, %.0f MB in %.1f s; other client: %ld queries; "
            "proxy RSS start %ld KB, max %ld KB\n",
            rows, (double)bytes / 1048576.0, dt, atomic_load(&g_other_queries), rss_start, rss_max);
    IT_CHECK(atomic_load(&g_other_queries) > 0,
             "the other client got no answer during the slow read");
    if (it_direct_mode()) {
        it_skip("proxy RSS bound during the slow read");
    } else {
        IT_CHECK(rss_start > 0, "could not read the proxy's VmRSS");
        IT_CHECK(rss_max - rss_start < RSS_GROWTH_LIMIT_KB,
                 "proxy RSS grew by %ld KB (from %ld to %ld KB) while a client read %d MB "
                 "slowly; limit %d KB - is backpressure missing?",
                 rss_max - rss_start, rss_start, rss_max, SLOW_ROWS, RSS_GROWTH_LIMIT_KB);
    }
    IT_EQ_INT(it_scalar_int(x, "SELECT 31337"), 31337);
}

int main(void)
{
    it_watchdog(300);
    snprintf(T, sizeof T, "it_large_%d", (int)getpid());
    if (it_proxy_start(&P, NULL) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    MYSQL *d = it_connect_direct(IT_DB);
    MYSQL *x = it_connect_proxy(&P, IT_DB);
    if (d && x) {
        test_blob(x, d);
        test_packet_boundaries(x);
        test_big_query_text(x, d);
        test_slow_reader(x);
    }
    if (x)
        mysql_close(x);
    if (d)
        mysql_close(d);
    IT_CHECK(it_proxy_alive(&P), "proxy died during the test");
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
