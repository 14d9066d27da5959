/* /metrics under load, parsed as Prometheus text:
 *   - scraped while 4 clients run statements: counters never go down
 *     between scrapes and move; every histogram's buckets are cumulative
 *     (non-decreasing), its +Inf bucket equals its _count, and _sum is
 *     consistent with the buckets (at most count x largest finite bound when
 *     nothing is in +Inf);
 *   - the query histograms count what the clients ran; database time never
 *     exceeds total time in sum;
 *   - the pinned gauge follows a session that pins (a temporary table) and
 *     unpins (its client leaves);
 *   - client setup failures are counted by reason. */
#include "harness.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CLIENTS 4
#define QUERIES 200

static struct it_proxy P;

static void *client(void *arg)
{
    (void)arg;
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return NULL;
    for (int i = 0; i < QUERIES; i++)
        IT_EQ_INT(it_scalar_int(m, "SELECT 1 + 1"), 2);
    mysql_close(m);
    return NULL;
}

/* Sum of the samples named exactly name (any labels): -1 if none. */
static double sample(const char *text, const char *name)
{
    double sum = -1;
    size_t nl = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (*l == '#' || strncmp(l, name, nl) != 0 || (l[nl] != ' ' && l[nl] != '{'))
            continue;
        const char *v = strchr(l, ' ');
        if (v)
            sum = (sum < 0 ? 0 : sum) + atof(v + 1);
    }
    return sum;
}

/* Check one histogram family in a scrape; returns its _count. */
static double check_hist(const char *text, const char *name)
{
    char bucket[128];
    snprintf(bucket, sizeof bucket, "%s_bucket{le=\"", name);
    double prev = -1, inf = -1, last_le = 0, below_inf = 0;
    int n = 0;
    for (const char *l = strstr(text, bucket); l; l = strstr(l + 1, bucket)) {
        const char *le = l + strlen(bucket);
        const char *v = strchr(le, ' ');
        if (!v)
            break;
        double c = atof(v + 1);
        IT_CHECK(c >= prev, "%s: bucket %.*s (%.0f) below the previous one (%.0f)", name, (int)(v - le), le, c, prev);
        prev = c;
        n++;
        if (strncmp(le, "+Inf", 4) == 0)
            inf = c;
        else {
            last_le = atof(le);
            below_inf = c;
        }
    }
    char cname[128], sname[128];
    snprintf(cname, sizeof cname, "%s_count", name);
    snprintf(sname, sizeof sname, "%s_sum", name);
    double count = sample(text, cname), sum = sample(text, sname);
    IT_CHECK(n == 16, "%s: %d buckets, expected 15 bounds and +Inf", name, n);
    IT_CHECK(inf == count, "%s: +Inf bucket %.0f != _count %.0f", name, inf, count);
    IT_CHECK(sum >= 0, "%s: no _sum", name);
    if (inf == below_inf)
        IT_CHECK(sum <= count * last_le + 1e-6, "%s: _sum %.6f exceeds count x largest bound", name, sum);
    return count;
}

static void test_under_load(void)
{
    const char *counters[] = {"ringmux_queries_total", "ringmux_client_bytes_received_total",
                              "ringmux_client_bytes_sent_total", "ringmux_clients_accepted_total"};
    double before[4];
    char *t0 = it_metrics_text(&P);
    if (!t0) {
        IT_FAIL("no /metrics");
        return;
    }
    for (int i = 0; i < 4; i++)
        before[i] = sample(t0, counters[i]);
    double q0 = check_hist(t0, "ringmux_query_duration_seconds");
    free(t0);
    pthread_t th[CLIENTS];
    for (int i = 0; i < CLIENTS; i++)
        pthread_create(&th[i], NULL, client, NULL);
    double last[4];
    memcpy(last, before, sizeof last);
    for (int k = 0; k < 6; k++) { /* scrapes while the clients run */
        it_usleep(50000);
        char *t = it_metrics_text(&P);
        if (!t) {
            IT_FAIL("no /metrics during load");
            continue;
        }
        for (int i = 0; i < 4; i++) {
            double v = sample(t, counters[i]);
            IT_CHECK(v >= last[i], "%s went down: %.0f -> %.0f", counters[i], last[i], v);
            last[i] = v;
        }
        check_hist(t, "ringmux_query_duration_seconds");
        check_hist(t, "ringmux_query_database_duration_seconds");
        check_hist(t, "ringmux_borrow_wait_seconds");
        free(t);
    }
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);
    char *t = it_metrics_text(&P);
    if (!t)
        return;
    for (int i = 0; i < 4; i++)
        IT_CHECK(sample(t, counters[i]) > before[i], "%s did not move", counters[i]);
    double q = check_hist(t, "ringmux_query_duration_seconds");
    double qdb = check_hist(t, "ringmux_query_database_duration_seconds");
    double bw = check_hist(t, "ringmux_borrow_wait_seconds");
    IT_CHECK(q - q0 >= CLIENTS * QUERIES, "query histogram counted %.0f of %d statements", q - q0, CLIENTS * QUERIES);
    IT_CHECK(qdb == q && bw >= q, "db %.0f / total %.0f / borrow %.0f counts", qdb, q, bw);
    IT_CHECK(sample(t, "ringmux_query_database_duration_seconds_sum") <=
                 sample(t, "ringmux_query_duration_seconds_sum") + 1e-6,
             "database time exceeds total time");
    fprintf(stderr, "queries %.0f, total %.3f s, database %.3f s, borrow wait %.3f s\n", q,
            sample(t, "ringmux_query_duration_seconds_sum"), sample(t, "ringmux_query_database_duration_seconds_sum"),
            sample(t, "ringmux_borrow_wait_seconds_sum"));
    free(t);
}

static void test_pinned_gauge(void)
{
    double base = it_metric(&P, "ringmux_pinned_sessions");
    MYSQL *m = it_connect_proxy(&P, IT_DB);
    if (!m)
        return;
    it_query(m, "CREATE TEMPORARY TABLE metrics_pin (a INT)");
    IT_EQ_INT((long)it_metric(&P, "ringmux_pinned_sessions"), (long)base + 1);
    mysql_close(m);
    IT_EQ_INT((long)it_metric_wait(&P, "ringmux_pinned_sessions", base, 3), (long)base);
}

static void test_setup_failures(void)
{
    const char *series = "ringmux_client_setup_failures_total{reason=\"auth\"}";
    double a0 = it_metric(&P, series);
    struct it_error e;
    it_connect_error(P.host, P.port, IT_USER, "not-the-password", IT_DB, &e);
    IT_EQ_INT(e.code, 1045);
    IT_EQ_INT((long)it_metric_wait(&P, series, a0 + 1, 3), (long)a0 + 1);
}

int main(int argc, char **argv)
{
    it_watchdog(120);
    if (it_direct_mode()) {
        it_skip("test_metrics: the proxy's /metrics");
        return 0;
    }
    if (it_proxy_start(&P, NULL) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }
    static const struct it_case cases[] = {
        {"under load", test_under_load},
        {"pinned gauge", test_pinned_gauge},
        {"setup failures", test_setup_failures},
    };
    it_run_cases(argc, argv, cases, sizeof cases / sizeof cases[0], NULL);
    IT_EQ_INT(it_proxy_stop(&P), 0);
    return it_done();
}
