/* The pool without a ring or a server: borrow, release, the wait queue,
 * holds, borrow timeouts, backend failures and maintenance, driven through
 * real sessions on the fake engine (fake_engine.h).  Each case starts from
 * a fresh worker; run one alone with `unit_test_pool NAME`. */
#include <errno.h>

#include "fake_engine.h"
#include "ringmux/bconn.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/session.h"
#include "unit.h"

#define CONFIG(pool_lines)                                                                                             \
    "[ringmux]\nlog_level = error\n[backend]\naddress = 127.0.0.1:3306\n[pool]\n" pool_lines                           \
    "\n[users]\napp = app-pw\nother = other-pw\n"

static struct fe fe;
static struct fe_result r;

static void login(struct fe_client *cl)
{
    CHECK_U(fe_connect(&fe, cl, "app", "app-pw", NULL, 0, &r), FE_OK, "login");
}

static struct rm_pool *first_pool(void)
{
    return link_empty(&fe.w.backends[0].pools) ? NULL : link_entry(fe.w.backends[0].pools.next, struct rm_pool, link);
}

/* A client that logs in costs no backend connection; its first statement
 * opens one (login, tracking set-up, baseline, the reset probe), and the
 * conn goes back to the pool when the answer is out. */
static void lazy_open_and_release(void)
{
    fe_start(&fe, CONFIG(""));
    struct fe_client a;
    login(&a);
    CHECK_U(fe_backend_conns(&fe), 0, "backend conns after login");
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_ROWS, "SELECT 1");
    CHECK(strcmp(r.first, "1") == 0, "value %s", r.first);
    CHECK_U(fe.server_conns, 1, "server connections");
    CHECK_U(fe_log_count(&fe, "LOGIN app"), 1, "backend logins");
    CHECK_U(fe_log_count(&fe, "SET session_track"), 2, "tracking set-ups (first login + after the reset probe)");
    CHECK_U(fe_log_count(&fe, "COM_RESET_CONNECTION"), 1, "reset probes");
    CHECK(fe_session(&a)->bc == NULL, "session still holds a conn");
    struct rm_pool *p = first_pool();
    CHECK(p && p->n_idle == 1 && p->n_conns == 1, "pool idle %d conns %d", p ? p->n_idle : -1, p ? p->n_conns : -1);
    CHECK(p && p->reset_known, "reset state learned");
    /* The second statement reuses it with no set-up. */
    fe_log_clear(&fe);
    CHECK_U(fe_query(&a, "SELECT 2", &r), FE_ROWS, "SELECT 2");
    CHECK_U(fe.server_conns, 1, "server connections after reuse");
    CHECK_U(fe_log_count(&fe, "\n"), 1, "commands for the second statement");
    fe_destroy(&fe);
}

/* Two clients, one backend connection: each statement borrows it, the
 * other's statement runs right after. */
static void two_clients_one_conn(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    for (int i = 0; i < 5; i++) {
        CHECK_U(fe_query(&a, "SELECT 'a'", &r), FE_ROWS, "a");
        CHECK(strcmp(r.first, "'a'") == 0, "a got %s", r.first);
        CHECK_U(fe_query(&b, "SELECT 'b'", &r), FE_ROWS, "b");
        CHECK(strcmp(r.first, "'b'") == 0, "b got %s", r.first);
    }
    CHECK_U(fe.server_conns, 1, "server connections");
    CHECK_U(fe.w.met.borrow_waits, 1, "waits (only the first, for the conn to open)");
    fe_destroy(&fe);
}

/* A transaction keeps its conn; a second client waits in the FIFO and is
 * served the moment the transaction ends. */
