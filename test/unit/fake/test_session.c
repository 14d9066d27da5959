/* Sessions without a ring or a server: state sync between sessions sharing
 * a conn, pinning, prepared statements that move between conns, abandoned
 * statements, KILL QUERY, local answers, backpressure and fragmented I/O,
 * on the fake engine (fake_engine.h).  Run one case alone with
 * `unit_test_session NAME`. */
#include "fake_engine.h"
#include "ringmux/bconn.h"
#include "ringmux/console.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/session.h"
#include "unit.h"

#define CONFIG(extra)                                                                                                  \
    "[ringmux]\nlog_level = error\n[backend]\naddress = 127.0.0.1:3306\n[pool]\n" extra "\n[users]\napp = app-pw\n"

static struct fe fe;
static struct fe_result r;

static void login(struct fe_client *cl)
{
    CHECK_U(fe_connect(&fe, cl, "app", "app-pw", NULL, 0, &r), FE_OK, "login");
}

static void check_rows(struct fe_client *cl, const char *sql, const char *want)
{
    int k = fe_query(cl, sql, &r);
    CHECK(k == FE_ROWS && strcmp(r.first, want) == 0, "%s: kind %d value '%s' (err %u %s), want '%s'", sql, k, r.first,
          r.err, r.msg, want);
}

/* Tracked variables travel with the session, not the conn: two sessions
 * alternate on one conn and each sees only its own sql_mode. */
static void sync_tracked_vars(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    CHECK_U(fe_query(&a, "SET sql_mode='ANSI'", &r), FE_OK, "SET");
    CHECK_U(fe_session(&a)->pin, PIN_NONE, "pinned by a tracked SET");
    CHECK(fe_session(&a)->bc == NULL, "kept the conn after a tracked SET");
    check_rows(&b, "SELECT @@sql_mode", "STRICT_TRANS_TABLES");
    check_rows(&a, "SELECT @@sql_mode", "ANSI");
    check_rows(&b, "SELECT @@sql_mode", "STRICT_TRANS_TABLES");
    CHECK_U(fe.server_conns, 1, "server connections");
    CHECK(fe.w.met.state_syncs >= 3, "syncs %d", (int)fe.w.met.state_syncs);
    /* Back to the same session on the same conn: no sync needed. */
    fe_log_clear(&fe);
    check_rows(&b, "SELECT 1", "1");
    CHECK_U(fe_log_count(&fe, "SET "), 0, "a sync when nothing differs");
    fe_destroy(&fe);
}

/* Statements that leave state the proxy can't replay pin the session to
 * its conn: others get another conn; the pinned conn is not handed out
 * to anyone else, and is reset or closed when the session ends. */
