/* Packet framing and codecs (include/ringmux/packet.h). */
#include "ringmux/packet.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *pkt_cmd_str(uint8_t cmd)
{
    static const char *const names[] = {
        "COM_SLEEP",
        "COM_QUIT",
        "COM_INIT_DB",
        "COM_QUERY",
        "COM_FIELD_LIST",
        "COM_CREATE_DB",
        "COM_DROP_DB",
        "COM_REFRESH",
        "COM_SHUTDOWN",
        "COM_STATISTICS",
        "COM_PROCESS_INFO",
        "COM_CONNECT",
        "COM_PROCESS_KILL",
        "COM_DEBUG",
        "COM_PING",
        "COM_TIME",
        "COM_DELAYED_INSERT",
        "COM_CHANGE_USER",
        "COM_BINLOG_DUMP",
        "COM_TABLE_DUMP",
        "COM_CONNECT_OUT",
        "COM_REGISTER_SLAVE",
        "COM_STMT_PREPARE",
        "COM_STMT_EXECUTE",
        "COM_STMT_SEND_LONG_DATA",
        "COM_STMT_CLOSE",
        "COM_STMT_RESET",
        "COM_SET_OPTION",
        "COM_STMT_FETCH",
        "COM_DAEMON",
        "COM_BINLOG_DUMP_GTID",
        "COM_RESET_CONNECTION",
    };
    if (cmd == COM_STMT_BULK_EXECUTE)
        return "COM_STMT_BULK_EXECUTE";
    return cmd < sizeof(names) / sizeof(names[0]) ? names[cmd] : "COM_UNKNOWN";
}

uint64_t pkt_read_int(struct pkt_reader *r, int n)
{
    if (r->err || pkt_left(r) < (size_t)n) {
        r->err = true;
        return 0;
    }
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v |= (uint64_t)r->p[i] << (8 * i);
    r->p += n;
    return v;
}

uint64_t pkt_read_lenenc(struct pkt_reader *r, bool *is_null)
{
    if (is_null)
        *is_null = false;
    if (r->err || pkt_left(r) < 1) {
        r->err = true;
        return 0;
    }
    uint8_t b = *r->p++;
    switch (b) {
    case 0xfb:
        if (is_null)
            *is_null = true;
        return 0;
    case 0xfc: return pkt_read_int(r, 2);
    case 0xfd: return pkt_read_int(r, 3);
    case 0xfe: return pkt_read_int(r, 8);
    case 0xff: r->err = true; return 0; /* not a valid lenenc prefix */
    default: return b;
    }
}

const uint8_t *pkt_read_bytes(struct pkt_reader *r, size_t n)
{
    if (r->err || pkt_left(r) < n) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += n;
    return p;
}

const uint8_t *pkt_read_lenenc_str(struct pkt_reader *r, size_t *len)
{
    uint64_t n = pkt_read_lenenc(r, NULL);
    if (r->err || n > pkt_left(r)) {
        r->err = true;
        *len = 0;
        return NULL;
    }
    *len = (size_t)n;
    return pkt_read_bytes(r, (size_t)n);
}

const uint8_t *pkt_read_cstr(struct pkt_reader *r, size_t *len)
{
    if (r->err) {
        *len = 0;
        return NULL;
    }
    const uint8_t *z = memchr(r->p, 0, pkt_left(r));
    if (!z) {
        r->err = true;
        *len = 0;
        return NULL;
    }
    const uint8_t *s = r->p;
    *len = (size_t)(z - s);
    r->p = z + 1;
    return s;
}

size_t pkt_lenenc_size(uint64_t v)
{
    if (v < 251)
        return 1;
    if (v < (1u << 16))
        return 3;
    if (v < (1u << 24))
        return 4;
    return 9;
}

uint8_t *pkt_put_lenenc(uint8_t *p, uint64_t v)
{
    if (v < 251) {
        *p++ = (uint8_t)v;
    } else if (v < (1u << 16)) {
        *p++ = 0xfc;
        pkt_put_u16(p, (uint32_t)v);
        p += 2;
    } else if (v < (1u << 24)) {
        *p++ = 0xfd;
        pkt_put_u24(p, (uint32_t)v);
        p += 3;
    } else {
        *p++ = 0xfe;
        for (int i = 0; i < 8; i++)
            *p++ = (uint8_t)(v >> (8 * i));
    }
    return p;
}

