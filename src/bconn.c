/* One backend connection's protocol life (include/ringmux/bconn.h). */
#include "ringmux/bconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/backend.h"
#include "ringmux/log.h"
#include "ringmux/monitor.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/relay.h"
#include "ringmux/session.h"
#include "ringmux/track.h"
#include "ringmux/vars.h"
#include "ringmux/tls.h"
#include "ringmux/worker.h"

/* Most bytes read into the void from a result whose client vanished before
 * the conn is closed instead of drained for reuse. */
#define DRAIN_MAX (4u << 20)

const char *bc_state_str(enum bconn_state s)
{
    switch (s) {
    case BC_CONNECTING: return "connecting";
    case BC_GREETING: return "greeting";
    case BC_AUTH: return "auth";
    case BC_INIT: return "init";
    case BC_IDLE: return "idle";
    case BC_ACTIVE: return "active";
    case BC_RESET: return "reset";
    case BC_CLOSED: return "closed";
    }
    return "?";
}

/* ---- on the ring ---------------------------------------------------------- */

static void ops_data(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used)
{
    bconn_on_data((struct rm_bconn *)c, data, len, used);
}
static void ops_eof(struct rm_conn *c, int err)
{
    bconn_on_eof((struct rm_bconn *)c, err);
}
static void ops_flushed(struct rm_conn *c, bool drained)
{
    (void)drained;
    bconn_on_flushed((struct rm_bconn *)c);
}
static void ops_connect(struct rm_conn *c, int res)
{
    bconn_on_connect((struct rm_bconn *)c, res);
}
static void ops_free(struct rm_conn *c)
{
    bconn_free((struct rm_bconn *)c);
}
static void login_failed(struct rm_bconn *b, const char *what, const uint8_t *p, size_t n);
static void ops_tls(struct rm_conn *c, bool ok)
{
    if (ok)
        return;
    char reason[96], what[160];
    snprintf(what, sizeof(what), "TLS with the server failed: %s ([backend] tls)",
             tls_conn_error(c, reason, sizeof(reason)));
    login_failed((struct rm_bconn *)c, what, NULL, 0);
}

const struct conn_ops bconn_ops = {
    .name = "backend",
    .on_data = ops_data,
    .on_eof = ops_eof,
    .on_flushed = ops_flushed,
    .on_connect = ops_connect,
    .on_tls = ops_tls,
    .free = ops_free,
    .keep_buffers = true, /* few and busy */
};

/* ---- opening ------------------------------------------------------------ */

struct rm_bconn *bconn_open(struct rm_worker *w, struct rm_pool *p)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    char why[200];
    if (backend_pick_addr(p->be, &ss, &sl, why, sizeof(why)) < 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "backend %s: %s", backend_name(p->be), why);
        backend_note_failure(p->be, msg);
        monitor_poke(w->sh);
        return NULL;
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct rm_bconn *b = fd >= 0 ? calloc(1, sizeof(*b)) : NULL;
    if (!b || conn_register(w, &b->c, &bconn_ops, fd) < 0) {
        log_error("cannot open backend connection: %s", fd < 0 ? strerror(errno) : "out of memory");
        if (fd >= 0)
            close(fd);
        free(b);
        return NULL;
    }
    b->id = ++w->next_bconn_id * RM_MAX_WORKERS + (uint32_t)w->idx;
    b->pool = p;
    b->be_epoch = p->be->epoch;
    b->state = BC_CONNECTING; /* born in it; pool_conn_opened counts it */
    b->created_ms = w->now_ms;
    b->addr = ss;
    link_init(&b->link);
    pool_conn_opened(b);
    MET_INC(&w->met, backend_opened);
    MET_INC(&w->met, backend_current);
    net_tune(fd);
    conn_connect(&b->c, (struct sockaddr *)&b->addr, sl, w->cfg->backend_connect_timeout_ms);
    if (log_enabled(LOG_DEBUG)) {
        char host[INET6_ADDRSTRLEN];
        blog(LOG_DEBUG, b, "connecting to backend %s (%s) for user %s", backend_name(p->be),
             bconn_addr_str(b, host, sizeof(host)), p->user);
    }
    return b;
}

const char *bconn_addr_str(const struct rm_bconn *b, char *buf, size_t len)
{
    const void *a = b->addr.ss_family == AF_INET6 ? (const void *)&((const struct sockaddr_in6 *)&b->addr)->sin6_addr
                                                  : (const void *)&((const struct sockaddr_in *)&b->addr)->sin_addr;
    uint16_t port = ntohs(b->addr.ss_family == AF_INET6 ? ((const struct sockaddr_in6 *)&b->addr)->sin6_port
                                                        : ((const struct sockaddr_in *)&b->addr)->sin_port);
    char ip[INET6_ADDRSTRLEN] = "?";
    inet_ntop(b->addr.ss_family, a, ip, sizeof(ip));
    snprintf(buf, len, b->addr.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, port);
    return buf;
}

