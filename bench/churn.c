/* churn: connection-churn load generator for ringmux benchmarks.
 *
 * N threads run for D seconds; each loop iteration opens a new connection,
 * runs one query, reads its result and closes the connection.  The tool
 * reports completed connections per second, p50/p95/p99 of the
 * connect+query latency (start of the connect to the last result row; the
 * close is not timed) and of the connect alone (until the server's OK after
 * authentication), and errors by error code.
 *
 *   churn --host H --port P --user U --password PW [--db DB]
 *         [--threads N] [--duration SEC] [--query select1|point|SQL]
 *         [--table-size ROWS] [--ssl | --tls [--tls-resume]]
 *
 * --query select1 (default) sends "SELECT 1"; --query point sends a
 * sysbench-style point select "SELECT c FROM sbtest1 WHERE id=<random>"
 * with id in 1..--table-size; anything else is sent verbatim.
 *
 * Connection modes:
 *   (default)  libmariadb (mysql_real_connect / mysql_query / mysql_close),
 *              plain TCP.
 *   --ssl      libmariadb with TLS enforced (certificate not verified).
 *              CLIENT-BOUND: libmariadb builds a fresh OpenSSL SSL_CTX for
 *              every connection, which costs the client ~35 ms of CPU per
 *              connection, so with few client cores this measures the
 *              client library rather than the server or proxy.
 *   --tls      the MySQL protocol written by hand over wolfSSL, with one
 *              WOLFSSL_CTX per thread made once: TCP connect, server
 *              greeting, SSL request, TLS handshake (TLS 1.2+, certificate
 *              not verified), HandshakeResponse41 with
 *              mysql_native_password (an auth switch to it is followed),
 *              COM_QUERY, result set, COM_QUIT.  Only text result sets and
 *              packets below 16 MiB; LOCAL INFILE and other auth plugins are
 *              errors.  Use this one to load a server or proxy with TLS
 *              connection churn.
 *   --tls-resume  implies --tls: each thread keeps the session of its
 *              previous connection (a TLS 1.2 session id or TLS 1.3 ticket)
 *              and offers it on the next connect; the report counts the
 *              connections whose handshake resumed.
 *
 * Besides the human-readable report, the last line of stdout is one
 * machine-readable line for scripts:
 *   RESULT conns=... errors=... elapsed_s=... conn_per_sec=...
 *          p50_ms=... p95_ms=... p99_ms=... connect_p95_ms=...
 * followed, in --tls mode only, by " resumed=N" (completed connections
 * whose TLS handshake resumed a session).
 * Exit status: 0 if at least one iteration succeeded, 1 otherwise, 2 on
 * bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/sha.h>

#include <errmsg.h>
#include <mysql.h>

#include "tls_client.h"

#define MAX_THREADS   4096
#define MAX_ERR_KINDS 16

struct options {
    const char *host, *user, *password, *db, *query;
    unsigned port;
    int threads;
    double duration;
    unsigned table_size;
    bool point;                   /* --query point */
    bool ssl;                     /* --ssl: libmariadb with TLS (certificate not verified); client-bound */
    bool tls;                     /* --tls: hand-written protocol over wolfSSL */
    bool tls_resume;              /* --tls-resume: offer the previous connection's TLS session */
    struct sockaddr_storage addr; /* --tls: host:port, resolved once */
    socklen_t addr_len;
};

/* Growable array of latency samples in microseconds. */
struct samples {
    uint32_t *v;
    size_t n, cap;
};

struct thread_ctx {
    pthread_t tid;
    int index;
    const struct options *opt;
    struct samples total;   /* connect + query (close not timed) */
    struct samples connect; /* mysql_real_connect alone */
    uint64_t errors;
    uint64_t resumed; /* --tls: completed connections whose handshake resumed */
};

/* Errors grouped by code, with the first message seen for each code. */
struct err_kind {
    unsigned code;
    uint64_t count;
    char msg[200];
};

