/* One backend connection's protocol life: connect, login, the proxy's own
 * commands (session tracking setup, baseline, reset, state sync, lazy
 * prepare, KILL), and relaying a client command's response (OK packets
 * rewritten, the response tracker fed).  Capacity, borrowing and fairness
 * are the pool's (pool.h), which this module tells when a connection is
 * opened, ready or closed. */
#ifndef RINGMUX_BCONN_H
#define RINGMUX_BCONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "ringmux/conn.h"
#include "ringmux/handshake.h"
#include "ringmux/list.h"
#include "ringmux/relay.h"
#include "ringmux/response.h"
#include "ringmux/state.h"
#include "ringmux/stmt.h"

struct rm_worker;
struct rm_session;
struct rm_pool;

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
    struct sockaddr_storage addr; /* the backend's address (the connect SQE points here) */
    uint32_t be_epoch;            /* its backend's epoch when opened: a newer one retires it */
    uint32_t caps;                /* capabilities negotiated with the server */
    uint32_t ext_caps;            /* MariaDB extended capabilities negotiated */
    struct rm_state st;           /* its session state (schema, vars, options) */
    uint64_t created_ms;          /* for backend_max_lifetime */
    uint64_t idle_since_ms;       /* for backend_idle_timeout */
    uint64_t uses;                /* commands run; lets a session know nobody else used it */
    uint32_t last_sess;           /* id of the session that ran the last command */
    bool lid_known;               /* last_insert_id value below is current */
    uint64_t lid;
    char **baseline_tmp;      /* values captured during STEP_BASELINE */
    bool clean_close;         /* send COM_QUIT before closing */
    struct stmt_cache stmts;  /* statements prepared on this conn */
    uint32_t prep_backend_id; /* id from the prepare-OK of STEP_PREPARE */
    /* KILL QUERY: a conn sending one for another conn (kill_target_*),
     * and a conn with KILL QUERYs on their way for it (kill_pending): until
     * they are answered it serves no other session, so a late KILL can
     * never stop another session's statement. */
    uint32_t kill_target_slot, kill_target_id; /* target conn (slot, id), id 0: none */
    bool killer_only;                          /* opened just to send one KILL QUERY, then closed */
    bool learning_reset;                       /* resetting once during init to learn pool->reset_st */
    uint16_t kill_pending;                     /* KILL QUERYs for this conn not yet answered */
    bool ready_after_kill;                     /* released while kill_pending: conn_ready() when answered */
    bool draining;                             /* reading an abandoned response into the void */
    size_t drained;                            /* bytes of it so far */
    struct rm_relay relay; /* a response packet passing through to the client (then: a resp_event) */
};

/* Backend conns' operations on the ring. */
extern const struct conn_ops bconn_ops;

/* Open a conn of pool p to the configured backend: socket, connect with
 * backend_connect_timeout (conn_connect).  NULL (nothing registered, the
 * caller's slot still reserved) on failure. */
struct rm_bconn *bconn_open(struct rm_worker *w, struct rm_pool *p);
/* "ip:port" (or "[ip6]:port") of the address b connects to. */
const char *bconn_addr_str(const struct rm_bconn *b, char *buf, size_t len);

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
/* COM_RESET_CONNECTION and re-initialisation; ready again afterwards. */
void bconn_reset(struct rm_bconn *b);
/* Nobody wants the rest of the response in flight: read it into the void
 * (up to a bound; beyond it the conn is closed), then reset. */
void bconn_drain(struct rm_bconn *b);
/* The live backend conn in slot `slot` with id `id` on w, or NULL. */
struct rm_bconn *bconn_find(struct rm_worker *w, uint32_t slot, uint32_t id);
/* Send KILL QUERY on k for the statement running on target (k logged in;
 * a killer-only conn sends it once logged in).  target serves nobody else
 * until the KILL is answered.  0, or -1 (k closed). */
int bconn_send_kill(struct rm_bconn *k, struct rm_bconn *target);

#endif
