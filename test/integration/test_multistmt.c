/* Multi-statements and multi-results (CLIENT_MULTI_STATEMENTS,
 * CLIENT_MULTI_RESULTS): every result set, OK and error of a multi-statement
 * query and of a stored procedure returning several result sets must reach
 * the client exactly as MariaDB sends them, MORE_RESULTS_EXIST flags
 * included, and the connection must be usable afterwards.  Each case runs on
 * a direct connection and on a proxy connection (table reset in between) and
 * the complete transcripts are compared. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static struct it_proxy P;
static MYSQL *D, *X;
static char T[64], PROC[64], PROC2[64], PROC3[64];

/* sql with @T, @P, @Q, @R replaced by the table and procedure names. */
static char *subst(const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    while (*s) {
        if (s[0] == '@' && (s[1] == 'T' || s[1] == 'P' || s[1] == 'Q' || s[1] == 'R')) {
            fputs(s[1] == 'T' ? T : s[1] == 'P' ? PROC : s[1] == 'Q' ? PROC2 : PROC3, f);
            s += 2;
        } else {
            fputc(*s++, f);
        }
    }
    fclose(f);
    return out;
}

static void reset_table(void)
{
    it_queryf(D, "DROP TABLE IF EXISTS %s", T);
    it_queryf(D,
              "CREATE TABLE %s (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(20) UNIQUE, "
              "n INT) ENGINE=InnoDB",
              T);
}

/* The same multi-statement text on both sides, from the same table state;
 * then a follow-up query proves the connection is in sync. */
static void compare(const char *what, const char *sql_template)
{
    char *sql = subst(sql_template);
    char *cap[2];
    MYSQL *side[2] = {D, X};
    for (int i = 0; i < 2; i++) {
        reset_table();
        cap[i] = it_capture(side[i], sql);
        char *after = it_capture(side[i], "SELECT 'in sync' AS after_multi");
        char *both;
        if (asprintf(&both, "%s--- then ---\n%s", cap[i], after) < 0)
            abort();
        free(cap[i]);
        free(after);
        cap[i] = both;
    }
    char label[512];
    snprintf(label, sizeof label, "%s: %.400s", what, sql);
    it_same(label, cap[0], cap[1]);
    free(cap[0]);
    free(cap[1]);
    free(sql);
}

/* Iterate the results by hand with mysql_use_result (unbuffered rows) and
 * check the exact shape: result sets, OK packets and their counters. */
static void walk_unbuffered(MYSQL *m, const char *who)
{
    char *sql = subst("SELECT seq FROM seq_1_to_1000; INSERT INTO @T (v, n) VALUES ('x', 1), "
                      "('y', 2); SELECT COUNT(*) FROM @T; UPDATE @T SET n = n + 1; "
                      "SELECT v, n FROM @T ORDER BY id");
    if (!IT_MYSQL_OK(m, mysql_real_query(m, sql, strlen(sql)))) {
        free(sql);
        return;
    }
    free(sql);
    /* result 1: 1000 rows */
    MYSQL_RES *r = mysql_use_result(m);
    long rows = 0, sum = 0;
    MYSQL_ROW row;
    if (IT_CHECK(r != NULL, "%s: first result: %s", who, mysql_error(m))) {
        while ((row = mysql_fetch_row(r)) != NULL) {
            rows++;
            sum += atol(row[0]);
        }
        IT_CHECK(mysql_errno(m) == 0, "%s: fetching: %s", who, mysql_error(m));
        mysql_free_result(r);
    }
    IT_EQ_INT(rows, 1000);
    IT_EQ_INT(sum, 500500);
    IT_CHECK(m->server_status & SERVER_MORE_RESULTS_EXIST, "%s: MORE_RESULTS missing", who);
    /* result 2: INSERT */
    IT_EQ_INT(mysql_next_result(m), 0);
    IT_EQ_INT(mysql_field_count(m), 0);
    IT_EQ_INT(mysql_affected_rows(m), 2);
    IT_EQ_INT(mysql_insert_id(m), 1);
    /* result 3: COUNT */
    IT_EQ_INT(mysql_next_result(m), 0);
    r = mysql_use_result(m);
    if (IT_CHECK(r != NULL, "%s: COUNT result: %s", who, mysql_error(m))) {
        row = mysql_fetch_row(r);
        IT_EQ_STR(row ? row[0] : NULL, "2");
        while (mysql_fetch_row(r)) {
        }
        mysql_free_result(r);
    }
    /* result 4: UPDATE */
    IT_EQ_INT(mysql_next_result(m), 0);
    IT_EQ_INT(mysql_affected_rows(m), 2);
    /* result 5: rows, last */
    IT_EQ_INT(mysql_next_result(m), 0);
    r = mysql_use_result(m);
    if (IT_CHECK(r != NULL, "%s: last result: %s", who, mysql_error(m))) {
        row = mysql_fetch_row(r);
        IT_CHECK(row && strcmp(row[0], "x") == 0 && strcmp(row[1], "2") == 0, "%s: last result first row wrong", who);
        while (mysql_fetch_row(r)) {
        }
        mysql_free_result(r);
    }
    IT_CHECK(!(m->server_status & SERVER_MORE_RESULTS_EXIST), "%s: MORE_RESULTS on last", who);
    IT_EQ_INT(mysql_next_result(m), -1);
    IT_EQ_INT(it_scalar_int(m, "SELECT 77"), 77);
}