static void transaction_holds_conn(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    CHECK_U(fe_query(&a, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK(r.status & SERVER_STATUS_IN_TRANS, "status 0x%x", r.status);
    CHECK(fe_session(&a)->bc != NULL, "in a transaction without its conn");
    CHECK_U(fe_query(&b, "SELECT 'b'", &r), FE_NONE, "b answered while a holds the only conn");
    CHECK_U(fe_session(&b)->state, SESS_WAIT, "b's state");
    CHECK_U(fe.w.met.borrow_waits, 2, "waits (a's first, for the open; b's)");
    CHECK_U(fe_query(&a, "INSERT INTO t VALUES (1)", &r), FE_OK, "insert in the transaction");
    CHECK_U(fe_response(&b, &r), FE_NONE, "b still waiting");
    CHECK_U(fe_query(&a, "COMMIT", &r), FE_OK, "COMMIT");
    CHECK(!(r.status & SERVER_STATUS_IN_TRANS), "status after COMMIT 0x%x", r.status);
    CHECK(fe_session(&a)->bc == NULL, "a kept its conn after COMMIT");
    CHECK_U(fe_response(&b, &r), FE_ROWS, "b served after the COMMIT");
    CHECK(strcmp(r.first, "'b'") == 0, "b got %s", r.first);
    fe_destroy(&fe);
}

/* No conn within connection_borrow_timeout: the waiter gets ERR 1040
 * naming the setting, the holder is not disturbed, the waiter's next
 * statement works once the conn is free. */
static void borrow_timeout(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1\nconnection_borrow_timeout = 1s"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    CHECK_U(fe_query(&a, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK_U(fe_query(&b, "SELECT 'b'", &r), FE_NONE, "b waits");
    fe_advance(&fe, 900);
    CHECK_U(fe_response(&b, &r), FE_NONE, "b timed out early");
    fe_advance(&fe, 300);
    CHECK_U(fe_response(&b, &r), FE_ERR, "b after the timeout");
    CHECK_U(r.err, 1040, "error code");
    CHECK(strstr(r.msg, "connection_borrow_timeout") != NULL, "message: %s", r.msg);
    CHECK_U(fe.w.met.borrow_timeouts, 1, "timeouts counted");
    CHECK_U(fe_session(&b)->state, SESS_IDLE, "b back to idle");
    CHECK_U(fe_query(&a, "COMMIT", &r), FE_OK, "a's COMMIT");
    CHECK_U(fe_query(&b, "SELECT 'again'", &r), FE_ROWS, "b's next statement");
    fe_destroy(&fe);
}

/* Waiters are served first come, first served. */
static void fifo_order(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1"));
    struct fe_client a, c[3];
    login(&a);
    for (int i = 0; i < 3; i++)
        login(&c[i]);
    CHECK_U(fe_query(&a, "BEGIN", &r), FE_OK, "BEGIN");
    fe.defer_sleep = true;
    CHECK_U(fe_query(&c[1], "SELECT SLEEP(1)", &r), FE_NONE, "c1 waits");
    CHECK_U(fe_query(&c[0], "SELECT 'c0'", &r), FE_NONE, "c0 waits");
    CHECK_U(fe_query(&c[2], "SELECT 'c2'", &r), FE_NONE, "c2 waits");
    fe_log_clear(&fe);
    CHECK_U(fe_query(&a, "COMMIT", &r), FE_OK, "COMMIT");
    /* c1 came first: its SLEEP is on the server, the others still wait. */
    CHECK_U(fe_log_count(&fe, "SLEEP"), 1, "c1 sent first");
    CHECK_U(fe_log_count(&fe, "'c0'"), 0, "c0 overtook c1");
    fe_server_release(&fe);
    CHECK_U(fe_response(&c[1], &r), FE_ROWS, "c1");
    CHECK_U(fe_response(&c[0], &r), FE_ROWS, "c0");
    CHECK_U(fe_response(&c[2], &r), FE_ROWS, "c2");
    const char *log = (const char *)buf_head(&fe.log);
    const char *p0 = strstr(log, "'c0'"), *p2 = strstr(log, "'c2'");
    CHECK(p0 && p2 && p0 < p2, "c0 before c2");
    fe_destroy(&fe);
}

/* Logins the server refuses: the waiting client keeps waiting while the
 * pool retries with backoff, and at connection_borrow_timeout gets 1040
 * with the server's reason.  A failure that clears within the timeout
 * costs the client nothing but time. */
static void backend_login_refused(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 2s"));
    struct fe_client a;
    login(&a);
    fe.reject_user = "app";
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_NONE, "answered while logins fail");
    CHECK_U(fe_backend_conns(&fe), 0, "failed conns kept");
    CHECK_U(fe.w.met.backend_failed, 1, "failures counted");
    CHECK(!backend_may_connect(&fe.w.backends[0]), "no backoff after a failure");
    fe_advance(&fe, 2100);
    CHECK_U(fe_response(&a, &r), FE_ERR, "after the borrow timeout");
    CHECK_U(r.err, 1040, "code");
    CHECK(strstr(r.msg, "last backend error") && strstr(r.msg, "Access denied for user 'app'"), "message: %s", r.msg);
    CHECK(fe.w.met.backend_failed >= 3, "retried with backoff: %d attempts", (int)fe.w.met.backend_failed);
    /* Transient: refused once, then accepted before the timeout. */
    CHECK_U(fe_query(&a, "SELECT 2", &r), FE_NONE, "still failing");
    fe.reject_user = NULL;
    fe_advance(&fe, 2000);
    CHECK_U(fe_response(&a, &r), FE_ROWS, "served once the server accepts");
    CHECK(backend_last_error(&fe.w.backends[0])[0] == 0, "error kept: %s", backend_last_error(&fe.w.backends[0]));
    fe_destroy(&fe);
}

/* Connects refused: the same, with the address and errno in the text. */
static void backend_connect_refused(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 1s"));
    struct fe_client a;
    login(&a);
    fe.connect_res = -ECONNREFUSED;
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_NONE, "answered while connects fail");
    fe_advance(&fe, 1100);
    CHECK_U(fe_response(&a, &r), FE_ERR, "after the borrow timeout");
    CHECK(strstr(r.msg, "connect to 127.0.0.1:3306 failed: Connection refused"), "message: %s", r.msg);
    fe.connect_res = 0;
    fe_advance(&fe, 2000); /* past the longest backoff */
    CHECK_U(fe_query(&a, "SELECT 2", &r), FE_ROWS, "after the backoff");
    fe_destroy(&fe);
}

