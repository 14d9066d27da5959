/* Prepared statements from 100 clients over 4 backend connections, without
 * pinning: each client prepares the same statements (the proxy shares one
 * server-side statement per backend connection), executes them many times
 * with its own parameters and checks every result, closes and re-prepares,
 * streams a parameter with SEND_LONG_DATA, and reads through a cursor.  At
 * the end: no pins, at most 4 backend connections, and the server holds
 * few prepared statements (the proxy's per-connection cache is bounded). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define N_CLIENTS 100
#define N_ITER 30
#define MAX_BACKEND 4

static struct it_proxy P;
static char T[64];

struct client {
    int id;
    pthread_t thread;
    unsigned rng;
};

static void bind_long(MYSQL_BIND *b, long long *v)
{
    memset(b, 0, sizeof(*b));
    b->buffer_type = MYSQL_TYPE_LONGLONG;
    b->buffer = v;
}

/* One client: insert its rows, read them back by key, update, verify. */
static void *client_main(void *arg)
{
    struct client *c = arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    char sql[256];
    snprintf(sql, sizeof sql, "INSERT INTO %s (client, k, v) VALUES (?, ?, ?)", T);
    MYSQL_STMT *ins = it_prepare(m, sql);
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE client = ? AND k = ?", T);
    MYSQL_STMT *sel = it_prepare(m, sql);
    snprintf(sql, sizeof sql, "UPDATE %s SET v = v + ? WHERE client = ?", T);
    MYSQL_STMT *upd = it_prepare(m, sql);
    if (!ins || !sel || !upd)
        goto out;
    long long client = c->id, k, v, add, got;
    MYSQL_BIND in[3], out[1];
    for (int i = 0; i < N_ITER; i++) {
        k = i;
        v = (long long)c->id * 1000 + i;
        bind_long(&in[0], &client);
        bind_long(&in[1], &k);
        bind_long(&in[2], &v);
        if (mysql_stmt_bind_param(ins, in) || mysql_stmt_execute(ins)) {
            IT_FAIL("client %d insert %d: %s", c->id, i, mysql_stmt_error(ins));
            goto out;
        }
        IT_EQ_INT((long long)mysql_stmt_affected_rows(ins), 1);
        /* read back a random earlier row: must be this client's value */
        k = it_rand(&c->rng) % (unsigned)(i + 1);
        bind_long(&in[0], &client);
        bind_long(&in[1], &k);
        bind_long(&out[0], &got);
        if (mysql_stmt_bind_param(sel, in) || mysql_stmt_execute(sel) || mysql_stmt_bind_result(sel, out) ||
            mysql_stmt_store_result(sel)) {
            IT_FAIL("client %d select: %s", c->id, mysql_stmt_error(sel));
            goto out;
        }
        int rc = mysql_stmt_fetch(sel);
        IT_CHECK(rc == 0 && got == (long long)c->id * 1000 + k, "client %d row %lld: rc %d got %lld", c->id, k, rc,
                 got);
        mysql_stmt_free_result(sel);
    }
    /* Update all its rows by one; affected rows must be exactly its own. */
    add = 1;
    bind_long(&in[0], &add);
    bind_long(&in[1], &client);
    if (mysql_stmt_bind_param(upd, in) || mysql_stmt_execute(upd))
        IT_FAIL("client %d update: %s", c->id, mysql_stmt_error(upd));
    else
        IT_EQ_INT((long long)mysql_stmt_affected_rows(upd), N_ITER);
    /* Close and prepare again: a new id, same server statement (cached). */
    mysql_stmt_close(sel);
    snprintf(sql, sizeof sql, "SELECT v FROM %s WHERE client = ? AND k = ?", T);
    sel = it_prepare(m, sql);
    if (sel) {
        k = 0;
        bind_long(&in[0], &client);
        bind_long(&in[1], &k);
        bind_long(&out[0], &got);
        if (mysql_stmt_bind_param(sel, in) || mysql_stmt_execute(sel) || mysql_stmt_bind_result(sel, out) ||
            mysql_stmt_store_result(sel) || mysql_stmt_fetch(sel) != 0)
            IT_FAIL("client %d re-prepared select: %s", c->id, mysql_stmt_error(sel));
        else
            IT_EQ_INT(got, (long long)c->id * 1000 + 1);
    }
out:
    if (ins)
        mysql_stmt_close(ins);
    if (sel)
        mysql_stmt_close(sel);
    if (upd)
        mysql_stmt_close(upd);
    mysql_close(m);
    return NULL;
}

