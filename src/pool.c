/* Pools: capacity, borrowing, fairness, idle and lifetime limits
 * (include/ringmux/pool.h).  A connection's protocol life is bconn.c's. */
#include "ringmux/pool.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/backend.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/relay.h"
#include "ringmux/session.h"
#include "ringmux/vars.h"
#include "ringmux/worker.h"

/* How many idle conns a borrow looks at for one whose state matches. */
#define BORROW_SCAN   16
/* An idle conn is given up to another worker's waiters after this long. */
#define SHED_GRACE_MS 100
/* A session waits this long before its worker may exceed its share. */
#define RAMP_MS       50
/* Another worker's session waiting this long is starving: a released conn
 * here is closed so that worker can open one. */
#define STARVE_MS     500
/* Logins in flight per backend and worker (gradual refill). */
#define MAX_OPENING   4

struct rm_pool *pool_get(struct rm_backend *be, const char *user, const char *password, uint32_t caps,
                         uint32_t ext_caps, uint8_t collation)
{
    caps &= POOL_CAPS_MASK;
    ext_caps &= POOL_EXT_CAPS_MASK;
    struct rm_link *pos;
    for (pos = be->pools.next; pos != &be->pools; pos = pos->next) {
        struct rm_pool *p = link_entry(pos, struct rm_pool, link);
        if (p->caps == caps && p->ext_caps == ext_caps && p->collation == collation && strcmp(p->user, user) == 0) {
            if (strcmp(p->password, password) != 0) { /* password changed by a reload */
                char *np = strdup(password);
                if (!np)
                    return NULL;
                free(p->password);
                p->password = np;
            }
            return p;
        }
    }
    struct rm_pool *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->user = strdup(user);
    p->password = strdup(password);
    if (!p->user || !p->password) {
        free(p->user);
        free(p->password);
        free(p);
        return NULL;
    }
    p->be = be;
    p->caps = caps;
    p->ext_caps = ext_caps;
    p->collation = collation;
    link_init(&p->idle);
    link_push_back(&be->pools, &p->link);
    return p;
}

/* Free a pool object (its conns are closed; dead ones never touch it). */
static void pool_destroy(struct rm_pool *p)
{
    link_remove(&p->link);
    state_free(&p->reset_st);
    for (int i = 0; i < POOL_KNOWN_DBS; i++)
        free(p->known_db[i]);
    state_baseline_free(&p->base);
    free(p->user);
    free(p->password);
    free(p);
}

void pool_free_all(struct rm_worker *w)
{
    for (int i = 0; i < w->n_backends; i++) {
        struct rm_link *pos, *tmp;
        link_foreach_safe (pos, tmp, &w->backends[i].pools) {
            struct rm_pool *p = link_entry(pos, struct rm_pool, link);
            struct rm_link *ip, *it;
            link_foreach_safe (ip, it, &p->idle)
                bconn_close(link_entry(ip, struct rm_bconn, link), "proxy stopped");
        }
    }
}

void pool_destroy_all(struct rm_worker *w)
{
    for (int i = 0; i < w->n_backends; i++) {
        struct rm_link *pos, *tmp;
        link_foreach_safe (pos, tmp, &w->backends[i].pools)
            pool_destroy(link_entry(pos, struct rm_pool, link));
    }
}

void pool_config_changed(struct rm_worker *w)
{
    for (int i = 0; i < w->n_backends; i++) {
        struct rm_link *pos;
        for (pos = w->backends[i].pools.next; pos != &w->backends[i].pools; pos = pos->next) {
            struct rm_pool *p = link_entry(pos, struct rm_pool, link);
            const struct rm_user *u = cfg_find_user(w->cfg, p->user, strlen(p->user));
            if (!u || strcmp(u->password, p->password) == 0)
                continue; /* a user dropped from the config keeps its sessions (and their logins) */
            char *np = strdup(u->password);
            if (!np)
                continue;
            explicit_bzero(p->password, strlen(p->password));
            free(p->password);
            p->password = np;
        }
    }
}