static struct err_kind g_errs[MAX_ERR_KINDS];
static int g_n_errs;
static uint64_t g_errs_other; /* errors whose code did not fit the table */
static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static double g_deadline; /* monotonic seconds when threads stop */

/* Monotonic clock in seconds. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Append one sample; on allocation failure the sample is dropped (the run
 * keeps going, percentiles then cover fewer samples). */
static void samples_add(struct samples *s, double seconds)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 4096;
        uint32_t *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return;
        s->v = v;
        s->cap = cap;
    }
    double us = seconds * 1e6;
    s->v[s->n++] = us > 4e9 ? UINT32_MAX : (uint32_t)us;
}

/* Record one failed iteration under its client/server error code. */
static void record_error(struct thread_ctx *t, unsigned code, const char *msg)
{
    t->errors++;
    pthread_mutex_lock(&g_err_lock);
    int i;
    for (i = 0; i < g_n_errs; i++)
        if (g_errs[i].code == code)
            break;
    if (i == g_n_errs) {
        if (g_n_errs == MAX_ERR_KINDS) {
            g_errs_other++;
            pthread_mutex_unlock(&g_err_lock);
            return;
        }
        g_errs[i].code = code;
        snprintf(g_errs[i].msg, sizeof(g_errs[i].msg), "%s", msg ? msg : "");
        g_n_errs++;
    }
    g_errs[i].count++;
    pthread_mutex_unlock(&g_err_lock);
}

/* Thread body for --tls. */
static void *worker_tls(void *arg)
{
    struct thread_ctx *t = arg;
    const struct options *o = t->opt;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(t->index * 2654435761u);
    char sql[256];
    WOLFSSL_SESSION *sess = NULL; /* --tls-resume: offered on the next connect */

    struct tc_target tgt = {.addr = o->addr,
                            .addr_len = o->addr_len,
                            .host = o->host,
                            .user = o->user,
                            .password = o->password,
                            .db = o->db};
    WOLFSSL_CTX *ctx = tc_thread_ctx();
    struct tconn *c = calloc(1, sizeof(*c));
    if (!ctx || !c) {
        record_error(t, CR_OUT_OF_MEMORY, "cannot create the wolfSSL context");
        goto out;
    }
    c->fd = -1;
    while (now_s() < g_deadline) {
        double t0 = now_s();
        c->seq = 0;
        c->rpos = c->rlen = 0;
        if (tc_connect(c, &tgt, ctx, sess) < 0) {
            record_error(t, c->err_code, c->err);
            tc_close(c, false);
            if (sess) { /* do not retry a session the failed attempt may have spoilt */
                wolfSSL_SESSION_free(sess);
                sess = NULL;
            }
            continue;
        }
        double t1 = now_s();
        bool resumed = wolfSSL_session_reused(c->ssl) != 0;
        const char *q = o->query;
        if (o->point) {
            snprintf(sql, sizeof(sql), "SELECT c FROM sbtest1 WHERE id=%u",
                     1 + (unsigned)rand_r(&seed) % o->table_size);
            q = sql;
        }
        if (tc_query(c, q) < 0) {
            record_error(t, c->err_code, c->err);
            tc_close(c, c->server_err); /* after an ERR the session is still in step */
            continue;
        }
        double t2 = now_s();
        if (o->tls_resume) {
            /* After reading data, so a TLS 1.3 ticket has arrived. */
            WOLFSSL_SESSION *s = wolfSSL_get1_session(c->ssl);
            if (s && !wolfSSL_SESSION_is_resumable(s)) {
                wolfSSL_SESSION_free(s);
                s = NULL;
            }
            if (s) {
                if (sess)
                    wolfSSL_SESSION_free(sess);
                sess = s;
            }
        }
        tc_close(c, true);
        samples_add(&t->connect, t1 - t0);
        samples_add(&t->total, t2 - t0);
        if (resumed)
            t->resumed++;
    }
out:
    if (sess)
        wolfSSL_SESSION_free(sess);
    if (c) {
        tc_close(c, false);
        free(c->pkt);
        free(c->wbuf);
        free(c);
    }
    wolfSSL_CTX_free(ctx);
    wc_ecc_fp_free(); /* FP_ECC keeps a per-thread table of precomputed points */
    return NULL;
}

