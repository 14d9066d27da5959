/* idle: many idle client connections, for measuring a proxy's memory per
 * client session.
 *
 *   idle --host H --port P --user U --password PW [--db DB]
 *        [--clients N (10000)] [--threads T (8)] [--hold SEC (10)]
 *        [--query SQL ("SELECT 1")] [--ready-file PATH]
 *
 * Phases:
 *   1. connect: T threads each open their share of the N connections one
 *      after the other (mysql_real_connect), run --query once on each and
 *      keep the connection open;
 *   2. hold: with every connection open and idle, write "connected=<n>" to
 *      --ready-file (if given) and print "READY connected=<n>", then sleep
 *      --hold seconds; a driver script samples the proxy's memory now;
 *   3. verify: run --query again on every connection still open, to show
 *      the connections survived the idle period;
 *   4. close all.
 *
 * RLIMIT_NOFILE is raised to N + 64 (the hard limit too when running as
 * root); if that is impossible the run goes on and the connects that hit
 * the limit count as errors.
 *
 * The last line of stdout is machine-readable:
 *   RESULT clients=N connected=... queried=... alive_after_hold=...
 *          errors=... connect_s=...
 * Exit status: 0 if every client connected, queried and survived the hold;
 * 1 otherwise; 2 on bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <mysql.h>

#define MAX_THREADS 1024

struct options {
    const char *host, *user, *password, *db, *query, *ready_file;
    unsigned port;
    int clients, threads;
    double hold;
};

/* One thread's contiguous slice [lo, hi) of the connection array, and the
 * counters of the phase it is running. */
struct slice {
    pthread_t tid;
    int lo, hi;
    int ok_connect, ok_query, ok_verify, errors;
    unsigned first_err_code;
    char first_err[200];
};

static struct options g_opt;
static MYSQL **g_conns; /* g_opt.clients handles; NULL = not connected */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Remember the first error a slice saw (for the report) and count it. */
static void slice_error(struct slice *s, unsigned code, const char *msg)
{
    if (s->errors++ == 0) {
        s->first_err_code = code;
        snprintf(s->first_err, sizeof(s->first_err), "%s", msg ? msg : "");
    }
}

/* Run g_opt.query on m and drain all its results; true on success. */
static bool run_query(MYSQL *m)
{
    if (mysql_query(m, g_opt.query) != 0)
        return false;
    do {
        MYSQL_RES *r = mysql_store_result(m);
        if (r)
            mysql_free_result(r);
        else if (mysql_field_count(m) != 0)
            return false;
    } while (mysql_next_result(m) == 0);
    return mysql_errno(m) == 0;
}

/* Phase 1 thread: open and query every connection of the slice.  A handle
 * that fails to connect or query is closed and left NULL. */
static void *connect_slice(void *arg)
{
    struct slice *s = arg;
    mysql_thread_init();
    for (int i = s->lo; i < s->hi; i++) {
        MYSQL *m = mysql_init(NULL);
        if (!m) {
            slice_error(s, 0, "mysql_init: out of memory");
            continue;
        }
        unsigned ct = 10, rt = 60;
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &ct);
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &rt);
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &rt);
        if (!mysql_real_connect(m, g_opt.host, g_opt.user, g_opt.password, g_opt.db, g_opt.port,
                                NULL, 0)) {
            slice_error(s, mysql_errno(m), mysql_error(m));
            mysql_close(m);
            continue;
        }
        s->ok_connect++;
        if (!run_query(m)) {
            slice_error(s, mysql_errno(m), mysql_error(m));
            mysql_close(m);
            continue;
        }
        s->ok_query++;
        g_conns[i] = m;
    }
    mysql_thread_end();
    return NULL;
}

/* Phase 3 thread: query every open connection of the slice again. */
static void *verify_slice(void *arg)
{
    struct slice *s = arg;
    mysql_thread_init();
    for (int i = s->lo; i < s->hi; i++) {
        if (!g_conns[i])
            continue;
        if (run_query(g_conns[i]))
            s->ok_verify++;
        else
            slice_error(s, mysql_errno(g_conns[i]), mysql_error(g_conns[i]));
    }
    mysql_thread_end();
    return NULL;
}

