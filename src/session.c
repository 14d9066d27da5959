/* The client session (include/ringmux/session.h).
 *
 * sess_on_data() is the one entry for client bytes and switches on the
 * session state; the backend side calls back through the sess_on_*()
 * functions; every way out goes through sess_close(). */
#include "ringmux/session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/backend.h"
#include "ringmux/handshake.h"
#include "ringmux/kill.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/vars.h"
#include "ringmux/worker.h"

/* Client input beyond this while a command is in flight pauses reading. */
#define SESS_PIPELINE_MAX         (1024 * 1024)
/* Clients must finish the handshake within this long. */
#define SESS_HANDSHAKE_TIMEOUT_MS 10000

const char *sess_state_str(enum sess_state s)
{
    switch (s) {
    case SESS_HANDSHAKE: return "handshake";
    case SESS_AUTH_SWITCH: return "auth_switch";
    case SESS_CHECK_DB: return "check_db";
    case SESS_IDLE: return "idle";
    case SESS_WAIT: return "wait";
    case SESS_SYNC: return "sync";
    case SESS_FORWARD: return "forward";
    case SESS_INFILE: return "infile";
    case SESS_KILLING: return "killing";
    case SESS_CLOSING: return "closing";
    case SESS_DEAD: return "dead";
    }
    return "?";
}

static struct rm_worker *W(struct rm_session *s)
{
    return s->c.w;
}

/* The one place a session changes state: it owns the wait queue (entering
 * WAIT queues the session, leaving it dequeues, whoever causes it), the
 * queue counters, and reading pauses while CLOSING. */
static void sess_set_state(struct rm_session *s, enum sess_state to)
{
    struct rm_worker *w = W(s);
    enum sess_state from = s->state;
    if (from == to)
        return;
    if (from == SESS_WAIT) {
        link_remove(&s->wait_link);
        s->pool->n_waiting--;
        atomic_fetch_sub(&w->sh->waiting[w->idx], 1);
    }
    s->state = to;
    switch (to) {
    case SESS_WAIT:
        s->wait_since_ms = w->now_ms;
        link_push_back(&w->waiters, &s->wait_link);
        s->pool->n_waiting++;
        atomic_fetch_add(&w->sh->waiting[w->idx], 1);
        MET_INC(&w->met, borrow_waits);
        break;
    case SESS_CLOSING: conn_pause_recv(&s->c); break;
    default: break;
    }
    if (from == SESS_WAIT || to == SESS_WAIT)
        pool_note_oldest_wait(w);
}

/* The backend conn carries this session's state (a pin, an open
 * transaction or cursor): nobody else may use it as it is. */
static bool sess_state_on_conn(const struct rm_session *s)
{
    return s->pin != PIN_NONE || s->in_trans || s->cursor_open;
}

/* The session keeps its conn after the current command: its state is on
 * it, or it holds it for the next command (diagnostics, one-shot SET
 * TRANSACTION, long data before its EXECUTE). */
static bool sess_keeps_conn(const struct rm_session *s)
{
    return sess_state_on_conn(s) || s->hold;
}

/* ---- small output helpers ------------------------------------------------ */

static void send_err(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    pkt_write_err(&s->c.out, seq, code, sqlstate, "%s", msg);
    conn_flush(&s->c);
}

static void send_ok(struct rm_session *s, uint8_t seq)
{
    struct pkt_ok ok = {.status = s->status};
    pkt_write_ok(&s->c.out, seq, s->caps, &ok, 0x00);
    conn_flush(&s->c);
}

/* Send a final ERR and close once it is flushed. */
static void err_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    slog(LOG_INFO, s, "closing: %s", msg);
    send_err(s, seq, code, sqlstate, msg);
    sess_set_state(s, SESS_CLOSING);
    if (conn_pending(&s->c) == 0)
        sess_close(s, msg);
}

/* The client broke the protocol: counted, then err_and_close(). */
static void fail_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    MET_INC(&W(s)->met, protocol_errors);
    err_and_close(s, seq, code, sqlstate, msg);
}

/* ---- accept and handshake -------------------------------------------------- */

static void ops_data(struct rm_conn *c, const uint8_t *data, size_t len, size_t *used)
{
    sess_on_data((struct rm_session *)c, data, len, used);
}
static void ops_eof(struct rm_conn *c, int err)
{
    sess_on_eof((struct rm_session *)c, err);
}
static void ops_flushed(struct rm_conn *c, bool drained)
{
    (void)drained;
    sess_on_flushed((struct rm_session *)c);
}
static void ops_free(struct rm_conn *c)
{
    sess_free((struct rm_session *)c);
}

/* Client sessions on the ring: idle ones keep no send buffer. */
static const struct conn_ops sess_ops = {
    .name = "client",
    .on_data = ops_data,
    .on_eof = ops_eof,
    .on_flushed = ops_flushed,
    .free = ops_free,
    .keep_buffers = false,
};

void sess_accept(struct rm_worker *w, int fd)
{
    struct rm_session *s = calloc(1, sizeof(*s));
    if (!s || conn_register(w, &s->c, &sess_ops, fd) < 0) {
        free(s);
        close(fd);
        MET_INC(&w->met, clients_rejected);
        return;
    }
    link_init(&s->wait_link); /* TCP_NODELAY/keepalive come from the listener */
    link_push_back(&w->sessions, &s->link);
    /* The id names its worker, so KILL <id> from any worker finds it. */
    s->id = ++w->next_sess_seq * (uint32_t)w->sh->n_workers + (uint32_t)w->idx;
    s->last_active_ms = w->now_ms;
    s->status = SERVER_STATUS_AUTOCOMMIT;
    s->state = SESS_HANDSHAKE; /* born in it: no transition */
    MET_INC(&w->met, clients_accepted);
    MET_INC(&w->met, clients_current);
    int total = atomic_fetch_add(&w->sh->clients_total, 1) + 1;
    if (total > w->cfg->max_client_connections) {
        MET_INC(&w->met, clients_rejected);
        char msg[160];
        snprintf(msg, sizeof(msg), "Too many connections (ringmux max_client_connections = %d)",
                 w->cfg->max_client_connections);
        err_and_close(s, 0, 1040, "08004", msg);
        return;
    }
    if (auth_random_scramble(s->scramble, AUTH_SCRAMBLE_LEN) < 0 ||
        hs_write_greeting(&s->c.out, &w->sh->server, s->id, s->scramble) < 0) {
        sess_close(s, "cannot build greeting");
        return;
    }
    s->seq = 1;
    conn_flush(&s->c);
    conn_arm_recv(&s->c);
}

static void peer_host(struct rm_session *s, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    snprintf(out, len, "unknown");
    if (getpeername(s->c.fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, (socklen_t)len);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, out, (socklen_t)len);
}

/* The server's ERR 1045.  At login the connection then closes; after a
 * failed COM_CHANGE_USER the session stays as it was (keep). */
static void access_denied(struct rm_session *s, const char *user, size_t ulen, bool with_pw, bool keep)
{
    char host[64], msg[256];
    peer_host(s, host, sizeof(host));
    snprintf(msg, sizeof(msg), "Access denied for user '%.*s'@'%s' (using password: %s)", (int)(ulen > 64 ? 64 : ulen),
             user, host, with_pw ? "YES" : "NO");
    MET_INC(&W(s)->met, auth_failures);
    if (keep)
        send_err(s, 1, 1045, "28000", msg);
    else
        err_and_close(s, s->seq, 1045, "28000", msg);
}

/* Is the plugin name (len bytes, may be NULL) exactly name? */
static bool is_plugin(const void *plugin, size_t len, const char *name)
{
    return plugin && len == strlen(name) && memcmp(plugin, name, len) == 0;
}

static void start_command(struct rm_session *s);

/* Credentials are good: become this user; validate the database if one was
 * asked for (the client must get 1049 at connect, as with a direct
 * connection), else say OK. */
