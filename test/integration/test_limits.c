/* The proxy's own limits, each on its own proxy:
 *   - connection_borrow_timeout: with max_backend_connections = 1 and the
 *     one connection held by a transaction, another client's statement
 *     gets ERR 1040 naming connection_borrow_timeout after about the
 *     configured 1 s; once the transaction commits it works;
 *   - max_client_connections = 5: the 6th client gets ERR 1040 "Too many
 *     connections"; once one leaves, a new one gets in;
 *   - idle_client_timeout = 2s: an idle client is disconnected after about
 *     2 s, a busy or chatty one is not;
 *   - graceful shutdown: a client in the middle of SELECT SLEEP(2) when
 *     SIGTERM arrives still gets its result; idle clients are let go, a
 *     transaction left open is rolled back, new connections are refused,
 *     and the proxy exits cleanly. */
#include "harness.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char T[64];

static bool lost_class(unsigned e)
{
    return e == 2013 || e == 2006;
}

/* ---- connection_borrow_timeout ------------------------------------------ */

static void test_borrow_timeout(void)
{
    if (it_direct_mode()) {
        it_skip("test_borrow_timeout: a proxy limit");
        return;
    }
    struct it_proxy P;
    if (it_proxy_start(&P, "max_backend_connections = 1\nconnection_borrow_timeout = 1s\n") != 0) {
        IT_FAIL("borrow timeout: proxy did not start");
        return;
    }
    /* The B clients log in without a default database: nothing to check
     * on a backend at connect time, so only their statements need the
     * pool.  Several of them, so that both workers have some. */
    enum { N_B = 4 };
    MYSQL *a = it_connect_proxy(&P, IT_DB);
    MYSQL *b[N_B] = {0};
    if (!a)
        goto out;
    for (int i = 0; i < N_B; i++)
        if (!(b[i] = it_connect_ex(P.host, P.port, IT_USER, IT_PASSWORD, NULL, 0)))
            goto out;
    it_query(a, "BEGIN");
    it_queryf(a, "INSERT INTO %s VALUES (1)", T);
    for (int round = 0; round < N_B + 2; round++) {
        MYSQL *m = b[round % N_B];
        double t0 = it_now();
        unsigned e = it_try_query(m, "SELECT 1");
        double took = it_now() - t0;
        fprintf(stderr, "borrow timeout, round %d: %u '%s' after %.2f s\n", round, e, mysql_error(m), took);
        IT_CHECK(e == 1040, "B while A holds the only connection: got %u '%s', expected ERR 1040", e,
                 e ? mysql_error(m) : "success");
        if (e == 1040) {
            IT_CHECK(strstr(mysql_error(m), "connection_borrow_timeout") != NULL,
                     "the borrow-timeout error does not name connection_borrow_timeout: %s", mysql_error(m));
            IT_EQ_STR(mysql_sqlstate(m), "08004");
        }
        IT_CHECK(took >= 0.9 && took <= 2.0, "ERR 1040 came after %.2f s, expected about 1 s", took);
    }
    /* A is unaffected, and once it commits every B gets the connection in
     * turn, whichever worker it is on (an idle slot moves to the worker
     * whose sessions wait). */
    IT_EQ_INT(it_scalar_int(a, "SELECT @@in_transaction"), 1);
    it_query(a, "COMMIT");
    for (int i = 0; i < N_B; i++) {
        double t0 = it_now();
        unsigned e = it_try_query(b[i], "SELECT 2");
        IT_CHECK(e == 0, "B%d after A committed: %u '%s' after %.2f s", i, e, mysql_error(b[i]), it_now() - t0);
    }
    IT_EQ_INT(it_scalar_int(a, "SELECT 3"), 3);
    if (!it_direct_mode()) {
        double to = it_metric(&P, "ringmux_borrow_timeouts_total");
        IT_CHECK(to >= N_B + 2, "ringmux_borrow_timeouts_total = %g, expected >= %d", to, N_B + 2);
        double bc = it_metric(&P, "ringmux_backend_connections");
        IT_CHECK(bc <= 1, "ringmux_backend_connections = %g with max_backend_connections = 1", bc);
    }
out:
    if (a)
        mysql_close(a);
    for (int i = 0; i < N_B; i++)
        if (b[i])
            mysql_close(b[i]);
    IT_CHECK(it_proxy_alive(&P), "borrow timeout: proxy died");
    IT_CHECK(it_proxy_stop(&P) == 0, "borrow timeout: proxy did not shut down cleanly");
}