bool pool_any_conns(const struct rm_worker *w)
{
    for (int i = 0; i < w->n_backends; i++) {
        const struct rm_link *pos;
        for (pos = w->backends[i].pools.next; pos != &w->backends[i].pools; pos = pos->next)
            if (link_entry(pos, struct rm_pool, link)->n_conns > 0)
                return true;
    }
    return false;
}

bool pool_db_known(struct rm_pool *p, const char *db, size_t len, uint64_t now_ms)
{
    for (int i = 0; i < POOL_KNOWN_DBS; i++)
        if (p->known_db[i] && now_ms < p->known_until[i] && strlen(p->known_db[i]) == len &&
            memcmp(p->known_db[i], db, len) == 0)
            return true;
    return false;
}

void pool_db_remember(struct rm_pool *p, const char *db, uint64_t now_ms)
{
    int slot = 0;
    for (int i = 0; i < POOL_KNOWN_DBS; i++) {
        if (p->known_db[i] && strcmp(p->known_db[i], db) == 0) {
            slot = i;
            break;
        }
        if (p->known_until[i] < p->known_until[slot])
            slot = i;
    }
    if (!p->known_db[slot] || strcmp(p->known_db[slot], db) != 0) {
        char *copy = strdup(db);
        if (!copy)
            return;
        free(p->known_db[slot]);
        p->known_db[slot] = copy;
    }
    p->known_until[slot] = now_ms + POOL_KNOWN_DB_TTL_MS;
}

/* ---- global connection cap -------------------------------------------- */

/* max_backend_connections is one global cap (an atomic counter), and each
 * worker has a fair share of it (the remainder to the lowest workers).
 * Within its share a worker opens connections at once.  Beyond it, only for
 * a session that has already waited RAMP_MS, so a worker that happens to
 * get the first clients does not take every slot, only to close them again
 * when the other workers' clients arrive.  Slots move between workers only
 * through an idle or released connection being closed while another worker
 * waits (conn_ready, pool_maintain): rebalancing costs a reconnect, and only
 * under imbalance. */
static int worker_share(const struct rm_worker *w)
{
    int n = w->sh->n_workers, max = w->cfg->max_backend_connections;
    return max / n + (w->idx < max % n ? 1 : 0);
}

static bool reserve_slot(struct rm_worker *w, bool beyond_share)
{
    if (!beyond_share && w->n_bconns >= worker_share(w))
        return false;
    int max = w->cfg->max_backend_connections;
    int cur = atomic_load(&w->sh->backend_total);
    while (cur < max)
        if (atomic_compare_exchange_weak(&w->sh->backend_total, &cur, cur + 1))
            return true;
    return false;
}

static void release_slot(struct rm_worker *w)
{
    atomic_fetch_sub(&w->sh->backend_total, 1);
}

/* [backend.NAME] max_connections: a per-backend cap, across workers. */
static bool reserve_backend(struct rm_worker *w, const struct rm_backend *be, bool beyond)
{
    int max = beyond ? 0 : w->cfg->backends[be->idx].max_connections;
    int cur = atomic_fetch_add(&w->sh->backend_conns[be->idx], 1);
    if (max > 0 && cur >= max) {
        atomic_fetch_sub(&w->sh->backend_conns[be->idx], 1);
        return false;
    }
    return true;
}

/* Open a conn with a slot reserved; the slot goes back if that fails. */
static struct rm_bconn *open_conn_ex(struct rm_worker *w, struct rm_pool *p, bool beyond_backend_cap)
{
    if (!reserve_backend(w, p->be, beyond_backend_cap)) {
        release_slot(w);
        return NULL;
    }
    struct rm_bconn *b = bconn_open(w, p);
    if (!b) {
        release_slot(w);
        atomic_fetch_sub(&w->sh->backend_conns[p->be->idx], 1);
    }
    return b;
}