/* Thread body for libmariadb (default and --ssl): loop connect / query /
 * close until the global deadline.
 * Each thread has its own MYSQL handle per iteration and its own sample
 * arrays, so no locking happens on the success path. */
static void *worker_lib(void *arg)
{
    struct thread_ctx *t = arg;
    const struct options *o = t->opt;
    unsigned seed = (unsigned)time(NULL) ^ (unsigned)(t->index * 2654435761u);
    char sql[256];

    if (mysql_thread_init() != 0) {
        record_error(t, 0, "mysql_thread_init failed");
        return NULL;
    }
    while (now_s() < g_deadline) {
        double t0 = now_s();
        MYSQL *m = mysql_init(NULL);
        if (!m) {
            record_error(t, 0, "mysql_init: out of memory");
            continue;
        }
        unsigned timeout = 10;
        mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_options(m, MYSQL_OPT_READ_TIMEOUT, &timeout);
        mysql_options(m, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
        if (o->ssl) {
            my_bool on = 1;
            mysql_options(m, MYSQL_OPT_SSL_ENFORCE, &on);
        }
        if (!mysql_real_connect(m, o->host, o->user, o->password, o->db, o->port, NULL, 0)) {
            record_error(t, mysql_errno(m), mysql_error(m));
            mysql_close(m);
            continue;
        }
        double t1 = now_s();
        const char *q = o->query;
        if (o->point) {
            snprintf(sql, sizeof(sql), "SELECT c FROM sbtest1 WHERE id=%u",
                     1 + (unsigned)rand_r(&seed) % o->table_size);
            q = sql;
        }
        bool ok = mysql_query(m, q) == 0;
        if (ok) {
            /* Drain every result (a verbatim query may be a multi-result). */
            do {
                MYSQL_RES *r = mysql_store_result(m);
                if (r)
                    mysql_free_result(r);
                else if (mysql_field_count(m) != 0) {
                    ok = false;
                    break;
                }
            } while (mysql_next_result(m) == 0);
            if (mysql_errno(m) != 0)
                ok = false;
        }
        if (!ok) {
            record_error(t, mysql_errno(m), mysql_error(m));
            mysql_close(m);
            continue;
        }
        double t2 = now_s();
        mysql_close(m);
        samples_add(&t->connect, t1 - t0);
        samples_add(&t->total, t2 - t0);
    }
    mysql_thread_end();
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile p (0..100) of sorted v[0..n), in milliseconds;
 * 0 when n is 0. */
static double pct_ms(const uint32_t *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t rank = (size_t)((p / 100.0) * (double)n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return v[rank - 1] / 1000.0;
}

/* Concatenate every thread's samples of one kind (which = 0: total,
 * 1: connect) into a new sorted array; *n receives its length. */
static uint32_t *merge_sorted(struct thread_ctx *ctx, int n_threads, int which, size_t *n)
{
    size_t total = 0;
    for (int i = 0; i < n_threads; i++)
        total += which ? ctx[i].connect.n : ctx[i].total.n;
    uint32_t *all = malloc((total ? total : 1) * sizeof(*all));
    if (!all) {
        *n = 0;
        return NULL;
    }
    size_t k = 0;
    for (int i = 0; i < n_threads; i++) {
        struct samples *s = which ? &ctx[i].connect : &ctx[i].total;
        if (s->n) /* s->v is NULL for a thread without samples */
            memcpy(all + k, s->v, s->n * sizeof(*all));
        k += s->n;
    }
    qsort(all, total, sizeof(*all), cmp_u32);
    *n = total;
    return all;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: churn --host H --port P --user U --password PW [--db DB]\n"
               "             [--threads N (16)] [--duration SEC (10)]\n"
               "             [--query select1|point|SQL (select1)] [--table-size ROWS (10000)]\n"
               "             [--ssl | --tls [--tls-resume]]\n"
               "  --ssl         libmariadb over TLS (client-bound: a new OpenSSL context per connection)\n"
               "  --tls         hand-written MySQL protocol over wolfSSL, one context per thread\n"
               "  --tls-resume  --tls, resuming the previous connection's TLS session\n");
}

/* Parse argv into *o; returns 0, or -1 after printing the problem. */
static int parse_args(int argc, char **argv, struct options *o)
{
    static const struct option lo[] = {
        {"host", required_argument, NULL, 'h'},
        {"port", required_argument, NULL, 'P'},
        {"user", required_argument, NULL, 'u'},
        {"password", required_argument, NULL, 'p'},
        {"db", required_argument, NULL, 'd'},
        {"threads", required_argument, NULL, 't'},
        {"duration", required_argument, NULL, 'D'},
        {"query", required_argument, NULL, 'q'},
        {"table-size", required_argument, NULL, 'T'},
        {"help", no_argument, NULL, 'H'},
        {"ssl", no_argument, NULL, 'S'},
        {"tls", no_argument, NULL, 'L'},
        {"tls-resume", no_argument, NULL, 'R'},
        {NULL, 0, NULL, 0},
    };
    *o = (struct options){.host = "127.0.0.1",
                          .port = 3306,
                          .user = "root",
                          .password = "",
                          .db = NULL,
                          .query = "select1",
                          .threads = 16,
                          .duration = 10,
                          .table_size = 10000};
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'h': o->host = optarg; break;
        case 'P':
            o->port = (unsigned)strtoul(optarg, &end, 10);
            if (*end || o->port == 0 || o->port > 65535) {
                fprintf(stderr, "churn: bad --port '%s'\n", optarg);
                return -1;
            }
            break;
        case 'u': o->user = optarg; break;
        case 'p': o->password = optarg; break;
        case 'd': o->db = optarg; break;
        case 't':
            o->threads = (int)strtol(optarg, &end, 10);
            if (*end || o->threads < 1 || o->threads > MAX_THREADS) {
                fprintf(stderr, "churn: --threads must be 1..%d\n", MAX_THREADS);
                return -1;
            }
            break;
        case 'D':
            o->duration = strtod(optarg, &end);
            if (*end || !(o->duration > 0)) {
                fprintf(stderr, "churn: bad --duration '%s'\n", optarg);
                return -1;
            }
            break;
        case 'q': o->query = optarg; break;
        case 'T':
            o->table_size = (unsigned)strtoul(optarg, &end, 10);
            if (*end || o->table_size == 0) {
                fprintf(stderr, "churn: bad --table-size '%s'\n", optarg);
                return -1;
            }
            break;
        case 'S': o->ssl = true; break;
        case 'L': o->tls = true; break;
        case 'R': o->tls = o->tls_resume = true; break;
        case 'H': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -1;
    }
    if (o->ssl && o->tls) {
        fprintf(stderr, "churn: --ssl (libmariadb) and --tls/--tls-resume (wolfSSL) are exclusive\n");
        return -1;
    }
    if (o->tls) {
        /* Resolved once: the per-connection cost should be the server's. */
        char port[8];
        struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
        snprintf(port, sizeof(port), "%u", o->port);
        int rc = getaddrinfo(o->host, port, &hints, &ai);
        if (rc != 0) {
            fprintf(stderr, "churn: cannot resolve '%s': %s\n", o->host, gai_strerror(rc));
            return -1;
        }
        memcpy(&o->addr, ai->ai_addr, ai->ai_addrlen);
        o->addr_len = ai->ai_addrlen;
        freeaddrinfo(ai);
    }
    if (strcmp(o->query, "select1") == 0)
        o->query = "SELECT 1";
    else if (strcmp(o->query, "point") == 0)
        o->point = true;
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    signal(SIGPIPE, SIG_IGN); /* a write to a closed socket is an error, not death */
    if (o.tls) {
        if (wolfSSL_Init() != WOLFSSL_SUCCESS) {
            fprintf(stderr, "churn: wolfSSL_Init failed\n");
            return 1;
        }
    } else if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "churn: mysql_library_init failed\n");
        return 1;
    }
    struct thread_ctx *ctx = calloc((size_t)o.threads, sizeof(*ctx));
    if (!ctx) {
        fprintf(stderr, "churn: out of memory\n");
        return 1;
    }
    printf("churn: %d threads, %.1f s, %s:%u, query: %s, %s\n", o.threads, o.duration, o.host, o.port,
           o.point ? "point select on sbtest1" : o.query,
           o.tls_resume ? "TLS via wolfSSL with session resumption"
           : o.tls      ? "TLS via wolfSSL"
           : o.ssl      ? "TLS via libmariadb"
                        : "plain TCP via libmariadb");
    fflush(stdout);

    double start = now_s();
    g_deadline = start + o.duration;
    int started = 0;
    for (int i = 0; i < o.threads; i++) {
        ctx[i].index = i;
        ctx[i].opt = &o;
        int rc = pthread_create(&ctx[i].tid, NULL, o.tls ? worker_tls : worker_lib, &ctx[i]);
        if (rc != 0) {
            fprintf(stderr, "churn: pthread_create: %s (running with %d threads)\n", strerror(rc), i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(ctx[i].tid, NULL);
    double elapsed = now_s() - start;

    size_t n_tot, n_conn;
    uint32_t *tot = merge_sorted(ctx, started, 0, &n_tot);
    uint32_t *con = merge_sorted(ctx, started, 1, &n_conn);
    uint64_t errors = 0, resumed = 0;
    for (int i = 0; i < started; i++) {
        errors += ctx[i].errors;
        resumed += ctx[i].resumed;
    }
    double rate = elapsed > 0 ? (double)n_tot / elapsed : 0;

    printf("connections completed: %zu in %.2f s (%.1f per sec)\n", n_tot, elapsed, rate);
    printf("latency connect+query (ms): p50 %.3f  p95 %.3f  p99 %.3f  max %.3f\n", pct_ms(tot, n_tot, 50),
           pct_ms(tot, n_tot, 95), pct_ms(tot, n_tot, 99), pct_ms(tot, n_tot, 100));
    printf("latency connect only (ms):  p50 %.3f  p95 %.3f  p99 %.3f\n", pct_ms(con, n_conn, 50),
           pct_ms(con, n_conn, 95), pct_ms(con, n_conn, 99));
    if (o.tls)
        printf("TLS sessions resumed: %" PRIu64 " of %zu connections\n", resumed, n_tot);
    printf("errors: %" PRIu64 "\n", errors);
    for (int i = 0; i < g_n_errs; i++)
        printf("  %" PRIu64 " x error %u: %s\n", g_errs[i].count, g_errs[i].code, g_errs[i].msg);
    if (g_errs_other)
        printf("  %" PRIu64 " x other error codes\n", g_errs_other);
    printf("RESULT conns=%zu errors=%" PRIu64 " elapsed_s=%.3f conn_per_sec=%.1f p50_ms=%.3f "
           "p95_ms=%.3f p99_ms=%.3f connect_p95_ms=%.3f",
           n_tot, errors, elapsed, rate, pct_ms(tot, n_tot, 50), pct_ms(tot, n_tot, 95), pct_ms(tot, n_tot, 99),
           pct_ms(con, n_conn, 95));
    if (o.tls)
        printf(" resumed=%" PRIu64, resumed);
    printf("\n");

    for (int i = 0; i < started; i++) {
        free(ctx[i].total.v);
        free(ctx[i].connect.v);
    }
    free(tot);
    free(con);
    free(ctx);
    if (o.tls)
        wolfSSL_Cleanup();
    else
        mysql_library_end();
    return n_tot > 0 ? 0 : 1;
}
