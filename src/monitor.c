/* The monitor thread (include/ringmux/monitor.h).  Blocking is fine here:
 * name resolution and libmariadb checks run in this thread only. */
#include "ringmux/monitor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <mysql.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "ringmux/log.h"
#include "ringmux/worker.h"

/* One backend's checker: a thread of its own, so a server that hangs (a
 * connect to a dying host, a query that never answers) delays nobody
 * else's verdict. */
struct prober {
    struct rm_shared *sh;
    int idx;
    pthread_t thread;
    bool started;
    MYSQL *conn; /* kept open between checks */
};

/* How often each backend is checked while there is no writer. */
#define NO_WRITER_CHECK_MS 50

struct rm_monitor {
    pthread_t thread; /* the aggregator: results -> snapshots */
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* aggregator: a result changed, or stop */
    pthread_cond_t probe_cv; /* probers: poke or stop */
    bool stop, dirty;
    uint64_t poke_gen;
    struct rm_topo_backend results[RM_MAX_BACKENDS]; /* latest check of each, under mu */
    struct prober probers[RM_MAX_BACKENDS];
    int n;
    struct rm_topology *retired; /* snapshots workers may still read */
    int last_writer;             /* the last writer seen, -1 before any */
    atomic_bool no_writer;       /* the current snapshot has none (probers look more often) */
};

/* ---- snapshots ------------------------------------------------------------ */

/* Do two snapshots say the same (everything but gen and the list)? */
static bool topo_same(const struct rm_topology *a, const struct rm_topology *b)
{
    if (a->n != b->n || a->writer != b->writer || a->conflict != b->conflict || a->server_known != b->server_known ||
        memcmp(&a->server, &b->server, sizeof(a->server)) != 0)
        return false;
    for (int i = 0; i < a->n; i++) {
        const struct rm_topo_backend *x = &a->be[i], *y = &b->be[i];
        if (a->reader_ok[i] != b->reader_ok[i] || x->up != y->up || x->checked != y->checked ||
            x->read_only != y->read_only || x->replica != y->replica || x->lag_ms != y->lag_ms ||
            x->n_addrs != y->n_addrs || strcmp(x->error, y->error) != 0)
            return false;
        for (int k = 0; k < x->n_addrs; k++) /* order matters: workers try the first first */
            if (x->addr_lens[k] != y->addr_lens[k] || memcmp(&x->addrs[k], &y->addrs[k], x->addr_lens[k]) != 0)
                return false;
    }
    return true;
}

/* ---- name resolution ------------------------------------------------------ */

/* Tests may point RINGMUX_TEST_HOSTS at a hosts(5)-format file read before
 * DNS, on every resolution.  Its address column may carry a port for the
 * tests' sake ("127.0.0.1:3307", "[::1]:3307"): test servers listen on one
 * loopback address, so a name "moving" to another server moves its port. */
static bool hosts_entry_addr(const char *col, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    char ip[INET6_ADDRSTRLEN + 8];
    snprintf(ip, sizeof(ip), "%s", col);
    char *colon = ip[0] == '[' ? strstr(ip, "]:") : strchr(ip, ':');
    const char *host = ip;
    if (ip[0] == '[') {
        if (!colon)
            return false;
        *colon = '\0';
        host = ip + 1;
        port = (uint16_t)atoi(colon + 2);
    } else if (colon && !strchr(colon + 1, ':')) {
        *colon = '\0';
        port = (uint16_t)atoi(colon + 1);
    }
    return topo_numeric_addr(host, port, ss, len);
}

static int hosts_file_lookup(const char *name, uint16_t port, struct rm_topo_backend *b)
{
    const char *path = getenv("RINGMUX_TEST_HOSTS");
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f)
        return 0;
    char line[512];
    int n = 0;
    while (n < RM_MAX_ADDRS && fgets(line, sizeof(line), f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL, *ip = strtok_r(line, " \t\r\n", &save), *tok;
        if (!ip)
            continue;
        while ((tok = strtok_r(NULL, " \t\r\n", &save)))
            if (strcasecmp(tok, name) == 0 && n < RM_MAX_ADDRS &&
                hosts_entry_addr(ip, port, &b->addrs[n], &b->addr_lens[n])) {
                n++;
                break;
            }
    }
    fclose(f);
    return n;
}

