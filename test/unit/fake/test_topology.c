/* Several backends on the fake engine: sessions follow the writer the
 * monitor names, wait while there is none, keep an open transaction where
 * it is, and reader-endpoint sessions spread over the readers.  The
 * monitor's snapshots are published by the test (fe_topology).  Run one
 * case alone with `unit_test_topology NAME`. */
#include "fake_engine.h"
#include "ringmux/bconn.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/session.h"
#include "unit.h"

#define CONFIG(pool, monitor)                                                                                          \
    "[ringmux]\nlog_level = error\n"                                                                                   \
    "[backend.a]\naddress = 127.0.0.1:3306\n[backend.b]\naddress = 127.0.0.1:3307\n"                                   \
    "[backend.c]\naddress = 127.0.0.1:3308\n[pool]\n" pool "\n[monitor]\n" monitor "\n[users]\napp = app-pw\n"

static struct fe fe;
static struct fe_result r;

static void login(struct fe_client *cl)
{
    CHECK_U(fe_connect(&fe, cl, "app", "app-pw", NULL, 0, &r), FE_OK, "login");
}

static void login_reader(struct fe_client *cl)
{
    fe.next_reader = true;
    login(cl);
}

static const char *port_of(struct fe_client *cl)
{
    int k = fe_query(cl, "SELECT @@port", &r);
    return k == FE_ROWS ? r.first : k == FE_ERR ? r.msg : "(no answer)";
}

static int idle_conns(int backend)
{
    int n = 0;
    struct rm_link *pos;
    for (pos = fe.w.backends[backend].pools.next; pos != &fe.w.backends[backend].pools; pos = pos->next)
        n += link_entry(pos, struct rm_pool, link)->n_idle;
    return n;
}

/* Several backends and no monitor verdict yet: nobody is the writer. */
static void no_verdict_no_writer(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 1s", ""));
    CHECK(fe.w.topo->writer == -1, "writer %d before any check", fe.w.topo->writer);
    struct fe_client a;
    login(&a); /* the login itself needs no backend */
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_NONE, "answered without a writer");
    CHECK_U(fe.server_conns, 0, "a connection opened without a writer");
    fe_advance(&fe, 1100);
    CHECK_U(fe_response(&a, &r), FE_ERR, "after connection_borrow_timeout");
    CHECK_U(r.err, 1040, "code");
    CHECK(strstr(r.msg, "no writable backend") != NULL, "message: %s", r.msg);
    CHECK_U(fe.w.met.held_no_backend, 1, "holds counted");
    fe_destroy(&fe);
}

/* The writer moves: idle conns to the old one close, an idle session's
 * next statement runs on the new writer with its state replayed. */
static void failover_moves_sessions(void)
{
    fe_start(&fe, CONFIG("", ""));
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client s1, s2;
    login(&s1);
    login(&s2);
    CHECK(strcmp(port_of(&s1), "3306") == 0, "s1 on %s", r.first);
    CHECK_U(fe_query(&s1, "SET time_zone='+05:00'", &r), FE_OK, "SET");
    CHECK(strcmp(port_of(&s2), "3306") == 0, "s2 on %s", r.first);
    CHECK_U(idle_conns(0), 1, "idle conns on a");
    fe_log_clear(&fe);
    fe_topology(&fe, 1, NULL, NULL);
    CHECK_U(idle_conns(0), 0, "idle conns left on the old writer");
    CHECK_U(fe_log_count(&fe, "COM_QUIT"), 1, "the old writer's conn said COM_QUIT");
    CHECK(strcmp(port_of(&s1), "3307") == 0, "s1 after failover on %s", r.first);
    fe_query(&s1, "SELECT @@time_zone", &r);
    CHECK(strcmp(r.first, "+05:00") == 0, "time_zone after failover: %s", r.first);
    CHECK(strcmp(port_of(&s2), "3307") == 0, "s2 after failover on %s", r.first);
    fe_query(&s2, "SELECT @@time_zone", &r);
    CHECK(strcmp(r.first, "SYSTEM") == 0, "s2 got s1's time_zone: %s", r.first);
    CHECK(fe.w.met.backend_moves >= 2, "moves %d", (int)fe.w.met.backend_moves);
    fe_destroy(&fe);
}

/* A transaction open on the old writer stays there until it ends (the
 * server decides its fate); then the session moves and the old conn is
 * retired, not pooled. */
