/* The backend restarts or goes away while clients are connected.
 *
 * 1. Restart (scripts/sandbox-mariadb.sh restart, same port) with 20 idle
 *    clients: each must keep its connection and its next statement must
 *    simply work (dead pooled connections are replaced, commands not yet
 *    written are retried), with its tracked session state (time_zone)
 *    intact.  A client in an explicit transaction gets an error (2013
 *    class) on its next statement, and works again after that, its
 *    transaction rolled back.  A client in the middle of a statement gets an
 *    error for that statement only.  A pinned client (user variable) must
 *    never see its state silently vanish: its next statement gets an error
 *    saying its pinned session state is lost, then it works again, unpinned.
 * 2. Statements sent while the backend is down wait for it (within
 *    connection_borrow_timeout) and run once it is back.
 * 3. With connection_borrow_timeout = 2s and the backend down for longer,
 *    a statement gets ERR 1040 naming connection_borrow_timeout within
 *    about 2 s; once the backend is back, the same client works again.
 *
 * Needs RINGMUX_TEST_SANDBOX (the sandbox directory) to stop and start the
 * backend. */
#include "harness.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_IDLE      20
/* Roomy enough that the three sessions holding a connection across the
 * restart (transaction, pinned, sleeping) never starve the others, even
 * with each worker limited to its share of the pool. */
#define MAX_BACKEND 8

static struct it_proxy P;
static char T[64];

/* A lost-connection class error for a statement cut by the backend:
 * CR_SERVER_LOST / CR_SERVER_GONE_ERROR as a client library reports them,
 * or the server's own ER_SERVER_SHUTDOWN / ER_CONNECTION_KILLED.  (Not
 * CR_MALFORMED_PACKET 2027: that is what libmariadb reports when a server
 * sends an ERR packet with a client-side code such as 2013.) */
static bool lost_class(unsigned e)
{
    return e == 2013 || e == 2006 || e == 1053 || e == 1927;
}

struct idle_client {
    int id;
    MYSQL *m;
    bool tz; /* has time_zone = '+03:00' */
    pthread_t thread;
    unsigned err; /* first error after the restart, 0 if none */
    char errmsg[256];
};

static void *after_restart(void *arg)
{
    struct idle_client *c = arg;
    /* Everyone at once: some land on dead pooled connections. */
    long long v = LLONG_MIN;
    if (mysql_query(c->m, "SELECT 40 + 2") == 0) {
        MYSQL_RES *r = mysql_store_result(c->m);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        if (row && row[0])
            v = strtoll(row[0], NULL, 10);
        if (r)
            mysql_free_result(r);
    }
    if (v != 42) {
        c->err = mysql_errno(c->m) ? mysql_errno(c->m) : 1;
        snprintf(c->errmsg, sizeof c->errmsg, "%s", mysql_error(c->m));
    }
    return NULL;
}

/* A statement that is running when the backend goes down. */
struct sleeper {
    MYSQL *m;
    pthread_t thread;
    unsigned err;
    char errmsg[256];
    double took;
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    double t0 = it_now();
    s->err = it_try_query(s->m, "SELECT SLEEP(20)");
    snprintf(s->errmsg, sizeof s->errmsg, "%s", mysql_error(s->m));
    s->took = it_now() - t0;
    return NULL;
}