static void auth_ok(struct rm_session *s, const struct rm_user *u, const char *db, size_t db_len)
{
    struct rm_worker *w = W(s);
    char *nu = strdup(u->name), *np = strdup(u->password);
    struct rm_pool *p = (nu && np) ? pool_get(w, u->name, u->password, s->caps, s->ext_caps, s->collation) : NULL;
    if (!p) {
        free(nu);
        free(np);
        sess_close(s, "out of memory");
        return;
    }
    if (s->pool)
        s->pool->refs--;
    free(s->user);
    free(s->password);
    s->user = nu;
    s->password = np;
    s->pool = p;
    p->refs++;
    s->st.multi_stmt = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
    if (db && db_len && pool_db_known(p, db, db_len, w->now_ms)) {
        state_set_schema(&s->st, db, db_len); /* validated moments ago */
        db = NULL;
    }
    if (db && db_len) {
        free(s->pending_db);
        s->pending_db = strndup(db, db_len);
        sess_set_state(s, SESS_CHECK_DB);
        start_command(s);
        return;
    }
    sess_set_state(s, SESS_IDLE);
    send_ok(s, s->seq++);
    slog(LOG_DEBUG, s, "authenticated as %s", s->user);
}

/* Verify an auth response for plugin `plugin` against user u. */
static bool verify(struct rm_session *s, const struct rm_user *u, bool sha2, const uint8_t *auth, size_t n)
{
    size_t pl = strlen(u->password);
    if (sha2)
        return auth_sha2_verify(u->password, pl, s->scramble, auth, n);
    return auth_native_verify(u->password, pl, s->scramble, auth, n);
}

static void on_handshake(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    struct hs_response r;
    const char *why = NULL;
    if (hs_parse_response(p, n, &r, &why) < 0) {
        char msg[200];
        snprintf(msg, sizeof(msg), "ringmux: bad handshake: %s", why);
        fail_and_close(s, s->seq, 1043, "08S01", msg);
        return;
    }
    s->caps = r.caps & w->sh->server.caps;
    s->ext_caps = s->caps & CLIENT_LONG_PASSWORD ? 0 : r.ext_caps & w->sh->server.ext_caps;
    s->collation = r.collation ? r.collation : w->sh->server.collation;
    s->seq = 2;
    const struct rm_user *u = cfg_find_user(w->cfg, r.user, r.user_len);
    bool sha2 = is_plugin(r.plugin, r.plugin_len, AUTH_PLUGIN_SHA2);
    bool native = r.plugin_len == 0 || is_plugin(r.plugin, r.plugin_len, AUTH_PLUGIN_NATIVE);
    if (!u) {
        slog(LOG_INFO, s, "user '%.*s' is not listed in [users]: access denied", (int)(r.user_len > 64 ? 64 : r.user_len),
             r.user);
        access_denied(s, r.user, r.user_len, r.auth_len > 0, false);
        return;
    }
    if (!native && !sha2) { /* a plugin we don't speak: ask for ours */
        free(s->pending_db);
        s->pending_db = r.db ? strndup(r.db, r.db_len) : NULL;
        free(s->user);
        s->user = strndup(r.user, r.user_len);
        hs_write_auth_switch(&s->c.out, s->seq++, AUTH_PLUGIN_NATIVE, s->scramble);
        conn_flush(&s->c);
        sess_set_state(s, SESS_AUTH_SWITCH);
        return;
    }
    if (!verify(s, u, sha2, r.auth, r.auth_len)) {
        access_denied(s, r.user, r.user_len, r.auth_len > 0, false);
        return;
    }
    if (sha2) { /* caching_sha2_password: "fast auth succeeded", then OK */
        struct pkt_writer pw;
        pkt_begin(&pw, &s->c.out, s->seq++);
        pkt_add_u8(&pw, 0x01);
        pkt_add_u8(&pw, 0x03);
        pkt_end(&pw);
    }
    auth_ok(s, u, r.db, r.db_len);
}

static void on_auth_switch_response(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    s->seq++;
    const char *name = s->user ? s->user : "";
    const struct rm_user *u = cfg_find_user(w->cfg, name, strlen(name));
    if (!u || !verify(s, u, false, p, n)) {
        access_denied(s, name, strlen(name), n > 0, false);
        return;
    }
    char *db = s->pending_db;
    s->pending_db = NULL;
    auth_ok(s, u, db, db ? strlen(db) : 0);
    free(db);
}

/* ---- pinning -------------------------------------------------------------- */

void sess_pin(struct rm_session *s, enum cls_pin reason)
{
    if (s->pin != PIN_NONE || reason == PIN_NONE)
        return;
    s->pin = reason;
    MET_INC(&W(s)->met, pins[reason]);
    MET_INC(&W(s)->met, pinned_current);
    slog(LOG_DEBUG, s, "pinned: %s", cls_pin_str(reason));
}

static void unpin(struct rm_session *s)
{
    if (s->pin == PIN_NONE)
        return;
    s->pin = PIN_NONE;
    MET_DEC(&W(s)->met, pinned_current);
}

/* ---- teardown ---------------------------------------------------------- */

/* Let go of the attached backend conn: back to the pool when it carries no
 * session-specific state, else reset (or closed) before anyone reuses it. */
static void detach_backend(struct rm_session *s, bool dirty)
{
    struct rm_bconn *b = s->bc;
    if (!b)
        return;
    s->bc = NULL;
    bool mid = b->task != TASK_NONE; /* a response (ours or the client's) is still coming */
    if (dirty || mid || sess_state_on_conn(s)) {
        b->sess = NULL;
        pool_abandon(W(s), b, mid);
    } else {
        b->sess = s;
        pool_release(W(s), b);
    }
}

void sess_close(struct rm_session *s, const char *reason)
{
    if (s->state == SESS_DEAD)
        return;
    struct rm_worker *w = W(s);
    slog(LOG_DEBUG, s, "closing in state %s: %s", sess_state_str(s->state), reason);
    if (s->state == SESS_WAIT)
        sess_set_state(s, SESS_CLOSING); /* out of the queue */
    detach_backend(s, false);
    unpin(s);
    if (s->pool)
        s->pool->refs--;
    s->pool = NULL;
    s->state = SESS_DEAD; /* final: the pool is gone, so no transition */
    link_remove(&s->link);
    MET_DEC(&w->met, clients_current);
    atomic_fetch_sub(&w->sh->clients_total, 1);
    conn_kill(&s->c);
}

static bool answer_stashed_warnings(struct rm_session *s, const char *sql, size_t len);

void sess_free(struct rm_session *s)
{
    stmt_reg_clear(&s->stmts);
    stmt_text_unref(s->prep_text);
    buf_free(&s->cmd);
    diag_free(&s->diag);
    state_free(&s->st);
    free(s->user);
    free(s->password);
    free(s->pending_db);
    free(s);
}

void sess_on_eof(struct rm_session *s, int err)
{
    sess_close(s, err ? strerror(err) : "client disconnected");
}

void sess_on_flushed(struct rm_session *s)
{
    if (s->state == SESS_CLOSING && conn_pending(&s->c) == 0) {
        sess_close(s, "final packet sent");
        return;
    }
    if (s->bc && s->bc->c.recv_paused && conn_pending(&s->c) < SESS_BACKPRESSURE_LOW)
        conn_resume_recv(&s->bc->c);
}

/* ---- commands answered by the proxy ---------------------------------------- */

/* The session state the server leaves after COM_RESET_CONNECTION or
 * COM_CHANGE_USER: what the pool learned a reset leaves (connect-time
 * extras such as IGNORE_SPACE or the handshake collation gone), the schema
 * kept or not.  Until the pool knows it (no conn has finished its first
 * login yet), the session is marked and the state applied at its next
 * command (apply_reset_state). */
static void reset_session(struct rm_session *s, bool keep_schema)
{
    detach_backend(s, true);
    unpin(s);
    char *schema = keep_schema ? s->st.schema : NULL;
    if (keep_schema)
        s->st.schema = NULL;
    state_clear(&s->st);
    s->st.schema = schema;
    s->st.multi_stmt = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
    s->reset_pending = true;
    s->in_trans = s->hold = s->lost_trans = s->cursor_open = false;
    s->rc_known = s->fr_known = false;
    diag_forget(&s->diag);
    s->last_insert_id = 0;
    stmt_reg_clear(&s->stmts);
    s->last_prep = 0;
    s->status = SERVER_STATUS_AUTOCOMMIT;
}

/* reset_session()'s variables, once the pool knows them. */
static void apply_reset_state(struct rm_session *s)
{
    if (!s->reset_pending || !s->pool || !s->pool->reset_known)
        return;
    s->reset_pending = false;
    char *schema = s->st.schema;
    bool ms = s->st.multi_stmt;
    s->st.schema = NULL;
    if (state_copy(&s->st, &s->pool->reset_st) < 0)
        slog(LOG_WARN, s, "out of memory restoring the state after a reset");
    free(s->st.schema);
    s->st.schema = schema;
    s->st.multi_stmt = ms;
}