static struct rm_bconn *open_conn(struct rm_worker *w, struct rm_pool *p)
{
    return open_conn_ex(w, p, false);
}

void pool_conn_opened(struct rm_bconn *b)
{
    b->pool->n_conns++;
    b->pool->n_opening++;
    b->pool->be->n_opening++;
    b->c.w->n_bconns++;
}

void bconn_set_state(struct rm_bconn *b, enum bconn_state to)
{
    struct rm_worker *w = b->c.w;
    struct rm_pool *p = b->pool;
    enum bconn_state from = b->state;
    if (from == to)
        return;
    if (from == BC_IDLE) {
        link_remove(&b->link);
        p->n_idle--;
        MET_DEC(&w->met, backend_idle);
    }
    if (from == BC_ACTIVE) {
        p->be->n_active--;
        MET_DEC(&w->met, backend_active);
    }
    if (to == BC_ACTIVE) {
        p->be->n_active++;
        MET_INC(&w->met, backend_active);
    }
    if (from <= BC_INIT && to > BC_INIT) { /* opened (or failed to) */
        p->n_opening--;
        p->be->n_opening--;
        if (!link_empty(&w->waiters)) /* a login slot freed (MAX_OPENING): more may start */
            w->kick_waiters = true;
    }
    b->state = to;
    switch (to) {
    case BC_IDLE:
        b->idle_since_ms = w->now_ms;
        link_push_front(&p->idle, &b->link); /* most recently used first */
        p->n_idle++;
        MET_INC(&w->met, backend_idle);
        break;
    case BC_CLOSED:
        p->n_conns--;
        w->n_bconns--;
        release_slot(w);
        atomic_fetch_sub(&w->sh->backend_conns[p->be->idx], 1);
        w->kick_waiters = true; /* a freed slot may let a waiter open a conn */
        break;
    default: break;
    }
}

/* ---- borrowing ------------------------------------------------------------ */

static void attach(struct rm_bconn *b, struct rm_session *s)
{
    bconn_set_state(b, BC_ACTIVE);
    b->sess = s;
    if (s)
        s->bc = b;
}

/* Can conn b serve session s at all?  A session without a default schema
 * needs a conn without one: MySQL has no way to un-select a database. */
static bool usable(const struct rm_bconn *b, const struct rm_session *s)
{
    return s->st.schema || s->pending_db || !b->st.schema;
}

void pool_note_oldest_wait(struct rm_worker *w)
{
    uint64_t since = 0;
    if (!link_empty(&w->waiters))
        since = link_entry(w->waiters.next, struct rm_session, wait_link)->wait_since_ms;
    atomic_store(&w->sh->oldest_wait_ms[w->idx], since);
}

/* Sessions on other workers are queued for a backend conn. */
static int others_waiting(const struct rm_worker *w)
{
    int n = 0;
    for (int i = 0; i < w->sh->n_workers; i++)
        if (i != w->idx)
            n += atomic_load(&w->sh->waiting[i]);
    return n;
}

/* Does another worker have a session queued for STARVE_MS or more? */
static bool others_starving(const struct rm_worker *w)
{
    for (int i = 0; i < w->sh->n_workers; i++) {
        if (i == w->idx)
            continue;
        uint64_t since = atomic_load(&w->sh->oldest_wait_ms[i]);
        if (since && w->now_ms >= since + STARVE_MS)
            return true;
    }
    return false;
}

/* Give a ready (new or released) conn to the first waiter that can use it;
 * otherwise keep it idle, or close it when another pool or another worker
 * needs the slot more. */
