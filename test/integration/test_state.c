/* Session-state isolation over a pool of 2 backend connections.
 *
 * Stateful clients switch between "profiles" - sql_mode, time_zone, schema
 * (USE or COM_INIT_DB), SET NAMES, autocommit, transaction isolation - while
 * default clients run alongside, all sharing two backend connections in a
 * random interleaving.  After every step each client probes its session
 * (SELECT @@sql_mode, @@time_zone, DATABASE(), @@character_set_client, ...,
 * plus behaviour that depends on the state: NOW() - UTC_TIMESTAMP(),
 * 'a' || 'b', CHARSET('x')) and must see exactly its own profile; default
 * clients must always see the defaults of a fresh direct connection.  The
 * expected probe of every profile is taken from a direct connection at
 * start, so nothing here hard-codes server formatting. */
#include "harness.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_STATEFUL 2
#define N_DEFAULT 4
#define N_ROUNDS 1000
#define MAX_BACKEND 2

static struct it_proxy P;

static const char PROBE[] =
    "SELECT @@sql_mode, @@time_zone, DATABASE(), @@character_set_client, "
    "@@character_set_results, @@collation_connection, @@autocommit, @@tx_isolation, "
    "TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW()), 'a' || 'b', CHARSET('x')";

/* A profile: the statements that establish it, from the defaults.  A
 * statement "INIT_DB x" is sent as COM_INIT_DB instead of a query. */
struct profile {
    const char *name;
    const char *stmts[8];
    long tz_offset; /* expected NOW() - UTC_TIMESTAMP() in seconds (not checked for
                     * the defaults, which follow the server's system zone) */
};

