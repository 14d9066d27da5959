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

#include "ringmux/conn.h"
#include "ringmux/handshake.h"
#include "ringmux/list.h"
#include "ringmux/response.h"
#include "ringmux/state.h"
#include "ringmux/stmt.h"

struct rm_worker;
struct rm_session;

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
    struct rm_link link; /* in worker->pools */
    char *user;          /* backend login */
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

/* Backend connection lifecycle; the pool's lists are the states. */
enum bconn_state {
    BC_CONNECTING, /* TCP connect in flight */
    BC_GREETING,   /* waiting for the server greeting */
    BC_AUTH,       /* login sent, waiting for OK / auth switch */
    BC_INIT,       /* running session-tracking setup, init_query, baseline capture */
    BC_IDLE,       /* in pool->idle */
    BC_ACTIVE,     /* attached to a session */
    BC_RESET,      /* COM_RESET_CONNECTION + re-init before reuse */
    BC_CLOSED,     /* dead, waiting to be freed */
};
const char *bc_state_str(enum bconn_state s);

/* Who the response currently being tracked belongs to. */
enum bconn_task {
    TASK_NONE,     /* nothing outstanding */
    TASK_CLIENT,   /* a client command: response goes to the attached session */
    TASK_INTERNAL, /* a proxy command: response is consumed by the proxy */
};

/* Internal command steps during init / sync / reset. */
enum bconn_step {
    STEP_NONE,
    STEP_TRACKING,          /* SET session_track_... */
    STEP_INIT_QUERY,        /* the configured init_query */
    STEP_BASELINE,          /* SHOW SESSION VARIABLES of the tracked list */
    STEP_RESET,             /* COM_RESET_CONNECTION */
    STEP_SYNC_DB,           /* COM_INIT_DB for the session's schema */
    STEP_SYNC_VARS,         /* SET delta */
    STEP_SYNC_OPT,          /* COM_SET_OPTION */
    STEP_SYNC_CLEAR_DIAG,   /* clear the diagnostics area before SHOW WARNINGS */
    STEP_STASH_DIAG,        /* SHOW WARNINGS into the session before it gives its conn up */
    STEP_CHECK_DB,          /* COM_INIT_DB to validate a new session's default database */
    STEP_ROLLBACK,          /* ROLLBACK before reset */
    STEP_KILL,              /* KILL QUERY for a statement whose client left */
    STEP_PREPARE,           /* COM_STMT_PREPARE of a session statement not yet on this conn */
    STEP_REFRESH_COLLATION, /* learn collation_connection after SET NAMES / character_set_connection */
};

struct rm_bconn {
    struct rm_conn c;   /* socket; must be first */
    uint32_t id;        /* log id */
    uint32_t thread_id; /* server's connection id */
    enum bconn_state state;
    struct rm_pool *pool;
    struct rm_link link;     /* in pool->idle while idle */
    struct rm_session *sess; /* attached session, or NULL */
    struct rm_resp resp;     /* response tracker for the command in flight */
    enum bconn_task task;
    enum bconn_step step;
    struct hs_greeting *greeting; /* during login only */
    uint32_t caps;                /* capabilities negotiated with the server */
    uint32_t ext_caps;            /* MariaDB extended capabilities negotiated */
    struct rm_state st;           /* its session state (schema, vars, options) */
    uint64_t created_ms;          /* for backend_max_lifetime */
    uint64_t idle_since_ms;       /* for backend_idle_timeout */
    uint64_t uses;                /* commands run; lets a session know nobody else used it */
    uint32_t last_sess;           /* id of the session that ran the last command */
    bool lid_known;               /* last_insert_id value below is current */
    uint64_t lid;
    char **baseline_tmp;       /* values captured during STEP_BASELINE */
    bool clean_close;          /* send COM_QUIT before closing */
    struct stmt_cache stmts;   /* statements prepared on this conn */
    uint32_t prep_backend_id;  /* id from the prepare-OK of STEP_PREPARE */
    /* KILL QUERY: a conn sending one for another conn (kill_target_*),
     * and a conn with KILL QUERYs on their way for it (kill_pending): until
     * they are answered it serves no other session, so a late KILL can
     * never stop another session's statement. */
    uint32_t kill_target_slot, kill_target_id; /* target conn (slot, id), id 0: none */
    bool killer_only;                          /* opened just to send one KILL QUERY, then closed */
    bool learning_reset;                       /* resetting once during init to learn pool->reset_st */
    uint16_t kill_pending;                     /* KILL QUERYs for this conn not yet answered */
    bool ready_after_kill;                     /* released while kill_pending: conn_ready() when answered */
    bool draining;             /* reading an abandoned response into the void */
    size_t drained;            /* bytes of it so far */
    size_t stream_left;        /* bytes of a streamed packet still to forward */
    enum resp_event stream_ev; /* tracker event to act on once it is forwarded */
};

/* Find or create the pool for (user, caps, extended caps, collation) on w. */
struct rm_pool *pool_get(struct rm_worker *w, const char *user, const char *password, uint32_t caps, uint32_t ext_caps,
                         uint8_t collation);
/* Close every idle conn of w (shutdown). */
void pool_free_all(struct rm_worker *w);
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
 * connection of the same user: an idle one, or one opened for it beyond
 * the cap.  b serves nobody else until the KILL is answered.  0, or -1 if
 * nothing could be sent (out of memory, backend unreachable). */
int pool_kill_query(struct rm_worker *w, struct rm_bconn *b);
/* Periodic: idle timeouts, lifetimes, min idle, cross-worker shedding,
 * borrow timeouts. */
void pool_maintain(struct rm_worker *w);
/* Publish the wait start of w's oldest queued session (0 if none). */
void pool_note_oldest_wait(struct rm_worker *w);
/* Hand ready conns to waiting sessions after any change. */
void pool_serve_waiters(struct rm_worker *w);

/* Backend side of the worker's dispatch. */
void bconn_on_data(struct rm_bconn *b, const uint8_t *data, size_t len, size_t *used);
void bconn_on_connect(struct rm_bconn *b, int res);
void bconn_on_eof(struct rm_bconn *b, int err);
void bconn_on_flushed(struct rm_bconn *b);
void bconn_free(struct rm_bconn *b);
/* Close a backend conn (counted, logged with reason). */
void bconn_close(struct rm_bconn *b, const char *reason);
/* Close a healthy conn politely (COM_QUIT first): idle limits, rebalancing. */
void bconn_retire(struct rm_bconn *b, const char *reason);
/* Send an internal command (seq 0) and track its response. */
int bconn_send_internal(struct rm_bconn *b, enum bconn_step step, uint8_t cmd, const void *arg, size_t len);

#endif
