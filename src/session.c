/* The client session (include/ringmux/session.h): its state, teardown,
 * reset, and a command's way through a backend connection (sync,
 * forwarding, the response's end).  The connection phase is in
 * sess_auth.c, reading and answering commands in sess_cmd.c; the three
 * share src/session_int.h. */
#include "ringmux/session.h"

#include "session_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ringmux/backend.h"
#include "ringmux/console.h"
#include "ringmux/handshake.h"
#include "ringmux/kill.h"
#include "ringmux/limits.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/vars.h"
#include "ringmux/worker.h"

/* How much of a COM_QUERY is kept for its slow-query digest. */
#define SLOW_SQL_KEEP 4096

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

/* A statement of the session is on a backend. */
static bool running_state(enum sess_state st)
{
    return st == SESS_SYNC || st == SESS_CHECK_DB || st == SESS_FORWARD || st == SESS_INFILE;
}

void sess_set_in_trans(struct rm_session *s, bool on)
{
    if (s->in_trans == on)
        return;
    s->in_trans = on;
    if (on)
        MET_INC(&W(s)->met, transactions_open);
    else
        MET_DEC(&W(s)->met, transactions_open);
}

/* The one place a session changes state: it owns the wait queue (entering
 * WAIT queues the session, leaving it dequeues, whoever causes it), the
 * queue counters, and reading pauses while CLOSING. */
void sess_set_state(struct rm_session *s, enum sess_state to)
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
    if (running_state(from) != running_state(to)) {
        if (running_state(to))
            MET_INC(&w->met, statements_running);
        else
            MET_DEC(&w->met, statements_running);
    }
    s->state = to;
    if (s->unauth && to != SESS_HANDSHAKE && to != SESS_AUTH_SWITCH) { /* logged in, or closing */
        s->unauth = false;
        atomic_fetch_sub(&w->sh->limits.unauthenticated, 1);
    }
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
bool sess_state_on_conn(const struct rm_session *s)
{
    return s->pin != PIN_NONE || s->in_trans || s->cursor_open;
}

/* The session keeps its conn after the current command: its state is on
 * it, or it holds it for the next command (diagnostics, one-shot SET
 * TRANSACTION, long data before its EXECUTE). */
bool sess_keeps_conn(const struct rm_session *s)
{
    return sess_state_on_conn(s) || s->hold;
}

/* ---- small output helpers ------------------------------------------------ */

void sess_send_err(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    pkt_write_err(&s->c.out, seq, code, sqlstate, "%s", msg);
    conn_flush(&s->c);
}

void sess_send_ok(struct rm_session *s, uint8_t seq)
{
    struct pkt_ok ok = {.status = s->status};
    pkt_write_ok(&s->c.out, seq, s->caps, &ok, 0x00);
    conn_flush(&s->c);
}

/* Send a final ERR and close once it is flushed. */
void sess_err_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    slog(LOG_INFO, s, "closing: %s", msg);
    sess_send_err(s, seq, code, sqlstate, msg);
    sess_set_state(s, SESS_CLOSING);
    if (conn_pending(&s->c) == 0)
        sess_close(s, msg);
}

/* The client broke the protocol: counted, then sess_err_and_close(). */
void sess_fail_and_close(struct rm_session *s, uint8_t seq, uint16_t code, const char *sqlstate, const char *msg)
{
    MET_INC(&W(s)->met, protocol_errors);
    sess_err_and_close(s, seq, code, sqlstate, msg);
}

/* ---- accept and handshake -------------------------------------------------- */

void sess_start_command(struct rm_session *s);

/* ---- pinning -------------------------------------------------------------- */

void sess_pin(struct rm_session *s, enum cls_pin reason)
{
    if (s->pin != PIN_NONE || reason == PIN_NONE)
        return;
    s->pin = reason;
    struct rm_worker *w = W(s);
    if (s->cur_sql_len) /* a sample for SHOW PINS: the statement's shape, never its values */
        sql_digest(s->cur_sql, s->cur_sql_len, w->pin_sample[reason], sizeof(w->pin_sample[reason]));
    MET_INC(&W(s)->met, pins[reason]);
    MET_INC(&W(s)->met, pinned_current);
    slog(LOG_DEBUG, s, "pinned: %s", cls_pin_str(reason));
}