static void cmd_reset_connection(struct rm_session *s)
{
    reset_session(s, true); /* the server keeps the default database across a reset */
    apply_reset_state(s);
    MET_INC(&W(s)->met, commands_local);
    send_ok(s, 1);
}

static void cmd_change_user(struct rm_session *s, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    struct pkt_reader r;
    pkt_reader_init(&r, p + 1, n - 1);
    size_t ulen, alen, dlen = 0, plen = 0;
    const uint8_t *user = pkt_read_cstr(&r, &ulen), *auth, *db = NULL, *plugin = NULL;
    if (s->caps & CLIENT_SECURE_CONNECTION) {
        alen = (size_t)pkt_read_int(&r, 1);
        auth = pkt_read_bytes(&r, alen);
    } else {
        auth = pkt_read_cstr(&r, &alen);
    }
    if (!r.err && pkt_left(&r) > 0)
        db = pkt_read_cstr(&r, &dlen);
    uint16_t coll = 0;
    if (!r.err && pkt_left(&r) >= 2)
        coll = (uint16_t)pkt_read_int(&r, 2);
    if (!r.err && pkt_left(&r) > 0 && (s->caps & CLIENT_PLUGIN_AUTH))
        plugin = pkt_read_cstr(&r, &plen);
    if (r.err) {
        fail_and_close(s, 1, 1043, "08S01", "ringmux: malformed COM_CHANGE_USER packet");
        return;
    }
    s->seq = 2;
    const struct rm_user *u = cfg_find_user(w->cfg, (const char *)user, ulen);
    bool sha2 = is_plugin(plugin, plen, AUTH_PLUGIN_SHA2);
    if (!u || !verify(s, u, sha2, auth, alen)) {
        access_denied(s, (const char *)user, ulen, alen > 0, true);
        return;
    }
    /* Everything session-scoped goes, as on a server. */
    reset_session(s, false);
    if (coll && coll < 256)
        s->collation = (uint8_t)coll;
    MET_INC(&w->met, commands_local);
    s->seq = 1;
    if (sha2) {
        struct pkt_writer pw;
        pkt_begin(&pw, &s->c.out, s->seq++);
        pkt_add_u8(&pw, 0x01);
        pkt_add_u8(&pw, 0x03);
        pkt_end(&pw);
    }
    auth_ok(s, u, (const char *)db, dlen);
}

static void cmd_unsupported(struct rm_session *s, uint8_t cmd)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "ringmux: %s (0x%02x) is not supported through the proxy", pkt_cmd_str(cmd), cmd);
    MET_INC(&W(s)->met, commands_local);
    send_err(s, 1, 1047, "08S01", msg);
}

/* ---- forwarding ------------------------------------------------------------ */

/* Queue the session for a backend conn (or use the one it holds). */
static void start_command(struct rm_session *s)
{
    struct rm_worker *w = W(s);
    if (s->bc) {
        sess_on_backend(s, s->bc);
        return;
    }
    struct rm_bconn *b = pool_borrow(w, s);
    if (b) {
        sess_on_backend(s, b);
        return;
    }
    sess_set_state(s, SESS_WAIT); /* pending_db still says whether this is the connect-time check */
}

/* Commands that name a prepared statement on the server. */
static bool stmt_command(const struct rm_session *s)
{
    return s->cmd_byte == COM_STMT_EXECUTE || s->cmd_byte == COM_STMT_BULK_EXECUTE ||
           s->cmd_byte == COM_STMT_SEND_LONG_DATA || s->cmd_byte == COM_STMT_RESET ||
           s->cmd_byte == COM_STMT_FETCH;
}

static uint8_t *join_payload(const uint8_t *data, size_t raw, size_t payload);

/* The payload of the command in s->cmd (raw packets): in place when it is
 * one packet; joined into *joined (caller frees) when it was split at
 * 16 MiB - 1, so that rewriting it never copies continuation headers into
 * the data.  NULL when out of memory. */
static const uint8_t *cmd_payload(struct rm_session *s, size_t *n, uint8_t **joined)
{
    const uint8_t *raw = buf_head(&s->cmd);
    size_t raw_len = buf_avail(&s->cmd);
    *joined = NULL;
    if (pkt_u24(raw) < PKT_MAX_PAYLOAD) {
        *n = raw_len - PKT_HDR;
        return raw + PKT_HDR;
    }
    size_t payload = 0;
    for (size_t off = 0; off < raw_len; off += PKT_HDR + pkt_u24(raw + off))
        payload += pkt_u24(raw + off);
    *joined = join_payload(raw, raw_len, payload);
    *n = payload;
    return *joined;
}

/* Send the client's command on b and start tracking the response. */
static void become_idle(struct rm_session *s);

static void forward_command(struct rm_session *s, struct rm_bconn *b)
{
    if (s->kill_query) { /* KILL QUERY came while its state was being synced */
        s->kill_query = false;
        buf_reset(&s->cmd);
        send_err(s, 1, 1317, "70100", "Query execution was interrupted");
        become_idle(s);
        return;
    }
    sess_set_state(s, SESS_FORWARD);
    b->task = TASK_CLIENT;
    b->uses++;
    b->last_sess = s->id;
    resp_start(&b->resp, resp_kind_for(s->cmd_byte));
    if (stmt_command(s)) { /* the server knows the statement by its own id */
        struct stmt_entry *e = stmt_reg_find(&s->stmts, s->cur_stmt);
        struct stmt_cached *sc = e ? stmt_cache_find(&b->stmts, e->t) : NULL;
        uint8_t *joined = NULL;
        size_t n;
        const uint8_t *p = cmd_payload(s, &n, &joined);
        int rc = -1;
        if (p && sc && s->cmd_byte == COM_STMT_EXECUTE)
            rc = stmt_write_execute(&b->c.out, p, n, e, sc, s->id);
        else if (p && sc && s->cmd_byte == COM_STMT_BULK_EXECUTE)
            rc = stmt_write_bulk(&b->c.out, p, n, e, sc, s->id);
        else if (p && sc)
            rc = stmt_write_with_id(&b->c.out, p, n, sc->backend_id);
        free(joined);
        if (rc < 0) { /* on_command checked the layout: only memory can fail here */
            b->task = TASK_NONE;
            buf_reset(&s->cmd);
            sess_close(s, "out of memory");
            return;
        }
    } else {
        buf_append(&b->c.out, buf_head(&s->cmd), buf_avail(&s->cmd));
    }
    buf_reset(&s->cmd);
    MET_INC(&W(s)->met, queries);
    conn_flush(&b->c);
    if (b->resp.kind == RK_NONE) /* COM_STMT_CLOSE / SEND_LONG_DATA: no answer */
        sess_on_response_done(s);
}

/* The database a STEP_SYNC_DB must select: the statement's when it must be
 * prepared first, else the session's. */
static const char *sync_db_target(struct rm_session *s, struct rm_bconn *b)
{
    struct stmt_entry *e = stmt_command(s) ? stmt_reg_find(&s->stmts, s->cur_stmt) : NULL;
    if (e && e->t->schema && !stmt_cache_find(&b->stmts, e->t))
        return e->t->schema;
    return s->st.schema;
}

/* Does s's statement read LAST_INSERT_ID() on a conn that may hold another
 * value?  Each conn remembers the value it holds when known (set by an
 * INSERT's OK or by a replay).  A session pinned by LAST_INSERT_ID(expr)
 * holds the truth on its conn and is never replayed. */
static bool needs_lid_replay(const struct rm_session *s, const struct rm_bconn *b)
{
    if (!(s->cls.flags & CLS_LAST_INSERT_ID) || s->cmd_byte != COM_QUERY || s->pin == PIN_LAST_INSERT_ID_EXPR)
        return false;
    return !(b->lid_known && b->lid == s->last_insert_id);
}

/* The next state-sync step b needs before s's command can run, or
 * STEP_NONE when b already matches s. */
