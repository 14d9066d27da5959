/* Diagnostics holds, yields and the stash (include/ringmux/diag.h). */
#include "ringmux/diag.h"

#include "ringmux/packet.h"
#include "ringmux/resultset.h"
#include "ringmux/sql.h"

void diag_forget(struct sess_diag *d)
{
    d->held = d->soft = false;
    buf_free(&d->stash); /* idle sessions hold no buffers */
    d->stash_overflow = false;
}

void diag_before_command(struct sess_diag *d, bool held, bool tableless)
{
    d->held = d->held && held;
    d->keeps = d->held && tableless;
    if (!tableless && (buf_avail(&d->stash) || d->stash_overflow))
        diag_forget(d);
}

bool diag_after_response(struct sess_diag *d, bool err, uint16_t warnings, bool diag_stmt, bool hard)
{
    bool hold = false;
    if (err || warnings > 0) { /* a new area, on the conn */
        diag_forget(d);
        hold = true;
        d->left = DIAG_HOLD_STATEMENTS;
    } else if (d->held && d->keeps && d->left > 0) {
        /* Through a few table-less statements (bounded, so a chatty client
         * that once got a warning does not keep a conn forever). */
        hold = true;
        if (!diag_stmt)
            d->left--;
    }
    d->held = hold;
    d->soft = hold && !hard;
    return hold;
}

void diag_stash_begin(struct sess_diag *d)
{
    buf_free(&d->stash);
    d->stash_overflow = false;
}

void diag_stash_packet(struct sess_diag *d, const uint8_t *raw, size_t n, bool done, uint32_t client_caps,
                       uint32_t conn_caps)
{
    const uint8_t *p = raw + PKT_HDR;
    if (!done) {
        if (d->stash_overflow || buf_avail(&d->stash) + PKT_HDR + n > DIAG_STASH_MAX ||
            buf_append(&d->stash, raw, PKT_HDR + n) < 0) {
            d->stash_overflow = true;
            buf_free(&d->stash);
        }
        return;
    }
    /* The terminator: an EOF, or with DEPRECATE_EOF (a pool key, so the
     * conn's and the client's agree) an OK with header 0xFE. */
    struct pkt_ok_view v;
    if (!(client_caps & CLIENT_DEPRECATE_EOF) && n >= 5 && n < 9 && p[0] == 0xfe) {
        d->stash_warnings = (uint16_t)pkt_u16(p + 1);
        d->stash_status = (uint16_t)pkt_u16(p + 3);
    } else if (pkt_parse_ok(p, n, conn_caps, &v) == 0) {
        d->stash_warnings = v.warnings;
        d->stash_status = v.status;
    } else {
        d->stash_overflow = true;
    }
}

void diag_stash_end(struct sess_diag *d, bool ok)
{
    if (!ok || d->stash_overflow)
        buf_free(&d->stash);
    d->held = d->soft = false;
}

bool diag_has_stash(const struct sess_diag *d)
{
    return buf_avail(&d->stash) > 0;
}

/* A plain "SHOW WARNINGS" (comments and ';' aside)? */
static bool is_show_warnings(const char *sql, size_t len)
{
    struct lexer lx;
    struct lex_token t;
    lex_init(&lx, sql, len);
    if (lex_next(&lx, &t) != LEX_WORD || !lex_is(&t, "SHOW") || lex_next(&lx, &t) != LEX_WORD ||
        !lex_is(&t, "WARNINGS"))
        return false;
    enum lex_type ty;
    while ((ty = lex_next(&lx, &t)) == LEX_SEMI) {
    }
    return ty == LEX_EOF;
}

bool diag_answer(const struct sess_diag *d, const char *sql, size_t len, struct rm_buf *out, uint32_t caps,
                 uint32_t ext_caps, uint16_t status)
{
    if (!diag_has_stash(d) || !is_show_warnings(sql, len))
        return false;
    /* The transaction bits are the session's now, the rest the server's. */
    const uint16_t keep = SERVER_STATUS_IN_TRANS | SERVER_STATUS_AUTOCOMMIT | SERVER_STATUS_IN_TRANS_READONLY;
    struct rs_writer w;
    rs_begin(&w, out, caps, ext_caps,
             (uint16_t)((d->stash_status & ~(keep | SERVER_SESSION_STATE_CHANGED)) | (status & keep)));
    const uint8_t *st = buf_head(&d->stash);
    size_t left = buf_avail(&d->stash);
    while (left >= PKT_HDR) {
        size_t plen = pkt_u24(st), k = PKT_HDR + plen;
        if (k > left)
            break;
        size_t at = out->len;
        rs_raw(&w, st, k);
        uint8_t *pk = out->data + at;
        if (out->len == at + k && !(caps & CLIENT_DEPRECATE_EOF) && plen >= 5 && plen < 9 &&
            pk[PKT_HDR] == 0xfe) /* the EOF after the columns */
            pkt_put_u16(pk + PKT_HDR + 3, (uint16_t)((pkt_u16(pk + PKT_HDR + 3) & ~keep) | (status & keep)));
        st += k;
        left -= k;
    }
    rs_end(&w, d->stash_warnings);
    return true;
}

void diag_free(struct sess_diag *d)
{
    buf_free(&d->stash);
}
