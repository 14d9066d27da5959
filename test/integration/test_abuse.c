/* Abuse limits: what a hostile or broken client can cost.
 *   - failed-login throttling per address: a brute-force loop from
 *     127.0.0.3 is refused with ERR 1129 after max_failed_logins (its
 *     password then not even checked, the right one included), while
 *     clients from 127.0.0.1 log in normally all along; once
 *     failed_login_window has passed the address may try again;
 *   - max_unauthenticated_connections: silent connections that never log
 *     in fill the cap, the next connection gets ERR 1040 at once, and
 *     handshake_timeout closes the silent ones, after which logins work;
 *   - max_connections_per_user: the fourth session of a user capped at 3
 *     gets ERR 1203, another user is unaffected, and a closed session
 *     frees its place;
 *   - all of it counted in /metrics. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Log in from source address src (NULL: the default); 0 and e filled
 * when refused, 1 when it logged in (closed again at once). */
static int login_from(struct it_proxy *P, const char *src, const char *user, const char *pw, struct it_error *e)
{
    MYSQL *m = mysql_init(NULL);
    unsigned int timeout = 10, tcp = MYSQL_PROTOCOL_TCP;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_options(m, MYSQL_OPT_PROTOCOL, &tcp);
    if (src)
        mysql_options(m, MYSQL_OPT_BIND, src);
    if (!mysql_real_connect(m, P->host, user, pw, IT_DB, (unsigned)P->port, NULL, 0)) {
        it_error_get(m, e);
        mysql_close(m);
        return 0;
    }
    mysql_close(m);
    return 1;
}

static void test_throttling(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "max_failed_logins = 5\nfailed_login_window = 3s\n", NULL) != 0) {
        IT_FAIL("throttling: proxy did not start");
        return;
    }
    struct it_error e;
    int refused_1045 = 0, throttled = 0, good_ok = 0;
    double t0 = it_now();
    for (int i = 0; i < 30; i++) {
        memset(&e, 0, sizeof e);
        if (login_from(&P, "127.0.0.3", IT_USER, "guess", &e) == 1)
            IT_FAIL("a wrong password logged in");
        else if (e.code == 1045)
            refused_1045++;
        else if (e.code == 1129)
            throttled++;
        else
            IT_FAIL("brute force %d: unexpected %u %s", i, e.code, e.message);
        /* Meanwhile a client from another address logs in normally. */
        good_ok += login_from(&P, "127.0.0.1", IT_USER, IT_PASSWORD, &e);
    }
    IT_EQ_INT(refused_1045, 5);
    IT_EQ_INT(throttled, 25);
    IT_EQ_INT(good_ok, 30);
    IT_CHECK(it_now() - t0 < 3, "the loop took %.1f s; the window may have passed", it_now() - t0);
    /* Blocked means blocked: the right password is not even checked. */
    memset(&e, 0, sizeof e);
    IT_EQ_INT(login_from(&P, "127.0.0.3", IT_USER, IT_PASSWORD, &e), 0);
    IT_EQ_INT(e.code, 1129);
    IT_CHECK(strstr(e.message, "max_failed_logins") != NULL, "1129 does not name the setting: %s", e.message);
    fprintf(stderr, "throttled: %u %s\n", e.code, e.message);
    IT_EQ_INT((long)it_metric(&P, "ringmux_logins_throttled_total"), 26);
    /* After the window the address may log in. */
    it_usleep(3200000);
    IT_EQ_INT(login_from(&P, "127.0.0.3", IT_USER, IT_PASSWORD, &e), 1);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

/* Connect, read the greeting, say nothing. */
static int silent(struct it_proxy *P)
{
    int fd = it_raw_connect(P, 5000);
    if (fd < 0)
        return -1;
    struct it_pkt k = {0};
    if (it_read_packet(fd, &k, 5000) != 1) {
        close(fd);
        return -1;
    }
    free(k.p);
    return fd;
}

