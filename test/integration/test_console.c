/* The admin console ([admin] console_listen), through the stock mariadb
 * client and libmariadb:
 *   - its own login: the [admin] password works, a wrong one and a [users]
 *     account do not;
 *   - SHOW POOLS / CLIENTS / PINS / BACKENDS / STATS / CONFIG / VERSION
 *     with the expected rows while sessions run (a statement in flight with
 *     its digest and time, a pinned session with its reason and a sample
 *     digest without the literal, a transaction holding its connection),
 *     on 2 workers (the console gathers from both);
 *   - PAUSE holds a new statement until RESUME;
 *   - KILL <id> ends that client's session; an unknown id gets 1094;
 *   - an unknown command gets 1064 listing the valid ones;
 *   - RELOAD reloads (the log says so); SHUTDOWN stops the proxy cleanly;
 *   - SHOW CONFIG never shows the password. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ADMIN_PW "console-pw-9"

static struct it_proxy P;
static int console_port;

static MYSQL *console(const char *user, const char *pw, struct it_error *e)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 10, tcp = MYSQL_PROTOCOL_TCP;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
    if (!mysql_real_connect(m, "127.0.0.1", user, pw, NULL, (unsigned)console_port, NULL, 0)) {
        if (e)
            it_error_get(m, e);
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* The result of cmd as text: one line per row, fields separated by '|'
 * (NULL as "NULL"); NULL after recording a failure. */
static char *rows(MYSQL *m, const char *cmd)
{
    if (mysql_query(m, cmd) != 0) {
        IT_FAIL("%s: %u %s", cmd, mysql_errno(m), mysql_error(m));
        return NULL;
    }
    MYSQL_RES *r = mysql_store_result(m);
    if (!r) {
        IT_FAIL("%s: no result set", cmd);
        return NULL;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    MYSQL_ROW row;
    unsigned nf = mysql_num_fields(r);
    while ((row = mysql_fetch_row(r))) {
        for (unsigned i = 0; i < nf; i++)
            fprintf(f, "%s%s", i ? "|" : "", row[i] ? row[i] : "NULL");
        fputc('\n', f);
    }
    fclose(f);
    mysql_free_result(r);
    return out;
}

static MYSQL *sleeper_conn;
static void *sleeper(void *arg)
{
    (void)arg;
    char v[32];
    it_scalar(sleeper_conn, "SELECT SLEEP(1.5) /* sleeper */", v, sizeof v);
    return NULL;
}

static void test_login(void)
{
    struct it_error e = {0};
    MYSQL *m = console("admin", "wrong", &e);
    IT_CHECK(!m && e.code == 1045, "wrong console password: %u", e.code);
    if (m)
        mysql_close(m);
    m = console(IT_USER, IT_PASSWORD, &e);
    IT_CHECK(!m && e.code == 1045, "a [users] account logged in to the console: %u", e.code);
    if (m)
        mysql_close(m);
    char cmd[300], out[2048];
    snprintf(cmd, sizeof cmd, "mariadb --no-defaults -h127.0.0.1 -P%d -uadmin -p%s -e 'SHOW VERSION' 2>&1",
             console_port, ADMIN_PW);
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0 && strstr(out, "ringmux "), "mariadb CLI: %s", out);
    /* The stock client prints the result sets (tab-separated in batch mode). */
    snprintf(cmd, sizeof cmd,
             "mariadb --no-defaults -h127.0.0.1 -P%d -uadmin -p%s -B -e 'SHOW BACKENDS; SHOW CONFIG' 2>&1",
             console_port, ADMIN_PW);
    IT_CHECK(it_shell(cmd, out, sizeof out) == 0 &&
                 strstr(out, "backend\taddress\trole\tup\tread_only\tlag_s\tconnections\terror\n") &&
                 strstr(out, "\twriter\tyes\t") &&
                 strstr(out, "section\tkey\tvalue\treloadable\nringmux\tlisten\t127.0.0.1:"),
             "mariadb CLI SHOW BACKENDS / CONFIG: %s", out);
    snprintf(cmd, sizeof cmd, "mariadb --no-defaults -h127.0.0.1 -P%d -uadmin -p%s -e 'DROP TABLE x' 2>&1",
             console_port, ADMIN_PW);
    IT_CHECK(it_shell(cmd, out, sizeof out) != 0 && strstr(out, "ERROR 1064") && strstr(out, "SHUTDOWN [WAIT]"),
             "mariadb CLI, unknown command: %s", out);
}