/* Resolve backend i's address into b->addrs; false with b->error set. */
static bool resolve(const struct rm_addr *a, struct rm_topo_backend *b)
{
    if (topo_numeric_addr(a->host, a->port, &b->addrs[0], &b->addr_lens[0])) {
        b->n_addrs = 1;
        return true;
    }
    int n = hosts_file_lookup(a->host, a->port, b);
    if (n > 0) {
        b->n_addrs = n;
        return true;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_protocol = IPPROTO_TCP};
    struct addrinfo *res = NULL;
    char port[8];
    snprintf(port, sizeof(port), "%u", a->port);
    int rc = getaddrinfo(a->host, port, &hints, &res);
    if (rc != 0) {
        snprintf(b->error, sizeof(b->error), "cannot resolve %.120s: %s", a->host, gai_strerror(rc));
        b->n_addrs = 0;
        return false;
    }
    n = 0;
    for (struct addrinfo *r = res; r && n < RM_MAX_ADDRS; r = r->ai_next) {
        if (r->ai_addrlen > sizeof(b->addrs[0]))
            continue;
        bool dup = false;
        for (int k = 0; k < n && !dup; k++)
            dup = b->addr_lens[k] == r->ai_addrlen && memcmp(&b->addrs[k], r->ai_addr, r->ai_addrlen) == 0;
        if (dup)
            continue;
        memcpy(&b->addrs[n], r->ai_addr, r->ai_addrlen);
        b->addr_lens[n] = (socklen_t)r->ai_addrlen;
        n++;
    }
    freeaddrinfo(res);
    b->n_addrs = n;
    if (n == 0)
        snprintf(b->error, sizeof(b->error), "cannot resolve %.120s: no address", a->host);
    return n > 0;
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len, uint16_t *port)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &a6->sin6_addr, buf, (socklen_t)len);
        *port = ntohs(a6->sin6_port);
    } else {
        const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a4->sin_addr, buf, (socklen_t)len);
        *port = ntohs(a4->sin_port);
    }
}

/* ---- checks --------------------------------------------------------------- */

static void close_conn(struct prober *pr)
{
    if (pr->conn)
        mysql_close(pr->conn);
    pr->conn = NULL;
}

/* Log in to backend i at one of its candidate addresses; the one that
 * answered moves to the front.  NULL with b->error set when none does. */
static MYSQL *connect_backend(const struct rm_config *cfg, int i, struct rm_topo_backend *b)
{
    const struct rm_user *u = cfg_monitor_user(cfg);
    unsigned int timeout = (unsigned int)((cfg->backend_connect_timeout_ms + 999) / 1000);
    unsigned int io_timeout = (unsigned int)((cfg->monitor_interval_ms * 2 + 999) / 1000);
    if (timeout > io_timeout)
        timeout = io_timeout;
    const struct rm_backend_cfg *bc = &cfg->backends[i];
    for (int k = 0; k < b->n_addrs; k++) {
        char host[256];
        uint16_t port;
        addr_str(&b->addrs[k], host, sizeof(host), &port);
        MYSQL *m = mysql_init(NULL);
        if (!m) {
            snprintf(b->error, sizeof(b->error), "out of memory");
            return NULL;
        }
        unsigned int proto = MYSQL_PROTOCOL_TCP;
        mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
        mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &io_timeout);
        mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
        mysql_optionsv(m, MYSQL_OPT_PROTOCOL, &proto);
        if (bc->tls != BACKEND_TLS_OFF) { /* the same TLS as the workers' logins */
            my_bool yes = 1, identity = bc->tls == BACKEND_TLS_VERIFY_IDENTITY;
            mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
            if (bc->tls_ca)
                mysql_optionsv(m, MYSQL_OPT_SSL_CA, bc->tls_ca);
            if (bc->tls_cert) {
                mysql_optionsv(m, MYSQL_OPT_SSL_CERT, bc->tls_cert);
                mysql_optionsv(m, MYSQL_OPT_SSL_KEY, bc->tls_key);
            }
            mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &identity);
            if (identity) /* the name is what the certificate must carry */
                snprintf(host, sizeof(host), "%s", bc->addr.host);
        }
        if (bc->server_public_key) /* caching_sha2_password full authentication without TLS */
            mysql_optionsv(m, MYSQL_SERVER_PUBLIC_KEY, bc->server_public_key);
        if (mysql_real_connect(m, host, u->name, u->password, NULL, port, NULL, 0)) {
            if (k > 0) { /* answered: try it first from now on */
                struct sockaddr_storage ss = b->addrs[k];
                socklen_t l = b->addr_lens[k];
                memmove(&b->addrs[1], &b->addrs[0], (size_t)k * sizeof(b->addrs[0]));
                memmove(&b->addr_lens[1], &b->addr_lens[0], (size_t)k * sizeof(b->addr_lens[0]));
                b->addrs[0] = ss;
                b->addr_lens[0] = l;
            }
            return m;
        }
        snprintf(b->error, sizeof(b->error), "%.80s:%u: %s", host, port, mysql_error(m));
        mysql_close(m);
    }
    return NULL;
}

