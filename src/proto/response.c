/* Response tracker (include/ringmux/response.h). */
#include "ringmux/response.h"

#include "ringmux/packet.h"

void resp_start(struct rm_resp *r, enum resp_kind kind)
{
    r->kind = kind;
    r->phase = kind == RK_NONE ? RP_IDLE : (kind == RK_FETCH ? RP_ROWS : RP_FIRST);
    r->continuation = false;
    r->left = 0;
    r->rows = 0;
    r->is_err = false;
    r->warnings = 0;
    r->affected_rows = 0;
    r->insert_id = 0;
    r->had_resultset = false;
}

enum resp_kind resp_kind_for(uint8_t cmd)
{
    switch (cmd) {
    case COM_QUERY: return RK_QUERY;
    case COM_STMT_EXECUTE:
    case COM_STMT_BULK_EXECUTE: return RK_EXECUTE;
    case COM_STMT_FETCH: return RK_FETCH;
    case COM_STMT_PREPARE: return RK_PREPARE;
    case COM_FIELD_LIST: return RK_FIELD_LIST;
    case COM_STATISTICS: return RK_STATISTICS;
    case COM_SET_OPTION:
    case COM_DEBUG: return RK_EOF;
    case COM_STMT_CLOSE:
    case COM_STMT_SEND_LONG_DATA: return RK_NONE;
    case COM_PROCESS_INFO: return RK_QUERY;
    default: return RK_OK;
    }
}

/* A 0xFE-headed packet that terminates rows or definitions (EOF, or OK
 * under CLIENT_DEPRECATE_EOF) rather than starting a huge row. */
static bool is_terminator(const struct rm_resp *r, uint8_t first, uint32_t plen)
{
    if (first != 0xfe)
        return false;
    return r->deprecate_eof ? plen < PKT_MAX_PAYLOAD : plen < 9;
}

bool resp_needs_whole(const struct rm_resp *r, uint8_t first, uint32_t plen)
{
    if (r->continuation)
        return false;
    switch (r->phase) {
    case RP_FIRST:
        /* First packets are small (OK / ERR / column count / prepare-OK),
         * except a huge single-packet answer, which is streamed. */
        return plen < 65536 || first == 0xff || first == 0x00;
    case RP_ROWS: return first == 0xff || is_terminator(r, first, plen);
    case RP_COLDEFS_EOF:
    case RP_PREP_PARAMS_EOF:
    case RP_PREP_COLS_EOF: return true;
    default: return false;
    }
}

/* Record the status of an OK (0x00 / 0xFE) or a classic EOF packet. */
static int take_terminal(struct rm_resp *r, const uint8_t *p, size_t n)
{
    if (p[0] == 0xfe && !r->deprecate_eof) {
        if (n < 5)
            return n == 1 ? 0 : -1; /* a bare 0xFE is a pre-4.1 EOF */
        r->warnings = (uint16_t)pkt_u16(p + 1);
        r->status = (uint16_t)pkt_u16(p + 3);
        return 0;
    }
    struct pkt_ok_view ok;
    if (pkt_parse_ok(p, n, r->session_track ? CLIENT_SESSION_TRACK : 0, &ok) < 0)
        return -1;
    r->status = ok.status;
    r->warnings = ok.warnings;
    r->affected_rows = ok.affected_rows;
    r->insert_id = ok.insert_id;
    return 0;
}

/* End of one result: more to come, or the whole response done. */
static enum resp_event end_result(struct rm_resp *r)
{
    if ((r->kind == RK_QUERY || r->kind == RK_EXECUTE) && (r->status & SERVER_MORE_RESULTS_EXISTS)) {
        r->phase = RP_FIRST;
        r->rows = 0;
        return RE_RESULT_END;
    }
    r->phase = RP_IDLE;
    return RE_DONE;
}

static enum resp_event fail(struct rm_resp *r)
{
    r->phase = RP_IDLE;
    return RE_BAD;
}

/* Definitions (columns or params) phase: count down, then the EOF or the
 * next phase. */
static enum resp_phase after_defs(const struct rm_resp *r, enum resp_phase eof_phase, enum resp_phase next)
{
    return r->deprecate_eof ? next : eof_phase;
}