static void test_restart(void)
{
    struct idle_client c[N_IDLE];
    memset(c, 0, sizeof c);
    for (int i = 0; i < N_IDLE; i++) {
        c[i].id = i;
        c[i].m = it_connect_proxy(&P, IT_DB);
        if (!c[i].m)
            goto out;
        c[i].tz = i % 2 == 0;
        if (c[i].tz)
            it_query(c[i].m, "SET time_zone = '+03:00'");
        IT_EQ_INT(it_scalar_int(c[i].m, "SELECT 1"), 1);
    }
    MYSQL *tx = it_connect_proxy(&P, IT_DB);  /* in a transaction during the restart */
    MYSQL *pin = it_connect_proxy(&P, IT_DB); /* pinned by a user variable */
    struct sleeper sl = {.m = it_connect_proxy(&P, IT_DB)};
    MYSQL *d = it_connect_direct(NULL);
    if (!tx || !pin || !sl.m || !d)
        goto out2;
    /* The sleeper's statement runs on the backend (not queued) first. */
    pthread_create(&sl.thread, NULL, sleeper_main, &sl);
    bool running = false;
    for (int i = 0; i < 100 && !running; i++) {
        it_usleep(50000);
        running = it_scalar_int(d, "SELECT COUNT(*) FROM information_schema.PROCESSLIST "
                                   "WHERE INFO = 'SELECT SLEEP(20)'") == 1;
    }
    IT_CHECK(running, "the sleeper's SELECT SLEEP(20) is not running on the backend");
    mysql_close(d);
    d = NULL;
    it_query(tx, "BEGIN");
    it_queryf(tx, "INSERT INTO %s VALUES (1)", T);
    IT_EQ_INT(it_scalar_int(tx, "SELECT @@in_transaction"), 1);
    it_query(pin, "SET @fo = 7");
    IT_EQ_INT(it_scalar_int(pin, "SELECT @fo"), 7);

    double opened0 = it_metric(&P, "ringmux_backend_connections_opened_total");
    double t0 = it_now();
    if (it_backend_restart() != 0) {
        IT_FAIL("it_backend_restart failed (is RINGMUX_TEST_SANDBOX set?)");
        pthread_join(sl.thread, NULL);
        goto out2;
    }
    fprintf(stderr, "backend restarted in %.1f s\n", it_now() - t0);
    pthread_join(sl.thread, NULL);

    /* The idle clients: all at once, every one must just work. */
    for (int i = 0; i < N_IDLE; i++)
        pthread_create(&c[i].thread, NULL, after_restart, &c[i]);
    for (int i = 0; i < N_IDLE; i++) {
        pthread_join(c[i].thread, NULL);
        IT_CHECK(c[i].err == 0, "idle client %d: first statement after the backend restart failed: %u %s", i, c[i].err,
                 c[i].errmsg);
    }
    /* ... and keeps its tracked session state. */
    for (int i = 0; i < N_IDLE; i++) {
        char tz[32];
        if (it_scalar(c[i].m, "SELECT @@time_zone", tz, sizeof tz) >= 0)
            IT_CHECK(strcmp(tz, c[i].tz ? "+03:00" : "SYSTEM") == 0,
                     "idle client %d: time_zone after the restart is %s", i, tz);
        IT_EQ_INT(it_scalar_int(c[i].m, "SELECT COUNT(*) FROM seq_1_to_10"), 10);
    }

    /* The statement that was running: an error for it (the proxy sends
     * ER_CONNECTION_KILLED 1927: libmariadb rejects client-range codes such
     * as 2013 in an ERR packet as malformed), then usable. */
    IT_CHECK(lost_class(sl.err),
             "statement running during the restart: got %u '%s' after %.1f s, expected a "
             "lost-connection class error",
             sl.err, sl.errmsg, sl.took);
    IT_EQ_INT(it_scalar_int(sl.m, "SELECT 5"), 5);

    /* The transaction: its next statement fails, then the session works
     * again and the insert is gone. */
    unsigned e = it_try_query(tx, "SELECT COUNT(*) FROM seq_1_to_3");
    IT_CHECK(lost_class(e), "client in a transaction: next statement got %u '%s', expected a lost-connection error", e,
             e ? mysql_error(tx) : "success");
    IT_EQ_INT(it_scalar_int(tx, "SELECT @@in_transaction"), 0);
    IT_EQ_INT(it_scalar_int(tx, "SELECT 6"), 6);
    {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s", T);
        IT_EQ_INT(it_scalar_int(tx, sql), 0);
    }
    it_query(tx, "BEGIN");
    it_queryf(tx, "INSERT INTO %s VALUES (2)", T);
    it_query(tx, "COMMIT");

    /* The pinned client lost its connection and its @fo: it must be told,
     * not answered NULL. */
    if (mysql_query(pin, "SELECT @fo") == 0) {
        MYSQL_RES *r = mysql_store_result(pin);
        MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
        IT_CHECK(row && row[0] && strcmp(row[0], "7") == 0,
                 "pinned client: SELECT @fo after the restart returned %s instead of an error",
                 row ? (row[0] ? row[0] : "NULL") : "no row");
        if (r)
            mysql_free_result(r);
    } else {
        IT_CHECK(lost_class(mysql_errno(pin)), "pinned client: error %u %s", mysql_errno(pin), mysql_error(pin));
        if (!it_direct_mode()) {
            /* Told once, then unpinned and usable on the same connection. */
            IT_CHECK(strstr(mysql_error(pin), "pinned") != NULL, "pinned client's error does not say why: %s",
                     mysql_error(pin));
            char v[32] = "x";
            IT_CHECK(it_scalar(pin, "SELECT @fo", v, sizeof v) == 0, "pinned client after the error: @fo = %s", v);
        }
    }

    if (!it_direct_mode()) {
        double opened = it_metric(&P, "ringmux_backend_connections_opened_total");
        IT_CHECK(opened > opened0, "no backend connection opened after the restart");
        double b = it_metric(&P, "ringmux_backend_connections");
        IT_CHECK(b >= 1 && b <= MAX_BACKEND, "ringmux_backend_connections = %g", b);
        double cc = it_metric(&P, "ringmux_client_connections");
        IT_CHECK(cc >= N_IDLE + 2 && cc <= N_IDLE + 3,
                 "ringmux_client_connections = %g, expected the %d idle clients + tx + sleeper "
                 "(+ the pinned one)",
                 cc, N_IDLE);
    }
out2:
    if (d)
        mysql_close(d);
    if (tx)
        mysql_close(tx);
    if (pin)
        mysql_close(pin);
    if (sl.m)
        mysql_close(sl.m);
out:
    for (int i = 0; i < N_IDLE; i++)
        if (c[i].m)
            mysql_close(c[i].m);
}

