/* Several backends: the monitor finds the writer, sessions follow it.
 *
 * Uses the primary/replica pair scripts/test.sh starts
 * (scripts/sandbox-replication.sh: RINGMUX_TEST_REPL_DIR, _A_PORT, _B_PORT;
 * GTID, semi-synchronous AFTER_SYNC).  Clients log in as rmtest2, which
 * read_only stops (rmtest, the monitor's user, has READ_ONLY ADMIN).  The
 * cases move the writer as an operator would (demote, wait for the replica
 * to catch up, promote, re-point the old primary) and put things back:
 *   - role switch: an idle session keeps its client connection, its next
 *     statement runs on the new writer with its session state replayed
 *     (time_zone, sql_mode, schema), within the monitor interval + 1 s;
 *   - no writer: statements wait (not fail) until one appears;
 *   - names: a backend named by a host name follows the name when its
 *     answer changes (RINGMUX_TEST_HOSTS, the resolver hook for tests); a
 *     name whose first answer does not listen (an AAAA that refuses, then
 *     an A) still works; "localhost" goes through the real resolver;
 *   - planned switchover under load with POST /pause and /resume: zero
 *     client errors;
 *   - failover: 100 sessions write and read in a loop, the primary is
 *     SIGKILLed and the replica promoted: no client connection closes,
 *     session state survives, only statements in flight at the kill fail,
 *     and every INSERT a client saw succeed is on the new primary.
 * Without RINGMUX_TEST_REPL_DIR (two independent servers) the writer is
 * moved by flipping read_only only, and the failover case is skipped. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int port_a, port_b;
static const char *repl_dir; /* NULL: two independent servers */

static void set_read_only(int port, int on);

static MYSQL *direct_to(int port)
{
    return it_connect_ex("127.0.0.1", port, IT_USER, IT_PASSWORD, NULL, 0);
}

/* A client of the proxy as rmtest2 (read_only applies to it). */
static MYSQL *client(struct it_proxy *P)
{
    return it_connect_ex(P->host, P->port, IT_USER2, IT_PASSWORD2, IT_DB, 0);
}

/* scripts/sandbox-replication.sh ARGS DIR; 0 on success. */
static int repl(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/scripts/sandbox-replication.sh %s %s >>%s/test_topology.repl.log 2>&1",
             RINGMUX_SOURCE_DIR, args, repl_dir, repl_dir);
    int rc = system(cmd);
    if (rc != 0)
        IT_FAIL("sandbox-replication.sh %s failed (log: %s/test_topology.repl.log)", args, repl_dir);
    return rc;
}

static int port_of_name(char n)
{
    return n == 'a' ? port_a : port_b;
}

/* Planned switchover to server `to`: the old primary goes read-only, the
 * new one catches up with it, is promoted, and the old one replicates
 * from it. */
static void make_writer(char to)
{
    char from = to == 'a' ? 'b' : 'a', args[64];
    if (!repl_dir) {
        set_read_only(port_of_name(from), 1);
        set_read_only(port_of_name(to), 0);
        return;
    }
    snprintf(args, sizeof args, "demote %c", from);
    repl(args);
    MYSQL *f = direct_to(port_of_name(from)), *t = direct_to(port_of_name(to));
    char pos[256] = "", q[400];
    if (f && t && it_scalar(f, "SELECT @@gtid_binlog_pos", pos, sizeof pos) >= 0) {
        snprintf(q, sizeof q, "SELECT MASTER_GTID_WAIT('%s', 20)", pos);
        IT_EQ_INT(it_scalar_int(t, q), 0);
    }
    if (f)
        mysql_close(f);
    if (t)
        mysql_close(t);
    snprintf(args, sizeof args, "promote %c", to);
    repl(args);
    snprintf(args, sizeof args, "replicate %c %c", from, to);
    repl(args);
}

/* SET GLOBAL read_only on the server at port. */
static void set_read_only(int port, int on)
{
    MYSQL *m = direct_to(port);
    if (!m)
        return;
    it_queryf(m, "SET GLOBAL read_only = %d", on);
    mysql_close(m);
}

static long long port_of(MYSQL *m)
{
    return it_scalar_int(m, "SELECT @@port");
}

/* Poll `SELECT @@port` on m until it is want (or timeout_s); returns the
 * seconds it took, -1 on timeout.  Every poll must succeed. */