/* ---- max_client_connections ---------------------------------------------- */

static void test_max_clients(void)
{
    if (it_direct_mode()) {
        it_skip("test_max_clients: a proxy limit");
        return;
    }
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "max_client_connections = 5\n", NULL) != 0) {
        IT_FAIL("max clients: proxy did not start");
        return;
    }
    MYSQL *c[5] = {0};
    for (int i = 0; i < 5; i++) {
        c[i] = it_connect_proxy(&P, IT_DB);
        if (!c[i])
            goto out;
        IT_EQ_INT(it_scalar_int(c[i], "SELECT 1"), 1);
    }
    for (int k = 0; k < 3; k++) {
        struct it_error e;
        int rc = it_connect_error(P.host, P.port, IT_USER, IT_PASSWORD, IT_DB, &e);
        IT_CHECK(rc == 0, "client 6 connected with max_client_connections = 5");
        if (rc == 0) {
            fprintf(stderr, "client 6: %u (%s) %s\n", e.code, e.sqlstate, e.message);
            IT_CHECK(e.code == 1040, "client 6: error %u '%s', expected 1040", e.code, e.message);
            IT_CHECK(strstr(e.message, "Too many connections") != NULL,
                     "client 6: message '%s' does not say Too many connections", e.message);
        }
    }
    /* The five are unaffected. */
    for (int i = 0; i < 5; i++)
        IT_EQ_INT(it_scalar_int(c[i], "SELECT 2"), 2);
    /* One leaves: a new client gets in (the slot frees asynchronously). */
    mysql_close(c[0]);
    c[0] = NULL;
    double t0 = it_now();
    struct it_error e;
    bool in = false;
    while (!in && it_now() - t0 < 3) {
        in = it_connect_error(P.host, P.port, IT_USER, IT_PASSWORD, IT_DB, &e) == -1;
        if (!in)
            it_usleep(100000);
    }
    IT_CHECK(in, "no client could connect within 3 s after one of five left: %u %s", e.code, e.message);
    /* That one left too: wait until the proxy counts 4, then a real one. */
    it_metric_wait(&P, "ringmux_client_connections", 4, 3);
    MYSQL *n = it_connect_proxy(&P, IT_DB);
    if (n) {
        IT_EQ_INT(it_scalar_int(n, "SELECT 3"), 3);
        mysql_close(n);
    }
    if (!it_direct_mode()) {
        double rej = it_metric(&P, "ringmux_clients_rejected_total");
        IT_CHECK(rej >= 3, "ringmux_clients_rejected_total = %g, expected >= 3", rej);
    }
out:
    for (int i = 0; i < 5; i++)
        if (c[i])
            mysql_close(c[i]);
    IT_CHECK(it_proxy_alive(&P), "max clients: proxy died");
    IT_CHECK(it_proxy_stop(&P) == 0, "max clients: proxy did not shut down cleanly");
}

/* ---- idle_client_timeout ---------------------------------------------------- */

struct busy {
    MYSQL *m;
    pthread_t thread;
    unsigned err;
    char errmsg[256];
};

static void *busy_main(void *arg)
{
    struct busy *b = arg;
    b->err = it_try_query(b->m, "SELECT SLEEP(3)");
    snprintf(b->errmsg, sizeof b->errmsg, "%s", mysql_error(b->m));
    return NULL;
}