void bconn_on_connect(struct rm_bconn *b, int res)
{
    if (res < 0) {
        char why[400], where[64], named[300];
        const struct rm_addr *addr = backend_addr(b->pool->be);
        bconn_addr_str(b, where, sizeof(where));
        snprintf(named, sizeof(named), strchr(addr->host, ':') ? "[%s]:%u" : "%s:%u", addr->host, addr->port);
        if (strcmp(named, where) == 0) /* a numeric address: say it once */
            snprintf(why, sizeof(why), "connect to %s failed: %s", where,
                     res == -ECANCELED ? "timed out (backend_connect_timeout)" : strerror(-res));
        else
            snprintf(why, sizeof(why), "connect to %s:%u (%s) failed: %s", addr->host, addr->port, where,
                     res == -ECANCELED ? "timed out (backend_connect_timeout)" : strerror(-res));
        backend_note_failure(b->pool->be, why);
        backend_connect_failed(b->pool->be);
        bconn_close(b, why);
        return;
    }
    bconn_set_state(b, BC_GREETING);
    conn_arm_recv(&b->c);
}

/* ---- closing ------------------------------------------------------------ */

static void kill_answered(struct rm_bconn *k);

void bconn_close(struct rm_bconn *b, const char *reason)
{
    if (b->state == BC_CLOSED)
        return;
    struct rm_worker *w = b->c.w;
    blog(LOG_DEBUG, b, "closing (%s): %s", bc_state_str(b->state), reason);
    if (b->learning_reset) /* another conn learns it */
        b->pool->learning_reset = false;
    if (b->kill_target_id) /* its KILL will never be answered: don't hold the target */
        kill_answered(b);
    if (b->killer_only)
        pool_killer_closed(b);
    if (b->sess) {
        struct rm_session *s = b->sess;
        b->sess = NULL;
        s->bc = NULL;
        sess_on_backend_lost(s, b->task == TASK_CLIENT && b->resp.phase != RP_IDLE);
    }
    bool quit = b->clean_close && !b->c.eof && !b->c.dead;
    if (quit)
        pkt_write_cmd(&b->c.out, COM_QUIT, NULL, 0);
    if (!b->clean_close && b->task != TASK_NONE && b->c.fd >= 0) {
        /* Mid-response: reset the TCP connection (RST) so the server stops
         * at once; a FIN would leave it blocked writing into a zero window
         * until net_write_timeout. */
        struct linger lg = {.l_onoff = 1, .l_linger = 0};
        setsockopt(b->c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    }
    bconn_set_state(b, BC_CLOSED);
    MET_INC(&w->met, backend_closed);
    MET_DEC(&w->met, backend_current);
    if (quit)
        conn_close_flushed(&b->c); /* the server sees COM_QUIT, not an aborted connection */
    else
        conn_kill(&b->c);
}

void bconn_retire(struct rm_bconn *b, const char *reason)
{
    b->clean_close = true;
    bconn_close(b, reason);
}

void bconn_free(struct rm_bconn *b)
{
    state_free(&b->st);
    stmt_cache_clear(&b->stmts);
    free(b->greeting);
    if (b->baseline_tmp) {
        for (int i = 0; i < var_count; i++)
            free(b->baseline_tmp[i]);
        free(b->baseline_tmp);
    }
    free(b); /* the pool may already be gone: pool_maintain frees empty pools */
}

/* ---- session-state tracking ------------------------------------------- */

/* System variables a client sees tracked by default (MariaDB's default
 * session_track_system_variables); the proxy's backends track '*', and the
 * OK packets relayed to clients are filtered down to this list. */
static const char *const client_tracked_vars[] = {
    "autocommit", "character_set_client", "character_set_connection", "character_set_results", "time_zone",
};

static bool client_tracks(const uint8_t *name, size_t len)
{
    for (size_t i = 0; i < sizeof(client_tracked_vars) / sizeof(client_tracked_vars[0]); i++)
        if (strlen(client_tracked_vars[i]) == len && memcmp(client_tracked_vars[i], name, len) == 0)
            return true;
    return false;
}

/* Apply an OK packet's session-state block to the conn's state and, for a
 * client command, to the session's; pin the session for changes the proxy
 * can't replay.  If filtered is non-NULL, the entries the client would have
 * seen connected directly are appended to it. */
static void track_apply(struct rm_bconn *b, struct rm_session *s, const uint8_t *p, size_t n, struct rm_buf *filtered)
{
    struct track_reader tr;
    struct track_entry e;
    bool state_changed = false, explained = false;
    track_begin(&tr, p, n);
    while (track_next(&tr, &e) > 0) {
        if (!e.ok && e.type != SESSION_TRACK_TRANSACTION_STATE)
            continue;
        switch (e.type) {
        case SESSION_TRACK_SYSTEM_VARIABLES: {
            int idx = var_index((const char *)e.name, e.name_len);
            explained = true;
            if (idx >= 0) {
                state_set(&b->st, &b->pool->base, idx, (const char *)e.value, e.value_len);
                if (s)
                    state_set(&s->st, &b->pool->base, idx, (const char *)e.value, e.value_len);
                /* SET NAMES / character_set_connection change the collation
                 * silently: the tracker does not report it. */
                if (s && e.name_len == 24 && memcmp(e.name, "character_set_connection", 24) == 0)
                    s->refresh_collation = true;
            } else if (!var_is_derived((const char *)e.name, e.name_len) && s) {
                sess_pin(s, PIN_UNTRACKED_VAR);
            }
            if (filtered && client_tracks(e.name, e.name_len))
                buf_append(filtered, e.raw, e.raw_len);
            break;
        }
        case SESSION_TRACK_SCHEMA:
            explained = true;
            state_set_schema(&b->st, (const char *)e.name, e.name_len);
            if (s)
                state_set_schema(&s->st, (const char *)e.name, e.name_len);
            if (filtered)
                buf_append(filtered, e.raw, e.raw_len);
            break;
        case SESSION_TRACK_STATE_CHANGE: state_changed = true; break;
        case SESSION_TRACK_TRANSACTION_STATE:
            /* Position 8 is 'L' while LOCK TABLES is in effect. */
            if (e.ok && e.name_len >= 8 && e.name[7] == 'L' && s)
                sess_pin(s, PIN_LOCK_TABLES);
            explained = true;
            break;
        default: break;
        }
    }
    /* The server says state changed but named nothing the proxy tracks:
     * user variables, temporary tables, prepared statements... */
    if (state_changed && !explained && s)
        sess_pin(s, PIN_SERVER_STATE);
}

/* ---- login -------------------------------------------------------------- */

/* Capabilities the proxy asks of backends, besides the pool's own bits. */
#define BACKEND_BASE_CAPS                                                                                              \
    (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_TRANSACTIONS | CLIENT_PLUGIN_AUTH | \
     CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | CLIENT_SESSION_TRACK)

static void login_failed(struct rm_bconn *b, const char *what, const uint8_t *p, size_t n)
{
    char why[192];
    struct pkt_err_view e;
    if (p && pkt_parse_err(p, n, &e) == 0)
        snprintf(why, sizeof(why), "backend login as '%s' failed: %s: %u %.*s", b->pool->user, what, e.code,
                 (int)(e.msg_len > 120 ? 120 : e.msg_len), (const char *)e.msg);
    else
        snprintf(why, sizeof(why), "backend login as '%s' failed: %s", b->pool->user, what);
    blog(LOG_WARN, b, "%s", why);
    MET_INC(&b->c.w->met, backend_failed);
    backend_note_failure(b->pool->be, why);
    bconn_close(b, why);
}

static void on_greeting(struct rm_bconn *b, const uint8_t *p, size_t n)
{
    const char *why = NULL;
    struct hs_greeting *g = calloc(1, sizeof(*g));
    if (!g) {
        bconn_close(b, "out of memory");
        return;
    }
    b->greeting = g;
    if (hs_parse_greeting(p, n, g, &why) < 0) {
        login_failed(b, why, p[0] == 0xff ? p : NULL, n);
        return;
    }
    b->thread_id = g->conn_id;
    b->caps = g->caps & (BACKEND_BASE_CAPS | b->pool->caps);
    b->ext_caps = g->ext_caps & (MARIADB_CLIENT_STMT_BULK_OPERATIONS | b->pool->ext_caps);
    b->resp.deprecate_eof = (b->caps & CLIENT_DEPRECATE_EOF) != 0;
    b->resp.session_track = (b->caps & CLIENT_SESSION_TRACK) != 0;
    uint8_t seq = 1;
    if (b->pool->be->w->cfg->backends[b->pool->be->idx].tls != BACKEND_TLS_OFF) {
        char fail[300] = "";
        struct rm_tls_ctx *x = backend_tls(b->pool->be, fail, sizeof(fail));
        if (!x) {
            login_failed(b, fail, NULL, 0);
            return;
        }
        if (!(g->caps & CLIENT_SSL)) {
            login_failed(b, "the server does not offer TLS, which [backend] tls asks for", NULL, 0);
            return;
        }
        /* SSL request in the clear, then TLS, then the login inside it. */
        if (hs_write_ssl_request(&b->c.out, b->caps | CLIENT_SSL, b->ext_caps, b->pool->collation) < 0 ||
            conn_start_tls(&b->c, x, backend_addr(b->pool->be)->host) < 0) {
            login_failed(b, "cannot start TLS (out of memory, or a bad host name for verify_identity)", NULL, 0);
            return;
        }
        seq = 2;
    }
    if (hs_write_login(&b->c.out, seq, b->caps | (b->c.tls ? CLIENT_SSL : 0), b->ext_caps, b->pool->collation,
                       b->pool->user, b->pool->password, NULL, g) < 0) {
        bconn_close(b, "out of memory");
        return;
    }
    bconn_set_state(b, BC_AUTH);
    conn_flush(&b->c);
}

static void start_init(struct rm_bconn *b);

/* caching_sha2_password full authentication (the server has no cached
 * entry for the user, e.g. after a restart): the password itself, in the
 * clear inside TLS, else RSA-encrypted with the server's pinned public key. */
static void full_auth(struct rm_bconn *b, uint8_t seq)
{
    const struct rm_backend_cfg *bc = &b->c.w->cfg->backends[b->pool->be->idx];
    const char *pw = b->pool->password;
    size_t pl = strlen(pw);
    uint8_t enc[1024];
    size_t elen = sizeof(enc);
    struct pkt_writer w;
    if (b->c.tls) {
        pkt_begin(&w, &b->c.out, (uint8_t)(seq + 1));
        pkt_add(&w, pw, pl + 1);
    } else if (bc->server_public_key_pem.data) {
        if (auth_sha2_rsa_encrypt(pw, pl, b->greeting->scramble, bc->server_public_key_pem.data,
                                  bc->server_public_key_pem.len, enc, &elen) < 0) {
            login_failed(b, "cannot encrypt the password with [backend] server_public_key (too long for the key?)",
                         NULL, 0);
            return;
        }
        pkt_begin(&w, &b->c.out, (uint8_t)(seq + 1));
        pkt_add(&w, enc, elen);
    } else {
        login_failed(b,
                     "the server asks for caching_sha2_password full authentication, which needs TLS "
                     "([backend] tls) or its RSA public key ([backend] server_public_key)",
                     NULL, 0);
        return;
    }
    if (pkt_end(&w) < 0) {
        bconn_close(b, "out of memory");
        return;
    }
    MET_INC(&b->c.w->met, backend_full_auth);
    conn_flush(&b->c);
}

static void on_auth_packet(struct rm_bconn *b, const uint8_t *p, size_t n, uint8_t seq)
{
    switch (p[0]) {
    case 0x00:
        free(b->greeting);
        b->greeting = NULL;
        backend_note_success(b->pool->be);
        start_init(b);
        return;
    case 0xff: login_failed(b, "refused", p, n); return;
    case 0xfe: { /* auth switch: plugin name, then new scramble */
        struct pkt_reader r;
        pkt_reader_init(&r, p + 1, n - 1);
        size_t pl;
        const uint8_t *plugin = pkt_read_cstr(&r, &pl);
        size_t sl = pkt_left(&r);
        if (r.err || sl < AUTH_SCRAMBLE_LEN) {
            login_failed(b, "malformed auth switch request", NULL, 0);
            return;
        }
        uint8_t proof[AUTH_SHA2_LEN];
        size_t plen;
        const char *pw = b->pool->password;
        memcpy(b->greeting->scramble, r.p, AUTH_SCRAMBLE_LEN);
        if (pl == strlen(AUTH_PLUGIN_NATIVE) && memcmp(plugin, AUTH_PLUGIN_NATIVE, pl) == 0) {
            auth_native_proof(pw, strlen(pw), b->greeting->scramble, proof, &plen);
        } else if (pl == strlen(AUTH_PLUGIN_SHA2) && memcmp(plugin, AUTH_PLUGIN_SHA2, pl) == 0) {
            auth_sha2_proof(pw, strlen(pw), b->greeting->scramble, proof, &plen);
        } else {
            char what[96];
            snprintf(what, sizeof(what), "server asked for unsupported auth plugin '%.*s'", (int)(pl > 40 ? 40 : pl),
                     (const char *)plugin);
            login_failed(b, what, NULL, 0);
            return;
        }
        struct pkt_writer w;
        pkt_begin(&w, &b->c.out, (uint8_t)(seq + 1));
        pkt_add(&w, proof, plen);
        if (pkt_end(&w) < 0) {
            bconn_close(b, "out of memory");
            return;
        }
        conn_flush(&b->c);
        return;
    }
    case 0x01: /* AuthMoreData (caching_sha2_password) */
        if (n == 2 && p[1] == 0x03)
            return; /* fast auth succeeded: OK follows */
        if (n == 2 && p[1] == 0x04) {
            full_auth(b, seq);
            return;
        }
        login_failed(b, "unexpected caching_sha2_password data", NULL, 0);
        return;
    default: login_failed(b, "unexpected packet during login", NULL, 0); return;
    }
}

/* ---- internal commands: init, reset, sync ------------------------------- */

int bconn_send_internal(struct rm_bconn *b, enum bconn_step step, uint8_t cmd, const void *arg, size_t len)
{
    b->task = TASK_INTERNAL;
    b->step = step;
    resp_start(&b->resp, resp_kind_for(cmd));
    if (pkt_write_cmd(&b->c.out, cmd, arg, len) < 0)
        return -1;
    conn_flush(&b->c);
    return 0;
}

static int send_query(struct rm_bconn *b, enum bconn_step step, const char *sql)
{
    return bconn_send_internal(b, step, COM_QUERY, sql, strlen(sql));
}

static const char TRACKING_SQL[] =
    "SET session_track_schema=1, session_track_state_change=1, "
    "session_track_system_variables='*', session_track_transaction_info='CHARACTERISTICS'";

/* SHOW SESSION VARIABLES WHERE Variable_name IN (...tracked list...) */
static int send_baseline_query(struct rm_bconn *b)
{
    struct rm_buf q = {0};
    buf_append(&q, "SHOW SESSION VARIABLES WHERE Variable_name IN (", 47);
    for (int i = 0; i < var_count; i++) {
        if (i)
            buf_append(&q, ",", 1);
        state_quote(&q, var_defs[i].name, strlen(var_defs[i].name));
    }
    buf_append(&q, ")", 1);
    int rc = q.data ? bconn_send_internal(b, STEP_BASELINE, COM_QUERY, buf_head(&q), buf_avail(&q)) : -1;
    buf_free(&q);
    return rc;
}

static int send_kill(struct rm_bconn *k);
static struct rm_bconn *kill_target(struct rm_bconn *k);

static void start_init(struct rm_bconn *b)
{
    bconn_set_state(b, BC_INIT);
    if (b->killer_only) { /* logged in only to send one KILL QUERY */
        if (!kill_target(b)) {
            b->kill_target_id = 0;
            pool_killer_next(b); /* the next KILL waiting, or retire */
        } else if (send_kill(b) < 0)
            bconn_close(b, "out of memory");
        return;
    }
    if (send_query(b, STEP_TRACKING, TRACKING_SQL) < 0)
        bconn_close(b, "out of memory");
}

/* A text-protocol row of the baseline query: Variable_name, Value. */
static void baseline_row(struct rm_bconn *b, const uint8_t *p, size_t n)
{
    struct pkt_reader r;
    pkt_reader_init(&r, p, n);
    size_t nl, vl;
    const uint8_t *name = pkt_read_lenenc_str(&r, &nl);
    const uint8_t *val = pkt_read_lenenc_str(&r, &vl);
    if (r.err)
        return;
    int idx = var_index((const char *)name, nl);
    if (idx < 0)
        return;
    if (!b->baseline_tmp && !(b->baseline_tmp = calloc((size_t)var_count, sizeof(char *))))
        return;
    free(b->baseline_tmp[idx]);
    b->baseline_tmp[idx] = strndup((const char *)val, vl);
}

/* Baseline captured: the pool adopts it if it has none; otherwise the
 * conn records where it differs. */
static void finish_baseline(struct rm_bconn *b)
{
    struct rm_pool *p = b->pool;
    char **vals = b->baseline_tmp;
    b->baseline_tmp = NULL;
    for (int i = 0; i < b->st.n_vars; i++)
        free(b->st.vars[i].val);
    b->st.n_vars = 0;
    if (!vals)
        return;
    if (!p->base.known) {
        p->base.vals = vals;
        p->base.known = true;
        return;
    }
    for (int i = 0; i < var_count; i++) {
        if (vals[i])
            state_set(&b->st, &p->base, i, vals[i], strlen(vals[i]));
        free(vals[i]);
    }
    free(vals);
}

static void response_done(struct rm_bconn *b);

struct rm_bconn *bconn_find(struct rm_worker *w, uint32_t slot, uint32_t id)
{
    if (!id || slot >= w->nslots)
        return NULL;
    struct rm_conn *c = w->conns[slot];
    struct rm_bconn *t = c && c->ops == &bconn_ops && !c->dead ? (struct rm_bconn *)c : NULL;
    return t && t->id == id && t->state != BC_CLOSED ? t : NULL;
}

/* The conn k is about to send KILL QUERY for: still alive? */
static struct rm_bconn *kill_target(struct rm_bconn *k)
{
    return bconn_find(k->c.w, k->kill_target_slot, k->kill_target_id);
}
static int send_kill(struct rm_bconn *k)
{
    struct rm_bconn *t = kill_target(k);
    char q[48];
    snprintf(q, sizeof(q), "KILL QUERY %u", t->thread_id);
    blog(LOG_DEBUG, t, "stopping its statement: %s from b=%u", q, k->id);
    return bconn_send_internal(k, STEP_KILL, COM_QUERY, q, strlen(q));
}

/* k's KILL QUERY was answered: its target may serve others again. */
static void kill_answered(struct rm_bconn *k)
{
    struct rm_bconn *t = kill_target(k);
    k->kill_target_id = 0;
    if (!t || t->kill_pending == 0)
        return;
    if (--t->kill_pending == 0 && t->ready_after_kill) {
        t->ready_after_kill = false;
        pool_conn_ready(t);
    }
}

int bconn_send_kill(struct rm_bconn *k, struct rm_bconn *target)
{
    k->kill_target_slot = target->c.slot;
    k->kill_target_id = target->id;
    target->kill_pending++;
    if (k->killer_only && k->state < BC_INIT)
        return 0; /* sent once logged in (start_init) */
    if (send_kill(k) < 0) {
        bconn_close(k, "out of memory");
        return -1;
    }
    return 0;
}

/* An internal command's response is complete. */
static void internal_done(struct rm_bconn *b, const uint8_t *errp, size_t errn)
{
    enum bconn_step step = b->step;
    b->task = TASK_NONE;
    bool err = b->resp.is_err;
    blog(LOG_DEBUG, b, "internal step %d done%s", (int)step, err ? " with an error" : "");
    struct rm_config *cfg = b->c.w->cfg;
    switch (step) {
    case STEP_TRACKING:
        if (err) {
            login_failed(b, "SET session_track_* refused", errp, errn);
            return;
        }
        if (cfg->init_query && *cfg->init_query) {
            send_query(b, STEP_INIT_QUERY, cfg->init_query);
            return;
        }
        send_baseline_query(b);
        return;
    case STEP_INIT_QUERY:
        if (err) {
            login_failed(b, "[pool] init_query failed", errp, errn);
            return;
        }
        send_baseline_query(b);
        return;
    case STEP_BASELINE:
        if (err) {
            login_failed(b, "reading session variables failed", errp, errn);
            return;
        }
        finish_baseline(b);
        b->st.multi_stmt = (b->caps & CLIENT_MULTI_STATEMENTS) != 0;
        if (b->learning_reset) { /* this baseline is what a reset leaves */
            b->learning_reset = false;
            b->pool->learning_reset = false;
            if (state_copy(&b->pool->reset_st, &b->st) == 0) {
                state_set_schema(&b->pool->reset_st, NULL, 0);
                b->pool->reset_known = true;
            }
        } else if (!b->pool->reset_known && !b->pool->learning_reset && b->state == BC_INIT) {
            /* The pool's first conn learns what COM_RESET_CONNECTION leaves
             * (the server drops connect-time settings: IGNORE_SPACE, the
             * handshake collation), so a client's reset, which the proxy
             * answers itself, leaves the session as the server would. */
            b->learning_reset = true;
            b->pool->learning_reset = true;
            if (bconn_send_internal(b, STEP_RESET, COM_RESET_CONNECTION, NULL, 0) < 0)
                bconn_close(b, "out of memory");
            return;
        }
        pool_conn_ready(b);
        return;
    case STEP_RESET:
    case STEP_ROLLBACK:
        if (err) {
            bconn_close(b, "COM_RESET_CONNECTION failed");
            return;
        }
        for (int i = 0; i < b->st.n_vars; i++)
            free(b->st.vars[i].val);
        b->st.n_vars = 0;
        b->lid_known = false;
        stmt_cache_clear(&b->stmts); /* the reset closed them on the server */
        send_query(b, STEP_TRACKING, TRACKING_SQL);
        return;
    case STEP_SYNC_DB:
    case STEP_SYNC_VARS:
    case STEP_SYNC_OPT:
    case STEP_SYNC_CLEAR_DIAG:
    case STEP_STASH_DIAG:
    case STEP_CHECK_DB:
    case STEP_PREPARE:
    case STEP_REFRESH_COLLATION:
        /* b->step still names the step that ended; the session reads it
         * and may start the next one (which overwrites it). */
        if (b->sess)
            sess_on_sync_step(b->sess, !err, errp, errn);
        return;
    case STEP_KILL: /* the interrupted statement's conn drains on its own */
        if (err)
            blog(LOG_WARN, b, "KILL QUERY failed: %.*s", errp && errn > 9 ? (int)(errn - 9) : 0,
                 errp && errn > 9 ? (const char *)errp + 9 : "");
        kill_answered(b);
        if (b->killer_only)
            pool_killer_next(b); /* the next KILL waiting for it, or retire */
        else
            pool_conn_ready(b);
        return;
    case STEP_NONE: return;
    }
}

/* ---- the packet stream from the backend --------------------------------- */

/* Where the response goes: the attached client's queue, or nowhere (its
 * client vanished and the conn drains, or the client is gone). */
static struct rm_buf *client_out(struct rm_bconn *b)
{
    struct rm_session *s = b->sess;
    return b->draining || !s || s->c.dead ? NULL : &s->c.out;
}

/* n bytes of the response passed on: counted, and a drain that grows too
 * large gives up (the conn closes; the server stops where it is). */
static void relayed(struct rm_bconn *b, size_t n)
{
    if (b->draining) {
        b->drained += n;
        if (b->drained > DRAIN_MAX)
            bconn_close(b, "drained too much of an abandoned result");
    } else if (b->sess) {
        MET_ADD(&b->c.w->met, bytes_to_clients, n);
    }
}

/* Queue bytes of the response to the attached session's client. */
static void to_client(struct rm_bconn *b, const uint8_t *p, size_t n)
{
    struct rm_buf *to = client_out(b);
    if (to)
        buf_append(to, p, n);
    relayed(b, n);
}
/* Relay an OK packet (header 0x00 or 0xFE) to the client, filtering the
 * session-state block to what the client would have seen. */
static void relay_ok(struct rm_bconn *b, const uint8_t *raw, size_t n)
{
    struct rm_session *s = b->sess;
    const uint8_t *p = raw + PKT_HDR;
    struct pkt_ok_view ok;
    if (pkt_parse_ok(p, n, b->caps, &ok) < 0) {
        to_client(b, raw, PKT_HDR + n);
        return;
    }
    struct rm_buf filtered = {0};
    if (ok.state)
        track_apply(b, s, ok.state, ok.state_len, (s->caps & CLIENT_SESSION_TRACK) ? &filtered : NULL);
    if (!ok.state && (ok.status & SERVER_SESSION_STATE_CHANGED) == 0 &&
        ((b->caps ^ s->caps) & CLIENT_SESSION_TRACK) == 0) {
        to_client(b, raw, PKT_HDR + n); /* nothing to rewrite */
        buf_free(&filtered);
        return;
    }
    struct pkt_ok out = pkt_ok_from_view(&ok); /* the session-state block filtered to what the client tracks */
    out.state = buf_avail(&filtered) ? buf_head(&filtered) : NULL;
    out.state_len = buf_avail(&filtered);
    size_t before = s->c.out.len;
    pkt_write_ok(&s->c.out, raw[3], s->caps, &out, p[0]);
    MET_ADD(&b->c.w->met, bytes_to_clients, s->c.out.len - before);
    buf_free(&filtered);
}

/* A whole packet while a client command is in flight. */
static void client_packet(struct rm_bconn *b, const uint8_t *raw, size_t n)
{
    const uint8_t *p = raw + PKT_HDR;
    bool terminal_ok = n > 0 && (p[0] == 0x00 || p[0] == 0xfe) &&
                       (b->resp.phase == RP_FIRST || b->resp.phase == RP_ROWS) && b->resp.kind != RK_PREPARE &&
                       b->resp.kind != RK_STATISTICS && !(p[0] == 0xfe && !b->resp.deprecate_eof);
    bool prepare_ok = b->resp.kind == RK_PREPARE && b->resp.phase == RP_FIRST && n >= 12 && p[0] == 0x00;
    enum resp_event ev = resp_feed(&b->resp, p, n, (uint32_t)n);
    if (ev == RE_BAD) {
        bconn_close(b, "protocol violation in a response");
        return;
    }
    if (prepare_ok && b->sess) { /* show the client the proxy's statement id */
        uint32_t id = sess_on_prepare_ok(b->sess, pkt_u32(p + 1), (uint16_t)pkt_u16(p + 5), (uint16_t)pkt_u16(p + 7));
        uint8_t *copy = malloc(PKT_HDR + n);
        if (!copy) {
            bconn_close(b, "out of memory");
            return;
        }
        memcpy(copy, raw, PKT_HDR + n);
        pkt_put_u32(copy + PKT_HDR + 1, id);
        to_client(b, copy, PKT_HDR + n);
        free(copy);
    } else if (terminal_ok && b->sess && ev != RE_NONE) {
        relay_ok(b, raw, n);
    } else {
        to_client(b, raw, PKT_HDR + n);
    }
    if (b->state == BC_CLOSED)
        return;
    if (ev == RE_DONE)
        response_done(b);
    else if (ev == RE_INFILE && b->sess)
        sess_on_infile_request(b->sess);
    else if (ev == RE_INFILE) /* draining: nobody will send the file */
        bconn_close(b, "abandoned during LOCAL INFILE");
}

/* A whole packet while the proxy's own command is in flight. */
static void internal_packet(struct rm_bconn *b, const uint8_t *raw, size_t n)
{
    const uint8_t *p = raw + PKT_HDR;
    bool row = b->resp.phase == RP_ROWS && n > 0 && p[0] != 0xff && !(p[0] == 0xfe && n < PKT_MAX_PAYLOAD);
    bool ok = n > 0 && p[0] == 0x00 && b->resp.phase == RP_FIRST;
    if (row && b->step == STEP_BASELINE)
        baseline_row(b, p, n);
    if (ok && b->resp.kind == RK_PREPARE) { /* prepare-OK: keep the server's id */
        if (n >= 5)
            b->prep_backend_id = pkt_u32(p + 1);
        ok = false;
    }
    enum resp_event ev = resp_feed(&b->resp, p, n, (uint32_t)n);
    if (b->step == STEP_STASH_DIAG && b->sess && !b->resp.is_err && ev != RE_BAD)
        diag_stash_packet(&b->sess->diag, raw, n, ev == RE_DONE, b->sess->caps, b->caps);
    if (ok) {
        struct pkt_ok_view v;
        if (pkt_parse_ok(p, n, b->caps, &v) == 0 && v.state)
            track_apply(b, b->step == STEP_REFRESH_COLLATION ? b->sess : NULL, v.state, v.state_len, NULL);
    }
    switch (ev) {
    case RE_BAD: bconn_close(b, "protocol violation in an internal response"); return;
    case RE_INFILE: bconn_close(b, "internal command asked for LOCAL INFILE"); return;
    case RE_DONE: internal_done(b, b->resp.is_err ? p : NULL, n); return;
    default: return;
    }
}

static void whole_packet(struct rm_bconn *b, const uint8_t *raw, size_t n)
{
    const uint8_t *p = raw + PKT_HDR;
    switch (b->state) {
    case BC_GREETING:
        if (n == 0) {
            login_failed(b, "empty greeting", NULL, 0);
            return;
        }
        on_greeting(b, p, n);
        return;
    case BC_AUTH:
        if (n == 0) {
            login_failed(b, "empty auth response", NULL, 0);
            return;
        }
        on_auth_packet(b, p, n, raw[3]);
        return;
    case BC_INIT:
    case BC_RESET: internal_packet(b, raw, n); return;
    case BC_ACTIVE:
        if (b->task == TASK_CLIENT)
            client_packet(b, raw, n);
        else if (b->task == TASK_INTERNAL)
            internal_packet(b, raw, n);
        else
            bconn_close(b, "unsolicited packet from the server");
        return;
    case BC_IDLE: {
        struct pkt_err_view e;
        if (n > 0 && p[0] == 0xff && pkt_parse_err(p, n, &e) == 0)
            blog(LOG_INFO, b, "server closed idle connection: %u %.*s", e.code, (int)e.msg_len, (const char *)e.msg);
        bconn_close(b, "unsolicited packet from the server");
        return;
    }
    default: return;
    }
}

void bconn_on_data(struct rm_bconn *b, const uint8_t *data, size_t len, size_t *used)
{
    size_t off = 0;
    while (off < len && b->state != BC_CLOSED) {
        if (relay_busy(&b->relay)) { /* rest of a streamed packet */
            int then;
            size_t k = relay_more(&b->relay, client_out(b), data + off, len - off, &then);
            off += k;
            relayed(b, k);
            if (then == RE_DONE && b->state != BC_CLOSED)
                response_done(b);
            continue;
        }
        if (len - off < PKT_HDR)
            break;
        uint32_t plen = pkt_u24(data + off);
        if (b->task == TASK_CLIENT && b->sess)
            b->sess->resp_seq = (uint8_t)(data[off + 3] + 1);
        if (b->state == BC_ACTIVE && b->task == TASK_CLIENT && plen > 0) {
            if (len - off < PKT_HDR + 1)
                break;
            uint8_t first = data[off + PKT_HDR];
            if (!resp_needs_whole(&b->resp, first, plen)) {
                enum resp_event ev = resp_feed(&b->resp, data + off + PKT_HDR, 1, plen);
                if (ev == RE_BAD) {
                    bconn_close(b, "protocol violation in a response");
                    break;
                }
                bool passed;
                size_t k =
                    relay_begin(&b->relay, client_out(b), data + off, len - off, PKT_HDR + (size_t)plen, ev, &passed);
                off += k;
                relayed(b, k);
                if (passed && ev == RE_DONE && b->state != BC_CLOSED)
                    response_done(b);
                continue;
            }
        }
        if (len - off < PKT_HDR + (size_t)plen)
            break;
        whole_packet(b, data + off, plen);
        off += PKT_HDR + (size_t)plen;
    }
    *used = off;
    struct rm_session *s = b->sess;
    if (s && !s->c.dead) {
        conn_flush(&s->c);
        if (conn_pending(&s->c) > SESS_BACKPRESSURE_HIGH)
            conn_pause_recv(&b->c); /* the client reads slower than the server writes */
    }
}

void bconn_on_flushed(struct rm_bconn *b)
{
    /* LOCAL INFILE backpressure: the client may send more file data. */
    struct rm_session *s = b->sess;
    if (s && s->state == SESS_INFILE && s->c.recv_paused && conn_pending(&b->c) < SESS_BACKPRESSURE_LOW)
        conn_resume_recv(&s->c);
}

void bconn_on_eof(struct rm_bconn *b, int err)
{
    char why[96];
    snprintf(why, sizeof(why), "server closed the connection%s%s", err ? ": " : "", err ? strerror(err) : "");
    if (b->state <= BC_AUTH) {
        backend_note_failure(b->pool->be, why);
        MET_INC(&b->c.w->met, backend_failed);
    }
    bconn_close(b, why);
}

/* The response to a client command is complete: tell the session, or, if
 * its client vanished mid-response (the conn was draining), reset the conn
 * and put it back in the pool instead of reconnecting. */
static void response_done(struct rm_bconn *b)
{
    if (b->state == BC_CLOSED)
        return;
    if (b->sess) {
        sess_on_response_done(b->sess);
        return;
    }
    b->draining = false;
    b->task = TASK_NONE;
    bconn_reset(b);
}

void bconn_reset(struct rm_bconn *b)
{
    MET_INC(&b->c.w->met, backend_resets);
    bconn_set_state(b, BC_RESET);
    b->uses++;
    if (bconn_send_internal(b, STEP_RESET, COM_RESET_CONNECTION, NULL, 0) < 0)
        bconn_close(b, "out of memory");
}

void bconn_drain(struct rm_bconn *b)
{
    b->task = TASK_CLIENT;
    b->draining = true;
    b->drained = 0;
    conn_resume_recv(&b->c);
    if (b->resp.phase == RP_IDLE && !relay_busy(&b->relay))
        response_done(b); /* nothing left to read after all */
}