/* Column index by name in a result, -1 if absent. */
static int column(MYSQL_RES *r, const char *a, const char *b)
{
    unsigned n = mysql_num_fields(r);
    MYSQL_FIELD *f = mysql_fetch_fields(r);
    for (unsigned i = 0; i < n; i++)
        if (strcasecmp(f[i].name, a) == 0 || (b && strcasecmp(f[i].name, b) == 0))
            return (int)i;
    return -1;
}

/* Replica status: lag, or "not a replica".  false on a query error. */
static bool read_replica_status(MYSQL *m, struct rm_topo_backend *b)
{
    if (mysql_query(m, "SHOW REPLICA STATUS") != 0 && mysql_query(m, "SHOW SLAVE STATUS") != 0)
        return false;
    MYSQL_RES *r = mysql_store_result(m);
    if (!r)
        return mysql_errno(m) == 0;
    MYSQL_ROW row = mysql_fetch_row(r);
    b->replica = row != NULL;
    b->lag_ms = 0;
    if (row) {
        int sec = column(r, "Seconds_Behind_Master", "Seconds_Behind_Source");
        int sql = column(r, "Slave_SQL_Running", "Replica_SQL_Running");
        bool running = sql >= 0 && row[sql] && strcasecmp(row[sql], "Yes") == 0;
        b->lag_ms = running && sec >= 0 && row[sec] ? atoll(row[sec]) * 1000 : -1;
    }
    mysql_free_result(r);
    return true;
}

static void read_server_info(MYSQL *m, struct hs_server_info *si);

/* Check the prober's backend into b (its addresses already resolved). */
static void check_backend(struct prober *pr, const struct rm_config *cfg, struct rm_topo_backend *b)
{
    b->checked = true;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!pr->conn && !(pr->conn = connect_backend(cfg, pr->idx, b))) {
            b->up = false;
            return;
        }
        MYSQL *m = pr->conn;
        MYSQL_RES *r = NULL;
        MYSQL_ROW row;
        /* Replica status first, read_only last: SHOW REPLICA STATUS waits
         * while a promotion runs STOP SLAVE, and read_only is what flips at
         * its end, so reading it last sees the promotion soonest. */
        if (read_replica_status(m, b) && mysql_query(m, "SELECT @@global.read_only, @@global.innodb_read_only") == 0 &&
            (r = mysql_store_result(m)) && (row = mysql_fetch_row(r))) {
            b->read_only = (row[0] && atoi(row[0]) != 0) || (row[1] && atoi(row[1]) != 0);
            mysql_free_result(r);
            b->up = true;
            b->error[0] = '\0';
            read_server_info(m, &b->server);
            b->server_read = true;
            return;
        }
        if (r)
            mysql_free_result(r);
        snprintf(b->error, sizeof(b->error), "check failed: %s", mysql_error(m));
        close_conn(pr); /* a stale connection: log in again once */
    }
    b->up = false;
}