static void test_idle_timeout(void)
{
    if (it_direct_mode()) {
        it_skip("test_idle_timeout: a proxy limit");
        return;
    }
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "idle_client_timeout = 2s\n", NULL) != 0) {
        IT_FAIL("idle timeout: proxy did not start");
        return;
    }
    MYSQL *idle = it_connect_proxy(&P, IT_DB);
    MYSQL *chatty = it_connect_proxy(&P, IT_DB);
    struct busy busy = {.m = it_connect_proxy(&P, IT_DB)};
    if (!idle || !chatty || !busy.m)
        goto out;
    IT_EQ_INT(it_scalar_int(idle, "SELECT 1"), 1);
    double t0 = it_now();
    double before = it_metric(&P, "ringmux_client_connections");
    /* busy: one statement longer than the timeout must not be cut. */
    pthread_create(&busy.thread, NULL, busy_main, &busy);
    /* chatty: a statement every 0.5 s for 4 s stays connected. */
    double closed_at = -1;
    while (it_now() - t0 < 4.5) {
        IT_EQ_INT(it_scalar_int(chatty, "SELECT 4"), 4);
        if (closed_at < 0 && !it_direct_mode() && it_metric(&P, "ringmux_client_connections") < before)
            closed_at = it_now() - t0;
        it_usleep(500000);
    }
    pthread_join(busy.thread, NULL);
    IT_CHECK(busy.err == 0, "SELECT SLEEP(3) with idle_client_timeout = 2s: %u %s", busy.err, busy.errmsg);
    if (!it_direct_mode()) {
        fprintf(stderr, "idle client closed after %.2f s (idle_client_timeout = 2s)\n", closed_at);
        IT_CHECK(closed_at >= 1.9 && closed_at <= 4,
                 "the idle client was closed after %.2f s (-1: not within 4.5 s), expected about "
                 "2 s",
                 closed_at);
    }
    unsigned e = it_try_query(idle, "SELECT 5");
    IT_CHECK(lost_class(e), "idle client after 4.5 s: got %u '%s', expected a lost connection", e,
             e ? mysql_error(idle) : "success");
    /* The busy one ran 3 s and then idled about 1.5 s: still there. */
    e = it_try_query(busy.m, "SELECT 6");
    IT_CHECK(e == 0, "client that ran SELECT SLEEP(3): next statement got %u '%s'", e, mysql_error(busy.m));
out:
    if (idle)
        mysql_close(idle);
    if (chatty)
        mysql_close(chatty);
    if (busy.m)
        mysql_close(busy.m);
    IT_CHECK(it_proxy_alive(&P), "idle timeout: proxy died");
    IT_CHECK(it_proxy_stop(&P) == 0, "idle timeout: proxy did not shut down cleanly");
}

/* ---- graceful shutdown --------------------------------------------------------- */

struct sleeper {
    MYSQL *m;
    pthread_t thread;
    unsigned err;
    char errmsg[256];
    char value[32];
};

