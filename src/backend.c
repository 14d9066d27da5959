/* The backend server (include/ringmux/backend.h). */
#include "ringmux/backend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ringmux/bconn.h"
#include "ringmux/log.h"
#include "ringmux/monitor.h"
#include "ringmux/pool.h"
#include "ringmux/tls.h"
#include "ringmux/worker.h"

#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000

void backend_init(struct rm_backend *be, struct rm_worker *w, int idx)
{
    memset(be, 0, sizeof(*be));
    be->w = w;
    be->idx = idx;
    link_init(&be->pools);
}

void backends_init(struct rm_worker *w)
{
    w->n_backends = w->cfg->n_backends;
    for (int i = 0; i < RM_MAX_BACKENDS; i++)
        backend_init(&w->backends[i], w, i);
}

const struct rm_addr *backend_addr(const struct rm_backend *be)
{
    return &be->w->cfg->backends[be->idx].addr;
}

const char *backend_name(const struct rm_backend *be)
{
    return be->w->cfg->backends[be->idx].name;
}

struct rm_tls_ctx *backend_tls(struct rm_backend *be, char *why, size_t len)
{
    const struct rm_backend_cfg *bc = &be->w->cfg->backends[be->idx];
    if (!be->tls_built) {
        be->tls_built = true;
        if (bc->tls != BACKEND_TLS_OFF) {
            char sec[48];
            snprintf(sec, sizeof(sec), "backend.%s", bc->name);
            be->tls = tls_client_ctx_new(bc, sec, be->error, sizeof(be->error));
        }
    }
    if (!be->tls && bc->tls != BACKEND_TLS_OFF)
        snprintf(why, len, "%s", be->error[0] ? be->error : "TLS context unavailable");
    return be->tls;
}

void backends_tls_reset(struct rm_worker *w)
{
    for (int i = 0; i < w->n_backends; i++) {
        tls_ctx_free(w->backends[i].tls);
        w->backends[i].tls = NULL;
        w->backends[i].tls_built = false;
    }
}

int backend_pick_addr(struct rm_backend *be, struct sockaddr_storage *ss, socklen_t *len, char *why, size_t whylen)
{
    const struct rm_topo_backend *t = &be->w->topo->be[be->idx];
    if (t->n_addrs == 0) {
        snprintf(why, whylen, "%s", t->error[0] ? t->error : "address not resolved yet");
        return -1;
    }
    int k = be->addr_cursor % t->n_addrs;
    *ss = t->addrs[k];
    *len = t->addr_lens[k];
    return 0;
}

void backend_connect_failed(struct rm_backend *be)
{
    be->addr_cursor++;
    monitor_poke(be->w->sh);
}

/* Idle conns of be go: their backend changed role or address. */
static void drop_idle(struct rm_backend *be, const char *why)
{
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &be->pools) {
        struct rm_pool *p = link_entry(pos, struct rm_pool, link);
        struct rm_link *ip, *it;
        link_foreach_safe (ip, it, &p->idle)
            bconn_retire(link_entry(ip, struct rm_bconn, link), why);
    }
}

void backends_topology_changed(struct rm_worker *w, const struct rm_topology *old)
{
    const struct rm_topology *t = w->topo;
    for (int i = 0; i < w->n_backends && i < t->n; i++) {
        struct rm_backend *be = &w->backends[i];
        const char *why = NULL;
        if (!topo_same_addrs(&old->be[i], &t->be[i]))
            why = "backend address changed";
        else if ((old->writer == i) != (t->writer == i))
            why = "backend role changed";
        else if (old->reader_ok[i] && !t->reader_ok[i])
            why = "backend no longer a usable reader";
        else if (old->be[i].up && !t->be[i].up && t->writer != i)
            why = "backend down";
        if (why) {
            be->epoch++;
            be->addr_cursor = 0;
            drop_idle(be, why);
        }
        if (t->be[i].up && !old->be[i].up) /* the monitor reached it: no need to wait out the backoff */
            backend_note_success(be);
    }
    w->kick_waiters = true;
}

struct rm_backend *backend_for(struct rm_worker *w, bool reader, const struct rm_backend *current)
{
    const struct rm_topology *t = w->topo;
    struct rm_backend *writer = t->writer >= 0 && t->writer < w->n_backends ? &w->backends[t->writer] : NULL;
    if (!reader)
        return writer;
    /* Least outstanding statements per unit of weight; the current one
     * unless another is strictly less loaded. */
    struct rm_backend *best = NULL;
    int64_t best_load = 0;
    for (int i = 0; i < w->n_backends && i < t->n; i++) {
        if (!t->reader_ok[i])
            continue;
        struct rm_backend *be = &w->backends[i];
        int64_t load = (int64_t)be->n_active * 1000 / w->cfg->backends[i].weight;
        if (!best || load < best_load || (load == best_load && be == current)) {
            best = be;
            best_load = load;
        }
    }
    if (!best && w->cfg->reader_fallback_to_writer)
        best = writer;
    return best;
}

void backend_note_failure(struct rm_backend *be, const char *why)
{
    struct rm_worker *w = be->w;
    snprintf(be->error, sizeof(be->error), "%s", why);
    be->connect_backoff_ms = be->connect_backoff_ms ? be->connect_backoff_ms * 2 : BACKOFF_MIN_MS;
    if (be->connect_backoff_ms > BACKOFF_MAX_MS)
        be->connect_backoff_ms = BACKOFF_MAX_MS;
    /* Jitter: up to half the step again, so that the workers (and several
     * proxies) do not retry in lockstep after an outage. */
    be->jitter = be->jitter * 1103515245u + 12345u + (uint32_t)w->idx * 2654435761u;
    uint32_t jitter = (be->jitter >> 8) % (be->connect_backoff_ms / 2 + 1);
    be->connect_after_ms = w->now_ms + be->connect_backoff_ms + jitter;
    log_warn("worker %d: %s (next attempt in %u ms)", w->idx, why, be->connect_backoff_ms + jitter);
}

void backend_note_success(struct rm_backend *be)
{
    if (be->connect_backoff_ms)
        log_info("worker %d: backend reachable again", be->w->idx);
    be->connect_backoff_ms = 0;
    be->connect_after_ms = 0;
    be->error[0] = 0;
}

bool backend_may_connect(const struct rm_backend *be)
{
    return be->w->now_ms >= be->connect_after_ms;
}

const char *backend_last_error(const struct rm_backend *be)
{
    return be->error;
}
