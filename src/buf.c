/* Growable byte buffer (include/ringmux/buf.h). */
#include "ringmux/buf.h"

#include <stdlib.h>
#include <string.h>

/* Buffers above this size are freed when emptied, so one large result or
 * query does not leave a connection holding megabytes while idle. */
#define BUF_KEEP_MAX (64 * 1024)

uint8_t *buf_reserve(struct rm_buf *b, size_t n)
{
    if (b->cap - b->len >= n)
        return b->data + b->len;
    if (b->off > 0) { /* slide unconsumed bytes to the front */
        size_t live = b->len - b->off;
        memmove(b->data, b->data + b->off, live);
        b->off = 0;
        b->len = live;
        if (b->cap - b->len >= n)
            return b->data + b->len;
    }
    size_t cap = b->cap ? b->cap : 512;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2)
            return NULL;
        cap *= 2;
    }
    uint8_t *d = realloc(b->data, cap);
    if (!d)
        return NULL;
    b->data = d;
    b->cap = cap;
    return b->data + b->len;
}

int buf_append(struct rm_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    uint8_t *t = buf_reserve(b, n);
    if (!t)
        return -1;
    memcpy(t, p, n);
    b->len += n;
    return 0;
}

void buf_consume(struct rm_buf *b, size_t n)
{
    b->off += n;
    if (b->off >= b->len)
        buf_reset(b);
}

void buf_reset(struct rm_buf *b)
{
    b->off = b->len = 0;
    if (b->cap > BUF_KEEP_MAX)
        buf_free(b);
}

void buf_free(struct rm_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->off = b->len = b->cap = 0;
}