/* A connect that hangs: the waiter's borrow timeout fires, the pending
 * conn is not counted twice, a later connect works. */
static void connect_hangs(void)
{
    fe_start(&fe, CONFIG("connection_borrow_timeout = 500ms\nbackend_connect_timeout = 10s"));
    struct fe_client a;
    login(&a);
    fe.hold_connects = true;
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_NONE, "answered without a conn");
    fe_advance(&fe, 600);
    CHECK_U(fe_response(&a, &r), FE_ERR, "after the borrow timeout");
    CHECK_U(r.err, 1040, "code");
    CHECK_U(first_pool()->n_opening, 1, "opening conns");
    fe.hold_connects = false;
    fe_pump(&fe);
    CHECK_U(first_pool()->n_idle, 1, "the late conn went idle");
    CHECK_U(fe_query(&a, "SELECT 2", &r), FE_ROWS, "next statement");
    CHECK_U(fe.server_conns, 1, "server connections");
    fe_destroy(&fe);
}

/* Idle conns past backend_idle_timeout are closed (COM_QUIT) by
 * maintenance; min_idle_backend_connections are kept open. */
static void idle_timeout_and_min_idle(void)
{
    fe_start(&fe, CONFIG("backend_idle_timeout = 2s\nmin_idle_backend_connections = 1"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    CHECK_U(fe_query(&a, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK_U(fe_query(&b, "SELECT 1", &r), FE_ROWS, "b on a second conn");
    CHECK_U(fe_query(&a, "COMMIT", &r), FE_OK, "COMMIT");
    CHECK_U(first_pool()->n_idle, 2, "idle conns");
    fe_advance(&fe, 3000);
    CHECK_U(first_pool()->n_idle, 1, "idle conns after the timeout");
    CHECK_U(fe_log_count(&fe, "COM_QUIT"), 1, "conns closed with COM_QUIT");
    fe_destroy(&fe);
}

/* backend_max_lifetime: an idle conn past it is replaced. */
static void max_lifetime(void)
{
    fe_start(&fe, CONFIG("backend_max_lifetime = 5s\nbackend_idle_timeout = 0"));
    struct fe_client a;
    login(&a);
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_ROWS, "first");
    fe_advance(&fe, 6000);
    CHECK_U(fe_log_count(&fe, "COM_QUIT"), 1, "retired");
    CHECK_U(fe_query(&a, "SELECT 2", &r), FE_ROWS, "second");
    CHECK_U(fe.server_conns, 2, "a new server connection");
    fe_destroy(&fe);
}

/* Different users never share conns: one pool each. */
static void pools_per_user(void)
{
    fe_start(&fe, CONFIG(""));
    struct fe_client a, o;
    login(&a);
    CHECK_U(fe_connect(&fe, &o, "other", "other-pw", NULL, 0, &r), FE_OK, "other login");
    CHECK_U(fe_query(&a, "SELECT 1", &r), FE_ROWS, "app");
    CHECK_U(fe_query(&o, "SELECT 1", &r), FE_ROWS, "other");
    CHECK_U(fe.server_conns, 2, "server connections");
    CHECK_U(fe_log_count(&fe, "LOGIN other"), 1, "other's login");
    /* A wrong password never reaches the server. */
    struct fe_client bad;
    CHECK_U(fe_connect(&fe, &bad, "app", "nope", NULL, 0, &r), FE_ERR, "bad password");
    CHECK_U(r.err, 1045, "code");
    CHECK_U(fe.server_conns, 2, "server connections after a bad password");
    fe_destroy(&fe);
}

/* Many statements at once on an empty pool: logins start a few at a time
 * (no connect storm), every statement is served. */
static void gradual_refill(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 20"));
    struct fe_client c[10];
    for (int i = 0; i < 10; i++)
        login(&c[i]);
    fe.hold_connects = true;
    for (int i = 0; i < 10; i++)
        CHECK_U(fe_query(&c[i], "SELECT 1", &r), FE_NONE, "answered with every connect held");
    CHECK_U(fe_backend_conns(&fe), 4, "connects in flight at once");
    fe.hold_connects = false;
    fe_pump(&fe);
    for (int i = 0; i < 10; i++)
        CHECK_U(fe_response(&c[i], &r), FE_ROWS, "served");
    CHECK(fe_backend_conns(&fe) <= 10, "conns opened %d", fe_backend_conns(&fe));
    fe_destroy(&fe);
}

int main(int argc, char **argv)
{
    static const struct unit_case cases[] = {
        {"lazy_open_and_release", lazy_open_and_release},
        {"two_clients_one_conn", two_clients_one_conn},
        {"transaction_holds_conn", transaction_holds_conn},
        {"borrow_timeout", borrow_timeout},
        {"fifo_order", fifo_order},
        {"backend_login_refused", backend_login_refused},
        {"backend_connect_refused", backend_connect_refused},
        {"connect_hangs", connect_hangs},
        {"idle_timeout_and_min_idle", idle_timeout_and_min_idle},
        {"max_lifetime", max_lifetime},
        {"pools_per_user", pools_per_user},
        {"gradual_refill", gradual_refill},
    };
    unit_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
    return unit_summary();
}