static enum bconn_step next_sync_step(struct rm_session *s, struct rm_bconn *b)
{
    if (s->pending_db)
        return STEP_CHECK_DB;
    struct stmt_entry *e = stmt_command(s) ? stmt_reg_find(&s->stmts, s->cur_stmt) : NULL;
    if (e && !stmt_cache_find(&b->stmts, e->t)) {
        /* Prepare lazily, in the schema the client prepared it in. */
        if (e->t->schema && !(b->st.schema && strcmp(b->st.schema, e->t->schema) == 0))
            return STEP_SYNC_DB;
        return STEP_PREPARE;
    }
    if (s->st.schema && !state_schema_equal(&s->st, &b->st))
        return STEP_SYNC_DB;
    bool lid = needs_lid_replay(s, b);
    if (lid || !state_vars_equal(&s->st, &b->st, &b->pool->base))
        return STEP_SYNC_VARS;
    if (s->st.multi_stmt != b->st.multi_stmt)
        return STEP_SYNC_OPT;
    if ((s->cls.flags & CLS_DIAGNOSTICS) && s->cmd_byte == COM_QUERY &&
        !(b->id == s->last_bc_id && b->uses == s->last_bc_uses) && b->last_sess != s->id)
        return STEP_SYNC_CLEAR_DIAG;
    return STEP_NONE;
}

static void run_sync(struct rm_session *s, struct rm_bconn *b)
{
    enum bconn_step step = next_sync_step(s, b);
    int rc = 0;
    switch (step) {
    case STEP_NONE: forward_command(s, b); return;
    case STEP_CHECK_DB: rc = bconn_send_internal(b, step, COM_INIT_DB, s->pending_db, strlen(s->pending_db)); break;
    case STEP_SYNC_DB: {
        const char *db = sync_db_target(s, b);
        rc = bconn_send_internal(b, step, COM_INIT_DB, db, strlen(db));
        break;
    }
    case STEP_PREPARE: {
        struct stmt_entry *e = stmt_reg_find(&s->stmts, s->cur_stmt);
        MET_INC(&W(s)->met, stmt_prepares);
        rc = bconn_send_internal(b, step, COM_STMT_PREPARE, e->t->text, e->t->len);
        break;
    }
    case STEP_SYNC_VARS: {
        struct rm_buf q = {0};
        int n = state_delta_sql(&s->st, &b->st, &b->pool->base, &q);
        if (n >= 0 && needs_lid_replay(s, b)) {
            char lid[48];
            snprintf(lid, sizeof(lid), "%slast_insert_id=%llu", n ? ", " : "SET ",
                     (unsigned long long)s->last_insert_id);
            buf_append(&q, lid, strlen(lid));
            b->lid = s->last_insert_id;
            b->lid_known = true;
            n++;
        }
        if (n <= 0) { /* values equal after all (e.g. unknown baseline) */
            buf_free(&q);
            state_copy(&b->st, &s->st);
            run_sync(s, b);
            return;
        }
        MET_INC(&W(s)->met, state_syncs);
        rc = bconn_send_internal(b, step, COM_QUERY, buf_head(&q), buf_avail(&q));
        buf_free(&q);
        break;
    }
    case STEP_SYNC_OPT: {
        uint8_t opt[2] = {s->st.multi_stmt ? 0 : 1, 0};
        rc = bconn_send_internal(b, step, COM_SET_OPTION, opt, 2);
        break;
    }
    case STEP_SYNC_CLEAR_DIAG: {
        static const char clear[] = "SELECT 0 FROM (SELECT 1) ringmux_clear_diagnostics LIMIT 0";
        rc = bconn_send_internal(b, step, COM_QUERY, clear, sizeof(clear) - 1);
        break;
    }
    default: break;
    }
    if (rc < 0)
        sess_close(s, "out of memory");
}

void sess_on_backend(struct rm_session *s, struct rm_bconn *b)
{
    apply_reset_state(s);
    s->bc = b;
    b->sess = s;
    sess_set_state(s, s->pending_db ? SESS_CHECK_DB : SESS_SYNC);
    run_sync(s, b);
}

/* Forward a backend's ERR packet payload to the client with sequence seq. */
static void relay_err(struct rm_session *s, uint8_t seq, const uint8_t *errp, size_t errn)
{
    struct pkt_err_view e;
    if (errp && pkt_parse_err(errp, errn, &e) == 0) {
        char msg[512];
        snprintf(msg, sizeof(msg), "%.*s", (int)(e.msg_len > 500 ? 500 : e.msg_len), (const char *)e.msg);
        pkt_write_err(&s->c.out, seq, e.code, e.sqlstate, "%s", msg);
    } else {
        pkt_write_err(&s->c.out, seq, 1105, "HY000", "ringmux: restoring session state on the backend failed");
    }
    conn_flush(&s->c);
}

static void process_input(struct rm_session *s);

/* Back to waiting for a command: release the backend conn unless the
 * session must keep it, then serve any pipelined input. */
static void become_idle(struct rm_session *s)
{
    sess_set_state(s, SESS_IDLE);
    s->last_active_ms = W(s)->now_ms;
    if (s->bc && !sess_keeps_conn(s))
        detach_backend(s, false);
    if (atomic_load(&W(s)->sh->stopping) && !s->bc) {
        /* Graceful stop: the answer just queued goes out first. */
        sess_set_state(s, SESS_CLOSING);
        if (conn_pending(&s->c) == 0)
            sess_close(s, "proxy shutting down");
        return;
    }
    if (s->c.recv_paused)
        conn_resume_recv(&s->c);
    /* Pipelined commands: served here, unless this runs inside consume()
     * already (a command answered without a round trip, e.g.
     * COM_STMT_SEND_LONG_DATA), whose loop goes on by itself - no
     * recursion, no second reader of the same bytes. */
    if (!s->consuming && buf_avail(&s->c.in) > 0)
        process_input(s);
}

void sess_on_sync_step(struct rm_session *s, bool ok, const uint8_t *errp, size_t errn)
{
    struct rm_bconn *b = s->bc;
    enum bconn_step step = b->step;
    if (step == STEP_STASH_DIAG) { /* the client asked nothing: it hears nothing */
        if (!ok || s->diag.stash_overflow)
            slog(LOG_DEBUG, s, "diagnostics not stashed (%s)", ok ? "too large" : "SHOW WARNINGS failed");
        diag_stash_end(&s->diag, ok);
        s->hold = false;
        become_idle(s);
        return;
    }
    if (!ok && step == STEP_REFRESH_COLLATION) { /* the client has its answer already */
        slog(LOG_WARN, s, "could not read collation_connection after a character set change");
        detach_backend(s, true);
        become_idle(s);
        return;
    }
    if (!ok) {
        if (step == STEP_CHECK_DB) { /* unknown database at connect: as the server does */
            relay_err(s, s->seq, errp, errn);
            free(s->pending_db);
            s->pending_db = NULL;
            detach_backend(s, false);
            sess_set_state(s, SESS_CLOSING);
            if (conn_pending(&s->c) == 0)
                sess_close(s, "unknown database at connect");
            return;
        }
        /* A replay failed (e.g. the schema was dropped): the command fails
         * with the server's error; the conn's state is uncertain. */
        relay_err(s, 1, errp, errn);
        buf_reset(&s->cmd);
        detach_backend(s, true);
        become_idle(s);
        return;
    }
    switch (step) {
    case STEP_CHECK_DB:
        pool_db_remember(s->pool, s->pending_db, W(s)->now_ms);
        state_set_schema(&s->st, s->pending_db, strlen(s->pending_db));
        state_set_schema(&b->st, s->pending_db, strlen(s->pending_db));
        free(s->pending_db);
        s->pending_db = NULL;
        send_ok(s, s->seq++);
        become_idle(s);
        return;
    case STEP_SYNC_DB: {
        const char *db = sync_db_target(s, b);
        state_set_schema(&b->st, db, strlen(db));
        break;
    }
    case STEP_PREPARE: {
        struct stmt_entry *e = stmt_reg_find(&s->stmts, s->cur_stmt);
        if (e && stmt_cache_add(&b->stmts, e->t, b->prep_backend_id, &b->c.out) > 0) {
            MET_INC(&W(s)->met, stmt_evictions);
            conn_flush(&b->c);
        }
        break;
    }
    case STEP_SYNC_VARS: {
        char *schema = b->st.schema; /* keep the conn's schema, copy the variables */
        b->st.schema = NULL;
        bool ms = b->st.multi_stmt;
        state_copy(&b->st, &s->st);
        free(b->st.schema);
        b->st.schema = schema;
        b->st.multi_stmt = ms;
        break;
    }
    case STEP_SYNC_OPT: b->st.multi_stmt = s->st.multi_stmt; break;
    case STEP_SYNC_CLEAR_DIAG: b->last_sess = s->id; break;
    case STEP_REFRESH_COLLATION: become_idle(s); return;
    default: break;
    }
    run_sync(s, b);
}