static const struct profile profiles[] = {
    {"defaults", {NULL}, 0},
    {"india/latin1/rc/ac0",
     {"SET SESSION sql_mode = 'PIPES_AS_CONCAT,NO_ENGINE_SUBSTITUTION'", "SET time_zone = '+05:30'",
      "USE mysql", "SET NAMES latin1", "SET autocommit = 0",
      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED", NULL},
     19800},
    {"brazil/utf8mb3/serializable",
     {"SET sql_mode = 'ANSI_QUOTES,STRICT_ALL_TABLES'", "SET @@session.time_zone = '-03:00'",
      "INIT_DB information_schema", "SET NAMES utf8", "SET tx_isolation = 'SERIALIZABLE'", NULL},
     -10800},
    {"utc/utf8mb4_bin/ru/ac0",
     {"SET SESSION sql_mode = ''", "SET time_zone = '+00:00'", "USE rmtest",
      "SET NAMES utf8mb4 COLLATE utf8mb4_bin", "SET SESSION autocommit = OFF",
      "SET SESSION tx_isolation = 'READ-UNCOMMITTED'", NULL},
     0},
    {"nepal/latin1/ac1",
     {"SET sql_mode = 'PIPES_AS_CONCAT'", "SET time_zone = '+05:45'", "INIT_DB mysql",
      "SET NAMES latin1", "SET autocommit = 1", NULL},
     20700},
};
#define N_PROFILES ((int)(sizeof profiles / sizeof profiles[0]))

static char *expected[N_PROFILES]; /* probe text per profile, from a direct connection */
static char default_db_probe[64];  /* DATABASE() of the defaults */
static atomic_long g_probes;

/* Run the probe; returns malloc'd "v1|v2|..." or NULL (failure recorded). */
static char *probe(MYSQL *m, const char *who)
{
    if (mysql_real_query(m, PROBE, sizeof PROBE - 1) != 0) {
        IT_FAIL("%s: probe failed: %u (%s) %s", who, mysql_errno(m), mysql_sqlstate(m),
                mysql_error(m));
        return NULL;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = r ? mysql_fetch_row(r) : NULL;
    if (!row) {
        IT_FAIL("%s: probe returned no row: %s", who, mysql_error(m));
        if (r)
            mysql_free_result(r);
        return NULL;
    }
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    for (unsigned i = 0; i < mysql_num_fields(r); i++)
        fprintf(f, "%s%s", i ? "|" : "", row[i] ? row[i] : "NULL");
    fclose(f);
    mysql_free_result(r);
    atomic_fetch_add(&g_probes, 1);
    return out;
}

/* Apply profile statements to m; 0 on success. */
static int apply(MYSQL *m, const struct profile *pr, const char *who)
{
    for (int i = 0; pr->stmts[i]; i++) {
        const char *s = pr->stmts[i];
        if (strncmp(s, "INIT_DB ", 8) == 0) {
            if (!IT_MYSQL_OK(m, mysql_select_db(m, s + 8))) {
                IT_FAIL("%s: applying profile %s", who, pr->name);
                return -1;
            }
        } else if (it_query(m, s) != 0) {
            IT_FAIL("%s: applying profile %s", who, pr->name);
            return -1;
        }
    }
    return 0;
}

/* The probe text with the DATABASE() field (3rd) replaced by db. */
static char *with_db(const char *probe_text, const char *db)
{
    const char *p1 = strchr(probe_text, '|');
    const char *p2 = p1 ? strchr(p1 + 1, '|') : NULL;
    const char *p3 = p2 ? strchr(p2 + 1, '|') : NULL;
    if (!p3)
        return strdup(probe_text);
    char *out;
    if (asprintf(&out, "%.*s|%s%s", (int)(p2 - probe_text), probe_text, db, p3) < 0)
        abort();
    return out;
}

struct client {
    int id;
    bool stateful;
    unsigned int rng;
    MYSQL *m;
    int profile;  /* current profile */
    char *expect; /* expected probe (owned) */
    int switches, resets;
    pthread_t thread;
};

static void set_expect(struct client *c, char *e)
{
    free(c->expect);
    c->expect = e;
}

/* A stateful client's next move: switch profile, reset, or stay. */
static void maybe_switch(struct client *c, char *who)
{
    unsigned r = it_rand(&c->rng) % 16;
    if (r == 0) {
        /* COM_RESET_CONNECTION: back to the defaults, schema kept. */
        char db[64];
        const char *e = c->expect, *p1 = strchr(e, '|'), *p2 = p1 ? strchr(p1 + 1, '|') : NULL,
                   *p3 = p2 ? strchr(p2 + 1, '|') : NULL;
        snprintf(db, sizeof db, "%.*s", p3 ? (int)(p3 - p2 - 1) : 0, p2 ? p2 + 1 : "");
        if (!IT_MYSQL_OK(c->m, mysql_reset_connection(c->m)))
            return;
        c->profile = 0;
        set_expect(c, with_db(expected[0], db));
        c->resets++;
    } else if (r <= 3) {
        int np = 1 + (int)(it_rand(&c->rng) % (unsigned)(N_PROFILES - 1));
        /* End any open transaction first so a COMMIT/ROLLBACK-free switch
         * of autocommit does not commit implicitly in one run and not in
         * another. */
        it_query(c->m, "COMMIT");
        /* From defaults, so the expected probe is exactly the profile's. */
        if (!IT_MYSQL_OK(c->m, mysql_reset_connection(c->m)))
            return;
        if (apply(c->m, &profiles[np], who) != 0)
            return;
        c->profile = np;
        set_expect(c, strdup(expected[np]));
        c->switches++;
    }
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    char who[64];
    snprintf(who, sizeof who, "%s client %d", c->stateful ? "stateful" : "default", c->id);
    c->rng = it_seed() ^ (unsigned)(c->id * 0x9e3779b1u);
    c->m = it_connect_proxy(&P, IT_DB);
    if (!c->m)
        return NULL;
    c->profile = 0;
    c->expect = strdup(expected[0]);
    if (c->stateful) {
        c->profile = 1 + c->id % (N_PROFILES - 1);
        apply(c->m, &profiles[c->profile], who);
        set_expect(c, strdup(expected[c->profile]));
    }
    for (int round = 0; round < N_ROUNDS && it_failures() < 50; round++) {
        it_usleep((long)(it_rand(&c->rng) % 1500));
        if (c->stateful)
            maybe_switch(c, who);
        unsigned what = it_rand(&c->rng) % 4;
        if (what == 0) {
            /* Keep the backends busy with something else in between. */
            long long n = it_scalar_int(c->m, "SELECT COUNT(*) FROM rmtest.seq_1_to_2000");
            IT_EQ_INT(n, 2000);
        }
        char *got = probe(c->m, who);
        if (!got)
            break;
        IT_CHECK(strcmp(got, c->expect) == 0,
                 "%s round %d (profile %s): session state leaked\n    got:      %s\n"
                 "    expected: %s",
                 who, round, profiles[c->profile].name, got, c->expect);
        free(got);
        /* autocommit=0 profiles: end the transaction (if any) most of the
         * time, so the backend goes back to the pool; sometimes keep it
         * open across rounds. */
        if (c->stateful && it_rand(&c->rng) % 4 != 0)
            it_query(c->m, it_rand(&c->rng) % 2 ? "COMMIT" : "ROLLBACK");
    }
    /* Finally, back to defaults through COM_RESET_CONNECTION + INIT_DB. */
    if (c->stateful) {
        IT_MYSQL_OK(c->m, mysql_reset_connection(c->m));
        IT_MYSQL_OK(c->m, mysql_select_db(c->m, default_db_probe));
        char *got = probe(c->m, who);
        if (got) {
            IT_CHECK(strcmp(got, expected[0]) == 0,
                     "%s: after reset + INIT_DB got %s, expected defaults %s", who, got,
                     expected[0]);
            free(got);
        }
    }
    mysql_close(c->m);
    c->m = NULL;
    return NULL;
}

/* A client that changes time_zone, then checks NOW() against UTC_TIMESTAMP
 * and FROM_UNIXTIME against a fixed instant, while another client with the
 * default time zone runs in between. */
static void test_time_zone(void)
{
    MYSQL *a = it_connect_proxy(&P, IT_DB);
    MYSQL *b = it_connect_proxy(&P, IT_DB);
    MYSQL *d = it_connect_direct(IT_DB);
    if (!a || !b || !d)
        goto out;
    long long base = it_scalar_int(d, "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())");
    char dflt_fmt[64], got[64];
    it_scalar(d, "SELECT FROM_UNIXTIME(1700000000)", dflt_fmt, sizeof dflt_fmt);
    static const struct {
        const char *tz;
        long offset;
        const char *at1700000000;
    } zones[] = {
        {"+10:00", 36000, "2023-11-15 08:13:20"},
        {"-07:30", -27000, "2023-11-14 14:43:20"},
        {"+00:00", 0, "2023-11-14 22:13:20"},
        {"+12:45", 45900, "2023-11-15 10:58:20"},
    };
    for (int round = 0; round < 40; round++) {
        int z = round % 4;
        it_queryf(a, "SET time_zone = '%s'", zones[z].tz);
        for (int k = 0; k < 3; k++) {
            IT_EQ_INT(it_scalar_int(b, "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())"),
                      base);
            if (it_scalar(b, "SELECT FROM_UNIXTIME(1700000000)", got, sizeof got) >= 0)
                IT_EQ_STR(got, dflt_fmt);
            IT_EQ_INT(it_scalar_int(a, "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), NOW())"),
                      zones[z].offset);
            if (it_scalar(a, "SELECT FROM_UNIXTIME(1700000000)", got, sizeof got) >= 0)
                IT_EQ_STR(got, zones[z].at1700000000);
            if (it_scalar(a, "SELECT @@time_zone", got, sizeof got) >= 0)
                IT_EQ_STR(got, zones[z].tz);
        }
    }
out:
    if (a)
        mysql_close(a);
    if (b)
        mysql_close(b);
    if (d)
        mysql_close(d);
}

int main(void)
{
    it_watchdog(240);
    char pool[128];
    snprintf(pool, sizeof pool, "max_backend_connections = %d\n", MAX_BACKEND);
    if (it_proxy_start(&P, pool) != 0) {
        IT_FAIL("proxy did not start");
        return it_done();
    }

    /* Expected probes, each from its own fresh direct connection. */
    for (int i = 0; i < N_PROFILES; i++) {
        MYSQL *d = it_connect_direct(IT_DB);
        if (!d)
            break;
        if (apply(d, &profiles[i], "direct") == 0)
            expected[i] = probe(d, "direct");
        mysql_close(d);
        if (!expected[i])
            break;
        fprintf(stderr, "profile %-28s %s\n", profiles[i].name, expected[i]);
    }
    bool have_all = true;
    for (int i = 0; i < N_PROFILES; i++)
        have_all = have_all && expected[i];
    if (have_all) {
        const char *p1 = strchr(expected[0], '|'), *p2 = strchr(p1 + 1, '|'),
                   *p3 = strchr(p2 + 1, '|');
        snprintf(default_db_probe, sizeof default_db_probe, "%.*s", (int)(p3 - p2 - 1), p2 + 1);
        /* Sanity of the expectations themselves: the profiles differ from
         * the defaults and really have their time zone offset. */
        for (int i = 1; i < N_PROFILES; i++) {
            IT_CHECK(strcmp(expected[i], expected[0]) != 0, "profile %s equals the defaults",
                     profiles[i].name);
            const char *f = expected[i];
            for (int k = 0; k < 8 && f; k++) {
                f = strchr(f, '|');
                if (f)
                    f++;
            }
            IT_CHECK(f && strtol(f, NULL, 10) == profiles[i].tz_offset,
                     "profile %s: probe %s does not show offset %ld", profiles[i].name, expected[i],
                     profiles[i].tz_offset);
        }

        struct client clients[N_STATEFUL + N_DEFAULT];
        memset(clients, 0, sizeof clients);
        for (int i = 0; i < N_STATEFUL + N_DEFAULT; i++) {
            clients[i].id = i;
            clients[i].stateful = i < N_STATEFUL;
            pthread_create(&clients[i].thread, NULL, client_main, &clients[i]);
        }
        for (int i = 0; i < N_STATEFUL + N_DEFAULT; i++) {
            pthread_join(clients[i].thread, NULL);
            if (clients[i].stateful)
                fprintf(stderr, "stateful client %d: %d profile switches, %d resets\n", i,
                        clients[i].switches, clients[i].resets);
            free(clients[i].expect);
        }
        fprintf(stderr, "%ld probes\n", atomic_load(&g_probes));
        IT_CHECK(atomic_load(&g_probes) >= (N_STATEFUL + N_DEFAULT) * N_ROUNDS,
                 "only %ld probes ran", atomic_load(&g_probes));

        test_time_zone();
    } else {
        IT_FAIL("could not compute the expected session states");
    }

    if (it_direct_mode()) {
        it_skip("backend connection limit and pin metrics");
    } else {
        /* The pool never holds more than MAX_BACKEND conns at once; with two
         * workers sharing two slots and clients sitting in transactions, a
         * starving worker may take a slot over (close + reopen), so a few
         * more than MAX_BACKEND may have been opened in total. */
        double open_now = it_metric(&P, "ringmux_backend_connections");
        IT_CHECK(open_now >= 0 && open_now <= MAX_BACKEND, "ringmux_backend_connections = %g, limit %d",
                 open_now, MAX_BACKEND);
        double opened = it_metric(&P, "ringmux_backend_connections_opened_total");
        IT_CHECK(opened >= 1 && opened <= 4 * MAX_BACKEND,
                 "ringmux_backend_connections_opened_total = %g, expected 1..%d", opened,
                 4 * MAX_BACKEND);
        double pins = it_metric_sum(&P, "ringmux_pins_total");
        IT_CHECK(pins <= 0,
                 "ringmux_pins_total sums to %g: tracked state must be replayed, "
                 "not pinned",
                 pins);
        if (pins > 0) {
            char *txt = it_metrics_text(&P);
            fprintf(stderr, "%s\n", txt ? txt : "(no metrics)");
            free(txt);
        }
    }
    for (int i = 0; i < N_PROFILES; i++)
        free(expected[i]);
    IT_CHECK(it_proxy_alive(&P), "proxy died during the test");
    IT_CHECK(it_proxy_stop(&P) == 0, "proxy did not shut down cleanly");
    return it_done();
}
