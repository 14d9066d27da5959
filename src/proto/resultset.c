/* Proxy-authored result sets (include/ringmux/resultset.h). */
#include "ringmux/resultset.h"

#include "ringmux/packet.h"

void rs_begin(struct rs_writer *w, struct rm_buf *out, uint32_t caps, uint32_t ext_caps, uint16_t status)
{
    *w = (struct rs_writer){.out = out, .seq = 1, .caps = caps, .ext_caps = ext_caps, .status = status};
}

void rs_columns(struct rs_writer *w, const struct rs_column *cols, size_t n)
{
    struct pkt_writer pw;
    pkt_begin(&pw, w->out, w->seq);
    pkt_add_lenenc(&pw, n);
    w->seq = (uint8_t)pkt_end(&pw);
    for (size_t i = 0; i < n; i++) {
        const struct rs_column *c = &cols[i];
        pkt_begin(&pw, w->out, w->seq);
        pkt_add_lenenc_str(&pw, "def", 3);
        pkt_add_lenenc_str(&pw, "", 0); /* schema */
        pkt_add_lenenc_str(&pw, "", 0); /* table */
        pkt_add_lenenc_str(&pw, "", 0); /* org_table */
        pkt_add_lenenc_str(&pw, c->name, c->name_len);
        pkt_add_lenenc_str(&pw, "", 0); /* org_name */
        if (w->ext_caps & MARIADB_CLIENT_EXTENDED_METADATA)
            pkt_add_lenenc(&pw, 0); /* no extended type information */
        pkt_add_u8(&pw, 0x0c);
        pkt_add_u16(&pw, c->charset);
        pkt_add_u32(&pw, c->length);
        pkt_add_u8(&pw, c->type);
        pkt_add_u16(&pw, c->flags);
        pkt_add_u8(&pw, c->decimals);
        pkt_add_u16(&pw, 0);
        w->seq = (uint8_t)pkt_end(&pw);
    }
    if (!(w->caps & CLIENT_DEPRECATE_EOF))
        pkt_write_eof(w->out, w->seq++, 0, w->status);
}

void rs_text_row(struct rs_writer *w, const char *const *vals, const size_t *lens, size_t n)
{
    struct pkt_writer pw;
    pkt_begin(&pw, w->out, w->seq);
    for (size_t i = 0; i < n; i++) {
        if (vals[i])
            pkt_add_lenenc_str(&pw, vals[i], lens[i]);
        else
            pkt_add_u8(&pw, 0xfb);
    }
    w->seq = (uint8_t)pkt_end(&pw);
}

void rs_raw(struct rs_writer *w, const uint8_t *raw, size_t len)
{
    if (buf_append(w->out, raw, len) == 0)
        w->out->data[w->out->len - len + 3] = w->seq++;
}

void rs_end(struct rs_writer *w, uint16_t warnings)
{
    if (w->caps & CLIENT_DEPRECATE_EOF) {
        struct pkt_ok ok = {.status = w->status, .warnings = warnings};
        pkt_write_ok(w->out, w->seq++, w->caps & ~CLIENT_SESSION_TRACK, &ok, 0xfe);
    } else {
        pkt_write_eof(w->out, w->seq++, warnings, w->status);
    }
}