/* Statements sent while the backend is down wait for it. */
struct waiter {
    MYSQL *m;
    pthread_t thread;
    unsigned err;
    char errmsg[256];
    double took;
};

static void *waiter_main(void *arg)
{
    struct waiter *w = arg;
    double t0 = it_now();
    w->err = it_try_query(w->m, "SELECT COUNT(*) FROM seq_1_to_5");
    snprintf(w->errmsg, sizeof w->errmsg, "%s", mysql_error(w->m));
    w->took = it_now() - t0;
    return NULL;
}

static void test_queue_while_down(void)
{
    struct waiter w[4];
    memset(w, 0, sizeof w);
    for (int i = 0; i < 4; i++) {
        w[i].m = it_connect_proxy(&P, IT_DB);
        if (!w[i].m)
            goto out;
        IT_EQ_INT(it_scalar_int(w[i].m, "SELECT 1"), 1);
    }
    if (it_backend_stop() != 0) {
        IT_FAIL("it_backend_stop failed");
        goto out;
    }
    for (int i = 0; i < 4; i++)
        pthread_create(&w[i].thread, NULL, waiter_main, &w[i]);
    it_usleep(1500000);
    if (it_backend_start() != 0)
        IT_FAIL("it_backend_start failed");
    for (int i = 0; i < 4; i++) {
        pthread_join(w[i].thread, NULL);
        IT_CHECK(w[i].err == 0,
                 "statement sent while the backend was down (borrow timeout 10 s) failed after "
                 "%.1f s: %u %s",
                 w[i].took, w[i].err, w[i].errmsg);
    }
out:
    for (int i = 0; i < 4; i++)
        if (w[i].m)
            mysql_close(w[i].m);
}

/* Poll GET /readyz until it answers status (within timeout_s); /healthz
 * stays 200 all along (the process is alive). */
static bool readyz(struct it_proxy *p, int status, double timeout_s)
{
    if (it_direct_mode())
        return true;
    double t0 = it_now();
    for (;;) {
        char *body = NULL, *hb = NULL;
        int st = it_admin_call(p, "GET", "/readyz", &body);
        int hst = it_admin_call(p, "GET", "/healthz", &hb);
        IT_EQ_INT(hst, 200);
        free(hb);
        if (st == status) {
            fprintf(stderr, "/readyz %d after %.2f s: %s", st, it_now() - t0, body ? body : "\n");
            IT_CHECK(body &&
                         strncmp(body, status == 200 ? "ready: writer" : "not ready: ", status == 200 ? 13 : 11) == 0,
                     "/readyz body: %s", body ? body : "(none)");
            free(body);
            return true;
        }
        free(body);
        if (it_now() - t0 > timeout_s)
            return false;
        it_usleep(100000);
    }
}