static double wait_port(MYSQL *m, long long want, double timeout_s)
{
    double t0 = it_now();
    while (it_now() - t0 < timeout_s) {
        char v[32] = "";
        if (it_scalar(m, "SELECT @@port", v, sizeof v) != 1)
            return -1;
        if (atoll(v) == want)
            return it_now() - t0;
        it_usleep(50000);
    }
    return -1;
}

static char backends_ini[512];

static const char *two_backends(const char *monitor_extra)
{
    snprintf(backends_ini, sizeof backends_ini,
             "[backend.a]\naddress = 127.0.0.1:%d\n[backend.b]\naddress = 127.0.0.1:%d\n"
             "[monitor]\ninterval = 200ms\n%s",
             port_a, port_b, monitor_extra ? monitor_extra : "");
    return backends_ini;
}

/* ---- role switch ------------------------------------------------------------ */

/* a is the writer when a case starts (and when it ends). */
static void start_with_a(void)
{
    if (!repl_dir) {
        set_read_only(port_a, 0);
        set_read_only(port_b, 1);
    }
}

static void test_role_switch(void)
{
    start_with_a();
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, two_backends(NULL), "connection_borrow_timeout = 10s\n") != 0) {
        IT_FAIL("role switch: proxy did not start");
        return;
    }
    MYSQL *c = client(&P);
    if (!c)
        goto out;
    long long id = it_scalar_int(c, "SELECT CONNECTION_ID()");
    IT_EQ_INT(port_of(c), port_a);
    it_query(c, "SET time_zone = '+03:00', sql_mode = 'ANSI_QUOTES'");
    it_query(c, "USE information_schema");
    make_writer('b');
    double took = wait_port(c, port_b, 5.0);
    fprintf(stderr, "role switch: statements on the new writer after %.2f s\n", took);
    IT_CHECK(took >= 0 && took <= 0.2 + 1.0,
             "session reached the new writer %.2f s after the switchover "
             "(interval 200ms + 1 s)",
             took);
    /* The same client connection, its state replayed on the new writer. */
    IT_EQ_INT(it_scalar_int(c, "SELECT CONNECTION_ID()"), id);
    char v[64] = "";
    it_scalar(c, "SELECT @@time_zone", v, sizeof v);
    IT_EQ_STR(v, "+03:00");
    it_scalar(c, "SELECT @@sql_mode", v, sizeof v);
    IT_EQ_STR(v, "ANSI_QUOTES");
    it_scalar(c, "SELECT DATABASE()", v, sizeof v);
    IT_EQ_STR(v, "information_schema");
    /* Writes go to the new writer (rmtest2: read_only would refuse them
     * anywhere else). */
    it_query(c, "CREATE TABLE IF NOT EXISTS rmtest.topo_t (a INT PRIMARY KEY)");
    it_query(c, "REPLACE INTO rmtest.topo_t VALUES (1)");
    /* And back. */
    make_writer('a');
    took = wait_port(c, port_a, 5.0);
    IT_CHECK(took >= 0, "session did not come back to a");
    it_query(c, "DROP TABLE IF EXISTS rmtest.topo_t");
out:
    if (c)
        mysql_close(c);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    start_with_a();
}

/* ---- no writer: statements wait ---------------------------------------------- */

struct later {
    int port;
    double after_s;
};

static void *make_writable_later(void *arg)
{
    struct later *l = arg;
    it_usleep((long)(l->after_s * 1e6));
    if (repl_dir)
        repl("promote b");
    else
        set_read_only(l->port, 0);
    return NULL;
}

static void test_no_writer_waits(void)
{
    start_with_a();
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, two_backends(NULL), "connection_borrow_timeout = 10s\n") != 0) {
        IT_FAIL("no writer: proxy did not start");
        return;
    }
    MYSQL *c = client(&P);
    if (!c)
        goto out;
    IT_EQ_INT(port_of(c), port_a);
    if (repl_dir) /* now nobody is writable */
        repl("demote a");
    else
        set_read_only(port_a, 1);
    it_usleep(600000); /* the monitor has seen it */
    pthread_t th;
    struct later l = {.port = port_b, .after_s = 1.0};
    pthread_create(&th, NULL, make_writable_later, &l);
    double t0 = it_now();
    long long p = port_of(c); /* waits for a writer, then runs on b */
    double took = it_now() - t0;
    pthread_join(th, NULL);
    fprintf(stderr, "no writer: statement waited %.2f s, ran on port %lld\n", took, p);
    IT_EQ_INT(p, port_b);
    IT_CHECK(took >= 0.8 && took < 3.0, "waited %.2f s for a writer (expected about 1 s)", took);