/* ROW_COUNT() and FOUND_ROWS() as the session would see them after the
 * response just relayed: exact after a single statement (text or
 * prepared); unknown after errors, multi-statements and CALL. */
static void track_counts(struct rm_session *s, const struct rm_resp *r)
{
    if (s->cmd_byte != COM_QUERY && s->cmd_byte != COM_STMT_EXECUTE && s->cmd_byte != COM_STMT_BULK_EXECUTE)
        return; /* other commands leave both alone */
    bool multi = s->cmd_byte == COM_QUERY && (s->cls.flags & CLS_MULTI);
    bool call = s->cmd_byte == COM_QUERY && (s->cls.flags & CLS_WRITE) && r->had_resultset;
    if (r->is_err || multi || call) {
        s->rc_known = s->fr_known = false;
        return;
    }
    s->rc_known = true;
    if (r->had_resultset) {
        s->row_count = -1;
        s->found_rows = r->last_rows;
        s->fr_known = s->cls.pin != PIN_CALC_FOUND_ROWS; /* then only the conn knows the full count */
    } else {
        s->row_count = (int64_t)r->affected_rows;
    }
}

void sess_on_response_done(struct rm_session *s)
{
    struct rm_bconn *b = s->bc;
    const struct rm_resp *r = &b->resp;
    b->task = TASK_NONE;
    if (!r->is_err) {
        s->status = r->status;
        s->in_trans = (r->status & SERVER_STATUS_IN_TRANS) != 0;
        if (s->cmd_byte == COM_SET_OPTION) {
            s->st.multi_stmt = b->st.multi_stmt = s->cmd_option_on;
        }
        /* LAST_INSERT_ID() of the session and of the conn: exact after a
         * single INSERT (or a prepared statement) that generated an id,
         * unknown for the conn after anything else that may write. */
        bool exec = s->cmd_byte == COM_STMT_EXECUTE || s->cmd_byte == COM_STMT_BULK_EXECUTE;
        bool single_insert = s->cmd_byte == COM_QUERY && (s->cls.flags & CLS_INSERT) && !(s->cls.flags & CLS_MULTI);
        if (r->insert_id && (single_insert || exec)) {
            s->last_insert_id = b->lid = r->insert_id;
            b->lid_known = true;
        } else if (exec || (s->cmd_byte == COM_QUERY && (s->cls.flags & (CLS_WRITE | CLS_MULTI))) ||
                   s->cls.pin == PIN_LAST_INSERT_ID_EXPR) {
            b->lid_known = false;
        }
    }
    if (s->cmd_byte == COM_STMT_EXECUTE && !r->is_err)
        s->cursor_open = (r->status & SERVER_STATUS_CURSOR_EXISTS) != 0;
    else if (s->cmd_byte == COM_STMT_FETCH && (r->is_err || (r->status & SERVER_STATUS_LAST_ROW_SENT)))
        s->cursor_open = false;
    else if (s->cmd_byte == COM_STMT_RESET)
        s->cursor_open = false;
    if (s->cmd_byte == COM_STMT_PREPARE) {
        if (r->is_err)
            s->last_prep = 0; /* as the server forgets its last statement */
        stmt_text_unref(s->prep_text);
        s->prep_text = NULL;
    }
    /* Warnings (and errors) live in the connection's diagnostics area: the
     * session may hold the conn for a SHOW WARNINGS (diag.h).  Long data
     * waits on the server for the EXECUTE that follows; a one-shot SET
     * TRANSACTION for the next transaction. */
    track_counts(s, r);
    bool hard = (s->cls.flags & CLS_TXN_ONESHOT) || s->cmd_byte == COM_STMT_SEND_LONG_DATA;
    bool diag = diag_after_response(&s->diag, r->is_err, r->warnings, (s->cls.flags & CLS_DIAGNOSTICS) != 0, hard);
    s->hold = diag || hard;
    if (!r->is_err && (s->cls.flags & CLS_SET_CHARSET))
        s->refresh_collation = true;
    s->cls.flags = 0;
    b->last_sess = s->id;
    conn_flush(&s->c);
    if (s->refresh_collation) { /* ask the server what SET NAMES made of the collation */
        static const char q[] = "SET collation_connection=@@collation_connection";
        s->refresh_collation = false;
        sess_set_state(s, SESS_SYNC);
        if (bconn_send_internal(b, STEP_REFRESH_COLLATION, COM_QUERY, q, sizeof(q) - 1) < 0)
            sess_close(s, "out of memory");
        return;
    }
    become_idle(s);
}

uint32_t sess_on_prepare_ok(struct rm_session *s, uint32_t backend_id, uint16_t n_cols, uint16_t n_params)
{
    struct rm_bconn *b = s->bc;
    if (!s->prep_text)
        return 0;
    struct stmt_entry *e = stmt_reg_add(&s->stmts, s->prep_text, n_params, n_cols);
    if (!e)
        return 0;
    s->last_prep = e->id;
    if (!stmt_cache_find(&b->stmts, s->prep_text)) {
        if (stmt_cache_add(&b->stmts, s->prep_text, backend_id, &b->c.out) > 0)
            MET_INC(&W(s)->met, stmt_evictions);
    } else { /* same text already prepared here: drop the duplicate */
        uint8_t id[4];
        pkt_put_u32(id, backend_id);
        pkt_write_cmd(&b->c.out, COM_STMT_CLOSE, id, 4);
    }
    return e->id;
}

void sess_on_infile_request(struct rm_session *s)
{
    sess_set_state(s, SESS_INFILE);
    s->infile_left = 0;
    if (buf_avail(&s->c.in) > 0)
        process_input(s);
}

void sess_on_backend_lost(struct rm_session *s, bool mid_response)
{
    switch (s->state) {
    case SESS_SYNC:
    case SESS_CHECK_DB:
        /* The command never reached the server: retry on another conn. */
        start_command(s);
        return;
    case SESS_FORWARD:
    case SESS_INFILE: {
        /* ER_CONNECTION_KILLED: a server-range code; libmariadb rejects
         * client-range codes like 2013 in an ERR packet as malformed. */
        pkt_write_err(&s->c.out, s->resp_seq, 1927, "70100",
                      "Lost connection to backend server during query (ringmux: the backend connection "
                      "closed before the response was complete)");
        conn_flush(&s->c);
        s->in_trans = false;
        s->hold = false;
        buf_reset(&s->cmd);
        if (s->pin != PIN_NONE) { /* its pinned state died with the conn */
            sess_set_state(s, SESS_CLOSING);
            if (conn_pending(&s->c) == 0)
                sess_close(s, "pinned backend connection lost");
            return;
        }
        become_idle(s);
        return;
    }
    case SESS_IDLE:
        if (s->pin != PIN_NONE) {
            sess_close(s, "pinned backend connection lost");
            return;
        }
        if (s->in_trans)
            s->lost_trans = true;
        s->in_trans = false;
        s->hold = false;
        return;
    default: return;
    }
}

void sess_backend_failed(struct rm_session *s, uint16_t code, const char *sqlstate, const char *msg)
{
    slog(LOG_INFO, s, "%s", msg);
    if (s->pending_db) {
        fail_and_close(s, s->seq, code, sqlstate, msg);
        return;
    }
    buf_reset(&s->cmd);
    send_err(s, 1, code, sqlstate, msg);
    become_idle(s);
}

/* ---- client input ------------------------------------------------------------ */

/* Find one whole logical packet (16 MiB continuations included) at data.
 * Returns 1 and its raw length / payload length, 0 if incomplete, -1 if
 * it is larger than max_allowed_packet. */
static int whole_packet(const uint8_t *data, size_t len, int64_t max, size_t *raw, size_t *payload)
{
    size_t off = 0, total = 0;
    for (;;) {
        if (len - off < PKT_HDR) {
            return 0;
        }
        uint32_t plen = pkt_u24(data + off);
        total += plen;
        if ((int64_t)total > max)
            return -1;
        if (len - off < PKT_HDR + (size_t)plen)
            return 0;
        off += PKT_HDR + plen;
        if (plen < PKT_MAX_PAYLOAD) {
            *raw = off;
            *payload = total;
            return 1;
        }
    }
}

/* Payload of a split packet made contiguous (caller frees). */
static uint8_t *join_payload(const uint8_t *data, size_t raw, size_t payload)
{
    uint8_t *p = malloc(payload ? payload : 1);
    if (!p)
        return NULL;
    size_t off = 0, at = 0;
    while (off < raw) {
        uint32_t plen = pkt_u24(data + off);
        memcpy(p + at, data + off + PKT_HDR, plen);
        at += plen;
        off += PKT_HDR + plen;
    }
    return p;
}