/* Backend down longer than connection_borrow_timeout = 2s. */
static void test_down(struct it_proxy *p)
{
    MYSQL *c = it_connect_proxy(p, IT_DB);
    if (!c)
        return;
    IT_EQ_INT(it_scalar_int(c, "SELECT 1"), 1);
    IT_CHECK(readyz(p, 200, 3), "/readyz is not 200 with the backend up");
    if (it_backend_stop() != 0) {
        IT_FAIL("it_backend_stop failed");
        mysql_close(c);
        return;
    }
    IT_CHECK(readyz(p, 503, 5), "/readyz did not turn 503 with the backend down");
    for (int round = 0; round < 2; round++) {
        double t0 = it_now();
        unsigned e = it_try_query(c, "SELECT 1");
        double took = it_now() - t0;
        fprintf(stderr, "backend down, round %d: %u '%s' after %.2f s\n", round, e, mysql_error(c), took);
        IT_CHECK(e == 1040, "backend down: got %u '%s', expected ERR 1040", e, mysql_error(c));
        IT_CHECK(strstr(mysql_error(c), "connection_borrow_timeout") != NULL,
                 "backend down: the error does not name connection_borrow_timeout: %s", mysql_error(c));
        IT_CHECK(took >= 1.5 && took <= 3.5, "backend down: the error came after %.2f s, expected about 2 s", took);
    }
    /* A new client (no default database: nothing to check on a backend)
     * can still log in, and gets the same error for a statement. */
    MYSQL *n = it_connect_ex(p->host, p->port, IT_USER, IT_PASSWORD, NULL, 0);
    if (n) {
        unsigned e = it_try_query(n, "SELECT 1");
        IT_CHECK(e == 1040, "new client while down: got %u '%s', expected ERR 1040", e, mysql_error(n));
        mysql_close(n);
    }
    if (it_backend_start() != 0) {
        IT_FAIL("it_backend_start failed");
        mysql_close(c);
        return;
    }
    IT_CHECK(readyz(p, 200, 10), "/readyz did not turn 200 with the backend back");
    /* Back: the same client works again (allow for the reconnect backoff). */
    double t0 = it_now();
    unsigned e;
    while ((e = it_try_query(c, "SELECT 1")) != 0 && it_now() - t0 < 10)
        it_usleep(200000);
    IT_CHECK(e == 0, "backend back: the client still gets %u %s after 10 s", e, mysql_error(c));
    fprintf(stderr, "backend back: first success after %.2f s\n", it_now() - t0);
    IT_CHECK(it_now() - t0 < 5, "backend back: statements failed for %.1f s after it was up", it_now() - t0);
    IT_EQ_INT(it_scalar_int(c, "SELECT 2"), 2);
    MYSQL *m = it_connect_proxy(p, IT_DB);
    if (m) {
        IT_EQ_INT(it_scalar_int(m, "SELECT 3"), 3);
        mysql_close(m);
    }
    mysql_close(c);
}

int main(void)
{
    it_watchdog(170);
    if (!getenv("RINGMUX_TEST_SANDBOX") || !*getenv("RINGMUX_TEST_SANDBOX")) {
        IT_FAIL("RINGMUX_TEST_SANDBOX is not set: this test restarts the sandbox MariaDB "
                "(source the env of scripts/sandbox-mariadb.sh start DIR)");
        return it_done();
    }
    snprintf(T, sizeof T, "fo_%d", (int)getpid());
    MYSQL *d = it_connect_direct(IT_DB);
    if (!d)
        return it_done();
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d, "CREATE TABLE %s (a INT) ENGINE=InnoDB", T);
    mysql_close(d);

    char pool[128];
    snprintf(pool, sizeof pool, "max_backend_connections = %d\nconnection_borrow_timeout = 10s\n", MAX_BACKEND);
    if (it_proxy_start(&P, pool) == 0) {
        double t0 = it_now();
        test_restart();
        fprintf(stderr, "restart with idle clients: %.1f s\n", it_now() - t0);
        t0 = it_now();
        test_queue_while_down();
        fprintf(stderr, "statements queued while down: %.1f s\n", it_now() - t0);
        IT_CHECK(it_proxy_alive(&P), "proxy died during the restart tests");
        IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    } else {
        IT_FAIL("proxy did not start");
    }

    struct it_proxy Q;
    snprintf(pool, sizeof pool, "max_backend_connections = %d\nconnection_borrow_timeout = 2s\n", MAX_BACKEND);
    if (it_proxy_start(&Q, pool) == 0) {
        double t0 = it_now();
        test_down(&Q);
        fprintf(stderr, "backend down: %.1f s\n", it_now() - t0);
        IT_CHECK(it_proxy_alive(&Q), "proxy died during the backend-down test");
        IT_CHECK(it_proxy_stop(&Q) == 0, "proxy did not shut down cleanly");
    } else {
        IT_FAIL("second proxy did not start");
    }

    d = it_connect_direct(IT_DB);
    if (d) {
        it_queryf(d, "DROP TABLE IF EXISTS %s", T);
        mysql_close(d);
    }
    return it_done();
}
