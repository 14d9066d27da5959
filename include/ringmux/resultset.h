/* Result sets the proxy answers itself (ROW_COUNT(), CONNECTION_ID(), a
 * stashed SHOW WARNINGS): the session decides what to say, this encodes it
 * for the client's dialect (EOF or OK-0xFE terminators, MariaDB extended
 * metadata). */
#ifndef RINGMUX_RESULTSET_H
#define RINGMUX_RESULTSET_H

#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

/* One column definition (catalog "def", no schema or table). */
struct rs_column {
    const char *name;
    size_t name_len;
    uint16_t charset; /* 63 = binary */
    uint32_t length;  /* display length */
    uint8_t type;     /* MYSQL_TYPE_* */
    uint16_t flags;   /* column flags */
    uint8_t decimals;
};

struct rs_writer {
    struct rm_buf *out;
    uint8_t seq;       /* next sequence id */
    uint32_t caps;     /* the client's capabilities */
    uint32_t ext_caps; /* and MariaDB extended capabilities */
    uint16_t status;   /* server status in the terminators */
};

/* Start a response (sequence id 1) for a client with these capabilities. */
void rs_begin(struct rs_writer *w, struct rm_buf *out, uint32_t caps, uint32_t ext_caps, uint16_t status);
/* Column count, definitions and (without DEPRECATE_EOF) their EOF. */
void rs_columns(struct rs_writer *w, const struct rs_column *cols, size_t n);
/* A text-protocol row of n values (NULL value pointer: SQL NULL). */
void rs_text_row(struct rs_writer *w, const char *const *vals, const size_t *lens, size_t n);
/* A packet captured from a server (header included), renumbered. */
void rs_raw(struct rs_writer *w, const uint8_t *raw, size_t len);
/* The terminator: EOF, or OK with header 0xFE under DEPRECATE_EOF. */
void rs_end(struct rs_writer *w, uint16_t warnings);

#endif