static void test_unauthenticated(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "max_unauthenticated_connections = 5\nhandshake_timeout = 1s\n", NULL) != 0) {
        IT_FAIL("unauthenticated: proxy did not start");
        return;
    }
    MYSQL *before = it_connect_proxy(&P, IT_DB); /* logged in: not counted */
    int fds[5];
    for (int i = 0; i < 5; i++)
        fds[i] = silent(&P);
    /* The sixth gets ERR 1040 instead of a greeting. */
    int fd = it_raw_connect(&P, 5000);
    struct it_pkt k = {0};
    struct it_err er = {0};
    IT_CHECK(fd >= 0 && it_read_packet(fd, &k, 5000) == 1 && it_parse_err(&k, &er) && er.code == 1040 &&
                 strstr(er.msg, "max_unauthenticated_connections"),
             "sixth silent connection: %u %s", er.code, er.msg);
    free(k.p);
    if (fd >= 0)
        close(fd);
    if (before)
        IT_EQ_INT(it_scalar_int(before, "SELECT 1"), 1);
    /* handshake_timeout closes the silent ones, with an error. */
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0) {
            IT_FAIL("silent connection %d", i);
            continue;
        }
        struct it_pkt t = {0};
        double t0 = it_now();
        int r = it_read_packet(fds[i], &t, 4000);
        struct it_err te = {0};
        IT_CHECK(r == 1 && it_parse_err(&t, &te) && te.code == 1043 && strstr(te.msg, "handshake_timeout"),
                 "silent %d: %d %u %s", i, r, te.code, te.msg);
        IT_CHECK(it_now() - t0 < 2.5, "silent %d closed after %.1f s", i, it_now() - t0);
        free(t.p);
        close(fds[i]);
    }
    MYSQL *after = it_connect_proxy(&P, IT_DB);
    if (after) {
        IT_EQ_INT(it_scalar_int(after, "SELECT 2"), 2);
        mysql_close(after);
    }
    if (before)
        mysql_close(before);
    IT_EQ_INT((long)it_metric(&P, "ringmux_unauthenticated_refused_total"), 1);
    IT_CHECK(it_metric(&P, "ringmux_handshake_timeouts_total") >= 5, "timeouts not counted");
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

static void test_per_user(void)
{
    struct it_proxy P;
    if (it_proxy_start_ex(&P, "max_connections_per_user = 3\n", NULL) != 0) {
        IT_FAIL("per user: proxy did not start");
        return;
    }
    MYSQL *m[3];
    for (int i = 0; i < 3; i++)
        m[i] = it_connect_proxy(&P, IT_DB);
    struct it_error e = {0};
    IT_EQ_INT(it_connect_error(P.host, P.port, IT_USER, IT_PASSWORD, IT_DB, &e), 0);
    IT_EQ_INT(e.code, 1203);
    fprintf(stderr, "fourth session: %u %s\n", e.code, e.message);
    MYSQL *other = it_connect_ex(P.host, P.port, IT_USER2, IT_PASSWORD2, IT_DB, 0);
    IT_CHECK(other != NULL, "another user is capped too");
    if (other)
        mysql_close(other);
    if (m[0])
        mysql_close(m[0]);
    it_usleep(200000);
    MYSQL *again = it_connect_proxy(&P, IT_DB);
    if (again) {
        IT_EQ_INT(it_scalar_int(again, "SELECT 3"), 3);
        mysql_close(again);
    }
    for (int i = 1; i < 3; i++)
        if (m[i])
            mysql_close(m[i]);
    IT_EQ_INT((long)it_metric(&P, "ringmux_user_limit_refused_total"), 1);
    IT_EQ_INT(it_proxy_stop(&P), 0);
}

int main(int argc, char **argv)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_abuse: the proxy's limits");
        return 0;
    }
    static const struct it_case cases[] = {
        {"throttling", test_throttling},
        {"unauthenticated", test_unauthenticated},
        {"per user", test_per_user},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    return it_done();
}
