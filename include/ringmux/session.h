/* The client session: one state enum, one dispatch (sess_on_data), one
 * teardown path (sess_close). */
#ifndef RINGMUX_SESSION_H
#define RINGMUX_SESSION_H

#include <stdbool.h>
#include <stdint.h>

#include "ringmux/auth.h"
#include "ringmux/conn.h"
#include "ringmux/diag.h"
#include "ringmux/handshake.h"
#include "ringmux/list.h"
#include "ringmux/relay.h"
#include "ringmux/sql.h"
#include "ringmux/state.h"
#include "ringmux/stmt.h"

struct rm_worker;
struct rm_bconn;
struct rm_pool;

/* Backpressure: stop reading the backend while this much is queued for the
 * client; resume below the low mark. */
#define SESS_BACKPRESSURE_HIGH (256 * 1024)
#define SESS_BACKPRESSURE_LOW  (64 * 1024)

enum sess_state {
    SESS_HANDSHAKE,   /* greeting sent, waiting for HandshakeResponse41 */
    SESS_AUTH_SWITCH, /* auth switch request sent, waiting for the response */
    SESS_CHECK_DB,    /* authenticated; validating the requested database on a backend */
    SESS_IDLE,        /* waiting for a command */
    SESS_WAIT,        /* command read; queued for a backend connection */
    SESS_SYNC,        /* replaying state onto the borrowed connection */
    SESS_FORWARD,     /* command sent; streaming the response to the client */
    SESS_INFILE,      /* streaming the client's LOCAL INFILE data to the backend */
    SESS_KILLING,     /* its KILL went to another worker; waiting for the answer */
    SESS_CLOSING,     /* flushing a final packet, then closing */
    SESS_DEAD,        /* closed */
};
const char *sess_state_str(enum sess_state s);

struct rm_session {
    struct rm_conn c;             /* client socket; must be first */
    uint32_t id;                  /* connection id shown to the client */
    bool reader;                  /* came in on reader_listen: statements go to readers */
    struct hs_server_info server; /* the greeting it got (version, capabilities, collation) */
    enum sess_state state;
    struct rm_link link;      /* in worker->sessions */
    struct rm_link wait_link; /* in worker->waiters while SESS_WAIT */
    uint64_t wait_since_ms;   /* when it started waiting */
    uint64_t last_active_ms;  /* for idle_client_timeout */
    uint64_t born_ms;         /* accepted at: handshake_timeout counts from here */
    uint64_t cmd_start_us;    /* the current command arrived (latency histograms) */
    uint64_t db_start_us;     /* it was sent to the backend */
    uint64_t addr_key;        /* hash of the client's address (limits.h), 0 until the first login attempt */
    int user_slot;            /* its place in the per-user session count, < 0 when not counted */
    bool unauth;              /* counted in the connections not logged in yet */
    bool console;             /* came in on [admin] console_listen: admin commands, no backend */
    bool console_shutdown;    /* console: SHUTDOWN once its OK has reached the kernel */
    uint8_t report_kind;      /* console: the SHOW being gathered from the workers */
    int report_pending;       /* console: workers that have not answered yet */
    struct rm_buf report;     /* console: their rows so far */
    uint8_t cur_sql_len;      /* the current statement's first bytes (SHOW CLIENTS, pin samples) */
    char cur_sql[127];

    /* Connection phase. */
    uint8_t scramble[AUTH_SCRAMBLE_LEN];
    uint8_t seq;       /* next sequence id while the proxy talks */
    uint32_t caps;     /* negotiated capabilities */
    uint32_t ext_caps; /* negotiated MariaDB extended capabilities */
    uint8_t collation;
    uint8_t auth_stage; /* SESS_AUTH_SWITCH: what the client's next packet is (sess_auth.c) */
    char *user;         /* authenticated user (copy) */
    char *password;     /* its configured password (copy; for backend logins) */
    char *pending_db;   /* database requested at connect, being validated */

    struct rm_pool *pool; /* where its backend connections come from */
    struct rm_bconn *bc;  /* attached backend connection, or NULL */
    struct rm_state st;   /* tracked state */
    enum cls_pin pin;     /* why it is pinned; PIN_NONE when not */
    bool hold;            /* keep bc after the current command (warnings, one-shot SET TRANSACTION) */
    bool in_trans;        /* last status had SERVER_STATUS_IN_TRANS */
    uint16_t status;      /* last server status seen */