/* The writer builds the payload contiguously after a 4-byte header slot and
 * splits it into 16 MiB packets in pkt_end, inserting headers in place. */
void pkt_begin(struct pkt_writer *w, struct rm_buf *out, uint8_t seq)
{
    w->out = out;
    w->seq = seq;
    w->err = false;
    w->start = out->len - out->off; /* relative to the head: buf_reserve may slide it */
    uint8_t hdr[PKT_HDR] = {0};
    if (buf_append(out, hdr, PKT_HDR) < 0)
        w->err = true;
}

void pkt_add(struct pkt_writer *w, const void *p, size_t n)
{
    if (!w->err && buf_append(w->out, p, n) < 0)
        w->err = true;
}

void pkt_add_u8(struct pkt_writer *w, uint8_t v)
{
    pkt_add(w, &v, 1);
}

void pkt_add_u16(struct pkt_writer *w, uint16_t v)
{
    uint8_t b[2];
    pkt_put_u16(b, v);
    pkt_add(w, b, 2);
}

void pkt_add_u32(struct pkt_writer *w, uint32_t v)
{
    uint8_t b[4];
    pkt_put_u32(b, v);
    pkt_add(w, b, 4);
}

void pkt_add_lenenc(struct pkt_writer *w, uint64_t v)
{
    uint8_t b[9];
    pkt_add(w, b, (size_t)(pkt_put_lenenc(b, v) - b));
}

void pkt_add_lenenc_str(struct pkt_writer *w, const void *p, size_t n)
{
    pkt_add_lenenc(w, n);
    pkt_add(w, p, n);
}

void pkt_add_zeros(struct pkt_writer *w, size_t n)
{
    static const uint8_t zeros[32];
    while (n > 0) {
        size_t k = n < sizeof(zeros) ? n : sizeof(zeros);
        pkt_add(w, zeros, k);
        n -= k;
    }
}

int pkt_end(struct pkt_writer *w)
{
    if (w->err)
        return -1;
    struct rm_buf *b = w->out;
    size_t payload = b->len - b->off - w->start - PKT_HDR;
    uint8_t seq = w->seq;
    if (payload < PKT_MAX_PAYLOAD) { /* the common case: one packet */
        pkt_put_u24(b->data + b->off + w->start, (uint32_t)payload);
        b->data[b->off + w->start + 3] = seq;
        return (uint8_t)(seq + 1);
    }
    /* Split: every full chunk gets a header; a payload that is an exact
     * multiple of 16 MiB - 1 ends with an empty packet. */
    size_t chunks = payload / PKT_MAX_PAYLOAD + 1;
    size_t extra = (chunks - 1) * PKT_HDR;
    if (!buf_reserve(b, extra))
        return -1;
    uint8_t *base = b->data + b->off + w->start; /* after buf_reserve's possible slide */
    /* Move chunks back-to-front so each lands at its final offset. */
    for (size_t i = chunks; i-- > 0;) {
        size_t src = PKT_HDR + i * PKT_MAX_PAYLOAD;
        size_t n = (i == chunks - 1) ? payload - i * PKT_MAX_PAYLOAD : PKT_MAX_PAYLOAD;
        size_t dst = i * (PKT_MAX_PAYLOAD + PKT_HDR);
        memmove(base + dst + PKT_HDR, base + src, n);
        pkt_put_u24(base + dst, (uint32_t)n);
        base[dst + 3] = (uint8_t)(seq + i);
    }
    b->len += extra;
    return (uint8_t)(seq + chunks);
}

