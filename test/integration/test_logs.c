/* Logs people can grep and machines can parse:
 *   - log_format = json: every line is a JSON object (checked with
 *     Python's json module) with time, level and msg, and session lines
 *     carry the session id as a number;
 *   - log_format = text: logfmt (time=... level=... session=N msg="...");
 *   - slow_query_threshold: a statement over it is logged once with its
 *     digest (literals replaced by ?, the literal itself never in the log),
 *     a prepared one with its prepared text's digest, fast ones not at all;
 *     counted in ringmux_slow_queries_total;
 *   - log_file: lines go to the file; after the file is renamed (log
 *     rotation) a SIGHUP reopens the path and new lines go to the new file. */
#include "harness.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The whole file as a string (malloc'd), "" if unreadable. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *s = NULL;
    size_t n = 0;
    FILE *m = open_memstream(&s, &n);
    if (f) {
        char buf[4096];
        size_t k;
        while ((k = fread(buf, 1, sizeof buf, f)) > 0)
            fwrite(buf, 1, k, m);
        fclose(f);
    }
    fclose(m);
    return s;
}

static void some_traffic(struct it_proxy *P)
{
    MYSQL *m = it_connect_proxy(P, IT_DB);
    if (m) {
        IT_EQ_INT(it_scalar_int(m, "SELECT 1"), 1);
        it_try_query(m, "SELECT * FROM no_such_table_here");
        mysql_close(m);
    }
    struct it_error e;
    it_connect_error(P->host, P->port, IT_USER, "wrong \"quoted\" pw\n", IT_DB, &e); /* a refused login */
    it_usleep(300000);
}

static void test_json(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "log_format = json\nlog_level = debug\n", NULL) != 0) {
        IT_FAIL("json: proxy did not start");
        return;
    }
    some_traffic(&P);
    char cmd[1200], out[4096];
    snprintf(cmd, sizeof cmd,
             "python3 -c 'import json,sys\n"
             "n = s = 0\n"
             "for line in open(sys.argv[1], encoding=\"utf-8\"):\n"
             "    o = json.loads(line)\n"
             "    assert set(o) >= {\"time\", \"level\", \"msg\"}, line\n"
             "    assert o[\"level\"] in (\"error\", \"warn\", \"info\", \"debug\"), line\n"
             "    n += 1\n"
             "    if \"session\" in o:\n"
             "        assert isinstance(o[\"session\"], int), line\n"
             "        s += 1\n"
             "print(n, s)' %s 2>&1",
             P.log);
    int st = it_shell(cmd, out, sizeof out);
    int lines = 0, sess = 0;
    IT_CHECK(st == 0 && sscanf(out, "%d %d", &lines, &sess) == 2, "JSON log lines do not parse: %s", out);
    IT_CHECK(lines >= 5 && sess >= 2, "too few lines (%d) or session lines (%d)", lines, sess);
    fprintf(stderr, "json: %d lines, %d with a session id\n", lines, sess);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_text(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "log_level = debug\n", NULL) != 0) {
        IT_FAIL("text: proxy did not start");
        return;
    }
    some_traffic(&P);
    char *log = slurp(P.log);
    int lines = 0, bad = 0, sess = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        lines++;
        if (strncmp(line, "time=", 5) != 0 || !strstr(line, " level=") || !strstr(line, " msg=\"") ||
            line[strlen(line) - 1] != '"') {
            if (bad++ < 3)
                fprintf(stderr, "not logfmt: %s\n", line);
        }
        if (strstr(line, " session="))
            sess++;
    }
    IT_CHECK(lines >= 5 && bad == 0 && sess >= 2, "text log: %d lines, %d not logfmt, %d with a session", lines, bad,
             sess);
    free(log);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_slow_queries(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "slow_query_threshold = 200ms\n", NULL) != 0) {
        IT_FAIL("slow: proxy did not start");
        return;
    }
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (m) {
        char v[64];
        it_scalar(m, "SELECT SLEEP(0.3), 'a-secret-literal'", v, sizeof v);
        IT_EQ_INT(it_scalar_int(m, "SELECT 1 + 1"), 2);
        MYSQL_STMT *st = mysql_stmt_init(m);
        const char *q = "SELECT SLEEP(?) /* prepared */";
        if (mysql_stmt_prepare(st, q, strlen(q)) == 0) {
            double secs = 0.25;
            MYSQL_BIND b = {0};
            b.buffer_type = MYSQL_TYPE_DOUBLE;
            b.buffer = &secs;
            mysql_stmt_bind_param(st, &b);
            IT_CHECK(mysql_stmt_execute(st) == 0, "execute: %s", mysql_stmt_error(st));
            mysql_stmt_store_result(st);
        }
        mysql_stmt_close(st);
        mysql_close(m);
    }
    IT_EQ_INT((long)it_metric_wait(&P, "ringmux_slow_queries_total", 2, 3), 2);
    char *log = slurp(P.log);
    IT_CHECK(strstr(log, "slow query: ") && strstr(log, "SELECT SLEEP(?), ?"), "text slow query not logged: %s", log);
    IT_CHECK(strstr(log, "): SELECT SLEEP(?)\"") != NULL, "prepared slow query not logged with its digest");
    IT_CHECK(!strstr(log, "a-secret-literal") && !strstr(log, "0.3"), "a literal reached the log");
    IT_CHECK(!strstr(log, "SELECT 1 + 1") && !strstr(log, "SELECT ? + ?"), "a fast query was logged");
    free(log);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_log_file(void)
{
    char dir[] = "/tmp/ringmux-logs-XXXXXX", ini[300], path[200], rotated[220];
    if (!mkdtemp(dir)) {
        IT_FAIL("mkdtemp");
        return;
    }
    snprintf(path, sizeof path, "%s/ringmux.log", dir);
    snprintf(rotated, sizeof rotated, "%s/ringmux.log.1", dir);
    snprintf(ini, sizeof ini, "log_file = %s\n", path);
    struct it_proxy P;
    if (it_proxy_start_ex(&P, ini, NULL) != 0) {
        IT_FAIL("log_file: proxy did not start");
        return;
    }
    char *a = slurp(path);
    IT_CHECK(strstr(a, "listening on") != NULL, "the log file has no start-up lines: %s", a);
    free(a);
    IT_CHECK(rename(path, rotated) == 0, "rename");
    it_proxy_signal(&P, SIGHUP);
    it_usleep(500000);
    char *b = slurp(path), *old = slurp(rotated);
    IT_CHECK(strstr(b, "configuration reloaded") != NULL, "no reload line in the reopened file: %s", b);
    IT_CHECK(strstr(old, "listening on") && !strstr(old, "configuration reloaded"),
             "the rotated file got lines after the reopen");
    free(b);
    free(old);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    char cmd[260];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    IT_CHECK(system(cmd) == 0, "cleanup");
}

int main(int argc, char **argv)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_logs: the proxy's log");
        return 0;
    }
    static const struct it_case cases[] = {
        {"json", test_json},
        {"text", test_text},
        {"slow queries", test_slow_queries},
        {"log file", test_log_file},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    return it_done();
}