/* Abandon a multi-result half-way - the client's socket just goes away -
 * then a new connection must work (the proxy must drop or clean the
 * backend connection that was still streaming). */
static void abandon_midway(void)
{
    MYSQL *m = it_connect_proxy_flags(&P, IT_DB, CLIENT_MULTI_STATEMENTS);
    if (!m)
        return;
    const char *sql = "SELECT seq, REPEAT('z', 100) FROM seq_1_to_100000; SELECT 2; SELECT 3";
    if (IT_MYSQL_OK(m, mysql_real_query(m, sql, strlen(sql)))) {
        MYSQL_RES *r = mysql_use_result(m);
        if (r) {
            for (int i = 0; i < 10; i++)
                mysql_fetch_row(r);
        }
        shutdown(mysql_get_socket(m), SHUT_RDWR);
        if (r)
            mysql_free_result(r); /* fails to drain the rest; that's the point */
    }
    mysql_close(m);
    MYSQL *m2 = it_connect_proxy_flags(&P, IT_DB, CLIENT_MULTI_STATEMENTS);
    if (m2) {
        char *c = it_capture(m2, "SELECT 1; SELECT 2");
        IT_CHECK(strstr(c, "[1] RESULT") != NULL, "after an abandoned multi-result: %s", c);
        free(c);
        mysql_close(m2);
    }
}

/* Clients with and without CLIENT_MULTI_STATEMENTS share one backend
 * connection (the flag is session state, switched with COM_SET_OPTION):
 * each still sees its own behaviour, and nothing is reconnected. */
static void shared_conn(void)
{
    struct it_proxy Q;
    if (it_proxy_start_ex(&Q, "workers = 1\n", "max_backend_connections = 1\n") != 0) {
        IT_FAIL("second proxy did not start");
        return;
    }
    MYSQL *multi = it_connect_proxy_flags(&Q, IT_DB, CLIENT_MULTI_STATEMENTS);
    MYSQL *plain = it_connect_proxy(&Q, IT_DB), *direct = it_connect_direct(IT_DB);
    if (multi && plain && direct) {
        char *want = it_capture(direct, "SELECT 1; SELECT 2");
        for (int round = 0; round < 3; round++) {
            char *a = it_capture(multi, "SELECT 1; SELECT 2");
            IT_CHECK(strstr(a, "[1] RESULT") != NULL, "round %d: multi-statement client: %s", round, a);
            char *b = it_capture(plain, "SELECT 1; SELECT 2");
            it_same("plain client after a multi-statement client on the same conn", want, b);
            free(a);
            free(b);
        }
        free(want);
        /* The plain client switches multi-statements on for itself only. */
        IT_EQ_INT(mysql_set_server_option(plain, MYSQL_OPTION_MULTI_STATEMENTS_ON), 0);
        char *c = it_capture(plain, "SELECT 3; SELECT 4");
        IT_CHECK(strstr(c, "[1] RESULT") != NULL, "after COM_SET_OPTION ON: %s", c);
        free(c);
        IT_EQ_INT(mysql_set_server_option(multi, MYSQL_OPTION_MULTI_STATEMENTS_OFF), 0);
        IT_EQ_INT(it_try_query(multi, "SELECT 5; SELECT 6"), 1064);
        IT_EQ_INT((long long)it_metric(&Q, "ringmux_backend_connections_opened_total"), 1);
    }
    mysql_close(multi); /* NULL is fine */
    mysql_close(plain);
    mysql_close(direct);
    IT_CHECK(it_proxy_stop(&Q) == 0, "second proxy did not shut down cleanly");
}