static void pin_case(const char *sql, enum cls_pin want)
{
    fe_start(&fe, CONFIG("max_backend_connections = 2"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    CHECK_U(fe_query(&a, sql, &r), FE_OK, sql);
    CHECK_U(fe_session(&a)->pin, want, sql);
    CHECK(fe_session(&a)->bc != NULL, "%s: pinned session without its conn", sql);
    CHECK_U(fe.w.met.pins[want], 1, "pins counted");
    struct rm_bconn *pinned = fe_session(&a)->bc;
    for (int i = 0; i < 3; i++) {
        check_rows(&b, "SELECT 'b'", "'b'");
        CHECK(fe_session(&a)->bc == pinned, "a lost its pinned conn");
    }
    CHECK_U(fe.server_conns, 2, "server connections");
    CHECK(fe_session(&a)->bc->thread_id == 1001, "pinned to thread %u", fe_session(&a)->bc->thread_id);
    fe_log_clear(&fe);
    fe_hangup(&a);
    CHECK(fe_log_count(&fe, "1001: COM_RESET_CONNECTION") + fe_log_count(&fe, "1001: COM_QUIT") == 1,
          "%s: the pinned conn was neither reset nor closed", sql);
    fe_destroy(&fe);
}

static void pinning(void)
{
    pin_case("SET @x = 1", PIN_USER_VAR);
    pin_case("CREATE TEMPORARY TABLE t (a int)", PIN_TEMP_TABLE);
    pin_case("DO STATEFUL", PIN_SERVER_STATE);
}

/* A transaction that ends unpins nothing but releases the conn; a pinned
 * session in a transaction is still pinned after COMMIT. */
static void transaction_release(void)
{
    fe_start(&fe, CONFIG(""));
    struct fe_client a;
    login(&a);
    CHECK_U(fe_query(&a, "START TRANSACTION", &r), FE_OK, "START TRANSACTION");
    CHECK(fe_session(&a)->bc && fe_session(&a)->in_trans, "not held in a transaction");
    CHECK_U(fe_query(&a, "ROLLBACK", &r), FE_OK, "ROLLBACK");
    CHECK(!fe_session(&a)->bc, "held after ROLLBACK");
    /* COMMIT with nothing open: answered by the proxy. */
    fe_log_clear(&fe);
    CHECK_U(fe_query(&a, "COMMIT", &r), FE_OK, "COMMIT without a transaction");
    CHECK(r.status & SERVER_STATUS_AUTOCOMMIT, "status 0x%x", r.status);
    CHECK_U(fe_log_count(&fe, "COMMIT"), 0, "COMMIT reached the server");
    fe_destroy(&fe);
}

/* A prepared statement follows its session to whatever conn runs it: the
 * proxy prepares it there first and maps the ids. */
static void prepared_moves_between_conns(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 2"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    uint32_t id = fe_prepare(&a, "INSERT INTO t VALUES (?)", &r);
    CHECK(id != 0, "prepare failed: %u %s", r.err, r.msg);
    int32_t v = 7;
    CHECK_U(fe_execute(&a, id, &v, 1, &r), FE_OK, "execute on the first conn");
    CHECK_U(r.affected, 1, "affected rows");
    /* b takes the (only idle) first conn and keeps it. */
    CHECK_U(fe_query(&b, "BEGIN", &r), FE_OK, "BEGIN");
    CHECK_U(fe_execute(&a, id, &v, 1, &r), FE_OK, "execute on a second conn");
    CHECK_U(fe.server_conns, 2, "server connections");
    CHECK_U(fe_log_count(&fe, "COM_STMT_PREPARE INSERT INTO t VALUES (?)"), 2, "prepares (once per conn)");
    CHECK_U(fe_log_count(&fe, "COM_STMT_EXECUTE"), 2, "executes");
    /* Unknown statement ids are refused by the proxy, as MariaDB would. */
    CHECK_U(fe_execute(&a, id + 100, &v, 1, &r), FE_ERR, "unknown id");
    CHECK_U(r.err, 1243, "code");
    /* A failed prepare is the server's error, and the session goes on. */
    CHECK(fe_prepare(&a, "SELECT * FROM nosuchtable WHERE a = ?", &r) == 0, "prepare of a missing table");
    CHECK_U(r.err, 1146, "code");
    CHECK_U(fe_execute(&a, id, &v, 1, &r), FE_OK, "execute after the failed prepare");
    CHECK_U(fe_query(&b, "COMMIT", &r), FE_OK, "COMMIT");
    fe_destroy(&fe);
}

/* A client that hangs up mid-statement: the statement finishes on the
 * server, its answer is drained, and the conn's next user gets only its
 * own answer. */
static void abandoned_statement_drained(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 1"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    check_rows(&a, "SELECT 'warm'", "'warm'");
    fe.defer_sleep = true;
    CHECK_U(fe_query(&a, "SELECT SLEEP(5)", &r), FE_NONE, "answered early");
    fe_hangup(&a);
    CHECK(fe_session(&a) == NULL, "session survived the hangup");
    CHECK_U(fe_query(&b, "SELECT 'b'", &r), FE_NONE, "b served while the conn is busy");
    fe_server_release(&fe);
    CHECK_U(fe_response(&b, &r), FE_ROWS, "b after the drain");
    CHECK(strcmp(r.first, "'b'") == 0, "b got '%s'", r.first);
    CHECK_U(fe.server_conns, 1, "server connections (the conn was reused)");
    fe_destroy(&fe);
}

/* KILL QUERY from another session: the proxy sends KILL QUERY <thread id>
 * on another conn; the victim gets 1317 and keeps its session. */
static void kill_query(void)
{
    fe_start(&fe, CONFIG("max_backend_connections = 2"));
    struct fe_client a, b;
    login(&a);
    login(&b);
    fe.defer_sleep = true;
    CHECK_U(fe_query(&a, "SELECT SLEEP(100)", &r), FE_NONE, "answered early");
    char q[64];
    snprintf(q, sizeof(q), "KILL QUERY %u", a.id);
    CHECK_U(fe_query(&b, q, &r), FE_OK, "KILL QUERY");
    CHECK_U(fe_log_count(&fe, "KILL QUERY 1001"), 1, "KILL sent for the victim's thread");
    CHECK_U(fe_response(&a, &r), FE_ERR, "victim");
    CHECK_U(r.err, 1317, "code");
    fe.defer_sleep = false;
    check_rows(&a, "SELECT 'alive'", "'alive'");
    /* Unknown ids: 1094, as the server says. */
    CHECK_U(fe_query(&b, "KILL QUERY 999999", &r), FE_ERR, "unknown id");
    CHECK_U(r.err, 1094, "code");
    fe_destroy(&fe);
}

/* CONNECTION_ID() is the id the proxy gave the client, whatever conn runs
 * the statement. */
static void connection_id_is_the_sessions(void)
{
    fe_start(&fe, CONFIG(""));
    struct fe_client a;
    login(&a);
    char want[16];
    snprintf(want, sizeof(want), "%u", a.id);
    check_rows(&a, "SELECT CONNECTION_ID()", want);
    fe_destroy(&fe);
}

/* A client that stops reading a large result: the proxy stops reading the
 * server (bounded memory), and every row arrives once the client reads. */
static void backpressure(void)
{
    fe_start(&fe, CONFIG(""));
    struct fe_client a;
    login(&a);
    check_rows(&a, "SELECT 1", "1");
    struct rm_bconn *b = NULL;
    fe_stall(&a, true);
    fe_send(&a, COM_QUERY, "SELECT ROWS 20000", 17);
    b = fe_session(&a)->bc;
    CHECK(b != NULL, "no conn attached mid-result");
    CHECK(b && b->c.recv_paused, "backend reading not paused");
    size_t queued = conn_pending(&fe_session(&a)->c);
    CHECK(queued < 2 * SESS_BACKPRESSURE_HIGH, "queued for the client: %zu", queued);
    fe_stall(&a, false);
    CHECK_U(fe_response(&a, &r), FE_ROWS, "result");
    CHECK_U(r.n_rows, 20000, "rows");
    CHECK(strncmp(r.first, "row 0 x", 7) == 0, "first row %.20s", r.first);
    fe_destroy(&fe);
}

/* Every byte in 3-byte sends and 5-byte receives: login, queries, a
 * prepared statement, a result set. */
static void fragmented_io(void)
{
    fe_start(&fe, CONFIG(""));
    fe.send_chunk = 3;
    fe.recv_chunk = 5;
    struct fe_client a;
    login(&a);
    check_rows(&a, "SELECT 'fragmented'", "'fragmented'");
    CHECK_U(fe_query(&a, "SET sql_mode='ANSI'", &r), FE_OK, "SET");
    check_rows(&a, "SELECT @@sql_mode", "ANSI");
    uint32_t id = fe_prepare(&a, "INSERT INTO t VALUES (?, ?)", &r);
    int32_t v[2] = {1, 2};
    CHECK_U(fe_execute(&a, id, v, 2, &r), FE_OK, "execute");
    CHECK_U(fe_query(&a, "SELECT ROWS 50", &r), FE_ROWS, "rows");
    CHECK_U(r.n_rows, 50, "row count");
    fe_destroy(&fe);
}

/* Garbage from a client: a clear ERR, the session closes, others go on. */
static void bad_client_bytes(void)
{
    fe_start(&fe, "[ringmux]\nlog_level = error\nmax_allowed_packet = 1k\n[backend]\naddress = 127.0.0.1:3306\n"
                  "[users]\napp = app-pw\n");
    struct fe_client a, b;
    login(&a);
    login(&b);
    /* A packet longer than max_allowed_packet (2000 > 1024 bytes). */
    uint8_t hdr[5] = {2000 & 0xff, 2000 >> 8, 0, 0, COM_QUERY};
    fe_send_raw(&a, hdr, sizeof(hdr));
    struct fe_pkt pk;
    bool got = fe_read(&a, &pk);
    CHECK(got && pk.n > 3 && pk.p[0] == 0xff && pkt_u16(pk.p + 1) == 1153, "no ERR 1153 for an oversized packet");
    fe_pkt_free(&pk);
    CHECK(fe_session(&a) == NULL, "session kept after the oversized packet");
    check_rows(&b, "SELECT 'b'", "'b'");
    fe_destroy(&fe);
}

/* idle_client_timeout closes idle sessions, not busy ones. */
static void idle_client_timeout(void)
{
    fe_start(&fe, "[ringmux]\nlog_level = error\nidle_client_timeout = 2s\n[backend]\naddress = 127.0.0.1:3306\n"
                  "[users]\napp = app-pw\n");
    struct fe_client a, b;
    login(&a);
    login(&b);
    fe_advance(&fe, 1500);
    check_rows(&b, "SELECT 'b'", "'b'");
    fe_advance(&fe, 1500);
    CHECK(fe_session(&a) == NULL, "idle session kept past idle_client_timeout");
    CHECK(fe_session(&b) != NULL, "active session closed");
    fe_destroy(&fe);
}

/* max_prepared_statements: past it, ERR 1461 as from the server, the
 * server is not asked, and closing one makes room again. */
static void prepared_statement_cap(void)
{
    fe_start(&fe, "[ringmux]\nlog_level = error\nmax_prepared_statements = 3\n[backend]\naddress = 127.0.0.1:3306\n"
                  "[users]\napp = app-pw\n");
    struct fe_client a, b;
    login(&a);
    login(&b);
    uint32_t ids[3];
    for (int i = 0; i < 3; i++) {
        ids[i] = fe_prepare(&a, "INSERT INTO t VALUES (?)", &r);
        CHECK(ids[i] != 0, "prepare %d: %u %s", i, r.err, r.msg);
    }
    fe_log_clear(&fe);
    CHECK(fe_prepare(&a, "INSERT INTO t VALUES (?)", &r) == 0, "a 4th prepare past the cap");
    CHECK_U(r.err, 1461, "code");
    CHECK(strstr(r.msg, "max_prepared_stmt_count") && strstr(r.msg, "max_prepared_statements"), "message %s", r.msg);
    CHECK_U(fe_log_count(&fe, "COM_STMT_PREPARE"), 0, "the server was asked");
    CHECK(fe_prepare(&b, "INSERT INTO t VALUES (?)", &r) != 0, "another session is not affected");
    uint8_t close_id[4];
    pkt_put_u32(close_id, ids[1]);
    fe_send(&a, COM_STMT_CLOSE, close_id, 4);
    CHECK(fe_prepare(&a, "INSERT INTO t VALUES (?)", &r) != 0, "room again after COM_STMT_CLOSE: %u %s", r.err, r.msg);
    int32_t v = 1;
    CHECK_U(fe_execute(&a, ids[0], &v, 1, &r), FE_OK, "earlier statements still work");
    CHECK_U(fe.w.met.prepares_refused, 1, "refusals counted");
    fe_destroy(&fe);
}

/* The admin console gathers SHOW CLIENTS from every worker; one that
 * never answers (a second worker the fake does not run) must not leave the
 * console waiting: after CONSOLE_REPORT_TIMEOUT_MS it answers with the
 * rows it has. */
static void console_worker_silent(void)
{
    if (fe_init(&fe, "[ringmux]\nlog_level = error\n[backend]\naddress = 127.0.0.1:3306\n[admin]\n"
                     "console_listen = 127.0.0.1:1\npassword = adm-pw\n[users]\napp = app-pw\n") < 0) {
        CHECK(0, "config");
        return;
    }
    struct fe_client app, adm, other;
    login(&app);
    fe.next_console = true;
    CHECK(fe_connect(&fe, &adm, "admin", "adm-pw", NULL, 0, &r) == FE_OK, "console login: %u %s", r.err, r.msg);
    CHECK(fe_connect(&fe, &other, "admin", "adm-pw", NULL, 0, &r) == FE_ERR,
          "the console account opened the client port");
    fe.sh.n_workers = 2; /* worker 1 exists for the console, and never answers */
    fe_send(&adm, COM_QUERY, "SHOW CLIENTS", 12);
    CHECK_U(fe_response(&adm, &r), FE_NONE, "answered before the other worker did");
    fe_advance(&fe, CONSOLE_REPORT_TIMEOUT_MS + 1100); /* timeouts are checked once a second */
    CHECK(fe_response(&adm, &r) == FE_ROWS, "no answer after the timeout: %u %s", r.err, r.msg);
    CHECK(r.n_rows >= 2, "this worker's rows are missing: %d", r.n_rows);
    fe.sh.n_workers = 1;
    CHECK_U(fe_query(&adm, "SHOW VERSION", &r), FE_ROWS, "the console goes on");
    CHECK(strstr(r.first, "ringmux ") != NULL, "version %s", r.first);
    CHECK_U(fe_query(&adm, "SHOW NONSENSE", &r), FE_ERR, "unknown command");
    CHECK_U(r.err, 1064, "its code");
    fe_destroy(&fe);
}

int main(int argc, char **argv)
{
    static const struct unit_case cases[] = {
        {"console_worker_silent", console_worker_silent},
        {"sync_tracked_vars", sync_tracked_vars},
        {"pinning", pinning},
        {"transaction_release", transaction_release},
        {"prepared_moves_between_conns", prepared_moves_between_conns},
        {"abandoned_statement_drained", abandoned_statement_drained},
        {"kill_query", kill_query},
        {"connection_id_is_the_sessions", connection_id_is_the_sessions},
        {"backpressure", backpressure},
        {"fragmented_io", fragmented_io},
        {"bad_client_bytes", bad_client_bytes},
        {"idle_client_timeout", idle_client_timeout},
        {"prepared_statement_cap", prepared_statement_cap},
    };
    unit_run_cases(argc, argv, cases, sizeof(cases) / sizeof(cases[0]));
    return unit_summary();
}