/* A one-row, one-column result the proxy answers itself, with the column
 * metadata MariaDB sends for the same expression (charset binary). */
struct local_value {
    uint8_t type;    /* MYSQL_TYPE_* */
    uint32_t length; /* display length */
    uint16_t flags;  /* column flags */
    char val[32];
};

static void write_value_result(struct rm_session *s, const char *name, size_t nl, const struct local_value *v)
{
    struct rs_writer w;
    struct rs_column col = {.name = name, .name_len = nl, .charset = 63, .length = v->length, .type = v->type,
                            .flags = v->flags};
    const char *val = v->val;
    size_t vl = strlen(v->val);
    rs_begin(&w, &s->c.out, s->caps, s->ext_caps, s->status);
    rs_columns(&w, &col, 1);
    rs_text_row(&w, &val, &vl, 1);
    rs_end(&w, 0);
    conn_flush(&s->c);
}

/* Answer "SELECT ROW_COUNT()", "SELECT FOUND_ROWS()" (from the session's
 * own values, when known and not pinned) and "SELECT CONNECTION_ID()" (the
 * id the proxy gave the client), optionally with an alias.  Returns false
 * when the text is anything else (the statement then runs on the server). */
static bool answer_local_function(struct rm_session *s, const char *sql, size_t len)
{
    struct lexer lx;
    struct lex_token t, fn, close, alias = {0};
    lex_init(&lx, sql, len);
    if (lex_next(&lx, &t) != LEX_WORD || !lex_is(&t, "SELECT"))
        return false;
    if (lex_next(&lx, &fn) != LEX_WORD)
        return false;
    struct local_value v = {0};
    if (lex_is(&fn, "ROW_COUNT") && s->rc_known && s->pin == PIN_NONE) {
        v = (struct local_value){.type = 0x08, .length = 21, .flags = 0x0081}; /* LONGLONG, NOT_NULL|BINARY */
        snprintf(v.val, sizeof(v.val), "%lld", (long long)s->row_count);
    } else if (lex_is(&fn, "FOUND_ROWS") && s->fr_known && s->pin == PIN_NONE) {
        v = (struct local_value){.type = 0x08, .length = 21, .flags = 0x0081};
        snprintf(v.val, sizeof(v.val), "%llu", (unsigned long long)s->found_rows);
    } else if (lex_is(&fn, "CONNECTION_ID")) {
        v = (struct local_value){.type = 0x03, .length = 10, .flags = 0x00a1}; /* LONG, NOT_NULL|UNSIGNED|BINARY */
        snprintf(v.val, sizeof(v.val), "%u", s->id);
    } else {
        return false;
    }
    if (lex_next(&lx, &t) != LEX_LPAREN || lex_next(&lx, &close) != LEX_RPAREN)
        return false;
    enum lex_type ty = lex_next(&lx, &t);
    if (ty == LEX_WORD && lex_is(&t, "AS"))
        ty = lex_next(&lx, &t);
    if (ty == LEX_WORD || ty == LEX_QIDENT) {
        alias = t;
        ty = lex_next(&lx, &t);
    }
    while (ty == LEX_SEMI)
        ty = lex_next(&lx, &t);
    if (ty != LEX_EOF)
        return false;
    /* Column name: the alias, or the expression as written. */
    char name[256];
    size_t nl;
    if (alias.len && alias.type == LEX_QIDENT) {
        nl = 0;
        for (uint32_t i = 1; i + 1 < alias.len && nl < sizeof(name); i++) {
            if (alias.p[i] == '`' && alias.p[i + 1] == '`')
                i++;
            name[nl++] = alias.p[i];
        }
    } else if (alias.len) {
        nl = alias.len < sizeof(name) ? alias.len : sizeof(name);
        memcpy(name, alias.p, nl);
    } else {
        nl = (size_t)(close.p + close.len - fn.p);
        if (nl > sizeof(name))
            return false;
        memcpy(name, fn.p, nl);
    }
    write_value_result(s, name, nl, &v);
    s->row_count = -1; /* this SELECT is now the previous statement */
    s->found_rows = 1;
    s->rc_known = s->fr_known = true;
    MET_INC(&W(s)->met, commands_local);
    return true;
}

/* Does a read statement name a table (a FROM other than FROM DUAL)? */
static bool sql_uses_table(const char *sql, size_t len)
{
    struct lexer lx;
    struct lex_token t;
    lex_init(&lx, sql, len);
    while (lex_next(&lx, &t) != LEX_EOF) {
        if (t.type == LEX_WORD && lex_is(&t, "FROM")) {
            struct lex_token u;
            if (lex_next(&lx, &u) == LEX_WORD && lex_is(&u, "DUAL"))
                continue;
            return true;
        }
    }
    return false;
}

/* "COMMIT" / "ROLLBACK" [WORK] alone (comments and ';' aside)? */
static bool plain_txn_end(const char *sql, size_t len)
{
    struct lexer lx;
    struct lex_token t;
    lex_init(&lx, sql, len);
    if (lex_next(&lx, &t) != LEX_WORD || !(lex_is(&t, "COMMIT") || lex_is(&t, "ROLLBACK")))
        return false;
    enum lex_type ty = lex_next(&lx, &t);
    if (ty == LEX_WORD && lex_is(&t, "WORK"))
        ty = lex_next(&lx, &t);
    while (ty == LEX_SEMI)
        ty = lex_next(&lx, &t);
    return ty == LEX_EOF;
}

/* COMMIT or ROLLBACK with no transaction open, no conn held and nothing
 * pinned needs no backend: answer it as the server would (OK, no rows, no
 * warnings, the session's autocommit bit; the diagnostics area is kept, as
 * MariaDB keeps it through statements that use no table).  With
 * completion_type CHAIN or RELEASE the server acts, so it gets the
 * statement. */
static bool answer_txn_end(struct rm_session *s, const char *sql, size_t len)
{
    if (s->bc || s->in_trans || s->pin != PIN_NONE || !plain_txn_end(sql, len))
        return false;
    int ct = var_index("completion_type", 15);
    const char *v = ct >= 0 ? state_get(&s->st, &s->pool->base, ct) : NULL;
    if (v && strcasecmp(v, "NO_CHAIN") != 0 && strcmp(v, "0") != 0)
        return false;
    s->status &= SERVER_STATUS_AUTOCOMMIT;
    s->row_count = 0;
    s->rc_known = true;
    MET_INC(&W(s)->met, commands_local);
    send_ok(s, 1);
    return true;
}

/* KILL of the session's own id: the server interrupts the KILL statement
 * itself (ERR 1317), or kills the connection (ERR 1927, then close). */
static void kill_self(struct rm_session *s, bool query_only)
{
    if (query_only)
        send_err(s, 1, 1317, "70100", "Query execution was interrupted");
    else
        err_and_close(s, 1, 1927, "70100", "Connection was killed");
}

/* A statement id as the client sent it: STMT_LAST_ID names the statement
 * the session prepared last (MariaDB's LAST_STMT_ID, used by connectors
 * that pipeline COM_STMT_PREPARE and COM_STMT_EXECUTE). */
static uint32_t stmt_resolve_id(const struct rm_session *s, uint32_t id)
{
    return id == STMT_LAST_ID ? s->last_prep : id;
}

