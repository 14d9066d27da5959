/* A growable byte buffer with a read offset: the byte-stream layer's storage
 * for partial input and queued output.  Knows nothing about MySQL. */
#ifndef RINGMUX_BUF_H
#define RINGMUX_BUF_H

#include <stddef.h>
#include <stdint.h>

struct rm_buf {
    uint8_t *data; /* heap storage, NULL until first use (idle clients hold none) */
    size_t off;    /* first unconsumed byte */
    size_t len;    /* one past the last valid byte */
    size_t cap;    /* allocated size */
};

static inline size_t buf_avail(const struct rm_buf *b)
{
    return b->len - b->off;
}
static inline uint8_t *buf_head(const struct rm_buf *b)
{
    return b->data + b->off;
}

/* Make room for n more bytes at the tail; returns the tail pointer or NULL
 * on allocation failure.  Compacts consumed bytes first when worthwhile. */
uint8_t *buf_reserve(struct rm_buf *b, size_t n);
/* Append n bytes; -1 on allocation failure. */
int buf_append(struct rm_buf *b, const void *p, size_t n);
/* Consume n bytes from the head; resets to empty when everything is consumed. */
void buf_consume(struct rm_buf *b, size_t n);
/* Drop contents; keep storage unless it is large (shrinks big buffers). */
void buf_reset(struct rm_buf *b);
/* Free storage. */
void buf_free(struct rm_buf *b);

#endif
