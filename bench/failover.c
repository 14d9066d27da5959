/* Failover load generator for scripts/bench-failover.sh: N clients write
 * (autocommit INSERT of a unique id) in a loop, each on its own connection,
 * and the time the primary is killed is marked by SIGUSR1, the end of the
 * replica's promotion by SIGUSR2.  Afterwards it
 * prints, as key=value lines, what the clients saw: the write outage per
 * client (the longest time between two of its successful writes, the later
 * one after the mark), how long after the promotion the last client wrote
 * again, errors, and client connections that broke.
 *
 *   failover --mode proxy     --host H --port P ...
 *       every client stays on one connection to the proxy; a broken
 *       connection (an error >= 2000) is counted and reopened to the same
 *       endpoint
 *   failover --mode reconnect --host H --port P --alt-port P2 ...
 *       what a failover-aware application does without a proxy (as
 *       Connector/J's sequential failover or a pool with a retry policy
 *       would): on a lost connection it reconnects, trying each server in
 *       turn until one accepts writes (read_only = 0), with exponential
 *       backoff between rounds (100 ms, doubling, at most 2 s)
 *
 * Other options: --user U --password PW --db DB --clients N (16)
 * --seconds S (total run, 12) --table T (failover_bench).  Table T must
 * exist (id BIGINT PRIMARY KEY). */
#include <errno.h>
#include <getopt.h>
#include <mysql.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *host = "127.0.0.1", *user = "rmtest", *password = "rmtest-pw", *db = "rmtest";
static const char *table = "failover_bench";
static int port, alt_port, n_clients = 16, seconds = 12;
static bool reconnect_mode;
static atomic_bool stop;
static _Atomic double mark;     /* when SIGUSR1 came: the primary is killed (0: not yet) */
static _Atomic double promoted; /* when SIGUSR2 came: the replica is promoted (0: not yet) */

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_usr(int sig)
{
    atomic_store(sig == SIGUSR1 ? &mark : &promoted, now());
}

struct client {
    int id;
    MYSQL *m;
    long ok, errors, broken, reconnects;
    double prev_ok;               /* time of its previous successful write */
    double max_gap;               /* longest time between two successful writes, the later one after the mark */
    double first_after_promotion; /* its first successful write after SIGUSR2 */
    char last_err[200];
};

static MYSQL *open_to(int p)
{
    MYSQL *m = mysql_init(NULL);
    if (!m)
        return NULL;
    unsigned int timeout = 1, proto = MYSQL_PROTOCOL_TCP;
    mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
    if (!mysql_real_connect(m, host, user, password, db, (unsigned)p, NULL, 0)) {
        mysql_close(m);
        return NULL;
    }
    return m;
}

/* A connection that takes writes: the proxy endpoint, or (reconnect mode)
 * whichever server is writable. */
static MYSQL *connect_writable(struct client *c)
{
    int ports[2] = {port, alt_port};
    useconds_t backoff = 100000;
    for (;;) {
        for (int i = 0; i < (reconnect_mode && alt_port ? 2 : 1); i++) {
            MYSQL *m = open_to(ports[i]);
            if (!m)
                continue;
            if (!reconnect_mode)
                return m;
            MYSQL_RES *r = NULL;
            MYSQL_ROW row;
            bool writable = mysql_query(m, "SELECT @@global.read_only") == 0 && (r = mysql_store_result(m)) &&
                            (row = mysql_fetch_row(r)) && row[0] && atoi(row[0]) == 0;
            if (r)
                mysql_free_result(r);
            if (writable)
                return m;
            mysql_close(m);
        }
        if (atomic_load(&stop))
            return NULL;
        c->reconnects++;
        usleep(backoff);
        if (backoff < 2000000)
            backoff *= 2;
    }
}