out:
    if (c)
        mysql_close(c);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    if (repl_dir) { /* b was promoted with a read-only beside it: a follows b, then back */
        repl("replicate a b");
        make_writer('a');
    }
    start_with_a();
}

/* ---- names ------------------------------------------------------------------ */

static void write_hosts(const char *path, const char *text)
{
    char tmp[300];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        IT_FAIL("cannot write %s", tmp);
        return;
    }
    fputs(text, f);
    fclose(f);
    rename(tmp, path); /* atomic: the monitor never reads half a file */
}

static void test_names(void)
{
    start_with_a();
    char hosts[256], text[256], ini[512];
    snprintf(hosts, sizeof hosts, "/tmp/ringmux-hosts.%d", (int)getpid());
    /* db.test: an AAAA answer nothing listens on, then a's A answer. */
    snprintf(text, sizeof text, "[::1]:%d db.test\n127.0.0.1:%d db.test\n", port_a, port_a);
    write_hosts(hosts, text);
    setenv("RINGMUX_TEST_HOSTS", hosts, 1);
    snprintf(ini, sizeof ini, "[backend]\naddress = db.test:3306\n[monitor]\ninterval = 200ms\n");
    struct it_proxy P;
    int rc = it_proxy_start_full(&P, NULL, ini, "connection_borrow_timeout = 10s\n");
    unsetenv("RINGMUX_TEST_HOSTS");
    if (rc != 0) {
        IT_FAIL("names: proxy did not start");
        unlink(hosts);
        return;
    }
    MYSQL *c = it_connect_proxy(&P, IT_DB);
    MYSQL *d = it_connect_proxy(&P, IT_DB);
    if (!c || !d)
        goto out;
    IT_EQ_INT(port_of(c), port_a);
    IT_EQ_INT(port_of(d), port_a);
    it_query(c, "SET time_zone = '-02:00'");
    /* The name moves to b (as an Aurora cluster endpoint does at failover). */
    snprintf(text, sizeof text, "127.0.0.1:%d db.test\n", port_b);
    write_hosts(hosts, text);
    double took = wait_port(c, port_b, 5.0);
    fprintf(stderr, "names: followed the name to b after %.2f s\n", took);
    IT_CHECK(took >= 0 && took <= 1.2, "did not follow the name within 1.2 s (%.2f)", took);
    char v[64] = "";
    it_scalar(c, "SELECT @@time_zone", v, sizeof v);
    IT_EQ_STR(v, "-02:00");
    IT_EQ_INT(port_of(d), port_b);
    /* No connection to the old address stays in the pool. */
    MYSQL *dir = direct_to(port_a);
    if (dir) {
        char q[200];
        snprintf(q, sizeof q,
                 "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '%s' AND ID <> CONNECTION_ID() "
                 "AND COMMAND <> 'Binlog Dump'",
                 IT_USER);
        double t0 = it_now();
        long long n = -1;
        while (it_now() - t0 < 3 && (n = it_scalar_int(dir, q)) > 0)
            it_usleep(100000);
        IT_EQ_INT(n, 0);
        mysql_close(dir);
    }
out:
    if (c)
        mysql_close(c);
    if (d)
        mysql_close(d);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    unlink(hosts);
}

/* localhost through the real resolver (::1 and 127.0.0.1 in /etc/hosts;
 * the servers listen on 127.0.0.1 only). */