static void test_shows(void)
{
    MYSQL *a = console("admin", ADMIN_PW, NULL);
    MYSQL *pinned = it_connect_proxy(&P, IT_DB), *tx = it_connect_proxy(&P, IT_DB);
    sleeper_conn = it_connect_proxy(&P, IT_DB);
    if (!a || !pinned || !tx || !sleeper_conn) {
        IT_FAIL("connections");
        return;
    }
    it_query(pinned, "CREATE TEMPORARY TABLE console_pin (a INT) COMMENT 'a-secret-literal'");
    it_query(tx, "BEGIN");
    it_query(tx, "SELECT 1");
    long sleeper_id = (long)it_scalar_int(sleeper_conn, "SELECT CONNECTION_ID()");
    long pinned_id = (long)it_scalar_int(pinned, "SELECT CONNECTION_ID()");
    pthread_t th;
    pthread_create(&th, NULL, sleeper, NULL);
    it_usleep(400000);

    char *pools = rows(a, "SHOW POOLS");
    if (pools) {
        fprintf(stderr, "SHOW POOLS:\n%s", pools);
        long active = -1, pin = -1;
        for (char *l = strtok(pools, "\n"); l; l = strtok(NULL, "\n"))
            if (strncmp(l, "default|" IT_USER "|", 8 + strlen(IT_USER) + 1) == 0)
                sscanf(l + 8 + strlen(IT_USER) + 1, "%ld|%*d|%*d|%*d|%ld", &active, &pin);
        IT_CHECK(active >= 3 && pin == 1, "pools: active %ld (pinned + transaction + sleeper), pinned %ld", active,
                 pin);
        free(pools);
    }
    char *clients = rows(a, "SHOW CLIENTS");
    if (clients) {
        fprintf(stderr, "SHOW CLIENTS:\n%s", clients);
        char want[64];
        snprintf(want, sizeof want, "%ld|" IT_USER "|", sleeper_id);
        char *l = strstr(clients, want);
        IT_CHECK(l && strstr(l, "|forward|") && strstr(l, "SELECT SLEEP(?)"), "the sleeper's row: %s",
                 l ? l : "(missing)");
        snprintf(want, sizeof want, "%ld|" IT_USER "|", pinned_id);
        l = strstr(clients, want);
        IT_CHECK(l && strstr(l, "|temporary_table|"), "the pinned client's row: %s", l ? l : "(missing)");
        IT_CHECK(strstr(clients, "|admin|") && strstr(clients, "|console|"), "the console itself is not listed");
        free(clients);
    }
    char *pins = rows(a, "SHOW PINS");
    if (pins) {
        fprintf(stderr, "SHOW PINS:\n%s", pins);
        IT_CHECK(strstr(pins, "temporary_table|1|") && strstr(pins, "CREATE TEMPORARY TABLE console_pin"), "pins: %s",
                 pins);
        IT_CHECK(!strstr(pins, "a-secret-literal"), "a literal in SHOW PINS: %s", pins);
        free(pins);
    }
    char *be = rows(a, "SHOW BACKENDS");
    if (be) {
        IT_CHECK(strncmp(be, "default|", 8) == 0 && strstr(be, "|writer|yes|"), "backends: %s", be);
        free(be);
    }
    char *stats = rows(a, "SHOW STATS");
    if (stats) {
        IT_CHECK(strstr(stats, "ringmux_queries_total|") && strstr(stats, "ringmux_query_duration_seconds_count|"),
                 "stats lack counters");
        free(stats);
    }
    char *cfg = rows(a, "show config;");
    if (cfg) {
        IT_CHECK(strstr(cfg, "admin|password|(set)|") && !strstr(cfg, ADMIN_PW), "SHOW CONFIG shows the password");
        IT_CHECK(strstr(cfg, "admin|console_listen|127.0.0.1:") != NULL, "config lacks console_listen");
        free(cfg);
    }
    pthread_join(th, NULL);
    it_query(tx, "COMMIT");
    mysql_close(sleeper_conn);
    mysql_close(tx);
    mysql_close(pinned);
    /* An unknown command names the valid ones. */
    IT_CHECK(mysql_query(a, "SHOW EVERYTHING") != 0 && mysql_errno(a) == 1064 && strstr(mysql_error(a), "SHOW POOLS"),
             "unknown command: %u %s", mysql_errno(a), mysql_error(a));
    mysql_close(a);
}