static void *sleeper_main(void *arg)
{
    struct sleeper *s = arg;
    s->value[0] = '\0';
    if (mysql_query(s->m, "SELECT SLEEP(2), 'finished'") != 0) {
        s->err = mysql_errno(s->m);
        snprintf(s->errmsg, sizeof s->errmsg, "%s", mysql_error(s->m));
        return NULL;
    }
    MYSQL_RES *r = mysql_store_result(s->m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (row && row[0] && row[1])
        snprintf(s->value, sizeof s->value, "%s %s", row[0], row[1]);
    else
        s->err = mysql_errno(s->m) ? mysql_errno(s->m) : 1;
    snprintf(s->errmsg, sizeof s->errmsg, "%s", mysql_error(s->m));
    if (r)
        mysql_free_result(r);
    return NULL;
}

static void test_graceful_shutdown(void)
{
    if (it_direct_mode()) {
        it_skip("graceful shutdown of the proxy");
        return;
    }
    struct it_proxy P;
    if (it_proxy_start(&P, NULL) != 0) {
        IT_FAIL("shutdown: proxy did not start");
        return;
    }
    struct sleeper s = {.m = it_connect_proxy(&P, IT_DB)};
    MYSQL *idle = it_connect_proxy(&P, IT_DB);
    MYSQL *tx = it_connect_proxy(&P, IT_DB);
    if (!s.m || !idle || !tx) {
        IT_CHECK(it_proxy_stop(&P) == 0, "shutdown: proxy did not shut down cleanly");
        goto out;
    }
    IT_EQ_INT(it_scalar_int(idle, "SELECT 1"), 1);
    it_query(tx, "BEGIN");
    it_queryf(tx, "INSERT INTO %s VALUES (42)", T);
    pthread_create(&s.thread, NULL, sleeper_main, &s);
    it_usleep(500000); /* the SLEEP is running */
    double t0 = it_now();
    IT_CHECK(it_proxy_signal(&P, SIGTERM) == 0, "could not send SIGTERM");
    it_usleep(300000);
    /* New clients are turned away while it drains. */
    struct it_error e;
    IT_CHECK(it_connect_error(P.host, P.port, IT_USER, IT_PASSWORD, IT_DB, &e) == 0,
             "a new client could connect after SIGTERM");
    pthread_join(s.thread, NULL);
    /* The statement completes and its result is flushed before the
     * session is closed. */
    fprintf(stderr, "statement in flight at SIGTERM: '%s' (error %u %s) %.2f s after SIGTERM\n", s.value, s.err,
            s.errmsg, it_now() - t0);
    IT_CHECK(s.err == 0 && strcmp(s.value, "0 finished") == 0,
             "SELECT SLEEP(2) in flight at SIGTERM: got '%s', error %u %s", s.value, s.err, s.errmsg);
    /* Idle clients are let go: their next statement fails. */
    unsigned err = it_try_query(idle, "SELECT 1");
    IT_CHECK(err != 0, "an idle client still runs statements after SIGTERM");
    IT_CHECK(it_proxy_stop(&P) == 0, "shutdown: the proxy did not exit cleanly after SIGTERM");
    fprintf(stderr, "proxy exited %.2f s after SIGTERM\n", it_now() - t0);
    IT_CHECK(it_now() - t0 < 12, "the proxy took %.1f s to stop", it_now() - t0);
    /* The open transaction was not committed. */
    MYSQL *d = it_connect_direct(IT_DB);
    if (d) {
        char sql[128];
        snprintf(sql, sizeof sql, "SELECT COUNT(*) FROM %s WHERE a = 42", T);
        IT_EQ_INT(it_scalar_int(d, sql), 0);
        mysql_close(d);
    }
out:
    if (s.m)
        mysql_close(s.m);
    if (idle)
        mysql_close(idle);
    if (tx)
        mysql_close(tx);
}

/* ---- max_prepared_statements ------------------------------------------------ */

/* Past the per-session cap a prepare fails with the server's error for
 * max_prepared_stmt_count (1461); closing one makes room; other sessions
 * are not affected. */
static void test_prepared_cap(void)
{
    if (it_direct_mode()) {
        it_skip("test_prepared_cap: a proxy limit");
        return;
    }
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "max_prepared_statements = 5\n", NULL) != 0) {
        IT_FAIL("prepared cap: proxy did not start");
        return;
    }
    MYSQL *a = it_connect_proxy(&P, IT_DB), *b = it_connect_proxy(&P, IT_DB);
    MYSQL_STMT *st[6] = {0};
    if (!a || !b)
        goto out;
    for (int i = 0; i < 6; i++) {
        st[i] = mysql_stmt_init(a);
        int rc = st[i] ? mysql_stmt_prepare(st[i], "SELECT ?", 8) : -1;
        if (i < 5)
            IT_CHECK(rc == 0, "prepare %d: %s", i, st[i] ? mysql_stmt_error(st[i]) : "no handle");
        else
            IT_CHECK(rc != 0 && mysql_stmt_errno(st[i]) == 1461 && strcmp(mysql_stmt_sqlstate(st[i]), "42000") == 0,
                     "6th prepare: rc %d, %u (%s) %s", rc, st[i] ? mysql_stmt_errno(st[i]) : 0,
                     st[i] ? mysql_stmt_sqlstate(st[i]) : "", st[i] ? mysql_stmt_error(st[i]) : "");
    }
    MYSQL_STMT *other = mysql_stmt_init(b);
    IT_CHECK(other && mysql_stmt_prepare(other, "SELECT 1", 8) == 0, "another session's prepare failed");
    if (other)
        mysql_stmt_close(other);
    mysql_stmt_close(st[0]);
    st[0] = NULL;
    IT_CHECK(mysql_stmt_prepare(st[5], "SELECT ?", 8) == 0, "prepare after a close: %s", mysql_stmt_error(st[5]));
    IT_EQ_INT((long long)it_metric(&P, "ringmux_prepares_refused_total"), 1);