/* A complete command: answer it here or queue it for a backend. */
static void on_command(struct rm_session *s, const uint8_t *raw, size_t raw_len, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    if (raw[3] != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "ringmux: malformed packet: command has sequence id %u, expected 0", raw[3]);
        fail_and_close(s, (uint8_t)(raw[3] + 1), 1156, "08S01", msg);
        return;
    }
    if (n == 0) {
        fail_and_close(s, 1, 1156, "08S01", "ringmux: malformed packet: empty command packet");
        return;
    }
    s->last_active_ms = w->now_ms;
    s->kill_query = false;
    struct rm_buf rewritten = {0}; /* the SQL with CONNECTION_ID() replaced, if any */
    uint8_t cmd = p[0];
    s->cmd_byte = cmd;
    s->cls.flags = 0;
    s->cls.pin = PIN_NONE;
    if (s->lost_trans && cmd != COM_QUIT && cmd != COM_PING) {
        s->lost_trans = false;
        send_err(s, 1, 1927, "70100",
                 "Lost connection to backend server during transaction (ringmux: the transaction was "
                 "rolled back; the session is usable again)");
        return;
    }
    switch (cmd) {
    case COM_QUIT: sess_close(s, "COM_QUIT"); return;
    case COM_PING:
        MET_INC(&w->met, commands_local);
        send_ok(s, 1);
        return;
    case COM_RESET_CONNECTION: cmd_reset_connection(s); return;
    case COM_PROCESS_KILL: /* KILL CONNECTION <id>, as a command */
        MET_INC(&w->met, commands_local);
        if (n < 5)
            send_err(s, 1, 1835, "HY000", "Malformed communication packet");
        else if (pkt_u32(p + 1) == s->id)
            kill_self(s, false);
        else
            kill_start(s, pkt_u32(p + 1), false);
        return;
    case COM_CHANGE_USER: cmd_change_user(s, p, n); return;
    case COM_QUERY:
        cls_classify((const char *)p + 1, n - 1, &s->cls);
        if (s->cls.flags & CLS_KILL) {
            struct kill_req kr;
            MET_INC(&w->met, commands_local);
            if (!kill_parse((const char *)p + 1, n - 1, &kr)) {
                send_err(s, 1, 1047, "HY000",
                         "ringmux: this KILL is not supported through the proxy; use KILL [QUERY] <id> with the "
                         "connection id the proxy gave (handshake or CONNECTION_ID())");
            } else if (kr.unsupported) {
                char msg[200];
                snprintf(msg, sizeof(msg),
                         "ringmux: %s is not supported through the proxy; use KILL [QUERY] <connection id>",
                         kr.unsupported);
                send_err(s, 1, 1047, "HY000", msg);
            } else if (kr.self || kr.target == s->id) {
                kill_self(s, kr.query_only);
            } else {
                kill_start(s, kr.target, kr.query_only);
            }
            return;
        }
        if ((s->cls.flags & (CLS_ROW_COUNT | CLS_FOUND_ROWS | CLS_CONNECTION_ID)) &&
            answer_local_function(s, (const char *)p + 1, n - 1))
            return;
        if (diag_has_stash(&s->diag) && answer_stashed_warnings(s, (const char *)p + 1, n - 1))
            return;
        if ((s->cls.flags & CLS_TXN_END) && answer_txn_end(s, (const char *)p + 1, n - 1))
            return;
        if ((s->cls.flags & CLS_CONNECTION_ID) &&
            sql_rewrite_connection_id((const char *)p + 1, n - 1, s->id, &rewritten) < 0) {
            buf_free(&rewritten);
            sess_close(s, "out of memory");
            return;
        }
        if (s->cls.pin != PIN_NONE)
            sess_pin(s, s->cls.pin);
        /* ROW_COUNT() / FOUND_ROWS() describe the previous statement on the
         * same connection: the session keeps its conn from now on.  (This
         * statement itself runs on its previous conn when nobody used it
         * since, which pool_borrow prefers.) */
        if (s->cls.flags & (CLS_ROW_COUNT | CLS_FOUND_ROWS))
            sess_pin(s, PIN_ROW_COUNT);
        break;
    case COM_SET_OPTION:
        if (n < 3) {
            fail_and_close(s, 1, 1156, "08S01", "ringmux: malformed packet: COM_SET_OPTION without an option");
            return;
        }
        s->cmd_option_on = pkt_u16(p + 1) == 0;
        break;
    case COM_STMT_PREPARE: {
        MET_INC(&w->met, stmt_prepares);
        stmt_text_unref(s->prep_text);
        int rw = sql_rewrite_connection_id((const char *)p + 1, n - 1, s->id, &rewritten);
        s->prep_text = rw > 0 ? stmt_text_new((const char *)buf_head(&rewritten), buf_avail(&rewritten), s->st.schema)
                              : stmt_text_new((const char *)p + 1, n - 1, s->st.schema);
        if (rw < 0 || !s->prep_text) {
            buf_free(&rewritten);
            sess_close(s, "out of memory");
            return;
        }
        break;
    }
    case COM_STMT_CLOSE: /* no answer; the conn caches keep the server side */
        if (n >= 5) {
            uint32_t id = stmt_resolve_id(s, pkt_u32(p + 1));
            stmt_reg_remove(&s->stmts, id);
            if (s->cur_stmt == id)
                s->cursor_open = false;
            if (s->last_prep == id)
                s->last_prep = 0;
        }
        MET_INC(&w->met, commands_local);
        return;
    case COM_STMT_EXECUTE:
    case COM_STMT_BULK_EXECUTE:
    case COM_STMT_SEND_LONG_DATA:
    case COM_STMT_RESET:
    case COM_STMT_FETCH: {
        /* What the server checks first: EXECUTE needs id, flags and
         * iteration count, BULK_EXECUTE and SEND_LONG_DATA id and 2 more
         * bytes; the others at least an id. */
        size_t need = cmd == COM_STMT_EXECUTE                                        ? 10
                      : cmd == COM_STMT_SEND_LONG_DATA || cmd == COM_STMT_BULK_EXECUTE ? 7
                                                                                     : 5;
        if (n < need) {
            MET_INC(&w->met, commands_local);
            if (cmd != COM_STMT_SEND_LONG_DATA) /* which has no response */
                send_err(s, 1, 1835, "HY000", "Malformed communication packet");
            return;
        }
        uint32_t id = stmt_resolve_id(s, pkt_u32(p + 1));
        if (!stmt_reg_find(&s->stmts, id)) {
            if (cmd == COM_STMT_SEND_LONG_DATA)
                return; /* no response exists for this command */
            char msg[160];
            snprintf(msg, sizeof(msg), "Unknown prepared statement handler (%u) given to %s", pkt_u32(p + 1),
                     cmd == COM_STMT_EXECUTE        ? "mysqld_stmt_execute"
                     : cmd == COM_STMT_BULK_EXECUTE ? "mysqld_stmt_bulk_execute"
                     : cmd == COM_STMT_RESET        ? "mysqld_stmt_reset"
                                                    : "mysqld_stmt_fetch");
            MET_INC(&w->met, commands_local);
            send_err(s, 1, 1243, "HY000", msg);
            return;
        }
        /* MariaDB reads an EXECUTE addressed to the last statement
         * (0xFFFFFFFF) strictly: a parameter block cut before its
         * new-params-bound byte is ERR 1835 there, where the same bytes
         * under the real id are not.  The server only ever sees real ids
         * from the proxy, so answer that case as it would. */
        struct stmt_entry *se = stmt_reg_find(&s->stmts, id);
        if (cmd == COM_STMT_EXECUTE && pkt_u32(p + 1) == STMT_LAST_ID && se->n_params > 0 &&
            n < 10 + (se->n_params + 7u) / 8u + 1) {
            MET_INC(&w->met, commands_local);
            send_err(s, 1, 1835, "HY000", "Malformed communication packet");
            return;
        }
        s->cur_stmt = id;
        break;
    }
    case COM_INIT_DB:
    case COM_FIELD_LIST:
    case COM_STATISTICS:
    case COM_PROCESS_INFO:
    case COM_DEBUG:
    case COM_REFRESH: break;
    default: cmd_unsupported(s, cmd); return;
    }
    s->hold = s->hold && s->bc; /* a held conn serves exactly this next command */
    /* MariaDB keeps the diagnostics area through statements that use no
     * table (SELECT 1, SHOW WARNINGS, SET ...). */
    bool tableless = cmd == COM_QUERY && !(s->cls.flags & CLS_WRITE) && !sql_uses_table((const char *)p + 1, n - 1);
    diag_before_command(&s->diag, s->hold, tableless);
    /* The command as the server gets it: as the client sent it, or with
     * CONNECTION_ID() replaced by the session's id. */
    int rc;
    if (buf_avail(&rewritten)) {
        struct pkt_writer pw;
        pkt_begin(&pw, &s->cmd, 0);
        pkt_add_u8(&pw, cmd);
        pkt_add(&pw, buf_head(&rewritten), buf_avail(&rewritten));
        rc = pkt_end(&pw) < 0 ? -1 : 0;
        buf_free(&rewritten);
    } else {
        rc = buf_append(&s->cmd, raw, raw_len);
    }
    if (rc < 0) {
        sess_close(s, "out of memory");
        return;
    }
    MET_ADD(&w->met, bytes_from_clients, raw_len);
    start_command(s);
}

/* LOCAL INFILE: stream the client's file packets to the backend until the
 * empty packet that ends the file.  Returns bytes consumed. */
