/* Packet relaying (include/ringmux/relay.h). */
#include "ringmux/relay.h"

static size_t pass(struct rm_buf *to, const uint8_t *data, size_t n)
{
    if (to && n)
        buf_append(to, data, n); /* on OOM the peer is short of bytes and its parser fails: nothing more to do here */
    return n;
}

size_t relay_begin(struct rm_relay *r, struct rm_buf *to, const uint8_t *data, size_t len, size_t total, int then,
                   bool *passed)
{
    size_t k = pass(to, data, len < total ? len : total);
    r->left = total - k;
    r->then = r->left ? then : 0;
    *passed = r->left == 0;
    return k;
}

size_t relay_more(struct rm_relay *r, struct rm_buf *to, const uint8_t *data, size_t len, int *then)
{
    size_t k = pass(to, data, len < r->left ? len : r->left);
    r->left -= k;
    *then = 0;
    if (r->left == 0) {
        *then = r->then;
        r->then = 0;
    }
    return k;
}
