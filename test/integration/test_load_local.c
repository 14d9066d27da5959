/* LOAD DATA LOCAL INFILE through the proxy: the server asks the client for
 * the file mid-command (0xFB packet), the client streams it, the server
 * answers - the proxy must relay all three phases and keep the backend
 * connection for the session until the final OK/ERR.
 *
 *  - 100k rows (~5 MB) generated here, loaded, verified by count and
 *    checksums on the proxy connection and on a direct one, while another
 *    client keeps querying through the same (small) pool;
 *  - a missing local file: the client library's error, identical to direct,
 *    and the connection stays usable;
 *  - LOAD inside a transaction rolled back; an empty file; duplicates with
 *    IGNORE - each compared with a direct connection. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_ROWS 100000

static struct it_proxy P;
static char T[64];
static char tmpdir[256];

static uint32_t crc32_ieee(const char *p, size_t n)
{
    static uint32_t table[256];
    if (!table[1]) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++)
                c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
            table[i] = c;
        }
    }
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = table[(c ^ (unsigned char)p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

struct sums {
    long long count, sum_id, sum_v, sum_len, sum_crc;
};

/* Write n rows "id\tname\tv\n" to path; fills the expected sums. */
static int write_file(const char *path, int first_id, int n, struct sums *s)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        IT_FAIL("cannot create %s", path);
        return -1;
    }
    static const char alpha[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,-";
    unsigned int rng = it_seed() ^ (unsigned)first_id;
    memset(s, 0, sizeof *s);
    char name[64];
    for (int i = 0; i < n; i++) {
        int len = 20 + (int)(it_rand(&rng) % 21);
        for (int k = 0; k < len; k++)
            name[k] = alpha[it_rand(&rng) % (sizeof alpha - 1)];
        name[len] = '\0';
        long v = (long)(it_rand(&rng) % 2000000000u);
        int id = first_id + i;
        fprintf(f, "%d\t%s\t%ld\n", id, name, v);
        s->count++;
        s->sum_id += id;
        s->sum_v += v;
        s->sum_len += len;
        s->sum_crc += crc32_ieee(name, (size_t)len);
    }
    if (fclose(f) != 0) {
        IT_FAIL("writing %s failed", path);
        return -1;
    }
    return 0;
}

static void create_table(MYSQL *d)
{
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d,
              "CREATE TABLE %s (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, "
              "v BIGINT NOT NULL) ENGINE=InnoDB",
              T);
}

static void check_sums(MYSQL *m, const char *who, const struct sums *e)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT COUNT(*), COALESCE(SUM(id), 0), COALESCE(SUM(v), 0), "
             "COALESCE(SUM(LENGTH(name)), 0), COALESCE(SUM(CRC32(name)), 0) FROM %s",
             T);
    if (mysql_query(m, sql) != 0) {
        IT_FAIL("%s: %s: %s", who, sql, mysql_error(m));
        return;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row) {
        IT_FAIL("%s: checksum query gave no row: %s", who, mysql_error(m));
    } else {
        struct sums g = {atoll(row[0]), atoll(row[1]), atoll(row[2]), atoll(row[3]), atoll(row[4])};
        IT_CHECK(memcmp(&g, e, sizeof g) == 0,
                 "%s: table has count=%lld ids=%lld v=%lld len=%lld crc=%lld, file had "
                 "count=%lld ids=%lld v=%lld len=%lld crc=%lld",
                 who, g.count, g.sum_id, g.sum_v, g.sum_len, g.sum_crc, e->count, e->sum_id,
                 e->sum_v, e->sum_len, e->sum_crc);
    }
    if (r)
        mysql_free_result(r);
}

static char *load_sql(const char *path, const char *modifier)
{
    char *sql;
    if (asprintf(&sql,
                 "LOAD DATA LOCAL INFILE '%s' %s INTO TABLE %s FIELDS TERMINATED BY '\\t' "
                 "LINES TERMINATED BY '\\n' (id, name, v)",
                 path, modifier, T) < 0)
        abort();
    return sql;
}

/* Another client querying through the proxy during the big load. */
static atomic_int g_loading;
static atomic_long g_side_queries;