/* Run fn on every slice in its own thread and wait for all; returns the
 * number of threads that could not be started (their slices are skipped). */
static int run_phase(struct slice *sl, int n, void *(*fn)(void *))
{
    int failed = 0;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&sl[i].tid, NULL, fn, &sl[i]) != 0) {
            sl[i].tid = 0;
            failed++;
        }
    }
    for (int i = 0; i < n; i++)
        if (sl[i].tid)
            pthread_join(sl[i].tid, NULL);
    return failed;
}

/* Raise RLIMIT_NOFILE so that `need` descriptors fit; prints what it did.
 * Returns 0 when the limit is now large enough, -1 otherwise. */
static int raise_nofile(rlim_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    if (rl.rlim_cur >= need)
        return 0;
    if (rl.rlim_max < need) {
        struct rlimit want = {need, need};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) {
            printf("idle: RLIMIT_NOFILE raised to %lu\n", (unsigned long)need);
            return 0;
        }
        fprintf(stderr, "idle: cannot raise RLIMIT_NOFILE hard limit %lu to %lu (%s); "
                        "run as root or raise `ulimit -Hn`\n",
                (unsigned long)rl.rlim_max, (unsigned long)need, strerror(errno));
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        return -1;
    }
    rl.rlim_cur = need;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
        return -1;
    printf("idle: RLIMIT_NOFILE raised to %lu\n", (unsigned long)need);
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: idle --host H --port P --user U --password PW [--db DB]\n"
               "            [--clients N (10000)] [--threads T (8)] [--hold SEC (10)]\n"
               "            [--query SQL (SELECT 1)] [--ready-file PATH]\n");
}

/* Parse argv into g_opt; returns 0, or -1 after printing the problem. */
static int parse_args(int argc, char **argv)
{
    static const struct option lo[] = {
        {"host", required_argument, NULL, 'h'},    {"port", required_argument, NULL, 'P'},
        {"user", required_argument, NULL, 'u'},    {"password", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},      {"clients", required_argument, NULL, 'n'},
        {"threads", required_argument, NULL, 't'}, {"hold", required_argument, NULL, 's'},
        {"query", required_argument, NULL, 'q'},   {"ready-file", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'H'},          {NULL, 0, NULL, 0},
    };
    g_opt = (struct options){.host = "127.0.0.1", .port = 3306, .user = "root", .password = "",
                             .query = "SELECT 1", .clients = 10000, .threads = 8, .hold = 10};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'h': g_opt.host = optarg; break;
        case 'P':
            g_opt.port = (unsigned)strtoul(optarg, &end, 10);
            if (*end || g_opt.port == 0 || g_opt.port > 65535) {
                fprintf(stderr, "idle: bad --port '%s'\n", optarg);
                return -1;
            }
            break;
        case 'u': g_opt.user = optarg; break;
        case 'p': g_opt.password = optarg; break;
        case 'd': g_opt.db = optarg; break;
        case 'n':
            g_opt.clients = (int)strtol(optarg, &end, 10);
            if (*end || g_opt.clients < 1 || g_opt.clients > 1000000) {
                fprintf(stderr, "idle: --clients must be 1..1000000\n");
                return -1;
            }
            break;
        case 't':
            g_opt.threads = (int)strtol(optarg, &end, 10);
            if (*end || g_opt.threads < 1 || g_opt.threads > MAX_THREADS) {
                fprintf(stderr, "idle: --threads must be 1..%d\n", MAX_THREADS);
                return -1;
            }
            break;
        case 's':
            g_opt.hold = strtod(optarg, &end);
            if (*end || g_opt.hold < 0) {
                fprintf(stderr, "idle: bad --hold '%s'\n", optarg);
                return -1;
            }
            break;
        case 'q': g_opt.query = optarg; break;
        case 'r': g_opt.ready_file = optarg; break;
        case 'H': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    if (g_opt.threads > g_opt.clients)
        g_opt.threads = g_opt.clients;
    return 0;
}