void pool_conn_ready(struct rm_bconn *b)
{
    struct rm_worker *w = b->c.w;
    bconn_set_state(b, BC_ACTIVE); /* ready, owned by nobody until decided below */
    b->task = TASK_NONE;
    if (b->kill_pending) { /* a KILL QUERY for it is on its way: wait for it */
        b->ready_after_kill = true;
        return;
    }
    if (b->be_epoch != b->pool->be->epoch) { /* its backend changed role or address */
        bconn_retire(b, "backend role or address changed");
        return;
    }
    struct rm_link *pos;
    bool paused = atomic_load(&w->sh->paused);
    for (pos = paused ? &w->waiters : w->waiters.next; pos != &w->waiters; pos = pos->next) {
        struct rm_session *s = link_entry(pos, struct rm_session, wait_link);
        if (!s->bc && s->pool == b->pool && usable(b, s)) {
            attach(b, s);
            sess_on_backend(s, b); /* leaves the queue */
            return;
        }
    }
    if (atomic_load(&w->sh->stopping)) {
        bconn_retire(b, "proxy stopping");
        return;
    }
    /* Somebody else is starved of slots: hand ours over if a waiter of
     * another pool here needs it, another worker waits while this one holds
     * more than its fair share, or another worker starves. */
    bool at_cap = atomic_load(&w->sh->backend_total) >= w->cfg->max_backend_connections;
    bool starving =
        !link_empty(&w->waiters) || (w->n_bconns > worker_share(w) && others_waiting(w)) || others_starving(w);
    if (starving && at_cap) {
        bconn_retire(b, link_empty(&w->waiters) ? "slot given to another worker"
                                                : "slot handed to a waiting session of another pool");
        return;
    }
    bconn_set_state(b, BC_IDLE);
}

/* Pick the best idle conn of pool p for s: one already in s's state (its
 * previous conn first), else one with the same schema, else any usable. */
static struct rm_bconn *pick_idle(struct rm_pool *p, struct rm_session *s)
{
    struct rm_bconn *exact = NULL, *same_schema = NULL, *any = NULL;
    int scanned = 0;
    struct rm_link *pos;
    for (pos = p->idle.next; pos != &p->idle && scanned < BORROW_SCAN; pos = pos->next, scanned++) {
        struct rm_bconn *b = link_entry(pos, struct rm_bconn, link);
        if (!usable(b, s))
            continue;
        /* Its previous conn, untouched since: also right for ROW_COUNT(),
         * FOUND_ROWS() and the diagnostics area. */
        if (b->id == s->last_bc_id && b->uses == s->last_bc_uses)
            return b;
        bool schema_ok = state_schema_equal(&s->st, &b->st);
        if (!exact && schema_ok && b->st.multi_stmt == s->st.multi_stmt && state_vars_equal(&s->st, &b->st, &p->base))
            exact = b;
        if (schema_ok && !same_schema)
            same_schema = b;
        if (!any)
            any = b;
    }
    return exact ? exact : same_schema ? same_schema : any;
}

/* Close the least recently used idle conn of another pool of the same
 * backend to free a slot. */
static bool shed_idle(struct rm_pool *except)
{
    struct rm_link *pos;
    struct rm_link *pools = &except->be->pools;
    for (pos = pools->next; pos != pools; pos = pos->next) {
        struct rm_pool *p = link_entry(pos, struct rm_pool, link);
        if (p == except || link_empty(&p->idle))
            continue;
        bconn_retire(link_entry(p->idle.prev, struct rm_bconn, link), "slot needed by another pool");
        return true;
    }
    return false;
}

/* Move s to the pool of the same key on backend be (failover, reader
 * balancing).  -1 when out of memory. */
static int retarget(struct rm_session *s, struct rm_backend *be)
{
    struct rm_pool *old = s->pool;
    struct rm_pool *p = pool_get(be, old->user, old->password, old->caps, old->ext_caps, old->collation);
    if (!p)
        return -1;
    old->refs--;
    p->refs++;
    s->pool = p;
    MET_INC(&be->w->met, backend_moves);
    return 0;
}

