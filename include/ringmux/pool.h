/* Backend connections and the per-worker pools they live in.
 *
 * A pool is keyed by what makes two backend connections interchangeable:
 * the user they logged in as, the semantics-changing capability bits of
 * the clients they serve (so a CLIENT_FOUND_ROWS or CLIENT_DEPRECATE_EOF
 * client never gets a connection speaking the other dialect) and the
 * handshake collation.  A connection is attached to a session only while a
 * command or transaction is in flight (or the session is pinned). */
#ifndef RINGMUX_POOL_H
#define RINGMUX_POOL_H

#include <stdbool.h>
#include <stdint.h>

#include "ringmux/bconn.h"
#include "ringmux/conn.h"
#include "ringmux/handshake.h"
#include "ringmux/list.h"
#include "ringmux/response.h"
#include "ringmux/state.h"
#include "ringmux/stmt.h"

struct rm_worker;
struct rm_session;
struct rm_backend;

/* Databases remembered per pool as recently validated, and for how long.
 * Within the window a dropped database surfaces as ERR 1049 on the first
 * statement instead of at connect. */
#define POOL_KNOWN_DBS       8
#define POOL_KNOWN_DB_TTL_MS 2000

/* Capability bits that change what a connection sends or accepts, so they
 * partition the pools.  CLIENT_MULTI_STATEMENTS is not one of them: the
 * server lets COM_SET_OPTION switch it on a live connection, so it is
 * session state (state.multi_stmt), replayed like any other. */
#define POOL_CAPS_MASK                                                                                                 \
    (CLIENT_FOUND_ROWS | CLIENT_LONG_FLAG | CLIENT_NO_SCHEMA | CLIENT_ODBC | CLIENT_LOCAL_FILES |                      \
     CLIENT_IGNORE_SPACE | CLIENT_INTERACTIVE | CLIENT_MULTI_RESULTS | CLIENT_PS_MULTI_RESULTS | CLIENT_DEPRECATE_EOF)

/* MariaDB extended capabilities that partition the pools: extended
 * metadata adds a field to every column definition.  Bulk execution does
 * not: backends always ask for it when the server has it. */
#define POOL_EXT_CAPS_MASK MARIADB_CLIENT_EXTENDED_METADATA

struct rm_pool {
    struct rm_link link;   /* in be->pools */
    struct rm_backend *be; /* the server its conns go to */
    char *user;            /* backend login */
    char *password;
    uint32_t caps;       /* client caps & POOL_CAPS_MASK */
    uint32_t ext_caps;   /* client MariaDB extended caps & POOL_EXT_CAPS_MASK */
    uint8_t collation;   /* handshake collation id */
    struct rm_link idle; /* idle conns, most recently used first */
    int n_conns;         /* conns of this pool, any state */
    int n_idle;
    int n_opening;              /* conns still connecting / initialising */
    int n_waiting;              /* sessions of this pool queued for a conn */
    int refs;                   /* sessions using this pool */
    struct state_baseline base; /* variable values of a fresh conn */
    /* What COM_RESET_CONNECTION leaves (overrides of base, no schema),
     * learned once by the pool's first conn; a client's reset or change of
     * user puts the session there. */
    struct rm_state reset_st;
    bool reset_known;
    bool learning_reset; /* a conn of the pool is learning it now */
    /* Databases this user was recently allowed to select: a client
     * connecting with one of them needs no backend round trip. */
    char *known_db[POOL_KNOWN_DBS];
    uint64_t known_until[POOL_KNOWN_DBS];
};

/* Whether db was validated for pool p within POOL_KNOWN_DB_TTL_MS. */
bool pool_db_known(struct rm_pool *p, const char *db, size_t len, uint64_t now_ms);
/* Remember that selecting db succeeded for p's user. */
void pool_db_remember(struct rm_pool *p, const char *db, uint64_t now_ms);

/* Find or create the pool for (user, caps, extended caps, collation) of
 * backend be. */
struct rm_pool *pool_get(struct rm_backend *be, const char *user, const char *password, uint32_t caps,
                         uint32_t ext_caps, uint8_t collation);
/* Close every idle conn of w (shutdown). */
void pool_free_all(struct rm_worker *w);
/* The config was reloaded: pools take their users' new passwords (the
 * next backend login uses them). */
void pool_config_changed(struct rm_worker *w);
/* Does w have any backend conn (any backend, any state)? */
bool pool_any_conns(const struct rm_worker *w);
/* Free the pool objects of w once no session or live conn uses them. */
void pool_destroy_all(struct rm_worker *w);

/* Try to get a ready connection for s right now: an idle one (preferring one
 * whose state already matches), else start opening one if the global cap
 * allows.  Returns the conn (state BC_ACTIVE, attached) or NULL, in which
 * case the session must wait in the worker's FIFO. */
struct rm_bconn *pool_borrow(struct rm_worker *w, struct rm_session *s);
/* The session is done with its conn: back to the pool, to the next waiter,
 * to reset, or closed (too old). */
void pool_release(struct rm_worker *w, struct rm_bconn *b);
/* Detach a conn from its session after the session died or reset while it
 * was attached: reset it (or close it if its stream position is unknown). */
void pool_abandon(struct rm_worker *w, struct rm_bconn *b, bool mid_response);
/* Stop the statement running on b (KILL QUERY <thread id>) from another
 * connection of the same user: an idle one, or the worker's one killer
 * conn, opened beyond the cap and closed when no KILL waits for it (at
 * most one per worker; further KILLs queue for it).  b serves nobody else
 * until the KILL is answered.  0, or -1 if nothing could be sent (out of
 * memory, backend unreachable, queue full). */
int pool_kill_query(struct rm_worker *w, struct rm_bconn *b);
/* Periodic: idle timeouts, lifetimes, min idle, cross-worker shedding,
 * borrow timeouts. */
void pool_maintain(struct rm_worker *w);
/* Publish the wait start of w's oldest queued session (0 if none). */
void pool_note_oldest_wait(struct rm_worker *w);
/* Hand ready conns to waiting sessions after any change. */
void pool_serve_waiters(struct rm_worker *w);

/* ---- what bconn.c tells the pool (one connection's life, accounted) ---- */

/* A new conn of b->pool was registered (counted as opening). */
void pool_conn_opened(struct rm_bconn *b);
/* b logged in and initialised, or came back from a reset or a KILL: hand it
 * to a waiter, keep it idle, or close it if another pool or worker needs
 * the slot. */
void pool_conn_ready(struct rm_bconn *b);
/* The worker's killer conn answered a KILL: send the next one waiting for
 * it, or retire it. */
void pool_killer_next(struct rm_bconn *k);
/* The worker's killer conn is closing: the targets waiting for it are let
 * go (their statements run on). */
void pool_killer_closed(struct rm_bconn *k);
/* The one transition function of a backend conn: it owns the idle list
 * (entering IDLE pushes it, leaving pops it), the opening and idle counts,
 * and, on CLOSED, the conn counts and the global slot. */
void bconn_set_state(struct rm_bconn *b, enum bconn_state to);

#endif