static void log_changes(const struct rm_config *cfg, const struct rm_topology *old, const struct rm_topology *t)
{
    for (int i = 0; i < t->n; i++) {
        const struct rm_topo_backend *a = &old->be[i], *b = &t->be[i];
        const char *name = cfg->backends[i].name;
        if (a->up != b->up || !a->checked)
            log_write(b->up ? LOG_INFO : LOG_WARN, "monitor: backend %s is %s%s%s", name, b->up ? "up" : "down",
                      b->up ? (b->read_only ? " (read-only)" : " (writable)") : ": ", b->up ? "" : b->error);
        else if (b->up && a->read_only != b->read_only)
            log_info("monitor: backend %s is now %s", name, b->read_only ? "read-only" : "writable");
        if (a->checked && !topo_same_addrs(a, b))
            log_info("monitor: backend %s (%s) now resolves to %d address(es)", name, cfg->backends[i].addr.host,
                     b->n_addrs);
    }
    if (t->conflict && (!old->conflict || old->writer != t->writer))
        log_error("monitor: %s backends are writable at once; %s", t->n > 2 ? "several" : "two",
                  t->writer >= 0 ? "writer_conflict = prefer: keeping the preferred one"
                                 : "writer_conflict = refuse: no writer until only one is");
    if (old->writer != t->writer) {
        if (t->writer >= 0)
            log_warn("monitor: writer is now %s%s%s", cfg->backends[t->writer].name, old->writer >= 0 ? " (was " : "",
                     old->writer >= 0 ? cfg->backends[old->writer].name : "");
        else
            log_warn("monitor: no writer (was %s): statements wait for one (connection_borrow_timeout)",
                     old->writer >= 0 ? cfg->backends[old->writer].name : "none");
    }
}

/* Free retired snapshots every worker has moved past. */
static void reclaim(struct rm_shared *sh, struct rm_monitor *mon)
{
    uint64_t min_seen = UINT64_MAX;
    for (int i = 0; i < sh->n_workers; i++) {
        uint64_t g = atomic_load(&sh->topo_seen[i]);
        if (g < min_seen)
            min_seen = g;
    }
    struct rm_topology **pp = &mon->retired;
    while (*pp) {
        struct rm_topology *t = *pp;
        if (t->gen < min_seen) {
            *pp = t->older;
            free(t);
        } else {
            pp = &t->older;
        }
    }
}

/* Resolve and check one backend into b (b holds its previous result). */
static void probe(struct prober *pr, const struct rm_config *cfg, struct rm_topo_backend *b)
{
    struct rm_topo_backend before = *b;
    if (!resolve(&cfg->backends[pr->idx].addr, b)) {
        b->up = false;
        b->checked = true;
        close_conn(pr);
        return;
    }
    if (!topo_same_addrs(&before, b)) {
        close_conn(pr); /* the name moved: check the new address */
    } else {            /* same set: keep the order (the one that answered first) */
        memcpy(b->addrs, before.addrs, sizeof(b->addrs));
        memcpy(b->addr_lens, before.addr_lens, sizeof(b->addr_lens));
    }
    check_backend(pr, cfg, b);
}

/* What new clients are told: the writer's greeting (else the first backend
 * that answered); unchanged when none answered. */
static void update_server_info(const struct rm_config *cfg, struct rm_topology *t)
{
    int from = t->writer >= 0 && t->be[t->writer].server_read ? t->writer : -1;
    for (int i = 0; from < 0 && i < t->n; i++)
        if (t->be[i].up && t->be[i].server_read)
            from = i;
    if (from < 0)
        return;
    struct hs_server_info si = t->server;
    const struct hs_server_info *b = &t->be[from].server;
    memcpy(si.version, b->version, sizeof(si.version));
    si.caps = b->caps;
    si.ext_caps = b->ext_caps;
    si.collation = b->collation;
    if (t->server_known && memcmp(&si, &t->server, sizeof(si)) == 0)
        return;
    t->server = si;
    t->server_known = true;
    log_info("clients are told: server %s (capabilities 0x%08x, MariaDB extended 0x%x, collation %u), from backend %s",
             si.version, si.caps, si.ext_caps, si.collation, cfg->backends[from].name);
}

/* A snapshot from the latest results; published (and the workers woken)
 * when it says something new. */