struct rm_bconn *pool_borrow(struct rm_worker *w, struct rm_session *s)
{
    bool first = !link_linked(&s->wait_link); /* not queued yet: count holds once */
    if (atomic_load(&w->sh->paused)) {        /* POST /pause: hold new statements */
        if (first)
            MET_INC(&w->met, held_paused);
        return NULL;
    }
    struct rm_backend *target = backend_for(w, s->reader, s->pool->be);
    if (!target) { /* no writer (or reader) right now: wait for the monitor to find one */
        if (first)
            MET_INC(&w->met, held_no_backend);
        return NULL;
    }
    if (target != s->pool->be && retarget(s, target) < 0)
        return NULL;
    struct rm_pool *p = s->pool;
    struct rm_bconn *b = pick_idle(p, s);
    if (b) {
        attach(b, s);
        return b;
    }
    /* Nothing idle that fits: open one if no open already in progress will
     * serve this session. */
    if (p->n_opening >= p->n_waiting + 1 || atomic_load(&w->sh->stopping))
        return NULL;
    /* Gradual refill: a few logins in flight per backend at a time, so a
     * queue of waiting statements does not become a connect storm when a
     * backend (re)appears; each finished login lets the next one start. */
    if (p->be->n_opening >= MAX_OPENING)
        return NULL;
    if (!backend_may_connect(p->be))
        return NULL;
    bool beyond = link_linked(&s->wait_link) && w->now_ms >= s->wait_since_ms + RAMP_MS;
    if (!reserve_slot(w, beyond)) {
        if (w->n_bconns < worker_share(w) || beyond) {
            /* At the global cap: an idle conn of another pool (or, for a
             * session without a schema, one of ours with a schema) gives
             * its slot. */
            if (!shed_idle(p)) {
                if (s->st.schema || s->pending_db || link_empty(&p->idle))
                    return NULL;
                bconn_retire(link_entry(p->idle.prev, struct rm_bconn, link),
                             "slot needed by a session without a default database");
            }
        }
        if (!reserve_slot(w, beyond))
            return NULL;
    }
    open_conn(w, p);
    return NULL;
}

void pool_serve_waiters(struct rm_worker *w)
{
    /* Serve in FIFO order; restart after each success because serving a
     * session can change the list (it may fail and close, or shed conns). */
    bool progress = true;
    while (progress) {
        progress = false;
        struct rm_link *pos;
        for (pos = w->waiters.next; pos != &w->waiters; pos = pos->next) {
            struct rm_session *s = link_entry(pos, struct rm_session, wait_link);
            if (s->bc) { /* held while paused with its own (pinned) conn */
                if (atomic_load(&w->sh->paused))
                    continue;
                sess_on_backend(s, s->bc); /* leaves the queue */
                progress = true;
                break;
            }
            s->pool->n_waiting--; /* pool_borrow counts the caller itself */
            struct rm_bconn *b = pool_borrow(w, s);
            s->pool->n_waiting++;
            if (b) {
                sess_on_backend(s, b); /* leaves the queue */
                progress = true;
                break;
            }
        }
    }
}

void pool_release(struct rm_worker *w, struct rm_bconn *b)
{
    struct rm_session *s = b->sess;
    if (s) {
        s->bc = NULL;
        s->last_bc_id = b->id;
        s->last_bc_uses = b->uses;
    }
    b->sess = NULL;
    b->task = TASK_NONE;
    conn_resume_recv(&b->c); /* backpressure from the old client no longer applies */
    int64_t life = w->cfg->backend_max_lifetime_ms;
    if (life > 0 && w->now_ms - b->created_ms >= (uint64_t)life) {
        bconn_retire(b, "backend_max_lifetime reached");
        return;
    }
    pool_conn_ready(b);
}