    /* The command being served. */
    struct rm_buf cmd;           /* raw command packet(s) incl. headers */
    struct rm_buf slow_sql;      /* slow_query_threshold set: the start of the COM_QUERY on a backend */
    uint8_t cmd_byte;            /* its command */
    struct cls_result cls;       /* classification of a COM_QUERY */
    uint32_t last_bc_id;         /* backend conn that ran the previous command */
    uint64_t last_bc_uses;       /* its use counter right after that command */
    uint64_t last_insert_id;     /* LAST_INSERT_ID() as this session would see it */
    struct stmt_registry stmts;  /* its prepared statements */
    uint32_t cur_stmt;           /* proxy statement id of the COM_STMT_* in flight */
    uint32_t last_prep;          /* proxy id of the last successful COM_STMT_PREPARE (0: none) */
    struct stmt_text *prep_text; /* SQL of the COM_STMT_PREPARE in flight */
    struct sess_diag diag;       /* its diagnostics area: hold, stash (diag.h) */
    bool consuming;              /* inside consume(): don't re-enter it */
    bool rc_known, fr_known;     /* row_count / found_rows below are exact */
    int64_t row_count;           /* ROW_COUNT() as the session would see it */
    uint64_t found_rows;         /* FOUND_ROWS() as the session would see it */
    bool cursor_open;            /* a COM_STMT_EXECUTE opened a cursor: keep the conn */
    bool cmd_option_on;          /* COM_SET_OPTION in flight: multi-statements on? */
    bool refresh_collation;      /* character_set_connection changed: collation_connection did too */
    bool lost_trans;             /* its transaction died with a backend conn: tell it */
    enum cls_pin lost_pin;       /* it was pinned to a backend conn that died (why): tell it */
    bool kill_query;             /* KILL QUERY arrived before its statement reached the server */
    bool reset_pending;          /* reset / change user: pool->reset_st still to be applied */
    uint8_t resp_seq;            /* sequence id after the last response packet relayed */
    struct rm_relay relay;       /* a LOCAL INFILE packet passing through to the backend */
};

/* Accept a new client socket on worker w (reader: on the read-only
 * endpoint): send the greeting. */
void sess_accept(struct rm_worker *w, int fd, bool reader);
/* The same for the admin console listener ([admin] console_listen). */
void sess_accept_console(struct rm_worker *w, int fd);
/* Client bytes arrived: consume what can be acted on now (*used). */
void sess_on_data(struct rm_session *s, const uint8_t *data, size_t len, size_t *used);
void sess_on_eof(struct rm_session *s, int err);
void sess_on_flushed(struct rm_session *s);
void sess_free(struct rm_session *s);
/* The one teardown path: detach or abandon the backend, count, close. */
void sess_close(struct rm_session *s, const char *reason);

/* Called by the pool when a borrowed connection is ready for s. */
void sess_on_backend(struct rm_session *s, struct rm_bconn *b);
/* Called by the pool when no connection could be had (borrow timeout or
 * backend failure); sends the client an ERR and returns to idle. */
void sess_backend_failed(struct rm_session *s, uint16_t code, const char *sqlstate, const char *msg);
/* Backend side: a packet of the response to the session's command. */
void sess_on_response_packet(struct rm_session *s, const uint8_t *pkt, size_t n, bool whole);
/* Backend side: the response is complete (or a result ended). */
void sess_on_response_done(struct rm_session *s);
/* Backend side: the backend asked for LOCAL INFILE data. */
void sess_on_infile_request(struct rm_session *s);
/* Backend side: the internal sync step finished (ok=false: failed with err text). */
void sess_on_sync_step(struct rm_session *s, bool ok, const uint8_t *errpkt, size_t errlen);
/* Backend died while attached. */
void sess_on_backend_lost(struct rm_session *s, bool mid_response);
/* Backend side: the client's COM_STMT_PREPARE succeeded with the server's
 * statement id; returns the proxy id to show the client (0 on failure). */
uint32_t sess_on_prepare_ok(struct rm_session *s, uint32_t backend_id, uint16_t n_cols, uint16_t n_params);
/* Other sessions wait for a conn: sessions that have held theirs only for
 * a possible SHOW WARNINGS, idle for a while, stash it and let go. */
void sess_yield_diag_holds(struct rm_worker *w);
/* Close sessions past idle_client_timeout or stuck in the handshake. */
void sess_check_timeouts(struct rm_worker *w);
/* The session with connection id `id` on w (not closing), or NULL. */
struct rm_session *sess_find(struct rm_worker *w, uint32_t id);
/* KILL [QUERY] hit s: stop its statement (KILL QUERY on the backend conn
 * serving it, or an ERR 1317 if it has not reached the server yet;
 * nothing when idle), and for a connection kill close s. */
void sess_interrupt(struct rm_session *s, bool query_only);
/* s's KILL of `target` is done: OK, or ERR err (1094 / 1095). */
void sess_answer_kill(struct rm_session *s, uint32_t target, uint16_t err);
/* s waits for another worker to answer its KILL. */
void sess_wait_kill(struct rm_session *s);
/* Pin the session for reason (counted once per session). */
void sess_pin(struct rm_session *s, enum cls_pin reason);

#endif
