/* Reading a client session's commands: whole packets (16 MiB
 * continuations joined), what the proxy answers itself (ROW_COUNT(),
 * CONNECTION_ID(), COMMIT/ROLLBACK with nothing open, KILL, a stashed SHOW
 * WARNINGS, statement ids), LOCAL INFILE data, and pipelined input
 * (include/ringmux/session.h). */
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
#include "ringmux/console.h"
#include "ringmux/kill.h"
#include "ringmux/log.h"
#include "ringmux/net.h"
#include "ringmux/packet.h"
#include "ringmux/pool.h"
#include "ringmux/resultset.h"
#include "ringmux/vars.h"
#include "ringmux/tls.h"
#include "ringmux/worker.h"
#include "session_int.h"

/* A one-row, one-column result the proxy answers itself, with the column
 * metadata MariaDB sends for the same expression (charset binary). */
struct local_value {
    uint8_t type;    /* MYSQL_TYPE_* */
    uint32_t length; /* display length */
    uint16_t flags;  /* column flags */
    char val[32];
};

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
uint8_t *sess_join_payload(const uint8_t *data, size_t raw, size_t payload)
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

static void write_value_result(struct rm_session *s, const char *name, size_t nl, const struct local_value *v)
{
    struct rs_writer w;
    struct rs_column col = {
        .name = name, .name_len = nl, .charset = 63, .length = v->length, .type = v->type, .flags = v->flags};
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
    sess_send_ok(s, 1);
    return true;
}

/* KILL of the session's own id: the server interrupts the KILL statement
 * itself (ERR 1317), or kills the connection (ERR 1927, then close). */
static void kill_self(struct rm_session *s, bool query_only)
{
    if (query_only)
        sess_send_err(s, 1, 1317, "70100", "Query execution was interrupted");
    else
        sess_err_and_close(s, 1, 1927, "70100", "Connection was killed");
}

/* A statement id as the client sent it: STMT_LAST_ID names the statement
 * the session prepared last (MariaDB's LAST_STMT_ID, used by connectors
 * that pipeline COM_STMT_PREPARE and COM_STMT_EXECUTE). */