void pool_abandon(struct rm_worker *w, struct rm_bconn *b, bool mid_response)
{
    b->sess = NULL;
    if (b->state != BC_ACTIVE)
        return;
    conn_resume_recv(&b->c);
    if (b->c.eof || b->task == TASK_INTERNAL || b->resp.phase == RP_INFILE) {
        bconn_close(b, "abandoned in the middle of a response");
        return;
    }
    if (b->task == TASK_CLIENT && b->resp.phase == RP_FIRST && !relay_busy(&b->relay) &&
        w->cfg->abandoned_statement == ABANDONED_KILL && b->kill_pending == 0) {
        /* No answer yet, and the config says to stop such statements:
         * KILL QUERY from another conn of the same user, then drain the
         * error and reuse the conn (without a way to send the KILL, close
         * it: the server aborts when it next writes).  By default (finish)
         * the statement runs to its end, as with a direct client that went
         * away, and the conn drains and resets below. */
        if (pool_kill_query(w, b) < 0) {
            bconn_close(b, "abandoned before the server answered");
            return;
        }
    }
    if (mid_response || b->task == TASK_CLIENT || relay_busy(&b->relay)) {
        bconn_drain(b); /* then reset, for reuse */
        return;
    }
    bconn_reset(b);
}

int pool_kill_query(struct rm_worker *w, struct rm_bconn *b)
{
    struct rm_pool *p = b->pool;
    struct rm_bconn *k = link_empty(&p->idle) ? NULL : link_entry(p->idle.next, struct rm_bconn, link);
    if (k) {
        attach(k, NULL);
        return bconn_send_kill(k, b);
    }
    if (w->killer && strcmp(w->killer->pool->user, p->user) == 0) { /* busy with another KILL: wait for it */
        if (w->kill_qn == (int)(sizeof(w->kill_q) / sizeof(w->kill_q[0])))
            return -1;
        w->kill_q[w->kill_qn][0] = b->c.slot;
        w->kill_q[w->kill_qn][1] = b->id;
        w->kill_qn++;
        b->kill_pending++; /* held from now on */
        return 0;
    }
    /* No idle conn: one more, beyond the cap, for KILLs only (as a client
     * would open a second connection to send KILL). */
    if (!backend_may_connect(p->be))
        return -1;
    atomic_fetch_add(&w->sh->backend_total, 1);
    if (!(k = open_conn_ex(w, p, true)))
        return -1;
    k->killer_only = true;
    if (!w->killer) /* (another user's KILL gets a killer of its own, untracked) */
        w->killer = k;
    return bconn_send_kill(k, b);
}

void pool_killer_next(struct rm_bconn *k)
{
    struct rm_worker *w = k->c.w;
    while (w->killer == k && w->kill_qn > 0) {
        struct rm_bconn *t = bconn_find(w, w->kill_q[0][0], w->kill_q[0][1]);
        memmove(w->kill_q, w->kill_q + 1, (size_t)--w->kill_qn * sizeof(w->kill_q[0]));
        if (!t)
            continue;
        t->kill_pending--;     /* bconn_send_kill counts it again */
        bconn_send_kill(k, t); /* (on failure k closed: pool_killer_closed let the rest go) */
        return;
    }
    if (w->killer == k)
        w->killer = NULL;
    bconn_retire(k, "no KILL QUERY left to send");
}

void pool_killer_closed(struct rm_bconn *k)
{
    struct rm_worker *w = k->c.w;
    if (w->killer != k)
        return;
    w->killer = NULL;
    for (int i = 0; i < w->kill_qn; i++) {
        struct rm_bconn *t = bconn_find(w, w->kill_q[i][0], w->kill_q[i][1]);
        if (t && t->kill_pending > 0 && --t->kill_pending == 0 && t->ready_after_kill) {
            t->ready_after_kill = false;
            pool_conn_ready(t);
        }
    }
    w->kill_qn = 0;
}

/* ---- maintenance -------------------------------------------------------- */