static void *run(void *arg)
{
    struct client *c = arg;
    char q[160];
    c->m = connect_writable(c);
    for (long i = 0; c->m && !atomic_load(&stop); i++) {
        snprintf(q, sizeof q, "INSERT INTO %s VALUES (%ld)", table, (long)c->id * 100000000L + i);
        int rc = mysql_query(c->m, q);
        double t = now(), k = atomic_load(&mark);
        if (rc == 0) {
            c->ok++;
            if (k > 0 && t > k && c->prev_ok > 0 && t - c->prev_ok > c->max_gap)
                c->max_gap = t - c->prev_ok;
            double pr = atomic_load(&promoted);
            if (pr > 0 && t > pr && c->first_after_promotion == 0)
                c->first_after_promotion = t;
            c->prev_ok = t;
            continue;
        }
        c->errors++;
        snprintf(c->last_err, sizeof c->last_err, "%u %s", mysql_errno(c->m), mysql_error(c->m));
        /* A broken connection (client-side error), or, without a proxy, a
         * server that no longer takes writes: reconnect. */
        if (mysql_errno(c->m) >= 2000 || (reconnect_mode && mysql_errno(c->m) == 1290)) {
            if (mysql_errno(c->m) >= 2000)
                c->broken++;
            mysql_close(c->m);
            c->m = connect_writable(c);
        }
    }
    if (c->m)
        mysql_close(c->m);
    return NULL;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"mode", required_argument, NULL, 'm'},
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'p'},
        {"alt-port", required_argument, NULL, 'a'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'w'},
        {"db", required_argument, NULL, 'd'},
        {"clients", required_argument, NULL, 'c'},
        {"seconds", required_argument, NULL, 's'},
        {"table", required_argument, NULL, 't'},
        {NULL, 0, NULL, 0},
    };
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'm': reconnect_mode = strcmp(optarg, "reconnect") == 0; break;
        case 'h': host = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'a': alt_port = atoi(optarg); break;
        case 'u': user = optarg; break;
        case 'w': password = optarg; break;
        case 'd': db = optarg; break;
        case 'c': n_clients = atoi(optarg); break;
        case 's': seconds = atoi(optarg); break;
        case 't': table = optarg; break;
        default: fprintf(stderr, "failover: bad option (see the comment at the top of bench/failover.c)\n"); return 2;
        }
    }
    if (port <= 0 || n_clients <= 0 || n_clients > 4096 || seconds <= 0) {
        fprintf(stderr, "failover: --port, --clients (1..4096) and --seconds are required\n");
        return 2;
    }
    signal(SIGUSR1, on_usr);
    signal(SIGUSR2, on_usr);
    mysql_library_init(0, NULL, NULL);
    struct client *cl = calloc((size_t)n_clients, sizeof(*cl));
    pthread_t *th = calloc((size_t)n_clients, sizeof(*th));
    if (!cl || !th)
        return 1;
    for (int i = 0; i < n_clients; i++) {
        cl[i].id = i + 1;
        pthread_create(&th[i], NULL, run, &cl[i]);
    }
    printf("ready=1\n");
    fflush(stdout);
    double end = now() + seconds;
    while (now() < end)
        usleep(50000);
    atomic_store(&stop, true);
    long ok = 0, errors = 0, broken = 0, reconnects = 0, stuck = 0;
    double *outage = calloc((size_t)n_clients, sizeof(double)), after_promo = 0;
    int n_out = 0;
    for (int i = 0; i < n_clients; i++) {
        pthread_join(th[i], NULL);
        ok += cl[i].ok;
        errors += cl[i].errors;
        broken += cl[i].broken;
        reconnects += cl[i].reconnects;
        if (cl[i].errors)
            fprintf(stderr, "client %d: %ld errors, last: %s\n", cl[i].id, cl[i].errors, cl[i].last_err);
        if (atomic_load(&mark) > 0) {
            if (cl[i].prev_ok <= atomic_load(&mark))
                stuck++; /* no write after the mark at all */
            else
                outage[n_out++] = cl[i].max_gap;
        }
        if (atomic_load(&promoted) > 0 && cl[i].first_after_promotion - atomic_load(&promoted) > after_promo)
            after_promo = cl[i].first_after_promotion - atomic_load(&promoted);
    }
    qsort(outage, (size_t)n_out, sizeof(double), cmp);
    printf("mode=%s\nclients=%d\nwrites_ok=%ld\nerrors=%ld\nbroken_connections=%ld\nreconnect_rounds=%ld\n"
           "clients_without_write_after=%ld\n",
           reconnect_mode ? "reconnect" : "proxy", n_clients, ok, errors, broken, reconnects, stuck);
    if (n_out)
        printf("outage_median_s=%.3f\noutage_max_s=%.3f\n", outage[n_out / 2], outage[n_out - 1]);
    if (atomic_load(&mark) > 0 && atomic_load(&promoted) > 0)
        printf("promotion_s=%.3f\nafter_promotion_max_s=%.3f\n", atomic_load(&promoted) - atomic_load(&mark),
               after_promo);
    free(outage);
    free(cl);
    free(th);
    mysql_library_end();
    return 0;
}
