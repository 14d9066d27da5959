/* The session-state block of an OK packet (CLIENT_SESSION_TRACK), read one
 * entry at a time.  What the entries mean for a session is the backend
 * connection module's business; this only parses bytes. */
#ifndef RINGMUX_TRACK_H
#define RINGMUX_TRACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/packet.h"

struct track_entry {
    uint8_t type;       /* SESSION_TRACK_* */
    const uint8_t *raw; /* the whole entry as received (type, length, data) */
    size_t raw_len;
    bool ok;              /* the data parsed for its type (unknown types: always) */
    const uint8_t *name;  /* SYSTEM_VARIABLES: the variable; SCHEMA: the schema; */
    size_t name_len;      /*   TRANSACTION_STATE: the 8-character state string */
    const uint8_t *value; /* SYSTEM_VARIABLES: its value */
    size_t value_len;
};

struct track_reader {
    struct pkt_reader r;
};

void track_begin(struct track_reader *t, const uint8_t *p, size_t n);
/* The next entry: 1, 0 at the end (or where the block stops parsing). */
int track_next(struct track_reader *t, struct track_entry *e);

#endif