/* Is be the writer or a usable reader (worth keeping conns ready for)? */
static bool backend_in_use(const struct rm_worker *w, const struct rm_backend *be)
{
    const struct rm_topology *t = w->topo;
    return be->idx == t->writer || (be->idx < t->n && t->reader_ok[be->idx]);
}

static void expire_waiters(struct rm_worker *w)
{
    int64_t timeout = w->cfg->connection_borrow_timeout_ms;
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->waiters) {
        struct rm_session *s = link_entry(pos, struct rm_session, wait_link);
        if (w->now_ms - s->wait_since_ms < (uint64_t)timeout)
            continue;
        MET_INC(&w->met, borrow_timeouts);
        char msg[512];
        const char *last = backend_last_error(s->pool->be);
        bool none = !backend_for(w, s->reader, s->pool->be), paused = atomic_load(&w->sh->paused);
        snprintf(msg, sizeof(msg),
                 "ringmux: no backend connection available within connection_borrow_timeout (%lld ms; "
                 "max_backend_connections = %d)%s%s%s",
                 (long long)timeout, w->cfg->max_backend_connections,
                 paused ? "; ringmux is paused (POST /resume on the admin port)"
                 : none ? (s->reader ? "; no usable reader backend" : "; no writable backend")
                        : "",
                 *last ? "; last backend error: " : "", last);
        sess_backend_failed(s, 1040, "08004", msg); /* leaves the queue */
    }
}

void pool_maintain(struct rm_worker *w)
{
    struct rm_config *cfg = w->cfg;
    bool stopping = atomic_load(&w->sh->stopping);
    expire_waiters(w);
    int min_idle = (cfg->min_idle_backend_connections + w->sh->n_workers - 1) / w->sh->n_workers;
    /* Conns idle here while other workers queue at the cap: give the slots
     * up after a short grace (a busy worker keeps its warm conns). */
    int give = atomic_load(&w->sh->backend_total) >= cfg->max_backend_connections ? others_waiting(w) : 0;
    struct rm_link *pos, *tmp;
    for (int bi = 0; bi < w->n_backends; bi++)
        link_foreach_safe (pos, tmp, &w->backends[bi].pools) {
            struct rm_pool *p = link_entry(pos, struct rm_pool, link);
            int idle = p->n_idle;
            struct rm_link *ip, *it;
            /* Oldest idle conns are at the tail. */
            for (ip = p->idle.prev; ip != &p->idle; ip = it) {
                it = ip->prev;
                struct rm_bconn *b = link_entry(ip, struct rm_bconn, link);
                const char *why = NULL;
                if (stopping)
                    why = "proxy stopping";
                else if (cfg->backend_max_lifetime_ms > 0 &&
                         w->now_ms - b->created_ms >= (uint64_t)cfg->backend_max_lifetime_ms)
                    why = "backend_max_lifetime reached";
                else if (cfg->backend_idle_timeout_ms > 0 && idle > min_idle &&
                         w->now_ms - b->idle_since_ms >= (uint64_t)cfg->backend_idle_timeout_ms)
                    why = "backend_idle_timeout reached";
                else if (give > 0 && w->now_ms - b->idle_since_ms >= SHED_GRACE_MS) {
                    why = "slot needed by another worker";
                    give--;
                }
                if (why) {
                    bconn_retire(b, why);
                    idle--;
                }
            }
            while (!stopping && backend_in_use(w, p->be) && p->be->n_opening < MAX_OPENING &&
                   p->n_idle + p->n_opening < min_idle && backend_may_connect(p->be) && reserve_slot(w, false))
                open_conn(w, p);
            if (p->n_conns == 0 && p->n_waiting == 0 && p->refs == 0)
                pool_destroy(p);
        }
    if (!link_empty(&w->waiters) || give > 0)
        sess_yield_diag_holds(w);
    if (!link_empty(&w->waiters))
        pool_serve_waiters(w);
}
