/* Relaying packets between two connections without holding them whole
 * (PgBouncer's sbuf, Odyssey's relay): the part of a packet received so
 * far goes on at once, the rest as it arrives.  Both directions use it:
 * result rows to the client, LOCAL INFILE data to the server.  A packet
 * may also go into the void (a response nobody waits for any more). */
#ifndef RINGMUX_RELAY_H
#define RINGMUX_RELAY_H

#include <stdbool.h>
#include <stddef.h>

#include "ringmux/buf.h"

struct rm_relay {
    size_t left; /* bytes of the current packet still to pass on */
    int then;    /* what the owner does once it has passed (owner-defined; 0: nothing) */
};

/* A packet of `total` bytes (header included) starts at data, of which
 * len bytes are here: pass what is here to `to` (NULL: into the void),
 * remember the rest and `then`.  Returns the bytes taken.  *passed is set
 * when the whole packet went through now. */
size_t relay_begin(struct rm_relay *r, struct rm_buf *to, const uint8_t *data, size_t len, size_t total, int then,
                   bool *passed);
/* More bytes of the packet under way: pass up to r->left of them.
 * Returns the bytes taken; when the packet has passed, *then gets what to
 * do (and the relay is idle again), else 0. */
size_t relay_more(struct rm_relay *r, struct rm_buf *to, const uint8_t *data, size_t len, int *then);

static inline bool relay_busy(const struct rm_relay *r)
{
    return r->left > 0;
}

#endif