static void transaction_stays_then_moves(void)
{
    fe_start(&fe, CONFIG("", ""));
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client s;
    login(&s);
    CHECK_U(fe_query(&s, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK_U(fe_query(&s, "INSERT INTO t VALUES (1)", &r), FE_OK, "INSERT");
    fe_topology(&fe, 1, NULL, NULL);
    CHECK(strcmp(port_of(&s), "3306") == 0, "statement in the transaction ran on %s", r.first);
    fe_log_clear(&fe);
    CHECK_U(fe_query(&s, "COMMIT", &r), FE_OK, "COMMIT");
    CHECK_U(fe_log_count(&fe, "COM_QUIT"), 1, "the old writer's conn retired after the transaction");
    CHECK_U(idle_conns(0), 0, "idle conns on the old writer");
    CHECK(strcmp(port_of(&s), "3307") == 0, "after COMMIT on %s", r.first);
    fe_destroy(&fe);
}

/* No writer for a while: statements wait, then run when one appears. */
static void waits_for_a_writer(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 5s", ""));
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client s;
    login(&s);
    CHECK(strcmp(port_of(&s), "3306") == 0, "on %s", r.first);
    bool up[3] = {false, true, true};
    fe_topology(&fe, -1, up, NULL);
    CHECK_U(fe_query(&s, "SELECT @@port", &r), FE_NONE, "answered with no writer");
    fe_advance(&fe, 2000);
    CHECK_U(fe_response(&s, &r), FE_NONE, "gave up before connection_borrow_timeout");
    fe_topology(&fe, 2, up, NULL);
    CHECK_U(fe_response(&s, &r), FE_ROWS, "after a writer appeared");
    CHECK(strcmp(r.first, "3308") == 0, "ran on %s", r.first);
    fe_destroy(&fe);
}

/* Reader endpoint: statements spread over the readers by outstanding
 * statements; no reader: the writer if reader_fallback_to_writer, else
 * wait. */
static void reader_balancing(void)
{
    fe_start(&fe, CONFIG("", ""));
    bool readers[3] = {false, true, true};
    fe_topology(&fe, 0, NULL, readers);
    struct fe_client rd[4], w;
    for (int i = 0; i < 4; i++)
        login_reader(&rd[i]);
    login(&w);
    fe.defer_sleep = true;
    for (int i = 0; i < 4; i++)
        CHECK_U(fe_query(&rd[i], "SELECT SLEEP(1)", &r), FE_NONE, "reader statement");
    CHECK_U(fe.w.backends[1].n_active, 2, "outstanding on b");
    CHECK_U(fe.w.backends[2].n_active, 2, "outstanding on c");
    CHECK_U(fe.w.backends[0].n_active, 0, "reader statements on the writer");
    fe_server_release(&fe);
    for (int i = 0; i < 4; i++)
        CHECK_U(fe_response(&rd[i], &r), FE_ROWS, "reader answer");
    fe.defer_sleep = false;
    CHECK(strcmp(port_of(&w), "3306") == 0, "writer session on %s", r.first);
    /* No reader left: fallback to the writer (on by default). */
    fe_topology(&fe, 0, NULL, NULL);
    CHECK(strcmp(port_of(&rd[0]), "3306") == 0, "fallback ran on %s", r.first);
    fe_destroy(&fe);

    fe_start(&fe, CONFIG("connection_borrow_timeout = 1s", "reader_fallback_to_writer = off"));
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client x;
    login_reader(&x);
    CHECK_U(fe_query(&x, "SELECT @@port", &r), FE_NONE, "answered with no reader and no fallback");
    fe_advance(&fe, 1100);
    CHECK_U(fe_response(&x, &r), FE_ERR, "after the timeout");
    CHECK(strstr(r.msg, "no usable reader backend") != NULL, "message: %s", r.msg);
    fe_destroy(&fe);
}

/* PAUSE: new statements wait, a transaction in progress goes on; RESUME
 * serves them. */
static void pause_and_resume(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 5s", ""));
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client t, s;
    login(&t);
    login(&s);
    CHECK_U(fe_query(&t, "BEGIN", &r), FE_OK, "BEGIN");
    atomic_store(&fe.sh.paused, true);
    CHECK_U(fe_query(&s, "SELECT 1", &r), FE_NONE, "answered while paused");
    CHECK_U(fe_query(&t, "INSERT INTO t VALUES (1)", &r), FE_OK, "the transaction goes on while paused");
    CHECK_U(fe_query(&t, "COMMIT", &r), FE_OK, "COMMIT while paused");
    CHECK_U(fe_response(&s, &r), FE_NONE, "served while paused");
    atomic_store(&fe.sh.paused, false);
    fe.w.kick_waiters = true; /* what the wake-up after POST /resume does */
    fe_pump(&fe);
    CHECK_U(fe_response(&s, &r), FE_ROWS, "after resume");
    CHECK_U(fe.w.met.held_paused, 1, "holds counted");
    fe_destroy(&fe);
}

/* [backend.NAME] max_connections caps that backend across the pool. */
static void per_backend_cap(void)
{
    fe_start(&fe, "[ringmux]\nlog_level = error\n[backend.a]\naddress = 127.0.0.1:3306\nmax_connections = 1\n"
          "[backend.b]\naddress = 127.0.0.1:3307\n[pool]\nconnection_borrow_timeout = 1s\n"
          "[users]\napp = app-pw\n");
    fe_topology(&fe, 0, NULL, NULL);
    struct fe_client x, y;
    login(&x);
    login(&y);
    CHECK_U(fe_query(&x, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK_U(fe_query(&y, "SELECT 1", &r), FE_NONE, "a second conn beyond max_connections = 1");
    CHECK_U(fe.server_conns, 1, "server connections");
    CHECK_U(fe_query(&x, "COMMIT", &r), FE_OK, "COMMIT");
    CHECK_U(fe_response(&y, &r), FE_ROWS, "served after the COMMIT");
    fe_destroy(&fe);
}

int main(int argc, char **argv)
{
    static const struct unit_case cases[] = {
        {"no_verdict_no_writer", no_verdict_no_writer},
        {"failover_moves_sessions", failover_moves_sessions},
        {"transaction_stays_then_moves", transaction_stays_then_moves},
        {"waits_for_a_writer", waits_for_a_writer},
        {"reader_balancing", reader_balancing},
        {"pause_and_resume", pause_and_resume},
        {"per_backend_cap", per_backend_cap},
    };
    unit_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
    return unit_summary();
}