static enum resp_event feed_first(struct rm_resp *r, const uint8_t *p, size_t n, uint32_t plen)
{
    uint8_t first = p[0];
    if (first == 0xff && r->kind != RK_STATISTICS) {
        r->is_err = true;
        r->phase = RP_IDLE;
        return RE_DONE;
    }
    switch (r->kind) {
    case RK_STATISTICS: r->phase = RP_IDLE; return RE_DONE;
    case RK_OK:
    case RK_EOF:
        if (first != 0x00 && first != 0xfe)
            return fail(r);
        if (take_terminal(r, p, n) < 0)
            return fail(r);
        r->phase = RP_IDLE;
        return RE_DONE;
    case RK_FIELD_LIST:
        if (is_terminator(r, first, plen)) {
            if (take_terminal(r, p, n) < 0)
                return fail(r);
            r->phase = RP_IDLE;
            return RE_DONE;
        }
        return RE_NONE; /* a column definition */
    case RK_PREPARE: {
        if (first != 0x00 || n < 12)
            return fail(r);
        uint32_t cols = pkt_u16(p + 5), params = pkt_u16(p + 7);
        r->warnings = (uint16_t)pkt_u16(p + 10);
        r->prep_cols = cols;
        if (params) {
            r->left = params;
            r->phase = RP_PREP_PARAMS;
        } else if (cols) {
            r->left = cols;
            r->phase = RP_PREP_COLS;
        } else {
            r->phase = RP_IDLE;
            return RE_DONE;
        }
        return RE_NONE;
    }
    case RK_QUERY:
    case RK_EXECUTE: {
        if (first == 0x00) {
            if (take_terminal(r, p, n) < 0)
                return fail(r);
            r->had_resultset = false;
            return end_result(r);
        }
        if (first == 0xfb && r->kind == RK_QUERY) {
            r->phase = RP_INFILE;
            return RE_INFILE;
        }
        struct pkt_reader rd;
        pkt_reader_init(&rd, p, n);
        uint64_t cols = pkt_read_lenenc(&rd, NULL);
        if (rd.err || cols == 0)
            return fail(r);
        r->left = cols;
        r->rows = 0;
        r->phase = RP_COLDEFS;
        return RE_NONE;
    }
    default: return fail(r);
    }
}

enum resp_event resp_feed(struct rm_resp *r, const uint8_t *p, size_t n, uint32_t plen)
{
    if (r->continuation) {
        r->continuation = plen == PKT_MAX_PAYLOAD;
        return RE_NONE;
    }
    if (n == 0) { /* an empty packet is only valid as a row of nothing: treat as data */
        if (r->phase == RP_ROWS) {
            r->rows++;
            return RE_NONE;
        }
        return fail(r);
    }
    r->continuation = plen == PKT_MAX_PAYLOAD;
    uint8_t first = p[0];
    switch (r->phase) {
    case RP_IDLE: return fail(r); /* unsolicited packet */
    case RP_FIRST: return feed_first(r, p, n, plen);
    case RP_COLDEFS:
        if (--r->left == 0)
            r->phase = after_defs(r, RP_COLDEFS_EOF, RP_ROWS);
        return RE_NONE;
    case RP_COLDEFS_EOF:
        if (!is_terminator(r, first, plen) || take_terminal(r, p, n) < 0)
            return fail(r);
        if (r->kind == RK_EXECUTE && (r->status & SERVER_STATUS_CURSOR_EXISTS)) {
            r->phase = RP_IDLE; /* rows will come through COM_STMT_FETCH */
            return RE_DONE;
        }
        r->phase = RP_ROWS;
        return RE_NONE;
    case RP_ROWS:
        if (first == 0xff) {
            r->is_err = true;
            r->phase = RP_IDLE;
            return RE_DONE;
        }
        if (is_terminator(r, first, plen)) {
            if (take_terminal(r, p, n) < 0)
                return fail(r);
            r->had_resultset = true;
            r->last_rows = r->rows;
            if (r->kind == RK_FETCH) {
                r->phase = RP_IDLE;
                return RE_DONE;
            }
            return end_result(r);
        }
        r->rows++;
        return RE_NONE;
    case RP_INFILE: return fail(r); /* the backend must wait for the file */
    case RP_PREP_PARAMS:
        if (--r->left == 0)
            r->phase = after_defs(r, RP_PREP_PARAMS_EOF, RP_PREP_COLS);
        if (r->phase == RP_PREP_COLS)
            goto params_done;
        return RE_NONE;
    case RP_PREP_PARAMS_EOF:
        if (!is_terminator(r, first, plen))
            return fail(r);
    params_done:
        if (r->prep_cols == 0) {
            r->phase = RP_IDLE;
            return RE_DONE;
        }
        r->left = r->prep_cols;
        r->phase = RP_PREP_COLS;
        return RE_NONE;
    case RP_PREP_COLS:
        if (--r->left == 0) {
            if (r->deprecate_eof) {
                r->phase = RP_IDLE;
                return RE_DONE;
            }
            r->phase = RP_PREP_COLS_EOF;
        }
        return RE_NONE;
    case RP_PREP_COLS_EOF:
        if (!is_terminator(r, first, plen))
            return fail(r);
        r->phase = RP_IDLE;
        return RE_DONE;
    }
    return fail(r);
}

void resp_infile_sent(struct rm_resp *r)
{
    r->phase = RP_FIRST;
}