static size_t infile_data(struct rm_session *s, const uint8_t *data, size_t len)
{
    struct rm_bconn *b = s->bc;
    size_t off = 0;
    while (off < len && s->state == SESS_INFILE) {
        if (s->infile_left > 0) {
            size_t k = len - off < s->infile_left ? len - off : s->infile_left;
            buf_append(&b->c.out, data + off, k);
            off += k;
            s->infile_left -= k;
            continue;
        }
        if (len - off < PKT_HDR)
            break;
        uint32_t plen = pkt_u24(data + off);
        size_t k = len - off < PKT_HDR + (size_t)plen ? len - off : PKT_HDR + (size_t)plen;
        buf_append(&b->c.out, data + off, k);
        off += k;
        s->infile_left = PKT_HDR + (size_t)plen - k;
        if (plen == 0) { /* end of file: the server answers OK / ERR now */
            resp_infile_sent(&b->resp);
            sess_set_state(s, SESS_FORWARD);
        }
    }
    MET_ADD(&W(s)->met, bytes_from_clients, off);
    conn_flush(&b->c);
    if (conn_pending(&b->c) > SESS_BACKPRESSURE_HIGH)
        conn_pause_recv(&s->c); /* resumed when the backend drains (bconn_on_flushed) */
    return off;
}

/* Consume client bytes according to the state; returns bytes used. */
static size_t consume_packets(struct rm_session *s, const uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        enum sess_state st = s->state;
        if (st == SESS_INFILE) {
            off += infile_data(s, data + off, len - off);
            continue;
        }
        if (st != SESS_HANDSHAKE && st != SESS_AUTH_SWITCH && st != SESS_IDLE) {
            /* A command is in flight: keep pipelined bytes for later, but
             * don't let a flooding client grow the buffer without bound. */
            if (len - off > SESS_PIPELINE_MAX)
                conn_pause_recv(&s->c);
            break;
        }
        size_t raw, payload;
        int64_t max = st == SESS_IDLE ? W(s)->cfg->max_allowed_packet : 64 * 1024;
        int rc = whole_packet(data + off, len - off, max, &raw, &payload);
        if (rc < 0) {
            if (st == SESS_IDLE)
                fail_and_close(s, 1, 1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes");
            else
                fail_and_close(s, s->seq, 1043, "08S01", "ringmux: bad handshake: packet too large");
            return len;
        }
        if (rc == 0)
            break;
        const uint8_t *pkt = data + off;
        off += raw;
        if (st == SESS_HANDSHAKE || st == SESS_AUTH_SWITCH) {
            if (pkt[3] != s->seq) {
                char msg[128];
                snprintf(msg, sizeof(msg), "ringmux: bad handshake: packet sequence id %u, expected %u", pkt[3],
                         s->seq);
                fail_and_close(s, s->seq, 1043, "08S01", msg);
                return len;
            }
            if (st == SESS_HANDSHAKE)
                on_handshake(s, pkt + PKT_HDR, payload);
            else
                on_auth_switch_response(s, pkt + PKT_HDR, payload);
            continue;
        }
        if (payload >= PKT_MAX_PAYLOAD) { /* split command: classify the joined payload */
            uint8_t *joined = join_payload(pkt, raw, payload);
            if (!joined) {
                sess_close(s, "out of memory");
                return len;
            }
            on_command(s, pkt, raw, joined, payload);
            free(joined);
        } else {
            on_command(s, pkt, raw, pkt + PKT_HDR, payload);
        }
        if (s->state == SESS_DEAD || s->state == SESS_CLOSING)
            return len;
    }
    return off;
}

/* consume_packets() with the re-entrancy guard become_idle() checks. */
static size_t consume(struct rm_session *s, const uint8_t *data, size_t len)
{
    bool outer = !s->consuming;
    s->consuming = true;
    size_t off = consume_packets(s, data, len);
    if (outer)
        s->consuming = false;
    return off;
}

void sess_on_data(struct rm_session *s, const uint8_t *data, size_t len, size_t *used)
{
    if (s->state == SESS_CLOSING || s->state == SESS_DEAD) {
        *used = len;
        return;
    }
    *used = consume(s, data, len);
}

static void process_input(struct rm_session *s)
{
    size_t used = consume(s, buf_head(&s->c.in), buf_avail(&s->c.in));
    if (s->state != SESS_DEAD)
        buf_consume(&s->c.in, used);
}

void sess_check_timeouts(struct rm_worker *w)
{
    int64_t idle = w->cfg->idle_client_timeout_ms;
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        uint64_t quiet = w->now_ms - s->last_active_ms;
        if ((s->state == SESS_HANDSHAKE || s->state == SESS_AUTH_SWITCH) && quiet > SESS_HANDSHAKE_TIMEOUT_MS)
            fail_and_close(s, s->seq, 1043, "08S01", "ringmux: bad handshake: timed out waiting for the client");
        else if (s->state == SESS_IDLE && idle > 0 && quiet > (uint64_t)idle)
            sess_close(s, "idle_client_timeout reached");
    }
}

/* ---- giving up a diagnostics hold --------------------------------------- */

void sess_yield_diag_holds(struct rm_worker *w)
{
    static const char q[] = "SHOW WARNINGS";
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        if (s->state != SESS_IDLE || !s->bc || !s->diag.soft || sess_state_on_conn(s) ||
            buf_avail(&s->c.in) > 0 || w->now_ms - s->last_active_ms < DIAG_YIELD_MS)
            continue;
        slog(LOG_DEBUG, s, "giving up a diagnostics hold: others wait for a conn");
        MET_INC(&w->met, diag_yields);
        diag_stash_begin(&s->diag);
        sess_set_state(s, SESS_SYNC);
        if (bconn_send_internal(s->bc, STEP_STASH_DIAG, COM_QUERY, q, sizeof(q) - 1) < 0)
            sess_close(s, "out of memory");
    }
}

/* A plain "SHOW WARNINGS" answered from the stash (diag.h). */
static bool answer_stashed_warnings(struct rm_session *s, const char *sql, size_t len)
{
    size_t before = s->c.out.len;
    if (!diag_answer(&s->diag, sql, len, &s->c.out, s->caps, s->ext_caps, s->status))
        return false;
    s->row_count = -1; /* a result set: this SHOW is now the previous statement */
    s->rc_known = true;
    s->fr_known = false;
    MET_INC(&W(s)->met, commands_local);
    MET_ADD(&W(s)->met, bytes_to_clients, s->c.out.len - before);
    conn_flush(&s->c);
    return true;
}

/* ---- KILL (src/kill.c decides; these act on the session) ----------------- */

struct rm_session *sess_find(struct rm_worker *w, uint32_t id)
{
    for (struct rm_link *pos = w->sessions.next; pos != &w->sessions; pos = pos->next) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        if (s->id == id)
            return s->state == SESS_CLOSING || s->state == SESS_DEAD ? NULL : s;
    }
    return NULL;
}

void sess_interrupt(struct rm_session *s, bool query_only)
{
    struct rm_worker *w = W(s);
    bool at_server = (s->state == SESS_FORWARD || s->state == SESS_INFILE) && s->bc;
    if (at_server && pool_kill_query(w, s->bc) < 0)
        slog(LOG_WARN, s, "could not send KILL QUERY to the backend");
    if (!query_only) {
        sess_close(s, "killed (KILL CONNECTION)");
        return;
    }
    if (s->state == SESS_WAIT) { /* not sent yet: interrupted before it starts */
        buf_reset(&s->cmd);
        send_err(s, 1, 1317, "70100", "Query execution was interrupted");
        become_idle(s);
    } else if (s->state == SESS_SYNC) {
        s->kill_query = true; /* forward_command answers instead of sending */
    }
}

void sess_wait_kill(struct rm_session *s)
{
    sess_set_state(s, SESS_KILLING);
}

void sess_answer_kill(struct rm_session *s, uint32_t target, uint16_t err)
{
    char msg[96];
    if (err == 1094) {
        snprintf(msg, sizeof(msg), "Unknown thread id: %u", target);
        send_err(s, 1, err, "HY000", msg);
    } else if (err) {
        snprintf(msg, sizeof(msg), "You are not owner of thread %u", target);
        send_err(s, 1, err, "HY000", msg);
    } else {
        s->status &= (uint16_t)~SERVER_SESSION_STATE_CHANGED;
        s->row_count = 0;
        s->rc_known = true;
        send_ok(s, 1);
    }
    if (s->state == SESS_KILLING)
        become_idle(s);
}