/* SEND_LONG_DATA then EXECUTE, while other clients keep the pool busy. */
static void long_data(void)
{
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return;
    MYSQL_STMT *st = it_prepare(m, "SELECT LENGTH(?), MD5(?) = MD5(REPEAT('ab', 50000))");
    if (st) {
        MYSQL_BIND b[2], r[2];
        memset(b, 0, sizeof b);
        b[0].buffer_type = b[1].buffer_type = MYSQL_TYPE_STRING;
        mysql_stmt_bind_param(st, b);
        for (int part = 0; part < 10; part++) /* 10 chunks of 10000 bytes, both params */
            for (int p = 0; p < 2; p++) {
                char chunk[10000];
                for (size_t i = 0; i < sizeof chunk; i++)
                    chunk[i] = i % 2 ? 'b' : 'a';
                if (mysql_stmt_send_long_data(st, (unsigned)p, chunk, sizeof chunk))
                    IT_FAIL("send_long_data: %s", mysql_stmt_error(st));
            }
        long long len = 0, same = 0;
        bind_long(&r[0], &len);
        bind_long(&r[1], &same);
        if (mysql_stmt_execute(st) || mysql_stmt_bind_result(st, r) || mysql_stmt_store_result(st) ||
            mysql_stmt_fetch(st) != 0) {
            IT_FAIL("long data execute: %s", mysql_stmt_error(st));
        } else {
            IT_EQ_INT(len, 100000);
            IT_EQ_INT(same, 1);
        }
        mysql_stmt_close(st);
    }
    mysql_close(m);
}

/* A read-only cursor fetched a few rows at a time. */
static void cursor(void)
{
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return;
    MYSQL_STMT *st = mysql_stmt_init(m);
    unsigned long type = CURSOR_TYPE_READ_ONLY, prefetch = 7;
    mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type);
    mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch);
    const char *sql = "SELECT seq FROM seq_1_to_100";
    long long v = 0, sum = 0, n = 0;
    MYSQL_BIND r;
    bind_long(&r, &v);
    if (mysql_stmt_prepare(st, sql, strlen(sql)) || mysql_stmt_execute(st) || mysql_stmt_bind_result(st, &r)) {
        IT_FAIL("cursor: %s", mysql_stmt_error(st));
    } else {
        while (mysql_stmt_fetch(st) == 0) {
            sum += v;
            n++;
        }
        IT_EQ_INT(n, 100);
        IT_EQ_INT(sum, 5050);
    }
    mysql_stmt_close(st);
    IT_EQ_INT(it_scalar_int(m, "SELECT 42"), 42); /* the session is usable after */
    mysql_close(m);
}

int main(void)
{
    it_watchdog(240);
    snprintf(T, sizeof T, "it_ps_%d", (int)getpid());
    char pool[128];
    snprintf(pool, sizeof pool, "max_backend_connections = %d\n", MAX_BACKEND);
    if (it_proxy_start(&P, pool) != 0)
        return 1;
    MYSQL *d = it_connect_direct(IT_DB);
    if (!d)
        return it_done();
    it_queryf(d, "CREATE TABLE %s (client INT, k INT, v BIGINT, PRIMARY KEY (client, k))", T);
    long long before = it_scalar_int(d, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                                        "WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'");

    struct client cl[N_CLIENTS];
    unsigned seed = it_seed();
    for (int i = 0; i < N_CLIENTS; i++) {
        cl[i].id = i + 1;
        cl[i].rng = seed + (unsigned)i;
        pthread_create(&cl[i].thread, NULL, client_main, &cl[i]);
    }
    long_data();
    cursor();
    for (int i = 0; i < N_CLIENTS; i++)
        pthread_join(cl[i].thread, NULL);

    /* Every client's rows, checked directly on the server. */
    char q[256];
    snprintf(q, sizeof q, "SELECT COUNT(*) FROM %s WHERE v = client * 1000 + k + 1", T);
    IT_EQ_INT(it_scalar_int(d, q), (long long)N_CLIENTS * N_ITER);

    if (it_direct_mode()) {
        it_skip("pool and statement-cache metrics");
    } else {
        double opened = it_metric(&P, "ringmux_backend_connections");
        IT_CHECK(opened >= 1 && opened <= MAX_BACKEND, "ringmux_backend_connections = %g, limit %d", opened,
                 MAX_BACKEND);
        double pins = it_metric_sum(&P, "ringmux_pins_total");
        IT_CHECK(pins == 0, "prepared statements pinned sessions: ringmux_pins_total = %g", pins);
        long long now = it_scalar_int(d, "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                                         "WHERE VARIABLE_NAME = 'PREPARED_STMT_COUNT'");
        /* 3 distinct statements (+2 helpers) per backend conn at most. */
        IT_CHECK(now - before <= MAX_BACKEND * 6, "server holds %lld more prepared statements (limit %d)",
                 now - before, MAX_BACKEND * 6);
    }
    it_queryf(d, "DROP TABLE %s", T);
    mysql_close(d);
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