static void aggregate(struct rm_shared *sh, struct rm_monitor *mon, const struct rm_topo_backend *results)
{
    const struct rm_config *cfg = atomic_load(&sh->cfg);
    struct rm_topology *cur = atomic_load(&sh->topo);
    struct rm_topology *t = malloc(sizeof(*t));
    if (!t)
        return;
    *t = *cur;
    t->older = NULL;
    for (int i = 0; i < t->n; i++)
        t->be[i] = results[i];
    topo_decide(t, cfg);
    update_server_info(cfg, t);
    if (topo_same(t, cur)) {
        free(t);
        return;
    }
    log_changes(cfg, cur, t);
    if (t->writer >= 0 && t->writer != mon->last_writer) {
        if (mon->last_writer >= 0)
            atomic_fetch_add(&sh->writer_changes, 1);
        mon->last_writer = t->writer;
    }
    t->gen = cur->gen + 1;
    bool lost_writer = t->writer < 0 && t->n > 1;
    if (lost_writer && !atomic_exchange(&mon->no_writer, true)) {
        /* The writer just went: every prober looks again now, then at the
         * shorter interval, so a promotion elsewhere is seen at once. */
        pthread_mutex_lock(&mon->mu);
        mon->poke_gen++;
        pthread_cond_broadcast(&mon->probe_cv);
        pthread_mutex_unlock(&mon->mu);
    }
    atomic_store(&mon->no_writer, lost_writer);
    atomic_store(&sh->topo, t);
    cur->older = mon->retired;
    mon->retired = cur;
    for (int i = 0; i < sh->n_workers; i++)
        worker_wake(&sh->workers[i]);
}

static void deadline_in(struct timespec *until, int64_t ms)
{
    clock_gettime(CLOCK_MONOTONIC, until);
    until->tv_sec += ms / 1000;
    until->tv_nsec += (ms % 1000) * 1000000;
    if (until->tv_nsec >= 1000000000) {
        until->tv_sec++;
        until->tv_nsec -= 1000000000;
    }
}

/* ---- the threads ---------------------------------------------------------- */

static void *prober_main(void *arg)
{
    struct prober *pr = arg;
    struct rm_shared *sh = pr->sh;
    struct rm_monitor *mon = sh->mon;
    mysql_thread_init();
    pthread_mutex_lock(&mon->mu);
    struct rm_topo_backend b = mon->results[pr->idx];
    while (!mon->stop) {
        uint64_t poke_seen = mon->poke_gen;
        pthread_mutex_unlock(&mon->mu);
        const struct rm_config *cfg = atomic_load(&sh->cfg);
        probe(pr, cfg, &b);
        /* Without a writer, statements wait: look every 50 ms (or at the
         * interval if shorter) so a promotion is seen at once. */
        int64_t wait_ms = cfg->monitor_interval_ms;
        if (atomic_load(&mon->no_writer) && wait_ms > NO_WRITER_CHECK_MS)
            wait_ms = NO_WRITER_CHECK_MS;
        struct timespec until;
        deadline_in(&until, wait_ms);
        pthread_mutex_lock(&mon->mu);
        mon->results[pr->idx] = b;
        mon->dirty = true;
        pthread_cond_signal(&mon->cv);
        while (!mon->stop && mon->poke_gen == poke_seen)
            if (pthread_cond_timedwait(&mon->probe_cv, &mon->mu, &until) == ETIMEDOUT)
                break;
    }
    pthread_mutex_unlock(&mon->mu);
    close_conn(pr);
    mysql_thread_end();
    return NULL;
}

static void *monitor_main(void *arg)
{
    struct rm_shared *sh = arg;
    struct rm_monitor *mon = sh->mon;
    struct rm_topo_backend results[RM_MAX_BACKENDS];
    pthread_mutex_lock(&mon->mu);
    while (!mon->stop) {
        struct timespec until;
        deadline_in(&until, 1000); /* reclaim now and then even when nothing changes */
        while (!mon->stop && !mon->dirty)
            if (pthread_cond_timedwait(&mon->cv, &mon->mu, &until) == ETIMEDOUT)
                break;
        if (mon->stop)
            break;
        bool dirty = mon->dirty;
        mon->dirty = false;
        memcpy(results, mon->results, sizeof(results));
        pthread_mutex_unlock(&mon->mu);
        if (dirty)
            aggregate(sh, mon, results);
        reclaim(sh, mon);
        pthread_mutex_lock(&mon->mu);
    }
    pthread_mutex_unlock(&mon->mu);
    return NULL;
}

static struct rm_monitor *monitor_new(void)
{
    struct rm_monitor *mon = calloc(1, sizeof(*mon));
    if (!mon)
        return NULL;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&mon->cv, &ca);
    pthread_cond_init(&mon->probe_cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&mon->mu, NULL);
    mon->last_writer = -1;
    return mon;
}

/* The greeting clients get: the server's version (suffixed), capabilities
 * and collation, from a logged-in monitor connection. */