static MYSQL *paused_conn;
static double paused_took;
static void *paused_query(void *arg)
{
    (void)arg;
    double t0 = it_now();
    IT_EQ_INT(it_scalar_int(paused_conn, "SELECT 7"), 7);
    paused_took = it_now() - t0;
    return NULL;
}

static void test_pause_kill(void)
{
    MYSQL *a = console("admin", ADMIN_PW, NULL);
    paused_conn = it_connect_proxy(&P, IT_DB);
    if (!a || !paused_conn)
        return;
    char *r = rows(a, "PAUSE");
    IT_CHECK(r && strncmp(r, "paused|", 7) == 0, "PAUSE: %s", r ? r : "");
    free(r);
    pthread_t th;
    pthread_create(&th, NULL, paused_query, NULL);
    it_usleep(600000);
    r = rows(a, "RESUME");
    IT_CHECK(r && strncmp(r, "resumed|", 8) == 0, "RESUME: %s", r ? r : "");
    free(r);
    pthread_join(th, NULL);
    IT_CHECK(paused_took >= 0.5, "the statement did not wait for RESUME (%.2f s)", paused_took);
    mysql_close(paused_conn);

    MYSQL *victim = it_connect_proxy(&P, IT_DB);
    if (victim) {
        long id = (long)it_scalar_int(victim, "SELECT CONNECTION_ID()");
        char cmd[64];
        snprintf(cmd, sizeof cmd, "KILL %ld", id);
        IT_CHECK(mysql_query(a, cmd) == 0, "%s: %s", cmd, mysql_error(a));
        it_usleep(200000);
        IT_CHECK(it_try_query(victim, "SELECT 1") != 0, "the killed client still works");
        mysql_close(victim);
    }
    IT_CHECK(mysql_query(a, "KILL 999999") != 0 && mysql_errno(a) == 1094, "unknown id: %u %s", mysql_errno(a),
             mysql_error(a));
    mysql_close(a);
}

static void test_reload_shutdown(void)
{
    MYSQL *a = console("admin", ADMIN_PW, NULL);
    if (!a)
        return;
    IT_CHECK(mysql_query(a, "RELOAD") == 0, "RELOAD: %s", mysql_error(a));
    bool reloaded = false;
    for (int i = 0; i < 30 && !reloaded; i++) {
        char cmd[400], out[256];
        snprintf(cmd, sizeof cmd, "grep -c 'configuration reloaded' %s", P.log);
        reloaded = it_shell(cmd, out, sizeof out) == 0 && atoi(out) >= 1;
        if (!reloaded)
            it_usleep(100000);
    }
    IT_CHECK(reloaded, "RELOAD did not reload");
    IT_CHECK(mysql_query(a, "SHUTDOWN WAIT") == 0, "SHUTDOWN: %s", mysql_error(a));
    mysql_close(a);
    P.term_sent = true; /* it stops by itself: it_proxy_stop only waits and checks the exit */
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

int main(int argc, char **argv)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_console: the proxy's admin console");
        return 0;
    }
    console_port = it_free_port();
    char ini[200];
    snprintf(ini, sizeof ini, "[admin]\nconsole_listen = 127.0.0.1:%d\npassword = " ADMIN_PW "\n", console_port);
    if (it_proxy_start_ex(&P, ini, "max_backend_connections = 8\n") != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    static const struct it_case cases[] = {
        {"login", test_login},
        {"shows", test_shows},
        {"pause and kill", test_pause_kill},
        {"reload and shutdown", test_reload_shutdown},
    };
    if (!it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL) || P.pid > 0)
        it_proxy_stop(&P);
    return it_done();
}