out:
    for (int i = 0; i < 6; i++)
        if (st[i])
            mysql_stmt_close(st[i]);
    if (a)
        mysql_close(a);
    if (b)
        mysql_close(b);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ---- backend connections end with COM_QUIT ------------------------------ */

/* Every backend connection the proxy closes on purpose (idle timeout,
 * lifetime, shutdown) says COM_QUIT first: the server's Aborted_clients
 * stays where it was.  (A shutdown(2) issued before the queued COM_QUIT
 * was submitted used to make every one of them an aborted connection.) */
static long long aborted_clients(MYSQL *d)
{
    char v[64] = "";
    if (it_scalar(d,
                  "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS "
                  "WHERE VARIABLE_NAME = 'ABORTED_CLIENTS'",
                  v, sizeof v) != 1)
        return -1;
    return atoll(v);
}

static void test_clean_backend_close(void)
{
    if (it_direct_mode()) {
        it_skip("test_clean_backend_close: the proxy's backend connections");
        return;
    }
    MYSQL *d = it_connect_direct(NULL);
    struct it_proxy P;
    if (!d || it_proxy_start(&P, "max_backend_connections = 4\nbackend_idle_timeout = 1s\n") != 0) {
        IT_FAIL("clean close: set-up failed");
        if (d)
            mysql_close(d);
        return;
    }
    long long before = aborted_clients(d);
    enum { N = 4 };
    MYSQL *c[N] = {0};
    for (int i = 0; i < N; i++)
        c[i] = it_connect_proxy(&P, IT_DB);
    for (int i = 0; i < N; i++)
        if (c[i])
            it_query(c[i], "BEGIN"); /* all four backend connections at once */
    for (int i = 0; i < N; i++)
        if (c[i])
            it_query(c[i], "COMMIT");
    /* Idle for 1 s: maintenance retires them. */
    IT_CHECK(it_metric_wait(&P, "ringmux_backend_connections", 0, 10) == 0,
             "idle backend connections were not retired by backend_idle_timeout");
    long long after_idle = aborted_clients(d);
    /* Used again, then the proxy stops: those are closed too. */
    for (int i = 0; i < N; i++)
        if (c[i])
            it_query(c[i], "SELECT 1");
    for (int i = 0; i < N; i++)
        if (c[i])
            mysql_close(c[i]);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    it_usleep(200000);
    long long after_stop = aborted_clients(d);
    fprintf(stderr, "clean close: Aborted_clients %lld → %lld (idle timeout) → %lld (stop)\n", before, after_idle,
            after_stop);
    IT_CHECK(before >= 0 && after_idle == before, "backend_idle_timeout closes aborted %lld connections",
             after_idle - before);
    IT_CHECK(after_stop == after_idle, "closes at shutdown aborted %lld connections", after_stop - after_idle);
    mysql_close(d);
}

int main(int argc, char **argv)
{
    it_watchdog(170);
    snprintf(T, sizeof T, "lim_%d", (int)getpid());
    MYSQL *d = it_connect_direct(IT_DB);
    if (!d)
        return it_done();
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    it_queryf(d, "CREATE TABLE %s (a INT) ENGINE=InnoDB", T);
    static const struct it_case cases[] = {
        {"connection_borrow_timeout", test_borrow_timeout}, {"max_client_connections", test_max_clients},
        {"idle_client_timeout", test_idle_timeout},         {"graceful shutdown", test_graceful_shutdown},
        {"clean backend close", test_clean_backend_close},  {"max_prepared_statements", test_prepared_cap},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    it_queryf(d, "DROP TABLE IF EXISTS %s", T);
    mysql_close(d);
    return it_done();
}