/* Write "connected=<n>\n" to path atomically (temp file + rename), so a
 * polling reader never sees a partial file. */
static void write_ready(const char *path, int connected)
{
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "idle: cannot write %s: %s\n", tmp, strerror(errno));
        return;
    }
    fprintf(f, "connected=%d\n", connected);
    fclose(f);
    if (rename(tmp, path) < 0)
        fprintf(stderr, "idle: cannot rename %s: %s\n", tmp, strerror(errno));
}

/* Sum the counters of all slices and print the first error seen, if any. */
static void summarize(const struct slice *sl, int n, int *conn, int *query, int *verify, int *errors)
{
    *conn = *query = *verify = *errors = 0;
    bool shown = false;
    for (int i = 0; i < n; i++) {
        *conn += sl[i].ok_connect;
        *query += sl[i].ok_query;
        *verify += sl[i].ok_verify;
        *errors += sl[i].errors;
        if (sl[i].errors && !shown) {
            printf("  error %u: %s (the first one seen)\n", sl[i].first_err_code, sl[i].first_err);
            shown = true;
        }
    }
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) < 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    raise_nofile((rlim_t)g_opt.clients + 64);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "idle: mysql_library_init failed\n");
        return 1;
    }
    g_conns = calloc((size_t)g_opt.clients, sizeof(*g_conns));
    struct slice *sl = calloc((size_t)g_opt.threads, sizeof(*sl));
    if (!g_conns || !sl) {
        fprintf(stderr, "idle: out of memory\n");
        return 1;
    }
    int per = g_opt.clients / g_opt.threads, extra = g_opt.clients % g_opt.threads, at = 0;
    for (int i = 0; i < g_opt.threads; i++) {
        sl[i].lo = at;
        at += per + (i < extra);
        sl[i].hi = at;
    }
    printf("idle: %d clients via %d threads to %s:%u, hold %.1f s\n", g_opt.clients,
           g_opt.threads, g_opt.host, g_opt.port, g_opt.hold);

    /* 1. connect + query */
    double t0 = now_s();
    if (run_phase(sl, g_opt.threads, connect_slice))
        fprintf(stderr, "idle: some connect threads could not be started\n");
    double connect_s = now_s() - t0;
    int conn, query, verify, errors;
    summarize(sl, g_opt.threads, &conn, &query, &verify, &errors);
    printf("connected %d, queried %d of %d in %.2f s (%d errors)\n", conn, query, g_opt.clients,
           connect_s, errors);

    /* 2. hold, idle */
    if (g_opt.ready_file)
        write_ready(g_opt.ready_file, query);
    printf("READY connected=%d\n", query);
    struct timespec hold = {(time_t)g_opt.hold,
                            (long)((g_opt.hold - (double)(time_t)g_opt.hold) * 1e9)};
    while (nanosleep(&hold, &hold) < 0 && errno == EINTR)
        ;

    /* 3. verify */
    for (int i = 0; i < g_opt.threads; i++)
        sl[i].errors = 0;
    run_phase(sl, g_opt.threads, verify_slice);
    int conn2, query2, verify_errors;
    summarize(sl, g_opt.threads, &conn2, &query2, &verify, &verify_errors);
    printf("alive after %.1f s idle: %d of %d (%d errors)\n", g_opt.hold, verify, query,
           verify_errors);

    /* 4. close */
    for (int i = 0; i < g_opt.clients; i++)
        if (g_conns[i])
            mysql_close(g_conns[i]);
    printf("RESULT clients=%d connected=%d queried=%d alive_after_hold=%d errors=%d connect_s=%.2f\n",
           g_opt.clients, conn, query, verify, errors + verify_errors, connect_s);
    free(g_conns);
    free(sl);
    mysql_library_end();
    return (query == g_opt.clients && verify == g_opt.clients) ? 0 : 1;
}