static uint32_t stmt_resolve_id(const struct rm_session *s, uint32_t id)
{
    return id == STMT_LAST_ID ? s->last_prep : id;
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

/* A complete command: answer it here or queue it for a backend. */
static void on_command(struct rm_session *s, const uint8_t *raw, size_t raw_len, const uint8_t *p, size_t n)
{
    struct rm_worker *w = W(s);
    if (raw[3] != 0) {
        char msg[128];
        snprintf(msg, sizeof(msg), "ringmux: malformed packet: command has sequence id %u, expected 0", raw[3]);
        sess_fail_and_close(s, (uint8_t)(raw[3] + 1), 1156, "08S01", msg);
        return;
    }
    if (n == 0) {
        sess_fail_and_close(s, 1, 1156, "08S01", "ringmux: malformed packet: empty command packet");
        return;
    }
    s->last_active_ms = w->now_ms;
    s->cmd_start_us = w->now_us;
    s->kill_query = false;
    struct rm_buf rewritten = {0}; /* the SQL with CONNECTION_ID() replaced, if any */
    uint8_t cmd = p[0];
    s->cmd_byte = cmd;
    s->cls.flags = 0;
    s->cls.pin = PIN_NONE;
    if (s->console) {
        console_command(s, p, n);
        return;
    }
    /* Its first bytes, for SHOW CLIENTS and pin samples (digested when shown). */
    s->cur_sql_len = 0;
    if (cmd == COM_QUERY) {
        size_t k = n - 1 < sizeof(s->cur_sql) ? n - 1 : sizeof(s->cur_sql);
        memcpy(s->cur_sql, p + 1, k);
        s->cur_sql_len = (uint8_t)k;
    } /* a prepared statement's text is found by SHOW CLIENTS itself (s->cur_stmt) */
    if (s->lost_pin != PIN_NONE && cmd != COM_QUIT && cmd != COM_PING) {
        char msg[320];
        snprintf(msg, sizeof(msg),
                 "Lost connection to backend server (ringmux: this session was pinned to its backend connection (%s) "
                 "and that connection closed%s; its session state is lost; the session is no longer pinned and "
                 "usable again)",
                 cls_pin_str(s->lost_pin), s->lost_trans ? ", rolling back its transaction" : "");
        s->lost_pin = PIN_NONE;
        s->lost_trans = false;
        sess_send_err(s, 1, 1927, "70100", msg);
        return;
    }
    if (s->lost_trans && cmd != COM_QUIT && cmd != COM_PING) {
        s->lost_trans = false;
        sess_send_err(s, 1, 1927, "70100",
                      "Lost connection to backend server during transaction (ringmux: the transaction was "
                      "rolled back; the session is usable again)");
        return;
    }
    switch (cmd) {
    case COM_QUIT: sess_close(s, "COM_QUIT"); return;
    case COM_PING:
        MET_INC(&w->met, commands_local);
        sess_send_ok(s, 1);
        return;
    case COM_RESET_CONNECTION: sess_cmd_reset_connection(s); return;
    case COM_PROCESS_KILL: /* KILL CONNECTION <id>, as a command */
        MET_INC(&w->met, commands_local);
        if (n < 5)
            sess_send_err(s, 1, 1835, "HY000", "Malformed communication packet");
        else if (pkt_u32(p + 1) == s->id)
            kill_self(s, false);
        else
            kill_start(s, pkt_u32(p + 1), false);
        return;
    case COM_CHANGE_USER: sess_cmd_change_user(s, p, n); return;
    case COM_QUERY:
        cls_classify((const char *)p + 1, n - 1, &s->cls);
        if (s->cls.flags & CLS_KILL) {
            struct kill_req kr;
            MET_INC(&w->met, commands_local);
            if (!kill_parse((const char *)p + 1, n - 1, &kr)) {
                sess_send_err(s, 1, 1047, "HY000",
                              "ringmux: this KILL is not supported through the proxy; use KILL [QUERY] <id> with the "
                              "connection id the proxy gave (handshake or CONNECTION_ID())");
            } else if (kr.unsupported) {
                char msg[200];
                snprintf(msg, sizeof(msg),
                         "ringmux: %s is not supported through the proxy; use KILL [QUERY] <connection id>",
                         kr.unsupported);
                sess_send_err(s, 1, 1047, "HY000", msg);
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
            sess_fail_and_close(s, 1, 1156, "08S01", "ringmux: malformed packet: COM_SET_OPTION without an option");
            return;
        }
        s->cmd_option_on = pkt_u16(p + 1) == 0;
        break;
    case COM_STMT_PREPARE: {
        if (s->stmts.n >= (uint32_t)w->cfg->max_prepared_statements) {
            /* As the server past max_prepared_stmt_count; a failed prepare
             * forgets the last prepared statement, as MariaDB does. */
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "Can't create more than max_prepared_stmt_count statements (current value: %d; ringmux "
                     "max_prepared_statements, per session)",
                     w->cfg->max_prepared_statements);
            s->last_prep = 0;
            MET_INC(&w->met, prepares_refused);
            MET_INC(&w->met, commands_local);
            sess_send_err(s, 1, 1461, "42000", msg);
            return;
        }
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
        size_t need = cmd == COM_STMT_EXECUTE                                          ? 10
                      : cmd == COM_STMT_SEND_LONG_DATA || cmd == COM_STMT_BULK_EXECUTE ? 7
                                                                                       : 5;
        if (n < need) {
            MET_INC(&w->met, commands_local);
            if (cmd != COM_STMT_SEND_LONG_DATA) /* which has no response */
                sess_send_err(s, 1, 1835, "HY000", "Malformed communication packet");
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
            sess_send_err(s, 1, 1243, "HY000", msg);
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
            sess_send_err(s, 1, 1835, "HY000", "Malformed communication packet");
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
    default: sess_cmd_unsupported(s, cmd); return;
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
    sess_start_command(s);
}

/* LOCAL INFILE: stream the client's file packets to the backend until the
 * empty packet that ends the file.  Returns bytes consumed. */
static size_t infile_data(struct rm_session *s, const uint8_t *data, size_t len)
{
    struct rm_bconn *b = s->bc;
    size_t off = 0;
    while (off < len && s->state == SESS_INFILE) {
        if (relay_busy(&s->relay)) {
            int then;
            off += relay_more(&s->relay, &b->c.out, data + off, len - off, &then);
            continue;
        }
        if (len - off < PKT_HDR)
            break;
        uint32_t plen = pkt_u24(data + off);
        bool passed;
        off += relay_begin(&s->relay, &b->c.out, data + off, len - off, PKT_HDR + (size_t)plen, 0, &passed);
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
                sess_fail_and_close(s, 1, 1153, "08S01", "Got a packet bigger than 'max_allowed_packet' bytes");
            else
                sess_fail_and_close(s, s->seq, 1043, "08S01", "ringmux: bad handshake: packet too large");
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
                sess_fail_and_close(s, s->seq, 1043, "08S01", msg);
                return len;
            }
            if (st == SESS_HANDSHAKE) {
                sess_on_handshake(s, pkt + PKT_HDR, payload);
                if (s->c.tls && !tls_conn_ready(&s->c))
                    return off; /* an SSL request: what follows is TLS (conn.c) */
            } else {
                sess_on_auth_switch_response(s, pkt + PKT_HDR, payload);
            }
            continue;
        }
        if (payload >= PKT_MAX_PAYLOAD) { /* split command: classify the joined payload */
            uint8_t *joined = sess_join_payload(pkt, raw, payload);
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

/* consume_packets() with the re-entrancy guard sess_become_idle() checks. */
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

void sess_process_input(struct rm_session *s)
{
    size_t used = consume(s, buf_head(&s->c.in), buf_avail(&s->c.in));
    if (s->state != SESS_DEAD)
        buf_consume(&s->c.in, used);
}