static void *side_client(void *arg)
{
    (void)arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    unsigned int rng = it_seed() ^ 0x5eed;
    while (atomic_load(&g_loading)) {
        int k = (int)(it_rand(&rng) % 100000);
        char sql[64];
        snprintf(sql, sizeof sql, "SELECT %d + 1", k);
        long long v = it_scalar_int(m, sql);
        if (v != k + 1) {
            IT_FAIL("side client: SELECT %d + 1 returned %lld during the load", k, v);
            break;
        }
        atomic_fetch_add(&g_side_queries, 1);
        it_usleep(2000);
    }
    mysql_close(m);
    return NULL;
}

static void test_big_load(MYSQL *x, MYSQL *d)
{
    char path[300];
    snprintf(path, sizeof path, "%s/rows.tsv", tmpdir);
    struct sums e;
    if (write_file(path, 1, N_ROWS, &e) != 0)
        return;
    create_table(d);

    pthread_t side;
    atomic_store(&g_loading, 1);
    pthread_create(&side, NULL, side_client, NULL);
    it_usleep(50000);

    char *sql = load_sql(path, "");
    double t0 = it_now();
    int rc = mysql_real_query(x, sql, strlen(sql));
    double dt = it_now() - t0;
    atomic_store(&g_loading, 0);
    pthread_join(side, NULL);
    if (IT_CHECK(rc == 0, "LOAD DATA LOCAL of %d rows failed: %u (%s) %s", N_ROWS, mysql_errno(x),
                 mysql_sqlstate(x), mysql_error(x))) {
        IT_EQ_INT(mysql_affected_rows(x), N_ROWS);
        IT_EQ_INT(mysql_warning_count(x), 0);
        char expect_info[128];
        snprintf(expect_info, sizeof expect_info,
                 "Records: %d  Deleted: 0  Skipped: 0  Warnings: 0", N_ROWS);
        IT_EQ_STR(mysql_info(x), expect_info);
        IT_CHECK((x->server_status & SERVER_STATUS_IN_TRANS) == 0,
                 "IN_TRANS set after an autocommit LOAD");
    }
    fprintf(stderr, "loaded %d rows (%.1f MB) in %.2f s; side client ran %ld queries meanwhile\n",
            N_ROWS, (double)(e.sum_len + 20L * N_ROWS) / 1e6, dt, atomic_load(&g_side_queries));
    free(sql);
    check_sums(x, "proxy connection", &e);
    check_sums(d, "direct connection", &e);
    unlink(path);
}

static void test_missing_file(MYSQL *x, MYSQL *d)
{
    char *sql = load_sql("/nonexistent/ringmux-it/no-such-file.tsv", "");
    MYSQL *side[2] = {d, x};
    struct it_error err[2];
    for (int i = 0; i < 2; i++) {
        int rc = mysql_real_query(side[i], sql, strlen(sql));
        it_error_get(side[i], &err[i]);
        IT_CHECK(rc != 0, "%s: LOAD of a missing file succeeded", i ? "proxy" : "direct");
        /* The connection must still be in sync. */
        IT_EQ_INT(it_scalar_int(side[i], "SELECT 41 + 1"), 42);
    }
    IT_CHECK(err[0].code == err[1].code && strcmp(err[0].sqlstate, err[1].sqlstate) == 0 &&
                 strcmp(err[0].message, err[1].message) == 0,
             "missing file: proxy error %u (%s) '%s', direct %u (%s) '%s'", err[1].code,
             err[1].sqlstate, err[1].message, err[0].code, err[0].sqlstate, err[0].message);
    fprintf(stderr, "missing file error: %u (%s) %s\n", err[0].code, err[0].sqlstate,
            err[0].message);
    free(sql);
}