void sess_unpin(struct rm_session *s)
{
    if (s->pin == PIN_NONE)
        return;
    s->pin = PIN_NONE;
    MET_DEC(&W(s)->met, pinned_current);
}

/* ---- teardown ---------------------------------------------------------- */

/* Let go of the attached backend conn: back to the pool when it carries no
 * session-specific state, else reset (or closed) before anyone reuses it. */
void sess_detach_backend(struct rm_session *s, bool dirty)
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
    sess_detach_backend(s, false);
    sess_unpin(s);
    if (s->pool)
        s->pool->refs--;
    s->pool = NULL;
    if (running_state(s->state))
        MET_DEC(&w->met, statements_running);
    sess_set_in_trans(s, false);
    s->state = SESS_DEAD; /* final: the pool is gone, so no transition */
    link_remove(&s->link);
    MET_DEC(&w->met, clients_current);
    atomic_fetch_sub(&w->sh->clients_total, 1);
    conn_kill(&s->c);
}

void sess_free(struct rm_session *s)
{
    struct rm_shared *sh = W(s)->sh;
    if (s->unauth)
        atomic_fetch_sub(&sh->limits.unauthenticated, 1);
    lim_user_leave(&sh->limits, s->user_slot);
    stmt_reg_clear(&s->stmts);
    stmt_text_unref(s->prep_text);
    buf_free(&s->cmd);
    buf_free(&s->slow_sql);
    buf_free(&s->report);
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
    if (s->console_shutdown && conn_pending(&s->c) == 0) { /* the console's SHUTDOWN: its OK is out */
        s->console_shutdown = false;
        kill(getpid(), SIGTERM); /* graceful: statements in flight finish */
    }
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
 * command (sess_apply_reset_state). */
void sess_reset(struct rm_session *s, bool keep_schema)
{
    sess_detach_backend(s, true);
    sess_unpin(s);
    char *schema = keep_schema ? s->st.schema : NULL;
    if (keep_schema)
        s->st.schema = NULL;
    state_clear(&s->st);
    s->st.schema = schema;
    s->st.multi_stmt = (s->caps & CLIENT_MULTI_STATEMENTS) != 0;
    s->reset_pending = true;
    sess_set_in_trans(s, false);
    s->hold = s->lost_trans = s->cursor_open = false;
    s->lost_pin = PIN_NONE;
    s->rc_known = s->fr_known = false;
    diag_forget(&s->diag);
    s->last_insert_id = 0;
    stmt_reg_clear(&s->stmts);
    s->last_prep = 0;
    s->status = SERVER_STATUS_AUTOCOMMIT;
}

/* sess_reset()'s variables, once the pool knows them. */
void sess_apply_reset_state(struct rm_session *s)
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

void sess_cmd_reset_connection(struct rm_session *s)
{
    sess_reset(s, true); /* the server keeps the default database across a reset */
    sess_apply_reset_state(s);
    MET_INC(&W(s)->met, commands_local);
    sess_send_ok(s, 1);
}

void sess_cmd_unsupported(struct rm_session *s, uint8_t cmd)
{
    char msg[160];
    snprintf(msg, sizeof(msg), "ringmux: %s (0x%02x) is not supported through the proxy", pkt_cmd_str(cmd), cmd);
    MET_INC(&W(s)->met, commands_local);
    sess_send_err(s, 1, 1047, "08S01", msg);
}

/* ---- forwarding ------------------------------------------------------------ */

/* Queue the session for a backend conn (or use the one it holds). */
void sess_start_command(struct rm_session *s)
{
    struct rm_worker *w = W(s);
    if (s->bc) {
        /* Pinned (or holding for SHOW WARNINGS): paused, a new statement
         * waits like any other; a transaction's statements go on. */
        if (atomic_load(&w->sh->paused) && !s->in_trans && !s->cursor_open) {
            MET_INC(&w->met, held_paused);
            sess_set_state(s, SESS_WAIT);
            return;
        }
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
bool sess_stmt_command(const struct rm_session *s)
{
    return s->cmd_byte == COM_STMT_EXECUTE || s->cmd_byte == COM_STMT_BULK_EXECUTE ||
           s->cmd_byte == COM_STMT_SEND_LONG_DATA || s->cmd_byte == COM_STMT_RESET || s->cmd_byte == COM_STMT_FETCH;
}

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
    *joined = sess_join_payload(raw, raw_len, payload);
    *n = payload;
    return *joined;
}

/* Send the client's command on b and start tracking the response. */
void sess_become_idle(struct rm_session *s);

static void forward_command(struct rm_session *s, struct rm_bconn *b)
{
    if (s->kill_query) { /* KILL QUERY came while its state was being synced */
        s->kill_query = false;
        buf_reset(&s->cmd);
        sess_send_err(s, 1, 1317, "70100", "Query execution was interrupted");
        sess_become_idle(s);
        return;
    }
    sess_set_state(s, SESS_FORWARD);
    b->task = TASK_CLIENT;
    b->uses++;
    b->last_sess = s->id;
    resp_start(&b->resp, resp_kind_for(s->cmd_byte));
    if (sess_stmt_command(s)) { /* the server knows the statement by its own id */
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
    s->db_start_us = W(s)->now_us;
    buf_reset(&s->slow_sql);
    if (W(s)->cfg->slow_query_ms > 0 && s->cmd_byte == COM_QUERY && buf_avail(&s->cmd) > PKT_HDR + 1) {
        size_t n = buf_avail(&s->cmd) - PKT_HDR - 1; /* kept to make a digest should it be slow */
        buf_append(&s->slow_sql, buf_head(&s->cmd) + PKT_HDR + 1, n > SLOW_SQL_KEEP ? SLOW_SQL_KEEP : n);
    }
    buf_reset(&s->cmd);
    MET_INC(&W(s)->met, queries);
    MET_INC(&W(s)->met, backend_statements[b->pool->be->idx]);
    conn_flush(&b->c);
    if (b->resp.kind == RK_NONE) /* COM_STMT_CLOSE / SEND_LONG_DATA: no answer */
        sess_on_response_done(s);
}

/* The database a STEP_SYNC_DB must select: the statement's when it must be
 * prepared first, else the session's. */
static const char *sync_db_target(struct rm_session *s, struct rm_bconn *b)
{
    struct stmt_entry *e = sess_stmt_command(s) ? stmt_reg_find(&s->stmts, s->cur_stmt) : NULL;
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
    struct stmt_entry *e = sess_stmt_command(s) ? stmt_reg_find(&s->stmts, s->cur_stmt) : NULL;
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
    struct rm_worker *w = W(s);
    if (!s->pending_db) /* a command (not the connect-time database check) */
        met_observe(&w->met.borrow_wait, w->now_us - s->cmd_start_us);
    sess_apply_reset_state(s);
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

void sess_process_input(struct rm_session *s);

/* Back to waiting for a command: release the backend conn unless the
 * session must keep it, then serve any pipelined input. */
void sess_become_idle(struct rm_session *s)
{
    sess_set_state(s, SESS_IDLE);
    s->last_active_ms = W(s)->now_ms;
    if (s->bc && !sess_keeps_conn(s))
        sess_detach_backend(s, false);
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
        sess_process_input(s);
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
        sess_become_idle(s);
        return;
    }
    if (!ok && step == STEP_REFRESH_COLLATION) { /* the client has its answer already */
        slog(LOG_WARN, s, "could not read collation_connection after a character set change");
        sess_detach_backend(s, true);
        sess_become_idle(s);
        return;
    }
    if (!ok) {
        if (step == STEP_CHECK_DB) { /* unknown database at connect: as the server does */
            relay_err(s, s->seq, errp, errn);
            free(s->pending_db);
            s->pending_db = NULL;
            sess_detach_backend(s, false);
            sess_set_state(s, SESS_CLOSING);
            if (conn_pending(&s->c) == 0)
                sess_close(s, "unknown database at connect");
            return;
        }
        /* A replay failed (e.g. the schema was dropped): the command fails
         * with the server's error; the conn's state is uncertain. */
        relay_err(s, 1, errp, errn);
        buf_reset(&s->cmd);
        sess_detach_backend(s, true);
        sess_become_idle(s);
        return;
    }
    switch (step) {
    case STEP_CHECK_DB:
        pool_db_remember(s->pool, s->pending_db, W(s)->now_ms);
        state_set_schema(&s->st, s->pending_db, strlen(s->pending_db));
        state_set_schema(&b->st, s->pending_db, strlen(s->pending_db));
        free(s->pending_db);
        s->pending_db = NULL;
        sess_send_ok(s, s->seq++);
        sess_become_idle(s);
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
    case STEP_REFRESH_COLLATION: sess_become_idle(s); return;
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

/* slow_query_threshold: the statement's digest, its time and where it ran. */
static void slow_query(struct rm_session *s, const struct rm_bconn *b)
{
    struct rm_worker *w = W(s);
    uint64_t took = w->now_ms - s->last_active_ms;
    if (w->cfg->slow_query_ms <= 0 || took < (uint64_t)w->cfg->slow_query_ms)
        return;
    const char *sql = NULL;
    size_t len = 0;
    if (s->cmd_byte == COM_QUERY) {
        sql = (const char *)buf_head(&s->slow_sql);
        len = buf_avail(&s->slow_sql);
    } else if (sess_stmt_command(s)) {
        const struct stmt_entry *e = stmt_reg_find(&s->stmts, s->cur_stmt);
        if (e) {
            sql = e->t->text;
            len = e->t->len;
        }
    }
    char digest[600];
    if (sql)
        sql_digest(sql, len, digest, sizeof(digest));
    else
        snprintf(digest, sizeof(digest), "(command 0x%02x)", s->cmd_byte);
    MET_INC(&w->met, slow_queries);
    slog(LOG_WARN, s, "slow query: %llu ms on backend %s (b=%u, user %s): %s", (unsigned long long)took,
         backend_name(b->pool->be), b->id, s->user ? s->user : "?", digest);
}

void sess_on_response_done(struct rm_session *s)
{
    struct rm_bconn *b = s->bc;
    const struct rm_resp *r = &b->resp;
    b->task = TASK_NONE;
    struct rm_worker *w = W(s);
    if (!s->pending_db) {
        met_observe(&w->met.query_total, w->now_us - s->cmd_start_us);
        met_observe(&w->met.query_db, w->now_us - s->db_start_us);
    }
    slow_query(s, b);
    if (!r->is_err) {
        s->status = r->status;
        sess_set_in_trans(s, (r->status & SERVER_STATUS_IN_TRANS) != 0);
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
    sess_become_idle(s);
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
    s->relay.left = 0;
    if (buf_avail(&s->c.in) > 0)
        sess_process_input(s);
}

void sess_on_backend_lost(struct rm_session *s, bool mid_response)
{
    switch (s->state) {
    case SESS_SYNC:
    case SESS_CHECK_DB:
        /* The command never reached the server: retry on another conn. */
        MET_INC(&W(s)->met, statement_retries);
        sess_start_command(s);
        return;
    case SESS_FORWARD:
    case SESS_INFILE: {
        /* ER_CONNECTION_KILLED: a server-range code; libmariadb rejects
         * client-range codes like 2013 in an ERR packet as malformed. */
        if (s->pin != PIN_NONE) {
            char msg[320];
            snprintf(msg, sizeof(msg),
                     "Lost connection to backend server during query (ringmux: the backend connection closed "
                     "before the response was complete; this session was pinned to it (%s) and that session "
                     "state is lost; the session is no longer pinned and usable again)",
                     cls_pin_str(s->pin));
            pkt_write_err(&s->c.out, s->resp_seq, 1927, "70100", "%s", msg);
        } else {
            pkt_write_err(&s->c.out, s->resp_seq, 1927, "70100",
                          "Lost connection to backend server during query (ringmux: the backend connection "
                          "closed before the response was complete)");
        }
        conn_flush(&s->c);
        sess_set_in_trans(s, false);
        s->hold = false;
        buf_reset(&s->cmd);
        if (s->pin != PIN_NONE) /* its pinned state died with the conn (said above) */
            sess_unpin(s);
        sess_become_idle(s);
        return;
    }
    case SESS_IDLE:
        if (s->pin != PIN_NONE) { /* told with the next command */
            s->lost_pin = s->pin;
            sess_unpin(s);
        }
        if (s->in_trans)
            s->lost_trans = true;
        sess_set_in_trans(s, false);
        s->hold = false;
        return;
    default: return;
    }
}

void sess_backend_failed(struct rm_session *s, uint16_t code, const char *sqlstate, const char *msg)
{
    slog(LOG_INFO, s, "%s", msg);
    if (s->pending_db) {
        sess_fail_and_close(s, s->seq, code, sqlstate, msg);
        return;
    }
    buf_reset(&s->cmd);
    sess_send_err(s, 1, code, sqlstate, msg);
    sess_become_idle(s);
}

/* ---- client input ------------------------------------------------------------ */

void sess_check_timeouts(struct rm_worker *w)
{
    int64_t idle = w->cfg->idle_client_timeout_ms;
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        uint64_t quiet = w->now_ms - s->last_active_ms;
        if ((s->state == SESS_HANDSHAKE || s->state == SESS_AUTH_SWITCH) &&
            w->now_ms - s->born_ms > (uint64_t)w->cfg->handshake_timeout_ms) {
            MET_INC(&w->met, handshake_timeouts);
            sess_fail_and_close(s, s->seq, 1043, "08S01",
                                "ringmux: bad handshake: not logged in within handshake_timeout");
        } else if (s->state == SESS_IDLE && idle > 0 && quiet > (uint64_t)idle) {
            sess_close(s, "idle_client_timeout reached");
        } else if (s->console && s->state == SESS_KILLING && s->report_pending > 0 &&
                   quiet > CONSOLE_REPORT_TIMEOUT_MS) {
            console_report_timeout(s); /* a worker did not answer: say what the others said */
        }
    }
}

/* ---- giving up a diagnostics hold --------------------------------------- */

void sess_yield_diag_holds(struct rm_worker *w)
{
    static const char q[] = "SHOW WARNINGS";
    struct rm_link *pos, *tmp;
    link_foreach_safe (pos, tmp, &w->sessions) {
        struct rm_session *s = link_entry(pos, struct rm_session, link);
        if (s->state != SESS_IDLE || !s->bc || !s->diag.soft || sess_state_on_conn(s) || buf_avail(&s->c.in) > 0 ||
            w->now_ms - s->last_active_ms < DIAG_YIELD_MS)
            continue;
        slog(LOG_DEBUG, s, "giving up a diagnostics hold: others wait for a conn");
        MET_INC(&w->met, diag_yields);
        diag_stash_begin(&s->diag);
        sess_set_state(s, SESS_SYNC);
        if (bconn_send_internal(s->bc, STEP_STASH_DIAG, COM_QUERY, q, sizeof(q) - 1) < 0)
            sess_close(s, "out of memory");
    }
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
        sess_send_err(s, 1, 1317, "70100", "Query execution was interrupted");
        sess_become_idle(s);
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
        sess_send_err(s, 1, err, "HY000", msg);
    } else if (err) {
        snprintf(msg, sizeof(msg), "You are not owner of thread %u", target);
        sess_send_err(s, 1, err, "HY000", msg);
    } else {
        s->status &= (uint16_t)~SERVER_SESSION_STATE_CHANGED;
        s->row_count = 0;
        s->rc_known = true;
        sess_send_ok(s, 1);
    }
    if (s->state == SESS_KILLING)
        sess_become_idle(s);
}
