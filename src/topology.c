/* Topology snapshots: built from the config, roles decided from health
 * (include/ringmux/monitor.h).  Pure: the monitor thread and the unit tests
 * share it. */
#include "ringmux/monitor.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A numeric host (IPv4 or IPv6 literal) as a sockaddr; false for a name. */
bool topo_numeric_addr(const char *host, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(port);
        *len = sizeof(*a4);
        return true;
    }
    if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(port);
        *len = sizeof(*a6);
        return true;
    }
    return false;
}

struct rm_topology *topo_from_config(const struct rm_config *cfg)
{
    struct rm_topology *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->gen = 1;
    t->n = cfg->n_backends;
    /* Until a backend answers: a MariaDB 10.11 greeting. */
    snprintf(t->server.version, sizeof(t->server.version), "5.5.5-10.11.0-MariaDB-ringmux");
    t->server.caps = hs_proxy_caps(0xffffffffu);
    t->server.collation = 45; /* utf8mb4_general_ci */
    for (int i = 0; i < t->n; i++) {
        struct rm_topo_backend *b = &t->be[i];
        b->lag_ms = 0;
        if (topo_numeric_addr(cfg->backends[i].addr.host, cfg->backends[i].addr.port, &b->addrs[0], &b->addr_lens[0]))
            b->n_addrs = 1;
    }
    topo_decide(t, cfg);
    return t;
}

void topo_decide(struct rm_topology *t, const struct rm_config *cfg)
{
    t->writer = -1;
    t->conflict = false;
    if (t->n == 1) {
        t->writer = 0; /* a lone backend is the writer, whatever the monitor says */
    } else {
        int writable = 0, first = -1;
        bool prefer_ok = false;
        for (int i = 0; i < t->n; i++) {
            if (!t->be[i].up || t->be[i].read_only)
                continue;
            writable++;
            if (first < 0)
                first = i;
            if (cfg->writer_conflict_mode == WRITER_CONFLICT_PREFER && i == cfg->writer_prefer)
                prefer_ok = true;
        }
        if (writable == 1)
            t->writer = first;
        else if (writable > 1) {
            t->conflict = true;
            t->writer = prefer_ok ? cfg->writer_prefer : -1;
        }
    }
    for (int i = 0; i < t->n; i++) {
        const struct rm_topo_backend *b = &t->be[i];
        bool lag_ok = cfg->max_replica_lag_ms == 0 || (b->lag_ms >= 0 && b->lag_ms <= cfg->max_replica_lag_ms);
        t->reader_ok[i] = i != t->writer && b->up && b->read_only && lag_ok;
    }
}

bool topo_same_addrs(const struct rm_topo_backend *a, const struct rm_topo_backend *b)
{
    if (a->n_addrs != b->n_addrs)
        return false;
    for (int i = 0; i < a->n_addrs; i++) {
        bool found = false;
        for (int k = 0; k < b->n_addrs && !found; k++)
            found = a->addr_lens[i] == b->addr_lens[k] && memcmp(&a->addrs[i], &b->addrs[k], a->addr_lens[i]) == 0;
        if (!found)
            return false;
    }
    return true;
}

bool topo_ready(const struct rm_topology *t, const struct rm_config *cfg, char *why, size_t len)
{
    if (t->writer >= 0) {
        const struct rm_topo_backend *b = &t->be[t->writer];
        const char *name = cfg->backends[t->writer].name;
        if (b->up) {
            snprintf(why, len, "ready: writer %s", name);
            return true;
        }
        snprintf(why, len, "not ready: writer %s %s%s", name, b->checked ? "is unreachable" : "not checked yet",
                 b->error[0] ? ": " : "");
        if (b->error[0])
            snprintf(why + strlen(why), len - strlen(why), "%s", b->error);
        return false;
    }
    size_t n = (size_t)snprintf(why, len, "not ready: no writer%s", t->conflict ? " (two writable backends)" : "");
    for (int i = 0; i < t->n && n < len; i++) {
        const struct rm_topo_backend *b = &t->be[i];
        n += (size_t)snprintf(why + n, len - n, "%s %s %s", i ? ";" : ":", cfg->backends[i].name,
                              !b->checked    ? "not checked yet"
                              : !b->up       ? "down"
                              : b->read_only ? "read-only"
                                             : "up");
    }
    return false;
}