static void read_server_info(MYSQL *m, struct hs_server_info *si)
{
    unsigned long server_caps = 0, server_ext = 0;
    mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_CAPABILITIES, &server_caps);
    mariadb_get_infov(m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &server_ext);
    const char *ver = NULL;
    mariadb_get_infov(m, MARIADB_CONNECTION_SERVER_VERSION, &ver);
    unsigned int lang = m->server_language; /* the greeting's collation id */
    /* MariaDB 10.x+ advertises itself to old clients as "5.5.5-<version>";
     * keep that prefix so clients detect MariaDB as they would directly. */
    if (ver) {
        bool mariadb = strstr(ver, "MariaDB") != NULL;
        snprintf(si->version, sizeof(si->version), "%s%s-ringmux", mariadb && strncmp(ver, "5.5.5-", 6) ? "5.5.5-" : "",
                 ver);
    }
    si->caps = hs_proxy_caps((uint32_t)server_caps);
    si->ext_caps = hs_proxy_ext_caps((uint32_t)server_caps, (uint32_t)server_ext);
    if (lang > 0 && lang < 256)
        si->collation = (uint8_t)lang;
}

void monitor_first_round(struct rm_shared *sh)
{
    const struct rm_config *cfg = atomic_load(&sh->cfg);
    struct rm_topology *t = topo_from_config(cfg);
    if (!sh->mon)
        sh->mon = monitor_new();
    struct rm_monitor *mon = sh->mon;
    if (!t || !mon) {
        log_error("monitor: out of memory");
        free(t);
        return;
    }
    mon->n = t->n;
    for (int i = 0; i < t->n; i++) { /* in this thread, one after the other */
        struct prober *pr = &mon->probers[i];
        pr->sh = sh;
        pr->idx = i;
        probe(pr, cfg, &t->be[i]);
        mon->results[i] = t->be[i];
    }
    topo_decide(t, cfg);
    struct rm_topology none = {.n = t->n, .writer = t->writer}; /* "before": nothing known */
    log_changes(cfg, &none, t);
    mon->last_writer = t->writer;
    atomic_store(&mon->no_writer, t->writer < 0 && t->n > 1);
    update_server_info(cfg, t);
    if (!t->server_known)
        log_warn("no backend reachable at start-up (%s); clients are told server version '%s' until one answers",
                 t->n ? t->be[0].error : "none configured", t->server.version);
    atomic_store(&sh->topo, t);
}

int monitor_start(struct rm_shared *sh)
{
    struct rm_monitor *mon = sh->mon;
    if (!mon)
        return -1;
    if (pthread_create(&mon->thread, NULL, monitor_main, sh) != 0)
        return -1;
    mon->started = true;
    for (int i = 0; i < mon->n; i++) {
        if (pthread_create(&mon->probers[i].thread, NULL, prober_main, &mon->probers[i]) != 0)
            return -1;
        mon->probers[i].started = true;
    }
    return 0;
}

void monitor_poke(struct rm_shared *sh)
{
    struct rm_monitor *mon = sh->mon;
    if (!mon)
        return;
    /* trylock: a worker never waits on the monitor; a missed poke is
     * covered by the next interval. */
    if (pthread_mutex_trylock(&mon->mu) != 0)
        return;
    mon->poke_gen++;
    pthread_cond_broadcast(&mon->probe_cv);
    pthread_mutex_unlock(&mon->mu);
}

void monitor_stop(struct rm_shared *sh)
{
    struct rm_monitor *mon = sh->mon;
    if (mon) {
        pthread_mutex_lock(&mon->mu);
        mon->stop = true;
        pthread_cond_broadcast(&mon->cv);
        pthread_cond_broadcast(&mon->probe_cv);
        pthread_mutex_unlock(&mon->mu);
        for (int i = 0; i < RM_MAX_BACKENDS; i++) {
            if (mon->probers[i].started)
                pthread_join(mon->probers[i].thread, NULL);
            else
                close_conn(&mon->probers[i]); /* opened by the first round */
        }
        if (mon->started)
            pthread_join(mon->thread, NULL);
        while (mon->retired) {
            struct rm_topology *t = mon->retired;
            mon->retired = t->older;
            free(t);
        }
        pthread_mutex_destroy(&mon->mu);
        pthread_cond_destroy(&mon->cv);
        pthread_cond_destroy(&mon->probe_cv);
        free(mon);
        sh->mon = NULL;
    }
    free(atomic_exchange(&sh->topo, NULL));
}