/* Small loads compared side by side (fresh table each side). */
static void compare_small(MYSQL *x, MYSQL *d, const char *what, const char *const *stmts)
{
    char *cap[2] = {NULL, NULL};
    MYSQL *side[2] = {d, x};
    for (int i = 0; i < 2; i++) {
        create_table(d);
        it_queryf(d, "INSERT INTO %s VALUES (1, 'existing', 1), (3, 'existing', 3)", T);
        char *all = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&all, &len);
        for (int k = 0; stmts[k]; k++) {
            char *c = it_capture(side[i], stmts[k]);
            fprintf(f, "%s\n%s", stmts[k], c);
            free(c);
        }
        fclose(f);
        cap[i] = all;
    }
    it_same(what, cap[0], cap[1]);
    free(cap[0]);
    free(cap[1]);
}

static void test_small_loads(MYSQL *x, MYSQL *d)
{
    char small[300], empty[300], dup[300];
    snprintf(small, sizeof small, "%s/small.tsv", tmpdir);
    snprintf(empty, sizeof empty, "%s/empty.tsv", tmpdir);
    snprintf(dup, sizeof dup, "%s/dup.tsv", tmpdir);
    struct sums e;
    if (write_file(small, 100, 1000, &e) != 0)
        return;
    FILE *f = fopen(empty, "w");
    if (f)
        fclose(f);
    f = fopen(dup, "w");
    if (f) {
        for (int i = 1; i <= 10; i++)
            fprintf(f, "%d\tdup%d\t%d\n", i, i, i * 10);
        fprintf(f, "11\ttoo many\tfields\textra\n12\tbad number\tabc\n");
        fclose(f);
    }
    char *l_small = load_sql(small, ""), *l_empty = load_sql(empty, ""),
         *l_ignore = load_sql(dup, "IGNORE"), *l_replace = load_sql(dup, "REPLACE"),
         *l_plain = load_sql(dup, "");
    char count_sql[128];
    snprintf(count_sql, sizeof count_sql, "SELECT COUNT(*), SUM(v) FROM %s", T);

    const char *in_txn[] = {"BEGIN",   l_small, "SELECT @@in_transaction", count_sql, "ROLLBACK",
                            count_sql, NULL};
    compare_small(x, d, "LOAD inside a transaction, rolled back", in_txn);
    const char *committed[] = {"START TRANSACTION", l_small, "COMMIT", count_sql, NULL};
    compare_small(x, d, "LOAD inside a transaction, committed", committed);
    const char *empty_load[] = {l_empty, count_sql, NULL};
    compare_small(x, d, "LOAD of an empty file", empty_load);
    const char *ignore[] = {l_ignore, "SHOW WARNINGS", count_sql, NULL};
    compare_small(x, d, "LOAD IGNORE with duplicates and bad rows", ignore);
    const char *replace[] = {l_replace, count_sql, NULL};
    compare_small(x, d, "LOAD REPLACE", replace);
    const char *plain[] = {l_plain, count_sql, "SELECT 'after error'", NULL};
    compare_small(x, d, "LOAD hitting a duplicate key", plain);
    const char *twice[] = {l_small, l_small, l_empty, count_sql, NULL};
    compare_small(x, d, "LOAD twice in a row", twice);

    free(l_small);
    free(l_empty);
    free(l_ignore);
    free(l_replace);
    free(l_plain);
    unlink(small);
    unlink(empty);
    unlink(dup);
}

int main(void)
{
    it_watchdog(240);
    snprintf(T, sizeof T, "it_load_%d", (int)getpid());
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/ringmux-it-load.XXXXXX", (tmp && *tmp) ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        IT_FAIL("mkdtemp failed");
        return it_done();
    }
    if (it_proxy_start(&P, "max_backend_connections = 2\n") != 0) {
        IT_FAIL("proxy did not start");
        rmdir(tmpdir);
        return it_done();
    }
    MYSQL *d = it_connect_direct(IT_DB);
    MYSQL *x = it_connect_proxy(&P, IT_DB);
    if (d && x) {
        test_big_load(x, d);
        test_missing_file(x, d);
        test_small_loads(x, d);
        /* After all that the proxy connection is still fine. */
        IT_EQ_INT(it_scalar_int(x, "SELECT 123"), 123);
        it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    }
    if (x)
        mysql_close(x);
    if (d)
        mysql_close(d);
    rmdir(tmpdir);
    IT_CHECK(it_proxy_alive(&P), "proxy died during the test");
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