int main(void)
{
    it_watchdog(240);
    int pid = (int)getpid();
    snprintf(T, sizeof T, "it_multi_%d", pid);
    snprintf(PROC, sizeof PROC, "it_multi_proc_%d", pid);
    snprintf(PROC2, sizeof PROC2, "it_multi_proc_err_%d", pid);
    snprintf(PROC3, sizeof PROC3, "it_multi_proc_out_%d", pid);
    if (it_proxy_start(&P, NULL) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    /* CLIENT_MULTI_STATEMENTS implies CLIENT_MULTI_RESULTS in libmariadb. */
    D = it_connect_direct_flags(IT_DB, CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS);
    X = it_connect_proxy_flags(&P, IT_DB, CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS);
    if (D && X) {
        char *s;
        s = subst("DROP PROCEDURE IF EXISTS @P");
        it_query(D, s);
        free(s);
        s = subst("CREATE PROCEDURE @P(IN k INT) BEGIN "
                  "SELECT k AS k, 'first' AS which; "
                  "SELECT seq, seq * k FROM seq_1_to_5; "
                  "INSERT INTO @T (v, n) VALUES (CONCAT('p', k), k); "
                  "END");
        it_query(D, s);
        free(s);
        s = subst("DROP PROCEDURE IF EXISTS @Q");
        it_query(D, s);
        free(s);
        s = subst("CREATE PROCEDURE @Q() BEGIN "
                  "SELECT 'before error' AS msg; "
                  "INSERT INTO @T (v) VALUES ('dup'), ('dup'); "
                  "SELECT 'never reached'; "
                  "END");
        it_query(D, s);
        free(s);
        s = subst("DROP PROCEDURE IF EXISTS @R");
        it_query(D, s);
        free(s);
        s = subst("CREATE PROCEDURE @R(OUT total INT) BEGIN "
                  "SELECT COUNT(*) INTO total FROM seq_1_to_10; END");
        it_query(D, s);
        free(s);

        compare("simple", "SELECT 1; SELECT 2, 3; INSERT INTO @T (v, n) VALUES ('a', 1), ('b', 2); "
                          "SELECT * FROM @T ORDER BY id");
        compare("error in the middle", "SELECT 1; SELEC 2; SELECT 3");
        compare("runtime error in the middle",
                "INSERT INTO @T (v) VALUES ('u'); INSERT INTO @T (v) VALUES ('u'); SELECT 3");
        compare("error first", "SELECT * FROM no_such_table_it; SELECT 2");
        compare("error last", "SELECT 1; SELECT * FROM no_such_table_it");
        compare("writes", "INSERT INTO @T (v, n) VALUES ('a', 1); "
                          "INSERT INTO @T (v, n) VALUES ('b', 2), ('c', 3); "
                          "UPDATE @T SET n = n * 10 WHERE n > 1; DELETE FROM @T WHERE v = 'a'; "
                          "UPDATE @T SET n = n WHERE 1 = 0; SELECT v, n FROM @T ORDER BY v");
        compare("warnings", "SELECT 1/0; SELECT CAST('x' AS SIGNED); SHOW WARNINGS; SELECT 2");
        compare("transaction", "BEGIN; INSERT INTO @T (v) VALUES ('t'); SELECT @@in_transaction; "
                               "ROLLBACK; SELECT COUNT(*) FROM @T");
        compare("transaction left open", "START TRANSACTION; INSERT INTO @T (v) VALUES ('o'); "
                                         "SELECT COUNT(*) FROM @T");
        it_query(D, "ROLLBACK");
        it_query(X, "ROLLBACK");
        compare("semicolons in strings and comments",
                "SELECT 'a;b' AS s1, \"c;d\" AS s2; /* ; */ SELECT 2 AS two -- ;\n; "
                "SELECT `x;y`.seq FROM seq_1_to_2 AS `x;y`; # comment ;\nSELECT 4");
        compare("empty statement (a syntax error)", "SELECT 1;;SELECT 2");
        compare("trailing semicolon", "SELECT 1; SELECT 2;");
        compare("set and use", "SET @v = 5; SELECT @v + 1; USE mysql; SELECT DATABASE(); "
                               "USE rmtest; SELECT DATABASE()");
        compare("empty result sets", "SELECT * FROM @T; SELECT 1 FROM DUAL WHERE 0; SELECT NULL");
        {
            /* 100 statements in one query. */
            char *big = NULL;
            size_t len = 0;
            FILE *f = open_memstream(&big, &len);
            for (int i = 0; i < 100; i++)
                fprintf(f, "%sSELECT %d AS n, REPEAT('r', %d) AS pad", i ? "; " : "", i, i * 50);
            fclose(f);
            compare("100 statements", big);
            free(big);
        }
        compare("procedure: 2 result sets + OK", "CALL @P(3)");
        compare("procedure in a multi-statement", "SELECT 0; CALL @P(4); SELECT COUNT(*) FROM @T");
        compare("procedure twice", "CALL @P(5); CALL @P(6)");
        compare("procedure with an error after a result set", "CALL @Q()");
        compare("procedure with OUT parameter", "SET @tot = 0; CALL @R(@tot); SELECT @tot");

        /* The CALL alone, checked by hand too: 2 result sets, then the final
         * OK with no MORE_RESULTS. */
        char *call = subst("CALL @P(7)");
        MYSQL *sides[2] = {D, X};
        for (int i = 0; i < 2; i++) {
            const char *who = i ? "proxy" : "direct";
            reset_table();
            if (!IT_MYSQL_OK(sides[i], mysql_query(sides[i], call)))
                continue;
            int sets = 0, oks = 0, rc;
            do {
                MYSQL_RES *r = mysql_store_result(sides[i]);
                if (r) {
                    sets++;
                    mysql_free_result(r);
                } else if (mysql_field_count(sides[i]) == 0) {
                    oks++;
                }
            } while ((rc = mysql_next_result(sides[i])) == 0);
            IT_CHECK(rc == -1, "%s: CALL ended with %d: %s", who, rc, mysql_error(sides[i]));
            IT_CHECK(sets == 2 && oks == 1, "%s: CALL gave %d result sets and %d OKs, expected 2+1", who, sets, oks);
        }
        free(call);

        reset_table();
        walk_unbuffered(D, "direct");
        reset_table();
        walk_unbuffered(X, "proxy");
        abandon_midway();
        shared_conn();

        /* Without CLIENT_MULTI_STATEMENTS the server refuses; through the
         * proxy too. */
        MYSQL *d1 = it_connect_direct(IT_DB), *x1 = it_connect_proxy(&P, IT_DB);
        if (d1 && x1) {
            char *a = it_capture(d1, "SELECT 1; SELECT 2"), *b = it_capture(x1, "SELECT 1; SELECT 2");
            it_same("multi-statement without CLIENT_MULTI_STATEMENTS", a, b);
            free(a);
            free(b);
        }
        if (d1)
            mysql_close(d1);
        if (x1)
            mysql_close(x1);

        s = subst("DROP PROCEDURE IF EXISTS @P");
        it_query(D, s);
        free(s);
        s = subst("DROP PROCEDURE IF EXISTS @Q");
        it_query(D, s);
        free(s);
        s = subst("DROP PROCEDURE IF EXISTS @R");
        it_query(D, s);
        free(s);
        it_queryf(D, "DROP TABLE IF EXISTS %s", T);
    }
    if (X)
        mysql_close(X);
    if (D)
        mysql_close(D);
    IT_CHECK(it_proxy_alive(&P), "proxy died during the test");
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
