/* A session's diagnostics area (warnings and errors) through the pool.
 *
 * The area lives on the backend connection that ran the statement, and
 * MariaDB keeps it through statements that use no table.  After a
 * statement with warnings or an error the session therefore holds its
 * connection through up to DIAG_HOLD_STATEMENTS further table-less
 * statements, so SHOW WARNINGS shows exactly what a direct connection
 * shows.  The hold is soft: when other sessions wait for a connection and
 * the session has been idle DIAG_YIELD_MS, it runs SHOW WARNINGS itself,
 * keeps the server's packets (the stash, at most DIAG_STASH_MAX bytes) and
 * lets the connection go; a later plain SHOW WARNINGS is answered from the
 * stash, until a statement that uses a table or raises diagnostics of its
 * own. */
#ifndef RINGMUX_DIAG_H
#define RINGMUX_DIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ringmux/buf.h"

#define DIAG_HOLD_STATEMENTS 2
#define DIAG_YIELD_MS        100
#define DIAG_STASH_MAX       (256 * 1024)

struct sess_diag {
    bool held;    /* holding the conn so SHOW WARNINGS sees its diagnostics */
    bool soft;    /* ... and for nothing else: may give it up when others wait */
    bool keeps;   /* the command in flight leaves the area alone (table-less) */
    uint8_t left; /* table-less statements it may still hold through */
    /* SHOW WARNINGS as the server answered it when the hold was given up:
     * the packets before the terminator (headers included), and the
     * terminator's warning count and status. */
    struct rm_buf stash;
    uint16_t stash_warnings, stash_status;
    bool stash_overflow;
};

/* The area is gone (reset, or a new statement raised its own). */
void diag_forget(struct sess_diag *d);
/* A command is about to run; held: the session still holds its conn for
 * it.  tableless: it uses no table (MariaDB keeps the area). */
void diag_before_command(struct sess_diag *d, bool held, bool tableless);
/* Its response ended: should the session hold its conn for diagnostics?
 * diag_stmt: the statement was SHOW WARNINGS or another diagnostics
 * statement (it does not use up the hold); hard: the session holds the conn
 * for another reason as well (no yielding). */
bool diag_after_response(struct sess_diag *d, bool err, uint16_t warnings, bool diag_stmt, bool hard);
/* The hold is being given up: start a new stash. */
void diag_stash_begin(struct sess_diag *d);
/* One packet of the SHOW WARNINGS run for the stash; done: the terminator
 * (parsed by the client's DEPRECATE_EOF, conn_caps for its OK layout). */
void diag_stash_packet(struct sess_diag *d, const uint8_t *raw, size_t n, bool done, uint32_t client_caps,
                       uint32_t conn_caps);
/* The stash run ended (ok false: it failed); the hold is over either way. */
void diag_stash_end(struct sess_diag *d, bool ok);
bool diag_has_stash(const struct sess_diag *d);
/* If sql is a plain SHOW WARNINGS and a stash exists, write the answer
 * (the server's packets renumbered, the session's current transaction
 * bits) to out and return true. */
bool diag_answer(const struct sess_diag *d, const char *sql, size_t len, struct rm_buf *out, uint32_t caps,
                 uint32_t ext_caps, uint16_t status);
void diag_free(struct sess_diag *d);

#endif