static void test_localhost(void)
{
    char ini[256];
    snprintf(ini, sizeof ini, "[backend]\naddress = localhost:%d\n", port_a);
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, ini, NULL) != 0) {
        IT_FAIL("localhost: proxy did not start");
        return;
    }
    MYSQL *c = it_connect_proxy(&P, IT_DB);
    if (c) {
        for (int i = 0; i < 5; i++)
            IT_EQ_INT(port_of(c), port_a);
        mysql_close(c);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ---- planned switchover: PAUSE / RESUME --------------------------------------- */

struct loader {
    struct it_proxy *P;
    int id;
    atomic_bool *stop;
    atomic_long ok, errors;
    char last_err[256];
};

static void *load_loop(void *arg)
{
    struct loader *l = arg;
    MYSQL *m = client(l->P);
    if (!m) {
        atomic_fetch_add(&l->errors, 1);
        return NULL;
    }
    char q[128];
    for (long i = 0; !atomic_load(l->stop); i++) {
        snprintf(q, sizeof q, "INSERT INTO topo_sw VALUES (%ld)", (long)l->id * 100000000L + i);
        if (mysql_query(m, q) != 0 || mysql_query(m, "SELECT 1") != 0) {
            atomic_fetch_add(&l->errors, 1);
            snprintf(l->last_err, sizeof l->last_err, "%u %s", mysql_errno(m), mysql_error(m));
            if (mysql_errno(m) == 2013 || mysql_errno(m) == 2006)
                break; /* the connection is gone: counted, stop */
            continue;
        }
        MYSQL_RES *r = mysql_store_result(m);
        mysql_free_result(r);
        atomic_fetch_add(&l->ok, 1);
    }
    mysql_close(m);
    return NULL;
}

/* The table on both servers (created on a, replicated or created on b). */
static void ensure_table(void)
{
    MYSQL *a = direct_to(port_a), *b = direct_to(port_b);
    if (a)
        it_query(a, "CREATE TABLE IF NOT EXISTS rmtest.topo_sw (id BIGINT PRIMARY KEY) ENGINE=InnoDB");
    for (int i = 0; b && i < 40; i++) {
        unsigned e = it_try_query(b, "SELECT 1 FROM rmtest.topo_sw LIMIT 0");
        if (e == 0)
            break;
        if (i == 39 && !repl_dir) /* not replicated: two independent servers */
            it_query(b, "CREATE TABLE IF NOT EXISTS rmtest.topo_sw (id BIGINT PRIMARY KEY) ENGINE=InnoDB");
        it_usleep(50000);
    }
    if (a)
        mysql_close(a);
    if (b)
        mysql_close(b);
}

static long long running_of(const char *status)
{
    const char *r = status ? strstr(status, "running ") : NULL;
    return r ? atoll(r + 8) : -1;
}

static void test_pause_resume(void)
{
    start_with_a();
    ensure_table();
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, two_backends(NULL),
                            "max_backend_connections = 8\nconnection_borrow_timeout = 20s\n") != 0) {
        IT_FAIL("pause/resume: proxy did not start");
        return;
    }
    enum { N = 8 };
    atomic_bool stop = false;
    struct loader L[N];
    pthread_t th[N];
    for (int i = 0; i < N; i++) {
        memset(&L[i], 0, sizeof L[i]);
        L[i].P = &P;
        L[i].id = i + 1;
        L[i].stop = &stop;
        pthread_create(&th[i], NULL, load_loop, &L[i]);
    }
    it_usleep(1000000);
    char *st = it_admin_request(&P, "POST", "/pause");
    IT_CHECK(st && strncmp(st, "paused", 6) == 0, "POST /pause answered: %s", st ? st : "(nothing)");
    free(st);
    /* Running statements finish; new ones wait. */
    double t0 = it_now();
    long long running = -1;
    while (it_now() - t0 < 5) {
        st = it_admin_request(&P, "GET", "/pause");
        running = running_of(st);
        free(st);
        if (running == 0)
            break;
        it_usleep(20000);
    }
    IT_EQ_INT(running, 0);
    long before = 0;
    for (int i = 0; i < N; i++)
        before += atomic_load(&L[i].ok);
    it_usleep(300000);
    long during = 0;
    for (int i = 0; i < N; i++)
        during += atomic_load(&L[i].ok);
    IT_CHECK(during == before, "%ld statements completed while paused", during - before);
    /* The operator moves the writer. */
    make_writer('b');
    IT_CHECK(it_metric_wait(&P, "ringmux_backend_role{backend=\"b\",role=\"writer\"}", 1, 5) == 1,
             "the monitor did not see b as the writer");
    double paused_for = it_now() - t0;
    st = it_admin_request(&P, "POST", "/resume");
    IT_CHECK(st && strncmp(st, "resumed", 7) == 0, "POST /resume answered: %s", st ? st : "(nothing)");
    free(st);
    it_usleep(1000000);
    atomic_store(&stop, true);
    long ok = 0, errors = 0;
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        ok += atomic_load(&L[i].ok);
        errors += atomic_load(&L[i].errors);
        if (atomic_load(&L[i].errors))
            fprintf(stderr, "pause/resume: client %d: last error %s\n", i, L[i].last_err);
    }
    fprintf(stderr, "pause/resume: %ld statements ok, %ld errors, paused %.2f s\n", ok, errors, paused_for);
    IT_EQ_INT(errors, 0);
    IT_CHECK(ok > during, "no statement ran after the resume");
    MYSQL *b = direct_to(port_b);
    if (b) {
        IT_CHECK(it_scalar_int(b, "SELECT COUNT(*) FROM rmtest.topo_sw") > 0, "no row reached the new writer");
        mysql_close(b);
    }
    IT_EQ_INT((long long)it_metric(&P, "ringmux_statements_held_paused_total") > 0, 1);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    make_writer('a');
    start_with_a();
    MYSQL *a = direct_to(port_a);
    if (a) {
        it_query(a, "DROP TABLE IF EXISTS rmtest.topo_sw");
        mysql_close(a);
    }
    if (!repl_dir) { /* not replicated: drop it on b too */
        MYSQL *bb = direct_to(port_b);
        if (bb) {
            it_query(bb, "DROP TABLE IF EXISTS rmtest.topo_sw");
            mysql_close(bb);
        }
    }
}