int pkt_write_ok(struct rm_buf *out, uint8_t seq, uint32_t caps, const struct pkt_ok *ok, uint8_t header)
{
    struct pkt_writer w;
    pkt_begin(&w, out, seq);
    pkt_add_u8(&w, header);
    pkt_add_lenenc(&w, ok->affected_rows);
    pkt_add_lenenc(&w, ok->insert_id);
    uint16_t status = ok->status;
    bool with_state = (caps & CLIENT_SESSION_TRACK) && ok->state && ok->state_len;
    if (with_state)
        status |= SERVER_SESSION_STATE_CHANGED;
    else
        status &= (uint16_t)~SERVER_SESSION_STATE_CHANGED;
    pkt_add_u16(&w, status);
    pkt_add_u16(&w, ok->warnings);
    if (caps & CLIENT_SESSION_TRACK) {
        if (ok->info_len || with_state)
            pkt_add_lenenc_str(&w, ok->info, ok->info_len);
        if (with_state)
            pkt_add_lenenc_str(&w, ok->state, ok->state_len);
    } else {
        pkt_add(&w, ok->info, ok->info_len);
    }
    return pkt_end(&w) < 0 ? -1 : 0;
}

int pkt_write_err(struct rm_buf *out, uint8_t seq, uint16_t code, const char *sqlstate, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    if ((size_t)n >= sizeof(msg))
        n = sizeof(msg) - 1;
    struct pkt_writer w;
    pkt_begin(&w, out, seq);
    pkt_add_u8(&w, 0xff);
    pkt_add_u16(&w, code);
    pkt_add_u8(&w, '#');
    pkt_add(&w, sqlstate, 5);
    pkt_add(&w, msg, (size_t)n);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int pkt_write_eof(struct rm_buf *out, uint8_t seq, uint16_t warnings, uint16_t status)
{
    struct pkt_writer w;
    pkt_begin(&w, out, seq);
    pkt_add_u8(&w, 0xfe);
    pkt_add_u16(&w, warnings);
    pkt_add_u16(&w, status);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int pkt_write_cmd(struct rm_buf *out, uint8_t cmd, const void *arg, size_t len)
{
    struct pkt_writer w;
    pkt_begin(&w, out, 0);
    pkt_add_u8(&w, cmd);
    pkt_add(&w, arg, len);
    return pkt_end(&w) < 0 ? -1 : 0;
}

int pkt_parse_ok(const uint8_t *p, size_t len, uint32_t caps, struct pkt_ok_view *ok)
{
    struct pkt_reader r;
    pkt_reader_init(&r, p, len);
    memset(ok, 0, sizeof(*ok));
    uint8_t h = (uint8_t)pkt_read_int(&r, 1);
    if (h != 0x00 && h != 0xfe)
        return -1;
    ok->affected_rows = pkt_read_lenenc(&r, NULL);
    ok->insert_id = pkt_read_lenenc(&r, NULL);
    ok->status = (uint16_t)pkt_read_int(&r, 2);
    ok->warnings = (uint16_t)pkt_read_int(&r, 2);
    if (r.err)
        return -1;
    if (caps & CLIENT_SESSION_TRACK) {
        if (pkt_left(&r) > 0)
            ok->info = pkt_read_lenenc_str(&r, &ok->info_len);
        if ((ok->status & SERVER_SESSION_STATE_CHANGED) && pkt_left(&r) > 0)
            ok->state = pkt_read_lenenc_str(&r, &ok->state_len);
    } else {
        ok->info = r.p;
        ok->info_len = pkt_left(&r);
    }
    return r.err ? -1 : 0;
}

int pkt_parse_err(const uint8_t *p, size_t len, struct pkt_err_view *e)
{
    struct pkt_reader r;
    pkt_reader_init(&r, p, len);
    memset(e, 0, sizeof(*e));
    if (pkt_read_int(&r, 1) != 0xff)
        return -1;
    e->code = (uint16_t)pkt_read_int(&r, 2);
    if (r.err)
        return -1;
    if (pkt_left(&r) >= 6 && r.p[0] == '#') {
        memcpy(e->sqlstate, r.p + 1, 5);
        r.p += 6;
    } else {
        memcpy(e->sqlstate, "HY000", 5);
    }
    e->msg = r.p;
    e->msg_len = pkt_left(&r);
    return 0;
}
