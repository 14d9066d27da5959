/* Session-state tracking entries (include/ringmux/track.h). */
#include "ringmux/track.h"

#include <string.h>

void track_begin(struct track_reader *t, const uint8_t *p, size_t n)
{
    pkt_reader_init(&t->r, p, n);
}

int track_next(struct track_reader *t, struct track_entry *e)
{
    struct pkt_reader *r = &t->r;
    if (pkt_left(r) == 0 || r->err)
        return 0;
    memset(e, 0, sizeof(*e));
    e->raw = r->p;
    e->type = (uint8_t)pkt_read_int(r, 1);
    size_t len;
    const uint8_t *data = pkt_read_lenenc_str(r, &len);
    if (r->err)
        return 0;
    e->raw_len = (size_t)(r->p - e->raw);
    struct pkt_reader er;
    pkt_reader_init(&er, data, len);
    switch (e->type) {
    case SESSION_TRACK_SYSTEM_VARIABLES:
        e->name = pkt_read_lenenc_str(&er, &e->name_len);
        e->value = pkt_read_lenenc_str(&er, &e->value_len);
        break;
    case SESSION_TRACK_SCHEMA:
    case SESSION_TRACK_TRANSACTION_STATE: e->name = pkt_read_lenenc_str(&er, &e->name_len); break;
    default: break;
    }
    e->ok = !er.err;
    return 1;
}