/* ---- reader endpoint -------------------------------------------------------------- */

struct reader_run {
    struct it_proxy *P;
    int port;
    atomic_long errors;
};

static void *reader_loop(void *arg)
{
    struct reader_run *rr = arg;
    MYSQL *m = it_connect_ex("127.0.0.1", rr->port, IT_USER2, IT_PASSWORD2, IT_DB, 0);
    if (!m) {
        atomic_fetch_add(&rr->errors, 1);
        return NULL;
    }
    for (int i = 0; i < 10; i++) {
        if (mysql_query(m, "SELECT SLEEP(0.05)") != 0) {
            atomic_fetch_add(&rr->errors, 1);
            continue;
        }
        mysql_free_result(mysql_store_result(m));
    }
    mysql_close(m);
    return NULL;
}

static double backend_statements(struct it_proxy *P, const char *name)
{
    char series[96];
    snprintf(series, sizeof series, "ringmux_backend_statements_total{backend=\"%s\"}", name);
    return it_metric(P, series);
}

/* Readers b1 and b2 (both the replica, under two names, so that the spread
 * is the proxy's doing); the writer a. */
static void test_reader_endpoint(void)
{
    start_with_a();
    int rport = it_free_port();
    char rini[96], bini[512];
    snprintf(rini, sizeof rini, "reader_listen = 127.0.0.1:%d\n", rport);
    snprintf(bini, sizeof bini,
             "[backend.a]\naddress = 127.0.0.1:%d\n[backend.b1]\naddress = 127.0.0.1:%d\n"
             "[backend.b2]\naddress = 127.0.0.1:%d\n[monitor]\ninterval = 200ms\nmax_replica_lag = 5s\n",
             port_a, port_b, port_b);
    struct it_proxy P;
    if (it_proxy_start_full(&P, rini, bini, "max_backend_connections = 16\nconnection_borrow_timeout = 10s\n") != 0) {
        IT_FAIL("reader endpoint: proxy did not start");
        return;
    }
    /* Spread: 8 reader sessions in parallel. */
    enum { NR = 8 };
    struct reader_run rr = {.P = &P, .port = rport};
    pthread_t th[NR];
    for (int i = 0; i < NR; i++)
        pthread_create(&th[i], NULL, reader_loop, &rr);
    for (int i = 0; i < NR; i++)
        pthread_join(th[i], NULL);
    IT_EQ_INT(atomic_load(&rr.errors), 0);
    double b1 = backend_statements(&P, "b1"), b2 = backend_statements(&P, "b2"), a = backend_statements(&P, "a");
    fprintf(stderr, "reader endpoint: statements a=%g b1=%g b2=%g\n", a, b1, b2);
    IT_CHECK(b1 >= 20 && b2 >= 20, "reader statements not spread over b1 and b2: %g / %g", b1, b2);
    IT_CHECK(a < 1, "%g reader statements went to the writer while readers were healthy", a);
    /* The rw endpoint still writes to a. */
    MYSQL *w = client(&P);
    MYSQL *r = it_connect_ex("127.0.0.1", rport, IT_USER2, IT_PASSWORD2, IT_DB, 0);
    if (w && r) {
        IT_EQ_INT(port_of(w), port_a);
        IT_EQ_INT(port_of(r), port_b);
        if (repl_dir) {
            /* A lagging replica (SQL thread stopped, writes on the primary)
             * is skipped: reads fall back to the writer. */
            repl("stop-sql b");
            it_query(w, "CREATE TABLE IF NOT EXISTS rmtest.topo_lag (a INT)");
            it_query(w, "INSERT INTO rmtest.topo_lag VALUES (1)");
            double t0 = it_now();
            long long p = 0;
            while (it_now() - t0 < 3 && (p = port_of(r)) != port_a)
                it_usleep(50000);
            IT_EQ_INT(p, port_a);
            repl("start-sql b");
            t0 = it_now();
            while (it_now() - t0 < 5 && (p = port_of(r)) != port_b)
                it_usleep(50000);
            IT_EQ_INT(p, port_b);
            it_query(w, "DROP TABLE IF EXISTS rmtest.topo_lag");
        }
    }
    if (w)
        mysql_close(w);
    if (r)
        mysql_close(r);
    IT_EQ_INT(it_proxy_stop(&P), 0);

    /* No usable reader and no fallback: reader statements wait, then a
     * clear error. */
    if (!repl_dir)
        return;
    snprintf(bini, sizeof bini,
             "[backend.a]\naddress = 127.0.0.1:%d\n[backend.b]\naddress = 127.0.0.1:%d\n"
             "[monitor]\ninterval = 200ms\nreader_fallback_to_writer = off\n",
             port_a, port_b);
    rport = it_free_port();
    snprintf(rini, sizeof rini, "reader_listen = 127.0.0.1:%d\n", rport);
    if (it_proxy_start_full(&P, rini, bini, "connection_borrow_timeout = 1s\n") != 0) {
        IT_FAIL("reader endpoint (no fallback): proxy did not start");
        return;
    }
    repl("stop-sql b");
    it_usleep(600000);
    r = it_connect_ex("127.0.0.1", rport, IT_USER2, IT_PASSWORD2, NULL, 0);
    if (r) {
        unsigned e = it_try_query(r, "SELECT 1");
        IT_EQ_INT(e, 1040);
        IT_CHECK(strstr(mysql_error(r), "no usable reader backend") != NULL, "error: %s", mysql_error(r));
        repl("start-sql b");
        it_usleep(600000);
        IT_EQ_INT(port_of(r), port_b);
        mysql_close(r);
    } else {
        repl("start-sql b");
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* ---- a backend down at start ------------------------------------------------------ */

static void *restart_b_later(void *arg)
{
    (void)arg;
    it_usleep(1500000);
    repl("restart b");
    return NULL;
}

static void test_down_at_start(void)
{
    if (!repl_dir) {
        it_skip("down at start: needs the replication pair's scripts");
        return;
    }
    repl("kill b");
    char ini[128];
    snprintf(ini, sizeof ini, "[backend]\naddress = 127.0.0.1:%d\n[monitor]\ninterval = 200ms\n", port_b);
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, ini, "connection_borrow_timeout = 20s\n") != 0) {
        IT_FAIL("down at start: proxy did not start");
        repl("restart b");
        repl("replicate b a");
        return;
    }
    /* Logging in needs no backend; the first statement waits for it. */
    MYSQL *c = it_connect_ex(P.host, P.port, IT_USER, IT_PASSWORD, NULL, 0);
    pthread_t th;
    pthread_create(&th, NULL, restart_b_later, NULL);
    double t0 = it_now();
    if (c) {
        IT_EQ_INT(port_of(c), port_b);
        fprintf(stderr, "down at start: first statement answered after %.2f s\n", it_now() - t0);
        IT_CHECK(it_now() - t0 >= 1.0, "answered before the backend was up?");
        mysql_close(c);
    }
    pthread_join(th, NULL);
    /* Clients that connect now are told the real server's version (before,
     * a default one). */
    MYSQL *d = direct_to(port_b);
    if (d) {
        char want[160];
        snprintf(want, sizeof want, "%s-ringmux", mysql_get_server_info(d)); /* (libmariadb drops "5.5.5-") */
        it_usleep(500000);
        MYSQL *c2 = it_connect_ex(P.host, P.port, IT_USER, IT_PASSWORD, NULL, 0);
        if (c2) {
            IT_EQ_STR(mysql_get_server_info(c2), want);
            mysql_close(c2);
        }
        mysql_close(d);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
    repl("replicate b a");
}

/* ---- failover: the primary dies ------------------------------------------------ */

enum { FO_CLIENTS = 100 };

struct fo_client {
    struct it_proxy *P;
    int id;
    atomic_bool *stop;
    MYSQL *m;
    long long conn_id;
    long *ok_ids; /* ids whose INSERT succeeded */
    long n_ok, cap_ok;
    long reads_ok, errors;
    double last_ok_before, first_ok_after; /* around the kill (it_now() times) */
    char last_err[256];
};

static atomic_bool fo_killed;
static double fo_kill_time;

static void *fo_loop(void *arg)
{
    struct fo_client *c = arg;
    char q[128];
    for (long i = 0; !atomic_load(c->stop); i++) {
        long id = (long)c->id * 10000000L + i;
        snprintf(q, sizeof q, "INSERT INTO fo_t VALUES (%ld)", id);
        int rc = mysql_query(c->m, q);
        double now = it_now();
        if (rc == 0) {
            if (c->n_ok == c->cap_ok) {
                c->cap_ok = c->cap_ok ? 2 * c->cap_ok : 1024;
                c->ok_ids = realloc(c->ok_ids, (size_t)c->cap_ok * sizeof(long));
            }
            c->ok_ids[c->n_ok++] = id;
            if (!atomic_load(&fo_killed))
                c->last_ok_before = now;
            else if (c->first_ok_after == 0 && now > fo_kill_time)
                c->first_ok_after = now;
        } else {
            c->errors++;
            snprintf(c->last_err, sizeof c->last_err, "%u %s", mysql_errno(c->m), mysql_error(c->m));
            if (mysql_errno(c->m) >= 2000)
                return NULL; /* the client connection broke: counted by the main thread */
        }
        snprintf(q, sizeof q, "SELECT COUNT(*) FROM fo_t WHERE id = %ld", id);
        if (mysql_query(c->m, q) == 0) {
            mysql_free_result(mysql_store_result(c->m));
            c->reads_ok++;
        } else {
            c->errors++;
            snprintf(c->last_err, sizeof c->last_err, "%u %s", mysql_errno(c->m), mysql_error(c->m));
            if (mysql_errno(c->m) >= 2000)
                return NULL;
        }
    }
    return NULL;
}

static void test_failover(void)
{
    if (!repl_dir) {
        it_skip("failover: needs the replication pair (RINGMUX_TEST_REPL_DIR)");
        return;
    }
    MYSQL *d = direct_to(port_a);
    if (!d)
        return;
    it_query(d, "CREATE TABLE IF NOT EXISTS rmtest.fo_t (id BIGINT PRIMARY KEY) ENGINE=InnoDB");
    it_query(d, "TRUNCATE TABLE rmtest.fo_t");
    mysql_close(d);
    struct it_proxy P;
    if (it_proxy_start_full(&P, NULL, two_backends(NULL),
                            "max_backend_connections = 16\nconnection_borrow_timeout = 30s\n") != 0) {
        IT_FAIL("failover: proxy did not start");
        return;
    }
    static struct fo_client C[FO_CLIENTS];
    pthread_t th[FO_CLIENTS];
    atomic_bool stop = false;
    atomic_store(&fo_killed, false);
    int started = 0;
    for (int i = 0; i < FO_CLIENTS; i++) {
        memset(&C[i], 0, sizeof C[i]);
        C[i].P = &P;
        C[i].id = i + 1;
        C[i].stop = &stop;
        C[i].m = client(&P);
        if (!C[i].m)
            break;
        it_query(C[i].m, "SET time_zone = '+07:00', sql_mode = 'NO_ENGINE_SUBSTITUTION'");
        C[i].conn_id = it_scalar_int(C[i].m, "SELECT CONNECTION_ID()");
        pthread_create(&th[i], NULL, fo_loop, &C[i]);
        started++;
    }
    IT_EQ_INT(started, FO_CLIENTS);
    it_usleep(2000000);
    /* The primary dies; the operator's (or orchestrator's) promotion follows. */
    fo_kill_time = it_now();
    atomic_store(&fo_killed, true);
    repl("kill a");
    repl("promote b");
    double promoted = it_now() - fo_kill_time;
    it_usleep(3000000);
    atomic_store(&stop, true);
    long ok = 0, errors = 0, broken = 0, reads = 0, stuck = 0;
    double outage = 0;
    for (int i = 0; i < started; i++) {
        pthread_join(th[i], NULL);
        ok += C[i].n_ok;
        reads += C[i].reads_ok;
        errors += C[i].errors;
        if (C[i].errors)
            fprintf(stderr, "failover: client %d: %ld error(s), last %s\n", C[i].id, C[i].errors, C[i].last_err);
        if (C[i].first_ok_after == 0)
            stuck++;
        else if (C[i].first_ok_after - C[i].last_ok_before > outage)
            outage = C[i].first_ok_after - C[i].last_ok_before;
    }
    fprintf(stderr,
            "failover: %ld inserts ok, %ld reads ok, %ld errors; promotion took %.2f s; longest write outage "
            "seen by a client %.2f s\n",
            ok, reads, errors, promoted, outage);
    /* No client connection closed; state intact; a statement in flight at
     * the kill may fail, nothing else. */
    for (int i = 0; i < started; i++) {
        MYSQL *m = C[i].m;
        if (mysql_ping(m) != 0) {
            broken++;
            continue;
        }
        char v[64] = "";
        if (i % 10 == 0) {
            IT_EQ_INT(it_scalar_int(m, "SELECT CONNECTION_ID()"), C[i].conn_id);
            it_scalar(m, "SELECT @@time_zone", v, sizeof v);
            IT_EQ_STR(v, "+07:00");
            it_scalar(m, "SELECT @@sql_mode", v, sizeof v);
            IT_EQ_STR(v, "NO_ENGINE_SUBSTITUTION");
            it_scalar(m, "SELECT DATABASE()", v, sizeof v);
            IT_EQ_STR(v, IT_DB);
            IT_EQ_INT(port_of(m), port_b);
        }
        IT_CHECK(C[i].errors <= 1, "client %d: %ld errors (only a statement in flight at the kill may fail)", C[i].id,
                 C[i].errors);
    }
    IT_EQ_INT(broken, 0);
    IT_EQ_INT(stuck, 0);
    IT_CHECK(outage <= 0.2 + 1.0 + promoted, "a client's writes stopped for %.2f s (interval + 1 s + promotion %.2f s)",
             outage, promoted);
    /* Every INSERT a client saw succeed is on the new primary. */
    MYSQL *b = direct_to(port_b);
    if (b && mysql_query(b, "SELECT id FROM rmtest.fo_t ORDER BY id") == 0) {
        MYSQL_RES *r = mysql_store_result(b);
        long n = r ? (long)mysql_num_rows(r) : 0, missing = 0;
        long *have = malloc((size_t)(n ? n : 1) * sizeof(long));
        MYSQL_ROW row;
        for (long k = 0; r && (row = mysql_fetch_row(r)); k++)
            have[k] = atol(row[0]);
        if (r)
            mysql_free_result(r);
        for (int i = 0; i < started; i++)
            for (long k = 0; k < C[i].n_ok; k++) {
                long lo = 0, hi = n; /* sorted: binary search */
                while (lo < hi) {
                    long mid = (lo + hi) / 2;
                    if (have[mid] < C[i].ok_ids[k])
                        lo = mid + 1;
                    else
                        hi = mid;
                }
                if (lo == n || have[lo] != C[i].ok_ids[k])
                    missing++;
            }
        free(have);
        fprintf(stderr, "failover: %ld rows on the new primary, %ld acknowledged inserts missing\n", n, missing);
        IT_EQ_INT(missing, 0);
    } else {
        IT_FAIL("failover: cannot read the new primary's rows");
    }
    if (b)
        mysql_close(b);
    for (int i = 0; i < started; i++) {
        mysql_close(C[i].m);
        free(C[i].ok_ids);
    }
    IT_EQ_INT(it_proxy_stop(&P), 0);
    /* A fresh pair for whatever runs next. */
    repl("stop");
    repl("start");
}

int main(int argc, char **argv)
{
    it_watchdog(240);
    const char *a = getenv("RINGMUX_TEST_REPL_A_PORT"), *b = getenv("RINGMUX_TEST_REPL_B_PORT");
    if (!a || !b) {
        fprintf(stderr, "test_topology: RINGMUX_TEST_REPL_A_PORT / _B_PORT not set (scripts/test.sh starts the "
                        "primary/replica pair: scripts/sandbox-replication.sh)\n");
        return 1;
    }
    port_a = atoi(a);
    port_b = atoi(b);
    repl_dir = getenv("RINGMUX_TEST_REPL_DIR");
    if (it_direct_mode()) {
        it_skip("test_topology: the proxy's routing");
        return 0;
    }
    static const struct it_case cases[] = {
        {"role switch", test_role_switch},
        {"no writer waits", test_no_writer_waits},
        {"names", test_names},
        {"localhost", test_localhost},
        {"pause resume", test_pause_resume},
        {"reader endpoint", test_reader_endpoint},
        {"down at start", test_down_at_start},
        {"failover", test_failover},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    return it_done();
}
